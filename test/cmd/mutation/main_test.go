package main

import (
	"path"
	"slices"
	"testing"
)

// TestEquivalentsName: every documented equivalent is in a package the run
// covers by default and says why; a run of some packages checks only
// theirs.
func TestEquivalentsName(t *testing.T) {
	for _, e := range equivalents {
		if !slices.Contains(defaultPackages, path.Dir(e.File)) || e.Why == "" || e.Code == "" || e.Func == "" {
			t.Errorf("equivalent %+v: outside the packages, or without Func, Code or Why", e)
		}
	}
	got := equivalentsIn([]string{"service/internal/password"})
	if len(got) == 0 {
		t.Fatal("no equivalents for password")
	}
	for _, e := range got {
		if path.Dir(e.File) != "service/internal/password" {
			t.Errorf("a run of password checks %s", e.File)
		}
	}
}
