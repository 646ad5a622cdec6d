package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/gopherops/gopherops/service/internal/safetext"
)

// DecodeJSON reads exactly one JSON object into dst, refusing unknown fields,
// trailing data and other media types, with messages a client can act on.
func DecodeJSON(c *gin.Context, dst any) error {
	if ct := c.GetHeader("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			return BadRequest("send the body as application/json")
		}
	}
	return decodeJSONBody(c.Request.Body, dst)
}

// decodeJSONBody is decodeJSON without the header checks (and what the fuzz test drives).
func decodeJSONBody(body io.Reader, dst any) error {
	// The body is capped by limitBody, so reading it whole is bounded.
	raw, err := io.ReadAll(body)
	if err != nil {
		return BodyReadError(err)
	}
	if err := checkJSONText(raw); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		// The decoder reads raw, not the connection: its errors are the
		// text's (or the code's), never the body's.
		var (
			syntax    *json.SyntaxError
			typeErr   *json.UnmarshalTypeError
			unmarshal *json.InvalidUnmarshalError
		)
		switch {
		case errors.Is(err, io.EOF):
			return BadRequest("the request body is empty; send a JSON object")
		case errors.As(err, &syntax), errors.Is(err, io.ErrUnexpectedEOF):
			return BadRequest("the request body is not valid JSON")
		case errors.As(err, &typeErr):
			if typeErr.Field != "" {
				return BadRequest("field %q must be %s", Truncate(typeErr.Field, 64), jsonKind(typeErr.Type.Kind()))
			}
			return BadRequest("the request body must be a JSON object")
		case errors.As(err, &unmarshal):
			return fmt.Errorf("web: decode target: %w", err)
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			// The name comes quoted; cut it, not its closing quote.
			name := strings.TrimPrefix(err.Error(), "json: unknown field ")
			if unquoted, uerr := strconv.Unquote(name); uerr == nil {
				name = unquoted
			}
			return BadRequest("unknown field %q", Truncate(name, 64))
		default:
			return BadRequest("the request body is not valid JSON")
		}
	}
	// Every body is an object. The decoder refuses an array, a string, a
	// number or a boolean for an object target by itself, but decodes null
	// into it as if it were {}; one check of what the value begins with
	// states the rule for all of them. (It decoded, so raw is not blank.)
	if bytes.TrimLeft(raw, " \t\r\n")[0] != '{' {
		return BadRequest("the request body must be a JSON object")
	}
	if dec.More() {
		return BadRequest("the request body must hold a single JSON object")
	}
	if _, err := dec.Token(); err != io.EOF {
		return BadRequest("the request body must hold a single JSON object")
	}
	return nil
}

// checkJSONText refuses text PostgreSQL cannot store before it is decoded
// (encoding/json would silently turn invalid UTF-8 into U+FFFD and keep a
// NUL), naming the top-level field it is in. The common case costs one scan.
func checkJSONText(raw []byte) error {
	if utf8.Valid(raw) && !bytes.Contains(raw, []byte(`\u0000`)) {
		return nil
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err == nil {
		keys := make([]string, 0, len(fields))
		for k := range fields {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			name := k
			if k == "" || safetext.Problem(k) != "" {
				name = "body" // a key that cannot name a field
			}
			v := fields[k]
			if !utf8.Valid(v) {
				return BadField(safetext.TruncateBytes(name, 64), "must be valid UTF-8 text")
			}
			var str string
			if json.Unmarshal(v, &str) == nil {
				if msg := safetext.Problem(str); msg != "" {
					return BadField(safetext.TruncateBytes(name, 64), msg)
				}
			}
		}
	}
	if !utf8.Valid(raw) {
		return BadField("body", "must be valid UTF-8 text")
	}
	// A NUL escape in a nested value, or the text "\\u0000" that decodes
	// to no NUL at all: the typed decode and the domain check the rest.
	return nil
}

// jsonKind names the JSON type a Go kind decodes from, with its article,
// so that a client is told of an array or an object, never a slice or a
// struct.
func jsonKind(k reflect.Kind) string {
	switch k {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Map, reflect.Struct:
		return "an object"
	}
	return "a value of another type"
}

// Truncate cuts s to at most n bytes without splitting a character.
func Truncate(s string, n int) string { return safetext.TruncateBytes(s, n) }

// PathID parses the :id path parameter.
func PathID(c *gin.Context) (int64, error) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, BadRequest("the id in the path must be a positive integer")
	}
	return id, nil
}

// QueryInt64 reads an optional non-negative integer query parameter (0 when
// absent); a value that is not one, or that overflows, is a 400 naming it.
func QueryInt64(c *gin.Context, name string) (int64, error) {
	v := c.Query(name)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 || n > 1<<53 {
		return 0, BadField(name, "must be a non-negative integer")
	}
	return n, nil
}

// QueryLimit reads a page size: def when the parameter is absent, else an
// integer from 1 to max. Anything else (0, a negative or huge number, not a
// number) is one 400 that names the parameter and states the rule.
func QueryLimit(c *gin.Context, name string, def, max int) (int, error) {
	v, ok := c.GetQuery(name)
	if !ok {
		return def, nil
	}
	if n, err := strconv.Atoi(v); err == nil && n >= 1 && n <= max {
		return n, nil
	}
	return 0, BadField(name, fmt.Sprintf("must be an integer from 1 to %d (absent: %d)", max, def))
}

// etag is the entity tag of a user version.
func etag(version int) string { return `"` + strconv.Itoa(version) + `"` }

// SetETag sets the response's ETag to a user version's. The key is stored
// as net/http spells it canonically ("Etag"), which spares Header.Set its
// lookup on every read of a user.
func SetETag(c *gin.Context, version int) {
	c.Writer.Header()["Etag"] = []string{etag(version)}
}

// IfMatchHeader parses the request's If-Match (all of its lines, which
// RFC 9110 lets a client split a list across): ErrPreconditionRequired when
// there is none, a 400 naming the header when it is malformed.
func IfMatchHeader(c *gin.Context) (IfMatch, error) {
	values := c.Request.Header.Values("If-Match")
	if len(values) == 0 || strings.TrimSpace(strings.Join(values, "")) == "" {
		return IfMatch{}, ErrPreconditionRequired
	}
	m, err := ParseIfMatch(strings.Join(values, ","))
	if err != nil {
		return IfMatch{}, BadField("If-Match", `must be "*" or one or more entity-tags such as "3" (the user's ETag)`)
	}
	return m, nil
}
