package journey

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	http_helper "github.com/gruntwork-io/terratest/modules/http-helper"
)

// readyPoll is how often WaitReady asks /readyz.
const readyPoll = 2 * time.Second

// WaitReady polls GET /readyz until it answers 200, for up to timeout: what a
// load balancer does before it sends a new instance traffic.
func WaitReady(t testing.TB, baseURL string, timeout time.Duration) {
	t.Helper()
	retries := max(1, int(timeout/readyPoll))
	http_helper.HTTPGetWithRetryWithCustomValidationContext(t, context.Background(), strings.TrimRight(baseURL, "/")+"/readyz", nil, retries, readyPoll,
		func(status int, _ string) bool { return status == http.StatusOK })
}
