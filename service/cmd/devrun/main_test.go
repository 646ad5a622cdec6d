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
		{"Ctrl-C while the server migrates", stopped, fmt.Errorf("migrate on start: %w", context.Canceled), 0, "devrun: stopped while starting"},
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

func TestServingLine(t *testing.T) {
	for _, tc := range []struct{ http, want string }{
		{"127.0.0.1:8080", "serving on http://127.0.0.1:8080 (this machine only; HTTP_ADDR=:8080 opens it to the network)"},
		{"[::1]:8081", "serving on http://[::1]:8081 (this machine only; HTTP_ADDR=:8081 opens it"},
		{"[::]:8080", "serving on every interface at port 8080"},
		{"0.0.0.0:9000", "serving on every interface at port 9000"},
		{"192.0.2.7:8080", "serving on http://192.0.2.7:8080, reachable by other machines"},
	} {
		if got := servingLine(tc.http, "127.0.0.1:9090"); !bytes.Contains([]byte(got), []byte(tc.want)) {
			t.Errorf("servingLine(%q) = %q, want it to say %q", tc.http, got, tc.want)
		}
	}
}
