package journey

import (
	"net/http"
	"strings"
	"testing"

	"github.com/gruntwork-io/terratest/modules/random"
	"github.com/stretchr/testify/assert"
)

// BadInputs sends malformed and invalid requests; each must get a 4xx
// application/problem+json naming what is wrong, never a 5xx or internal text.
func BadInputs(t *testing.T, tg *Target) {
	admin := tg.AdminClient(t)
	root := tg.AdminUser(t)
	valid := NewUserSpec("valid", "user", nil)
	withUser := func(mutate func(*NewUser)) NewUser {
		u := NewUserSpec("bad", "user", nil)
		mutate(&u)
		return u
	}

	for _, tc := range []struct {
		name   string
		req    Request
		status int
		// fields, when set, are the fields the problem must name.
		fields []string
		// detail, when set, must appear in the problem's detail.
		detail string
	}{
		{name: "unknown API route", req: Request{Method: http.MethodGet, Path: "/api/v1/nothing-here"}, status: http.StatusNotFound},
		{name: "unsupported method", req: Request{Method: http.MethodPut, Path: "/api/v1/me"}, status: http.StatusMethodNotAllowed},
		{name: "non-numeric id", req: Request{Method: http.MethodGet, Path: "/api/v1/users/abc"}, status: http.StatusBadRequest},
		{name: "zero id", req: Request{Method: http.MethodGet, Path: "/api/v1/users/0"}, status: http.StatusBadRequest},
		{name: "id that does not exist", req: Request{Method: http.MethodGet, Path: "/api/v1/users/9223372036854775807"}, status: http.StatusNotFound},
		{name: "id beyond int64", req: Request{Method: http.MethodGet, Path: "/api/v1/users/99999999999999999999"}, status: http.StatusBadRequest},
		{name: "malformed JSON", req: Request{Method: http.MethodPost, Path: "/api/v1/users", Body: []byte(`{"username":`), ContentType: "application/json"}, status: http.StatusBadRequest},
		{name: "empty body", req: Request{Method: http.MethodPost, Path: "/api/v1/users", Body: []byte{}, ContentType: "application/json"}, status: http.StatusBadRequest},
		{name: "JSON array instead of object", req: Request{Method: http.MethodPost, Path: "/api/v1/users", Body: []byte(`[1,2]`), ContentType: "application/json"}, status: http.StatusBadRequest},
		{name: "two JSON objects", req: Request{Method: http.MethodPost, Path: "/api/v1/users", Body: []byte(`{} {}`), ContentType: "application/json"}, status: http.StatusBadRequest},
		{name: "unknown field", req: Request{Method: http.MethodPost, Path: "/api/v1/users", JSON: map[string]any{"username": valid.Username, "is_root": true}}, status: http.StatusBadRequest, detail: "is_root"},
		{name: "wrong field type", req: Request{Method: http.MethodPost, Path: "/api/v1/users", JSON: map[string]any{"username": 42}}, status: http.StatusBadRequest, detail: "username"},
		{name: "not JSON", req: Request{Method: http.MethodPost, Path: "/api/v1/users", Body: []byte("username=x"), ContentType: "application/x-www-form-urlencoded"}, status: http.StatusBadRequest},
		{name: "body over 64 KiB", req: Request{Method: http.MethodPost, Path: "/api/v1/users", JSON: map[string]any{"username": strings.Repeat("x", 70<<10)}}, status: http.StatusRequestEntityTooLarge},
		{
			name:   "every field invalid",
			req:    Request{Method: http.MethodPost, Path: "/api/v1/users", JSON: map[string]any{"username": "a b", "email": "not-an-email", "password": "short", "role": "superuser"}},
			status: http.StatusUnprocessableEntity, fields: []string{"email", "password", "role", "username"},
		},
		{name: "username too short", req: Request{Method: http.MethodPost, Path: "/api/v1/users", JSON: withUser(func(u *NewUser) { u.Username = "ab" })}, status: http.StatusUnprocessableEntity, fields: []string{"username"}},
		{name: "email with a display name", req: Request{Method: http.MethodPost, Path: "/api/v1/users", JSON: withUser(func(u *NewUser) { u.Email = "Bad <bad@example.com>" })}, status: http.StatusUnprocessableEntity, fields: []string{"email"}},
		{name: "common password", req: Request{Method: http.MethodPost, Path: "/api/v1/users", JSON: withUser(func(u *NewUser) { u.Password = "password123456789" })}, status: http.StatusUnprocessableEntity, fields: []string{"password"}},
		{name: "password of 14 characters", req: Request{Method: http.MethodPost, Path: "/api/v1/users", JSON: withUser(func(u *NewUser) { u.Password = "Xk3-vq9!Lm2#Tp" })}, status: http.StatusUnprocessableEntity, fields: []string{"password"}},
		{name: "password containing the username", req: Request{Method: http.MethodPost, Path: "/api/v1/users", JSON: withUser(func(u *NewUser) { u.Password = u.Username + "-and-more-words" })}, status: http.StatusUnprocessableEntity, fields: []string{"password"}},
		{name: "page size too large", req: Request{Method: http.MethodGet, Path: "/api/v1/users?limit=1000"}, status: http.StatusBadRequest, fields: []string{"limit"}},
		{name: "forged cursor", req: Request{Method: http.MethodGet, Path: "/api/v1/users?cursor=%21%21%21"}, status: http.StatusUnprocessableEntity, fields: []string{"cursor"}},
		{name: "non-integer limit", req: Request{Method: http.MethodGet, Path: "/api/v1/users?limit=ten"}, status: http.StatusBadRequest},
		{name: "malformed If-Match", req: Request{Method: http.MethodPatch, Path: root.Path(), JSON: map[string]any{"email": "x@example.com"}, Header: map[string]string{"If-Match": "yesterday"}}, status: http.StatusBadRequest},
		{name: "patch that changes nothing", req: Request{Method: http.MethodPatch, Path: root.Path(), JSON: map[string]any{}, Header: map[string]string{"If-Match": `"1"`}}, status: http.StatusUnprocessableEntity, fields: []string{"body"}},
		{name: "audit page size too large", req: Request{Method: http.MethodGet, Path: "/api/v1/audit?limit=101"}, status: http.StatusBadRequest, fields: []string{"limit"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := admin.Do(t, tc.req).ExpectProblem(t, tc.status)
			if tc.fields != nil {
				assert.Equal(t, tc.fields, p.Fields(), "the problem names the invalid fields, sorted")
				for _, e := range p.Errors {
					assert.NotEmpty(t, e.Message, "field %s has a message", e.Field)
				}
			}
			if tc.detail != "" {
				assert.Contains(t, p.Detail, tc.detail)
			}
			if i := strings.IndexByte(tc.req.Path, '?'); i < 0 {
				assert.Equal(t, tc.req.Path, p.Instance, "instance is the request path")
			} else {
				assert.Equal(t, tc.req.Path[:i], p.Instance, "instance is the request path")
			}
		})
	}

	t.Run("the caller's request id is echoed", func(t *testing.T) {
		id := "journey-" + random.UniqueID()
		resp := admin.Do(t, Request{Method: http.MethodGet, Path: "/api/v1/users/0", Header: map[string]string{"X-Request-ID": id}})
		p := resp.ExpectProblem(t, http.StatusBadRequest)
		assert.Equal(t, id, p.RequestID)
	})

	t.Run("an unknown page is an HTML 404 for browsers", func(t *testing.T) {
		NewClient(tg.BaseURL).GetHTML(t, "/no-such-page").ExpectHTML(t, http.StatusNotFound)
	})
}
