package emulator

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"strings"
)

// botapi.json is extracted from the official Bot API description by
// gen_botapi.go; the emulator checks every request against it, so a request
// that names a method, a parameter or a field Telegram does not know fails here
// first instead of in production.
//
//go:generate go run gen_botapi.go -in ../../shared/telegram/bot-api-structure.json -out botapi.json
//go:embed botapi.json
var botAPIJSON []byte

// specField is one parameter of a method or one field of an object type.
type specField struct {
	Name     string   `json:"name"`
	Types    []string `json:"types"`
	Required bool     `json:"required"`
}

type specMethod struct {
	Name   string      `json:"-"`
	Fields []specField `json:"fields"`
}

type specType struct {
	Fields   []specField `json:"fields"`
	Subtypes []string    `json:"subtypes"`
}

type apiSpec struct {
	Version string                 `json:"version"`
	Methods map[string]*specMethod `json:"methods"`
	Types   map[string]*specType   `json:"types"`

	// byLower finds a method whatever the case, as Telegram does
	// ("sendmessage" works like "sendMessage").
	byLower map[string]*specMethod
	// tags names the value of "type" that selects each subtype
	// (InputMediaPhoto: "photo"), for unions told apart by it.
	tags map[string]string
}

// spec is decoded once at start-up; it never changes afterwards, so it is
// shared by all servers without a lock.
var spec = mustLoadSpec(botAPIJSON)

func mustLoadSpec(data []byte) *apiSpec {
	var s apiSpec
	if err := json.Unmarshal(data, &s); err != nil {
		panic(fmt.Sprintf("emulator: embedded botapi.json is broken: %v", err))
	}
	s.byLower = make(map[string]*specMethod, len(s.Methods))
	for name, m := range s.Methods {
		m.Name = name
		s.byLower[strings.ToLower(name)] = m
	}
	s.tags = map[string]string{}
	for name, t := range s.Types {
		for _, sub := range t.Subtypes {
			s.tags[sub] = subtypeTag(name, sub)
		}
	}
	return &s
}

// method returns the method named (in any case), or nil.
func (s *apiSpec) method(name string) *specMethod {
	return s.byLower[strings.ToLower(name)]
}

func (m *specMethod) field(name string) (specField, bool) {
	for _, f := range m.Fields {
		if f.Name == name {
			return f, true
		}
	}
	return specField{}, false
}

func (t *specType) field(name string) (specField, bool) {
	for _, f := range t.Fields {
		if f.Name == name {
			return f, true
		}
	}
	return specField{}, false
}
