package web

import (
	"errors"
	"strconv"
	"strings"
)

// entityTag is one entity-tag of a conditional header (RFC 9110 §8.8.3).
type entityTag struct {
	weak   bool
	opaque string
}

// IfMatch is a parsed If-Match: "*" or a list of entity-tags.
type IfMatch struct {
	any  bool
	tags []entityTag
}

var errMalformedTag = errors.New("malformed entity-tag")

// ParseIfMatch reads If-Match = "*" / #entity-tag, where
// entity-tag = [ "W/" ] DQUOTE *etagc DQUOTE. Its cost is linear in the
// header, which the server caps.
func ParseIfMatch(h string) (IfMatch, error) {
	h = strings.Trim(h, " \t")
	if h == "*" {
		return IfMatch{any: true}, nil
	}
	var m IfMatch
	i := 0
	for {
		for i < len(h) && (h[i] == ' ' || h[i] == '\t' || h[i] == ',') {
			i++
		}
		if i == len(h) {
			break
		}
		var t entityTag
		if strings.HasPrefix(h[i:], "W/") {
			t.weak = true
			i += 2
		}
		if i >= len(h) || h[i] != '"' {
			return IfMatch{}, errMalformedTag
		}
		end := i + 1
		for end < len(h) && h[end] != '"' {
			if b := h[end]; b < 0x21 || b == 0x7f {
				return IfMatch{}, errMalformedTag
			}
			end++
		}
		if end == len(h) {
			return IfMatch{}, errMalformedTag
		}
		t.opaque = h[i+1 : end]
		m.tags = append(m.tags, t)
		i = end + 1
		for i < len(h) && (h[i] == ' ' || h[i] == '\t') {
			i++
		}
		if i < len(h) && h[i] != ',' {
			return IfMatch{}, errMalformedTag
		}
	}
	if len(m.tags) == 0 {
		return IfMatch{}, errMalformedTag
	}
	return m, nil
}

// Matches reports whether version's ETag is in the list under the strong
// comparison RFC 9110 requires for If-Match: a weak tag never matches. It is
// the accounts.Precondition of a write, checked inside the write's
// transaction with the row locked, so "*" matches whatever version a
// concurrent writer left.
func (m IfMatch) Matches(version int) bool {
	if m.any {
		return true
	}
	want := strconv.Itoa(version)
	for _, t := range m.tags {
		if !t.weak && t.opaque == want {
			return true
		}
	}
	return false
}
