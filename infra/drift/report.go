// Package drift compares a stack's recorded state with what really runs:
// it asks the engine for a refresh preview (`pulumi refresh --preview-only`,
// which reads every resource from its provider and writes no state) and
// turns the resources whose live properties differ from what the program
// declared, or that are gone, into a report for machines (JSON) and people
// (Markdown).
package drift

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"
)

// Change kinds of a resource or a property.
const (
	// Updated: the resource exists but differs from the declared state.
	Updated = "update"
	// Deleted: the resource (or property) is gone.
	Deleted = "delete"
	// Added: the live resource has a property the program did not declare.
	Added = "add"
)

// Property is one property that differs.
type Property struct {
	// Path is the property path, e.g. spec.replicas or spec.ingress[0].ports[0].port.
	Path string `json:"path"`
	// Change is update, add or delete.
	Change string `json:"change"`
	// Declared is the value the stack's state holds (what `up` applies again); absent when unknown.
	Declared any `json:"declared,omitempty"`
	// Live is the value the provider reads now; absent when unknown or gone.
	Live any `json:"live,omitempty"`
}

// Resource is one resource that drifted.
type Resource struct {
	// URN identifies the resource.
	URN string `json:"urn"`
	// Type is its type token.
	Type string `json:"type"`
	// Name is its logical name.
	Name string `json:"name"`
	// ID is the provider's ID (the Kubernetes namespace/name, the AWS ID).
	ID string `json:"id,omitempty"`
	// Change is update (differs) or delete (gone).
	Change string `json:"change"`
	// Properties are the differing properties, sorted by path; empty for a deleted resource.
	Properties []Property `json:"properties"`
}

// Report is the result of one drift check.
type Report struct {
	// Stack is the stack checked.
	Stack string `json:"stack"`
	// CheckedAt is when the check ran (UTC).
	CheckedAt time.Time `json:"checkedAt"`
	// Duration is how long the refresh preview took.
	Duration string `json:"duration"`
	// Drifted is true when any resource drifted.
	Drifted bool `json:"drifted"`
	// Resources are the drifted resources, sorted by URN.
	Resources []Resource `json:"resources"`
	// Summary counts the resources by what the refresh found (same, update, delete).
	Summary map[string]int `json:"summary"`
}

// finish sorts the report and sets Drifted.
func (r *Report) finish() {
	sort.Slice(r.Resources, func(i, j int) bool { return r.Resources[i].URN < r.Resources[j].URN })
	for i := range r.Resources {
		ps := r.Resources[i].Properties
		sort.Slice(ps, func(a, b int) bool { return ps[a].Path < ps[b].Path })
	}
	r.Drifted = len(r.Resources) > 0
	if r.Resources == nil {
		r.Resources = []Resource{}
	}
}

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(r); err != nil {
		return fmt.Errorf("drift: write JSON: %w", err)
	}
	return nil
}

// WriteMarkdown writes the report for people: a verdict, then one table per
// drifted resource.
func (r *Report) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "## Drift check of stack `%s`\n\n", r.Stack)
	fmt.Fprintf(&b, "Checked %s (refresh preview, %s); nothing was written to the state.\n\n",
		r.CheckedAt.UTC().Format(time.RFC3339), r.Duration)
	if !r.Drifted {
		b.WriteString("**No drift**: every resource matches what the stack declares.\n")
	} else {
		fmt.Fprintf(&b, "**%d resource(s) drifted** from what the stack declares. "+
			"`PULUMI_K8S_ENABLE_PATCH_FORCE=true pulumi up --refresh -s %s` puts them back "+
			"(the variable lets the program take back the Kubernetes fields someone else changed); "+
			"or change the program to adopt the change.\n", len(r.Resources), r.Stack)
		for _, res := range r.Resources {
			fmt.Fprintf(&b, "\n### `%s` %s\n\n", res.Type, mdCode(res.Name))
			fmt.Fprintf(&b, "URN `%s`", res.URN)
			if res.ID != "" {
				fmt.Fprintf(&b, ", ID `%s`", res.ID)
			}
			b.WriteString("\n\n")
			if res.Change == Deleted {
				b.WriteString("The resource is **gone**: it exists in the state but no longer in the cloud or cluster.\n")
				continue
			}
			b.WriteString("| property | change | declared | live |\n|---|---|---|---|\n")
			for _, p := range res.Properties {
				fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", p.Path, p.Change, mdValue(p.Declared), mdValue(p.Live))
			}
		}
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("drift: write Markdown: %w", err)
	}
	return nil
}

// mdCode is s as inline code.
func mdCode(s string) string { return "`" + strings.ReplaceAll(s, "`", "'") + "`" }

// mdValue formats a value for a table cell: JSON, shortened, pipes escaped.
func mdValue(v any) string {
	if v == nil {
		return "–"
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return "?"
	}
	s := string(raw)
	const maxLen = 80
	if len(s) > maxLen {
		s = s[:maxLen-1] + "…"
	}
	return "`" + strings.NewReplacer("|", "\\|", "`", "'", "\n", " ").Replace(s) + "`"
}
