package journey

import (
	"bytes"
	"mime"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/net/html"
)

// Form is an HTML form as a browser would submit it: its action and the
// values of its named inputs (hidden ones included).
type Form struct {
	Action string
	Method string
	Values url.Values
}

// ExpectHTML asserts the status and an HTML body.
func (r *Response) ExpectHTML(t testing.TB, status int) string {
	t.Helper()
	r.Expect(t, status)
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	require.Equal(t, "text/html", mt, "content type:\n%s", r)
	return string(r.Body)
}

// Forms parses every form of an HTML page.
func Forms(t testing.TB, page []byte) []Form {
	t.Helper()
	doc, err := html.Parse(bytes.NewReader(page))
	require.NoError(t, err, "parse HTML")
	var forms []Form
	cur := -1 // index of the form being read; the HTML parser never nests forms
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			switch n.Data {
			case "form":
				forms = append(forms, Form{Action: attr(n, "action"), Method: strings.ToUpper(attr(n, "method")), Values: url.Values{}})
				outer := cur
				cur = len(forms) - 1
				for c := n.FirstChild; c != nil; c = c.NextSibling {
					walk(c)
				}
				cur = outer
				return
			case "input", "textarea", "select":
				if cur >= 0 && attr(n, "name") != "" {
					forms[cur].Values.Set(attr(n, "name"), attr(n, "value"))
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	return forms
}

// FindForm returns the form of the page that posts to action.
func FindForm(t testing.TB, page []byte, action string) Form {
	t.Helper()
	var actions []string
	for _, f := range Forms(t, page) {
		if f.Action == action {
			return f
		}
		actions = append(actions, f.Action)
	}
	require.FailNow(t, "form not found", "no form posts to %s; the page has forms for %v", action, actions)
	return Form{}
}

// CSRFToken returns the hidden csrf_token of the form that posts to action,
// failing t when it is missing or empty.
func CSRFToken(t testing.TB, page []byte, action string) string {
	t.Helper()
	tok := FindForm(t, page, action).Values.Get("csrf_token")
	require.NotEmpty(t, tok, "the form posting to %s has no csrf_token", action)
	return tok
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}
