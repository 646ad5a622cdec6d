package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gopherops/gopherops/infra/previews"
)

// memBackend is a backend in memory.
type memBackend struct {
	stacks    []previews.Stack
	destroyed []string
}

func (m *memBackend) Stacks(context.Context) ([]previews.Stack, error) { return m.stacks, nil }

func (m *memBackend) Destroy(_ context.Context, name string) error {
	m.destroyed = append(m.destroyed, name)
	return nil
}

// project writes a project directory whose stack file is the committed
// template with the given limit set (the template itself leaves the limit
// to its default).
func project(t *testing.T, stack, limit string) string {
	t.Helper()
	dir := t.TempDir()
	tmpl, err := os.ReadFile(filepath.Join("..", "..", "..", "Pulumi.pr.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(tmpl), "gopherops:prStackLimit:") {
		t.Fatal("the template sets prStackLimit: this helper would set it twice")
	}
	file := strings.Replace(string(tmpl), "\nconfig:\n", "\nconfig:\n  gopherops:prStackLimit: "+limit+"\n", 1)
	if err := os.WriteFile(filepath.Join(dir, "Pulumi."+stack+".yaml"), []byte(file), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

func runWith(t *testing.T, b previews.Backend, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(context.Background(), args, &out, &errOut, func(context.Context, string, io.Writer) (previews.Backend, error) { return b, nil })
	return code, out.String(), errOut.String()
}

func TestAdmitReadsTheLimitFromTheStackFile(t *testing.T) {
	now := time.Now()
	alive := []previews.Stack{{Name: "pr-1", PR: 1, LastUpdate: now}, {Name: "pr-2", PR: 2, LastUpdate: now}}
	cases := []struct {
		stack, limit string
		code         int
		say          string
	}{
		{"pr-3", "3", 0, "pr-3 admitted: 2 pull-request stacks alive, the limit is 3"},
		{"pr-3", "2", 1, "limit is reached: 2 of 2 alive (pr-1, pr-2)"},
		{"pr-2", "2", 0, "pr-2 admitted"},
		{"pr-3", "0", 1, "gopherops:prStackLimit: 0 must be between 1 and 50"},
	}
	for _, c := range cases {
		t.Run(c.stack+" limit "+c.limit, func(t *testing.T) {
			code, out, errOut := runWith(t, &memBackend{stacks: alive}, "admit", "-stack", c.stack, "-dir", project(t, c.stack, c.limit))
			if code != c.code || !strings.Contains(out+errOut, c.say) {
				t.Errorf("exit %d, output %q %q; want %d and %q", code, out, errOut, c.code, c.say)
			}
		})
	}
}

func TestDestroyAndReap(t *testing.T) {
	old := time.Now().Add(-100 * time.Hour)
	b := &memBackend{stacks: []previews.Stack{
		{Name: "pr-1", PR: 1, LastUpdate: old},
		{Name: "pr-2", PR: 2, LastUpdate: time.Now()},
	}}
	if code, out, errOut := runWith(t, b, "reap", "-ttl", "72h", "-dry-run"); code != 0 || !strings.Contains(out, "would destroy 1 of 2: pr-1") || len(b.destroyed) != 0 {
		t.Errorf("dry run: exit %d, %q %q, destroyed %v", code, out, errOut, b.destroyed)
	}
	if code, out, errOut := runWith(t, b, "reap", "-ttl", "72h"); code != 0 || !slices.Equal(b.destroyed, []string{"pr-1"}) {
		t.Errorf("reap: exit %d, %q %q, destroyed %v", code, out, errOut, b.destroyed)
	}
	if code, out, _ := runWith(t, b, "destroy", "-stack", "pr-9"); code != 0 || !strings.Contains(out, "namespace gopherops-pr-9") || b.destroyed[1] != "pr-9" {
		t.Errorf("destroy: exit %d, %q, destroyed %v", code, out, b.destroyed)
	}
}

func TestUsage(t *testing.T) {
	for _, args := range [][]string{
		nil,
		{"deploy"},
		{"admit"},
		{"admit", "-stack", "dev"},
		{"destroy", "-stack", "pr-x"},
		{"reap"},
		{"reap", "-ttl", "-1h"},
		{"reap", "-ttl", "1h", "extra"},
		{"reap", "-bogus"},
	} {
		b := &memBackend{}
		if code, _, errOut := runWith(t, b, args...); code != 2 || errOut == "" || len(b.destroyed) != 0 {
			t.Errorf("previews %q: exit %d, stderr %q; want 2 and a message", args, code, errOut)
		}
	}
}
