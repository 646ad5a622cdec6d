package accounts

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
	ActionTokenRevoked        AuditAction = "auth.token_revoked"
)

// AuditActions lists every action the domain writes, in the order a
// filter offers them.
func AuditActions() []AuditAction {
	return []AuditAction{
		ActionUserCreated, ActionUserUpdated, ActionUserDeleted, ActionUserPasswordChanged,
		ActionUserPasswordReset, ActionUserAvatarChanged, ActionLogin, ActionLoginFailed, ActionTokenRevoked,
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
