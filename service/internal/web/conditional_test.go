package web

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestParseIfMatch(t *testing.T) {
	tests := []struct {
		header  string
		ok      bool
		matches []int // versions it matches, of 1..5
	}{
		{`*`, true, []int{1, 2, 3, 4, 5}},
		{`"3"`, true, []int{3}},
		{` "3" `, true, []int{3}},
		{`"1", "4"`, true, []int{1, 4}},
		{`"1","4",,`, true, []int{1, 4}},
		{"\"1\" \t, \"4\"", true, []int{1, 4}}, // blanks before a comma too
		{`W/"3"`, true, nil},
		{`W/"3", "5"`, true, []int{5}},
		{`"stale-0"`, true, nil},
		{`""`, true, nil},
		{`3`, false, nil},
		{`"3`, false, nil},
		{`"3" "4"`, false, nil},
		{`W/3`, false, nil},
		{`"a b"`, false, nil},
		{`*, "3"`, false, nil},
		{`,`, false, nil},
		{"\"3\x00\"", false, nil},
		{`"!#~"`, true, nil},      // the lowest and highest ASCII etagc (%x21, %x23-7E)
		{"\"3\x7f\"", false, nil}, // DEL is not an etagc
		{"\"\x80é\"", true, nil},  // obs-text is
	}
	for _, tt := range tests {
		t.Run(tt.header, func(t *testing.T) {
			m, err := ParseIfMatch(tt.header)
			if (err == nil) != tt.ok {
				t.Fatalf("err %v, want ok=%v", err, tt.ok)
			}
			if !tt.ok {
				return
			}
			var got []int
			for v := 1; v <= 5; v++ {
				if m.Matches(v) {
					got = append(got, v)
				}
			}
			if len(got) != len(tt.matches) || (len(got) > 0 && !equal(got, tt.matches)) {
				t.Fatalf("matches %v, want %v", got, tt.matches)
			}
		})
	}
}

func equal(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// FuzzIfMatch: any header parses or is refused, in time linear in its size,
// and a strong tag of a version matches that version and no other.
func FuzzIfMatch(f *testing.F) {
	for _, s := range []string{`*`, `"3"`, `W/"3", "4"`, `"a", "b"`, `"`, `W/`, "\"\xff\"", strings.Repeat(`"1",`, 100)} {
		f.Add(s, 3)
	}
	f.Fuzz(func(t *testing.T, header string, version int) {
		m, err := ParseIfMatch(header)
		if err != nil {
			return
		}
		if !m.any && len(m.tags) == 0 {
			t.Fatalf("%q parsed to an empty list", header)
		}
		if len(m.tags) == 1 && !m.tags[0].weak {
			if v, err := strconv.Atoi(m.tags[0].opaque); err == nil && v > 0 && strconv.Itoa(v) == m.tags[0].opaque && !m.Matches(v) {
				t.Fatalf("%q names version %d but does not match it", header, v)
			}
		}
		if version > 0 {
			one, err := ParseIfMatch(etag(version))
			if err != nil || !one.Matches(version) || one.Matches(version+1) {
				t.Fatalf("etag(%d) does not round-trip: %v", version, err)
			}
		}
	})
}

// FuzzCheckJSONText: whatever the body, text that PostgreSQL cannot store in
// a top-level string is refused, naming a field, and valid text passes.
func FuzzCheckJSONText(f *testing.F) {
	for _, s := range []string{`{"a":"b"}`, `{"a":"\u0000"}`, "{\"a\":\"\xff\"}", `{"a":{"b":"\u0000"}}`, `[1]`, `{"\u0000":"x"}`, `{"a":"\\u0000"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		err := checkJSONText(raw)
		if err == nil {
			// Passed: no top-level string may hold what PostgreSQL cannot
			// store (the typed decode then sees the same strings).
			var fields map[string]any
			if json.Unmarshal(raw, &fields) == nil && utf8.Valid(raw) {
				for k, v := range fields {
					if s, ok := v.(string); ok && strings.IndexByte(s, 0) >= 0 {
						t.Fatalf("%q passed with a NUL in field %q", raw, k)
					}
				}
			}
			if !utf8.Valid(raw) && json.Valid(raw) {
				t.Fatalf("%q passed with invalid UTF-8", raw)
			}
			return
		}
		var bad *badRequestError
		if !asBad(err, &bad) || bad.field == "" {
			t.Fatalf("%q refused without naming a field: %v", raw, err)
		}
	})
}

func asBad(err error, target **badRequestError) bool { return errors.As(err, target) }

// TestSetETag: the tag is found under any spelling of the header's name, as
// clients and net/http's own conditional handling look it up, and replaces
// one set before.
func TestSetETag(t *testing.T) {
	for _, version := range []int{1, 42, 1 << 40} {
		c, w := testContext(t, httptest.NewRequest(http.MethodGet, "/", nil))
		c.Header("ETag", `"stale"`)
		SetETag(c, version)
		c.Status(http.StatusOK)
		want := `"` + strconv.Itoa(version) + `"`
		for _, name := range []string{"ETag", "Etag", "etag"} {
			if got := w.Header().Values(name); len(got) != 1 || got[0] != want {
				t.Errorf("version %d: header %s = %q, want [%s]", version, name, got, want)
			}
		}
	}
}
