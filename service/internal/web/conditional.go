package web

import (
	"context"
	"errors"
	"strconv"
	"strings"

	"github.com/gopherops/gopherops/service/internal/accounts"
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
// comparison RFC 9110 requires for If-Match: a weak tag never matches.
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

// single returns the version named by a list of exactly one strong tag, the
// common case, which needs no lookup; ok is false otherwise. A tag that is
// not a version this server could have issued names version 0, which
// matches nothing.
func (m IfMatch) single() (version int, ok bool) {
	if m.any || len(m.tags) != 1 {
		return 0, false
	}
	t := m.tags[0]
	if t.weak {
		return 0, true
	}
	v, err := strconv.ParseInt(t.opaque, 10, 32)
	if err != nil || v <= 0 || strconv.FormatInt(v, 10) != t.opaque {
		// Not a tag this server issued ("01", "+1" are not "1": entity-tags
		// compare character by character).
		return 0, true
	}
	return int(v), true
}

// VersionFor resolves an If-Match to the version a write must find: the one
// tag's version, or, for "*" and lists, the user's current version when it
// matches. Version 0 never matches, so the write answers 412. The domain
// compares again inside its transaction, so a change between this lookup
// and the write is still caught.
func VersionFor(ctx context.Context, m IfMatch, current func(context.Context) (accounts.User, error)) (int, error) {
	if v, ok := m.single(); ok {
		return v, nil
	}
	u, err := current(ctx)
	if err != nil {
		return 0, err
	}
	if m.Matches(u.Version) {
		return u.Version, nil
	}
	return 0, nil
}
