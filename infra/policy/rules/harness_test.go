package rules_test

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gopherops/gopherops/infra/internal/mocks"
	"github.com/gopherops/gopherops/infra/internal/stacktest"
	"github.com/gopherops/gopherops/infra/policy/rules"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/tokens"
	"github.com/pulumi/pulumi/sdk/v3/go/property"
)

// stacks are the committed stacks the pack must pass (pr-42: a pull
// request's, from the template Pulumi.pr.yaml).
var stacks = []string{"dev", "prod", "local", "pr-42"}

// now is the clock of every test: waivers expire against it.
var now = time.Date(2026, time.March, 1, 12, 0, 0, 0, time.UTC)

// operatorSettings are what an operator sets per stack besides the
// secrets: the local stack's image pinned by digest (GHCR's digest of the
// release the stack file names), as docs/guardrails.md asks.
var operatorSettings = map[string]map[string]string{
	"local": {"gopherops:imageDigest": "sha256:" + strings.Repeat("ab", 32)},
	// The workflow sets the digest of the image it pushed (preview-env.yml).
	"pr-42": {"gopherops:imageDigest": "sha256:" + strings.Repeat("cd", 32)},
}

// declared is one stack as the engine hands it to the pack: each
// resource's inputs (what resource policies judge before a change) and its
// outputs (what stack policies judge).
type declared struct {
	env     rules.Env
	inputs  []*rules.Resource
	outputs []*rules.Resource
}

var (
	declaredMu    sync.Mutex
	declaredCache = map[string]*declared{}
)

// declare runs the program for stack under the mock monitor once per test
// binary and converts what it registered; each call returns a deep copy
// that the caller may mutate.
func declare(t *testing.T, stack string) *declared {
	t.Helper()
	declaredMu.Lock()
	defer declaredMu.Unlock()
	d, ok := declaredCache[stack]
	if !ok {
		res, err := stacktest.Run(stack, operatorSettings[stack])
		if err != nil {
			t.Fatal(err)
		}
		d = convert(t, res)
		declaredCache[stack] = d
	}
	return d.copy()
}

func (d *declared) copy() *declared {
	cp := func(rs []*rules.Resource) []*rules.Resource {
		out := make([]*rules.Resource, len(rs))
		for i, r := range rs {
			c := *r
			out[i] = &c
		}
		return out
	}
	return &declared{env: d.env, inputs: cp(d.inputs), outputs: cp(d.outputs)}
}

// convert turns the mock registrations into the pack's resources: URNs as
// the engine builds them, the default AWS provider's properties from the
// stack's aws: settings (strings, objects as JSON, as the engine passes
// them), an explicit provider's from its registration.
func convert(t *testing.T, res *stacktest.Result) *declared {
	t.Helper()
	env := rules.Env{Project: stacktest.Project, Stack: res.Stack, Environment: res.Config[rules.EnvironmentKey], Now: now}
	awsDefaults := map[string]property.Value{}
	for k, v := range res.Config {
		if name, ok := strings.CutPrefix(k, "aws:"); ok {
			awsDefaults[name] = property.New(v)
		}
	}
	regs := res.Monitor.All()
	urns := map[*mocks.Registration]string{}
	byURN := map[string]*mocks.Registration{}
	for _, reg := range regs {
		urn := urnOf(res.Stack, reg)
		urns[reg], byURN[urn] = urn, reg
	}
	d := &declared{env: env}
	for _, reg := range regs {
		provider := property.Map{}
		switch {
		case reg.Provider != "":
			ref := reg.Provider[:strings.LastIndex(reg.Provider, "::")]
			p, ok := byURN[ref]
			if !ok {
				t.Fatalf("%s: provider %s was never registered", reg, reg.Provider)
			}
			provider = resource.FromResourcePropertyMap(p.Inputs)
		case strings.HasPrefix(reg.Type, "aws:"):
			provider = property.NewMap(awsDefaults)
		}
		deps := map[string][]string{}
		for k, v := range reg.PropertyDependencies {
			deps[k] = v
		}
		base := rules.Resource{Type: reg.Type, URN: urns[reg], Name: reg.Name, Provider: provider, PropertyDependencies: deps}
		in, out := base, base
		in.Props = resource.FromResourcePropertyMap(reg.Inputs)
		out.Props = resource.FromResourcePropertyMap(reg.Outputs)
		d.inputs = append(d.inputs, &in)
		d.outputs = append(d.outputs, &out)
	}
	return d
}

// urnOf is the URN the engine gives reg (the SDK's mock monitor builds the
// same one).
func urnOf(stack string, reg *mocks.Registration) string {
	parentType := tokens.Type("")
	if p := resource.URN(reg.Parent); p != "" && p.QualifiedType() != resource.RootStackType {
		parentType = p.QualifiedType()
	}
	return string(resource.NewURN(tokens.QName(stack), tokens.PackageName(stacktest.Project), parentType, tokens.Type(reg.Type), reg.Name))
}

// run evaluates every policy of the pack on d, the way the engine calls
// them: resource policies on each resource's inputs, stack policies once on
// all outputs.
func run(t *testing.T, d *declared) []rules.Finding {
	t.Helper()
	ev := rules.NewEvaluator(d.env)
	var out []rules.Finding
	for _, p := range ev.Policies() {
		if p.Scope() == rules.ScopeStack {
			found, err := ev.Stack(p.Name, d.outputs)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, found...)
			continue
		}
		for _, r := range d.inputs {
			found, err := ev.Resource(p.Name, r)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, found...)
		}
	}
	return out
}

// byPolicy groups findings by policy name.
func byPolicy(found []rules.Finding) map[string][]rules.Finding {
	m := map[string][]rules.Finding{}
	for _, f := range found {
		m[f.Policy] = append(m[f.Policy], f)
	}
	return m
}

// find returns the resource of type typ whose logical name matches name, in
// rs; it fails when there is not exactly one.
func find(t *testing.T, rs []*rules.Resource, typ, name string) *rules.Resource {
	t.Helper()
	re := regexp.MustCompile("^" + name + "$")
	var hits []*rules.Resource
	for _, r := range rs {
		if r.Type == typ && re.MatchString(r.Name) {
			hits = append(hits, r)
		}
	}
	if len(hits) != 1 {
		var names []string
		for _, r := range rs {
			if r.Type == typ {
				names = append(names, r.Name)
			}
		}
		t.Fatalf("want one %s named %s, got %d (of %v)", typ, name, len(hits), names)
	}
	return hits[0]
}

// pathStep is one step of a dotted path: a member key or an [i] index.
type pathStep struct {
	key   string
	index int // -1 for a key
}

var indexStep = regexp.MustCompile(`^(.*)\[([0-9]+)\]$`)

func parsePath(path string) []pathStep {
	var steps []pathStep
	for _, part := range strings.Split(path, ".") {
		var idx []int
		for {
			m := indexStep.FindStringSubmatch(part)
			if m == nil {
				break
			}
			n, _ := strconv.Atoi(m[2])
			idx = append([]int{n}, idx...)
			part = m[1]
		}
		steps = append(steps, pathStep{key: part, index: -1})
		for _, n := range idx {
			steps = append(steps, pathStep{index: n})
		}
	}
	return steps
}

// set returns m with the value at a dotted path replaced by v (created
// when missing), or removed.
func set(m property.Map, path string, v property.Value, remove bool) property.Map {
	return setSteps(m, parsePath(path), v, remove)
}

func setSteps(m property.Map, steps []pathStep, v property.Value, remove bool) property.Map {
	return setIn(property.New(m), steps, v, remove).AsMap()
}

func setIn(cur property.Value, steps []pathStep, v property.Value, remove bool) property.Value {
	if len(steps) == 0 {
		return v
	}
	s := steps[0]
	if s.index >= 0 {
		var arr []property.Value
		if cur.IsArray() {
			arr = cur.AsArray().AsSlice()
		}
		for len(arr) <= s.index {
			arr = append(arr, property.New(property.Null))
		}
		if remove && len(steps) == 1 {
			return property.New(append(arr[:s.index], arr[s.index+1:]...))
		}
		arr[s.index] = setIn(arr[s.index], steps[1:], v, remove)
		return property.New(arr)
	}
	m := property.Map{}
	if cur.IsMap() {
		m = cur.AsMap()
	}
	if remove && len(steps) == 1 {
		return property.New(m.Delete(s.key))
	}
	return property.New(m.Set(s.key, setIn(m.Get(s.key), steps[1:], v, remove)))
}

// leaf is one value's place in a property map.
type leaf struct {
	display string
	steps   []pathStep
}

// leaves lists every value of m, containers included, with its steps (keys
// such as app.kubernetes.io/name hold dots, so paths are kept as steps).
func leaves(m property.Map) []leaf {
	var out []leaf
	var walk func(display string, steps []pathStep, v property.Value)
	walk = func(display string, steps []pathStep, v property.Value) {
		if len(steps) > 0 {
			out = append(out, leaf{display: display, steps: steps})
		}
		switch {
		case v.IsMap():
			for k, e := range v.AsMap().AllStable {
				d := k
				if display != "" {
					d = display + "." + k
				}
				walk(d, append(append([]pathStep(nil), steps...), pathStep{key: k, index: -1}), e)
			}
		case v.IsArray():
			for i, e := range v.AsArray().All {
				walk(fmt.Sprintf("%s[%d]", display, i), append(append([]pathStep(nil), steps...), pathStep{index: i}), e)
			}
		}
	}
	walk("", nil, property.New(m))
	return out
}
