// Package jsonquote appends strings as JSON string literals, without
// reflection or allocation, in the two dialects the service writes: the API's
// (encoding/json's) and the log's (log/slog's JSON handler's). Each hand-written
// encoder built on it is held byte for byte to its model by a fuzz test.
package jsonquote

import "unicode/utf8"

// Style is one dialect: which ASCII bytes are written as they are, and
// whether \b and \f are escaped by name.
type Style struct {
	plain   *[utf8.RuneSelf]bool
	namedBF bool
}

// plainTable marks the ASCII bytes a style writes as they are: every
// printable one but `"` and `\`, and, with html, but <, > and &.
func plainTable(html bool) *[utf8.RuneSelf]bool {
	var t [utf8.RuneSelf]bool
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\' && (!html || c != '<' && c != '>' && c != '&')
	}
	return &t
}

var (
	// EncodingJSON quotes as encoding/json does by default: HTML-safe (<,
	// >, & escaped), \b \f \n \r \t by name, invalid UTF-8 as U+FFFD,
	// U+2028 and U+2029 escaped. The API's bodies use it.
	EncodingJSON = Style{plain: plainTable(true), namedBF: true}
	// Slog quotes as log/slog's JSON handler does: HTML characters as they
	// are, \n \r \t by name and every other control byte as \u00XX,
	// invalid UTF-8 as U+FFFD, U+2028 and U+2029 escaped. The access log
	// uses it.
	Slog = Style{plain: plainTable(false)}
)

const hexDigits = "0123456789abcdef"

// Append appends s to b, quoted in style st.
func Append(b []byte, s string, st Style) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if st.plain[c] {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c == '\t':
				b = append(b, '\\', 't')
			case c == '\b' && st.namedBF:
				b = append(b, '\\', 'b')
			case c == '\f' && st.namedBF:
				b = append(b, '\\', 'f')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
