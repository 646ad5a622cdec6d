package rules

import (
	"context"
	"fmt"
	"time"

	"github.com/blang/semver"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/config"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/policyx"
)

// EnvironmentKey is the stack setting that says which environment a stack is.
const EnvironmentKey = "gopherops:environment"

// EnvFromContext is the stack the engine configured the pack for: project,
// stack, gopherops:environment and whether this is a preview.
func EnvFromContext(ctx *pulumi.Context, now time.Time) Env {
	return Env{
		Project:     ctx.Project(),
		Stack:       ctx.Stack(),
		Environment: config.Get(ctx, EnvironmentKey),
		DryRun:      ctx.DryRun(),
		Now:         now,
	}
}

// NewPack is the policy pack for the stack the engine configures it for;
// main passes it to policyx.Main.
func NewPack(ctx *pulumi.Context) (policyx.PolicyPack, error) {
	return Pack(EnvFromContext(ctx, time.Now()))
}

// Pack is the policy pack judging the stack e.
func Pack(e Env) (policyx.PolicyPack, error) {
	ev := NewEvaluator(e)
	version, err := semver.Parse(PackVersion)
	if err != nil {
		return nil, fmt.Errorf("rules: pack version: %w", err)
	}
	policies := make([]policyx.Policy, 0, len(ev.policies))
	for _, p := range ev.policies {
		policies = append(policies, toPolicyx(ev, p))
	}
	pack, err := policyx.NewPolicyPack(PackName, version, policyx.EnforcementLevelMandatory, policies)
	if err != nil {
		return nil, fmt.Errorf("rules: %w", err)
	}
	return pack, nil
}

// level is the engine's enforcement level of l.
func level(l Level) policyx.EnforcementLevel {
	if l == Advisory {
		return policyx.EnforcementLevelAdvisory
	}
	return policyx.EnforcementLevelMandatory
}

// toPolicyx wraps one policy for the engine.
func toPolicyx(ev *Evaluator, p Policy) policyx.Policy {
	name := p.Name
	if p.scope == ScopeStack {
		return policyx.NewStackValidationPolicy(name, policyx.StackValidationPolicyArgs{
			Description:      p.Description(),
			EnforcementLevel: level(p.Level),
			ValidateStack: func(_ context.Context, args policyx.StackValidationArgs) error {
				rs := make([]*Resource, 0, len(args.Resources))
				for _, a := range args.Resources {
					rs = append(rs, FromAnalyzer(a))
				}
				found, err := ev.Stack(name, rs)
				if err != nil {
					return err
				}
				for _, f := range found {
					args.Manager.ReportViolation(f.Message, f.URN)
				}
				return nil
			},
		})
	}
	return policyx.NewResourceValidationPolicy(name, policyx.ResourceValidationPolicyArgs{
		Description:      p.Description(),
		EnforcementLevel: level(p.Level),
		ValidateResource: func(_ context.Context, args policyx.ResourceValidationArgs) error {
			found, err := ev.Resource(name, FromAnalyzer(args.Resource))
			if err != nil {
				return err
			}
			for _, f := range found {
				args.Manager.ReportViolation(f.Message, f.URN)
			}
			return nil
		},
	})
}

// FromAnalyzer is the engine's view of a resource as the policies read it.
func FromAnalyzer(a policyx.AnalyzerResource) *Resource {
	return &Resource{
		Type:                 a.Type,
		URN:                  a.URN,
		Name:                 a.Name,
		Props:                a.Properties,
		Provider:             a.Provider.Properties,
		PropertyDependencies: a.PropertyDependencies,
	}
}
