package emulator

import (
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// params are a request's parameters after they were checked against the
// method's description in botapi.json.
type params struct {
	// typed holds each value as Telegram reads it: int64, float64, bool,
	// string, *Upload, or decoded JSON (map[string]any, []any; numbers as
	// int64 when whole, float64 otherwise). Calls() shows these.
	typed map[string]any
	raw   map[string]string
	files map[string]*Upload
}

func (p params) has(name string) bool { _, ok := p.typed[name]; return ok }

func (p params) str(name string) string {
	switch v := p.typed[name].(type) {
	case string:
		return v
	case int64:
		return strconv.FormatInt(v, 10)
	}
	return ""
}

func (p params) int(name string) int64 {
	v, _ := p.typed[name].(int64)
	return v
}

func (p params) float(name string) float64 {
	switch v := p.typed[name].(type) {
	case float64:
		return v
	case int64:
		return float64(v)
	}
	return 0
}

func (p params) bool(name string) bool {
	v, _ := p.typed[name].(bool)
	return v
}

// decode fills dst from the JSON text of an object parameter.
func (p params) decode(name string, dst any) error {
	return json.Unmarshal([]byte(p.raw[name]), dst)
}

// decodeParams checks a request against the method: every parameter must be
// one the method has (Telegram would silently ignore an unknown one; the
// emulator rejects it so that a misspelt parameter shows up in tests), every
// required one must be there, and every value must have one of the field's
// types, nested objects included.
func decodeParams(m *specMethod, req rawRequest) (params, *apiError) {
	p := params{typed: map[string]any{}, raw: req.values, files: req.files}

	attached := map[string]bool{}
	for _, v := range req.values {
		for _, ref := range attachRef.FindAllStringSubmatch(v, -1) {
			attached[ref[1]] = true
		}
	}
	var names []string
	for name := range req.values {
		names = append(names, name)
	}
	for name := range req.files {
		if _, isValue := req.values[name]; !isValue && !attached[name] {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	for _, name := range names {
		if _, ok := m.field(name); !ok {
			return p, badRequest("unknown parameter %q for method %s (Telegram would silently ignore it)", name, m.Name)
		}
	}

	for _, f := range m.Fields {
		text, hasText := req.values[f.Name]
		upload, hasFile := req.files[f.Name]
		switch {
		case hasFile && !hasText:
			if !contains(f.Types, "InputFile") {
				return p, badRequest("parameter %q can't be a file", f.Name)
			}
			p.typed[f.Name] = upload
		case hasText:
			v, err := decodeValue(f.Name, f.Types, text)
			if err != nil {
				return p, err
			}
			if f.Required && v == "" && !emptyAllowed(m.Name, f.Name) {
				return p, missingParam(f)
			}
			p.typed[f.Name] = v
		case f.Required && !emptyAllowed(m.Name, f.Name):
			return p, missingParam(f)
		}
	}
	return p, nil
}

var attachRef = regexp.MustCompile(`attach://([A-Za-z0-9_\-.]+)`)

// emptyAllowed lists required parameters Telegram accepts empty:
// setWebhook with an empty url removes the webhook.
func emptyAllowed(method, field string) bool {
	return method == "setWebhook" && field == "url"
}

// missingParam words the error as Telegram does for the common cases.
func missingParam(f specField) *apiError {
	switch {
	case f.Name == "text":
		return badRequest("message text is empty")
	case contains(f.Types, "InputFile"):
		return badRequest("there is no %s in the request", f.Name)
	}
	return badRequest("%s is empty", f.Name)
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// decodeValue reads a top-level parameter given as text: scalars are tried in
// the order the Bot API lists the field's types, then the text is read as JSON
// for object and array types.
func decodeValue(name string, types []string, text string) (any, *apiError) {
	trimmed := strings.TrimSpace(text)
	var jsonTypes []string
	for _, t := range types {
		switch t {
		case "Integer":
			if n, err := strconv.ParseInt(trimmed, 10, 64); err == nil {
				return n, nil
			}
		case "Float":
			if f, err := strconv.ParseFloat(trimmed, 64); err == nil && !math.IsNaN(f) && !math.IsInf(f, 0) {
				return f, nil
			}
		case "Boolean":
			if b, ok := parseBool(trimmed); ok {
				return b, nil
			}
		case "String":
			if !utf8.ValidString(text) {
				return nil, badRequest("strings must be encoded in UTF-8")
			}
			return text, nil
		case "InputFile":
			// A file given as text is a file_id or URL; those fields also list String.
		default:
			jsonTypes = append(jsonTypes, t)
		}
	}
	if len(jsonTypes) == 0 {
		return nil, badRequest("parameter %q must be of type %s", name, strings.Join(types, " or "))
	}

	dec := json.NewDecoder(strings.NewReader(text))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil || dec.More() {
		return nil, badRequest("can't parse %s JSON object", name)
	}
	if err := checkUnion(name, jsonTypes, v); err != nil {
		return nil, err
	}
	return normalizeNumbers(v), nil
}

func parseBool(s string) (bool, bool) {
	switch strings.ToLower(s) {
	case "true", "1":
		return true, true
	case "false", "0":
		return false, true
	}
	return false, false
}

// checkUnion accepts a value of any of the types. For a union of objects
// (reply_markup may be one of four keyboards) the member is chosen by its
// required fields, as Telegram does.
func checkUnion(path string, types []string, v any) *apiError {
	if len(types) == 1 {
		return checkType(path, types[0], v)
	}
	if arr, ok := v.([]any); ok {
		if err, handled := checkTaggedArray(path, types, arr); handled {
			return err
		}
	}
	obj, isObj := v.(map[string]any)
	var firstErr *apiError
	for _, t := range types {
		st := spec.Types[t]
		if isObj && st != nil && len(st.Subtypes) == 0 && !hasRequiredFields(st, obj) {
			continue
		}
		err := checkType(path, t, v)
		if err == nil {
			return nil
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	if firstErr != nil {
		return firstErr
	}
	return badRequest("can't parse %s: expected %s", path, strings.Join(types, " or "))
}

// checkTaggedArray checks a union of arrays whose elements say their type
// in "type" (an album's media: Array of InputMediaPhoto or Array of
// InputMediaDocument ...): each element against the type it names, so that
// an error speaks of the type the bot meant. handled is false for other
// unions.
func checkTaggedArray(path string, types []string, arr []any) (err *apiError, handled bool) {
	byTag := map[string]string{}
	for _, t := range types {
		elem, isArray := strings.CutPrefix(t, "Array of ")
		tag, tagged := spec.tags[elem]
		if !isArray || !tagged {
			return nil, false
		}
		byTag[tag] = elem
	}
	for i, el := range arr {
		elPath := fmt.Sprintf("%s[%d]", path, i)
		obj, ok := el.(map[string]any)
		if !ok {
			return badRequest("can't parse %s: an object is expected", elPath), true
		}
		tag, _ := obj["type"].(string)
		elem, known := byTag[tag]
		if !known {
			return badRequest("can't parse %s: unsupported type %q", elPath, tag), true
		}
		if err := checkType(elPath, elem, el); err != nil {
			return err, true
		}
	}
	return nil, true
}

func hasRequiredFields(t *specType, obj map[string]any) bool {
	for _, f := range t.Fields {
		if _, ok := obj[f.Name]; f.Required && !ok {
			return false
		}
	}
	return true
}

// checkType checks a decoded JSON value against one Bot API type. Object types
// the extract describes are checked field by field, unknown fields included;
// others (media, suggested posts) are only required to be JSON.
func checkType(path, t string, v any) *apiError {
	if elem, ok := strings.CutPrefix(t, "Array of "); ok {
		arr, ok := v.([]any)
		if !ok {
			return badRequest("can't parse %s: an Array is expected", path)
		}
		for i, el := range arr {
			if err := checkType(fmt.Sprintf("%s[%d]", path, i), elem, el); err != nil {
				return err
			}
		}
		return nil
	}

	switch t {
	case "Integer":
		if n, ok := v.(json.Number); ok {
			if _, err := n.Int64(); err == nil {
				return nil
			}
		}
		return badRequest("can't parse %s: an Integer is expected", path)
	case "Float":
		if _, ok := v.(json.Number); ok {
			return nil
		}
		return badRequest("can't parse %s: a Float is expected", path)
	case "Boolean":
		if _, ok := v.(bool); ok {
			return nil
		}
		return badRequest("can't parse %s: a Boolean is expected", path)
	case "String", "InputFile":
		if _, ok := v.(string); ok {
			return nil
		}
		return badRequest("can't parse %s: a String is expected", path)
	}

	st := spec.Types[t]
	if st == nil {
		return nil // not described in the extract: any JSON will do
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return badRequest("can't parse %s: an object %s is expected", path, t)
	}
	if len(st.Subtypes) > 0 {
		kind, _ := obj["type"].(string)
		for _, sub := range st.Subtypes {
			if subtypeTag(t, sub) == kind {
				return checkType(path, sub, v)
			}
		}
		return badRequest("can't parse %s: unsupported %s type %q", path, t, kind)
	}

	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		f, known := st.field(k)
		if !known {
			return badRequest("can't parse %s: %s has no field %q", path, t, k)
		}
		if obj[k] == nil {
			continue
		}
		if err := checkUnion(path+"."+k, f.Types, obj[k]); err != nil {
			return err
		}
	}
	for _, f := range st.Fields {
		if _, ok := obj[f.Name]; f.Required && !ok {
			return badRequest("can't parse %s: field %q of %s is required", path, f.Name, t)
		}
	}
	return nil
}

// subtypeTag turns BotCommandScopeAllPrivateChats into all_private_chats,
// the value of "type" that selects that subtype.
func subtypeTag(parent, sub string) string {
	name := strings.TrimPrefix(sub, parent)
	var b strings.Builder
	for i, r := range name {
		if r >= 'A' && r <= 'Z' {
			if i > 0 {
				b.WriteByte('_')
			}
			r += 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return b.String()
}

func normalizeNumbers(v any) any {
	switch x := v.(type) {
	case json.Number:
		if n, err := x.Int64(); err == nil {
			return n
		}
		f, _ := x.Float64()
		return f
	case []any:
		for i := range x {
			x[i] = normalizeNumbers(x[i])
		}
	case map[string]any:
		for k := range x {
			x[k] = normalizeNumbers(x[k])
		}
	}
	return v
}

// Keyboard rules Telegram enforces beyond the types.
const (
	maxCallbackData   = 64  // bytes
	maxInlineButtons  = 100 // per keyboard
	maxPlaceholderLen = 64  // characters
)

// inlineActions are the fields of which an inline button must use exactly one.
var inlineActions = []string{
	"url", "callback_data", "web_app", "login_url", "switch_inline_query",
	"switch_inline_query_current_chat", "switch_inline_query_chosen_chat",
	"copy_text", "callback_game", "pay",
}

// checkInlineKeyboard applies the rules of InlineKeyboardButton: one action
// per button, callback_data of 1-64 bytes, a URL Telegram can open.
func checkInlineKeyboard(markup map[string]any) *apiError {
	rows, _ := markup["inline_keyboard"].([]any)
	count := 0
	for _, row := range rows {
		buttons, _ := row.([]any)
		for _, b := range buttons {
			button, _ := b.(map[string]any)
			count++
			if err := checkInlineButton(button); err != nil {
				return err
			}
		}
	}
	if count > maxInlineButtons {
		return badRequest("BUTTONS_TOO_MUCH")
	}
	return nil
}

func checkInlineButton(button map[string]any) *apiError {
	if text, _ := button["text"].(string); strings.TrimSpace(text) == "" {
		return badRequest("can't parse inline keyboard button: Text must be non-empty")
	}
	var used []string
	for _, name := range inlineActions {
		v, present := button[name]
		if !present || v == nil {
			continue
		}
		switch name {
		case "callback_data", "url":
			// An empty string is the same as no field (go-telegram/bot omits it).
			if v == "" {
				continue
			}
		case "copy_text":
			// go-telegram/bot v1.19 always sends "copy_text":{"text":""};
			// Telegram treats that as no copy button.
			if obj, _ := v.(map[string]any); obj["text"] == "" {
				continue
			}
		case "pay":
			if v != true {
				continue
			}
		}
		used = append(used, name)
	}
	switch len(used) {
	case 0:
		return badRequest("can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard")
	case 1:
	default:
		return badRequest("can't parse inline keyboard button: exactly one of the optional fields must be used, got %s",
			strings.Join(used, " and "))
	}
	if data, ok := button["callback_data"].(string); ok && data != "" && len(data) > maxCallbackData {
		return badRequest("BUTTON_DATA_INVALID")
	}
	if link, ok := button["url"].(string); ok && link != "" && !validButtonURL(link) {
		return badRequest("BUTTON_URL_INVALID")
	}
	return nil
}

// validButtonURL accepts what a Telegram client opens from a button:
// http(s) links with a host, and tg:// links.
func validButtonURL(s string) bool {
	u, err := url.Parse(s)
	if err != nil {
		return false
	}
	switch strings.ToLower(u.Scheme) {
	case "http", "https":
		return u.Host != ""
	case "tg":
		return u.Host != "" || u.Opaque != ""
	}
	return false
}

// replyButtonKinds are the fields that make a reply keyboard button do more
// than send its text; a button may use at most one of them.
var replyButtonKinds = []string{
	"request_users", "request_chat", "request_managed_bot", "request_contact",
	"request_location", "request_poll", "web_app",
}

// checkReplyKeyboard applies the rules of ReplyKeyboardMarkup and
// KeyboardButton. Buttons that ask for a contact, a location, users or chats
// only work in private chats.
func checkReplyKeyboard(markup map[string]any, private bool) *apiError {
	rows, _ := markup["keyboard"].([]any)
	count := 0
	for _, row := range rows {
		buttons, _ := row.([]any)
		for _, b := range buttons {
			count++
			button, _ := b.(map[string]any)
			if text, _ := button["text"].(string); strings.TrimSpace(text) == "" {
				return badRequest("can't parse keyboard button: Text must be non-empty")
			}
			var used []string
			for _, name := range replyButtonKinds {
				v, present := button[name]
				if !present || v == nil || v == false {
					continue
				}
				used = append(used, name)
			}
			if len(used) > 1 {
				return badRequest("can't parse keyboard button: at most one of the optional fields may be used, got %s",
					strings.Join(used, " and "))
			}
			if len(used) == 1 && used[0] != "web_app" && used[0] != "request_poll" && !private {
				return badRequest("BUTTON_TYPE_INVALID: %s buttons work in private chats only", used[0])
			}
		}
	}
	if count == 0 {
		return badRequest("keyboard must be non-empty")
	}
	if p, ok := markup["input_field_placeholder"].(string); ok {
		if n := utf16Len(p); n < 1 || n > maxPlaceholderLen {
			return badRequest("input_field_placeholder must be 1-%d characters", maxPlaceholderLen)
		}
	}
	return nil
}

var botCommandName = regexp.MustCompile(`^[a-z0-9_]{1,32}$`)

// checkBotCommands applies BotCommand's rules: command 1-32 characters of
// lowercase letters, digits and underscores; description 1-256 characters;
// at most 100 commands.
func checkBotCommands(commands []any) *apiError {
	if len(commands) > 100 {
		return badRequest("too many commands: at most 100 can be set")
	}
	for _, c := range commands {
		cmd, _ := c.(map[string]any)
		name, _ := cmd["command"].(string)
		if !botCommandName.MatchString(name) {
			return badRequest("BOT_COMMAND_INVALID")
		}
		desc, _ := cmd["description"].(string)
		if n := utf16Len(strings.TrimSpace(desc)); n < 1 || n > 256 {
			return badRequest("BOT_COMMAND_DESCRIPTION_INVALID")
		}
	}
	return nil
}
