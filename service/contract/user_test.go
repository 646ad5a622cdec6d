package contract_test

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/gopherops/gopherops/service/contract"
	"github.com/gopherops/gopherops/service/internal/api"
)

// sampleUsers cover every branch of the encoder: null and set pointers,
// times in other zones, and every character encoding/json escapes.
func sampleUsers() []contract.User {
	login := time.Date(2026, 11, 30, 6, 1, 2, 345678900, time.UTC)
	url := "/api/v1/users/7/avatar?v=3"
	return []contract.User{
		{ID: 1, Username: "root", Email: "root@example.com", Role: "admin", IsRoot: true, Version: 1,
			CreatedAt: time.Unix(0, 0).UTC(), UpdatedAt: time.Unix(1_800_000_000, 1).UTC()},
		{ID: 7, Username: "a.b_c-d", Email: "x<y>&z\"\\@example.com", Role: "user", ForcePasswordChange: true,
			AvatarURL: &url, Version: 3, LastLoginAt: &login, CreatedAt: login, UpdatedAt: login.In(time.FixedZone("", 3600)),
			Disabled: true, DisabledAt: &login},
		{Email: "ctl\x00\x01\b\f\n\r\t\x1f\u2028\u2029\xffé☕"},
	}
}

func TestUserJSONMatchesEncodingJSON(t *testing.T) {
	for _, u := range sampleUsers() {
		want, err := json.Marshal(u)
		if err != nil {
			t.Fatal(err)
		}
		if got := u.AppendJSON(nil); string(got) != string(want) {
			t.Fatalf("AppendJSON:\n got %s\nwant %s", got, want)
		}
	}
}

// FuzzUserJSON: the hand-written encoder is byte for byte encoding/json's.
func FuzzUserJSON(f *testing.F) {
	f.Add(int64(1), "root", "root@example.com", "admin", true, 3, int64(1_800_000_000), "")
	f.Add(int64(-5), "<&>", "\xff\u2028", "\x00", false, -1, int64(-1), "x")
	f.Fuzz(func(t *testing.T, id int64, name, email, role string, flag bool, version int, unix int64, avatar string) {
		ts := time.Unix(unix%(1<<35), unix%1e9).UTC()
		u := contract.User{ID: id, Username: name, Email: email, Role: role, IsRoot: flag, ForcePasswordChange: !flag,
			Version: version, CreatedAt: ts, UpdatedAt: ts}
		if avatar != "" {
			u.AvatarURL, u.LastLoginAt = &avatar, &ts
		}
		if flag {
			u.Disabled, u.DisabledAt = true, &ts
		}
		want, err := json.Marshal(u)
		if err != nil {
			return // a time json cannot marshal
		}
		if got := u.AppendJSON(nil); string(got) != string(want) {
			t.Fatalf("AppendJSON:\n got %s\nwant %s", got, want)
		}
	})
}

// TestUserMatchesSchema: the struct, its encoder and the OpenAPI schema
// "User" describe the same object. Every JSON field of the struct is a
// property of the schema and required (the encoder always writes it), with
// the type the Go type encodes as, nullable exactly when it is a pointer;
// the schema has no property the struct lacks; and what the encoder writes
// validates against the schema.
func TestUserMatchesSchema(t *testing.T) {
	doc, err := api.OpenAPI()
	if err != nil {
		t.Fatal(err)
	}
	ref, ok := doc.Components.Schemas["User"]
	if !ok || ref.Value == nil {
		t.Fatal(`the OpenAPI document has no schema "User"`)
	}
	schema := ref.Value

	typ := reflect.TypeFor[contract.User]()
	var fields []string
	for f := range typ.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" {
			t.Errorf("field %s has no JSON name", f.Name)
			continue
		}
		fields = append(fields, name)
		prop, ok := schema.Properties[name]
		if !ok || prop.Value == nil {
			t.Errorf("struct field %s (%q) is not a property of the schema", f.Name, name)
			continue
		}
		wantType, wantFormat, nullable := openAPIType(f.Type)
		p := prop.Value
		if !p.Type.Is(wantType) {
			t.Errorf("property %q: schema type %v, the struct encodes %s", name, p.Type, wantType)
		}
		if p.Format != wantFormat {
			t.Errorf("property %q: schema format %q, the struct encodes %q", name, p.Format, wantFormat)
		}
		if p.Nullable != nullable {
			t.Errorf("property %q: schema nullable %v, the struct field is a pointer: %v", name, p.Nullable, nullable)
		}
	}
	for name := range schema.Properties {
		if !slices.Contains(fields, name) {
			t.Errorf("schema property %q has no field in contract.User", name)
		}
	}
	required := slices.Sorted(slices.Values(schema.Required))
	if slices.Sort(fields); !slices.Equal(required, fields) {
		t.Errorf("schema requires %v; the encoder always writes %v", required, fields)
	}

	for _, u := range sampleUsers() {
		u.Role, u.Username, u.Version = "user", "valid.name", 1 // what the schema's enum, pattern and minimum allow
		var v any
		if err := json.Unmarshal(u.AppendJSON(nil), &v); err != nil {
			t.Fatal(err)
		}
		if err := schema.VisitJSON(v); err != nil {
			t.Errorf("the encoder's output does not validate against the schema: %v", err)
		}
	}
}

// openAPIType is the OpenAPI type and format a Go field type encodes as,
// and whether it may be null.
func openAPIType(t reflect.Type) (typ, format string, nullable bool) {
	if t.Kind() == reflect.Pointer {
		typ, format, _ = openAPIType(t.Elem())
		return typ, format, true
	}
	if t == reflect.TypeFor[time.Time]() {
		return openapi3.TypeString, "date-time", false
	}
	switch t.Kind() {
	case reflect.String:
		return openapi3.TypeString, "", false
	case reflect.Bool:
		return openapi3.TypeBoolean, "", false
	case reflect.Int, reflect.Int32, reflect.Int64:
		return openapi3.TypeInteger, "", false
	case reflect.Float32, reflect.Float64:
		return openapi3.TypeNumber, "", false
	}
	return "unsupported " + t.String(), "", false
}
