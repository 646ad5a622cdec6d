package ui

import (
	"github.com/gin-gonic/gin"

	"github.com/gopherops/gopherops/service/internal/accounts"
	"github.com/gopherops/gopherops/service/internal/status"
	"github.com/gopherops/gopherops/service/internal/web"
)

// dashboardData is the dashboard's view model.
type dashboardData struct {
	status.Snapshot
	Audit  []accounts.AuditEvent
	Charts []chart
}

// dashboardPages are the dashboard and its live part.
type dashboardPages struct{ r *responder }

func (h dashboardPages) view(c *gin.Context) dashboardData {
	a, _ := web.Actor(c)
	snap := h.r.deps.Status.Snapshot(c.Request.Context())
	d := dashboardData{Snapshot: snap, Charts: charts(h.r.deps.Status.History(snap.ServerTime))}
	if a.User.IsAdmin() && snap.Database.Up {
		d.Audit, _ = h.r.deps.Accounts.AuditTrail(c.Request.Context(), a, 0, 10)
	}
	return d
}

func (h dashboardPages) page(c *gin.Context) (result, error) {
	return page{Name: "dashboard", Title: "Dashboard", Data: h.view(c)}, nil
}

// live is the dashboard's live part alone, which the page's script fetches
// every few seconds and swaps in.
func (h dashboardPages) live(c *gin.Context) (result, error) {
	return fragment{Name: "dashboard", Block: "live", Data: h.view(c)}, nil
}
