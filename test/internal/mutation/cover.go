package mutation

import (
	"bufio"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"strconv"
	"strings"
)

// block is one line of a coverage profile: a span of a file and its count.
type block struct {
	file                                 string
	startLine, startCol, endLine, endCol int
	count                                int
}

func (b block) contains(p token.Position) bool {
	after := p.Line > b.startLine || p.Line == b.startLine && p.Column >= b.startCol
	before := p.Line < b.endLine || p.Line == b.endLine && p.Column <= b.endCol
	return after && before
}

// AddCaseClauses copies a coverage profile (go test -coverprofile), adding a
// block for the expressions of every case clause of a switch the tests
// reached. Go's profile has none: a clause's block starts after its colon,
// so a mutation tool that tries only the mutants inside covered blocks would
// never try `case n > limit:`, the form most of this code's checks take.
// A clause counts as the block holding its switch statement; a clause the
// tests reached the switch of but never evaluated is thus tried, and its
// mutant survives, showing up as a survivor rather than staying hidden.
// source returns a profile file's source (named by import path and file).
func AddCaseClauses(profile io.Reader, w io.Writer, source func(file string) ([]byte, error)) error {
	var lines []string
	byFile := map[string][]block{}
	var files []string
	s := bufio.NewScanner(profile)
	s.Buffer(make([]byte, 64<<10), 1<<20)
	for s.Scan() {
		line := s.Text()
		lines = append(lines, line)
		if strings.HasPrefix(line, "mode:") || strings.TrimSpace(line) == "" {
			continue
		}
		b, err := parseBlock(line)
		if err != nil {
			return err
		}
		if _, ok := byFile[b.file]; !ok {
			files = append(files, b.file)
		}
		byFile[b.file] = append(byFile[b.file], b)
	}
	if err := s.Err(); err != nil {
		return fmt.Errorf("mutation: coverage profile: %w", err)
	}
	for _, file := range files {
		src, err := source(file)
		if err != nil {
			return fmt.Errorf("mutation: coverage profile: %w", err)
		}
		added, err := caseBlocks(file, src, byFile[file])
		if err != nil {
			return err
		}
		lines = append(lines, added...)
	}
	_, err := io.WriteString(w, strings.Join(lines, "\n")+"\n")
	return err
}

// caseBlocks returns the profile lines of the case clauses of one file.
func caseBlocks(file string, src []byte, blocks []block) ([]string, error) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, file, src, parser.SkipObjectResolution)
	if err != nil {
		return nil, fmt.Errorf("mutation: coverage profile: %w", err)
	}
	var out []string
	ast.Inspect(f, func(n ast.Node) bool {
		sw, ok := n.(*ast.SwitchStmt)
		if !ok {
			return true
		}
		at := fset.Position(sw.Pos())
		count := -1
		for _, b := range blocks {
			if b.contains(at) {
				count = b.count
				break
			}
		}
		if count < 0 {
			return true
		}
		for _, stmt := range sw.Body.List {
			cc, ok := stmt.(*ast.CaseClause)
			if !ok || len(cc.List) == 0 {
				continue // default: no expression to mutate
			}
			from, to := fset.Position(cc.Case), fset.Position(cc.Colon)
			out = append(out, fmt.Sprintf("%s:%d.%d,%d.%d %d %d", file, from.Line, from.Column, to.Line, to.Column, 1, count))
		}
		return true
	})
	return out, nil
}

// parseBlock reads "file:startLine.startCol,endLine.endCol statements count".
func parseBlock(line string) (block, error) {
	bad := fmt.Errorf("mutation: coverage profile: malformed line %q", line)
	colon := strings.LastIndex(line, ":")
	if colon < 0 {
		return block{}, bad
	}
	fields := strings.Fields(line[colon+1:])
	if len(fields) != 3 {
		return block{}, bad
	}
	span := strings.FieldsFunc(fields[0], func(r rune) bool { return r == '.' || r == ',' })
	if len(span) != 4 {
		return block{}, bad
	}
	var nums [5]int
	for i, s := range append(span, fields[2]) {
		n, err := strconv.Atoi(s)
		if err != nil {
			return block{}, bad
		}
		nums[i] = n
	}
	return block{file: line[:colon], startLine: nums[0], startCol: nums[1], endLine: nums[2], endCol: nums[3], count: nums[4]}, nil
}
