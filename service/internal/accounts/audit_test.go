package accounts_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gopherops/gopherops/service/internal/accounts"
	"github.com/gopherops/gopherops/service/internal/store/postgres"
)

// spyStore is the real store, counting the audit searches the service
// asks of it and the limit of each export.
type spyStore struct {
	*postgres.Store
	searches, counts int
	exportLimits     []int
}

func (s *spyStore) CountAuditEvents(ctx context.Context, f accounts.AuditFilter) (int64, error) {
	s.counts++
	return s.Store.CountAuditEvents(ctx, f)
}

func (s *spyStore) SearchAuditEvents(ctx context.Context, f accounts.AuditFilter, offset, limit int) ([]accounts.AuditEvent, error) {
	s.searches++
	return s.Store.SearchAuditEvents(ctx, f, offset, limit)
}

func (s *spyStore) EachAuditEvent(ctx context.Context, f accounts.AuditFilter, limit int, fn func(accounts.AuditEvent) error) error {
	s.exportLimits = append(s.exportLimits, limit)
	return s.Store.EachAuditEvent(ctx, f, limit, fn)
}

// spy is a service on w's database whose store is a spyStore.
func (w *world) spy(t *testing.T) (*accounts.Service, *spyStore) {
	t.Helper()
	store, ok := w.base.Store.(*postgres.Store)
	if !ok {
		t.Fatalf("the world's store is a %T", w.base.Store)
	}
	spy := &spyStore{Store: store}
	return w.replica(t, func(o *accounts.Options) { o.Store = spy }), spy
}

// plainStore is the real store with only accounts.Store's methods: neither
// the audit search nor the users search, as a store that can append to the
// trail and list users but cannot search or number pages.
type plainStore struct{ accounts.Store }

// auditWorld is the world with a trail of 25 events: the 3 creations of
// root, second-admin and alice by the command line (tagged "+root",
// "+second-admin", "+alice"), then 22 updates of alice by root, tagged
// "1" to "22" in the order they happened. svc searches through spy.
type auditWorld struct {
	*world
	svc   *accounts.Service
	spy   *spyStore
	start time.Time // before the first event
}

func newAuditWorld(t *testing.T) *auditWorld {
	t.Helper()
	start := time.Now()
	w := newWorld(t)
	ctx := context.Background()
	for n := 1; n <= 22; n++ {
		if err := w.base.Store.AddAuditEvent(ctx, accounts.AuditEvent{Action: accounts.ActionUserUpdated,
			ActorID: &w.root.ID, ActorName: w.root.Username, TargetID: &w.alice.ID, TargetName: w.alice.Username,
			Details: map[string]any{"n": n}}); err != nil {
			t.Fatal(err)
		}
	}
	svc, spy := w.spy(t)
	return &auditWorld{world: w, svc: svc, spy: spy, start: start}
}

// tags names events by their tag, in the order given.
func tags(events []accounts.AuditEvent) []string {
	out := make([]string, 0, len(events))
	for _, e := range events {
		if e.Action == accounts.ActionUserCreated {
			out = append(out, "+"+e.TargetName)
			continue
		}
		out = append(out, fmt.Sprint(e.Details["n"]))
	}
	return out
}

// updates are the tags of the updates from..to, newest first (from >= to).
func updates(from, to int) []string {
	var out []string
	for n := from; n >= to; n-- {
		out = append(out, fmt.Sprint(n))
	}
	return out
}

// created are the tags of the three creations, newest first.
var created = []string{"+alice", "+second-admin", "+root"}

// TestSearchAuditPages: a page holds 1 to 100 events (20 when no size is
// asked for), pages count from 1, a page past the last is the last, and
// each page says where it lies: the total, the number of pages (one even
// for nothing) and its offset.
func TestSearchAuditPages(t *testing.T) {
	w := newAuditWorld(t)
	updated := accounts.AuditFilter{Action: accounts.ActionUserUpdated} // 22 events
	tests := []struct {
		name        string
		q           accounts.AuditQuery
		invalid     string // the field refused, if any
		total       int64
		page, pages int
		offset      int
		events      []string
	}{
		{name: "no size asked for: 20", q: accounts.AuditQuery{},
			total: 25, page: 1, pages: 2, events: updates(22, 3)},
		{name: "the second page of the default size", q: accounts.AuditQuery{Page: 2},
			total: 25, page: 2, pages: 2, offset: 20, events: append(updates(2, 1), created...)},
		{name: "one a page", q: accounts.AuditQuery{AuditFilter: updated, Limit: 1},
			total: 22, page: 1, pages: 22, events: updates(22, 22)},
		{name: "the largest page", q: accounts.AuditQuery{Limit: accounts.MaxListLimit},
			total: 25, page: 1, pages: 1, events: append(updates(22, 1), created...)},
		{name: "a page one over the largest", q: accounts.AuditQuery{Limit: accounts.MaxListLimit + 1}, invalid: "limit"},
		{name: "a negative page size", q: accounts.AuditQuery{Limit: -1}, invalid: "limit"},
		{name: "as many as the total: one page", q: accounts.AuditQuery{AuditFilter: updated, Limit: 22},
			total: 22, page: 1, pages: 1, events: updates(22, 1)},
		{name: "one fewer than the total: two pages", q: accounts.AuditQuery{AuditFilter: updated, Limit: 21},
			total: 22, page: 1, pages: 2, events: updates(22, 2)},
		{name: "the last of two pages holds the one left", q: accounts.AuditQuery{AuditFilter: updated, Limit: 21, Page: 2},
			total: 22, page: 2, pages: 2, offset: 21, events: updates(1, 1)},
		{name: "page 0 is the first", q: accounts.AuditQuery{AuditFilter: updated, Limit: 4, Page: 0},
			total: 22, page: 1, pages: 6, events: updates(22, 19)},
		{name: "page 1", q: accounts.AuditQuery{AuditFilter: updated, Limit: 4, Page: 1},
			total: 22, page: 1, pages: 6, events: updates(22, 19)},
		{name: "page 3 starts after two pages", q: accounts.AuditQuery{AuditFilter: updated, Limit: 4, Page: 3},
			total: 22, page: 3, pages: 6, offset: 8, events: updates(14, 11)},
		{name: "the last page holds the rest", q: accounts.AuditQuery{AuditFilter: updated, Limit: 4, Page: 6},
			total: 22, page: 6, pages: 6, offset: 20, events: updates(2, 1)},
		{name: "a page past the last is the last", q: accounts.AuditQuery{AuditFilter: updated, Limit: 4, Page: 7},
			total: 22, page: 6, pages: 6, offset: 20, events: updates(2, 1)},
		{name: "the largest page number is the last", q: accounts.AuditQuery{AuditFilter: updated, Limit: 4, Page: accounts.MaxPage},
			total: 22, page: 6, pages: 6, offset: 20, events: updates(2, 1)},
		{name: "a page number over the largest", q: accounts.AuditQuery{Limit: 4, Page: accounts.MaxPage + 1}, invalid: "page"},
		{name: "a negative page number", q: accounts.AuditQuery{Page: -1}, invalid: "page"},
		{name: "one event: one page", q: accounts.AuditQuery{AuditFilter: accounts.AuditFilter{Target: "second"}, Limit: 4},
			total: 1, page: 1, pages: 1, events: []string{"+second-admin"}},
		{name: "nothing: one empty page", q: accounts.AuditQuery{AuditFilter: accounts.AuditFilter{Actor: "nobody"}, Limit: 4},
			total: 0, page: 1, pages: 1},
		{name: "a later page of nothing is the one empty page", q: accounts.AuditQuery{AuditFilter: accounts.AuditFilter{Actor: "nobody"}, Limit: 4, Page: 3},
			total: 0, page: 1, pages: 1},
	}
	admin := accounts.Actor{User: w.admin}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			counts, searches := w.spy.counts, w.spy.searches
			got, err := w.svc.SearchAudit(context.Background(), admin, tt.q)
			if tt.invalid != "" {
				var verr *accounts.ValidationError
				if !errors.As(err, &verr) || len(verr.Fields) != 1 || verr.Fields[tt.invalid] == "" {
					t.Fatalf("err = %v, want a problem with the %s only", err, tt.invalid)
				}
				if w.spy.counts != counts || w.spy.searches != searches {
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
			if g := tags(got.Events); !slices.Equal(g, tt.events) {
				t.Fatalf("events %v, want %v", g, tt.events)
			}
			// Nothing to show is answered from the count alone.
			if wantSearches := searches + min(int(tt.total), 1); w.spy.searches != wantSearches {
				t.Fatalf("%d searches for a total of %d, want %d", w.spy.searches-searches, tt.total, wantSearches-searches)
			}
		})
	}
}

// TestAuditFilters: the names are plain text of at most 100 characters,
// matched in any case and without the blanks around them; the action is
// one of the trail's; the user an id; the range ends after it starts. Each
// refusal names its field, and a refused filter reaches no store.
func TestAuditFilters(t *testing.T) {
	w := newAuditWorld(t)
	after := w.start.Add(time.Hour) // after every event
	before := w.start.Add(-time.Minute)
	tests := []struct {
		name  string
		f     accounts.AuditFilter
		field string // refused with this field's message, or accepted
		msg   string
		total int64
	}{
		{name: "no filter", f: accounts.AuditFilter{}, total: 25},
		{name: "an actor, in another case and with blanks", f: accounts.AuditFilter{Actor: "  ROOT\t"}, total: 22},
		{name: "a target, in another case", f: accounts.AuditFilter{Target: "Alic"}, total: 23},
		{name: "a name of 100 characters", f: accounts.AuditFilter{Actor: strings.Repeat("é", 100)}, total: 0},
		{name: "an actor of 101 characters", f: accounts.AuditFilter{Actor: strings.Repeat("é", 101)},
			field: "actor", msg: "must be at most 100 characters"},
		{name: "a target of 101 characters", f: accounts.AuditFilter{Target: strings.Repeat("a", 101)},
			field: "target", msg: "must be at most 100 characters"},
		{name: "a NUL in a name", f: accounts.AuditFilter{Target: "ali\x00ce"}, field: "target", msg: "must be plain text"},
		{name: "a name that is not UTF-8", f: accounts.AuditFilter{Actor: "ro\xffot"}, field: "actor", msg: "must be plain text"},
		{name: "an action of the trail", f: accounts.AuditFilter{Action: accounts.ActionUserCreated}, total: 3},
		{name: "the last action offered", f: accounts.AuditFilter{Action: accounts.ActionSessionsRevoked}, total: 0},
		{name: "an unknown action", f: accounts.AuditFilter{Action: "user.exploded"},
			field: "action", msg: "is not an action of the audit trail"},
		{name: "by or about a user", f: accounts.AuditFilter{User: w.admin.ID}, total: 1},
		{name: "by or about root", f: accounts.AuditFilter{User: w.root.ID}, total: 23}, // created, and the actor of the updates
		{name: "a negative user", f: accounts.AuditFilter{User: -1}, field: "user", msg: "must be a user id"},
		{name: "from a time on", f: accounts.AuditFilter{From: before}, total: 25},
		{name: "from a time after every event", f: accounts.AuditFilter{From: after}, total: 0},
		{name: "until a time", f: accounts.AuditFilter{To: after}, total: 25},
		{name: "until a time before every event", f: accounts.AuditFilter{To: before}, total: 0},
		{name: "a range", f: accounts.AuditFilter{From: before, To: after}, total: 25},
		{name: "a range that ends where it starts", f: accounts.AuditFilter{From: after, To: after},
			field: "to", msg: "must be after the start of the range"},
		{name: "a range that ends before it starts", f: accounts.AuditFilter{From: after, To: before},
			field: "to", msg: "must be after the start of the range"},
	}
	admin := accounts.Actor{User: w.admin}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			counts, exports := w.spy.counts, len(w.spy.exportLimits)
			page, err := w.svc.SearchAudit(ctx, admin, accounts.AuditQuery{AuditFilter: tt.f, Limit: accounts.MaxListLimit})
			exported := 0
			exportErr := w.svc.ExportAudit(ctx, admin, tt.f, func(accounts.AuditEvent) error { exported++; return nil })
			if tt.field != "" {
				for what, err := range map[string]error{"search": err, "export": exportErr} {
					var verr *accounts.ValidationError
					if !errors.As(err, &verr) || len(verr.Fields) != 1 || verr.Fields[tt.field] != tt.msg {
						t.Fatalf("%s: err = %v, want %s %q only", what, err, tt.field, tt.msg)
					}
				}
				if w.spy.counts != counts || len(w.spy.exportLimits) != exports || exported != 0 {
					t.Fatal("a refused filter reached the store")
				}
				return
			}
			if err != nil || exportErr != nil {
				t.Fatalf("search: %v; export: %v", err, exportErr)
			}
			if page.Total != tt.total || len(page.Events) != int(tt.total) || exported != int(tt.total) {
				t.Fatalf("found %d (%d shown), exported %d; want %d", page.Total, len(page.Events), exported, tt.total)
			}
		})
	}
}

// TestAuditActionsKnown: every action the trail offers is known, and
// nothing else is, the empty action included.
func TestAuditActionsKnown(t *testing.T) {
	for _, a := range accounts.AuditActions() {
		if !a.Known() {
			t.Errorf("%q is not known", a)
		}
	}
	for _, a := range []accounts.AuditAction{"", "user.exploded", "USER.CREATED", "user.created "} {
		if a.Known() {
			t.Errorf("%q is known", a)
		}
	}
}

// TestAuditAccess: only an admin, signed in with the admin's power, reads
// or exports the trail; a store without the search answers
// ErrSearchUnsupported, before anything else is checked.
func TestAuditAccess(t *testing.T) {
	w := newAuditWorld(t)
	plain := w.replica(t, func(o *accounts.Options) { o.Store = plainStore{o.Store} })
	bad := accounts.AuditFilter{User: -1}
	tests := []struct {
		name string
		svc  *accounts.Service
		a    accounts.Actor
		f    accounts.AuditFilter
		want error // nil: the whole trail
	}{
		{"root", w.svc, accounts.Actor{User: w.root}, accounts.AuditFilter{}, nil},
		{"another admin", w.svc, accounts.Actor{User: w.admin}, accounts.AuditFilter{}, nil},
		{"a user", w.svc, accounts.Actor{User: w.alice}, accounts.AuditFilter{}, accounts.ErrForbidden},
		{"a user, with a filter that is refused", w.svc, accounts.Actor{User: w.alice}, bad, accounts.ErrForbidden},
		{"an admin's token without the admin scope", w.svc,
			accounts.Actor{User: w.admin, Scopes: accounts.ScopeRead | accounts.ScopeWrite}, accounts.AuditFilter{}, accounts.ErrScopeAdmin},
		{"a store without the search", plain, accounts.Actor{User: w.admin}, accounts.AuditFilter{}, accounts.ErrSearchUnsupported},
		{"a store without the search, with a filter that is refused", plain, accounts.Actor{User: w.admin}, bad, accounts.ErrSearchUnsupported},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			counts, exports := w.spy.counts, len(w.spy.exportLimits)
			page, err := tt.svc.SearchAudit(ctx, tt.a, accounts.AuditQuery{AuditFilter: tt.f, Limit: accounts.MaxListLimit})
			var exported []accounts.AuditEvent
			exportErr := tt.svc.ExportAudit(ctx, tt.a, tt.f, func(e accounts.AuditEvent) error { exported = append(exported, e); return nil })
			if tt.want != nil {
				if !errors.Is(err, tt.want) || !errors.Is(exportErr, tt.want) {
					t.Fatalf("search: %v; export: %v; want %v", err, exportErr, tt.want)
				}
				if page.Total != 0 || page.Events != nil || exported != nil || w.spy.counts != counts || len(w.spy.exportLimits) != exports {
					t.Fatalf("a refused reader got %d events (%d exported) or reached the store", len(page.Events), len(exported))
				}
				return
			}
			want := append(updates(22, 1), created...)
			if err != nil || exportErr != nil {
				t.Fatalf("search: %v; export: %v", err, exportErr)
			}
			if g := tags(page.Events); !slices.Equal(g, want) || page.Total != 25 {
				t.Fatalf("searched %v of %d, want %v", g, page.Total, want)
			}
			if g := tags(exported); !slices.Equal(g, want) {
				t.Fatalf("exported %v, want %v", g, want)
			}
		})
	}
}

// TestExportAudit: an export asks the store for at most MaxAuditExport
// events, newest first, filtered, and stops at the first error of the
// caller's function, returning it.
func TestExportAudit(t *testing.T) {
	w := newAuditWorld(t)
	ctx := context.Background()
	admin := accounts.Actor{User: w.admin}
	var got []accounts.AuditEvent
	collect := func(e accounts.AuditEvent) error { got = append(got, e); return nil }
	if err := w.svc.ExportAudit(ctx, admin, accounts.AuditFilter{Actor: " CLI "}, collect); err != nil {
		t.Fatal(err)
	}
	if g := tags(got); !slices.Equal(g, created) {
		t.Fatalf("exported %v, want %v", g, created)
	}
	if !slices.Equal(w.spy.exportLimits, []int{accounts.MaxAuditExport}) {
		t.Fatalf("the store was asked for %v events, want %d", w.spy.exportLimits, accounts.MaxAuditExport)
	}

	errFull := errors.New("the disk is full")
	calls := 0
	err := w.svc.ExportAudit(ctx, admin, accounts.AuditFilter{}, func(accounts.AuditEvent) error {
		calls++
		if calls == 2 {
			return errFull
		}
		return nil
	})
	if !errors.Is(err, errFull) || calls != 2 {
		t.Fatalf("export: %v after %d events, want the function's error after 2", err, calls)
	}
}
