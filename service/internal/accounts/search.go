package accounts

import (
	"context"
	"errors"
	"strings"
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

// UserState narrows the users list to accounts in one state.
type UserState string

// The states the users list can be filtered by; "" is any.
const (
	StateAny UserState = ""
	// StateActive: can sign in and needs nothing.
	StateActive UserState = "active"
	// StateMustChange: enabled, and must choose a new password at the next sign-in.
	StateMustChange UserState = "must_change_password"
	// StateDisabled: disabled by an admin; cannot sign in.
	StateDisabled UserState = "disabled"
)

// UserStates lists the states a filter offers, in order.
func UserStates() []UserState { return []UserState{StateActive, StateMustChange, StateDisabled} }

// Valid reports whether s is a known state or any.
func (s UserState) Valid() bool {
	return s == StateAny || s == StateActive || s == StateMustChange || s == StateDisabled
}

// MaxSearchLength bounds the search text: longer input cannot match an email.
const MaxSearchLength = 254

// UserFilter is which users a list shows: a case-insensitive search in
// usernames and emails, a role and a state ("" for any).
type UserFilter struct {
	Contains string // lower-cased
	Role     Role
	State    UserState
}

// UserQuery asks for one numbered page of the users list.
type UserQuery struct {
	Search string
	Role   Role
	State  UserState
	Sort   SortKey
	Desc   bool
	Page   int // from 1; 0 is the first
	Limit  int
}

// UserPage is one page of a UserQuery: its users, how many match in all,
// and where it lies (Offset users come before it, Pages pages in all).
type UserPage struct {
	Users  []User
	Total  int64
	Page   int
	Pages  int
	Offset int
}

// UserSearch is what a store needs to fetch one page: the filter, the
// order (usernames and emails in natural order, the ID breaking ties) and
// the window.
type UserSearch struct {
	Filter UserFilter
	Sort   SortKey
	Desc   bool
	Offset int
	Limit  int
}

// UserSearcher is the store capability behind SearchUsers. It is separate
// from Store so that stores without it still serve every other use case.
type UserSearcher interface {
	SearchUsers(ctx context.Context, q UserSearch) ([]User, error)
	CountUsersMatching(ctx context.Context, f UserFilter) (int64, error)
	// UserRank is how many users matching q.Filter come before user id in
	// q's order; found is false when id does not match the filter.
	UserRank(ctx context.Context, q UserSearch, id int64) (rank int64, found bool, err error)
}

// ErrSearchUnsupported says the configured store cannot search users.
var ErrSearchUnsupported = errors.New("accounts: the store cannot search users")

// MaxPage bounds a page number: past it, OFFSET would scan for nothing.
const MaxPage = 1_000_000

// checkQuery validates q and turns it into a store search (without its
// window), defaulting the order and the page size.
func checkQuery(q *UserQuery) (UserSearch, error) {
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
	if q.Role != "" && !q.Role.Valid() {
		v.add("role", "must be admin or user")
	}
	if !q.State.Valid() {
		v.add("state", "must be active, must_change_password or disabled")
	}
	if q.Limit == 0 {
		q.Limit = DefaultListLimit
	}
	if q.Limit < 1 || q.Limit > MaxListLimit {
		v.add("limit", "must be between 1 and 100")
	}
	if q.Page == 0 {
		q.Page = 1
	}
	if q.Page < 1 || q.Page > MaxPage {
		v.add("page", "must be a page number from 1")
	}
	if err := v.orNil(); err != nil {
		return UserSearch{}, err
	}
	return UserSearch{Filter: UserFilter{Contains: strings.ToLower(q.Search), Role: q.Role, State: q.State},
		Sort: q.Sort, Desc: q.Desc, Limit: q.Limit}, nil
}

// SearchUsers returns one page of the users matching q, in q's order; a
// page past the last is the last. Only admins may.
func (s *Service) SearchUsers(ctx context.Context, a Actor, q UserQuery) (UserPage, error) {
	if err := requireAdmin(a); err != nil {
		return UserPage{}, err
	}
	searcher, ok := s.store.(UserSearcher)
	if !ok {
		return UserPage{}, ErrSearchUnsupported
	}
	search, err := checkQuery(&q)
	if err != nil {
		return UserPage{}, err
	}
	total, err := searcher.CountUsersMatching(ctx, search.Filter)
	if err != nil {
		return UserPage{}, err
	}
	p := UserPage{Total: total, Pages: max(int((total+int64(q.Limit)-1)/int64(q.Limit)), 1)}
	p.Page = min(q.Page, p.Pages)
	p.Offset = (p.Page - 1) * q.Limit
	search.Offset = p.Offset
	if total == 0 {
		return p, nil
	}
	if p.Users, err = searcher.SearchUsers(ctx, search); err != nil {
		return UserPage{}, err
	}
	return p, nil
}

// PageOf returns the page of q's list that holds user id, so a list can
// open where a user just created or changed is; found is false when the
// user does not match q's filter. Only admins may.
func (s *Service) PageOf(ctx context.Context, a Actor, q UserQuery, id int64) (page int, found bool, err error) {
	if err := requireAdmin(a); err != nil {
		return 0, false, err
	}
	searcher, ok := s.store.(UserSearcher)
	if !ok {
		return 0, false, ErrSearchUnsupported
	}
	search, err := checkQuery(&q)
	if err != nil {
		return 0, false, err
	}
	rank, found, err := searcher.UserRank(ctx, search, id)
	if err != nil || !found {
		return 0, false, err
	}
	return int(rank/int64(q.Limit)) + 1, true, nil
}
