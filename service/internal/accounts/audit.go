package accounts

import (
	"context"
	"strings"
	"time"
	"unicode/utf8"
)

// AuditAction names what an audit event records. The trail stores it as
// text ("user.created"); the constants below are every action the domain
// writes, so a surface that labels actions can key its labels by them and a
// test can prove none is missing.
type AuditAction string

// The actions of the audit trail.
const (
	ActionUserCreated         AuditAction = "user.created"
	ActionUserUpdated         AuditAction = "user.updated"
	ActionUserDeleted         AuditAction = "user.deleted"
	ActionUserPasswordChanged AuditAction = "user.password_changed"
	ActionUserPasswordReset   AuditAction = "user.password_reset"
	ActionUserAvatarChanged   AuditAction = "user.avatar_changed"
	ActionLogin               AuditAction = "auth.login"
	ActionLoginFailed         AuditAction = "auth.login_failed"
	ActionTokenRevoked        AuditAction = "auth.token_revoked" //nolint:gosec // G101: an audit action's name, not a credential
	ActionUserDisabled        AuditAction = "user.disabled"
	ActionUserEnabled         AuditAction = "user.enabled"
	ActionLoginDisabled       AuditAction = "auth.login_disabled"
	ActionSessionRevoked      AuditAction = "session.revoked"
	ActionSessionsRevoked     AuditAction = "session.revoked_all"
	ActionLoginSSO            AuditAction = "auth.login_sso"
	ActionIdentityLinked      AuditAction = "auth.identity_linked"
)

// AuditActions lists every action the domain writes, in the order a
// filter offers them.
func AuditActions() []AuditAction {
	return []AuditAction{
		ActionUserCreated, ActionUserUpdated, ActionUserDeleted, ActionUserPasswordChanged,
		ActionUserPasswordReset, ActionUserAvatarChanged, ActionUserDisabled, ActionUserEnabled,
		ActionLogin, ActionLoginSSO, ActionLoginFailed, ActionLoginDisabled, ActionIdentityLinked,
		ActionTokenRevoked, ActionSessionRevoked, ActionSessionsRevoked,
	}
}

// Known reports whether a is one of AuditActions.
func (a AuditAction) Known() bool {
	for _, k := range AuditActions() {
		if a == k {
			return true
		}
	}
	return false
}

// MaxAuditExport bounds one CSV export: the newest events first.
const MaxAuditExport = 100_000

// maxFilterText bounds a name filter: names are at most 50 characters.
const maxFilterText = 100

// AuditFilter is which events of the trail to show; zero fields match any.
type AuditFilter struct {
	Actor  string // the actor's name contains this, in any case
	Action AuditAction
	Target string // the target's name contains this, in any case
	User   int64  // events by or about this user
	From   time.Time
	To     time.Time // exclusive
}

// AuditQuery asks for one numbered page of the filtered trail, newest first.
type AuditQuery struct {
	AuditFilter
	Page  int // from 1; 0 is the first
	Limit int
}

// AuditPage is one page of an AuditQuery and where it lies in the whole.
type AuditPage struct {
	Events []AuditEvent
	Total  int64
	Page   int
	Pages  int
	Offset int
}

// AuditSearcher is the store capability behind SearchAudit and ExportAudit.
type AuditSearcher interface {
	// SearchAuditEvents returns the events matching f, newest first, after skipping offset.
	SearchAuditEvents(ctx context.Context, f AuditFilter, offset, limit int) ([]AuditEvent, error)
	CountAuditEvents(ctx context.Context, f AuditFilter) (int64, error)
	// EachAuditEvent calls fn with up to limit events matching f, newest
	// first, stopping at fn's first error.
	EachAuditEvent(ctx context.Context, f AuditFilter, limit int, fn func(AuditEvent) error) error
}

// checkAuditFilter validates f, lower-casing its names. The names are
// checked before lower-casing, which would turn bytes that are not UTF-8
// into U+FFFD and so let them through.
func checkAuditFilter(v *ValidationError, f *AuditFilter) {
	f.Actor, f.Target = strings.TrimSpace(f.Actor), strings.TrimSpace(f.Target)
	for field, s := range map[string]string{"actor": f.Actor, "target": f.Target} {
		switch {
		case !utf8.ValidString(s) || strings.ContainsRune(s, 0):
			v.add(field, "must be plain text")
		case utf8.RuneCountInString(s) > maxFilterText:
			v.add(field, "must be at most 100 characters")
		}
	}
	f.Actor, f.Target = strings.ToLower(f.Actor), strings.ToLower(f.Target)
	if f.Action != "" && !f.Action.Known() {
		v.add("action", "is not an action of the audit trail")
	}
	if f.User < 0 {
		v.add("user", "must be a user id")
	}
	if !f.From.IsZero() && !f.To.IsZero() && !f.From.Before(f.To) {
		v.add("to", "must be after the start of the range")
	}
}

// SearchAudit returns one page of the filtered trail, newest first; a page
// past the last is the last. Only admins may.
func (s *Service) SearchAudit(ctx context.Context, a Actor, q AuditQuery) (AuditPage, error) {
	if err := requireAdmin(a); err != nil {
		return AuditPage{}, err
	}
	searcher, ok := s.store.(AuditSearcher)
	if !ok {
		return AuditPage{}, ErrSearchUnsupported
	}
	v := &ValidationError{}
	checkAuditFilter(v, &q.AuditFilter)
	if q.Limit == 0 {
		q.Limit = DefaultListLimit
	}
	if q.Limit < 1 || q.Limit > MaxListLimit {
		v.add("limit", "must be between 1 and 100")
	}
	if q.Page == 0 {
		q.Page = 1
	}
	if q.Page < 1 || q.Page > MaxPage {
		v.add("page", "must be a page number from 1")
	}
	if err := v.orNil(); err != nil {
		return AuditPage{}, err
	}
	total, err := searcher.CountAuditEvents(ctx, q.AuditFilter)
	if err != nil {
		return AuditPage{}, err
	}
	p := AuditPage{Total: total, Pages: max(int((total+int64(q.Limit)-1)/int64(q.Limit)), 1)}
	p.Page = min(q.Page, p.Pages)
	p.Offset = (p.Page - 1) * q.Limit
	if total == 0 {
		return p, nil
	}
	if p.Events, err = searcher.SearchAuditEvents(ctx, q.AuditFilter, p.Offset, q.Limit); err != nil {
		return AuditPage{}, err
	}
	return p, nil
}

// ExportAudit calls fn with every event matching f, newest first, up to
// MaxAuditExport of them. Only admins may.
func (s *Service) ExportAudit(ctx context.Context, a Actor, f AuditFilter, fn func(AuditEvent) error) error {
	if err := requireAdmin(a); err != nil {
		return err
	}
	searcher, ok := s.store.(AuditSearcher)
	if !ok {
		return ErrSearchUnsupported
	}
	v := &ValidationError{}
	checkAuditFilter(v, &f)
	if err := v.orNil(); err != nil {
		return err
	}
	return searcher.EachAuditEvent(ctx, f, MaxAuditExport, fn)
}
