package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"
)

// decodeJSON reads exactly one JSON object into dst, refusing unknown fields,
// trailing data and other media types, with messages a client can act on.
func decodeJSON(c *gin.Context, dst any) error {
	if ct := c.GetHeader("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			return badRequest("send the body as application/json")
		}
	}
	return decodeJSONBody(c.Request.Body, dst)
}

// decodeJSONBody is decodeJSON without the header checks (and what the fuzz test drives).
func decodeJSONBody(body io.Reader, dst any) error {
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		var (
			syntax    *json.SyntaxError
			typeErr   *json.UnmarshalTypeError
			maxBytes  *http.MaxBytesError
			unmarshal *json.InvalidUnmarshalError
		)
		switch {
		case errors.As(err, &maxBytes):
			return err
		case errors.Is(err, io.EOF):
			return badRequest("the request body is empty; send a JSON object")
		case errors.As(err, &syntax), errors.Is(err, io.ErrUnexpectedEOF):
			return badRequest("the request body is not valid JSON")
		case errors.As(err, &typeErr):
			if typeErr.Field != "" {
				return badRequest("field %q must be a %s", truncate(typeErr.Field, 64), jsonKind(typeErr.Type.Kind().String()))
			}
			return badRequest("the request body must be a JSON object")
		case errors.As(err, &unmarshal):
			return fmt.Errorf("httpapi: decode target: %w", err)
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			name := strings.TrimPrefix(err.Error(), "json: unknown field ")
			return badRequest("unknown field %s", truncate(name, 66))
		default:
			return badRequest("the request body is not valid JSON")
		}
	}
	if dec.More() {
		return badRequest("the request body must hold a single JSON object")
	}
	if _, err := dec.Token(); err != io.EOF {
		var maxBytes *http.MaxBytesError
		if errors.As(err, &maxBytes) {
			return err
		}
		return badRequest("the request body must hold a single JSON object")
	}
	return nil
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "string"
	case "bool":
		return "boolean"
	case "int", "int32", "int64", "uint", "float64":
		return "number"
	case "ptr":
		return "value of another type"
	}
	return goKind
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// pathID parses the :id path parameter.
func pathID(c *gin.Context) (int64, error) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, badRequest("the id in the path must be a positive integer")
	}
	return id, nil
}

// queryInt reads an optional integer query parameter.
func queryInt(c *gin.Context, name string) (int, error) {
	v := c.Query(name)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, badRequest("query parameter %s must be an integer", name)
	}
	return n, nil
}

// etag is the entity tag of a user version.
func etag(version int) string { return `"` + strconv.Itoa(version) + `"` }

// ifMatchVersion reads the version a PATCH expects from If-Match.
func ifMatchVersion(c *gin.Context) (int, error) {
	h := strings.TrimSpace(c.GetHeader("If-Match"))
	if h == "" {
		return 0, errPreconditionRequired
	}
	h = strings.TrimPrefix(h, "W/")
	v, err := strconv.Atoi(strings.Trim(h, `"`))
	if err != nil || v <= 0 || !strings.HasPrefix(h, `"`) {
		return 0, badRequest(`If-Match must be the ETag of the user, such as "3"`)
	}
	return v, nil
}

var errPreconditionRequired = errors.New("precondition required")
