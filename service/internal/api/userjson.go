package api

import (
	"net/http"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"
)

// appendJSON appends r as encoding/json would marshal it, byte for byte
// (FuzzUserJSON proves it), without reflection: the user is the body of the
// API's hottest route.
func (r userResponse) appendJSON(b []byte) []byte {
	b = append(b, `{"id":`...)
	b = strconv.AppendInt(b, r.ID, 10)
	b = append(b, `,"username":`...)
	b = appendJSONString(b, r.Username)
	b = append(b, `,"email":`...)
	b = appendJSONString(b, r.Email)
	b = append(b, `,"role":`...)
	b = appendJSONString(b, r.Role)
	b = append(b, `,"is_root":`...)
	b = strconv.AppendBool(b, r.IsRoot)
	b = append(b, `,"force_password_change":`...)
	b = strconv.AppendBool(b, r.ForcePasswordChange)
	b = append(b, `,"avatar_url":`...)
	if r.AvatarURL == nil {
		b = append(b, "null"...)
	} else {
		b = appendJSONString(b, *r.AvatarURL)
	}
	b = append(b, `,"version":`...)
	b = strconv.AppendInt(b, int64(r.Version), 10)
	b = append(b, `,"created_at":`...)
	b = appendJSONTime(b, r.CreatedAt)
	b = append(b, `,"updated_at":`...)
	b = appendJSONTime(b, r.UpdatedAt)
	b = append(b, `,"last_login_at":`...)
	b = appendJSONTimePtr(b, r.LastLoginAt)
	b = append(b, `,"disabled":`...)
	b = strconv.AppendBool(b, r.Disabled)
	b = append(b, `,"disabled_at":`...)
	b = appendJSONTimePtr(b, r.DisabledAt)
	return append(b, '}')
}

// appendJSONTime is time.Time's MarshalJSON (RFC 3339 with nanoseconds).
func appendJSONTime(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}

// appendJSONTimePtr is a *time.Time as encoding/json writes it: null or the time.
func appendJSONTimePtr(b []byte, t *time.Time) []byte {
	if t == nil {
		return append(b, "null"...)
	}
	return appendJSONTime(b, *t)
}

const hexDigits = "0123456789abcdef"

// appendJSONString quotes s as encoding/json does by default: HTML-safe
// (<, >, & escaped), invalid UTF-8 as U+FFFD, U+2028 and U+2029 escaped.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// jsonBuffers recycles the buffers user bodies are built in.
var jsonBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// writeAppended writes v's JSON as the response body with status.
func writeAppended(w http.ResponseWriter, status int, v jsonAppender) {
	bp := jsonBuffers.Get().(*[]byte)
	b := v.appendJSON((*bp)[:0])
	h := w.Header()
	h["Content-Type"] = jsonContentType
	h["Content-Length"] = []string{strconv.Itoa(len(b))}
	w.WriteHeader(status)
	_, _ = w.Write(b)
	*bp = b
	jsonBuffers.Put(bp)
}

var jsonContentType = []string{"application/json; charset=utf-8"}
