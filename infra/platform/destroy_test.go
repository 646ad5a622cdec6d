package platform_test

import (
	"slices"
	"testing"

	"github.com/gopherops/gopherops/infra/internal/mocks"
)

// TestDestroyLeavesNothingBehind asserts the order `pulumi destroy` is
// guaranteed to delete in, from the dependency edges the engine received:
// the app's Service (whose finalizer waits for the AWS Load Balancer
// Controller to delete the NLB) goes before the controller, and the
// controller before its IAM policy, its role, the nodes it runs on and the
// network (the public subnets and internet gateway its NLB uses). Had the policy no path from the release, destroy could delete it
// first: the controller could then not delete the NLB, the Service would
// hang, and the NLB's security groups and interfaces would block the VPC.
func TestDestroyLeavesNothingBehind(t *testing.T) {
	for _, stack := range []string{"dev", "prod"} {
		t.Run(stack, func(t *testing.T) {
			r := deployStack(t, stack, nil)
			base := "gopherops-" + stack
			get := func(typ, name string) *mocks.Registration {
				t.Helper()
				reg := r.mon.Get(typ, name)
				if reg == nil {
					t.Fatalf("no %s %q", typ, name)
				}
				return reg
			}
			svc := get(tService, base)
			lb := get(tRelease, base+"-lb-controller")
			ca := get(tRelease, base+"-cluster-autoscaler")
			order := []struct {
				first, then *mocks.Registration
				why         string
			}{
				{svc, lb, "the controller deletes the Service's NLB"},
				{lb, get(tRolePolicy, base+"-lb-controller"), "the controller needs its permissions to delete the NLB"},
				{lb, get(tRole, base+"-lb-controller"), "the controller's credentials come from its role"},
				{lb, get(tOIDC, base), "IRSA needs the cluster's OIDC provider"},
				{lb, r.one(t, tNodeGroup), "the controller runs on the nodes"},
				{lb, get(tAddon, base+"-vpc-cni"), "the controller's pods need the CNI"},
				{ca, get(tRolePolicy, base+"-cluster-autoscaler"), "the autoscaler keeps its permissions to the end"},
				{svc, r.one(t, tVpc), "the NLB's interfaces live in the VPC"},
				{svc, r.one(t, "aws:ec2/internetGateway:InternetGateway"), "the NLB's public addresses keep the gateway attached"},
				{svc, get(tSG, base+"-nodes"), "the controller's rules reference the node security group"},
			}
			for _, s := range r.mon.ByType(tSubnet) {
				order = append(order, struct {
					first, then *mocks.Registration
					why         string
				}{svc, s, "the NLB has an interface in every public subnet"})
			}
			destroy := r.mon.DestroyOrder()
			for _, o := range order {
				if !r.mon.DestroyedBefore(o.first, o.then) {
					t.Errorf("destroy may delete %s before %s, but %s", o.then, o.first, o.why)
					continue
				}
				if slices.Index(destroy, o.first) > slices.Index(destroy, o.then) {
					t.Errorf("the destroy order deletes %s before %s", o.then, o.first)
				}
			}
		})
	}
}
