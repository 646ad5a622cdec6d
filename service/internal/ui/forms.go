package ui

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/gopherops/gopherops/service/internal/accounts"
	"github.com/gopherops/gopherops/service/internal/safetext"
	"github.com/gopherops/gopherops/service/internal/web"
)

// formFields lists each form's fields in page order: the first invalid one
// gets the focus, and errors about fields a form does not have go to the
// page's alert instead.
var formFields = map[string][]string{
	"login":    {"login", "password"},
	"create":   {"username", "email", "password", "password_confirm", "role"},
	"edit":     {"username", "email", "role"},
	"avatar":   {"avatar"},
	"password": {"current_password", "new_password", "new_password_confirm"},
	"reset":    {"password"},
}

// pageForm answers the templates' questions about the form a redirect came
// back to: is it the one to open, which field is wrong, which gets the focus.
type pageForm struct{ f pageFlash }

// Open reports whether form is the one whose errors are shown.
func (p pageForm) Open(form string) bool { return p.f.Form != "" && p.f.Form == form }

// Err is the sentence about field of form, "" when it is fine.
func (p pageForm) Err(form, field string) string {
	if !p.Open(form) {
		return ""
	}
	if m, ok := p.f.Fields[field]; ok {
		return fieldMessage(field, m)
	}
	return ""
}

// Focus reports whether field is the first invalid field of form.
func (p pageForm) Focus(form, field string) bool {
	if !p.Open(form) {
		return false
	}
	kind, _, _ := strings.Cut(form, ":")
	for _, f := range formFields[kind] {
		if _, bad := p.f.Fields[f]; bad {
			return f == field
		}
	}
	return false
}

// Count is how many fields of form are wrong.
func (p pageForm) Count(form string) int {
	if !p.Open(form) {
		return 0
	}
	return len(p.f.Fields)
}

// Value is what to show in field of form: what was submitted when the form
// came back with errors, else fallback.
func (p pageForm) Value(form, field, fallback string) string {
	if v, ok := p.f.Values[field]; ok && p.Open(form) {
		return v
	}
	return fallback
}

// formError answers a form the domain refused. Input errors go back to the
// form with POST-redirect-GET: every field error by its field, the first
// one focused, with the values to fix. Anything else is returned for the
// adapter to turn into an error page.
func formError(c *gin.Context, err error, form, back string, values map[string]string) (result, error) {
	if databaseDown(err) {
		return nil, err
	}
	p := web.Classify(c.Request.Context(), err)
	switch {
	case p.Status == http.StatusUnauthorized && errors.Is(err, accounts.ErrBadCredentials) && form == "password":
		// A wrong current password is a mistake in the form, not a signed-out session.
		p.Errors = []web.FieldError{{Field: "current_password", Message: "is not your current password"}}
	case p.Status == http.StatusBadRequest, p.Status == http.StatusForbidden, p.Status == http.StatusConflict,
		p.Status == http.StatusPreconditionFailed, p.Status == http.StatusRequestEntityTooLarge,
		p.Status == http.StatusUnprocessableEntity, p.Status == http.StatusTooManyRequests:
	default:
		return nil, err
	}
	f := pageFlash{Form: form, Values: values, Fields: map[string]string{}}
	kind, _, _ := strings.Cut(form, ":")
	var other []string
	for _, fe := range p.Errors {
		if slices.Contains(formFields[kind], fe.Field) {
			f.Fields[fe.Field] = fe.Message
		} else {
			other = append(other, fieldMessage(fe.Field, fe.Message))
		}
	}
	switch {
	case len(other) > 0:
		f.Error = strings.Join(other, " ")
	case len(f.Fields) == 0 && p.Status == http.StatusPreconditionFailed:
		f.Error = "Someone else changed this user while you were editing. The form now shows their changes; make yours again."
	case len(f.Fields) == 0:
		f.Error = sentence(p.Detail)
	}
	return redirect{To: back, Flash: &f}, nil
}

// refuseText answers a form whose field holds text PostgreSQL cannot store
// (NUL, invalid UTF-8): a 400 that names the field; nothing is stored.
func refuseText(field, back string) page {
	p := errorPage(http.StatusBadRequest, "Form not accepted",
		fieldLabel(field)+" contains a character that cannot be stored (a NUL character or invalid UTF-8).",
		"Remove it and send the form again.")
	p.Data = errorData{Message: p.Data.(errorData).Message, Next: p.Data.(errorData).Next, Back: back}
	return p
}

// formFile reads one uploaded file, refusing anything larger than limit.
func formFile(c *gin.Context, field string, limit int64) ([]byte, error) {
	fh, err := c.FormFile(field)
	if err != nil {
		var tooBig *http.MaxBytesError
		switch {
		case errors.As(err, &tooBig):
			return nil, &accounts.ValidationError{Fields: map[string]string{field: "must be at most 1 MiB"}}
		case errors.Is(web.BodyReadError(err), web.ErrBodyTimeout):
			return nil, web.BodyReadError(err)
		}
		return nil, &accounts.ValidationError{Fields: map[string]string{field: "is missing; choose a file"}}
	}
	if fh.Size > limit {
		return nil, &accounts.ValidationError{Fields: map[string]string{field: "must be at most 1 MiB"}}
	}
	f, err := fh.Open()
	if err != nil {
		return nil, fmt.Errorf("ui: open upload: %w", err)
	}
	defer f.Close()
	data := make([]byte, fh.Size) // the parsed part's size, at most limit
	if _, err := io.ReadFull(f, data); err != nil {
		return nil, fmt.Errorf("ui: read upload: %w", err)
	}
	return data, nil
}

// truncate shortens s to at most n bytes without splitting a character.
func truncate(s string, n int) string { return safetext.TruncateBytes(s, n) }

// storable reports whether s can reach the database: PostgreSQL text holds
// neither NUL nor invalid UTF-8.
func storable(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsRune(s, 0)
}

// badField returns the name of the first submitted form field (in name
// order, so the answer is stable) whose value PostgreSQL could not store.
// Call it after the form was parsed (the CSRF check parses it).
func badField(c *gin.Context) (string, bool) {
	form := c.Request.PostForm
	if c.Request.MultipartForm != nil {
		form = c.Request.MultipartForm.Value
	}
	names := make([]string, 0, len(form))
	for name := range form {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		ok := storable(name)
		for _, v := range form[name] {
			ok = ok && storable(v)
		}
		if !ok {
			return name, true
		}
	}
	return "", false
}

// fieldLabels name form fields the way the forms label them.
var fieldLabels = map[string]string{
	"login":                "Username or email",
	"password":             "Password",
	"password_confirm":     "Password confirmation",
	"username":             "Username",
	"email":                "Email",
	"role":                 "Role",
	"avatar":               "Avatar",
	"current_password":     "Current password",
	"new_password":         "New password",
	"new_password_confirm": "Password confirmation",
	"q":                    "Search",
	"csrf_token":           "Form token",
	"version":              "Version",
}

// fieldLabel is a field's label, or its name quoted when the form has no
// such field (and never more than a short, printable name).
func fieldLabel(name string) string {
	if l, ok := fieldLabels[name]; ok {
		return l
	}
	if !storable(name) {
		return "A field"
	}
	return fmt.Sprintf("The field %q", truncate(name, 40))
}

// sentence makes a message from the domain ("username is already taken")
// read as a sentence: capital first letter, final full stop.
func sentence(s string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return ""
	}
	r, n := utf8.DecodeRuneInString(s)
	s = string(unicode.ToUpper(r)) + s[n:]
	if !strings.HasSuffix(s, ".") && !strings.HasSuffix(s, "?") && !strings.HasSuffix(s, "!") {
		s += "."
	}
	return s
}

func sentenceCase(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// fieldMessage joins a field's label and the domain's message about it.
func fieldMessage(field, msg string) string {
	return sentence(fieldLabel(field) + " " + msg)
}
