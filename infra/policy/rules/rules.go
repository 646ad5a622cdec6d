// Package rules is the GopherOps policy pack's content: every policy with
// its reason and the control it enforces, the per-resource waivers, and the
// rule for values unknown at preview time. The pack's main package serves
// these policies to the Pulumi engine through policyx; the tests drive them
// directly on what the program declares.
//
// Unknown values: a preview may not know a value yet (an ARN, a generated
// name). A policy never passes a value it could not read and never crashes
// on one: during a preview the check is deferred and the report policy
// names it (advisory), and the engine runs the pack again when `pulumi up`
// applies, where every input is known; a value still unknown then is a
// violation.
package rules

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/property"
)

// PackName is the pack's name, as the engine reports it (DESIGN.md).
const PackName = "gopherops"

// PackVersion is the pack's version; raise it when a policy changes.
const PackVersion = "1.0.0"

// Level is how a violation counts.
type Level int

const (
	// Mandatory violations fail the preview or update.
	Mandatory Level = iota
	// Advisory violations are reported and never block.
	Advisory
)

// String is the level as the engine names it.
func (l Level) String() string {
	if l == Advisory {
		return "advisory"
	}
	return "mandatory"
}

// Scope is what a policy looks at.
type Scope int

const (
	// ScopeResource policies judge one resource's inputs before it changes.
	ScopeResource Scope = iota
	// ScopeStack policies judge the whole stack's resources together.
	ScopeStack
)

// Policy is one rule of the pack.
type Policy struct {
	// Name identifies the policy in reports, configuration and waivers.
	Name string
	// Reason is the one-line why, shown with every violation.
	Reason string
	// Control links the benchmark control the policy enforces.
	Control string
	// Level is how its violations count.
	Level Level
	// Waivable policies may be waived for one resource (see Waiver).
	Waivable bool

	scope    Scope
	resource func(e Env, r *Resource, c *Check)
	stack    func(e Env, rs []*Resource, report func(subject *Resource) *Check)
}

// Scope is what the policy looks at.
func (p Policy) Scope() Scope { return p.scope }

// Description is the reason and the control, the text the engine prints
// with each violation.
func (p Policy) Description() string {
	return p.Reason + " (" + p.Control + ")"
}

// Env is what a run of the pack knows about the stack.
type Env struct {
	// Project and Stack name the stack being checked.
	Project, Stack string
	// Environment is gopherops:environment (dev, prod, local).
	Environment string
	// DryRun is true during a preview.
	DryRun bool
	// Now is the time waivers expire against.
	Now time.Time
}

// Prod reports whether the stack is production, by its name or its
// environment: renaming one of them does not switch prod rules off.
func (e Env) Prod() bool { return e.Stack == "prod" || e.Environment == "prod" }

// Resource is one resource as the engine hands it to the pack.
type Resource struct {
	// Type is the type token, e.g. kubernetes:apps/v1:Deployment.
	Type string
	// URN identifies the resource in every report.
	URN string
	// Name is the logical name.
	Name string
	// Props are the inputs (resource policies) or the outputs (stack policies).
	Props property.Map
	// Provider are the properties of the resource's provider (AWS default
	// tags live there); empty when unknown.
	Provider property.Map
	// PropertyDependencies are, by top-level property, the URNs its value
	// was computed from (stack policies only).
	PropertyDependencies map[string][]string
}

// props is the root of the resource's properties.
func (r *Resource) props() field { return root(r.Props) }

// isAWS reports whether the resource is an AWS resource.
func (r *Resource) isAWS() bool { return strings.HasPrefix(r.Type, "aws:") }

// isKubernetes reports whether the resource is a Kubernetes object.
func (r *Resource) isKubernetes() bool { return strings.HasPrefix(r.Type, "kubernetes:") }

// dependsOn reports whether property key was computed from the resource urn.
func (r *Resource) dependsOn(key, urn string) bool {
	for _, u := range r.PropertyDependencies[key] {
		if u == urn {
			return true
		}
	}
	return false
}

// Check collects what one policy found on one resource.
type Check struct {
	violations []string
	unknowns   []string
}

// Failf records a violation.
func (c *Check) Failf(format string, args ...any) {
	c.violations = append(c.violations, fmt.Sprintf(format, args...))
}

// Unknown records a property whose value the policy needs but the preview
// does not know yet.
func (c *Check) Unknown(path string) {
	for _, p := range c.unknowns {
		if p == path {
			return
		}
	}
	c.unknowns = append(c.unknowns, path)
}

// Violations are the violations found, in order.
func (c *Check) Violations() []string { return append([]string(nil), c.violations...) }

// Unknowns are the properties that could not be judged, sorted.
func (c *Check) Unknowns() []string {
	out := append([]string(nil), c.unknowns...)
	sort.Strings(out)
	return out
}

// requireBool records a violation unless f is the known bool want; msg says
// what is required.
func (c *Check) requireBool(f field, want bool, msg string) {
	if f.unknown() {
		c.Unknown(f.path)
		return
	}
	if got, ok := f.boolean(); !ok || got != want {
		c.Failf("%s: %s is %s", msg, f.path, show(f))
	}
}

// show formats a field's value for a message.
func show(f field) string {
	switch {
	case !f.found:
		return "not set"
	case f.unknown():
		return "unknown"
	}
	if s, ok := f.str(); ok {
		return fmt.Sprintf("%q", s)
	}
	if b, ok := f.boolean(); ok {
		return fmt.Sprint(b)
	}
	if n, ok := f.number(); ok {
		return fmt.Sprint(n)
	}
	return "set"
}
