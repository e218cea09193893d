package functions

import (
	"bytes"
	"encoding/json"
	"math"
	"reflect"
	"strconv"
	"strings"
	"sync"
)

// Argument validation. Arguments arrive as a JSON object (Convex's JSON
// encoding). They are decoded into the function's Go argument struct field
// by field, so every mistake is reported with the path of the field:
// unknown fields, missing required fields, and values of the wrong type.
// A field is optional when its Go type is a pointer or its json tag has
// omitempty; null is accepted only for optional fields and means absent.

// MaxStringBytes bounds every string argument (message content is further
// limited to MaxContentChars characters).
const MaxStringBytes = 16 << 10

type fieldInfo struct {
	name     string
	index    int
	optional bool
}

type structInfo struct {
	fields []fieldInfo
	byName map[string]int
}

var structCache sync.Map // reflect.Type -> *structInfo

func structOf(t reflect.Type) *structInfo {
	if si, ok := structCache.Load(t); ok {
		return si.(*structInfo)
	}
	si := &structInfo{byName: map[string]int{}}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, omitempty, ok := JSONField(f)
		if !ok {
			continue
		}
		optional := f.Type.Kind() == reflect.Pointer || omitempty
		si.byName[name] = len(si.fields)
		si.fields = append(si.fields, fieldInfo{name: name, index: i, optional: optional})
	}
	structCache.Store(t, si)
	return si
}

// JSONField reads a struct field's json tag as encoding/json does: its
// name on the wire, whether it is omitempty, and ok=false for fields the
// JSON form leaves out (unexported, or tagged "-").
func JSONField(f reflect.StructField) (name string, omitempty, ok bool) {
	if !f.IsExported() {
		return "", false, false
	}
	name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
	if name == "-" {
		return "", false, false
	}
	if name == "" {
		name = f.Name
	}
	return name, strings.Contains(opts, "omitempty"), true
}

// decodeArgs decodes raw into a new value of type t (a struct).
func decodeArgs(t reflect.Type, raw json.RawMessage) (reflect.Value, error) {
	v := reflect.New(t).Elem()
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		raw = []byte("{}")
	}
	if err := decodeValue("", raw, v); err != nil {
		return reflect.Value{}, err
	}
	return v, nil
}

func describe(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Pointer:
		return describe(t.Elem())
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Struct, reflect.Map:
		return "an object"
	default:
		return "a value"
	}
}

func kindOf(raw json.RawMessage) string {
	if len(raw) == 0 {
		return "nothing"
	}
	switch raw[0] {
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	case '[':
		return "an array"
	case '{':
		return "an object"
	default:
		return "a number"
	}
}

func fieldPath(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

func wrongType(path string, t reflect.Type, raw json.RawMessage) *Error {
	if path == "" {
		return Invalid("Arguments must be %s, got %s", describe(t), kindOf(raw))
	}
	return Invalid("Argument %q must be %s, got %s", path, describe(t), kindOf(raw))
}

func decodeValue(path string, raw json.RawMessage, v reflect.Value) error {
	t := v.Type()
	if string(raw) == "null" {
		if t.Kind() == reflect.Pointer || t.Kind() == reflect.Interface {
			return nil
		}
		return wrongType(path, t, raw)
	}
	switch t.Kind() {
	case reflect.Pointer:
		p := reflect.New(t.Elem())
		if err := decodeValue(path, raw, p.Elem()); err != nil {
			return err
		}
		v.Set(p)
		return nil
	case reflect.Struct:
		if raw[0] != '{' {
			return wrongType(path, t, raw)
		}
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(raw, &obj); err != nil {
			return wrongType(path, t, raw)
		}
		si := structOf(t)
		for name := range obj {
			if _, ok := si.byName[name]; !ok {
				if path == "" {
					return Invalid("Unknown argument %q", name)
				}
				return Invalid("Unknown field %q in argument %q", name, path)
			}
		}
		for _, f := range si.fields {
			fr, ok := obj[f.name]
			if !ok || (f.optional && string(bytes.TrimSpace(fr)) == "null") {
				if !f.optional {
					return Invalid("Missing required argument %q", fieldPath(path, f.name))
				}
				continue
			}
			if err := decodeValue(fieldPath(path, f.name), bytes.TrimSpace(fr), v.Field(f.index)); err != nil {
				return err
			}
		}
		return nil
	case reflect.Slice:
		if raw[0] != '[' {
			return wrongType(path, t, raw)
		}
		var items []json.RawMessage
		if err := json.Unmarshal(raw, &items); err != nil {
			return wrongType(path, t, raw)
		}
		s := reflect.MakeSlice(t, len(items), len(items))
		for i, item := range items {
			if err := decodeValue(path+"["+strconv.Itoa(i)+"]", bytes.TrimSpace(item), s.Index(i)); err != nil {
				return err
			}
		}
		v.Set(s)
		return nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		var f float64
		if raw[0] == '"' || raw[0] == '{' || raw[0] == '[' || json.Unmarshal(raw, &f) != nil {
			return wrongType(path, t, raw)
		}
		if f != math.Trunc(f) {
			return Invalid("Argument %q must be an integer, got %s", path, string(raw))
		}
		// Checked as a float first: converting one beyond int64 is
		// undefined (1e308 became math.MinInt64).
		bits := t.Bits()
		lo, hi := -math.Ldexp(1, bits-1), math.Ldexp(1, bits-1)
		if f < lo || f >= hi {
			return Invalid("Argument %q is out of range: got %s, want an integer from %d to %d", path, string(raw),
				int64(-1)<<(bits-1), int64(1)<<(bits-1)-1)
		}
		v.SetInt(int64(f))
		return nil
	case reflect.String:
		var str string
		if err := json.Unmarshal(raw, &str); err != nil {
			return wrongType(path, t, raw)
		}
		if len(str) > MaxStringBytes {
			return Invalid("Argument %q is too long: %d bytes, at most %d", path, len(str), MaxStringBytes)
		}
		if strings.IndexByte(str, 0) >= 0 {
			return Invalid("Argument %q must not contain NUL characters", path)
		}
		v.SetString(str)
		return nil
	case reflect.Bool, reflect.Float32, reflect.Float64, reflect.Interface, reflect.Map:
		if err := json.Unmarshal(raw, v.Addr().Interface()); err != nil {
			return wrongType(path, t, raw)
		}
		return nil
	default:
		return wrongType(path, t, raw)
	}
}
