// Package mutation sums up a mutation testing run: it reads the mutation
// tool's report of each package, sets aside the mutants documented as
// equivalent (a change no test could tell, because the program behaves the
// same), and counts what the package's own tests killed, per package and
// overall, with every survivor located to its file, line and code.
package mutation

import (
	"encoding/json"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// Status is what became of a mutant, in the mutation tool's words.
type Status string

// The statuses of a mutant.
const (
	// Killed: a test of the package failed on the mutant.
	Killed Status = "KILLED"
	// TimedOut: the tests did not finish on the mutant (an endless loop, a
	// wait that never ends): the change was noticed, so it counts as killed.
	TimedOut Status = "TIMED OUT"
	// Lived: every test of the package passed on the mutant: a survivor.
	Lived Status = "LIVED"
	// NotCovered: no test of the package runs the mutated line, so the
	// mutant was not tried; it would survive.
	NotCovered Status = "NOT COVERED"
	// NotViable: the mutant does not compile (for example a negated
	// constant); it says nothing about the tests.
	NotViable Status = "NOT VIABLE"
)

// Mutant is one change the tool made to the code, and what became of it.
type Mutant struct {
	// Package is the package's directory, relative to the repository root.
	Package string `json:"package"`
	// File is the file's path, relative to the repository root.
	File   string `json:"file"`
	Line   int    `json:"line"`
	Column int    `json:"column"`
	// Type is the kind of change, such as CONDITIONALS_BOUNDARY.
	Type   string `json:"type"`
	Status Status `json:"status"`
	// Func is the function or method the mutant is in ("" outside any).
	Func string `json:"func,omitempty"`
	// Code is the mutated line as it reads in the source, trimmed.
	Code string `json:"code"`
	// Equivalent, when not empty, is why this mutant cannot be told from
	// the original: it is left out of the counts.
	Equivalent string `json:"equivalent,omitempty"`
	// at is the mutated operator's byte offset in Code.
	at int
}

// covers reports whether the mutated operator lies inside an occurrence
// of piece in the line.
func (m Mutant) covers(piece string) bool {
	for from := 0; ; {
		i := strings.Index(m.Code[from:], piece)
		if i < 0 {
			return false
		}
		i += from
		if i <= m.at && m.at < i+len(piece) {
			return true
		}
		from = i + 1
	}
}

// Location is file:line:column, as editors and `go vet` print it.
func (m Mutant) Location() string { return fmt.Sprintf("%s:%d:%d", m.File, m.Line, m.Column) }

// toolReport is the part of the tool's JSON report (-o) read here.
type toolReport struct {
	Files []struct {
		// FileName is relative to the package's directory.
		FileName  string `json:"file_name"`
		Mutations []struct {
			Type   string `json:"type"`
			Status string `json:"status"`
			Line   int    `json:"line"`
			Column int    `json:"column"`
		} `json:"mutations"`
	} `json:"files"`
}

// ReadReport reads the tool's JSON report of the package in directory pkg
// (relative to root) and the source line of each mutant under root; a file
// the report names outside root is refused, not read.
func ReadReport(r io.Reader, root, pkg string) ([]Mutant, error) {
	var rep toolReport
	if err := json.NewDecoder(r).Decode(&rep); err != nil {
		return nil, fmt.Errorf("mutation: report of %s: %w", pkg, err)
	}
	tree, err := os.OpenRoot(root)
	if err != nil {
		return nil, fmt.Errorf("mutation: report of %s: %w", pkg, err)
	}
	defer tree.Close()
	var out []Mutant
	for _, f := range rep.Files {
		file := path.Join(pkg, filepath.ToSlash(f.FileName))
		src, err := tree.ReadFile(filepath.FromSlash(file))
		if err != nil {
			return nil, fmt.Errorf("mutation: report of %s: %w", pkg, err)
		}
		lines := strings.Split(string(src), "\n")
		funcs, err := funcRanges(file, src)
		if err != nil {
			return nil, err
		}
		for _, m := range f.Mutations {
			if m.Line < 1 || m.Line > len(lines) {
				return nil, fmt.Errorf("mutation: report of %s: %s has no line %d", pkg, file, m.Line)
			}
			raw := lines[m.Line-1]
			indent := len(raw) - len(strings.TrimLeft(raw, " \t"))
			out = append(out, Mutant{Package: pkg, File: file, Line: m.Line, Column: m.Column, Type: m.Type,
				Status: Status(m.Status), Func: funcs.at(m.Line), Code: strings.TrimSpace(raw), at: m.Column - 1 - indent})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		if a.Column != b.Column {
			return a.Column < b.Column
		}
		return a.Type < b.Type
	})
	return out, nil
}

// funcSpan is the lines of one function declaration.
type funcSpan struct {
	name       string
	start, end int
}

type funcSpans []funcSpan

// at names the function holding line ("" outside any).
func (fs funcSpans) at(line int) string {
	for _, f := range fs {
		if f.start <= line && line <= f.end {
			return f.name
		}
	}
	return ""
}

// funcRanges lists the functions of a Go file, methods named as
// (*T).Name or T.Name.
func funcRanges(file string, src []byte) (funcSpans, error) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, file, src, parser.SkipObjectResolution)
	if err != nil {
		return nil, fmt.Errorf("mutation: %w", err)
	}
	var out funcSpans
	for _, d := range f.Decls {
		fd, ok := d.(*ast.FuncDecl)
		if !ok {
			continue
		}
		name := fd.Name.Name
		if fd.Recv != nil && len(fd.Recv.List) == 1 {
			recv := fd.Recv.List[0].Type
			if idx, ok := recv.(*ast.IndexExpr); ok {
				recv = idx.X
			}
			switch r := recv.(type) {
			case *ast.StarExpr:
				if id, ok := r.X.(*ast.Ident); ok {
					name = "(*" + id.Name + ")." + name
				}
			case *ast.Ident:
				name = r.Name + "." + name
			}
		}
		out = append(out, funcSpan{name: name, start: fset.Position(fd.Pos()).Line, end: fset.Position(fd.End()).Line})
	}
	return out, nil
}

// Equivalent documents a mutant that no test can kill because the program
// behaves the same with it; it is matched by file, kind of change and a
// piece of the mutated line, so that it follows the code when lines move.
type Equivalent struct {
	// File is relative to the repository root.
	File string
	// Func is the function or method, as Mutant.Func names it.
	Func string
	// Type is the kind of change, such as CONDITIONALS_BOUNDARY.
	Type string
	// Code is a piece of the mutated line holding the mutated operator,
	// such as "unit < len(rs)"; no other line of the function with a
	// mutant of this Type may contain it.
	Code string
	// Why the mutant is equivalent: what makes the two programs behave
	// the same. Required.
	Why string
}

// MarkEquivalent sets Equivalent on the mutants the list documents. Every
// entry must match the mutants of one line; an entry that matches nothing
// (the code changed) or several lines is an error, so the list never
// silently hides more than it says.
func MarkEquivalent(mutants []Mutant, list []Equivalent) error {
	var errs []error
	for _, e := range list {
		if e.Why == "" || e.Code == "" {
			errs = append(errs, fmt.Errorf("mutation: equivalent %s %s %q: Code and Why are required", e.File, e.Type, e.Code))
			continue
		}
		lines := map[int]bool{}
		for i := range mutants {
			m := &mutants[i]
			if m.File == e.File && m.Func == e.Func && m.Type == e.Type && m.covers(e.Code) {
				m.Equivalent = e.Why
				lines[m.Line] = true
			}
		}
		switch {
		case len(lines) == 0:
			errs = append(errs, fmt.Errorf("mutation: equivalent %s %s %s %q matches no mutant: remove it or update it to the code", e.File, e.Func, e.Type, e.Code))
		case len(lines) > 1:
			errs = append(errs, fmt.Errorf("mutation: equivalent %s %s %s %q matches %d lines: make Code specific to one", e.File, e.Func, e.Type, e.Code, len(lines)))
		}
	}
	return errors.Join(errs...)
}

// Tally counts the mutants of a package, or of all of them.
type Tally struct {
	// Package is the package's directory, or "total".
	Package    string `json:"package"`
	Killed     int    `json:"killed"`
	TimedOut   int    `json:"timed_out"`
	Lived      int    `json:"lived"`
	NotCovered int    `json:"not_covered"`
	NotViable  int    `json:"not_viable"`
	Equivalent int    `json:"equivalent"`
}

// Add counts one mutant.
func (t *Tally) Add(m Mutant) {
	switch {
	case m.Equivalent != "":
		t.Equivalent++
	case m.Status == Killed:
		t.Killed++
	case m.Status == TimedOut:
		t.TimedOut++
	case m.Status == Lived:
		t.Lived++
	case m.Status == NotCovered:
		t.NotCovered++
	case m.Status == NotViable:
		t.NotViable++
	}
}

// Tried is the mutants the tests ran against: killed, timed out or lived.
func (t Tally) Tried() int { return t.Killed + t.TimedOut + t.Lived }

// KillRate is the percentage of the tried mutants the tests killed (a time
// out is a kill). With nothing tried it is 100: there is nothing to miss.
func (t Tally) KillRate() float64 {
	if t.Tried() == 0 {
		return 100
	}
	return 100 * float64(t.Killed+t.TimedOut) / float64(t.Tried())
}

// Coverage is the percentage of the viable, non-equivalent mutants that
// some test of the package runs at all.
func (t Tally) Coverage() float64 {
	all := t.Tried() + t.NotCovered
	if all == 0 {
		return 100
	}
	return 100 * float64(t.Tried()) / float64(all)
}

// Summary is the outcome of a run: a tally per package in the order given,
// the total, and the survivors.
type Summary struct {
	Packages  []Tally  `json:"packages"`
	Total     Tally    `json:"total"`
	Survivors []Mutant `json:"survivors"`
}

// Summarize tallies the mutants per package, in the order of pkgs (a
// package not in pkgs comes after them).
func Summarize(pkgs []string, mutants []Mutant) Summary {
	s := Summary{Total: Tally{Package: "total"}}
	index := map[string]int{}
	tally := func(pkg string) *Tally {
		i, ok := index[pkg]
		if !ok {
			i = len(s.Packages)
			index[pkg] = i
			s.Packages = append(s.Packages, Tally{Package: pkg})
		}
		return &s.Packages[i]
	}
	for _, p := range pkgs {
		tally(p)
	}
	for _, m := range mutants {
		tally(m.Package).Add(m)
		s.Total.Add(m)
		if m.Equivalent == "" && m.Status == Lived {
			s.Survivors = append(s.Survivors, m)
		}
	}
	return s
}

// BelowFloor lists the packages whose kill rate is under floor percent.
func (s Summary) BelowFloor(floor float64) []Tally {
	var out []Tally
	for _, t := range s.Packages {
		if t.KillRate() < floor {
			out = append(out, t)
		}
	}
	return out
}

// WriteText prints the table of packages and every survivor.
func (s Summary) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%-34s %7s %7s %6s %8s %7s %10s %9s\n", "package", "killed", "lived", "t/o", "not cov", "equiv", "kill rate", "covered")
	row := func(t Tally) {
		fmt.Fprintf(&b, "%-34s %7d %7d %6d %8d %7d %9.1f%% %8.1f%%\n", t.Package, t.Killed, t.Lived, t.TimedOut,
			t.NotCovered, t.Equivalent, t.KillRate(), t.Coverage())
	}
	for _, t := range s.Packages {
		row(t)
	}
	row(s.Total)
	if len(s.Survivors) == 0 {
		b.WriteString("\nno survivors\n")
	} else {
		fmt.Fprintf(&b, "\n%d survivors (every test of the package passed with this change):\n", len(s.Survivors))
		for _, m := range s.Survivors {
			in := ""
			if m.Func != "" {
				in = " in " + m.Func
			}
			fmt.Fprintf(&b, "  %s %s%s\n      %s\n", m.Location(), m.Type, in, m.Code)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}
