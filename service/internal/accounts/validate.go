package accounts

import (
	"net/mail"
	"regexp"
	"strings"
	"unicode/utf8"
)

var usernamePattern = regexp.MustCompile(`^[A-Za-z0-9._-]{3,50}$`)

// NormalizeEmail lower-cases and trims an address; the database stores only this form.
func NormalizeEmail(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

func checkUsername(v *ValidationError, username string) {
	if !usernamePattern.MatchString(username) {
		v.add("username", "must be 3 to 50 characters of letters, digits, '.', '_' or '-'")
	}
}

func checkEmail(v *ValidationError, email string) {
	if email == "" {
		v.add("email", "is required")
		return
	}
	if utf8.RuneCountInString(email) > 254 {
		v.add("email", "must be at most 254 characters")
		return
	}
	addr, err := mail.ParseAddress(email)
	// Reject display names and anything ParseAddress had to rewrite.
	if err != nil || addr.Address != email || addr.Name != "" || !strings.Contains(email[strings.LastIndex(email, "@"):], ".") {
		v.add("email", "must be a plain address such as name@example.com")
	}
}

func checkRole(v *ValidationError, r Role) {
	if !r.Valid() {
		v.add("role", "must be 'admin' or 'user'")
	}
}
