package ui

import (
	"fmt"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/gin-gonic/gin"
)

// pageTruncate shortens s to at most n bytes without splitting a character.
func pageTruncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// pageStorable reports whether s can reach the database: PostgreSQL text
// holds neither NUL nor invalid UTF-8.
func pageStorable(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsRune(s, 0)
}

// pageBadField returns the name of the first submitted form field (in name
// order, so the answer is stable) whose value PostgreSQL could not store.
// Call it after the form was parsed (the CSRF check parses it).
func pageBadField(c *gin.Context) (string, bool) {
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
		ok := pageStorable(name)
		for _, v := range form[name] {
			ok = ok && pageStorable(v)
		}
		if !ok {
			return name, true
		}
	}
	return "", false
}

// fieldLabels name form fields the way the forms label them.
var fieldLabels = map[string]string{
	"login":            "Username or email",
	"password":         "Password",
	"username":         "Username",
	"email":            "Email",
	"role":             "Role",
	"avatar":           "Avatar",
	"current_password": "Current password",
	"new_password":     "New password",
	"q":                "Search",
	"csrf_token":       "Form token",
	"version":          "Version",
}

// fieldLabel is a field's label, or its name quoted when the form has no
// such field (and never more than a short, printable name).
func fieldLabel(name string) string {
	if l, ok := fieldLabels[name]; ok {
		return l
	}
	if !pageStorable(name) {
		return "A field"
	}
	return fmt.Sprintf("The field %q", pageTruncate(name, 40))
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

// fieldMessage joins a field's label and the domain's message about it.
func fieldMessage(field, msg string) string {
	return sentence(fieldLabel(field) + " " + msg)
}
