package abuse

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gopherops/gopherops/test/journey"
)

// statusRun signs in as login with a wrong password n times from one fresh
// address and returns the statuses.
func (st *stack) statusRun(t *testing.T, login string, n int) []int {
	t.Helper()
	c := st.from(t)
	var got []int
	for range n {
		got = append(got, c.trySignIn(t, journey.Credentials{Login: login, Password: "not the password at all"}).Status)
	}
	return got
}

// TestThrottleIsNoAccountOracle (issue 19, item 2): six wrong passwords from
// one address answer the same for a login that names an account and for one
// that does not: 401 five times, then 429.
func TestThrottleIsNoAccountOracle(t *testing.T) {
	st := newStack(t)
	real := st.newMember(t, "oracle", "user")
	want := []int{401, 401, 401, 401, 401, 429}
	realRun := st.statusRun(t, real.cred.Login, 6)
	unknownRun := st.statusRun(t, "nobody-"+real.cred.Login, 6)
	t.Logf("real login: %v; unknown login: %v", realRun, unknownRun)
	assert.Equal(t, want, realRun, "a real login from one address")
	assert.Equal(t, realRun, unknownRun, "the statuses must not tell which login exists")
}

// oracleTries is how many wrong sign-ins of each kind the timing comparison
// takes, interleaved, and oracleSpread the most the estimate of their time
// ratio (from the back-to-back pairs, below) may differ from 1.
const (
	oracleTries  = 80
	oracleSpread = 0.10
)

// TestSignInTimingIsNoAccountOracle (issue 19, item 2): the time of a
// wrong sign-in is the same, within 10 %, for real and unknown logins. Each
// try is a different login from a fresh address, so no limit is reached.
// The tries run in back-to-back pairs, one of each kind, in an order drawn
// at random for each pair.
//
// A fixed alternation once made this test fail one run in three with no
// oracle in the server: the server's own per-phase timings showed the
// password check slower at every second and every fourth request whatever
// the login (the server also collects garbage once every two sign-ins, but
// that this is the cause was not shown), and the pattern real, unknown,
// unknown, real repeats every four, so that rhythm landed on one kind. A
// random order spreads it over both.
func TestSignInTimingIsNoAccountOracle(t *testing.T) {
	st := newStack(t)
	real := make([]string, oracleTries)
	for i := range real {
		spec := journey.NewUserSpec(fmt.Sprintf("timing%d", i), "user", journey.Bool(false))
		st.root.send(t, http.MethodPost, "/api/v1/users", spec).Expect(t, http.StatusCreated)
		real[i] = spec.Username
	}
	try := func(login string) time.Duration {
		c := st.from(t)
		start := time.Now()
		r := c.trySignIn(t, journey.Credentials{Login: login, Password: "not the password at all"})
		d := time.Since(start)
		require.Equal(t, http.StatusUnauthorized, r.Status, "a wrong sign-in as %s:\n%s", login, r)
		return d
	}
	for i := range 5 { // warm both paths
		try(real[i])
		try(fmt.Sprintf("warmup-ghost%d", i))
	}
	seed := rand.Uint64()
	order := rand.New(rand.NewPCG(seed, seed))
	t.Logf("pair order seed %d", seed)
	// The ratio unknown/real of each pair, by which kind went first.
	var realFirst, unknownFirst []float64
	var realTimes, unknownTimes []time.Duration
	for i := range oracleTries {
		ghost := fmt.Sprintf("ghost%d", i)
		var r, u time.Duration
		if order.IntN(2) == 0 {
			r = try(real[i])
			u = try(ghost)
			realFirst = append(realFirst, float64(u)/float64(r))
		} else {
			u = try(ghost)
			r = try(real[i])
			unknownFirst = append(unknownFirst, float64(u)/float64(r))
		}
		realTimes, unknownTimes = append(realTimes, r), append(unknownTimes, u)
	}
	// Each pair ran back to back, so its ratio cancels the load the machine
	// had at that moment (a shared CI runner's swings are larger than 10 %
	// between rounds); an oracle shows as a shift of every pair's ratio.
	// The server's rhythm does not cancel: it slows the first or the
	// second call of a pair, so the ratios form clusters on either side of
	// the true one, and a median lands in one cluster or the other by chance.
	// Their trimmed mean (on a log scale, so that 1.1 and 1/1.1 balance)
	// sits between them; taking it for each order apart and averaging the
	// two cancels the second call's own slowness however the draw split the
	// pairs.
	require.NotEmpty(t, realFirst, "no pair had the real login first (seed %d)", seed)
	require.NotEmpty(t, unknownFirst, "no pair had the unknown login first (seed %d)", seed)
	a, b := trimmedLogMean(realFirst), trimmedLogMean(unknownFirst)
	ratio := math.Exp((a + b) / 2)
	mr, mu := median(realTimes), median(unknownTimes)
	t.Logf("median wrong sign-in over %d tries each: real login %s, unknown login %s (ratio of medians %.3f); unknown/real of the back-to-back pairs (trimmed mean): %.3f in %d with the real login first, %.3f in %d with the unknown first, %.3f between them",
		oracleTries, mr, mu, float64(mu)/float64(mr), math.Exp(a), len(realFirst), math.Exp(b), len(unknownFirst), ratio)
	assert.InDelta(t, 1, ratio, oracleSpread, "the sign-in time must not tell which login exists: pair ratio %.3f (real %s, unknown %s)", ratio, mr, mu)
}

// trimmedLogMean is the mean of the logarithms of xs without the fifth
// at either end, which a load spike or a stalled call would otherwise drag.
func trimmedLogMean(xs []float64) float64 {
	logs := make([]float64, len(xs))
	for i, x := range xs {
		logs[i] = math.Log(x)
	}
	slices.Sort(logs)
	cut := len(logs) / 5
	logs = logs[cut : len(logs)-cut]
	sum := 0.0
	for _, l := range logs {
		sum += l
	}
	return sum / float64(len(logs))
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// TestCorrectSignInsAreNeverThrottled (issue 19, item 3): 25 correct
// sign-ins of one account from 25 addresses, with no failure among them,
// all succeed; only failures count against the account.
func TestCorrectSignInsAreNeverThrottled(t *testing.T) {
	st := newStack(t)
	m := st.newMember(t, "popular", "user")
	statuses := map[int]int{}
	for range 25 {
		statuses[st.from(t).trySignIn(t, m.cred).Status]++
	}
	assert.Equal(t, map[int]int{http.StatusCreated: 25}, statuses, "25 correct sign-ins from 25 addresses")
}

// TestIfMatchAnyUnderConcurrentWriters (issue 19, item 4): with If-Match: *,
// three writers changing one user at once all succeed (RFC 9110: "*"
// matches whenever the resource exists); none answers 412.
func TestIfMatchAnyUnderConcurrentWriters(t *testing.T) {
	st := newStack(t)
	m := st.newMember(t, "contended", "user")
	const writers, rounds = 3, 10
	statuses := map[int]int{}
	var mu sync.Mutex
	for round := range rounds {
		var wg sync.WaitGroup
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := st.root.do(t, journey.Request{Method: http.MethodPatch, Path: m.user.Path(), Header: map[string]string{"If-Match": "*"},
					JSON: map[string]string{"email": fmt.Sprintf("writer%d-round%d@example.com", w, round)}})
				mu.Lock()
				statuses[r.Status]++
				mu.Unlock()
			}()
		}
		wg.Wait()
	}
	t.Logf("%d rounds of %d concurrent If-Match: * writes: %v", rounds, writers, statuses)
	assert.Equal(t, map[int]int{http.StatusOK: writers * rounds}, statuses, "every If-Match: * write succeeds")
	var u journey.User
	st.root.get(t, m.user.Path()).ExpectJSON(t, http.StatusOK, &u)
	assert.Equal(t, m.user.Version+writers*rounds, u.Version, "each write made one version")
}

// attemptRows counts the sign-in attempt counters in the database.
func (st *stack) attemptRows(t *testing.T) int {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, st.dbURL)
	require.NoError(t, err)
	defer conn.Close(ctx)
	var n int
	require.NoError(t, conn.QueryRow(ctx, `SELECT count(*) FROM login_attempts`).Scan(&n))
	return n
}

// TestAttemptsTableShrinks (issue 19, item 5): a distributed attack on
// logins that do not exist leaves counters behind; once their window has
// passed (simulated by ageing them in SQL: the window is an hour), sign-ins
// clean them up as they go, and the table is back to what is current.
func TestAttemptsTableShrinks(t *testing.T) {
	st := newStack(t)
	m := st.newMember(t, "regular", "user")
	const spray = 60
	for i := range spray {
		st.from(t).trySignIn(t, journey.Credentials{Login: fmt.Sprintf("sprayed%d", i), Password: "not the password at all"}).
			Expect(t, http.StatusUnauthorized)
	}
	grown := st.attemptRows(t)
	t.Logf("after %d failed sign-ins of unknown logins from %d addresses: %d counters", spray, spray, grown)
	require.Equal(t, 2*spray, grown, "each failure counts against its address and its login")

	ctx := context.Background()
	conn, err := pgx.Connect(ctx, st.dbURL)
	require.NoError(t, err)
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, `UPDATE login_attempts SET updated_at = updated_at - interval '2 hours'`)
	require.NoError(t, err)

	// Correct sign-ins leave no counter of their own, and each takes a few
	// expired ones with it.
	signIns := 0
	for st.attemptRows(t) > 0 && signIns < spray {
		st.from(t).trySignIn(t, m.cred).Expect(t, http.StatusCreated)
		signIns++
	}
	t.Logf("%d correct sign-ins later: %d counters", signIns, st.attemptRows(t))
	assert.Zero(t, st.attemptRows(t), "expired counters are pruned as sign-ins happen")
	assert.LessOrEqual(t, signIns, 2*spray/4+1, "each sign-in prunes up to 4 expired counters")
}
