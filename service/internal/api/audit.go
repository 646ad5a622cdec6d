package api

import (
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/gopherops/gopherops/service/internal/accounts"
	"github.com/gopherops/gopherops/service/internal/web"
)

type auditEventResponse struct {
	ID         int64          `json:"id"`
	OccurredAt time.Time      `json:"occurred_at"`
	ActorID    *int64         `json:"actor_id"`
	ActorName  string         `json:"actor_name"`
	Action     string         `json:"action"`
	TargetID   *int64         `json:"target_id"`
	TargetName string         `json:"target_name"`
	RequestID  string         `json:"request_id"`
	ClientIP   string         `json:"client_ip"`
	Details    map[string]any `json:"details"`
}

func toAuditResponse(events []accounts.AuditEvent) []auditEventResponse {
	out := make([]auditEventResponse, 0, len(events))
	for _, e := range events {
		d := e.Details
		if d == nil {
			d = map[string]any{}
		}
		out = append(out, auditEventResponse{ID: e.ID, OccurredAt: e.OccurredAt.UTC(), ActorID: e.ActorID,
			ActorName: e.ActorName, Action: string(e.Action), TargetID: e.TargetID, TargetName: e.TargetName,
			RequestID: e.RequestID, ClientIP: e.ClientIP, Details: d})
	}
	return out
}

type auditResponse struct {
	Events     []auditEventResponse `json:"events"`
	NextBefore *int64               `json:"next_before"`
}

func (h *handlers) audit(c *gin.Context) (int, any, error) {
	limit, err := web.QueryLimit(c, "limit", accounts.DefaultListLimit, accounts.MaxListLimit)
	if err != nil {
		return noBody(err)
	}
	before, err := web.QueryInt64(c, "before")
	if err != nil {
		return noBody(err)
	}
	a, _ := web.Actor(c)
	events, err := h.Accounts.AuditTrail(c.Request.Context(), a, before, limit)
	if err != nil {
		return noBody(err)
	}
	resp := auditResponse{Events: toAuditResponse(events)}
	// A full page may have a successor; the client asks with ?before=next_before.
	if n := len(events); n > 0 && n == limit {
		next := events[n-1].ID
		resp.NextBefore = &next
	}
	return http.StatusOK, resp, nil
}
