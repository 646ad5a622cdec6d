package web

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/gin-gonic/gin"
)

// testContext is a gin context for req, answering into the returned recorder.
func testContext(t *testing.T, req *http.Request) (*gin.Context, *httptest.ResponseRecorder) {
	t.Helper()
	gin.SetMode(gin.TestMode)
	w := httptest.NewRecorder()
	c, _ := gin.CreateTestContext(w)
	c.Request = req
	return c, w
}

// wantProblem checks that err classifies as a problem of the given status
// and type whose detail is detail and whose errors name field ("" for none).
func wantProblem(t *testing.T, err error, status int, slug, detail, field string) Problem {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want a %d %s problem", status, slug)
	}
	p := Classify(context.Background(), err)
	if p.Status != status || p.Type != ProblemType(slug) {
		t.Fatalf("problem %d %s (%v), want %d %s", p.Status, p.Type, err, status, ProblemType(slug))
	}
	if detail != "" && p.Detail != detail {
		t.Fatalf("detail %q, want %q", p.Detail, detail)
	}
	switch {
	case field == "" && len(p.Errors) != 0:
		t.Fatalf("errors %+v, want none", p.Errors)
	case field != "" && (len(p.Errors) != 1 || p.Errors[0].Field != field):
		t.Fatalf("errors %+v, want one naming %q", p.Errors, field)
	}
	return p
}

// decodeTarget has a field of each JSON type the API's requests use.
type decodeTarget struct {
	Name  string   `json:"name"`
	Count int64    `json:"count"`
	On    *bool    `json:"on"`
	Tags  []string `json:"tags"`
	Inner struct {
		Level int `json:"level"`
	} `json:"inner"`
	Attrs map[string]string `json:"attrs"`
	Ratio float32           `json:"ratio"`
	Small uint8             `json:"small"`
}

// TestDecodeJSON: exactly one JSON object of known fields is read; every
// other body is a 400 whose detail tells the client what to change, one
// over the cap a 413, and none of them a 500.
func TestDecodeJSON(t *testing.T) {
	long := strings.Repeat("x", 200)
	tests := []struct {
		name, contentType, body string
		status                  int    // 0: decoded
		slug, detail            string // the problem's type and detail
		want                    decodeTarget
	}{
		{name: "an object", contentType: "application/json", body: `{"name":"a","count":3,"tags":["x"]}`,
			want: decodeTarget{Name: "a", Count: 3, Tags: []string{"x"}}},
		{name: "with a charset", contentType: "application/json; charset=utf-8", body: `{"name":"a"}`, want: decodeTarget{Name: "a"}},
		{name: "a +json type", contentType: "application/merge-patch+json", body: `{"name":"a"}`, want: decodeTarget{Name: "a"}},
		{name: "no content type", body: `{"name":"a"}`, want: decodeTarget{Name: "a"}},
		{name: "blanks after the object", contentType: "application/json", body: "{\"name\":\"a\"} \r\n\t", want: decodeTarget{Name: "a"}},

		{name: "plain text", contentType: "text/plain", body: `{"name":"a"}`, status: 400, slug: "bad-request",
			detail: "send the body as application/json"},
		{name: "a form", contentType: "application/x-www-form-urlencoded", body: `name=a`, status: 400, slug: "bad-request",
			detail: "send the body as application/json"},
		{name: "json as a suffix of another name", contentType: "application/xjson", body: `{}`, status: 400, slug: "bad-request",
			detail: "send the body as application/json"},
		{name: "a malformed content type", contentType: "application/json; =", body: `{}`, status: 400, slug: "bad-request",
			detail: "send the body as application/json"},
		{name: "empty", contentType: "application/json", body: ``, status: 400, slug: "bad-request",
			detail: "the request body is empty; send a JSON object"},
		{name: "only blanks", contentType: "application/json", body: " \n ", status: 400, slug: "bad-request",
			detail: "the request body is empty; send a JSON object"},
		{name: "cut short", contentType: "application/json", body: `{"name":`, status: 400, slug: "bad-request",
			detail: "the request body is not valid JSON"},
		{name: "not JSON", contentType: "application/json", body: `{name: a}`, status: 400, slug: "bad-request",
			detail: "the request body is not valid JSON"},
		{name: "two objects", contentType: "application/json", body: `{"name":"a"}{"name":"b"}`, status: 400, slug: "bad-request",
			detail: "the request body must hold a single JSON object"},
		{name: "an object and a word", contentType: "application/json", body: `{"name":"a"} x`, status: 400, slug: "bad-request",
			detail: "the request body must hold a single JSON object"},
		{name: "an object and a stray bracket", contentType: "application/json", body: `{"name":"a"}]`, status: 400, slug: "bad-request",
			detail: "the request body must hold a single JSON object"},
		{name: "an unknown field", contentType: "application/json", body: `{"nickname":"a"}`, status: 400, slug: "bad-request",
			detail: `unknown field "nickname"`},
		{name: "a long unknown field is cut", contentType: "application/json", body: `{"` + long + `":1}`, status: 400, slug: "bad-request",
			detail: `unknown field "` + long[:64] + `"`},
		{name: "an unknown field with a quote", contentType: "application/json", body: `{"a\"b":1}`, status: 400, slug: "bad-request",
			detail: `unknown field "a\"b"`},
		{name: "a string for a number", contentType: "application/json", body: `{"count":"3"}`, status: 400, slug: "bad-request",
			detail: `field "count" must be a number`},
		{name: "a number for a string", contentType: "application/json", body: `{"name":3}`, status: 400, slug: "bad-request",
			detail: `field "name" must be a string`},
		{name: "a string for a boolean", contentType: "application/json", body: `{"on":"yes"}`, status: 400, slug: "bad-request",
			detail: `field "on" must be a boolean`},
		{name: "a string for a list", contentType: "application/json", body: `{"tags":"x"}`, status: 400, slug: "bad-request",
			detail: `field "tags" must be an array`},
		{name: "a number in a list of strings", contentType: "application/json", body: `{"tags":[1]}`, status: 400, slug: "bad-request",
			detail: `field "tags" must be a string`},
		{name: "a list for an object", contentType: "application/json", body: `{"inner":[]}`, status: 400, slug: "bad-request",
			detail: `field "inner" must be an object`},
		{name: "a string for a map", contentType: "application/json", body: `{"attrs":"x"}`, status: 400, slug: "bad-request",
			detail: `field "attrs" must be an object`},
		{name: "a nested field names its path", contentType: "application/json", body: `{"inner":{"level":true}}`, status: 400, slug: "bad-request",
			detail: `field "inner.level" must be a number`},
		{name: "a string for a float32", contentType: "application/json", body: `{"ratio":"x"}`, status: 400, slug: "bad-request",
			detail: `field "ratio" must be a number`},
		{name: "a byte out of range", contentType: "application/json", body: `{"small":300}`, status: 400, slug: "bad-request",
			detail: `field "small" must be a number`},
		{name: "a list, not an object", contentType: "application/json", body: `[1]`, status: 400, slug: "bad-request",
			detail: "the request body must be a JSON object"},
		{name: "a string, not an object", contentType: "application/json", body: `"x"`, status: 400, slug: "bad-request",
			detail: "the request body must be a JSON object"},
		{name: "null, not an object", contentType: "application/json", body: `null`, status: 400, slug: "bad-request",
			detail: "the request body must be a JSON object"},
		{name: "null after blanks", contentType: "application/json", body: " \r\n\tnull ", status: 400, slug: "bad-request",
			detail: "the request body must be a JSON object"},
		{name: "null and more", contentType: "application/json", body: `null {}`, status: 400, slug: "bad-request",
			detail: "the request body must be a JSON object"},
		{name: "a NUL in a field", contentType: "application/json", body: `{"name":"a\u0000"}`, status: 400, slug: "bad-request"},
		{name: "invalid UTF-8 outside an object", contentType: "application/json", body: "[\"\xff\"]", status: 400, slug: "bad-request",
			detail: "body must be valid UTF-8 text"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodPost, "/api/v1/users", strings.NewReader(tt.body))
			if tt.contentType != "" {
				req.Header.Set("Content-Type", tt.contentType)
			}
			c, _ := testContext(t, req)
			var got decodeTarget
			err := DecodeJSON(c, &got)
			if tt.status == 0 {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if got.Name != tt.want.Name || got.Count != tt.want.Count || strings.Join(got.Tags, ",") != strings.Join(tt.want.Tags, ",") {
					t.Fatalf("decoded %+v, want %+v", got, tt.want)
				}
				return
			}
			field := ""
			switch tt.name {
			case "a NUL in a field":
				field = "name"
			case "invalid UTF-8 outside an object":
				field = "body"
			}
			wantProblem(t, err, tt.status, tt.slug, tt.detail, field)
		})
	}
}

// TestDecodeJSONBodyFailures: a body over LimitBody's cap is a 413 naming
// the cap, one that fails to arrive a 400, and a target the code got wrong
// (not a pointer) the server's own error, never the client's.
func TestDecodeJSONBodyFailures(t *testing.T) {
	t.Run("over the cap", func(t *testing.T) {
		w := httptest.NewRecorder()
		body := http.MaxBytesReader(w, io.NopCloser(strings.NewReader(`{"name":"`+strings.Repeat("a", 100)+`"}`)), 32)
		var got decodeTarget
		p := wantProblem(t, decodeJSONBody(body, &got), http.StatusRequestEntityTooLarge, "too-large", "", "")
		if p.Detail != "the request body must be at most 32 bytes" {
			t.Fatalf("detail %q, want the cap named", p.Detail)
		}
	})
	t.Run("cut off", func(t *testing.T) {
		var got decodeTarget
		wantProblem(t, decodeJSONBody(iotest.ErrReader(io.ErrUnexpectedEOF), &got), http.StatusBadRequest, "bad-request",
			"the request body could not be read", "")
	})
	t.Run("not a pointer", func(t *testing.T) {
		err := decodeJSONBody(strings.NewReader(`{"name":"a"}`), decodeTarget{})
		p := Classify(context.Background(), err)
		if p.Status != http.StatusInternalServerError || !p.Internal {
			t.Fatalf("problem %d internal %v (%v), want the server's own 500", p.Status, p.Internal, err)
		}
	})
}

// TestJSONKind: a Go kind becomes the JSON type a client knows, with its
// article, never Go's name for it.
func TestJSONKind(t *testing.T) {
	tests := map[reflect.Kind]string{
		reflect.String: "a string", reflect.Bool: "a boolean",
		reflect.Slice: "an array", reflect.Array: "an array", reflect.Map: "an object", reflect.Struct: "an object",
		reflect.Pointer: "a value of another type", reflect.Interface: "a value of another type", reflect.Chan: "a value of another type",
	}
	for _, k := range []reflect.Kind{reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr, reflect.Float32, reflect.Float64} {
		tests[k] = "a number"
	}
	for kind, want := range tests {
		if got := jsonKind(kind); got != want {
			t.Errorf("jsonKind(%s) = %q, want %q", kind, got, want)
		}
	}
}

// TestTruncate: at most n bytes, never half a character.
func TestTruncate(t *testing.T) {
	tests := []struct {
		s    string
		n    int
		want string
	}{
		{"abc", 3, "abc"},
		{"abc", 2, "ab"},
		{"abc", 0, ""},
		{"aé", 2, "a"}, // é is two bytes: not split
		{"aé", 3, "aé"},
		{"", 5, ""},
	}
	for _, tt := range tests {
		if got := Truncate(tt.s, tt.n); got != tt.want {
			t.Errorf("Truncate(%q, %d) = %q, want %q", tt.s, tt.n, got, tt.want)
		}
	}
}

// TestPathID: a positive int64, else one 400 that says so.
func TestPathID(t *testing.T) {
	tests := []struct {
		id   string
		want int64 // 0: refused
	}{
		{"1", 1},
		{"42", 42},
		{"9223372036854775807", 9223372036854775807},
		{"0", 0},
		{"-1", 0},
		{"-9223372036854775808", 0},
		{"9223372036854775808", 0}, // overflows
		{"abc", 0},
		{"1.5", 0},
		{"1e3", 0},
		{"", 0},
		{" 1", 0},
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			c, _ := testContext(t, httptest.NewRequest(http.MethodGet, "/", nil))
			c.Params = gin.Params{{Key: "id", Value: tt.id}}
			got, err := PathID(c)
			if tt.want != 0 {
				if err != nil || got != tt.want {
					t.Fatalf("PathID = %d, %v; want %d", got, err, tt.want)
				}
				return
			}
			if got != 0 {
				t.Fatalf("PathID = %d with an error, want 0", got)
			}
			wantProblem(t, err, http.StatusBadRequest, "bad-request", "the id in the path must be a positive integer", "")
		})
	}
}

// TestQueryInt64: absent is 0; otherwise an integer from 0 to 2^53 (what
// a JSON number holds exactly), else a 400 naming the parameter.
func TestQueryInt64(t *testing.T) {
	tests := []struct {
		query string
		want  int64
		ok    bool
	}{
		{"", 0, true},
		{"before=", 0, true},
		{"before=0", 0, true},
		{"before=7", 7, true},
		{"before=9007199254740992", 1 << 53, true},
		{"before=9007199254740993", 0, false},
		{"before=9223372036854775807", 0, false},
		{"before=9223372036854775808", 0, false},
		{"before=-1", 0, false},
		{"before=x", 0, false},
		{"before=1.0", 0, false},
		{"other=5", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			c, _ := testContext(t, httptest.NewRequest(http.MethodGet, "/api/v1/audit?"+tt.query, nil))
			got, err := QueryInt64(c, "before")
			if tt.ok {
				if err != nil || got != tt.want {
					t.Fatalf("QueryInt64 = %d, %v; want %d", got, err, tt.want)
				}
				return
			}
			if got != 0 {
				t.Fatalf("QueryInt64 = %d with an error, want 0", got)
			}
			wantProblem(t, err, http.StatusBadRequest, "bad-request", "before must be a non-negative integer", "before")
		})
	}
}

// TestQueryLimit: the default when absent, an integer from 1 to max when
// given; anything else one 400 that names the parameter and states the rule
// (issue 19's item 7: 0 and a number past int64 included).
func TestQueryLimit(t *testing.T) {
	const def, max = 20, 100
	rule := "limit must be an integer from 1 to 100 (absent: 20)"
	tests := []struct {
		query string
		want  int // 0: refused
	}{
		{"", def},
		{"other=3", def},
		{"limit=1", 1},
		{"limit=50", 50},
		{"limit=100", max},
		{"limit=101", 0},
		{"limit=0", 0},
		{"limit=-1", 0},
		{"limit=", 0},
		{"limit=ten", 0},
		{"limit=9223372036854775807", 0},
		{"limit=9223372036854775808", 0},
		{"limit=" + url.QueryEscape(" 5"), 0},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			c, _ := testContext(t, httptest.NewRequest(http.MethodGet, "/api/v1/users?"+tt.query, nil))
			got, err := QueryLimit(c, "limit", def, max)
			if tt.want != 0 {
				if err != nil || got != tt.want {
					t.Fatalf("QueryLimit = %d, %v; want %d", got, err, tt.want)
				}
				return
			}
			if got != 0 {
				t.Fatalf("QueryLimit = %d with an error, want 0", got)
			}
			p := wantProblem(t, err, http.StatusBadRequest, "bad-request", rule, "limit")
			if p.Errors[0].Message != "must be an integer from 1 to 100 (absent: 20)" {
				t.Fatalf("field message %q", p.Errors[0].Message)
			}
		})
	}
}

// TestIfMatchHeader: no If-Match (or only blanks) is a 428, a malformed one
// a 400 naming the header, and a list may be split across lines.
func TestIfMatchHeader(t *testing.T) {
	tests := []struct {
		name    string
		lines   []string // nil: no header
		status  int      // 0: parsed
		matches []int    // of versions 1..5
	}{
		{name: "none", lines: nil, status: http.StatusPreconditionRequired},
		{name: "empty", lines: []string{""}, status: http.StatusPreconditionRequired},
		{name: "blanks", lines: []string{" \t "}, status: http.StatusPreconditionRequired},
		{name: "two empty lines", lines: []string{"", " "}, status: http.StatusPreconditionRequired},
		{name: "any", lines: []string{"*"}, matches: []int{1, 2, 3, 4, 5}},
		{name: "one tag", lines: []string{`"3"`}, matches: []int{3}},
		{name: "a list", lines: []string{`"1", "4"`}, matches: []int{1, 4}},
		{name: "a list across lines", lines: []string{`"1"`, `"4"`}, matches: []int{1, 4}},
		{name: "an empty line among tags", lines: []string{"", `"2"`}, matches: []int{2}},
		{name: "a weak tag matches nothing", lines: []string{`W/"3"`}},
		{name: "no quotes", lines: []string{`3`}, status: http.StatusBadRequest},
		{name: "a bad line among good ones", lines: []string{`"1"`, `4`}, status: http.StatusBadRequest},
		{name: "any with a tag on another line", lines: []string{"*", `"3"`}, status: http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodPatch, "/api/v1/users/3", nil)
			for _, l := range tt.lines {
				req.Header.Add("If-Match", l)
			}
			c, _ := testContext(t, req)
			m, err := IfMatchHeader(c)
			switch tt.status {
			case 0:
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				for v := 1; v <= 5; v++ {
					if want := slices.Contains(tt.matches, v); m.Matches(v) != want {
						t.Errorf("matches version %d: %v, want %v", v, !want, want)
					}
				}
			case http.StatusPreconditionRequired:
				if !errors.Is(err, ErrPreconditionRequired) {
					t.Fatalf("error %v, want ErrPreconditionRequired", err)
				}
				wantProblem(t, err, tt.status, "precondition-required", ErrPreconditionRequired.Error(), "")
			default:
				wantProblem(t, err, tt.status, "bad-request", "", "If-Match")
			}
		})
	}
}
