package procs

import (
	"context"
	"strings"
	"testing"
	"time"
)

func TestGroup(t *testing.T) {
	g := NewGroup(t.TempDir(), 2*time.Second)
	ctx := context.Background()
	if err := g.Start(ctx, "sleeper", "/bin/sh", "-c", "echo started; exec sleep 60"); err != nil {
		t.Fatal(err)
	}
	if err := g.Start(ctx, "quitter", "/bin/sh", "-c", "echo one; echo two; exit 3"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for g.Running("quitter") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if err := g.Exited(); err == nil || !strings.Contains(err.Error(), "quitter exited") || !strings.Contains(err.Error(), "exit status 3") {
		t.Fatalf("Exited: %v", err)
	}
	if got := g.LogTail("quitter", 1); got != "two" {
		t.Fatalf("LogTail(quitter, 1) = %q", got)
	}
	if !g.Running("sleeper") || g.Running("nobody") {
		t.Fatal("Running is wrong")
	}
	start := time.Now()
	g.Stop("sleeper")
	if g.Running("sleeper") || time.Since(start) >= 2*time.Second {
		t.Fatalf("Stop took %s (SIGTERM must end it before the grace) and left it running: %v", time.Since(start), g.Running("sleeper"))
	}
	g.StopAll()
	if g.Exited() != nil {
		t.Fatal("StopAll must forget the stopped programs")
	}
}

func TestFreePorts(t *testing.T) {
	ports, err := FreePorts(5)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	for _, p := range ports {
		if p <= 0 || seen[p] {
			t.Fatalf("ports %v", ports)
		}
		seen[p] = true
	}
}
