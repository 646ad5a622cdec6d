package rules

import (
	"fmt"
	"strings"
)

// Finding is one line a policy reports to the engine.
type Finding struct {
	// Policy is the reporting policy's name.
	Policy string
	// URN is the resource the finding is about.
	URN string
	// Message says what is wrong, starting with the URN.
	Message string
}

// Evaluator runs the pack's policies for one stack.
type Evaluator struct {
	env      Env
	policies []Policy
	index    map[string]Policy
}

// NewEvaluator returns an evaluator of the whole catalog for e.
func NewEvaluator(e Env) *Evaluator {
	ps := Catalog()
	return &Evaluator{env: e, policies: ps, index: byName(ps)}
}

// Env is the stack the evaluator judges.
func (ev *Evaluator) Env() Env { return ev.env }

// Policies are the policies it runs, in catalog order.
func (ev *Evaluator) Policies() []Policy { return append([]Policy(nil), ev.policies...) }

// waiversOf returns r's valid waivers by policy, and its invalid ones.
func (ev *Evaluator) waiversOf(r *Resource) (valid map[string]Waiver, invalid []Waiver) {
	ws, _, _ := Waivers(r, ev.index, ev.env.Now)
	valid = map[string]Waiver{}
	for _, w := range ws {
		if w.Valid() {
			valid[w.Policy] = w
		} else {
			invalid = append(invalid, w)
		}
	}
	return valid, invalid
}

// verdict is one judging policy's result on one resource.
type verdict struct {
	policy Policy
	r      *Resource
	check  *Check
	waiver *Waiver // a valid waiver of policy on r
}

// findings are what the judging policy itself reports: its violations
// unless waived, and after a preview the values still unknown (fail closed).
func (v verdict) findings(dryRun bool) []Finding {
	if v.waiver != nil {
		return nil
	}
	var out []Finding
	for _, msg := range v.check.Violations() {
		out = append(out, finding(v.policy.Name, v.r.URN, msg))
	}
	if !dryRun {
		for _, p := range v.check.Unknowns() {
			out = append(out, finding(v.policy.Name, v.r.URN, p+" is unknown while the change is applied: the policy cannot verify it"))
		}
	}
	return out
}

// reports are what the report policies say about the verdict: the waiver it
// used, or the checks a preview deferred.
func (v verdict) reports(reporter string, dryRun bool) []Finding {
	var out []Finding
	switch {
	case v.waiver != nil && (len(v.check.Violations()) > 0 || len(v.check.Unknowns()) > 0):
		what := strings.Join(append(v.check.Violations(), v.check.Unknowns()...), "; ")
		out = append(out, finding(reporter, v.r.URN, fmt.Sprintf("waiver used: %s (instead of: %s)", v.waiver, what)))
	case v.waiver != nil:
		out = append(out, finding(reporter, v.r.URN, fmt.Sprintf("waiver not needed, remove it: %s", v.waiver)))
	case dryRun && len(v.check.Unknowns()) > 0:
		out = append(out, finding(reporter, v.r.URN, fmt.Sprintf("%s deferred to `pulumi up`, unknown at preview: %s",
			v.policy.Name, strings.Join(v.check.Unknowns(), ", "))))
	}
	return out
}

func finding(policy, urn, msg string) Finding {
	return Finding{Policy: policy, URN: urn, Message: urn + ": " + msg}
}

// judge runs one resource policy on r.
func (ev *Evaluator) judge(p Policy, r *Resource, valid map[string]Waiver) verdict {
	c := &Check{}
	p.resource(ev.env, r, c)
	v := verdict{policy: p, r: r, check: c}
	if w, ok := valid[p.Name]; ok {
		v.waiver = &w
	}
	return v
}

// judgeStack runs one stack policy and returns a verdict per resource it
// reported on, plus one for every other resource holding a waiver of it.
func (ev *Evaluator) judgeStack(p Policy, rs []*Resource) []verdict {
	checks := map[string]*Check{}
	subjects := map[string]*Resource{}
	var order []string
	p.stack(ev.env, rs, func(subject *Resource) *Check {
		if c, ok := checks[subject.URN]; ok {
			return c
		}
		c := &Check{}
		checks[subject.URN], subjects[subject.URN] = c, subject
		order = append(order, subject.URN)
		return c
	})
	var out []verdict
	for _, urn := range order {
		r := subjects[urn]
		valid, _ := ev.waiversOf(r)
		v := verdict{policy: p, r: r, check: checks[urn]}
		if w, ok := valid[p.Name]; ok {
			v.waiver = &w
		}
		out = append(out, v)
	}
	for _, r := range rs {
		if _, seen := checks[r.URN]; seen {
			continue
		}
		valid, _ := ev.waiversOf(r)
		if w, ok := valid[p.Name]; ok {
			out = append(out, verdict{policy: p, r: r, check: &Check{}, waiver: &w})
		}
	}
	return out
}

// Resource is what the named resource-scope policy reports on r.
func (ev *Evaluator) Resource(name string, r *Resource) ([]Finding, error) {
	p, ok := ev.index[name]
	if !ok || p.scope != ScopeResource {
		return nil, fmt.Errorf("rules: no resource policy %q", name)
	}
	valid, invalid := ev.waiversOf(r)
	switch name {
	case WaiverValid:
		var out []Finding
		for _, w := range invalid {
			out = append(out, finding(name, r.URN, fmt.Sprintf("waiver %s is invalid: %s", w.Key, w.Problem)))
		}
		return out, nil
	case Report:
		var out []Finding
		for _, other := range ev.policies {
			if other.scope == ScopeResource && other.resource != nil {
				out = append(out, ev.judge(other, r, valid).reports(name, ev.env.DryRun)...)
			}
		}
		return out, nil
	}
	return ev.judge(p, r, valid).findings(ev.env.DryRun), nil
}

// Stack is what the named stack-scope policy reports on the stack's resources.
func (ev *Evaluator) Stack(name string, rs []*Resource) ([]Finding, error) {
	p, ok := ev.index[name]
	if !ok || p.scope != ScopeStack {
		return nil, fmt.Errorf("rules: no stack policy %q", name)
	}
	var out []Finding
	if name == StackReport {
		for _, other := range ev.policies {
			if other.scope == ScopeStack && other.stack != nil {
				for _, v := range ev.judgeStack(other, rs) {
					out = append(out, v.reports(name, ev.env.DryRun)...)
				}
			}
		}
		return out, nil
	}
	for _, v := range ev.judgeStack(p, rs) {
		out = append(out, v.findings(ev.env.DryRun)...)
	}
	return out, nil
}
