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

// newSearchWorld is the world with 22 more users, user-01 to user-22, made
// in that order, 25 in all. Their emails sort the other way round (user-01
// is m-22@example.com, user-22 is m-01@example.com); user-01 to user-03
// must change their password and user-22 is disabled. It returns the
// usernames in username order.
func newSearchWorld(t *testing.T) (*world, []string) {
	t.Helper()
	ctx := context.Background()
	w := newWorld(t)
	names := []string{"alice", "root", "second-admin"}
	for n := 1; n <= 22; n++ {
		name := fmt.Sprintf("user-%02d", n)
		u, err := w.base.Store.CreateUser(ctx, accounts.NewUserRecord{Username: name,
			Email: fmt.Sprintf("m-%02d@example.com", 23-n), PasswordHash: "$argon2id$seeded", Role: accounts.RoleUser,
			ForcePasswordChange: n <= 3})
		if err != nil {
			t.Fatal(err)
		}
		if n == 22 {
			if _, err := w.svc.SetDisabled(ctx, accounts.Actor{User: w.root}, u.ID, true); err != nil {
				t.Fatal(err)
			}
		}
		names = append(names, name)
	}
	return w, names
}

func usernames(users []accounts.User) []string {
	out := make([]string, 0, len(users))
	for _, u := range users {
		out = append(out, u.Username)
	}
	return out
}

func TestSortKeyAndStateValid(t *testing.T) {
	for _, k := range []accounts.SortKey{accounts.SortUsername, accounts.SortEmail, accounts.SortRole, accounts.SortCreated} {
		if !k.Valid() {
			t.Errorf("sort key %q is refused", k)
		}
	}
	for _, k := range []accounts.SortKey{"", "Username", "password_hash", "id", "username "} {
		if k.Valid() {
			t.Errorf("sort key %q is accepted", k)
		}
	}
	if got := accounts.UserStates(); !slices.Equal(got, []accounts.UserState{accounts.StateActive, accounts.StateMustChange, accounts.StateDisabled}) {
		t.Errorf("UserStates() = %v", got)
	}
	for _, s := range append(accounts.UserStates(), accounts.StateAny) {
		if !s.Valid() {
			t.Errorf("state %q is refused", s)
		}
	}
	for _, s := range []accounts.UserState{"asleep", "Active", "enabled", " disabled"} {
		if s.Valid() {
			t.Errorf("state %q is accepted", s)
		}
	}
}

// TestSearchUsers: each page holds the users the whole list has at its
// offset, in the order asked (username by default), 20 a page unless asked
// otherwise; a page past the last is the last, and an empty result is one
// empty page.
func TestSearchUsers(t *testing.T) {
	w, names := newSearchWorld(t)
	ctx := context.Background()
	byEmail := []string{"alice"}
	for n := 22; n >= 1; n-- {
		byEmail = append(byEmail, fmt.Sprintf("user-%02d", n))
	}
	byEmail = append(byEmail, "root", "second-admin")
	// Each user in its order, newest first.
	byCreatedDesc := slices.Clone(names[3:])
	slices.Reverse(byCreatedDesc)
	byCreatedDesc = append(byCreatedDesc, "alice", "second-admin", "root")
	tests := []struct {
		name                string
		q                   accounts.UserQuery
		page, pages, offset int
		total               int64
		want                []string
	}{
		{"the defaults: by username, 20 a page, the first", accounts.UserQuery{}, 1, 2, 0, 25, names[:20]},
		{"page 0 is the first", accounts.UserQuery{Page: 0, Limit: 5}, 1, 5, 0, 25, names[:5]},
		{"the second page of the default size", accounts.UserQuery{Page: 2}, 2, 2, 20, 25, names[20:]},
		{"a middle page", accounts.UserQuery{Page: 3, Limit: 5}, 3, 5, 10, 25, names[10:15]},
		{"pages of 4: the last holds one", accounts.UserQuery{Page: 7, Limit: 4}, 7, 7, 24, 25, names[24:]},
		{"a page size of 1", accounts.UserQuery{Limit: 1}, 1, 25, 0, 25, names[:1]},
		{"a page size of 1, the last page", accounts.UserQuery{Page: 25, Limit: 1}, 25, 25, 24, 25, names[24:]},
		{"a page as large as the list", accounts.UserQuery{Limit: 25}, 1, 1, 0, 25, names},
		{"a page one larger than the list", accounts.UserQuery{Limit: 26}, 1, 1, 0, 25, names},
		{"the largest page size", accounts.UserQuery{Limit: accounts.MaxListLimit}, 1, 1, 0, 25, names},
		{"a page past the last is the last", accounts.UserQuery{Page: 6, Limit: 5}, 5, 5, 20, 25, names[20:]},
		{"the highest page number is the last", accounts.UserQuery{Page: accounts.MaxPage}, 2, 2, 20, 25, names[20:]},
		{"descending", accounts.UserQuery{Desc: true, Limit: 3}, 1, 9, 0, 25, []string{"user-22", "user-21", "user-20"}},
		{"by email", accounts.UserQuery{Sort: accounts.SortEmail, Limit: 100}, 1, 1, 0, 25, byEmail},
		{"by role: admins first, then by name", accounts.UserQuery{Sort: accounts.SortRole, Limit: 4}, 1, 7, 0, 25,
			[]string{"root", "second-admin", "alice", "user-01"}},
		{"newest first", accounts.UserQuery{Sort: accounts.SortCreated, Desc: true, Limit: 100}, 1, 1, 0, 25, byCreatedDesc},
		{"the search is trimmed and in any case", accounts.UserQuery{Search: "  USER-1 "}, 1, 1, 0, 10,
			[]string{"user-10", "user-11", "user-12", "user-13", "user-14", "user-15", "user-16", "user-17", "user-18", "user-19"}},
		{"the search looks in emails", accounts.UserQuery{Search: "M-2"}, 1, 1, 0, 3, []string{"user-01", "user-02", "user-03"}},
		{"a search of 254 characters", accounts.UserQuery{Search: " " + strings.Repeat("é", accounts.MaxSearchLength) + " "}, 1, 1, 0, 0, nil},
		{"nothing matches: one empty page", accounts.UserQuery{Search: "nobody", Page: 3}, 1, 1, 0, 0, nil},
		{"admins", accounts.UserQuery{Role: accounts.RoleAdmin}, 1, 1, 0, 2, []string{"root", "second-admin"}},
		{"users who must change their password", accounts.UserQuery{State: accounts.StateMustChange}, 1, 1, 0, 3,
			[]string{"user-01", "user-02", "user-03"}},
		{"disabled users", accounts.UserQuery{State: accounts.StateDisabled}, 1, 1, 0, 1, []string{"user-22"}},
		{"active users, second page of 20", accounts.UserQuery{State: accounts.StateActive, Page: 2}, 2, 2, 20, 21, []string{"user-21"}},
		{"every filter at once", accounts.UserQuery{Search: "user-0", Role: accounts.RoleUser, State: accounts.StateActive,
			Sort: accounts.SortEmail, Desc: true, Limit: 2, Page: 3}, 3, 3, 4, 6, []string{"user-08", "user-09"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := w.svc.SearchUsers(ctx, accounts.Actor{User: w.admin}, tt.q)
			if err != nil {
				t.Fatal(err)
			}
			if p.Page != tt.page || p.Pages != tt.pages || p.Offset != tt.offset || p.Total != tt.total {
				t.Fatalf("page %d of %d at %d, %d in all; want page %d of %d at %d, %d in all",
					p.Page, p.Pages, p.Offset, p.Total, tt.page, tt.pages, tt.offset, tt.total)
			}
			if got := usernames(p.Users); !slices.Equal(got, tt.want) {
				t.Fatalf("users %v, want %v", got, tt.want)
			}
		})
	}
}

// TestSearchUsersRefuses: each bad query is a validation error naming its
// field, at and beside every bound; the query beside a refused one passes.
func TestSearchUsersRefuses(t *testing.T) {
	w, _ := newSearchWorld(t)
	ctx := context.Background()
	const (
		plain = "must be plain text"
		long  = "must be at most 254 characters"
		sort  = "must be username, email, role or created"
		role  = "must be admin or user"
		state = "must be active, must_change_password or disabled"
		limit = "must be between 1 and 100"
		page  = "must be a page number from 1"
	)
	tests := []struct {
		name  string
		q     accounts.UserQuery
		field string // "" when the query is accepted
		msg   string
	}{
		{"NUL in the search", accounts.UserQuery{Search: "user\x00"}, "q", plain},
		{"bytes that are not UTF-8", accounts.UserQuery{Search: "user\xff"}, "q", plain},
		{"a search of 255 characters", accounts.UserQuery{Search: strings.Repeat("é", accounts.MaxSearchLength+1)}, "q", long},
		{"a search of 254 characters", accounts.UserQuery{Search: strings.Repeat("é", accounts.MaxSearchLength)}, "", ""},
		{"an unknown sort key", accounts.UserQuery{Sort: "password_hash"}, "sort", sort},
		{"a sort key in another case", accounts.UserQuery{Sort: "Email"}, "sort", sort},
		{"an unknown role", accounts.UserQuery{Role: "root"}, "role", role},
		{"a known role", accounts.UserQuery{Role: accounts.RoleUser}, "", ""},
		{"an unknown state", accounts.UserQuery{State: "asleep"}, "state", state},
		{"a page size of -1", accounts.UserQuery{Limit: -1}, "limit", limit},
		{"a page size of 1", accounts.UserQuery{Limit: 1}, "", ""},
		{"a page size of 100", accounts.UserQuery{Limit: accounts.MaxListLimit}, "", ""},
		{"a page size of 101", accounts.UserQuery{Limit: accounts.MaxListLimit + 1}, "limit", limit},
		{"page -1", accounts.UserQuery{Page: -1}, "page", page},
		{"page 1", accounts.UserQuery{Page: 1}, "", ""},
		{"the highest page", accounts.UserQuery{Page: accounts.MaxPage}, "", ""},
		{"one past the highest page", accounts.UserQuery{Page: accounts.MaxPage + 1}, "page", page},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := w.svc.SearchUsers(ctx, accounts.Actor{User: w.admin}, tt.q)
			_, _, perr := w.svc.PageOf(ctx, accounts.Actor{User: w.admin}, tt.q, w.alice.ID)
			if tt.field == "" {
				if err != nil || perr != nil {
					t.Fatalf("refused: %v / PageOf: %v", err, perr)
				}
				if p.Pages < 1 || p.Page < 1 {
					t.Fatalf("an accepted query answered %+v", p)
				}
				return
			}
			var verr *accounts.ValidationError
			if !errors.As(err, &verr) || len(verr.Fields) != 1 || verr.Fields[tt.field] != tt.msg {
				t.Fatalf("err = %v, want only %s %q", err, tt.field, tt.msg)
			}
			if p.Users != nil || p.Total != 0 || p.Pages != 0 {
				t.Fatalf("a refused query answered %+v", p)
			}
			if got := field(perr, tt.field); got != tt.msg {
				t.Fatalf("PageOf: %v, want %s %q", perr, tt.field, tt.msg)
			}
		})
	}
}

// TestPageOf: the page PageOf names is the one SearchUsers lists the user
// on, for every user and page size, the default size among them.
func TestPageOf(t *testing.T) {
	w, names := newSearchWorld(t)
	ctx := context.Background()
	admin := accounts.Actor{User: w.admin}
	for _, limit := range []int{0, 1, 4, 5, 20, accounts.MaxListLimit} {
		for _, desc := range []bool{false, true} {
			t.Run(fmt.Sprintf("limit %d desc %v", limit, desc), func(t *testing.T) {
				q := accounts.UserQuery{Limit: limit, Desc: desc}
				size := limit
				if size == 0 {
					size = accounts.DefaultListLimit
				}
				for rank := range names {
					name := names[rank]
					if desc {
						name = names[len(names)-1-rank]
					}
					u, err := w.base.Store.CredentialByLogin(ctx, name)
					if err != nil {
						t.Fatal(err)
					}
					page, found, err := w.svc.PageOf(ctx, admin, q, u.ID)
					if err != nil || !found || page != rank/size+1 {
						t.Fatalf("PageOf(%s) = %d, %v, %v; it is number %d, on page %d", name, page, found, err, rank+1, rank/size+1)
					}
					q.Page = page
					p, err := w.svc.SearchUsers(ctx, admin, q)
					if err != nil || !slices.Contains(usernames(p.Users), name) {
						t.Fatalf("page %d lists %v (%v), not %s", page, usernames(p.Users), err, name)
					}
					q.Page = 0
				}
			})
		}
	}
	t.Run("a user the filter leaves out is on no page", func(t *testing.T) {
		for _, q := range []accounts.UserQuery{{Role: accounts.RoleAdmin}, {Search: "user-"}, {State: accounts.StateDisabled}} {
			page, found, err := w.svc.PageOf(ctx, admin, q, w.alice.ID)
			if err != nil || found || page != 0 {
				t.Fatalf("%+v: PageOf(alice) = %d, %v, %v; want 0, false, nil", q, page, found, err)
			}
		}
		if page, found, err := w.svc.PageOf(ctx, admin, accounts.UserQuery{}, 1<<40); err != nil || found || page != 0 {
			t.Fatalf("PageOf(a user who does not exist) = %d, %v, %v", page, found, err)
		}
	})
	t.Run("in a filtered list", func(t *testing.T) {
		// Active users by email: alice, user-21 ... user-04, root, second-admin.
		page, found, err := w.svc.PageOf(ctx, admin, accounts.UserQuery{State: accounts.StateActive, Sort: accounts.SortEmail, Limit: 2}, w.root.ID)
		if err != nil || !found || page != 10 {
			t.Fatalf("PageOf(root) = %d, %v, %v; want page 10", page, found, err)
		}
	})
}

// TestSearchNeedsAnAdminAndASearchingStore: only an admin, through a
// sign-in with the admin scope, may search or locate users, and a store
// that cannot search says so.
func TestSearchNeedsAnAdminAndASearchingStore(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	plain := w.replica(t, func(o *accounts.Options) { o.Store = plainStore{o.Store} })
	tests := []struct {
		name  string
		svc   *accounts.Service
		actor accounts.Actor
		want  error
	}{
		{"a user", w.svc, accounts.Actor{User: w.alice}, accounts.ErrForbidden},
		{"a user with every scope", w.svc, accounts.Actor{User: w.alice, Scopes: accounts.ScopesAll}, accounts.ErrForbidden},
		{"an admin's token without the admin scope", w.svc, accounts.Actor{User: w.admin, Scopes: accounts.ScopeRead | accounts.ScopeWrite}, accounts.ErrScopeAdmin},
		{"a store that cannot search", plain, accounts.Actor{User: w.admin}, accounts.ErrSearchUnsupported},
		{"an admin", w.svc, accounts.Actor{User: w.admin}, nil},
		{"an admin's token with the admin scope", w.svc, accounts.Actor{User: w.admin, Scopes: accounts.ScopeRead | accounts.ScopeAdmin}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := tt.svc.SearchUsers(ctx, tt.actor, accounts.UserQuery{Search: "alice"})
			page, found, perr := tt.svc.PageOf(ctx, tt.actor, accounts.UserQuery{}, w.alice.ID)
			if tt.want != nil {
				if !errors.Is(err, tt.want) || !errors.Is(perr, tt.want) {
					t.Fatalf("SearchUsers: %v, PageOf: %v; want %v", err, perr, tt.want)
				}
				if p.Users != nil || p.Total != 0 || page != 0 || found {
					t.Fatalf("a refused search answered %+v, page %d found %v", p, page, found)
				}
				return
			}
			if err != nil || perr != nil {
				t.Fatalf("SearchUsers: %v, PageOf: %v", err, perr)
			}
			if !slices.Equal(usernames(p.Users), []string{"alice"}) || p.Total != 1 || page != 1 || !found {
				t.Fatalf("found %v (%d), alice on page %d (%v)", usernames(p.Users), p.Total, page, found)
			}
		})
	}
}
