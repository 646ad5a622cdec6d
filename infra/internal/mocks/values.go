package mocks

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
)

// Plain converts a property value to plain Go values (map[string]any, []any,
// string, float64, bool, nil), unwrapping secrets and known outputs.
func Plain(v resource.PropertyValue) any {
	switch {
	case v.IsSecret():
		return Plain(v.SecretValue().Element)
	case v.IsOutput():
		o := v.OutputValue()
		if !o.Known {
			return nil
		}
		return Plain(o.Element)
	case v.IsComputed(), v.IsNull():
		return nil
	case v.IsObject():
		out := map[string]any{}
		for k, e := range v.ObjectValue() {
			out[string(k)] = Plain(e)
		}
		return out
	case v.IsArray():
		arr := v.ArrayValue()
		out := make([]any, len(arr))
		for i, e := range arr {
			out[i] = Plain(e)
		}
		return out
	case v.IsString():
		return v.StringValue()
	case v.IsNumber():
		return v.NumberValue()
	case v.IsBool():
		return v.BoolValue()
	case v.IsResourceReference():
		return string(v.ResourceReferenceValue().URN)
	}
	return v.V
}

// In returns the registration's inputs as plain values.
func (r *Registration) In() map[string]any {
	return Plain(resource.NewObjectProperty(r.Inputs)).(map[string]any)
}

// Get walks a dotted path with [i] indexes ("spec.template.spec.containers[0].image")
// through the inputs; ok is false when any step is missing.
func (r *Registration) Get(path string) (any, bool) {
	return Walk(r.In(), path)
}

// Str returns the string at path, or "" when it is missing or not a string.
func (r *Registration) Str(path string) string {
	v, _ := r.Get(path)
	s, _ := v.(string)
	return s
}

// IsSecret reports whether the input at a top-level key was sent as a secret.
func (r *Registration) IsSecret(key string) bool {
	v, ok := r.Inputs[resource.PropertyKey(key)]
	return ok && (v.IsSecret() || (v.IsOutput() && v.OutputValue().Secret) || containsSecret(v))
}

func containsSecret(v resource.PropertyValue) bool {
	switch {
	case v.IsSecret():
		return true
	case v.IsOutput():
		return v.OutputValue().Secret || containsSecret(v.OutputValue().Element)
	case v.IsObject():
		for _, e := range v.ObjectValue() {
			if containsSecret(e) {
				return true
			}
		}
	case v.IsArray():
		for _, e := range v.ArrayValue() {
			if containsSecret(e) {
				return true
			}
		}
	}
	return false
}

// SecretAt reports whether the value at a dotted path was sent as a secret.
func (r *Registration) SecretAt(path string) bool {
	cur := resource.NewObjectProperty(r.Inputs)
	for _, step := range strings.Split(path, ".") {
		for cur.IsOutput() && cur.OutputValue().Known && !cur.OutputValue().Secret {
			cur = cur.OutputValue().Element
		}
		if cur.IsSecret() || (cur.IsOutput() && cur.OutputValue().Secret) {
			return true
		}
		if !cur.IsObject() {
			return false
		}
		next, ok := cur.ObjectValue()[resource.PropertyKey(step)]
		if !ok {
			return false
		}
		cur = next
	}
	return cur.IsSecret() || (cur.IsOutput() && cur.OutputValue().Secret)
}

// Walk follows a dotted path with [i] indexes through plain values.
func Walk(v any, path string) (any, bool) {
	cur := v
	for _, part := range strings.Split(path, ".") {
		name, idx := part, -1
		if i := strings.Index(part, "["); i >= 0 && strings.HasSuffix(part, "]") {
			n, err := strconv.Atoi(part[i+1 : len(part)-1])
			if err != nil {
				return nil, false
			}
			name, idx = part[:i], n
		}
		if name != "" {
			m, ok := cur.(map[string]any)
			if !ok {
				return nil, false
			}
			if cur, ok = m[name]; !ok {
				return nil, false
			}
		}
		if idx >= 0 {
			arr, ok := cur.([]any)
			if !ok || idx >= len(arr) {
				return nil, false
			}
			cur = arr[idx]
		}
	}
	return cur, true
}

// String formats a registration for failure messages.
func (r *Registration) String() string {
	return fmt.Sprintf("%s %q", r.Type, r.Name)
}
