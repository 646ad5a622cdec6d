package mocks_test

import (
	"reflect"
	"slices"
	"testing"

	"github.com/gopherops/gopherops/infra/internal/mocks"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// thing is a custom resource of a made-up type, enough to build a graph.
type thing struct {
	pulumi.CustomResourceState
	Out pulumi.StringOutput `pulumi:"out"`
}

// thingArgs is its one input.
type thingArgs struct {
	In pulumi.StringInput
}

type thingInputs struct {
	In *string `pulumi:"in"`
}

func (thingArgs) ElementType() reflect.Type { return reflect.TypeOf((*thingInputs)(nil)).Elem() }

// TestDestroyOrder: each kind of edge the engine orders deletions by is
// recorded (explicit dependsOn, an input from another resource, parent,
// provider), and resources with no path between them are not ordered.
func TestDestroyOrder(t *testing.T) {
	mon := mocks.New()
	err := pulumi.RunErr(func(ctx *pulumi.Context) error {
		newThing := func(name string, args thingArgs, opts ...pulumi.ResourceOption) (*thing, error) {
			var r thing
			if args.In == nil {
				args.In = pulumi.String(name)
			}
			return &r, ctx.RegisterResource("test:index:Thing", name, args, &r, opts...)
		}
		network, err := newThing("network", thingArgs{})
		if err != nil {
			return err
		}
		// An input dependency: the policy needs the network's output.
		policy, err := newThing("policy", thingArgs{In: network.Out})
		if err != nil {
			return err
		}
		// An explicit one: the release waits for the policy.
		release, err := newThing("release", thingArgs{}, pulumi.DependsOn([]pulumi.Resource{policy}))
		if err != nil {
			return err
		}
		// A child of the release.
		if _, err := newThing("child", thingArgs{}, pulumi.Parent(release)); err != nil {
			return err
		}
		var prov pulumi.ProviderResourceState
		if err := ctx.RegisterResource("pulumi:providers:test", "explicit", nil, &prov); err != nil {
			return err
		}
		if _, err := newThing("provided", thingArgs{}, pulumi.Provider(&prov)); err != nil {
			return err
		}
		_, err = newThing("loner", thingArgs{})
		return err
	}, pulumi.WithMocks("project", "stack", mon))
	if err != nil {
		t.Fatal(err)
	}
	get := func(name string) *mocks.Registration {
		for _, r := range mon.All() {
			if r.Name == name {
				return r
			}
		}
		t.Fatalf("no %s", name)
		return nil
	}
	cases := []struct {
		first, then string
		ordered     bool
	}{
		{"release", "policy", true},    // dependsOn
		{"policy", "network", true},    // input
		{"release", "network", true},   // transitively
		{"child", "release", true},     // parent
		{"provided", "explicit", true}, // provider
		{"policy", "release", false},   // the other way round
		{"loner", "network", false},    // no path: any order, or at once
		{"network", "loner", false},
	}
	order := mon.DestroyOrder()
	if len(order) != len(mon.All()) {
		t.Fatalf("destroy order has %d resources, want %d", len(order), len(mon.All()))
	}
	for _, c := range cases {
		a, b := get(c.first), get(c.then)
		if got := mon.DestroyedBefore(a, b); got != c.ordered {
			t.Errorf("DestroyedBefore(%s, %s) = %v, want %v", c.first, c.then, got, c.ordered)
		}
		if c.ordered && slices.Index(order, a) > slices.Index(order, b) {
			t.Errorf("destroy order deletes %s before %s", c.then, c.first)
		}
	}
}
