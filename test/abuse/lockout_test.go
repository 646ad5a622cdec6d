package abuse

import (
	"net/http"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gopherops/gopherops/test/journey"
)

// failureLimit is how many failed password checks one source address gets
// for one account before it is throttled (OWASP: per account and source).
const failureLimit = 5

// wrong returns the credentials with a wrong password.
func wrong(cr journey.Credentials) journey.Credentials {
	return journey.Credentials{Login: cr.Login, Password: cr.Password + "-not"}
}

// expectThrottled asserts a 429 problem with a Retry-After.
func expectThrottled(t testing.TB, r *journey.Response, what string) {
	t.Helper()
	require.Equal(t, http.StatusTooManyRequests, r.Status, "%s must be throttled (429):\n%s", what, r)
	problemOf(t, r)
	retryAfter(t, r)
}

// TestLockoutIsPerAccountAndSource guesses an account's password from one
// address until it is throttled: that address gets 429 with Retry-After for
// the account even with the right password, while the owner, at another
// address, signs in.
func TestLockoutIsPerAccountAndSource(t *testing.T) {
	st := newStack(t)
	victim := st.newMember(t, "victim", "user")

	attacker := st.from(t)
	for i := range failureLimit {
		r := attacker.trySignIn(t, wrong(victim.cred))
		require.Equal(t, http.StatusUnauthorized, r.Status, "wrong password %d of %d:\n%s", i+1, failureLimit, r)
	}
	expectThrottled(t, attacker.trySignIn(t, wrong(victim.cred)), "a 6th wrong guess from the same address")
	expectThrottled(t, attacker.trySignIn(t, victim.cred), "the right password from the guessing address")

	owner := st.from(t)
	r := owner.trySignIn(t, victim.cred)
	assert.Equal(t, http.StatusCreated, r.Status, "the owner, at another address, is not locked out by someone else's guesses:\n%s", r)
	// And through the browser form as well.
	st.browserSignIn(t, victim.cred, nil)
}

// TestAdminResetClearsLockout: after an address is throttled for an account,
// an admin's password reset clears it, so the user can sign in with the
// temporary password from that very address (issue 14, item 2).
func TestAdminResetClearsLockout(t *testing.T) {
	st := newStack(t)
	victim := st.newMember(t, "reset", "user")
	home := st.from(t)
	for range failureLimit {
		home.trySignIn(t, wrong(victim.cred)).Expect(t, http.StatusUnauthorized)
	}
	expectThrottled(t, home.trySignIn(t, victim.cred), "the right password after 5 failures from one address")

	var reset struct {
		TemporaryPassword *string `json:"temporary_password"`
	}
	st.root.do(t, journey.Request{Method: http.MethodPost, Path: victim.user.Path() + "/password-reset"}).
		ExpectJSON(t, http.StatusOK, &reset)
	require.NotNil(t, reset.TemporaryPassword, "a reset without a body generates a temporary password")
	r := home.trySignIn(t, journey.Credentials{Login: victim.cred.Login, Password: *reset.TemporaryPassword})
	assert.Equal(t, http.StatusCreated, r.Status, "an admin's reset clears the throttle:\n%s", r)
}

// TestConcurrentGuessesAreCountedExactly sends 30 wrong guesses for one
// account at once, 10 from each of 3 addresses: the server may verify at
// most 5 per address, however the requests interleave.
func TestConcurrentGuessesAreCountedExactly(t *testing.T) {
	const addrs, perAddr = 3, 10
	st := newStack(t)
	victim := st.newMember(t, "burst", "user")
	before := st.verifications(t)

	type answer struct {
		addr   string
		status int
		err    error
	}
	answers := make(chan answer, addrs*perAddr)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for range addrs {
		c := st.from(t)
		for range perAddr {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				r, err := c.DoE(journey.Request{Method: http.MethodPost, Path: "/api/v1/auth/tokens", JSON: tokenRequest(wrong(victim.cred))})
				a := answer{addr: c.addr, err: err}
				if err == nil {
					a.status = r.Status
				}
				answers <- a
			}()
		}
	}
	close(start)
	wg.Wait()
	close(answers)

	byAddr := map[string]map[int]int{}
	for a := range answers {
		require.NoError(t, a.err, "guess from %s", a.addr)
		if byAddr[a.addr] == nil {
			byAddr[a.addr] = map[int]int{}
		}
		byAddr[a.addr][a.status]++
	}
	verified := st.verifications(t) - before
	t.Logf("answers by address: %v; password verifications: %.0f", byAddr, verified)
	for addr, statuses := range byAddr {
		assert.Equal(t, perAddr, statuses[http.StatusUnauthorized]+statuses[http.StatusTooManyRequests],
			"every guess from %s is refused (401) or throttled (429): %v", addr, statuses)
		assert.LessOrEqual(t, statuses[http.StatusUnauthorized], failureLimit,
			"at most %d guesses from %s are checked: %v", failureLimit, addr, statuses)
	}
	assert.LessOrEqual(t, verified, float64(addrs*failureLimit),
		"%d concurrent guesses from %d addresses may cost at most %d password verifications", addrs*perAddr, addrs, addrs*failureLimit)
	assert.Positive(t, verified, "the guesses that were checked are counted")

	// The owner, at a fourth address, is not locked out.
	r := st.from(t).trySignIn(t, victim.cred)
	assert.Equal(t, http.StatusCreated, r.Status, "the owner signs in after the burst:\n%s", r)
}

// TestChangePasswordIsNoOracle: with a stolen token, guessing the current
// password through PUT /users/{id}/password is throttled like sign-in (429
// after 5 failures from one address, even for the right password), and the
// guesses past the limit cost no password verification.
func TestChangePasswordIsNoOracle(t *testing.T) {
	st := newStack(t)
	victim := st.newMember(t, "oracle", "user")
	// The thief uses the victim's token from an address of its own.
	thief := st.from(t).withBearer(victim.api.token)
	path := victim.user.Path() + "/password"
	guess := func(current string) *journey.Response {
		return thief.send(t, http.MethodPut, path, map[string]string{
			"current_password": current, "new_password": journey.NewPassword(),
		})
	}
	before := st.verifications(t)
	for i := range failureLimit {
		r := guess(victim.cred.Password + "-guess")
		require.True(t, r.Status >= 400 && r.Status < 500 && r.Status != http.StatusTooManyRequests,
			"wrong current password %d of %d is refused:\n%s", i+1, failureLimit, r)
	}
	for range 5 {
		expectThrottled(t, guess(victim.cred.Password+"-guess"), "a wrong current password after 5 failures")
	}
	expectThrottled(t, guess(victim.cred.Password), "the right current password from the guessing address")
	verified := st.verifications(t) - before
	t.Logf("password verifications for %d change-password guesses: %.0f", failureLimit+6, verified)
	assert.LessOrEqual(t, verified, float64(failureLimit), "guesses past the limit are not verified")
	assert.Positive(t, verified, "the guesses that were checked are counted")
}

// TestSuccessResetsFailures: 4 failures, a success, then 1 failure and the
// right password signs in (200), it is not throttled.
func TestSuccessResetsFailures(t *testing.T) {
	st := newStack(t)
	m := st.newMember(t, "typo", "user")
	c := st.from(t)
	for range failureLimit - 1 {
		c.trySignIn(t, wrong(m.cred)).Expect(t, http.StatusUnauthorized)
	}
	c.trySignIn(t, m.cred).Expect(t, http.StatusCreated)
	c.trySignIn(t, wrong(m.cred)).Expect(t, http.StatusUnauthorized)
	r := c.trySignIn(t, m.cred)
	assert.Equal(t, http.StatusCreated, r.Status, "a success resets the failure count; 1 failure after it must not throttle:\n%s", r)
}
