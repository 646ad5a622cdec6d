package mutation

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The tool's report of service/internal/web, as gremlins writes it with -o:
// file names relative to the package's directory.
const webReport = `{
  "go_module": "github.com/gopherops/gopherops",
  "files": [
    {"file_name": "middleware.go", "mutations": [
      {"type": "CONDITIONALS_BOUNDARY", "status": "LIVED", "line": 4, "column": 16},
      {"type": "CONDITIONALS_NEGATION", "status": "KILLED", "line": 4, "column": 16},
      {"type": "INVERT_LOGICAL", "status": "TIMED OUT", "line": 2, "column": 52}
    ]},
    {"file_name": "decode.go", "mutations": [
      {"type": "ARITHMETIC_BASE", "status": "NOT COVERED", "line": 3, "column": 38},
      {"type": "INVERT_NEGATIVES", "status": "NOT VIABLE", "line": 2, "column": 9}
    ]}
  ],
  "test_efficacy": 50
}`

func stagedWeb(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	dir := filepath.Join(root, "service", "internal", "web")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"middleware.go": "package web\nfunc (l *limiter) ok(a, b bool, n int64) bool { if a && b {\n\tswitch {\n\tcase l.length > n:\n\t}}\n\treturn true }\n",
		"decode.go":     "package web\nvar n = -1\nfunc size(p []byte) int { return len(p) + 1 }\n",
	}
	for name, src := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestReadReport(t *testing.T) {
	root := stagedWeb(t)
	got, err := ReadReport(strings.NewReader(webReport), root, "service/internal/web")
	if err != nil {
		t.Fatal(err)
	}
	const web = "service/internal/web"
	want := []Mutant{
		{web, web + "/decode.go", 2, 9, "INVERT_NEGATIVES", NotViable, "", "var n = -1", "", 8},
		{web, web + "/decode.go", 3, 38, "ARITHMETIC_BASE", NotCovered, "size", "func size(p []byte) int { return len(p) + 1 }", "", 37},
		{web, web + "/middleware.go", 2, 52, "INVERT_LOGICAL", TimedOut, "(*limiter).ok", "func (l *limiter) ok(a, b bool, n int64) bool { if a && b {", "", 51},
		{web, web + "/middleware.go", 4, 16, "CONDITIONALS_BOUNDARY", Lived, "(*limiter).ok", "case l.length > n:", "", 14},
		{web, web + "/middleware.go", 4, 16, "CONDITIONALS_NEGATION", Killed, "(*limiter).ok", "case l.length > n:", "", 14},
	}
	if len(got) != len(want) {
		t.Fatalf("%d mutants, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("mutant %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	if loc := got[3].Location(); loc != "service/internal/web/middleware.go:4:16" {
		t.Errorf("Location = %s", loc)
	}
}

func TestReadReportRefuses(t *testing.T) {
	root := stagedWeb(t)
	tests := map[string]string{
		"not JSON":          `KILLED at x.go:1:1`,
		"a file not there":  `{"files": [{"file_name": "gone.go", "mutations": [{"line": 1}]}]}`,
		"a line not there":  `{"files": [{"file_name": "decode.go", "mutations": [{"line": 40}]}]}`,
		"a file not Go":     `{"files": [{"file_name": "notes.txt", "mutations": [{"line": 1}]}]}`,
		"a line before one": `{"files": [{"file_name": "decode.go", "mutations": [{"line": 0}]}]}`,
		"a file outside":    `{"files": [{"file_name": "../../../../outside.go", "mutations": [{"line": 1}]}]}`,
	}
	// a Go file just outside the staged copy, which the last report names
	if err := os.WriteFile(filepath.Join(filepath.Dir(root), "outside.go"), []byte("package outside\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, report := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := ReadReport(strings.NewReader(report), root, "service/internal/web"); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

func TestMarkEquivalent(t *testing.T) {
	mutants := func() []Mutant {
		return []Mutant{
			{File: "a.go", Func: "f", Line: 10, Type: "CONDITIONALS_BOUNDARY", Status: Lived, Code: "if len(b) > 64 {", at: 10},
			{File: "a.go", Func: "f", Line: 20, Type: "CONDITIONALS_BOUNDARY", Status: Lived, Code: "if len(s) > 64 {", at: 10},
			{File: "a.go", Func: "f", Line: 20, Type: "CONDITIONALS_NEGATION", Status: Killed, Code: "if len(s) > 64 {", at: 10},
			{File: "a.go", Func: "g", Line: 30, Type: "CONDITIONALS_BOUNDARY", Status: Lived, Code: "if len(b) > 64 {", at: 10},
			{File: "b.go", Func: "f", Line: 10, Type: "CONDITIONALS_BOUNDARY", Status: Lived, Code: "if len(b) > 64 {", at: 10},
			{File: "c.go", Func: "h", Line: 5, Type: "CONDITIONALS_BOUNDARY", Status: Killed, Code: "for u := 1; u <= 4 && u < n; u++ {", at: 14},
			{File: "c.go", Func: "h", Line: 5, Type: "CONDITIONALS_BOUNDARY", Status: Lived, Code: "for u := 1; u <= 4 && u < n; u++ {", at: 24},
		}
	}
	tests := []struct {
		name   string
		list   []Equivalent
		marked []int  // indexes marked equivalent
		err    string // "" when accepted
	}{
		{"one line of one function, one kind", []Equivalent{{File: "a.go", Func: "f", Type: "CONDITIONALS_BOUNDARY", Code: "len(b) > 64", Why: "b is never 64 long"}}, []int{0}, ""},
		{"the same line in another function", []Equivalent{{File: "a.go", Func: "g", Type: "CONDITIONALS_BOUNDARY", Code: "len(b) > 64", Why: "w"}}, []int{3}, ""},
		{"the kind is part of the match", []Equivalent{{File: "a.go", Func: "f", Type: "CONDITIONALS_NEGATION", Code: "len(s) > 64", Why: "w"}}, []int{2}, ""},
		{"only the operator inside Code", []Equivalent{{File: "c.go", Func: "h", Type: "CONDITIONALS_BOUNDARY", Code: "u < n", Why: "w"}}, []int{6}, ""},
		{"Code without the operator: stale", []Equivalent{{File: "c.go", Func: "h", Type: "CONDITIONALS_BOUNDARY", Code: "u++", Why: "w"}}, nil, "matches no mutant"},
		{"matches no mutant: stale", []Equivalent{{File: "a.go", Func: "f", Type: "CONDITIONALS_BOUNDARY", Code: "len(c)", Why: "w"}}, nil, "matches no mutant"},
		{"matches two lines: too broad", []Equivalent{{File: "a.go", Func: "f", Type: "CONDITIONALS_BOUNDARY", Code: "> 64", Why: "w"}}, []int{0, 1}, "matches 2 lines"},
		{"no reason", []Equivalent{{File: "a.go", Func: "f", Type: "CONDITIONALS_BOUNDARY", Code: "len(b) > 64"}}, nil, "required"},
		{"no code", []Equivalent{{File: "a.go", Func: "f", Type: "CONDITIONALS_BOUNDARY", Why: "w"}}, nil, "required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ms := mutants()
			err := MarkEquivalent(ms, tt.list)
			if (err == nil) != (tt.err == "") || err != nil && !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("err = %v, want %q", err, tt.err)
			}
			var marked []int
			for i, m := range ms {
				if m.Equivalent != "" {
					marked = append(marked, i)
				}
			}
			if len(marked) != len(tt.marked) || len(marked) > 0 && !equalInts(marked, tt.marked) {
				t.Fatalf("marked %v, want %v", marked, tt.marked)
			}
		})
	}
}

func equalInts(a, b []int) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestTally(t *testing.T) {
	tests := []struct {
		name     string
		statuses []Status
		equiv    int // how many of the Lived are equivalent
		kill     float64
		coverage float64
	}{
		{"nothing tried", []Status{NotViable}, 0, 100, 100},
		{"all killed", []Status{Killed, Killed, TimedOut}, 0, 100, 100},
		{"one of four lived", []Status{Killed, Killed, Killed, Lived}, 0, 75, 100},
		{"an equivalent is not a survivor", []Status{Killed, Killed, Killed, Lived}, 1, 100, 100},
		{"not covered lowers coverage, not the kill rate", []Status{Killed, NotCovered, NotCovered, NotCovered}, 0, 100, 25},
		{"not viable counts for neither", []Status{Killed, Lived, NotViable, NotViable}, 0, 50, 100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ty Tally
			equiv := tt.equiv
			for _, s := range tt.statuses {
				m := Mutant{Status: s}
				if s == Lived && equiv > 0 {
					m.Equivalent = "why"
					equiv--
				}
				ty.Add(m)
			}
			if ty.KillRate() != tt.kill || ty.Coverage() != tt.coverage {
				t.Fatalf("kill rate %.1f coverage %.1f, want %.1f %.1f (%+v)", ty.KillRate(), ty.Coverage(), tt.kill, tt.coverage, ty)
			}
		})
	}
}

func TestSummarize(t *testing.T) {
	mutants := []Mutant{
		{Package: "infra/cluster", File: "infra/cluster/access.go", Line: 4, Column: 2, Type: "INVERT_LOGICAL", Status: Lived, Code: "a && b"},
		{Package: "service/internal/web", File: "service/internal/web/m.go", Line: 9, Column: 7, Type: "CONDITIONALS_BOUNDARY", Status: Lived, Func: "LimitBody", Code: "n > 64"},
		{Package: "service/internal/web", Status: Killed},
		{Package: "service/internal/web", Status: Killed},
		{Package: "service/internal/web", Status: Killed},
		{Package: "service/internal/web", Status: Lived, Equivalent: "the same"},
		{Package: "infra/cluster", Status: Killed},
	}
	s := Summarize([]string{"service/internal/web", "infra/cluster", "infra/network"}, mutants)
	var order []string
	for _, p := range s.Packages {
		order = append(order, p.Package)
	}
	if strings.Join(order, ",") != "service/internal/web,infra/cluster,infra/network" {
		t.Fatalf("packages in the order %v, want as given", order)
	}
	if s.Total.Killed != 4 || s.Total.Lived != 2 || s.Total.Equivalent != 1 || len(s.Survivors) != 2 {
		t.Fatalf("total %+v, %d survivors", s.Total, len(s.Survivors))
	}
	low := s.BelowFloor(80)
	if len(low) != 2 || low[0].Package != "service/internal/web" || low[1].Package != "infra/cluster" {
		t.Fatalf("below 80%%: %+v, want web (75%%) and cluster (50%%)", low)
	}
	if low := s.BelowFloor(50); len(low) != 0 {
		t.Fatalf("below 50%%: %+v, want none (a package with no mutants is at 100%%)", low)
	}
	var b strings.Builder
	if err := s.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"service/internal/web/m.go:9:7 CONDITIONALS_BOUNDARY in LimitBody\n      n > 64",
		"infra/cluster/access.go:4:2 INVERT_LOGICAL\n      a && b",
		"2 survivors",
		"75.0%",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("the text report lacks %q:\n%s", want, b.String())
		}
	}
}
