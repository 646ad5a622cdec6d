package ui

import (
	"bytes"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/gopherops/gopherops/service/internal/accounts"
	"github.com/gopherops/gopherops/service/internal/web"
)

// usersPageFixture is the users page of an admin with 20 rows, as the
// benchmark of `make bench` loads it: what rendering alone costs.
func usersPageFixture(b *testing.B) (*responder, page, accounts.Actor) {
	b.Helper()
	gin.SetMode(gin.ReleaseMode)
	key := bytes.Repeat([]byte{7}, 32)
	auth := web.NewAuth(nil, false, key)
	fl, err := newFlashSealer(key, false, auth)
	if err != nil {
		b.Fatal(err)
	}
	r := &responder{auth: auth, log: slog.New(slog.DiscardHandler), flash: fl}
	admin := accounts.User{ID: 1, Username: "root", Email: "root@example.com", Role: accounts.RoleAdmin, IsRoot: true}
	q := usersQuery{Sort: accounts.SortUsername, Page: 2}
	d := usersData{Query: q, Columns: sortColumns(q), Roles: roleOptions(""), States: stateOptions(""), Actions: bulkActions,
		Range: rangeText(20, 20, 200, false, "user"), Back: q.Href(), BackQuery: url.QueryEscape(q.Href()), Selection: true}
	created := time.Now().Add(-72 * time.Hour)
	for i := range 20 {
		u := accounts.User{ID: int64(i + 2), Username: fmt.Sprintf("user%03d", i+20), Email: fmt.Sprintf("user%03d@example.com", i+20),
			Role: accounts.RoleUser, Version: 1, CreatedAt: created, ForcePasswordChange: i%3 == 0}
		d.Users = append(d.Users, userRow{User: u, Initial: "U", CanReset: true, CanDelete: true, Selectable: true})
	}
	d.Pages = pageLinks(2, 10, func(n int) string { return q.AtPage(n).Href() })
	return r, page{Name: "users", Title: "Users", Data: d}, accounts.Actor{User: admin}
}

// BenchmarkUsersPage renders the users page (20 rows) as the adapter
// writes it, after the handler: the template's share of a request.
func BenchmarkUsersPage(b *testing.B) {
	r, p, a := usersPageFixture(b)
	req := httptest.NewRequest(http.MethodGet, "/users?page=2", nil)
	b.ReportAllocs()
	var size int
	for b.Loop() {
		w := httptest.NewRecorder()
		c, _ := gin.CreateTestContext(w)
		c.Request = req
		web.SetActor(c, a)
		p.write(r, c)
		size = w.Body.Len()
	}
	b.ReportMetric(float64(size), "bytes/page")
}
