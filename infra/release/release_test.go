package release

import (
	"regexp"
	"strings"
	"testing"
)

// ociTag is what a registry accepts as a tag.
var ociTag = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)

func TestTagNamesOneImageOfOneStack(t *testing.T) {
	d := "sha256:" + strings.Repeat("ab", 32)
	for _, stack := range []string{"dev", "prod", "nightly-123456789-1", "test-abc123"} {
		tag := Tag(stack, d)
		if !ociTag.MatchString(tag) {
			t.Errorf("Tag(%q) = %q is not a valid tag", stack, tag)
		}
		if !strings.HasPrefix(tag, stack+"-") || !strings.HasSuffix(tag, strings.Repeat("ab", 32)) {
			t.Errorf("Tag(%q) = %q does not name the stack and the whole digest", stack, tag)
		}
	}
	if Tag("dev", d) == Tag("dev", "sha256:"+strings.Repeat("cd", 32)) || Tag("dev", d) == Tag("prod", d) {
		t.Error("two releases or two stacks share a tag")
	}
}

func TestParameter(t *testing.T) {
	if got := Parameter("gopherops", "prod"); got != "/gopherops/prod/release" {
		t.Errorf("Parameter = %q", got)
	}
}

func TestValidDigest(t *testing.T) {
	cases := map[string]bool{
		"sha256:" + strings.Repeat("0a", 32): true,
		"sha256:" + strings.Repeat("0A", 32): false,
		"sha256:abc":                         false,
		"latest":                             false,
		"":                                   false,
	}
	for d, want := range cases {
		if got := ValidDigest(d); got != want {
			t.Errorf("ValidDigest(%q) = %v, want %v", d, got, want)
		}
	}
}
