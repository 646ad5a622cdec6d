package postgres

import (
	"context"
	"fmt"

	"github.com/gopherops/gopherops/service/internal/accounts"
)

var _ accounts.UserSearcher = (*Store)(nil)

// sortExpr is the SQL expression of each sort key and the type its keyset
// value is bound as. Only these fixed strings are ever put into the query.
var sortExpr = map[accounts.SortKey]struct{ expr, cast string }{
	accounts.SortUsername: {"lower(username)", "text"},
	accounts.SortEmail:    {"email", "text"},
	accounts.SortRole:     {"role", "text"},
	accounts.SortCreated:  {"created_at", "timestamptz"},
}

// searchFilter matches a lower-cased substring of the username or the email
// (stored lower-cased); strpos needs no escaping of LIKE's wildcards.
const searchFilter = `($1 = '' OR strpos(lower(username), $1) > 0 OR strpos(email, $1) > 0)`

// SearchUsers implements accounts.UserSearcher with keyset pagination in
// either direction: rows after q.After in the chosen order, or before it
// (nearest first) when q.Backward.
func (s *Store) SearchUsers(ctx context.Context, q accounts.UserSearch) ([]accounts.User, error) {
	col, ok := sortExpr[q.Sort]
	if !ok {
		return nil, fmt.Errorf("postgres: unknown sort key %q", q.Sort)
	}
	// Scanning backward is scanning forward in the opposite order.
	desc := q.Desc != q.Backward
	dir, cmp := "ASC", ">"
	if desc {
		dir, cmp = "DESC", "<"
	}
	args := []any{q.Contains, q.Limit}
	where := searchFilter
	if q.After != nil {
		var v any = q.After.Text
		if q.Sort == accounts.SortCreated {
			v = q.After.Time
		}
		args = append(args, v, q.After.ID)
		where += fmt.Sprintf(" AND (%s, id) %s ($3::%s, $4::bigint)", col.expr, cmp, col.cast)
	}
	sql := `SELECT ` + userColumns + ` FROM users WHERE ` + where +
		fmt.Sprintf(" ORDER BY %s %s, id %s LIMIT $2", col.expr, dir, dir)
	rows, err := s.q.Query(ctx, sql, args...)
	return queryUsers(rows, err, q.Limit)
}

// CountUsersMatching implements accounts.UserSearcher.
func (s *Store) CountUsersMatching(ctx context.Context, contains string) (int64, error) {
	var n int64
	if err := s.q.QueryRow(ctx, `SELECT count(*) FROM users WHERE `+searchFilter, contains).Scan(&n); err != nil {
		return 0, mapError(err)
	}
	return n, nil
}
