package drift

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"sync"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/events"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optrefresh"
	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
)

// Options say which stack to check and how to reach its engine.
type Options struct {
	// Stack is the stack's name (dev, prod, local, or organization/project/stack).
	Stack string
	// WorkDir holds the project's Pulumi.yaml and Pulumi.<stack>.yaml.
	WorkDir string
	// Env is added to the engine's environment (backend, secrets passphrase, kubeconfig).
	Env map[string]string
	// Progress receives the engine's progress output; nil discards it.
	Progress io.Writer
	// Pulumi is the CLI to run; nil finds `pulumi` on PATH.
	Pulumi auto.PulumiCommand
	// Now is the clock of the report; nil means time.Now.
	Now func() time.Time
}

// ErrNoStack is wrapped when the stack does not exist in the backend.
var ErrNoStack = errors.New("drift: no such stack")

// Check runs a refresh preview of the stack and reports what drifted. It
// never writes the state: the engine only reads each resource from its
// provider and compares it with what the state says the program declared.
func Check(ctx context.Context, o Options) (*Report, error) {
	if o.Stack == "" || o.WorkDir == "" {
		return nil, errors.New("drift: a stack and a work directory are required")
	}
	now := time.Now
	if o.Now != nil {
		now = o.Now
	}
	progress := o.Progress
	if progress == nil {
		progress = io.Discard
	}
	cmd := o.Pulumi
	if cmd == nil {
		var err error
		// The minimum-version check asks GitHub; the CLI's own
		// version is still read and checked by PreviewRefresh (>= 3.105).
		if cmd, err = auto.NewPulumiCommand(&auto.PulumiCommandOptions{SkipVersionCheck: true}); err != nil {
			return nil, fmt.Errorf("drift: find the pulumi CLI: %w", err)
		}
	}
	ws, err := auto.NewLocalWorkspace(ctx, auto.WorkDir(o.WorkDir), auto.EnvVars(engineEnv(o.Env)), auto.Pulumi(cmd))
	if err != nil {
		return nil, fmt.Errorf("drift: workspace %s: %w", o.WorkDir, err)
	}
	stack, err := auto.SelectStack(ctx, o.Stack, ws)
	if err != nil {
		if auto.IsSelectStack404Error(err) {
			return nil, fmt.Errorf("%w %s: %w", ErrNoStack, o.Stack, err)
		}
		return nil, fmt.Errorf("drift: select stack %s: %w", o.Stack, err)
	}

	var c collector
	ch := make(chan events.EngineEvent)
	quit := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { c.consume(ch, quit) })

	start := now()
	res, err := stack.PreviewRefresh(ctx, optrefresh.EventStreams(ch), optrefresh.ProgressStreams(progress),
		optrefresh.ErrorProgressStreams(progress), optrefresh.Color("never"))
	close(quit)
	wg.Wait()
	if err != nil {
		return nil, fmt.Errorf("drift: refresh preview of %s: %w%s", o.Stack, err, c.errorsSuffix())
	}
	r := &Report{
		Stack:     o.Stack,
		CheckedAt: start.UTC(),
		Duration:  now().Sub(start).Round(100 * time.Millisecond).String(),
		Resources: c.resources,
		Summary:   map[string]int{},
	}
	for op, n := range res.ChangeSummary {
		r.Summary[string(op)] = n
	}
	r.finish()
	return r, nil
}

// collector turns engine events into drifted resources.
type collector struct {
	mu        sync.Mutex
	resources []Resource
	errors    []string
}

// consume reads events until the engine closes ch or quit is closed.
func (c *collector) consume(ch <-chan events.EngineEvent, quit <-chan struct{}) {
	for {
		select {
		case e, ok := <-ch:
			if !ok {
				return
			}
			c.add(e)
		case <-quit:
			// The engine closes ch after its last event; drain what is
			// already queued without blocking.
			for {
				select {
				case e, ok := <-ch:
					if !ok {
						return
					}
					c.add(e)
				default:
					return
				}
			}
		}
	}
}

func (c *collector) add(e events.EngineEvent) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if d := e.DiagnosticEvent; d != nil && d.Severity == "error" {
		c.errors = append(c.errors, d.Message)
	}
	if o := e.ResOutputsEvent; o != nil {
		if r, ok := FromStep(o.Metadata); ok {
			c.resources = append(c.resources, r)
		}
	}
}

// errorsSuffix is the engine's error diagnostics, for the error message.
func (c *collector) errorsSuffix() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := ""
	for _, e := range c.errors {
		out += "\n" + e
	}
	return out
}

// FromStep is the drifted resource a refresh step describes; ok is false
// when the step found no drift (same) or is not about a resource.
func FromStep(m apitype.StepEventMetadata) (Resource, bool) {
	if m.Op != apitype.OpUpdate && m.Op != apitype.OpDelete {
		return Resource{}, false
	}
	r := Resource{URN: m.URN, Type: m.Type, Name: resource.URN(m.URN).Name(), Change: string(m.Op), Properties: []Property{}}
	if m.Old != nil {
		r.ID = m.Old.ID
	}
	if m.Op == apitype.OpDelete {
		return r, true
	}
	var declared, live resource.PropertyMap
	if m.Old != nil {
		declared = resource.NewPropertyMapFromMap(m.Old.Inputs)
	}
	if m.New != nil {
		live = resource.NewPropertyMapFromMap(m.New.Inputs)
	}
	paths := map[string]apitype.DiffKind{}
	for path, d := range m.DetailedDiff {
		paths[path] = d.Kind
	}
	if len(paths) == 0 {
		for _, k := range m.Diffs {
			paths[k] = apitype.DiffUpdate
		}
	}
	for path, kind := range paths {
		p := Property{Path: path, Change: changeOf(kind)}
		if v, ok := lookup(declared, path); ok {
			p.Declared = v
		}
		if v, ok := lookup(live, path); ok {
			p.Live = v
		}
		r.Properties = append(r.Properties, p)
	}
	return r, true
}

// changeOf names a property diff kind; the engine inverts a refresh's diff,
// so "add" is a property the live resource has that the program does not
// declare.
func changeOf(k apitype.DiffKind) string {
	switch k {
	case apitype.DiffAdd, apitype.DiffAddReplace:
		return Added
	case apitype.DiffDelete, apitype.DiffDeleteReplace:
		return Deleted
	}
	return Updated
}

// lookup reads a property path (spec.ingress[0].ports) from m as a plain value.
func lookup(m resource.PropertyMap, path string) (any, bool) {
	if m == nil {
		return nil, false
	}
	p, err := resource.ParsePropertyPath(path)
	if err != nil {
		return nil, false
	}
	v, ok := p.Get(resource.NewObjectProperty(m))
	if !ok || v.IsNull() || v.IsComputed() {
		return nil, false
	}
	return v.Mappable(), true
}

// engineEnv is env for a refresh preview. PULUMI_SKIP_CONFIRMATIONS=true,
// which CI and scripts set for their ups, means --yes to the engine, and the
// engine refuses --yes with --preview-only: the check forces it off (a
// preview has nothing to confirm), whatever the caller's environment says.
func engineEnv(env map[string]string) map[string]string {
	out := maps.Clone(env)
	if out == nil {
		out = map[string]string{}
	}
	out["PULUMI_SKIP_CONFIRMATIONS"] = "false"
	return out
}
