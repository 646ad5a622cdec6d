package postgres_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gopherops/gopherops/service/internal/accounts"
)

func TestAuditSearch(t *testing.T) {
	ctx := context.Background()
	st, pool := newStore(t)
	alice, err := st.CreateUser(ctx, rec("alice"))
	if err != nil {
		t.Fatal(err)
	}
	bob, err := st.CreateUser(ctx, rec("bob"))
	if err != nil {
		t.Fatal(err)
	}
	day := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	events := []struct {
		actor  *accounts.User
		action accounts.AuditAction
		target *accounts.User
		at     time.Time
	}{
		{&alice, accounts.ActionUserCreated, &bob, day},
		{&alice, accounts.ActionUserUpdated, &bob, day.Add(time.Hour)},
		{&bob, accounts.ActionLogin, &bob, day.Add(24 * time.Hour)},
		{&bob, accounts.ActionUserPasswordChanged, &bob, day.Add(25 * time.Hour)},
		{nil, accounts.ActionLoginFailed, &alice, day.Add(48 * time.Hour)},
	}
	for i, ev := range events {
		e := accounts.AuditEvent{Action: ev.action, TargetID: &ev.target.ID, TargetName: ev.target.Username,
			ClientIP: "192.0.2.1", UserAgent: "agent/1", Details: map[string]any{"i": i}}
		if ev.actor != nil {
			e.ActorID, e.ActorName = &ev.actor.ID, ev.actor.Username
		}
		if err := st.AddAuditEvent(ctx, e); err != nil {
			t.Fatal(err)
		}
		if _, err := pool.Exec(ctx, `UPDATE audit_events SET occurred_at = $1 WHERE id = (SELECT max(id) FROM audit_events)`, ev.at); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name string
		f    accounts.AuditFilter
		want []int // indexes of events, newest first
	}{
		{"everything, newest first", accounts.AuditFilter{}, []int{4, 3, 2, 1, 0}},
		{"by actor, any case, part of the name", accounts.AuditFilter{Actor: "lic"}, []int{1, 0}},
		{"by action", accounts.AuditFilter{Action: accounts.ActionLogin}, []int{2}},
		{"by target", accounts.AuditFilter{Target: "alice"}, []int{4}},
		{"by or about a user", accounts.AuditFilter{User: alice.ID}, []int{4, 1, 0}},
		{"from a time on", accounts.AuditFilter{From: day.Add(24 * time.Hour)}, []int{4, 3, 2}},
		{"before a time", accounts.AuditFilter{To: day.Add(24 * time.Hour)}, []int{1, 0}},
		{"a range and an actor", accounts.AuditFilter{Actor: "bob", From: day.Add(time.Hour), To: day.Add(25 * time.Hour)}, []int{2}},
		{"wildcards match literally", accounts.AuditFilter{Actor: "%"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, err := st.CountAuditEvents(ctx, tc.f)
			if err != nil || n != int64(len(tc.want)) {
				t.Fatalf("count %d, %v; want %d", n, err, len(tc.want))
			}
			got, err := st.SearchAuditEvents(ctx, tc.f, 0, 10)
			if err != nil || len(got) != len(tc.want) {
				t.Fatalf("search: %d events, %v; want %d", len(got), err, len(tc.want))
			}
			for i, e := range got {
				if e.Details["i"] != float64(tc.want[i]) || e.UserAgent != "agent/1" || e.ClientIP != "192.0.2.1" {
					t.Fatalf("event %d: %+v, want event %d", i, e, tc.want[i])
				}
			}
			var streamed int
			if err := st.EachAuditEvent(ctx, tc.f, 10, func(accounts.AuditEvent) error { streamed++; return nil }); err != nil || streamed != len(tc.want) {
				t.Fatalf("each: %d events, %v", streamed, err)
			}
		})
	}
	page, err := st.SearchAuditEvents(ctx, accounts.AuditFilter{}, 2, 2)
	if err != nil || len(page) != 2 || page[0].Details["i"] != float64(2) {
		t.Fatalf("the second page of two: %+v %v", page, err)
	}
	stop := errors.New("enough")
	var seen int
	if err := st.EachAuditEvent(ctx, accounts.AuditFilter{}, 10, func(accounts.AuditEvent) error { seen++; return stop }); !errors.Is(err, stop) || seen != 1 {
		t.Fatalf("each stops at fn's error: %v after %d", err, seen)
	}
	if got, _ := st.SearchAuditEvents(ctx, accounts.AuditFilter{}, 0, 10); len(got) != 5 {
		t.Fatal("the connection is unusable after a stopped export")
	}
}
