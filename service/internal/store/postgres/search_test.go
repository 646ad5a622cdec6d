package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/gopherops/gopherops/service/internal/accounts"
	"github.com/gopherops/gopherops/service/internal/blob"
	"github.com/gopherops/gopherops/service/internal/password"
)

func searchService(t *testing.T) (*accounts.Service, accounts.Actor) {
	t.Helper()
	st, _ := newStore(t)
	blobs, err := blob.NewFileStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	svc, err := accounts.NewService(accounts.Options{Store: st, Hasher: password.NewHasher(password.FastParams), Blobs: blobs})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	root, err := st.CreateFirstAdmin(ctx, rec("root"))
	if err != nil {
		t.Fatal(err)
	}
	for i, name := range []string{"Zed", "amy", "Bob", "carl", "dora", "Eve", "frank", "gina"} {
		r := rec(name)
		r.Email = fmt.Sprintf("%s.%d@%s.example.com", strings.ToLower(name), i, []string{"north", "south"}[i%2])
		if i%3 == 0 {
			r.Role = accounts.RoleAdmin
		}
		if _, err := st.CreateUser(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	return svc, accounts.Actor{User: root}
}

func ids(users []accounts.User) []int64 {
	out := make([]int64, len(users))
	for i, u := range users {
		out[i] = u.ID
	}
	return out
}

func TestSearchUsersPagesBothWays(t *testing.T) {
	svc, admin := searchService(t)
	ctx := context.Background()
	for _, sort := range []accounts.SortKey{accounts.SortUsername, accounts.SortEmail, accounts.SortRole, accounts.SortCreated} {
		for _, desc := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s desc=%v", sort, desc), func(t *testing.T) {
				q := accounts.UserQuery{Sort: sort, Desc: desc, Limit: 100}
				all, err := svc.SearchUsers(ctx, admin, q)
				if err != nil || len(all.Users) != 9 || all.Total != 9 || all.Next != "" || all.Prev != "" {
					t.Fatalf("one page of all: %d users, total %d, next %q prev %q, %v", len(all.Users), all.Total, all.Next, all.Prev, err)
				}
				want := ids(all.Users)

				// Forward in pages of 2, then back again from the last page.
				q.Limit = 2
				var forward [][]int64
				var last accounts.UserPage
				for page, cur := 0, ""; ; page++ {
					q.Cursor = cur
					p, err := svc.SearchUsers(ctx, admin, q)
					if err != nil {
						t.Fatal(err)
					}
					if (page == 0) != (p.Prev == "") {
						t.Fatalf("page %d: prev cursor %q", page, p.Prev)
					}
					forward = append(forward, ids(p.Users))
					last = p
					if p.Next == "" {
						break
					}
					cur = p.Next
				}
				if got := slices.Concat(forward...); !slices.Equal(got, want) {
					t.Fatalf("forward pages %v, want %v", got, want)
				}
				var backward [][]int64
				for cur := last.Prev; cur != ""; {
					q.Cursor = cur
					p, err := svc.SearchUsers(ctx, admin, q)
					if err != nil {
						t.Fatal(err)
					}
					if p.Next == "" {
						t.Fatal("a page reached backward has no next link")
					}
					backward = append([][]int64{ids(p.Users)}, backward...)
					cur = p.Prev
				}
				if got, want := backward, forward[:len(forward)-1]; !slices.EqualFunc(got, want, slices.Equal) {
					t.Fatalf("backward pages %v, want %v", got, want)
				}
			})
		}
	}
}

func TestSearchUsersFiltersAndRefuses(t *testing.T) {
	svc, admin := searchService(t)
	ctx := context.Background()
	p, err := svc.SearchUsers(ctx, admin, accounts.UserQuery{Search: " AMY "})
	if err != nil || p.Total != 1 || len(p.Users) != 1 || p.Users[0].Username != "amy" {
		t.Fatalf("search by username in another case: %+v %v", p, err)
	}
	p, err = svc.SearchUsers(ctx, admin, accounts.UserQuery{Search: "south.example"})
	if err != nil || p.Total != 4 {
		t.Fatalf("search by email domain: total %d, %v", p.Total, err)
	}
	p, err = svc.SearchUsers(ctx, admin, accounts.UserQuery{Search: "%"})
	if err != nil || p.Total != 0 {
		t.Fatalf("a LIKE wildcard must match literally: total %d, %v", p.Total, err)
	}
	p, err = svc.SearchUsers(ctx, admin, accounts.UserQuery{Sort: accounts.SortUsername})
	if err != nil || len(p.Users) != 9 || !slices.IsSortedFunc(p.Users, func(a, b accounts.User) int {
		return strings.Compare(strings.ToLower(a.Username), strings.ToLower(b.Username))
	}) {
		t.Fatalf("username order ignores case: %v %v", p.Users, err)
	}
	byName, _ := svc.SearchUsers(ctx, admin, accounts.UserQuery{Sort: accounts.SortUsername, Limit: 2})

	for name, q := range map[string]accounts.UserQuery{
		"NUL in the search":             {Search: "a\x00b"},
		"invalid UTF-8 in the search":   {Search: "a\xffb"},
		"an overlong search":            {Search: strings.Repeat("a", 255)},
		"an unknown sort key":           {Sort: "password_hash"},
		"a forged cursor":               {Cursor: "not-a-cursor"},
		"a cursor of another order":     {Sort: accounts.SortCreated, Cursor: byName.Next},
		"a cursor of another direction": {Sort: accounts.SortUsername, Desc: true, Cursor: byName.Next},
		"a page size beyond the cap":    {Limit: 101},
	} {
		t.Run(name, func(t *testing.T) {
			var verr *accounts.ValidationError
			if _, err := svc.SearchUsers(ctx, admin, q); !errors.As(err, &verr) {
				t.Fatalf("got %v, want a validation error", err)
			}
		})
	}
	if _, err := svc.SearchUsers(ctx, accounts.Actor{User: accounts.User{ID: 99, Role: accounts.RoleUser}}, accounts.UserQuery{}); !errors.Is(err, accounts.ErrForbidden) {
		t.Fatalf("a user searched the list: %v", err)
	}
}
