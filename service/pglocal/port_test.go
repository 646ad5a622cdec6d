package pglocal

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestStartPicksAnotherPortWhenItsOwnIsTaken: the port chosen as free is
// bound by someone else before the server starts (another test process did
// this once: "address already in use"); the server starts on another one.
func TestStartPicksAnotherPortWhenItsOwnIsTaken(t *testing.T) {
	if _, err := BinDir(); err != nil {
		t.Skipf("no PostgreSQL server binaries: %v", err)
	}
	s, err := prepared(Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	taken := s.port
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(taken)))
	if err != nil {
		t.Fatalf("take port %d: %v", taken, err)
	}
	defer l.Close()

	if err := s.startOnFreePort(context.Background(), false); err != nil {
		t.Fatalf("start: %v", err)
	}
	if s.port == taken {
		t.Fatalf("still on the taken port %d", taken)
	}
	b, err := os.ReadFile(filepath.Join(s.dir, "port"))
	if err != nil || strings.TrimSpace(string(b)) != strconv.Itoa(s.port) {
		t.Fatalf("port file %q, want %d", b, s.port)
	}
	// A port the caller fixed is not changed behind its back.
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	s.port = taken
	if err := s.startOnFreePort(context.Background(), true); err == nil {
		t.Fatal("started on a fixed port someone else holds")
	}
}
