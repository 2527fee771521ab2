//go:build ignore

// gen_botapi extracts from the machine-readable Bot API description the part
// the emulator checks requests against, and writes it to botapi.json, which
// the emulator embeds. The project must not read ../shared at run or test
// time, so the extract is committed; run this again when the Bot API changes:
//
//	cd emulator && go run gen_botapi.go -in ../../shared/telegram/bot-api-structure.json -out botapi.json
//
// It keeps every method with its fields (name, types, required) and the
// object types a request may nest that the emulator validates field by field
// (keyboards, buttons, bot commands and their scopes, entities, reply and
// link preview options, the media of an album, reaction types), with every
// type those reach in turn.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"sort"
	"strings"
)

type field struct {
	Name     string   `json:"name"`
	Types    []string `json:"types"`
	Required bool     `json:"required"`
}

type method struct {
	Fields []field `json:"fields"`
}

type objectType struct {
	Fields   []field  `json:"fields,omitempty"`
	Subtypes []string `json:"subtypes,omitempty"`
}

type spec struct {
	Version string `json:"version"`
	Methods map[string]struct {
		Fields []field `json:"fields"`
	} `json:"methods"`
	Types map[string]struct {
		Fields   []field  `json:"fields"`
		Subtypes []string `json:"subtypes"`
	} `json:"types"`
}

type output struct {
	Version string                `json:"version"`
	Methods map[string]method     `json:"methods"`
	Types   map[string]objectType `json:"types"`
}

// roots are the nested objects the emulator checks field by field.
var roots = []string{
	"InlineKeyboardMarkup", "ReplyKeyboardMarkup", "ReplyKeyboardRemove", "ForceReply",
	"BotCommand", "BotCommandScope", "LinkPreviewOptions", "ReplyParameters", "MessageEntity",
	"InputMedia", "ReactionType",
}

func main() {
	in := flag.String("in", "../../shared/telegram/bot-api-structure.json", "Bot API structure (JSON)")
	out := flag.String("out", "botapi.json", "where to write the extract")
	flag.Parse()

	if err := run(*in, *out); err != nil {
		log.Fatal(err)
	}
}

func run(in, out string) error {
	raw, err := os.ReadFile(in)
	if err != nil {
		return fmt.Errorf("read spec: %w", err)
	}
	var s spec
	if err := json.Unmarshal(raw, &s); err != nil {
		return fmt.Errorf("decode spec: %w", err)
	}

	o := output{Version: s.Version, Methods: map[string]method{}, Types: map[string]objectType{}}
	for name, m := range s.Methods {
		fields := m.Fields
		if fields == nil {
			fields = []field{}
		}
		o.Methods[name] = method{Fields: fields}
	}

	queue := append([]string(nil), roots...)
	for len(queue) > 0 {
		name := queue[0]
		queue = queue[1:]
		if _, done := o.Types[name]; done {
			continue
		}
		t, ok := s.Types[name]
		if !ok {
			continue // a scalar such as String or Integer
		}
		o.Types[name] = objectType{Fields: t.Fields, Subtypes: t.Subtypes}
		queue = append(queue, t.Subtypes...)
		for _, f := range t.Fields {
			for _, ty := range f.Types {
				queue = append(queue, strings.TrimPrefix(strings.TrimPrefix(ty, "Array of "), "Array of "))
			}
		}
	}

	data, err := json.MarshalIndent(o, "", " ")
	if err != nil {
		return fmt.Errorf("encode extract: %w", err)
	}
	if err := os.WriteFile(out, append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("write extract: %w", err)
	}

	names := make([]string, 0, len(o.Types))
	for n := range o.Types {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Printf("%s: %d methods, %d types (%s)\n", s.Version, len(o.Methods), len(o.Types), strings.Join(names, ", "))
	return nil
}
