package abuse

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gopherops/gopherops/test/journey"
)

// TestHeadAnswersLikeGet: HEAD on a GET route answers as GET would (status,
// ETag, content type), without a body.
func TestHeadAnswersLikeGet(t *testing.T) {
	st := newStack(t)
	anon := st.from(t)
	for _, c := range []struct {
		path string
		as   *caller
	}{
		{st.rootUser.Path(), st.root},
		{"/api/v1/me", st.root},
		{"/healthz", anon},
		{"/", anon},
	} {
		get := c.as.get(t, c.path)
		require.Equal(t, http.StatusOK, get.Status, "GET %s:\n%s", c.path, get)
		head := c.as.do(t, journey.Request{Method: http.MethodHead, Path: c.path})
		if !assert.Equal(t, http.StatusOK, head.Status, "HEAD %s answers like GET:\n%s", c.path, head) {
			continue
		}
		assert.Empty(t, head.Body, "HEAD %s has no body", c.path)
		assert.Equal(t, get.Header.Get("ETag"), head.Header.Get("ETag"), "HEAD %s: same ETag as GET", c.path)
		assert.Equal(t, get.Header.Get("Content-Type"), head.Header.Get("Content-Type"), "HEAD %s: same content type as GET", c.path)
	}
}

// TestIfMatchFollowsRFC9110 patches a user with each form of If-Match: a
// well-formed tag that is not current is 412 (and changes nothing), "*" and a
// list holding the current tag are accepted, a malformed header is 400.
func TestIfMatchFollowsRFC9110(t *testing.T) {
	st := newStack(t)
	m := st.newMember(t, "ifmatch", "user")
	patch := func(ifMatch string, email string) *journey.Response {
		return st.root.do(t, journey.Request{Method: http.MethodPatch, Path: m.user.Path(),
			JSON: map[string]string{"email": email}, Header: map[string]string{"If-Match": ifMatch}})
	}
	current := func() journey.User {
		var u journey.User
		st.root.get(t, m.user.Path()).ExpectJSON(t, http.StatusOK, &u)
		return u
	}

	before := current()
	r := patch(`"stale-0"`, "stale@example.com")
	assert.Equal(t, http.StatusPreconditionFailed, r.Status, "a well-formed tag that is not current:\n%s", r)
	assert.Equal(t, before, current(), "a failed precondition changes nothing")

	r = patch("stale", "malformed@example.com")
	assert.Equal(t, http.StatusBadRequest, r.Status, "a malformed If-Match:\n%s", r)
	if r.Status >= 400 {
		problemOf(t, r)
	}
	assert.Equal(t, before, current(), "a malformed precondition changes nothing")

	r = patch("*", "star@example.com")
	if assert.Equal(t, http.StatusOK, r.Status, "If-Match: * (the user exists):\n%s", r) {
		assert.Equal(t, "star@example.com", current().Email)
	}

	u := current()
	r = patch(`"stale-0", `+journey.ETag(u.Version)+`, "stale-1"`, "listed@example.com")
	if assert.Equal(t, http.StatusOK, r.Status, "a list holding the current tag:\n%s", r) {
		assert.Equal(t, "listed@example.com", current().Email)
	}
}

// TestOnlyRootRenamesRoot: another admin cannot change root's username or
// email (403, nothing changes); root can.
func TestOnlyRootRenamesRoot(t *testing.T) {
	st := newStack(t)
	other := st.newMember(t, "admin2", "admin")
	root := func() journey.User {
		var u journey.User
		st.root.get(t, st.rootUser.Path()).ExpectJSON(t, http.StatusOK, &u)
		return u
	}
	before := root()
	for _, body := range []map[string]string{
		{"username": "not-root-any-more"},
		{"email": "hijacked@example.com"},
	} {
		cur := root() // the current tag: only the actor can be the reason for a refusal
		r := other.api.do(t, journey.Request{Method: http.MethodPatch, Path: st.rootUser.Path(), JSON: body,
			Header: map[string]string{"If-Match": journey.ETag(cur.Version)}})
		assert.Equal(t, http.StatusForbidden, r.Status, "a non-root admin changes root's %v:\n%s", body, r)
		if r.Status >= 400 {
			problemOf(t, r)
		}
	}
	cur := root()
	assert.Equal(t, before, cur, "root's account is unchanged")

	r := st.root.do(t, journey.Request{Method: http.MethodPatch, Path: st.rootUser.Path(),
		JSON:   map[string]string{"username": before.Username + "-2", "email": "root-2-" + before.Email},
		Header: map[string]string{"If-Match": journey.ETag(cur.Version)}})
	r.Expect(t, http.StatusOK)
	after := root()
	assert.Equal(t, before.Username+"-2", after.Username, "root renames itself")
	assert.Equal(t, "root-2-"+before.Email, after.Email, "root changes its own email")
}
