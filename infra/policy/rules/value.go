package rules

import (
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/pulumi/pulumi/sdk/v3/go/property"
)

// field is one property value and the path it was read at. Reading through
// a value unknown at preview time yields an unknown field, so a check can
// tell "absent" from "not known yet" at any depth.
type field struct {
	path  string
	v     property.Value
	found bool
}

// root is the top of a resource's property map.
func root(m property.Map) field {
	return field{v: property.New(m), found: true}
}

// at follows keys and [i] steps from f; see get.
func (f field) at(keys ...string) field {
	for _, k := range keys {
		f = f.get(k)
	}
	return f
}

// get is the member key of an object; unknown when f is unknown, absent when
// f is absent, null or not an object.
func (f field) get(key string) field {
	path := key
	if f.path != "" {
		path = f.path + "." + key
	}
	switch {
	case f.unknown():
		return field{path: path, v: f.v, found: true}
	case !f.found || !f.v.IsMap():
		return field{path: path}
	}
	v, ok := f.v.AsMap().GetOk(key)
	if !ok || v.IsNull() {
		return field{path: path}
	}
	return field{path: path, v: v, found: true}
}

// unknown reports whether the value is not known yet (a preview of a value
// another resource computes).
func (f field) unknown() bool { return f.found && f.v.IsComputed() }

// present reports whether the value is set (known or not).
func (f field) present() bool { return f.found }

// str is the value as a known string.
func (f field) str() (string, bool) {
	if !f.found || !f.v.IsString() {
		return "", false
	}
	return f.v.AsString(), true
}

// boolean is the value as a known bool; a "true"/"false" string counts, as
// some providers send booleans of configuration as strings.
func (f field) boolean() (value, ok bool) {
	switch {
	case !f.found:
		return false, false
	case f.v.IsBool():
		return f.v.AsBool(), true
	case f.v.IsString():
		b, err := strconv.ParseBool(f.v.AsString())
		return b, err == nil
	}
	return false, false
}

// number is the value as a known number; a numeric string counts.
func (f field) number() (float64, bool) {
	switch {
	case !f.found:
		return 0, false
	case f.v.IsNumber():
		return f.v.AsNumber(), true
	case f.v.IsString():
		n, err := strconv.ParseFloat(f.v.AsString(), 64)
		return n, err == nil
	}
	return 0, false
}

// items are the elements of a known array, each with its [i] path; nil when
// f is not a known array.
func (f field) items() []field {
	if !f.found || !f.v.IsArray() {
		return nil
	}
	arr := f.v.AsArray()
	out := make([]field, 0, arr.Len())
	for i, v := range arr.All {
		out = append(out, field{path: fmt.Sprintf("%s[%d]", f.path, i), v: v, found: !v.IsNull()})
	}
	return out
}

// strings are the known string elements of an array (or a lone string), and
// whether any element (or the array itself) is unknown.
func (f field) strings() (vals []string, unknown bool) {
	if f.unknown() {
		return nil, true
	}
	if s, ok := f.str(); ok {
		return []string{s}, false
	}
	for _, it := range f.items() {
		if it.unknown() {
			unknown = true
			continue
		}
		if s, ok := it.str(); ok {
			vals = append(vals, s)
		}
	}
	return vals, unknown
}

// stringMap is an object of strings (tags, labels, annotations): its
// known members, the keys whose values are unknown, and whether the object
// as a whole is unknown. A JSON string holding an object is decoded, as
// provider configuration arrives that way.
func (f field) stringMap() (known map[string]string, unknownKeys []string, whole bool) {
	known = map[string]string{}
	if f.unknown() {
		return known, nil, true
	}
	if s, ok := f.str(); ok {
		var m map[string]any
		if json.Unmarshal([]byte(s), &m) == nil {
			for k, v := range m {
				if vs, ok := v.(string); ok {
					known[k] = vs
				}
			}
		}
		return known, nil, false
	}
	if !f.found || !f.v.IsMap() {
		return known, nil, false
	}
	for k, v := range f.v.AsMap().All {
		switch {
		case v.IsComputed():
			unknownKeys = append(unknownKeys, k)
		case v.IsString():
			known[k] = v.AsString()
		}
	}
	return known, unknownKeys, false
}

// object decodes a value that is either an object or a JSON string holding
// one (provider configuration), as a field.
func (f field) object() field {
	s, ok := f.str()
	if !ok {
		return f
	}
	var raw any
	if err := json.Unmarshal([]byte(s), &raw); err != nil {
		return field{path: f.path}
	}
	v, err := fromJSON(raw)
	if err != nil {
		return field{path: f.path}
	}
	return field{path: f.path, v: v, found: true}
}

// fromJSON converts decoded JSON into a property value.
func fromJSON(raw any) (property.Value, error) {
	switch x := raw.(type) {
	case nil:
		return property.New(property.Null), nil
	case bool:
		return property.New(x), nil
	case float64:
		return property.New(x), nil
	case string:
		return property.New(x), nil
	case []any:
		vals := make([]property.Value, 0, len(x))
		for _, e := range x {
			v, err := fromJSON(e)
			if err != nil {
				return property.Value{}, err
			}
			vals = append(vals, v)
		}
		return property.New(vals), nil
	case map[string]any:
		m := make(map[string]property.Value, len(x))
		for k, e := range x {
			v, err := fromJSON(e)
			if err != nil {
				return property.Value{}, err
			}
			m[k] = v
		}
		return property.New(m), nil
	}
	return property.Value{}, fmt.Errorf("unsupported JSON value %T", raw)
}
