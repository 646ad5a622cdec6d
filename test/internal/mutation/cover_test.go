package mutation

import (
	"errors"
	"go/token"
	"strings"
	"testing"
)

const limitSource = `package web

func limit(n, max int, chunked bool) string {
	switch {
	case n > max:
		return "refused"
	case n != 0 || chunked:
		return "capped"
	}
	return "empty"
}

func unused(n int) bool {
	switch {
	case n < 0:
		return true
	default:
		return false
	}
}
`

// The profile go test -coverprofile writes for limitSource when a test
// calls limit and never unused: no block holds a case's expressions.
const limitProfile = `mode: set
example.com/web/limit.go:3.43,4.9 1 1
example.com/web/limit.go:5.15,6.19 1 1
example.com/web/limit.go:7.25,8.17 1 1
example.com/web/limit.go:10.2,10.16 1 1
example.com/web/limit.go:13.25,14.9 1 0
example.com/web/limit.go:15.13,16.14 1 0
example.com/web/limit.go:17.10,18.15 1 0
`

func TestAddCaseClauses(t *testing.T) {
	var out strings.Builder
	err := AddCaseClauses(strings.NewReader(limitProfile), &out, func(file string) ([]byte, error) {
		if file != "example.com/web/limit.go" {
			return nil, errors.New("no such file")
		}
		return []byte(limitSource), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := limitProfile +
		"example.com/web/limit.go:5.2,5.14 1 1\n" + // case n > max: reached
		"example.com/web/limit.go:7.2,7.24 1 1\n" + // case n != 0 || chunked: reached
		"example.com/web/limit.go:15.2,15.12 1 0\n" // case n < 0: never reached
	if out.String() != want {
		t.Fatalf("profile:\n%s\nwant:\n%s", out.String(), want)
	}
	// Every mutant position of the added clauses now lies in a block.
	b, err := parseBlock("example.com/web/limit.go:5.2,5.14 1 1")
	if err != nil {
		t.Fatal(err)
	}
	if col := strings.Index("\tcase n > max:", ">") + 1; !b.contains(pos(5, col)) || b.contains(pos(6, 3)) {
		t.Fatal("the clause's block does not hold its operator, or holds its body")
	}
}

func TestAddCaseClausesRefuses(t *testing.T) {
	src := func(string) ([]byte, error) { return []byte(limitSource), nil }
	tests := map[string]struct {
		profile string
		source  func(string) ([]byte, error)
	}{
		"malformed line":   {"mode: set\nexample.com/web/limit.go:3.43 1 1\n", src},
		"not a number":     {"mode: set\nexample.com/web/limit.go:3.x,4.9 1 1\n", src},
		"source not found": {limitProfile, func(string) ([]byte, error) { return nil, errors.New("gone") }},
		"source not Go":    {limitProfile, func(string) ([]byte, error) { return []byte("<html>"), nil }},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			if err := AddCaseClauses(strings.NewReader(tt.profile), &strings.Builder{}, tt.source); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

func pos(line, col int) token.Position { return token.Position{Line: line, Column: col} }
