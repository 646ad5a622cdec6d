package ui

import (
	"encoding/csv"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/gopherops/gopherops/service/internal/accounts"
	"github.com/gopherops/gopherops/service/internal/web"
)

// auditPageSize is how many events one page of the trail shows.
const auditPageSize = 25

// auditPages are the audit trail, its CSV export and a user's history.
type auditPages struct{ r *responder }

// rangeLayout is how a browser's datetime-local field writes a time.
const rangeLayout = "2006-01-02T15:04"

// maxOffset bounds a time zone's offset from UTC, in minutes.
const maxOffset = 14 * 60

// auditQuery is the state of the audit page its address carries. From and
// To are kept as typed, in the time zone TZO minutes east of UTC that the
// page's script reports (UTC without a script).
type auditQuery struct {
	Actor  string
	Action accounts.AuditAction
	Target string
	User   int64
	From   string
	To     string
	TZO    int
	Page   int
}

// parseAuditQuery reads the page's state from an address's query; what it
// cannot use is left out and named in problem.
func parseAuditQuery(v url.Values) (q auditQuery, f accounts.AuditFilter, problem string) {
	q = auditQuery{Actor: strings.TrimSpace(v.Get("actor")), Action: accounts.AuditAction(v.Get("action")),
		Target: strings.TrimSpace(v.Get("target")), From: v.Get("from"), To: v.Get("to"), Page: 1}
	var bad []string
	for _, s := range []*string{&q.Actor, &q.Target} {
		if !storable(*s) || len(*s) > 200 {
			*s = ""
			bad = append(bad, "a name")
		}
	}
	if q.Action != "" && !q.Action.Known() {
		q.Action = ""
		bad = append(bad, "the action")
	}
	if s := v.Get("user"); s != "" {
		id, err := strconv.ParseInt(s, 10, 64)
		if err != nil || id < 1 {
			bad = append(bad, "the user")
		} else {
			q.User = id
		}
	}
	if s := v.Get("tzo"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < -maxOffset || n > maxOffset {
			bad = append(bad, "the time zone")
		} else {
			q.TZO = n
		}
	}
	zone := time.FixedZone("", q.TZO*60)
	var from, to time.Time
	for _, r := range []struct {
		s   *string
		t   *time.Time
		end bool
	}{{&q.From, &from, false}, {&q.To, &to, true}} {
		if *r.s == "" {
			continue
		}
		t, err := time.ParseInLocation(rangeLayout, *r.s, zone)
		if err != nil {
			*r.s = ""
			bad = append(bad, "a time")
			continue
		}
		if r.end {
			t = t.Add(time.Minute) // "to 12:30" includes 12:30
		}
		*r.t = t.UTC()
	}
	if !from.IsZero() && !to.IsZero() && !from.Before(to) {
		q.To, to = "", time.Time{}
		bad = append(bad, "the end of the range, which was before its start")
	}
	if s := v.Get("page"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > accounts.MaxPage {
			bad = append(bad, "the page number")
		} else {
			q.Page = n
		}
	}
	if len(bad) > 0 {
		problem = "This address has a value the trail cannot use for " + strings.Join(dedupe(bad), " and ") + "; it was left out."
	}
	f = accounts.AuditFilter{Actor: q.Actor, Action: q.Action, Target: q.Target, User: q.User, From: from, To: to}
	return q, f, problem
}

func dedupe(s []string) []string {
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}

// Filtered reports whether the trail shows only some events.
func (q auditQuery) Filtered() bool {
	return q.Actor != "" || q.Action != "" || q.Target != "" || q.User != 0 || q.From != "" || q.To != ""
}

func (q auditQuery) values() url.Values {
	v := url.Values{}
	for k, s := range map[string]string{"actor": q.Actor, "action": string(q.Action), "target": q.Target, "from": q.From, "to": q.To} {
		if s != "" {
			v.Set(k, s)
		}
	}
	if q.User != 0 {
		v.Set("user", strconv.FormatInt(q.User, 10))
	}
	if q.TZO != 0 && (q.From != "" || q.To != "") {
		v.Set("tzo", strconv.Itoa(q.TZO))
	}
	if q.Page > 1 {
		v.Set("page", strconv.Itoa(q.Page))
	}
	return v
}

// Href is the trail's address with q's state.
func (q auditQuery) Href() string { return withQuery("/audit", q.values()) }

// CSV is the export's address for q's filters (every page).
func (q auditQuery) CSV() string {
	q.Page = 1
	return withQuery("/audit.csv", q.values())
}

func withQuery(path string, v url.Values) string {
	if len(v) == 0 {
		return path
	}
	return path + "?" + v.Encode()
}

// auditData is the audit page's view model.
type auditData struct {
	Query   auditQuery
	Events  []accounts.AuditEvent
	Range   string
	Pages   []pageLink
	Prev    string
	Next    string
	Actions []option
	Subject string // the name of the user the trail is narrowed to
}

func (h auditPages) page(c *gin.Context) (result, error) {
	q, f, problem := parseAuditQuery(c.Request.URL.Query())
	a, _ := web.Actor(c)
	trail, err := h.r.deps.Accounts.SearchAudit(c.Request.Context(), a,
		accounts.AuditQuery{AuditFilter: f, Page: q.Page, Limit: auditPageSize})
	if err != nil {
		return nil, err
	}
	q.Page = trail.Page
	d := auditData{Query: q, Events: trail.Events, Actions: actionOptions(q.Action),
		Range: rangeText(trail.Offset, len(trail.Events), trail.Total, q.Filtered(), "event")}
	d.Pages = pageLinks(trail.Page, trail.Pages, func(n int) string { p := q; p.Page = n; return p.Href() })
	if trail.Page > 1 {
		p := q
		p.Page--
		d.Prev = p.Href()
	}
	if trail.Page < trail.Pages {
		p := q
		p.Page++
		d.Next = p.Href()
	}
	title := "Audit trail"
	if q.User != 0 {
		d.Subject = subjectName(q.User, trail.Events)
		if u, err := h.r.deps.Accounts.GetUser(c.Request.Context(), a, q.User); err == nil {
			d.Subject = u.Username
		}
		title = "History of " + d.Subject
	}
	p := page{Name: "audit", Title: title, Data: d}
	if problem != "" {
		p.Status, p.Alert = http.StatusBadRequest, problem
	}
	return p, nil
}

// subjectName is the name the trail knows user id by: a deleted user has
// no page left, but the events kept their name.
func subjectName(id int64, events []accounts.AuditEvent) string {
	for _, e := range events {
		if e.TargetID != nil && *e.TargetID == id && e.TargetName != "" {
			return e.TargetName
		}
		if e.ActorID != nil && *e.ActorID == id && e.ActorName != "" {
			return e.ActorName
		}
	}
	return "user " + strconv.FormatInt(id, 10)
}

func actionOptions(selected accounts.AuditAction) []option {
	out := []option{{Value: "", Label: "Any action", Selected: selected == ""}}
	for _, a := range accounts.AuditActions() {
		out = append(out, option{Value: string(a), Label: auditLabel(a), Selected: a == selected})
	}
	return out
}

// csvHeader names the export's columns.
var csvHeader = []string{"id", "time_utc", "actor_id", "actor", "action", "description", "target_id", "target",
	"client_ip", "user_agent", "request_id", "details"}

// export is the filtered trail as CSV, every page of it, newest first.
func (h auditPages) export(c *gin.Context) (result, error) {
	_, f, problem := parseAuditQuery(c.Request.URL.Query())
	if problem != "" {
		return nil, web.BadRequest("%s", strings.TrimSuffix(problem, "."))
	}
	a, _ := web.Actor(c)
	ctx := c.Request.Context()
	name := "gopherops-audit-" + time.Now().UTC().Format("20060102-150405") + ".csv"
	return stream{Filename: name, ContentType: "text/csv; charset=utf-8", Write: func(w io.Writer) error {
		cw := csv.NewWriter(w)
		started := false
		err := h.r.deps.Accounts.ExportAudit(ctx, a, f, func(e accounts.AuditEvent) error {
			if !started {
				started = true
				if err := cw.Write(csvHeader); err != nil {
					return err
				}
			}
			return cw.Write(auditRecord(e))
		})
		if err != nil {
			return err
		}
		if !started {
			if err := cw.Write(csvHeader); err != nil {
				return err
			}
		}
		cw.Flush()
		return cw.Error()
	}}, nil
}

// auditRecord is one event as a CSV row. Text that people or programs
// chose (names, user agents, details) cannot start a spreadsheet formula.
func auditRecord(e accounts.AuditEvent) []string {
	id := func(p *int64) string {
		if p == nil {
			return ""
		}
		return strconv.FormatInt(*p, 10)
	}
	details := "{}"
	if len(e.Details) > 0 {
		if b, err := json.Marshal(e.Details); err == nil {
			details = string(b)
		}
	}
	return []string{strconv.FormatInt(e.ID, 10), e.OccurredAt.UTC().Format(time.RFC3339), id(e.ActorID), inert(e.ActorName),
		string(e.Action), auditLabel(e.Action), id(e.TargetID), inert(e.TargetName), inert(e.ClientIP), inert(e.UserAgent),
		inert(e.RequestID), inert(details)}
}

// inert keeps a spreadsheet from reading s as a formula: a cell starting
// with = + - @ or a tab or carriage return gets a leading apostrophe.
func inert(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}
