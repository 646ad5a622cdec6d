package api

import (
	"context"
	"net/http"
	"strconv"

	"github.com/gopherops/gopherops/service/internal/accounts"
)

// UserLookup is the one query the bare baseline runs.
type UserLookup interface {
	UserByID(ctx context.Context, id int64) (accounts.User, error)
}

// BareUserHandler answers GET /debug/bare/users/{id} with the same query and
// JSON as GET /api/v1/users/{id} but none of the router, middleware or
// authentication: the baseline `make bench` divides by. It is mounted on the
// admin listener only when APP_ENV=test, never in production.
func BareUserHandler(users UserLookup) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
		if err != nil {
			http.Error(w, "bad id", http.StatusBadRequest)
			return
		}
		u, err := users.UserByID(r.Context(), id)
		if err != nil {
			http.Error(w, "lookup failed", http.StatusNotFound)
			return
		}
		writeAppended(w, http.StatusOK, toUserResponse(u))
	})
}
