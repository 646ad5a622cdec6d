package journey

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
)

// contract is the OpenAPI document a deployment serves at
// /api/v1/openapi.json, as a router that matches requests to operations.
type contract struct {
	router routers.Router
	err    error
}

// contracts caches one contract per base URL: a deployment is checked
// against the document it serves itself.
var contracts = struct {
	mu     sync.Mutex
	byBase map[string]*contract
}{byBase: map[string]*contract{}}

func contractFor(base string) *contract {
	contracts.mu.Lock()
	defer contracts.mu.Unlock()
	if c, ok := contracts.byBase[base]; ok {
		return c
	}
	c := &contract{}
	c.router, c.err = loadContract(base)
	contracts.byBase[base] = c
	return c
}

func loadContract(base string) (routers.Router, error) {
	resp, err := NewClient(base).DoE(Request{Method: http.MethodGet, Path: "/api/v1/openapi.json"})
	if err != nil {
		return nil, fmt.Errorf("fetch the OpenAPI document: %w", err)
	}
	if resp.Status != http.StatusOK {
		return nil, fmt.Errorf("fetch the OpenAPI document: %s", resp)
	}
	doc, err := openapi3.NewLoader().LoadFromData(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("parse the OpenAPI document: %w", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, fmt.Errorf("the served OpenAPI document is invalid: %w", err)
	}
	doc.Servers = nil // match the deployment's own host and port
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		return nil, fmt.Errorf("route the OpenAPI document: %w", err)
	}
	return router, nil
}

// documented are the paths the OpenAPI document covers.
func documented(path string) bool {
	return strings.HasPrefix(path, "/api/") || path == "/healthz" || path == "/readyz"
}

// checkContract reports, as a test error, a response to a documented path
// that the served OpenAPI document does not allow (status, headers, body
// schema), and a documented-looking path the document lacks, unless the
// router's own 404/405 problem answered it.
func checkContract(t testing.TB, base string, req *http.Request, resp *Response) {
	t.Helper()
	if !documented(req.URL.Path) || req.URL.Path == "/api/v1/openapi.json" {
		return
	}
	c := contractFor(base)
	if c.err != nil {
		t.Errorf("openapi: %v", c.err)
		return
	}
	route, params, err := c.router.FindRoute(req)
	if err != nil {
		if (resp.Status != http.StatusNotFound && resp.Status != http.StatusMethodNotAllowed) ||
			!strings.HasPrefix(resp.Header.Get("Content-Type"), ProblemContentType) {
			t.Errorf("openapi: %s %s is not in the OpenAPI document but answered %d: %v", req.Method, req.URL.Path, resp.Status, err)
		}
		return
	}
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, ExcludeRequestBody: true}}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: resp.Status, Header: resp.Header,
		Body: io.NopCloser(bytes.NewReader(resp.Body)), Options: &openapi3filter.Options{IncludeResponseStatus: true}}
	if err := openapi3filter.ValidateResponse(req.Context(), out); err != nil {
		t.Errorf("openapi: the response does not match the OpenAPI document: %v\n%s", err, resp)
	}
}
