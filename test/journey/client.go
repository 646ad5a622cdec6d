package journey

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// ProblemContentType is the media type of every error the API returns (RFC 9457).
const ProblemContentType = "application/problem+json"

// requestTimeout bounds one request; the slowest thing a journey asks for is
// an avatar upload or a password hash.
const requestTimeout = 30 * time.Second

// Client talks HTTP to one deployment as one party: anonymous, a browser with
// cookies, or an API caller with a bearer token. It never follows redirects,
// so journeys can assert them.
type Client struct {
	base   string
	http   *http.Client
	bearer string
	who    string
}

// NewClient returns an anonymous client for baseURL with its own cookie jar,
// like a fresh browser.
func NewClient(baseURL string) *Client {
	jar, _ := cookiejar.New(nil) // never fails without options
	return &Client{
		base: strings.TrimRight(baseURL, "/"),
		http: &http.Client{
			Jar:     jar,
			Timeout: requestTimeout,
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		},
		who: "anonymous",
	}
}

// NewClientWith is NewClient over hc, for a caller that needs its own
// transport (a source address of its own, say); hc should not follow
// redirects, so that tests see them.
func NewClientWith(baseURL string, hc *http.Client) *Client {
	return &Client{base: strings.TrimRight(baseURL, "/"), http: hc, who: "anonymous"}
}

// WithBearer returns a client that sends the token in an Authorization
// header and keeps no cookies, over the same transport. who names the
// caller in the test log.
func (c *Client) WithBearer(token, who string) *Client {
	return &Client{
		base:   c.base,
		http:   &http.Client{Timeout: c.http.Timeout, Transport: c.http.Transport, CheckRedirect: c.http.CheckRedirect},
		bearer: token,
		who:    who,
	}
}

// Cookie returns the value of the named cookie the jar holds for the base URL.
func (c *Client) Cookie(name string) (string, bool) {
	if c.http.Jar == nil {
		return "", false
	}
	u, _ := url.Parse(c.base)
	for _, ck := range c.http.Jar.Cookies(u) {
		if ck.Name == name {
			return ck.Value, true
		}
	}
	return "", false
}

// Request is one HTTP request of a journey.
type Request struct {
	Method string
	// Path is relative to the base URL and may carry a query.
	Path string
	// JSON, when not nil, is encoded as the body with Content-Type application/json.
	JSON any
	// Body is sent as is (with ContentType) when JSON is nil.
	Body        []byte
	ContentType string
	// Form, when not nil, is sent url-encoded, as an HTML form would.
	Form   url.Values
	Header map[string]string
}

// Response is what came back, body read in full.
type Response struct {
	Method string
	Path   string
	Status int
	Header http.Header
	Body   []byte
}

// String describes the exchange for assertion messages.
func (r *Response) String() string {
	body := string(r.Body)
	if len(body) > 2000 {
		body = body[:2000] + "…"
	}
	return fmt.Sprintf("%s %s → %d %s\n%s", r.Method, r.Path, r.Status, r.Header.Get("Content-Type"), body)
}

// Do sends req and fails t when no response arrives.
func (c *Client) Do(t testing.TB, req Request) *Response {
	t.Helper()
	hr, resp, err := c.do(req)
	require.NoError(t, err, "%s: %s %s", c.who, req.Method, req.Path)
	t.Logf("%s: %s %s → %d", c.who, req.Method, req.Path, resp.Status)
	checkContract(t, c.base, hr, resp)
	return resp
}

// DoE sends req and returns the error instead of failing the test, for
// callers that expect the connection itself to fail, and for cleanups. It
// does not check the response against the OpenAPI document.
func (c *Client) DoE(req Request) (*Response, error) {
	_, resp, err := c.do(req)
	return resp, err
}

// do sends req and returns the request as sent with the response.
func (c *Client) do(req Request) (*http.Request, *Response, error) {
	var body io.Reader
	ct := req.ContentType
	switch {
	case req.JSON != nil:
		b, err := json.Marshal(req.JSON)
		if err != nil {
			return nil, nil, fmt.Errorf("encode request body: %w", err)
		}
		body, ct = bytes.NewReader(b), "application/json"
	case req.Form != nil:
		body, ct = strings.NewReader(req.Form.Encode()), "application/x-www-form-urlencoded"
	case req.Body != nil:
		body = bytes.NewReader(req.Body)
	}
	hr, err := http.NewRequestWithContext(context.Background(), req.Method, c.base+req.Path, body)
	if err != nil {
		return nil, nil, fmt.Errorf("build request: %w", err)
	}
	if ct != "" {
		hr.Header.Set("Content-Type", ct)
	}
	if c.bearer != "" {
		hr.Header.Set("Authorization", "Bearer "+c.bearer)
	}
	hr.Header.Set("Accept", "application/json")
	for k, v := range req.Header {
		hr.Header.Set(k, v)
	}
	resp, err := c.http.Do(hr)
	if err != nil {
		return hr, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return hr, nil, fmt.Errorf("read response of %s %s: %w", req.Method, req.Path, err)
	}
	return hr, &Response{Method: req.Method, Path: req.Path, Status: resp.StatusCode, Header: resp.Header, Body: b}, nil
}

// Get is Do for a GET.
func (c *Client) Get(t testing.TB, path string) *Response {
	t.Helper()
	return c.Do(t, Request{Method: http.MethodGet, Path: path})
}

// GetHTML is a GET as a browser sends it (Accept: text/html).
func (c *Client) GetHTML(t testing.TB, path string) *Response {
	t.Helper()
	return c.Do(t, Request{Method: http.MethodGet, Path: path, Header: map[string]string{"Accept": "text/html"}})
}

// PostForm submits an HTML form as a browser does.
func (c *Client) PostForm(t testing.TB, path string, form url.Values) *Response {
	t.Helper()
	return c.Do(t, Request{Method: http.MethodPost, Path: path, Form: form, Header: map[string]string{"Accept": "text/html"}})
}

// Send is Do with a JSON body (nil sends none).
func (c *Client) Send(t testing.TB, method, path string, body any) *Response {
	t.Helper()
	return c.Do(t, Request{Method: method, Path: path, JSON: body})
}

// Expect fails t unless the response has the given status.
func (r *Response) Expect(t testing.TB, status int) *Response {
	t.Helper()
	require.Equal(t, status, r.Status, "unexpected status:\n%s", r)
	return r
}

// ExpectJSON asserts the status and a JSON body, and decodes it into v.
func (r *Response) ExpectJSON(t testing.TB, status int, v any) {
	t.Helper()
	r.Expect(t, status)
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	require.Equal(t, "application/json", mt, "content type:\n%s", r)
	require.NoError(t, json.Unmarshal(r.Body, v), "decode body:\n%s", r)
}

// ExpectRedirect asserts a redirect with the given status to location (path
// and query, compared without the host).
func (r *Response) ExpectRedirect(t testing.TB, status int, location string) {
	t.Helper()
	r.Expect(t, status)
	loc, err := url.Parse(r.Header.Get("Location"))
	require.NoError(t, err, "Location header:\n%s", r)
	require.Equal(t, location, loc.RequestURI(), "redirect target:\n%s", r)
}

// Problem is an RFC 9457 problem document as the API sends it.
type Problem struct {
	Type      string       `json:"type"`
	Title     string       `json:"title"`
	Status    int          `json:"status"`
	Detail    string       `json:"detail"`
	Instance  string       `json:"instance"`
	RequestID string       `json:"request_id"`
	Errors    []FieldError `json:"errors"`
}

// FieldError names one invalid input field.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Fields lists the fields the problem reports as invalid.
func (p Problem) Fields() []string {
	out := make([]string, 0, len(p.Errors))
	for _, e := range p.Errors {
		out = append(out, e.Field)
	}
	return out
}

// internalMarkers are fragments that would show that internal error text
// reached a client.
var internalMarkers = []string{"pgx", "SQLSTATE", "sql:", "runtime error", "goroutine ", "panic", ".go:", "nil pointer"}

// ExpectProblem asserts that the response is a well-formed problem with the
// given status: the media type, the status echoed in the body, a title and
// type, the request id that the X-Request-ID header carries, and no internal
// error text.
func (r *Response) ExpectProblem(t testing.TB, status int) Problem {
	t.Helper()
	r.Expect(t, status)
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	require.Equal(t, ProblemContentType, mt, "content type:\n%s", r)
	var p Problem
	require.NoError(t, json.Unmarshal(r.Body, &p), "decode problem:\n%s", r)
	require.Equal(t, status, p.Status, "status in the problem body:\n%s", r)
	require.NotEmpty(t, p.Title, "problem title:\n%s", r)
	require.NotEmpty(t, p.Type, "problem type:\n%s", r)
	require.NotEmpty(t, p.RequestID, "problem request_id:\n%s", r)
	require.Equal(t, r.Header.Get("X-Request-ID"), p.RequestID, "request_id must match the X-Request-ID header:\n%s", r)
	for _, m := range internalMarkers {
		require.NotContains(t, string(r.Body), m, "internal error text leaked to the client:\n%s", r)
	}
	return p
}
