// Package safetext keeps text that reaches PostgreSQL storable and bounded:
// PostgreSQL text holds neither NUL nor invalid UTF-8, and a cut must never
// split a character. Edges refuse bad text with Problem; places that must
// keep what a client sent (a User-Agent as a session name) store Clean text.
package safetext

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Problem says what is wrong with s for a person ("" when nothing is): text
// that PostgreSQL cannot store.
func Problem(s string) string {
	switch {
	case !utf8.ValidString(s):
		return "must be valid UTF-8 text"
	case strings.IndexByte(s, 0) >= 0:
		return "must not contain a NUL character"
	}
	return ""
}

// Clean returns s as valid UTF-8 (each invalid byte sequence becomes U+FFFD)
// without NUL or other control characters, which have no place in a name.
func Clean(s string) string {
	if Problem(s) == "" && !strings.ContainsFunc(s, unicode.IsControl) {
		return s
	}
	s = strings.ToValidUTF8(s, "\uFFFD")
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, s)
}

// TruncateRunes returns at most n characters of s, never splitting one.
func TruncateRunes(s string, n int) string {
	if n <= 0 {
		return ""
	}
	if len(s) <= n {
		return s // n bytes hold at most n characters
	}
	i := 0
	for pos := range s {
		if i == n {
			return s[:pos]
		}
		i++
	}
	return s
}

// TruncateBytes returns the longest prefix of s of at most n bytes that does
// not end inside a character.
func TruncateBytes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	if n <= 0 {
		return ""
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
