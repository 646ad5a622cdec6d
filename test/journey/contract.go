package journey

import (
	"fmt"
	"net/http"
	"sync"
	"testing"

	"github.com/gopherops/gopherops/service/contract"
)

// contracts caches one contract per base URL: a deployment is checked
// against the document it serves itself, with the checker the service's own
// handler tests use.
var contracts = struct {
	mu     sync.Mutex
	byBase map[string]contractResult
}{byBase: map[string]contractResult{}}

type contractResult struct {
	c   *contract.Contract
	err error
}

func contractFor(base string) (*contract.Contract, error) {
	contracts.mu.Lock()
	defer contracts.mu.Unlock()
	if r, ok := contracts.byBase[base]; ok {
		return r.c, r.err
	}
	var r contractResult
	resp, err := NewClient(base).DoE(Request{Method: http.MethodGet, Path: "/api/v1/openapi.json"})
	switch {
	case err != nil:
		r.err = fmt.Errorf("fetch the OpenAPI document: %w", err)
	case resp.Status != http.StatusOK:
		r.err = fmt.Errorf("fetch the OpenAPI document: %s", resp)
	default:
		r.c, r.err = contract.Parse(resp.Body)
	}
	contracts.byBase[base] = r
	return r.c, r.err
}

// checkContract reports, as a test error, a response to a documented path
// that the served OpenAPI document does not allow (status, headers, body
// schema), and a documented-looking path the document lacks, unless the
// router's own 404/405 problem answered it.
func checkContract(t testing.TB, base string, req *http.Request, resp *Response) {
	t.Helper()
	if !contract.Documented(req.URL.Path) || req.URL.Path == "/api/v1/openapi.json" {
		return
	}
	c, err := contractFor(base)
	if err != nil {
		t.Errorf("openapi: %v", err)
		return
	}
	if err := c.Check(req, resp.Status, resp.Header, resp.Body); err != nil {
		t.Errorf("openapi: %v\n%s", err, resp)
	}
}
