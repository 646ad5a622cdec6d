package accounts_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/gopherops/gopherops/service/internal/accounts"
)

// searchWorld is the world with twelve users: root, second-admin and
// alice, then usr1 to usr9 (role user), created in that order. The emails of
// usr1 to usr9 run the other way (usr1's is m9@example.com, usr9's m1@...), usr8
// must change its password and usr9 is disabled. svc searches through spy.
type searchWorld struct {
	*world
	svc *accounts.Service
	spy *spyStore
	ids map[string]int64
}

func newSearchWorld(t *testing.T) *searchWorld {
	t.Helper()
	ctx := context.Background()
	w := newWorld(t)
	ids := map[string]int64{"root": w.root.ID, "second-admin": w.admin.ID, "alice": w.alice.ID}
	for i := 1; i <= 9; i++ {
		u, err := w.svc.CreateFromCLI(ctx, accounts.NewUser{Username: fmt.Sprintf("usr%d", i),
			Email: fmt.Sprintf("m%d@example.com", 10-i), Password: alicePW, Role: accounts.RoleUser})
		if err != nil {
			t.Fatal(err)
		}
		ids[u.Username] = u.ID
	}
	admin := accounts.Actor{User: w.admin}
	if _, _, err := w.svc.ResetPassword(ctx, admin, ids["usr8"], ""); err != nil {
		t.Fatal(err)
	}
	if _, err := w.svc.SetDisabled(ctx, admin, ids["usr9"], true); err != nil {
		t.Fatal(err)
	}
	svc, spy := w.spy(t)
	return &searchWorld{world: w, svc: svc, spy: spy, ids: ids}
}

// usernames are the names of users, in order.
func usernames(users []accounts.User) []string {
	out := make([]string, 0, len(users))
	for _, u := range users {
		out = append(out, u.Username)
	}
	return out
}

// us are the names usr<from> to usr<to>, counting either way.
func us(from, to int) []string {
	step := 1
	if from > to {
		step = -1
	}
	var out []string
	for i := from; ; i += step {
		out = append(out, fmt.Sprintf("usr%d", i))
		if i == to {
			return out
		}
	}
}

// byName is every user in username order.
var byName = append([]string{"alice", "root", "second-admin"}, us(1, 9)...)

// TestSearchUsersPages: a page holds 1 to 100 users (20 when no size is
// asked for), pages count from 1, a page past the last is the last, and
// each page says where it lies: the total, the number of pages (one even
// for nothing) and its offset.
func TestSearchUsersPages(t *testing.T) {
	w := newSearchWorld(t)
	nobody := accounts.UserQuery{Search: "nobody"}
	tests := []struct {
		name        string
		q           accounts.UserQuery
		invalid     string // the field refused, if any
		total       int64
		page, pages int
		offset      int
		users       []string
	}{
		{name: "no size asked for: 20", q: accounts.UserQuery{}, total: 12, page: 1, pages: 1, users: byName},
		{name: "one a page", q: accounts.UserQuery{Limit: 1}, total: 12, page: 1, pages: 12, users: byName[:1]},
		{name: "the largest page", q: accounts.UserQuery{Limit: accounts.MaxListLimit}, total: 12, page: 1, pages: 1, users: byName},
		{name: "a page one over the largest", q: accounts.UserQuery{Limit: accounts.MaxListLimit + 1}, invalid: "limit"},
		{name: "a negative page size", q: accounts.UserQuery{Limit: -1}, invalid: "limit"},
		{name: "as many as the total: one page", q: accounts.UserQuery{Limit: 12}, total: 12, page: 1, pages: 1, users: byName},
		{name: "one fewer than the total: two pages", q: accounts.UserQuery{Limit: 11}, total: 12, page: 1, pages: 2, users: byName[:11]},
		{name: "the last of two pages holds the one left", q: accounts.UserQuery{Limit: 11, Page: 2},
			total: 12, page: 2, pages: 2, offset: 11, users: []string{"usr9"}},
		{name: "page 0 is the first", q: accounts.UserQuery{Limit: 5, Page: 0}, total: 12, page: 1, pages: 3, users: byName[:5]},
		{name: "page 1", q: accounts.UserQuery{Limit: 5, Page: 1}, total: 12, page: 1, pages: 3, users: byName[:5]},
		{name: "page 2 starts after one page", q: accounts.UserQuery{Limit: 5, Page: 2},
			total: 12, page: 2, pages: 3, offset: 5, users: byName[5:10]},
		{name: "the last page holds the rest", q: accounts.UserQuery{Limit: 5, Page: 3},
			total: 12, page: 3, pages: 3, offset: 10, users: []string{"usr8", "usr9"}},
		{name: "a page past the last is the last", q: accounts.UserQuery{Limit: 5, Page: 4},
			total: 12, page: 3, pages: 3, offset: 10, users: []string{"usr8", "usr9"}},
		{name: "the largest page number is the last", q: accounts.UserQuery{Limit: 5, Page: accounts.MaxPage},
			total: 12, page: 3, pages: 3, offset: 10, users: []string{"usr8", "usr9"}},
		{name: "a page number over the largest", q: accounts.UserQuery{Limit: 5, Page: accounts.MaxPage + 1}, invalid: "page"},
		{name: "a negative page number", q: accounts.UserQuery{Page: -1}, invalid: "page"},
		{name: "one user: one page", q: accounts.UserQuery{Search: "usr1", Limit: 5}, total: 1, page: 1, pages: 1, users: []string{"usr1"}},
		{name: "nobody: one empty page", q: nobody, total: 0, page: 1, pages: 1},
		{name: "a later page of nobody is the one empty page", q: accounts.UserQuery{Search: "nobody", Limit: 5, Page: 3},
			total: 0, page: 1, pages: 1},
	}
	admin := accounts.Actor{User: w.admin}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			searches := w.spy.userSearches
			got, err := w.svc.SearchUsers(context.Background(), admin, tt.q)
			if tt.invalid != "" {
				var verr *accounts.ValidationError
				if !errors.As(err, &verr) || len(verr.Fields) != 1 || verr.Fields[tt.invalid] == "" {
					t.Fatalf("err = %v, want a problem with the %s only", err, tt.invalid)
				}
				if w.spy.userSearches != searches {
					t.Fatal("a refused query reached the store")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Total != tt.total || got.Page != tt.page || got.Pages != tt.pages || got.Offset != tt.offset {
				t.Fatalf("total %d, page %d of %d at offset %d; want total %d, page %d of %d at offset %d",
					got.Total, got.Page, got.Pages, got.Offset, tt.total, tt.page, tt.pages, tt.offset)
			}
			if g := usernames(got.Users); !slices.Equal(g, tt.users) {
				t.Fatalf("users %v, want %v", g, tt.users)
			}
			// Nobody to show is answered from the count alone.
			if want := searches + min(int(tt.total), 1); w.spy.userSearches != want {
				t.Fatalf("%d searches for a total of %d, want %d", w.spy.userSearches-searches, tt.total, want-searches)
			}
		})
	}
}

// TestSearchUsersFilters: the search is plain text of at most 254
// characters, matched in any case, without the blanks around it, in
// usernames and emails; the order is one of four (username when none is
// asked for), either way; the role and the state are known ones or any.
// Each refusal names its field.
func TestSearchUsersFilters(t *testing.T) {
	w := newSearchWorld(t)
	rev := func(s []string) []string { r := slices.Clone(s); slices.Reverse(r); return r }
	tests := []struct {
		name       string
		q          accounts.UserQuery
		field, msg string // refused with this field's message, or accepted
		users      []string
	}{
		{name: "everyone, by username", q: accounts.UserQuery{}, users: byName},
		{name: "by username, the other way", q: accounts.UserQuery{Sort: accounts.SortUsername, Desc: true}, users: rev(byName)},
		{name: "by email", q: accounts.UserQuery{Sort: accounts.SortEmail},
			users: append(append([]string{"alice"}, us(9, 1)...), "root", "second-admin")},
		{name: "by role", q: accounts.UserQuery{Sort: accounts.SortRole},
			users: append([]string{"root", "second-admin", "alice"}, us(1, 9)...)},
		{name: "by creation", q: accounts.UserQuery{Sort: accounts.SortCreated},
			users: append([]string{"root", "second-admin", "alice"}, us(1, 9)...)},
		{name: "an unknown order", q: accounts.UserQuery{Sort: "password"}, field: "sort", msg: "must be username, email, role or created"},
		{name: "a search in usernames, in another case and with blanks", q: accounts.UserQuery{Search: "  USR1\t"}, users: []string{"usr1"}},
		{name: "a search in emails", q: accounts.UserQuery{Search: "M9@"}, users: []string{"usr1"}},
		{name: "a search of 254 characters", q: accounts.UserQuery{Search: strings.Repeat("é", 254)}, users: nil},
		{name: "a search of 255 characters", q: accounts.UserQuery{Search: strings.Repeat("é", 255)},
			field: "q", msg: "must be at most 254 characters"},
		{name: "a NUL in the search", q: accounts.UserQuery{Search: "ali\x00ce"}, field: "q", msg: "must be plain text"},
		{name: "a search that is not UTF-8", q: accounts.UserQuery{Search: "ali\xffce"}, field: "q", msg: "must be plain text"},
		{name: "admins", q: accounts.UserQuery{Role: accounts.RoleAdmin}, users: []string{"root", "second-admin"}},
		{name: "users", q: accounts.UserQuery{Role: accounts.RoleUser}, users: append([]string{"alice"}, us(1, 9)...)},
		{name: "an unknown role", q: accounts.UserQuery{Role: "owner"}, field: "role", msg: "must be admin or user"},
		{name: "active", q: accounts.UserQuery{State: accounts.StateActive}, users: byName[:10]},
		{name: "must change the password", q: accounts.UserQuery{State: accounts.StateMustChange}, users: []string{"usr8"}},
		{name: "disabled", q: accounts.UserQuery{State: accounts.StateDisabled}, users: []string{"usr9"}},
		{name: "an unknown state", q: accounts.UserQuery{State: "locked"}, field: "state", msg: "must be active, must_change_password or disabled"},
	}
	admin := accounts.Actor{User: w.admin}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := w.svc.SearchUsers(context.Background(), admin, tt.q)
			if tt.field != "" {
				var verr *accounts.ValidationError
				if !errors.As(err, &verr) || len(verr.Fields) != 1 || verr.Fields[tt.field] != tt.msg {
					t.Fatalf("err = %v, want %s %q only", err, tt.field, tt.msg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if g := usernames(p.Users); !slices.Equal(g, tt.users) || p.Total != int64(len(tt.users)) {
				t.Fatalf("users %v of %d, want %v", g, p.Total, tt.users)
			}
		})
	}
	for _, k := range []accounts.SortKey{accounts.SortUsername, accounts.SortEmail, accounts.SortRole, accounts.SortCreated} {
		if !k.Valid() {
			t.Errorf("sort %q is not valid", k)
		}
	}
	for _, k := range []accounts.SortKey{"", "id", "USERNAME"} {
		if k.Valid() {
			t.Errorf("sort %q is valid", k)
		}
	}
	for _, s := range append(accounts.UserStates(), accounts.StateAny) {
		if !s.Valid() {
			t.Errorf("state %q is not valid", s)
		}
	}
	for _, s := range []accounts.UserState{"locked", "ACTIVE"} {
		if s.Valid() {
			t.Errorf("state %q is valid", s)
		}
	}
}

// TestPageOf: the page of a list that holds a user, for a list open where
// that user is; a user the filter leaves out, or none, is not found.
func TestPageOf(t *testing.T) {
	w := newSearchWorld(t)
	admin := accounts.Actor{User: w.admin}
	tests := []struct {
		name  string
		q     accounts.UserQuery
		user  string
		id    int64 // when user is ""
		page  int
		found bool
		field string // the query is refused for this field
	}{
		{name: "the first of the first page", q: accounts.UserQuery{Limit: 5}, user: "alice", page: 1, found: true},
		{name: "the last of the first page", q: accounts.UserQuery{Limit: 5}, user: "usr2", page: 1, found: true},
		{name: "the first of the second page", q: accounts.UserQuery{Limit: 5}, user: "usr3", page: 2, found: true},
		{name: "on the last page", q: accounts.UserQuery{Limit: 5}, user: "usr9", page: 3, found: true},
		{name: "the default size", q: accounts.UserQuery{}, user: "usr9", page: 1, found: true},
		{name: "the other way", q: accounts.UserQuery{Limit: 5, Desc: true}, user: "alice", page: 3, found: true},
		{name: "in a filtered list", q: accounts.UserQuery{Limit: 5, State: accounts.StateDisabled}, user: "usr9", page: 1, found: true},
		{name: "left out by the filter", q: accounts.UserQuery{Limit: 5, State: accounts.StateDisabled}, user: "alice"},
		{name: "a user that does not exist", q: accounts.UserQuery{Limit: 5}, id: 1 << 40},
		{name: "a refused query", q: accounts.UserQuery{Limit: accounts.MaxListLimit + 1}, user: "alice", field: "limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := tt.id
			if tt.user != "" {
				id = w.ids[tt.user]
			}
			page, found, err := w.svc.PageOf(context.Background(), admin, tt.q, id)
			if tt.field != "" {
				if field(err, tt.field) == "" || page != 0 || found {
					t.Fatalf("page %d, found %v, err %v; want a problem with the %s", page, found, err, tt.field)
				}
				return
			}
			if err != nil || page != tt.page || found != tt.found {
				t.Fatalf("page %d, found %v, err %v; want page %d, found %v", page, found, err, tt.page, tt.found)
			}
		})
	}
}

// TestUserSearchAccess: only an admin, signed in with the admin's power,
// searches the users; a store without the search answers
// ErrSearchUnsupported, before the query is checked.
func TestUserSearchAccess(t *testing.T) {
	w := newSearchWorld(t)
	plain := w.replica(t, func(o *accounts.Options) { o.Store = plainStore{o.Store} })
	bad := accounts.UserQuery{Limit: -1}
	tests := []struct {
		name string
		svc  *accounts.Service
		a    accounts.Actor
		q    accounts.UserQuery
		want error // nil: found
	}{
		{"root", w.svc, accounts.Actor{User: w.root}, accounts.UserQuery{}, nil},
		{"another admin", w.svc, accounts.Actor{User: w.admin}, accounts.UserQuery{}, nil},
		{"a user", w.svc, accounts.Actor{User: w.alice}, accounts.UserQuery{}, accounts.ErrForbidden},
		{"a user, with a query that is refused", w.svc, accounts.Actor{User: w.alice}, bad, accounts.ErrForbidden},
		{"an admin's token without the admin scope", w.svc,
			accounts.Actor{User: w.admin, Scopes: accounts.ScopeRead | accounts.ScopeWrite}, accounts.UserQuery{}, accounts.ErrScopeAdmin},
		{"a store without the search", plain, accounts.Actor{User: w.admin}, accounts.UserQuery{}, accounts.ErrSearchUnsupported},
		{"a store without the search, with a query that is refused", plain, accounts.Actor{User: w.admin}, bad, accounts.ErrSearchUnsupported},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			searches := w.spy.userSearches
			p, err := tt.svc.SearchUsers(ctx, tt.a, tt.q)
			page, found, pageErr := tt.svc.PageOf(ctx, tt.a, tt.q, w.alice.ID)
			if tt.want != nil {
				if !errors.Is(err, tt.want) || !errors.Is(pageErr, tt.want) {
					t.Fatalf("search: %v; page of: %v; want %v", err, pageErr, tt.want)
				}
				if p.Total != 0 || p.Users != nil || page != 0 || found || w.spy.userSearches != searches {
					t.Fatalf("a refused reader got %d users, or page %d, or reached the store", len(p.Users), page)
				}
				return
			}
			if err != nil || pageErr != nil {
				t.Fatalf("search: %v; page of: %v", err, pageErr)
			}
			if g := usernames(p.Users); !slices.Equal(g, byName) || p.Total != 12 || page != 1 || !found {
				t.Fatalf("found %v of %d, alice on page %d (%v); want everyone, alice on page 1", g, p.Total, page, found)
			}
		})
	}
}
