package journey

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// UserAdministration is the admin's work through the API: create, list,
// patch with optimistic concurrency, reset passwords and delete users; root
// and one's own account cannot be deleted; every change lands in the audit
// trail.
func UserAdministration(t *testing.T, tg *Target) {
	admin := tg.AdminClient(t)
	root := tg.AdminUser(t)

	alice := NewUserSpec("alice", "user", Bool(false))
	bob := NewUserSpec("bob", "user", Bool(false))
	carol := NewUserSpec("carol", "user", nil)
	a := CreateUser(t, admin, alice)
	b := CreateUser(t, admin, bob)
	c := CreateUser(t, admin, carol)
	assert.False(t, a.ForcePasswordChange)
	assert.True(t, c.ForcePasswordChange, "force_password_change defaults to true")
	assert.False(t, a.IsRoot, "only the first admin is root")

	t.Run("duplicates are conflicts", func(t *testing.T) {
		dup := NewUserSpec("dup", "user", nil)
		dup.Username = alice.Username
		p := admin.Send(t, http.MethodPost, "/api/v1/users", dup).ExpectProblem(t, http.StatusConflict)
		assert.Equal(t, []string{"username"}, p.Fields())

		dup = NewUserSpec("dup", "user", nil)
		dup.Email = strings.ToUpper(alice.Email) // emails compare case-insensitively
		p = admin.Send(t, http.MethodPost, "/api/v1/users", dup).ExpectProblem(t, http.StatusConflict)
		assert.Equal(t, []string{"email"}, p.Fields())
	})

	t.Run("the list pages with a cursor", func(t *testing.T) {
		all := ListUsers(t, admin, 2)
		seen := map[int64]bool{}
		for _, u := range all {
			seen[u.ID] = true
		}
		for _, u := range []User{root, a, b, c} {
			assert.True(t, seen[u.ID], "user %s is listed", u.Username)
		}
	})

	t.Run("patch needs the current ETag", func(t *testing.T) {
		resp := admin.Get(t, a.Path())
		var cur User
		resp.ExpectJSON(t, http.StatusOK, &cur)
		require.Equal(t, ETag(cur.Version), resp.Header.Get("ETag"))

		patch := map[string]any{"email": "Renamed." + alice.Email}
		admin.Send(t, http.MethodPatch, a.Path(), patch).ExpectProblem(t, http.StatusPreconditionRequired)
		admin.Do(t, Request{Method: http.MethodPatch, Path: a.Path(), JSON: patch,
			Header: map[string]string{"If-Match": ETag(cur.Version + 100)}}).ExpectProblem(t, http.StatusPreconditionFailed)

		resp = admin.Do(t, Request{Method: http.MethodPatch, Path: a.Path(), JSON: patch,
			Header: map[string]string{"If-Match": resp.Header.Get("ETag")}})
		var patched User
		resp.ExpectJSON(t, http.StatusOK, &patched)
		assert.Equal(t, strings.ToLower("Renamed."+alice.Email), patched.Email, "emails are stored lower-cased")
		assert.Greater(t, patched.Version, cur.Version, "a change bumps the version")
		assert.Equal(t, ETag(patched.Version), resp.Header.Get("ETag"))

		// The ETag the edit started from is stale now.
		admin.Do(t, Request{Method: http.MethodPatch, Path: a.Path(), JSON: map[string]any{"username": alice.Username + "-x"},
			Header: map[string]string{"If-Match": ETag(cur.Version)}}).ExpectProblem(t, http.StatusPreconditionFailed)
	})

	t.Run("root cannot be demoted", func(t *testing.T) {
		resp := admin.Get(t, root.Path()).Expect(t, http.StatusOK)
		admin.Do(t, Request{Method: http.MethodPatch, Path: root.Path(), JSON: map[string]any{"role": "user"},
			Header: map[string]string{"If-Match": resp.Header.Get("ETag")}}).ExpectProblem(t, http.StatusForbidden)
	})

	t.Run("password reset", func(t *testing.T) {
		bobClient := NewClient(tg.BaseURL).WithBearer(SignIn(t, tg.BaseURL, bob.Credentials()).Token, "bob")
		bobClient.Get(t, "/api/v1/me").Expect(t, http.StatusOK)

		var generated struct {
			User              User    `json:"user"`
			TemporaryPassword *string `json:"temporary_password"`
		}
		admin.Send(t, http.MethodPost, b.Path()+"/password-reset", nil).ExpectJSON(t, http.StatusOK, &generated)
		require.NotNil(t, generated.TemporaryPassword, "an empty reset generates a password and returns it once")
		assert.GreaterOrEqual(t, len(*generated.TemporaryPassword), 15)
		assert.True(t, generated.User.ForcePasswordChange, "a reset password must be changed at next sign-in")
		bobClient.Get(t, "/api/v1/me").ExpectProblem(t, http.StatusUnauthorized) // every session revoked

		var chosen struct {
			User              User    `json:"user"`
			TemporaryPassword *string `json:"temporary_password"`
		}
		admin.Send(t, http.MethodPost, b.Path()+"/password-reset", map[string]string{"password": NewPassword()}).
			ExpectJSON(t, http.StatusOK, &chosen)
		assert.Nil(t, chosen.TemporaryPassword, "a password the admin chose is not echoed back")

		p := admin.Send(t, http.MethodPost, b.Path()+"/password-reset", map[string]string{"password": "short"}).
			ExpectProblem(t, http.StatusUnprocessableEntity)
		assert.Equal(t, []string{"password"}, p.Fields())
	})

	t.Run("delete", func(t *testing.T) {
		admin.Do(t, Request{Method: http.MethodDelete, Path: c.Path()}).Expect(t, http.StatusNoContent)
		admin.Get(t, c.Path()).ExpectProblem(t, http.StatusNotFound)
		admin.Do(t, Request{Method: http.MethodDelete, Path: c.Path()}).ExpectProblem(t, http.StatusNotFound)
		admin.Do(t, Request{Method: http.MethodDelete, Path: root.Path()}).ExpectProblem(t, http.StatusForbidden)
	})

	t.Run("another admin cannot delete root, itself, or reset root's password", func(t *testing.T) {
		second := CreateUser(t, admin, NewUserSpec("admin2", "admin", Bool(false)))
		// Promote alice (no password change pending) to admin, then act as her.
		resp := admin.Get(t, a.Path()).Expect(t, http.StatusOK)
		var promoted User
		admin.Do(t, Request{Method: http.MethodPatch, Path: a.Path(), JSON: map[string]any{"role": "admin"},
			Header: map[string]string{"If-Match": resp.Header.Get("ETag")}}).ExpectJSON(t, http.StatusOK, &promoted)
		require.Equal(t, "admin", promoted.Role)

		alicesAdmin := NewClient(tg.BaseURL).WithBearer(SignIn(t, tg.BaseURL, Credentials{Login: promoted.Email, Password: alice.Password}).Token, "alice (admin)")
		alicesAdmin.Get(t, "/api/v1/users?limit=1").Expect(t, http.StatusOK)
		assert.Contains(t, alicesAdmin.Do(t, Request{Method: http.MethodDelete, Path: root.Path()}).
			ExpectProblem(t, http.StatusForbidden).Detail, "root")
		alicesAdmin.Do(t, Request{Method: http.MethodDelete, Path: a.Path()}).ExpectProblem(t, http.StatusForbidden)
		alicesAdmin.Send(t, http.MethodPost, root.Path()+"/password-reset", nil).ExpectProblem(t, http.StatusForbidden)
		alicesAdmin.Do(t, Request{Method: http.MethodDelete, Path: second.Path()}).Expect(t, http.StatusNoContent)
	})

	t.Run("every change is audited", func(t *testing.T) {
		var trail struct {
			Events []struct {
				Action     string `json:"action"`
				TargetName string `json:"target_name"`
				ActorName  string `json:"actor_name"`
				RequestID  string `json:"request_id"`
			} `json:"events"`
		}
		admin.Get(t, "/api/v1/audit?limit=100").ExpectJSON(t, http.StatusOK, &trail)
		got := map[string]bool{}
		for _, e := range trail.Events {
			got[e.Action+" "+e.TargetName] = true
		}
		for _, want := range []string{
			"user.created " + alice.Username, "user.created " + bob.Username, "user.created " + carol.Username,
			"user.updated " + alice.Username, "user.password_reset " + bob.Username, "user.deleted " + carol.Username,
		} {
			assert.True(t, got[want], "audit event %q", want)
		}
	})
}

// NormalUser follows an account created by an admin: the forced password
// change at first sign-in, then everything a user may do for themselves and
// nothing an admin does.
func NormalUser(t *testing.T, tg *Target) {
	admin := tg.AdminClient(t)
	root := tg.AdminUser(t)
	spec := NewUserSpec("dave", "user", nil)
	u := CreateUser(t, admin, spec)

	t.Run("a wrong password gets no token", func(t *testing.T) {
		_, resp := signIn(t, tg.BaseURL, Credentials{Login: spec.Username, Password: NewPassword()}, nil)
		resp.ExpectProblem(t, http.StatusUnauthorized)
	})

	tok := SignIn(t, tg.BaseURL, spec.Credentials())
	user := NewClient(tg.BaseURL).WithBearer(tok.Token, "dave")
	require.True(t, tok.User.ForcePasswordChange)

	t.Run("until the password is changed only /me and the change work", func(t *testing.T) {
		var me User
		user.Get(t, "/api/v1/me").ExpectJSON(t, http.StatusOK, &me)
		assert.True(t, me.ForcePasswordChange)
		for _, path := range []string{"/api/v1/status", u.Path(), u.Path() + "/avatar"} {
			user.Get(t, path).ExpectProblem(t, http.StatusForbidden)
		}
	})

	t.Run("password change is validated", func(t *testing.T) {
		for _, tc := range []struct {
			name, current, next, field string
		}{
			{"wrong current password", NewPassword(), NewPassword(), "current_password"},
			{"too short", spec.Password, "short", "new_password"},
			{"a common password", spec.Password, "password123456789", "new_password"},
			{"contains the username", spec.Password, "x" + spec.Username + "-long-enough", "new_password"},
			{"unchanged", spec.Password, spec.Password, "new_password"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				p := user.Send(t, http.MethodPut, u.Path()+"/password", map[string]string{
					"current_password": tc.current, "new_password": tc.next,
				}).ExpectProblem(t, http.StatusUnprocessableEntity)
				assert.Equal(t, []string{tc.field}, p.Fields())
			})
		}
	})

	newPassword := NewPassword()
	var changed User
	user.Send(t, http.MethodPut, u.Path()+"/password", map[string]string{
		"current_password": spec.Password, "new_password": newPassword,
	}).ExpectJSON(t, http.StatusOK, &changed)
	assert.False(t, changed.ForcePasswordChange)

	t.Run("the user manages their own account", func(t *testing.T) {
		var st map[string]any
		user.Get(t, "/api/v1/status").ExpectJSON(t, http.StatusOK, &st)
		assert.Empty(t, st["recent_audit"], "the audit trail is for admins only")

		resp := user.Get(t, u.Path()).Expect(t, http.StatusOK)
		user.Do(t, Request{Method: http.MethodPatch, Path: u.Path(), JSON: map[string]any{"role": "admin"},
			Header: map[string]string{"If-Match": resp.Header.Get("ETag")}}).ExpectProblem(t, http.StatusForbidden)
		var renamed User
		user.Do(t, Request{Method: http.MethodPatch, Path: u.Path(), JSON: map[string]any{"username": spec.Username + "-2"},
			Header: map[string]string{"If-Match": resp.Header.Get("ETag")}}).ExpectJSON(t, http.StatusOK, &renamed)
		assert.Equal(t, spec.Username+"-2", renamed.Username)
		assert.Equal(t, "user", renamed.Role)
	})

	t.Run("the user cannot do admin things", func(t *testing.T) {
		other := CreateUser(t, admin, NewUserSpec("erin", "user", Bool(false)))
		for _, tc := range []struct {
			method, path string
			body         any
		}{
			{http.MethodGet, "/api/v1/users", nil},
			{http.MethodPost, "/api/v1/users", NewUserSpec("mallory", "admin", nil)},
			{http.MethodGet, "/api/v1/audit", nil},
			{http.MethodGet, other.Path(), nil},
			{http.MethodGet, root.Path(), nil},
			{http.MethodDelete, other.Path(), nil},
			{http.MethodDelete, root.Path(), nil},
			{http.MethodPost, other.Path() + "/password-reset", nil},
			{http.MethodPost, root.Path() + "/password-reset", nil},
			{http.MethodPut, root.Path() + "/password", map[string]string{"current_password": newPassword, "new_password": NewPassword()}},
			{http.MethodPut, other.Path() + "/avatar", nil},
		} {
			t.Run(tc.method+" "+strings.Replace(tc.path, itoa(other.ID), "{other}", 1), func(t *testing.T) {
				req := Request{Method: tc.method, Path: tc.path, JSON: tc.body}
				if tc.method == http.MethodPut && strings.HasSuffix(tc.path, "/avatar") {
					req = Request{Method: tc.method, Path: tc.path, Body: PNG(t, 8, 8), ContentType: "image/png"}
				}
				user.Do(t, req).ExpectProblem(t, http.StatusForbidden)
			})
		}
	})

	t.Run("an admin reset revokes the user's tokens", func(t *testing.T) {
		admin.Send(t, http.MethodPost, u.Path()+"/password-reset", nil).Expect(t, http.StatusOK)
		user.Get(t, "/api/v1/me").ExpectProblem(t, http.StatusUnauthorized)
	})
}
