// Package contract checks HTTP answers against the OpenAPI document of the
// GopherOps API: the status, headers and body of each answer to a documented
// path, and which operations were exercised. The service's handler tests and
// the journeys that walk a running deployment use the same checker.
package contract

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
)

// ProblemContentType is the media type of the API's errors.
const ProblemContentType = "application/problem+json"

// Contract is a parsed OpenAPI document routed for matching requests.
type Contract struct {
	doc    *openapi3.T
	router routers.Router

	mu      sync.Mutex
	covered map[string]bool // "METHOD /path/template"
}

// Parse loads and validates an OpenAPI document (JSON or YAML). Its servers
// are dropped, so requests match on any host and port.
func Parse(doc []byte) (*Contract, error) {
	d, err := openapi3.NewLoader().LoadFromData(doc)
	if err != nil {
		return nil, fmt.Errorf("contract: parse the OpenAPI document: %w", err)
	}
	if err := d.Validate(context.Background()); err != nil {
		return nil, fmt.Errorf("contract: the OpenAPI document is invalid: %w", err)
	}
	d.Servers = nil
	router, err := gorillamux.NewRouter(d)
	if err != nil {
		return nil, fmt.Errorf("contract: route the OpenAPI document: %w", err)
	}
	return &Contract{doc: d, router: router, covered: map[string]bool{}}, nil
}

// Documented reports whether path belongs to the document's surface: the API
// and the probes. Pages and static files do not.
func Documented(path string) bool {
	return strings.HasPrefix(path, "/api/") || path == "/healthz" || path == "/readyz"
}

// Check returns how an answer to req breaks the document, or nil. A
// documented-looking path the document lacks is allowed only as the router's
// own 404 or 405 problem. Answers to paths outside the surface are not checked.
func (c *Contract) Check(req *http.Request, status int, header http.Header, body []byte) error {
	if !Documented(req.URL.Path) {
		return nil
	}
	route, params, err := c.router.FindRoute(req)
	if err != nil {
		if (status != http.StatusNotFound && status != http.StatusMethodNotAllowed) ||
			!strings.HasPrefix(header.Get("Content-Type"), ProblemContentType) {
			return fmt.Errorf("%s %s is not in the OpenAPI document but answered %d: %w", req.Method, req.URL.Path, status, err)
		}
		return nil
	}
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, ExcludeRequestBody: true}}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: status, Header: header,
		Body: io.NopCloser(bytes.NewReader(body)), Options: &openapi3filter.Options{IncludeResponseStatus: true}}
	if err := openapi3filter.ValidateResponse(req.Context(), out); err != nil {
		return fmt.Errorf("the answer to %s %s (%d) does not match the OpenAPI document: %w", req.Method, req.URL.Path, status, err)
	}
	c.mu.Lock()
	c.covered[req.Method+" "+route.Path] = true
	c.mu.Unlock()
	return nil
}

// Uncovered lists the document's operations no checked answer exercised.
func (c *Contract) Uncovered() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var missing []string
	for path, item := range c.doc.Paths.Map() {
		for method := range item.Operations() {
			if !c.covered[method+" "+path] {
				missing = append(missing, method+" "+path)
			}
		}
	}
	slices.Sort(missing)
	return missing
}

// Exercised reports whether any answer has been checked.
func (c *Contract) Exercised() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.covered) > 0
}

// Transport checks every answer that passes through it against c, reporting
// a mismatch with report (a test's Errorf); the answer itself is unchanged.
func (c *Contract) Transport(base http.RoundTripper, report func(format string, args ...any)) http.RoundTripper {
	return &checking{c: c, base: base, report: report}
}

type checking struct {
	c      *Contract
	base   http.RoundTripper
	report func(format string, args ...any)
}

func (t *checking) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	if err != nil || !Documented(req.URL.Path) {
		return resp, err
	}
	body, rerr := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	if rerr != nil {
		return resp, rerr
	}
	if cerr := t.c.Check(req, resp.StatusCode, resp.Header, body); cerr != nil {
		t.report("openapi: %v\nbody: %.500s", cerr, body)
	}
	return resp, nil
}
