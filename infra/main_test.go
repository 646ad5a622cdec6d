package main

import (
	"encoding/json"
	"testing"

	"github.com/gopherops/gopherops/infra/platform"
)

// TestEmbeddedObservabilityAssets checks that the rules and dashboard the
// program installs on the cluster parse.
func TestEmbeddedObservabilityAssets(t *testing.T) {
	o := observability()
	groups, err := platform.RuleGroups(o.AlertRules)
	if err != nil {
		t.Fatal(err)
	}
	alerts := 0
	for _, g := range groups {
		rules, _ := g.(map[string]any)["rules"].([]any)
		alerts += len(rules)
	}
	if alerts == 0 {
		t.Error("the embedded rules file has no alerts")
	}
	for name, doc := range o.Dashboards {
		var d map[string]any
		if err := json.Unmarshal([]byte(doc), &d); err != nil || d["uid"] == nil {
			t.Errorf("dashboard %s: not a Grafana dashboard (%v)", name, err)
		}
	}
}
