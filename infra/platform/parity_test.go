package platform_test

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// features are what a stack declares: every resource type it creates, and
// the switches the program turns on, read from the inputs and options the
// engine received.
func features(r *run) map[string]bool {
	out := map[string]bool{}
	for _, reg := range r.mon.All() {
		out["type "+reg.Type] = true
		if reg.Protect {
			out["protect"] = true
		}
	}
	db := r.mon.ByType(tRDS)[0]
	for _, key := range []string{"multiAz", "deletionProtection", "performanceInsightsEnabled", "iamDatabaseAuthenticationEnabled"} {
		if v, _ := db.Get(key); v == true {
			out["database "+key] = true
		}
	}
	if v, _ := db.Get("skipFinalSnapshot"); v == false {
		out["database finalSnapshot"] = true
	}
	if v, _ := r.mon.ByType(tEKS)[0].Get("vpcConfig.endpointPublicAccess"); v == true {
		out["cluster publicEndpoint"] = true
	}
	for _, b := range r.mon.ByType(tBucket) {
		if v, _ := b.Get("forceDestroy"); v == true {
			out["bucket forceDestroy"] = true
		}
	}
	if len(r.mon.ByType(tNat)) > 1 {
		out["network natGatewayPerAz"] = true
	}
	return out
}

// documentedDifferences reads the table of deliberate differences between
// dev and prod from docs/aws.md: its first column names each feature.
func documentedDifferences(t *testing.T) map[string]bool {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "..", "docs", "aws.md"))
	if err != nil {
		t.Fatal(err)
	}
	doc := string(raw)
	start := strings.Index(doc, "### Deliberate differences")
	if start < 0 {
		t.Fatal(`docs/aws.md has no "### Deliberate differences" section`)
	}
	section := doc[start:]
	if end := strings.Index(section[4:], "\n#"); end >= 0 {
		section = section[:end+4]
	}
	out := map[string]bool{}
	row := regexp.MustCompile("(?m)^\\| `([^`]+)` \\|")
	for _, m := range row.FindAllStringSubmatch(section, -1) {
		out[m[1]] = true
	}
	if len(out) == 0 {
		t.Fatal("the deliberate differences table lists nothing")
	}
	return out
}

// TestDevRehearsesProd: dev declares every resource type and feature prod
// does, and prod every one dev does, except the deliberate differences
// docs/aws.md lists (sizes, counts and retention are not features: they
// differ freely). A new prod-only feature fails here until it runs in dev
// too or is documented as a difference; so does a documented difference
// that no longer is one.
func TestDevRehearsesProd(t *testing.T) {
	dev, prod := features(deployStack(t, "dev", nil)), features(deployStack(t, "prod", nil))
	documented := documentedDifferences(t)
	var differ []string
	for f := range dev {
		if !prod[f] {
			differ = append(differ, f)
		}
	}
	for f := range prod {
		if !dev[f] {
			differ = append(differ, f)
		}
	}
	slices.Sort(differ)
	for _, f := range differ {
		if !documented[f] {
			where := "prod only"
			if dev[f] {
				where = "dev only"
			}
			t.Errorf("%s is %s and not a documented deliberate difference (docs/aws.md)", f, where)
		}
	}
	for f := range documented {
		if !slices.Contains(differ, f) {
			t.Errorf("docs/aws.md lists %s as a difference, but dev and prod agree on it", f)
		}
	}
	if t.Failed() {
		t.Log("differences: " + fmt.Sprint(differ))
	}
}
