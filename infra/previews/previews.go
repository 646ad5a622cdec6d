// Package previews keeps pull-request stacks (pr-<number>) within bounds:
// admission refuses one more stack than the configured limit, the reaper
// destroys the stacks left idle past a time-to-live, and both read the
// stacks from the Pulumi backend, where a stack exists exactly as long as
// it holds resources.
package previews

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/gopherops/gopherops/infra/config"
)

// Stack is one pull request's stack as the backend reports it.
type Stack struct {
	// Name is pr-<number>.
	Name string
	// PR is the pull request's number.
	PR int
	// LastUpdate is when its last update, destroy or refresh ended; zero
	// when it never had one.
	LastUpdate time.Time
	// Updating is true while an operation holds the stack.
	Updating bool
}

// Backend lists the pull-request stacks and destroys one (its resources,
// then the stack itself).
type Backend interface {
	Stacks(ctx context.Context) ([]Stack, error)
	Destroy(ctx context.Context, name string) error
}

// ErrLimit is the admission's refusal: the cluster holds as many
// pull-request stacks as it may.
var ErrLimit = errors.New("previews: the pull-request stack limit is reached")

// Admit decides whether pull request pr may have a stack: one that has a
// stack already may update it; a new one only while fewer than limit
// others exist. The refusal wraps ErrLimit and names the stacks alive.
func Admit(stacks []Stack, pr, limit int) error {
	var others []string
	for _, s := range stacks {
		if s.PR == pr {
			return nil
		}
		others = append(others, s.Name)
	}
	if len(others) < limit {
		return nil
	}
	slices.Sort(others)
	return fmt.Errorf("%w: %d of %d alive (%s); pull request %d gets a stack once one of them is closed or reaped",
		ErrLimit, len(others), limit, strings.Join(others, ", "), pr)
}

// Expired are the stacks idle for at least ttl at now: not being updated,
// and last updated ttl or longer ago (or never).
func Expired(stacks []Stack, now time.Time, ttl time.Duration) []Stack {
	var out []Stack
	for _, s := range stacks {
		if s.Updating {
			continue
		}
		if s.LastUpdate.IsZero() || now.Sub(s.LastUpdate) >= ttl {
			out = append(out, s)
		}
	}
	return out
}

// Reaper destroys the pull-request stacks idle past TTL.
type Reaper struct {
	Backend Backend
	TTL     time.Duration
	// Now is the reaper's clock.
	Now func() time.Time
	Log *slog.Logger
}

// Reap destroys every expired stack and returns the names it destroyed.
// A failed destroy does not stop the others; the errors are joined.
func (r *Reaper) Reap(ctx context.Context) ([]string, error) {
	if r.TTL <= 0 {
		return nil, fmt.Errorf("previews: the time-to-live must be positive, not %s", r.TTL)
	}
	stacks, err := r.Backend.Stacks(ctx)
	if err != nil {
		return nil, err
	}
	now := r.Now()
	expired := Expired(stacks, now, r.TTL)
	r.Log.InfoContext(ctx, "pull-request stacks", "alive", len(stacks), "expired", len(expired), "ttl", r.TTL.String(), "now", now.UTC().Format(time.RFC3339))
	var reaped []string
	var errs []error
	for _, s := range expired {
		idle := "never updated"
		if !s.LastUpdate.IsZero() {
			idle = now.Sub(s.LastUpdate).Round(time.Minute).String()
		}
		r.Log.InfoContext(ctx, "destroying an idle stack", "stack", s.Name, "idle", idle)
		if err := r.Backend.Destroy(ctx, s.Name); err != nil {
			errs = append(errs, fmt.Errorf("previews: destroy %s: %w", s.Name, err))
			continue
		}
		reaped = append(reaped, s.Name)
	}
	return reaped, errors.Join(errs...)
}

// parseStack reads a backend's stack summary; ok is false for a stack that
// is not a pull request's. Names may be qualified (org/project/pr-12).
func parseStack(name, lastUpdate string, updating bool) (Stack, bool, error) {
	short := name[strings.LastIndex(name, "/")+1:]
	n, ok := config.PreviewNumber(short)
	if !ok {
		return Stack{}, false, nil
	}
	s := Stack{Name: short, PR: n, Updating: updating}
	if lastUpdate != "" {
		t, err := time.Parse(time.RFC3339, lastUpdate)
		if err != nil {
			return Stack{}, false, fmt.Errorf("previews: stack %s: last update %q: %w", name, lastUpdate, err)
		}
		s.LastUpdate = t
	}
	return s, true, nil
}
