package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
)

func TestExitCode(t *testing.T) {
	stopped, cancel := context.WithCancel(context.Background())
	cancel()
	running := context.Background()
	initdb := errors.New("pglocal: initdb: exit status 1: child process was terminated by signal 2")
	for _, tc := range []struct {
		name   string
		ctx    context.Context
		err    error
		want   int
		stderr string
	}{
		{"a clean stop after Ctrl-C", stopped, nil, 0, ""},
		{"Ctrl-C while migrating", stopped, fmt.Errorf("migrate: %w", context.Canceled), 0, "devrun: stopped while starting"},
		{"Ctrl-C that reached initdb too", stopped, initdb, 0, "devrun: stopped while starting"},
		{"a server that did not shut down cleanly", stopped, &serveError{errors.New("context deadline exceeded")}, 1, "devrun: context deadline exceeded"},
		{"a start that failed on its own", running, errors.New("listen on HTTP_ADDR :8080: address already in use"), 1, "devrun: listen on HTTP_ADDR"},
		{"a server that failed on its own", running, &serveError{errors.New("accept: too many open files")}, 1, "devrun: accept"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stderr bytes.Buffer
			if got := exitCode(tc.ctx, tc.err, &stderr); got != tc.want {
				t.Errorf("exit code %d, want %d", got, tc.want)
			}
			if !bytes.Contains(stderr.Bytes(), []byte(tc.stderr)) || (tc.stderr == "") != (stderr.Len() == 0) {
				t.Errorf("stderr %q, want %q", stderr.String(), tc.stderr)
			}
		})
	}
}
