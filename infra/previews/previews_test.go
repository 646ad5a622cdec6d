package previews

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)

func stack(n int, last time.Time) Stack {
	return Stack{Name: "pr-" + strconv.Itoa(n), PR: n, LastUpdate: last}
}

func TestAdmit(t *testing.T) {
	alive := []Stack{stack(3, t0), stack(1, t0), stack(2, t0)}
	cases := []struct {
		name  string
		pr    int
		limit int
		ok    bool
	}{
		{"a stack of its own is updated at the limit", 2, 3, true},
		{"a stack of its own is updated above the limit", 2, 1, true},
		{"a new one below the limit", 4, 4, true},
		{"a new one at the limit", 4, 3, false},
		{"a new one above the limit", 4, 2, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := Admit(alive, c.pr, c.limit)
			if c.ok && err != nil {
				t.Fatalf("refused: %v", err)
			}
			if !c.ok {
				if !errors.Is(err, ErrLimit) {
					t.Fatalf("Admit = %v, want ErrLimit", err)
				}
				if !strings.Contains(err.Error(), "(pr-1, pr-2, pr-3)") {
					t.Errorf("the refusal does not name the stacks alive, sorted: %v", err)
				}
			}
		})
	}
	if err := Admit(nil, 1, 1); err != nil {
		t.Errorf("the first stack is refused: %v", err)
	}
}

func TestExpired(t *testing.T) {
	ttl := 72 * time.Hour
	now := t0.Add(100 * time.Hour)
	stacks := []Stack{
		stack(1, t0),                          // idle 100 h
		stack(2, now.Add(-ttl)),               // idle exactly the TTL
		stack(3, now.Add(-ttl+time.Minute)),   // a minute short
		stack(4, now.Add(-time.Hour)),         // fresh
		{Name: "pr-5", PR: 5},                 // never updated (a refused admission's leftover)
		{Name: "pr-6", PR: 6, Updating: true}, // being updated now
		{Name: "pr-7", PR: 7, LastUpdate: t0, Updating: true},
	}
	var got []string
	for _, s := range Expired(stacks, now, ttl) {
		got = append(got, s.Name)
	}
	want := []string{"pr-1", "pr-2", "pr-5"}
	if !slices.Equal(got, want) {
		t.Errorf("Expired = %v, want %v", got, want)
	}
}

// fakeBackend is a backend in memory: what the reaper destroys is gone.
type fakeBackend struct {
	stacks    []Stack
	fail      map[string]error
	destroyed []string
	listErr   error
}

func (f *fakeBackend) Stacks(context.Context) ([]Stack, error) {
	return slices.Clone(f.stacks), f.listErr
}

func (f *fakeBackend) Destroy(_ context.Context, name string) error {
	if err := f.fail[name]; err != nil {
		return err
	}
	f.destroyed = append(f.destroyed, name)
	f.stacks = slices.DeleteFunc(f.stacks, func(s Stack) bool { return s.Name == name })
	return nil
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestReaperTakesItsClock(t *testing.T) {
	b := &fakeBackend{stacks: []Stack{stack(1, t0), stack(2, t0.Add(2*time.Hour))}}
	r := &Reaper{Backend: b, TTL: 24 * time.Hour, Log: quiet()}

	r.Now = func() time.Time { return t0.Add(23 * time.Hour) }
	if reaped, err := r.Reap(context.Background()); err != nil || len(reaped) != 0 {
		t.Fatalf("before the TTL: reaped %v, %v", reaped, err)
	}
	r.Now = func() time.Time { return t0.Add(25 * time.Hour) }
	reaped, err := r.Reap(context.Background())
	if err != nil || !slices.Equal(reaped, []string{"pr-1"}) {
		t.Fatalf("after the first TTL: reaped %v, %v; want [pr-1]", reaped, err)
	}
	if len(b.stacks) != 1 || b.stacks[0].Name != "pr-2" {
		t.Errorf("left %v, want pr-2 only", b.stacks)
	}
}

func TestReaperGoesOnAfterAFailure(t *testing.T) {
	boom := errors.New("the cluster is unreachable")
	b := &fakeBackend{
		stacks: []Stack{stack(1, t0), stack(2, t0), stack(3, t0)},
		fail:   map[string]error{"pr-2": boom},
	}
	r := &Reaper{Backend: b, TTL: time.Hour, Now: func() time.Time { return t0.Add(2 * time.Hour) }, Log: quiet()}
	reaped, err := r.Reap(context.Background())
	if !slices.Equal(reaped, []string{"pr-1", "pr-3"}) {
		t.Errorf("reaped %v, want pr-1 and pr-3", reaped)
	}
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "destroy pr-2") {
		t.Errorf("Reap error = %v, want pr-2's failure", err)
	}
}

func TestReaperRefuses(t *testing.T) {
	listErr := errors.New("backend down")
	for _, tc := range []struct {
		name string
		r    *Reaper
		want error
	}{
		{"no TTL", &Reaper{Backend: &fakeBackend{}, Now: time.Now, Log: quiet()}, nil},
		{"backend down", &Reaper{Backend: &fakeBackend{listErr: listErr}, TTL: time.Hour, Now: time.Now, Log: quiet()}, listErr},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reaped, err := tc.r.Reap(context.Background())
			if err == nil || len(reaped) != 0 {
				t.Fatalf("Reap = %v, %v; want an error and nothing reaped", reaped, err)
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Errorf("Reap error = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestParseStack(t *testing.T) {
	cases := []struct {
		name, last string
		updating   bool
		want       Stack
		ok         bool
		err        bool
	}{
		{"pr-12", "2026-03-10T12:00:00.000Z", false, Stack{Name: "pr-12", PR: 12, LastUpdate: t0}, true, false},
		{"acme/gopherops/pr-12", "2026-03-10T14:00:00+02:00", true, Stack{Name: "pr-12", PR: 12, LastUpdate: t0, Updating: true}, true, false},
		{"pr-3", "", false, Stack{Name: "pr-3", PR: 3}, true, false},
		{"dev", "2026-03-10T12:00:00Z", false, Stack{}, false, false},
		{"local", "", false, Stack{}, false, false},
		{"pr-12", "yesterday", false, Stack{}, false, true},
	}
	for _, c := range cases {
		got, ok, err := parseStack(c.name, c.last, c.updating)
		if (err != nil) != c.err || ok != c.ok || !got.LastUpdate.Equal(c.want.LastUpdate) ||
			got.Name != c.want.Name || got.PR != c.want.PR || got.Updating != c.want.Updating {
			t.Errorf("parseStack(%q, %q) = %+v, %v, %v; want %+v, %v, error %v", c.name, c.last, got, ok, err, c.want, c.ok, c.err)
		}
	}
}
