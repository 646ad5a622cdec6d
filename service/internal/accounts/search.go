package accounts

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// SortKey is a column the users list can be ordered by.
type SortKey string

// The sortable columns: the ones the users page shows.
const (
	SortUsername SortKey = "username"
	SortEmail    SortKey = "email"
	SortRole     SortKey = "role"
	SortCreated  SortKey = "created"
)

// Valid reports whether k is a known sort key.
func (k SortKey) Valid() bool {
	return k == SortUsername || k == SortEmail || k == SortRole || k == SortCreated
}

// MaxSearchLength bounds the search text: longer input cannot match an email.
const MaxSearchLength = 254

// UserQuery asks for one page of the users list: a case-insensitive search
// in usernames and emails, an order, and a cursor from a previous page.
type UserQuery struct {
	Search string
	Sort   SortKey
	Desc   bool
	Cursor string
	Limit  int
}

// UserPage is one page of a UserQuery with the cursors of its neighbours
// ("" where there is none) and how many users match in all.
type UserPage struct {
	Users []User
	Next  string
	Prev  string
	Total int64
}

// Keyset is a position in an ordered list of users: the sort column's value
// of one row (text, or a time for SortCreated) and its ID, the tie-breaker.
type Keyset struct {
	Text string
	Time time.Time
	ID   int64
}

// UserSearch is what a store needs to fetch one page: rows after (or, with
// Backward, before) Keyset in the given order, at most Limit of them. With
// Backward the store returns them nearest-first; the service reverses them.
type UserSearch struct {
	Contains string
	Sort     SortKey
	Desc     bool
	After    *Keyset
	Backward bool
	Limit    int
}

// UserSearcher is the store capability behind SearchUsers. It is separate
// from Store so that stores without it still serve every other use case.
type UserSearcher interface {
	SearchUsers(ctx context.Context, q UserSearch) ([]User, error)
	CountUsersMatching(ctx context.Context, contains string) (int64, error)
}

// ErrSearchUnsupported says the configured store cannot search users.
var ErrSearchUnsupported = errors.New("accounts: the store cannot search users")

// cursor is the opaque position a page link carries. It names the order it
// belongs to, so a cursor of one order is never applied to another.
type cursor struct {
	Sort SortKey `json:"s"`
	Desc bool    `json:"d,omitempty"`
	Back bool    `json:"b,omitempty"`
	Text string  `json:"t,omitempty"`
	Time int64   `json:"m,omitempty"` // Unix microseconds, PostgreSQL's precision
	ID   int64   `json:"i"`
}

func encodeCursor(c cursor) string {
	raw, _ := json.Marshal(c) // a struct of strings and numbers always marshals
	return base64.RawURLEncoding.EncodeToString(raw)
}

// maxCursorLength bounds what is decoded: a cursor holds at most one email.
const maxCursorLength = 512

func decodeCursor(s string) (cursor, bool) {
	var c cursor
	if len(s) > maxCursorLength {
		return c, false
	}
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || json.Unmarshal(raw, &c) != nil || c.ID <= 0 || !c.Sort.Valid() ||
		!utf8.ValidString(c.Text) || strings.ContainsRune(c.Text, 0) || len(c.Text) > MaxSearchLength {
		return cursor{}, false
	}
	return c, true
}

func keysetOf(u User, k SortKey) Keyset {
	switch k {
	case SortUsername:
		return Keyset{Text: strings.ToLower(u.Username), ID: u.ID}
	case SortEmail:
		return Keyset{Text: u.Email, ID: u.ID}
	case SortRole:
		return Keyset{Text: string(u.Role), ID: u.ID}
	default:
		return Keyset{Time: u.CreatedAt, ID: u.ID}
	}
}

func cursorAt(u User, q UserQuery, back bool) string {
	ks := keysetOf(u, q.Sort)
	c := cursor{Sort: q.Sort, Desc: q.Desc, Back: back, Text: ks.Text, ID: ks.ID}
	if q.Sort == SortCreated {
		c.Time = ks.Time.UnixMicro()
	}
	return encodeCursor(c)
}

// SearchUsers returns one page of users matching q, in q's order, with
// cursors to the pages before and after it; only admins may.
func (s *Service) SearchUsers(ctx context.Context, a Actor, q UserQuery) (UserPage, error) {
	if err := requireAdmin(a); err != nil {
		return UserPage{}, err
	}
	searcher, ok := s.store.(UserSearcher)
	if !ok {
		return UserPage{}, ErrSearchUnsupported
	}
	v := &ValidationError{}
	q.Search = strings.TrimSpace(q.Search)
	switch {
	case !utf8.ValidString(q.Search) || strings.ContainsRune(q.Search, 0):
		v.add("q", "must be plain text")
	case utf8.RuneCountInString(q.Search) > MaxSearchLength:
		v.add("q", "must be at most 254 characters")
	}
	if q.Sort == "" {
		q.Sort = SortUsername
	}
	if !q.Sort.Valid() {
		v.add("sort", "must be username, email, role or created")
	}
	if q.Limit == 0 {
		q.Limit = DefaultListLimit
	}
	if q.Limit < 1 || q.Limit > MaxListLimit {
		v.add("limit", "must be between 1 and 100")
	}
	search := UserSearch{Contains: strings.ToLower(q.Search), Sort: q.Sort, Desc: q.Desc, Limit: q.Limit + 1}
	if q.Cursor != "" {
		c, ok := decodeCursor(q.Cursor)
		if !ok || c.Sort != q.Sort || c.Desc != q.Desc {
			v.add("cursor", "is not a cursor of this list; start again from the first page")
		} else {
			search.After = &Keyset{Text: c.Text, ID: c.ID}
			if c.Sort == SortCreated {
				search.After = &Keyset{Time: time.UnixMicro(c.Time).UTC(), ID: c.ID}
			}
			search.Backward = c.Back
		}
	}
	if err := v.orNil(); err != nil {
		return UserPage{}, err
	}
	users, err := searcher.SearchUsers(ctx, search)
	if err != nil {
		return UserPage{}, err
	}
	more := len(users) > q.Limit
	if more {
		users = users[:q.Limit]
	}
	if search.Backward {
		slices.Reverse(users)
	}
	p := UserPage{Users: users}
	if len(users) > 0 {
		first, last := users[0], users[len(users)-1]
		// Going forward, a cursor means rows lie behind; going backward, rows lie ahead.
		if (search.Backward && more) || (!search.Backward && search.After != nil) {
			p.Prev = cursorAt(first, q, true)
		}
		if (!search.Backward && more) || search.Backward {
			p.Next = cursorAt(last, q, false)
		}
	}
	if p.Total, err = searcher.CountUsersMatching(ctx, search.Contains); err != nil {
		return UserPage{}, err
	}
	return p, nil
}
