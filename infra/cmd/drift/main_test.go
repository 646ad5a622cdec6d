package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestExitStatus: usage errors and a check that cannot run exit 2, never 0
// or 1, whose meanings (clean, drift) a caller acts on.
func TestExitStatus(t *testing.T) {
	empty := t.TempDir()
	// Whatever the machine's login, the check looks at an empty local backend.
	t.Setenv("PULUMI_BACKEND_URL", "file://"+empty)
	t.Setenv("PULUMI_HOME", t.TempDir())
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"no stack", nil, "usage: drift -stack"},
		{"stray argument", []string{"-stack", "dev", "extra"}, "usage: drift -stack"},
		{"unknown flag", []string{"-stak", "dev"}, "flag provided but not defined"},
		{"no project in the directory", []string{"-stack", "dev", "-dir", empty}, "drift check failed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if got := run(context.Background(), tc.args, &stdout, &stderr); got != exitError {
				t.Errorf("exit %d, want %d; stderr:\n%s", got, exitError, stderr.String())
			}
			if !strings.Contains(stderr.String(), tc.want) {
				t.Errorf("stderr lacks %q:\n%s", tc.want, stderr.String())
			}
			if stdout.Len() > 0 {
				t.Errorf("a failed check printed a report:\n%s", stdout.String())
			}
		})
	}
}
