package postgres

import (
	"context"
	"fmt"
	"strings"

	"github.com/gopherops/gopherops/service/internal/accounts"
)

var _ accounts.UserSearcher = (*Store)(nil)

// sortKeys are the SQL expressions each order sorts by, most significant
// first; the ID always breaks ties. Names and emails use the natural_order
// collation (migration 000006): digit runs by value, "gunnar6" before
// "gunnar58". Only these fixed strings are ever put into a query.
var sortKeys = map[accounts.SortKey][]string{
	accounts.SortUsername: {"username COLLATE natural_order", "id"},
	accounts.SortEmail:    {"email COLLATE natural_order", "id"},
	accounts.SortRole:     {"role", "username COLLATE natural_order", "id"},
	accounts.SortCreated:  {"created_at", "id"},
}

// userFilter matches the filter's arguments $1 (a lower-cased substring of
// the username or the email, which is stored lower-cased; strpos needs no
// escaping of LIKE's wildcards), $2 (a role) and $3 (a state); "" matches
// any. A disabled account is only ever in the disabled state.
const userFilter = `($1 = '' OR strpos(lower(username), $1) > 0 OR strpos(email, $1) > 0)
	AND ($2 = '' OR role = $2)
	AND ($3 = ''
		OR ($3 = 'active' AND NOT force_password_change AND disabled_at IS NULL)
		OR ($3 = 'must_change_password' AND force_password_change AND disabled_at IS NULL)
		OR ($3 = 'disabled' AND disabled_at IS NOT NULL))`

func filterArgs(f accounts.UserFilter) []any {
	return []any{f.Contains, string(f.Role), string(f.State)}
}

func orderBy(keys []string, desc bool) string {
	dir := " ASC"
	if desc {
		dir = " DESC"
	}
	return strings.Join(keys, dir+", ") + dir
}

// SearchUsers implements accounts.UserSearcher.
func (s *Store) SearchUsers(ctx context.Context, q accounts.UserSearch) ([]accounts.User, error) {
	keys, ok := sortKeys[q.Sort]
	if !ok {
		return nil, fmt.Errorf("postgres: unknown sort key %q", q.Sort)
	}
	sql := `SELECT ` + userColumns + ` FROM users WHERE ` + userFilter +
		` ORDER BY ` + orderBy(keys, q.Desc) + ` OFFSET $4 LIMIT $5`
	rows, err := s.q.Query(ctx, sql, append(filterArgs(q.Filter), q.Offset, q.Limit)...)
	return queryUsers(rows, err, q.Limit)
}

// CountUsersMatching implements accounts.UserSearcher.
func (s *Store) CountUsersMatching(ctx context.Context, f accounts.UserFilter) (int64, error) {
	var n int64
	if err := s.q.QueryRow(ctx, `SELECT count(*) FROM users WHERE `+userFilter, filterArgs(f)...).Scan(&n); err != nil {
		return 0, mapError(err)
	}
	return n, nil
}

// UserRank implements accounts.UserSearcher: the users of the filter whose
// sort keys come before the target's, compared as one row in the order's
// direction.
func (s *Store) UserRank(ctx context.Context, q accounts.UserSearch, id int64) (int64, bool, error) {
	keys, ok := sortKeys[q.Sort]
	if !ok {
		return 0, false, fmt.Errorf("postgres: unknown sort key %q", q.Sort)
	}
	cmp := "<"
	if q.Desc {
		cmp = ">"
	}
	targetKeys := make([]string, len(keys))
	aliases := make([]string, len(keys))
	for i, k := range keys {
		aliases[i] = fmt.Sprintf("t.k%d", i)
		targetKeys[i] = fmt.Sprintf("%s AS k%d", k, i)
	}
	sql := `WITH t AS (SELECT ` + strings.Join(targetKeys, ", ") + ` FROM users WHERE id = $4 AND ` + userFilter + `)
		SELECT (SELECT count(*) FROM users, t WHERE ` + userFilter + ` AND (` + strings.Join(keys, ", ") + `) ` + cmp +
		` (` + strings.Join(aliases, ", ") + `)), EXISTS (SELECT 1 FROM t)`
	var rank int64
	var found bool
	if err := s.q.QueryRow(ctx, sql, append(filterArgs(q.Filter), id)...).Scan(&rank, &found); err != nil {
		return 0, false, mapError(err)
	}
	return rank, found, nil
}
