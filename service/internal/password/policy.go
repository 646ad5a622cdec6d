package password

import (
	_ "embed"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// MinLength and MaxLength bound a password in characters (Unicode code points).
// SP 800-63B-4 asks for at least 15 for single-factor passwords and for
// accepting at least 64.
const (
	MinLength = 15
	MaxLength = 256
)

//go:embed common.txt
var commonList string

// Policy decides whether a new password is acceptable.
type Policy struct {
	common map[string]struct{}
}

// NewPolicy returns the policy with the embedded list of common passwords.
func NewPolicy() *Policy {
	common := make(map[string]struct{}, 512)
	for _, line := range strings.Split(commonList, "\n") {
		line = strings.TrimSpace(line)
		if line != "" && !strings.HasPrefix(line, "#") {
			common[strings.ToLower(line)] = struct{}{}
		}
	}
	return &Policy{common: common}
}

// Normalize returns pw in Unicode NFC so the same characters typed on different
// keyboards hash the same.
func Normalize(pw string) string { return norm.NFC.String(pw) }

// Check returns "" when pw is acceptable for the account, else a reason a
// person can act on. context holds words tied to the account (username, email)
// that must not be the password.
func (p *Policy) Check(pw string, context ...string) string {
	pw = Normalize(pw)
	n := utf8.RuneCountInString(pw)
	switch {
	case !utf8.ValidString(pw):
		return "must be valid UTF-8 text"
	case n < MinLength:
		return "must be at least 15 characters long; a few random words make a good one"
	case n > MaxLength:
		return "must be at most 256 characters long"
	}
	for _, r := range pw {
		if unicode.IsControl(r) {
			return "must not contain control characters"
		}
	}
	lower := strings.ToLower(pw)
	if _, ok := p.common[lower]; ok {
		return "is one of the most commonly used passwords; choose another"
	}
	if _, ok := p.common[strings.TrimRight(lower, "0123456789!@#$%^&*.?")]; ok {
		return "is a commonly used password with a few characters added; choose another"
	}
	if repetitive(lower) {
		return "must not be a repeated or sequential pattern"
	}
	for _, c := range context {
		c = strings.ToLower(strings.TrimSpace(c))
		if len(c) >= 3 && strings.Contains(lower, c) {
			return "must not contain your username or email address"
		}
	}
	return ""
}

// repetitive catches passwords made of one short unit repeated ("abcabcabc…")
// or of a single ascending/descending run ("123456789012345").
func repetitive(s string) bool {
	rs := []rune(s)
	for unit := 1; unit <= 4 && unit < len(rs); unit++ {
		same := true
		for i := unit; i < len(rs); i++ {
			if rs[i] != rs[i-unit] {
				same = false
				break
			}
		}
		if same {
			return true
		}
	}
	asc, desc := true, true
	for i := 1; i < len(rs); i++ {
		d := rs[i] - rs[i-1]
		// digits wrap around ("...7890123")
		if d != 1 && (rs[i-1] != '9' || rs[i] != '0') {
			asc = false
		}
		if d != -1 && (rs[i-1] != '0' || rs[i] != '9') {
			desc = false
		}
	}
	return asc || desc
}
