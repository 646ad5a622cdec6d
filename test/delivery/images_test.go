package delivery_test

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// goneNamespaces are image repositories that no longer publish: a reference
// to one breaks `docker compose up` (or a workflow) for every new user, or pins
// a frozen snapshot that never gets a security fix.
var goneNamespaces = []struct{ prefix, why string }{
	{"minio/", "MinIO deleted minio/minio and minio/mc from Docker Hub on 2026-09-12"},
	{"docker.io/minio/", "MinIO deleted minio/minio and minio/mc from Docker Hub on 2026-09-12"},
	{"quay.io/minio/", "a frozen snapshot: MinIO's community edition is archived and gets no updates"},
	{"bitnami/", "Bitnami stopped publishing its free catalog in 2025 (bitnamilegacy is frozen)"},
	{"docker.io/bitnami/", "Bitnami stopped publishing its free catalog in 2025 (bitnamilegacy is frozen)"},
	{"bitnamilegacy/", "a frozen snapshot that gets no updates"},
}

// pinnedImage is registry/name:tag@sha256:<64 hex>: the digest is what is
// trusted, the tag tells the reader (and Dependabot) which release it is.
var pinnedImage = regexp.MustCompile(`^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:(?::[0-9]+)?/[a-z0-9]+(?:[._-][a-z0-9]+)*)*:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}@sha256:[0-9a-f]{64}$`)

// checkImage says why a third-party image reference is not acceptable, or nil.
func checkImage(ref string) error {
	for _, g := range goneNamespaces {
		if strings.HasPrefix(ref, g.prefix) {
			return fmt.Errorf("%s comes from %s, which no longer publishes: %s", ref, strings.TrimSuffix(g.prefix, "/"), g.why)
		}
	}
	if !strings.Contains(ref, "@sha256:") {
		return fmt.Errorf("%s is not pinned by digest (want name:tag@sha256:<64 hex digits>)", ref)
	}
	if !pinnedImage.MatchString(ref) {
		return fmt.Errorf("%s is not of the form name:tag@sha256:<64 hex digits>", ref)
	}
	return nil
}

func TestCheckImage(t *testing.T) {
	const digest = "@sha256:4e61d15fd35994cb1e43e1e553dff106794841fd9a99ade2fc8c8bfce4d7872d"
	tests := []struct {
		ref  string
		want string // "" when accepted, else a fragment of the reason
	}{
		{"chrislusf/seaweedfs:4.48" + digest, ""},
		{"postgres:17.6" + digest, ""},
		{"ghcr.io/gopherops/gopherops:1.2.3" + digest, ""},
		{"registry.example:5000/team/app:v1" + digest, ""},
		{"postgres:17", "not pinned by digest"},
		{"postgres@sha256:4e61d15fd35994cb1e43e1e553dff106794841fd9a99ade2fc8c8bfce4d7872d", "not of the form"},
		{"postgres:17.6@sha256:abcdef", "not of the form"},
		{"postgres:17.6@sha256:" + strings.Repeat("A", 64), "not of the form"},
		{"minio/minio:RELEASE.2025-09-07T16-13-09Z", "no longer publishes"},
		{"minio/mc:RELEASE.2025-08-13T08-35-41Z" + digest, "no longer publishes"},
		{"quay.io/minio/minio:RELEASE.2025-09-07T16-13-09Z" + digest, "frozen snapshot"},
		{"bitnami/redis:7.4" + digest, "no longer publishes"},
	}
	for _, tt := range tests {
		t.Run(tt.ref, func(t *testing.T) {
			err := checkImage(tt.ref)
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tt.want != "" && err == nil:
				t.Errorf("accepted, want refused (%s)", tt.want)
			case tt.want != "" && !strings.Contains(err.Error(), tt.want):
				t.Errorf("refused with %q, want a reason containing %q", err, tt.want)
			}
		})
	}
}

// TestComposeImagesPinned: every image compose pulls (all profiles) is pinned
// by tag and digest and comes from a namespace that still publishes. The
// GopherOps image is built from the Dockerfile and is not pulled.
func TestComposeImagesPinned(t *testing.T) {
	p := loadCompose(t, []string{"observability"})
	pulled := 0
	for name, s := range p.Services {
		if s.Build != nil {
			continue
		}
		pulled++
		if err := checkImage(s.Image); err != nil {
			t.Errorf("service %s: %v", name, err)
		}
	}
	if pulled < 4 {
		t.Errorf("only %d pulled images found (db, s3, prometheus, grafana expected): the check saw too little", pulled)
	}
}

// workflowImage matches a literal image given to a workflow: a job or service
// container's `image:`, a variable named *IMAGE*, or `--image`.
var workflowImage = regexp.MustCompile(`(?:^\s*(?:-\s+)?(?:image|[A-Z_]*IMAGE[A-Z_]*):\s*|--image[= ]+)["']?([^\s"'#]+)`)

// TestWorkflowImagesPinned applies the compose rule to the images workflows
// run. Images the workflow builds itself (no registry path: gopherops:ci, or
// a registry under .local, which no resolver answers for:
// gopherops.local/gopherops:ci) and expressions (${{ ... }}) are not pulled
// and are skipped.
func TestWorkflowImagesPinned(t *testing.T) {
	pinned := 0
	for _, name := range workflowFiles {
		src := string(readFile(t, filepath.Join(".github", "workflows", name)))
		for i, line := range strings.Split(src, "\n") {
			if strings.HasPrefix(strings.TrimSpace(line), "#") {
				continue
			}
			m := workflowImage.FindStringSubmatch(line)
			if m == nil {
				continue
			}
			ref := m[1]
			if strings.Contains(ref, "${") || strings.HasPrefix(ref, "$") || !strings.Contains(ref, "/") || builtLocally(ref) {
				continue
			}
			pinned++
			if err := checkImage(ref); err != nil {
				t.Errorf("%s:%d: %v", name, i+1, err)
			}
		}
	}
	if pinned == 0 {
		t.Error("no pulled image found in the workflows (kind's node image is expected): the check saw nothing")
	}
}

// builtLocally reports whether ref names a registry under the .local domain,
// which only the workflow's own build can have put on the runner (RFC 6762
// reserves it for link-local names: nothing is pulled from there).
func builtLocally(ref string) bool {
	host, _, ok := strings.Cut(ref, "/")
	return ok && strings.HasSuffix(strings.ToLower(host), ".local")
}

// TestBuiltLocally: only a registry host under .local is skipped, never a
// repository path that merely contains the word.
func TestBuiltLocally(t *testing.T) {
	for ref, want := range map[string]bool{
		"gopherops.local/gopherops:ci":        true,
		"registry.LOCAL/x:1":                  true,
		"ghcr.io/gopherops.local/gopherops:1": false,
		"docker.io/library/local:1":           false,
		"local/gopherops:ci":                  false,
		"gopherops:ci":                        false,
	} {
		if got := builtLocally(ref); got != want {
			t.Errorf("builtLocally(%q) = %v, want %v", ref, got, want)
		}
	}
}
