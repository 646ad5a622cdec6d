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
		r.ForcePasswordChange = i%2 == 0
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

func TestSearchUsersPagesByNumber(t *testing.T) {
	svc, admin := searchService(t)
	ctx := context.Background()
	for _, sort := range []accounts.SortKey{accounts.SortUsername, accounts.SortEmail, accounts.SortRole, accounts.SortCreated} {
		for _, desc := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s desc=%v", sort, desc), func(t *testing.T) {
				q := accounts.UserQuery{Sort: sort, Desc: desc, Limit: 100}
				all, err := svc.SearchUsers(ctx, admin, q)
				if err != nil || len(all.Users) != 9 || all.Total != 9 || all.Pages != 1 || all.Page != 1 || all.Offset != 0 {
					t.Fatalf("one page of all: %d users, %+v, %v", len(all.Users), all, err)
				}
				want := ids(all.Users)

				// Pages of 2: five of them, the last with one user; each
				// user's page is the one PageOf names.
				q.Limit = 2
				var got []int64
				for page := 1; page <= 5; page++ {
					q.Page = page
					p, err := svc.SearchUsers(ctx, admin, q)
					if err != nil {
						t.Fatal(err)
					}
					if p.Page != page || p.Pages != 5 || p.Offset != (page-1)*2 || p.Total != 9 {
						t.Fatalf("page %d: %+v", page, p)
					}
					for _, u := range p.Users {
						at, found, err := svc.PageOf(ctx, admin, q, u.ID)
						if err != nil || !found || at != page {
							t.Fatalf("PageOf(%s) = %d, %v, %v; it is on page %d", u.Username, at, found, err, page)
						}
					}
					got = append(got, ids(p.Users)...)
				}
				if !slices.Equal(got, want) {
					t.Fatalf("pages %v, want %v", got, want)
				}
				// A page past the last is the last.
				q.Page = 9
				if p, err := svc.SearchUsers(ctx, admin, q); err != nil || p.Page != 5 || len(p.Users) != 1 {
					t.Fatalf("page past the last: %+v %v", p, err)
				}
			})
		}
	}
}

// TestNaturalOrder: names sort as people read them, digit runs by value
// and case only breaking ties, in both directions; PageOf agrees.
func TestNaturalOrder(t *testing.T) {
	st, _ := newStore(t)
	ctx := context.Background()
	for _, name := range []string{"gunnar6", "gunnar58", "Gunnar7", "gunnar10", "alice", "Bob", "bob2", "zed"} {
		r := rec(name)
		r.Email = strings.ToLower(r.Email)
		if _, err := st.CreateUser(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{"alice", "Bob", "bob2", "gunnar6", "Gunnar7", "gunnar10", "gunnar58", "zed"}
	for _, desc := range []bool{false, true} {
		users, err := st.SearchUsers(ctx, accounts.UserSearch{Sort: accounts.SortUsername, Desc: desc, Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, u := range users {
			got = append(got, u.Username)
		}
		w := slices.Clone(want)
		if desc {
			slices.Reverse(w)
		}
		if !slices.Equal(got, w) {
			t.Fatalf("desc=%v: %v, want %v", desc, got, w)
		}
		for i, u := range users {
			rank, found, err := st.UserRank(ctx, accounts.UserSearch{Sort: accounts.SortUsername, Desc: desc}, u.ID)
			if err != nil || !found || rank != int64(i) {
				t.Fatalf("desc=%v: rank of %s = %d, %v, %v; want %d", desc, u.Username, rank, found, err, i)
			}
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
	if err != nil || p.Total != 0 || p.Pages != 1 || len(p.Users) != 0 {
		t.Fatalf("a LIKE wildcard must match literally: %+v, %v", p, err)
	}
	// Root and every third user are admins: Zed, carl, frank.
	p, err = svc.SearchUsers(ctx, admin, accounts.UserQuery{Role: accounts.RoleAdmin})
	if err != nil || p.Total != 4 {
		t.Fatalf("admins: total %d, %v", p.Total, err)
	}
	p, err = svc.SearchUsers(ctx, admin, accounts.UserQuery{Role: accounts.RoleUser, Search: "r"})
	if err != nil || p.Total != 2 || p.Users[0].Username != "Bob" || p.Users[1].Username != "dora" {
		t.Fatalf("users matching r: %+v, %v", p, err)
	}
	// Every other user must change their password: Zed, Bob, dora, frank.
	p, err = svc.SearchUsers(ctx, admin, accounts.UserQuery{State: accounts.StateMustChange})
	if err != nil || p.Total != 4 || p.Users[0].Username != "Bob" {
		t.Fatalf("must change: %+v, %v", p, err)
	}
	p, err = svc.SearchUsers(ctx, admin, accounts.UserQuery{State: accounts.StateActive})
	if err != nil || p.Total != 5 {
		t.Fatalf("active: total %d, %v", p.Total, err)
	}
	for _, u := range p.Users {
		if u.ForcePasswordChange {
			t.Fatalf("active filter lists %s, who must change their password", u.Username)
		}
	}
	// A disabled account is in the disabled state only: amy was active, Bob
	// had to change his password.
	for _, name := range []string{"amy", "Bob"} {
		found, err := svc.SearchUsers(ctx, admin, accounts.UserQuery{Search: name})
		if err != nil || len(found.Users) != 1 {
			t.Fatalf("%s: %+v %v", name, found, err)
		}
		if _, err := svc.SetDisabled(ctx, admin, found.Users[0].ID, true); err != nil {
			t.Fatal(err)
		}
	}
	for state, want := range map[accounts.UserState]int64{accounts.StateDisabled: 2, accounts.StateActive: 4, accounts.StateMustChange: 3} {
		if p, err := svc.SearchUsers(ctx, admin, accounts.UserQuery{State: state}); err != nil || p.Total != want {
			t.Fatalf("%s after disabling amy and Bob: %d, %v; want %d", state, p.Total, err, want)
		}
	}
	if _, found, err := svc.PageOf(ctx, admin, accounts.UserQuery{Role: accounts.RoleUser}, admin.User.ID); err != nil || found {
		t.Fatalf("PageOf finds the root admin among users: %v %v", found, err)
	}

	for name, q := range map[string]accounts.UserQuery{
		"NUL in the search":           {Search: "a\x00b"},
		"invalid UTF-8 in the search": {Search: "a\xffb"},
		"an overlong search":          {Search: strings.Repeat("a", 255)},
		"an unknown sort key":         {Sort: "password_hash"},
		"an unknown role":             {Role: "root"},
		"an unknown state":            {State: "asleep"},
		"a negative page":             {Page: -1},
		"a page beyond reason":        {Page: accounts.MaxPage + 1},
		"a page size beyond the cap":  {Limit: 101},
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
