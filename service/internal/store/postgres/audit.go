package postgres

import (
	"context"
	"time"

	"github.com/gopherops/gopherops/service/internal/accounts"
)

var _ accounts.AuditSearcher = (*Store)(nil)

// auditFilter matches the filter's arguments $1 to $6: lower-cased
// substrings of the actor's and target's names (strpos: no LIKE wildcards),
// an action, a user the event is by or about, and a time range; a zero
// argument matches any.
const auditFilter = `($1 = '' OR strpos(lower(actor_name), $1) > 0)
	AND ($2 = '' OR action = $2)
	AND ($3 = '' OR strpos(lower(target_name), $3) > 0)
	AND ($4::bigint = 0 OR actor_id = $4::bigint OR target_id = $4::bigint)
	AND ($5::timestamptz IS NULL OR occurred_at >= $5::timestamptz)
	AND ($6::timestamptz IS NULL OR occurred_at < $6::timestamptz)`

func auditArgs(f accounts.AuditFilter) []any {
	bound := func(t time.Time) *time.Time {
		if t.IsZero() {
			return nil
		}
		return &t
	}
	return []any{f.Actor, string(f.Action), f.Target, f.User, bound(f.From), bound(f.To)}
}

// SearchAuditEvents implements accounts.AuditSearcher.
func (s *Store) SearchAuditEvents(ctx context.Context, f accounts.AuditFilter, offset, limit int) ([]accounts.AuditEvent, error) {
	rows, err := s.q.Query(ctx, `SELECT `+auditColumns+` FROM audit_events WHERE `+auditFilter+
		` ORDER BY id DESC OFFSET $7 LIMIT $8`, append(auditArgs(f), offset, limit)...)
	if err != nil {
		return nil, mapError(err)
	}
	out := make([]accounts.AuditEvent, 0, limit)
	err = eachAuditRow(rows, func(e accounts.AuditEvent) error {
		out = append(out, e)
		return nil
	})
	return out, err
}

// CountAuditEvents implements accounts.AuditSearcher.
func (s *Store) CountAuditEvents(ctx context.Context, f accounts.AuditFilter) (int64, error) {
	var n int64
	if err := s.q.QueryRow(ctx, `SELECT count(*) FROM audit_events WHERE `+auditFilter, auditArgs(f)...).Scan(&n); err != nil {
		return 0, mapError(err)
	}
	return n, nil
}

// EachAuditEvent implements accounts.AuditSearcher, reading the rows as
// they arrive rather than all at once.
func (s *Store) EachAuditEvent(ctx context.Context, f accounts.AuditFilter, limit int, fn func(accounts.AuditEvent) error) error {
	rows, err := s.q.Query(ctx, `SELECT `+auditColumns+` FROM audit_events WHERE `+auditFilter+
		` ORDER BY id DESC LIMIT $7`, append(auditArgs(f), limit)...)
	if err != nil {
		return mapError(err)
	}
	return eachAuditRow(rows, fn)
}
