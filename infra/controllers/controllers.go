// Package controllers installs the two Kubernetes controllers an EKS stack
// needs beyond the EKS add-ons, each from a pinned Helm chart with its own
// IRSA role and least-privilege policy scoped to this one cluster:
//   - the AWS Load Balancer Controller, which gives the app's Service a
//     Network Load Balancer with IP targets (client addresses preserved, no
//     NodePorts opened on the nodes);
//   - Cluster Autoscaler, which grows and shrinks the managed node group
//     between its configured minimum and maximum.
package controllers

import (
	"fmt"

	"github.com/gopherops/gopherops/infra/identity"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/iam"
	helmv3 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/helm/v3"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Chart repositories and the identities the charts run as.
const (
	LoadBalancerControllerRepo = "https://aws.github.io/eks-charts"
	ClusterAutoscalerRepo      = "https://kubernetes.github.io/autoscaler"
	// Namespace is where both controllers run.
	Namespace = "kube-system"
	// LoadBalancerControllerSA and ClusterAutoscalerSA are the
	// ServiceAccounts the IRSA roles trust.
	LoadBalancerControllerSA = "aws-load-balancer-controller"
	ClusterAutoscalerSA      = "cluster-autoscaler"
)

// Args configures the Controllers component.
type Args struct {
	Provider pulumi.ProviderResource
	// ClusterName scopes both policies (resource tags) and the charts.
	ClusterName pulumi.StringInput
	Region      string
	Partition   string
	AccountID   string
	VpcID       pulumi.StringInput
	// OIDCProviderArn and OIDCIssuer (without https://) are the cluster's IRSA provider.
	OIDCProviderArn pulumi.StringInput
	OIDCIssuer      pulumi.StringInput

	LoadBalancerControllerChart string
	ClusterAutoscalerChart      string
	// ClusterAutoscalerImage is the autoscaler release of the cluster's
	// Kubernetes minor (an image tag such as v1.35.2), set whatever image
	// the chart would default to.
	ClusterAutoscalerImage string
	// LoadBalancerNetwork is where the controller puts internet-facing
	// load balancers (the public subnets, their routes, the internet
	// gateway): it exists before the controller and outlives it on
	// destroy, so the NLB's interfaces and addresses are gone before the
	// network that holds them is deleted.
	LoadBalancerNetwork []pulumi.Resource
}

// Controllers are the two Helm releases and their IRSA roles.
type Controllers struct {
	pulumi.ResourceState

	LoadBalancerRole       *iam.Role
	LoadBalancerController *helmv3.Release
	AutoscalerRole         *iam.Role
	ClusterAutoscaler      *helmv3.Release
}

// New creates the Controllers component and its children.
func New(ctx *pulumi.Context, name string, args Args, opts ...pulumi.ResourceOption) (*Controllers, error) {
	c := &Controllers{}
	if err := ctx.RegisterComponentResource("gopherops:infra:Controllers", name, c, opts...); err != nil {
		return nil, fmt.Errorf("controllers: register component: %w", err)
	}
	parent := pulumi.Parent(c)
	var err error

	lbPolicy := pulumi.All(args.ClusterName, args.VpcID).ApplyT(func(v []any) (string, error) {
		return LoadBalancerControllerPolicy(args.Partition, args.Region, args.AccountID, v[0].(string), v[1].(string))
	}).(pulumi.StringOutput)
	var lbRolePolicy *iam.RolePolicy
	c.LoadBalancerRole, lbRolePolicy, err = irsaRole(ctx, name+"-lb-controller", args, LoadBalancerControllerSA, lbPolicy, parent)
	if err != nil {
		return nil, err
	}
	c.LoadBalancerController, err = helmv3.NewRelease(ctx, name+"-lb-controller", &helmv3.ReleaseArgs{
		Name:           pulumi.String("aws-load-balancer-controller"),
		Chart:          pulumi.String("aws-load-balancer-controller"),
		Version:        pulumi.String(args.LoadBalancerControllerChart),
		Namespace:      pulumi.String(Namespace),
		RepositoryOpts: &helmv3.RepositoryOptsArgs{Repo: pulumi.String(LoadBalancerControllerRepo)},
		Atomic:         pulumi.Bool(true),
		Timeout:        pulumi.Int(600),
		Values: pulumi.Map{
			"clusterName":  args.ClusterName,
			"region":       pulumi.String(args.Region),
			"vpcId":        args.VpcID,
			"replicaCount": pulumi.Int(2),
			"serviceAccount": pulumi.Map{
				"create":      pulumi.Bool(true),
				"name":        pulumi.String(LoadBalancerControllerSA),
				"annotations": pulumi.Map{"eks.amazonaws.com/role-arn": c.LoadBalancerRole.Arn},
			},
			// Only Services that ask for it (loadBalancerClass
			// service.k8s.aws/nlb) get a load balancer from the controller.
			"enableServiceMutatorWebhook": pulumi.Bool(false),
		},
		// On destroy the controller must still hold its permissions while it
		// deletes the load balancers of the Services that depend on it: a
		// policy gone first leaves the NLB, its security groups and network
		// interfaces behind, and they block the VPC's deletion.
	}, parent, pulumi.Provider(args.Provider), pulumi.DependsOn(append([]pulumi.Resource{lbRolePolicy}, args.LoadBalancerNetwork...)))
	if err != nil {
		return nil, fmt.Errorf("controllers: load balancer controller: %w", err)
	}

	caPolicy := args.ClusterName.ToStringOutput().ApplyT(func(cluster string) (string, error) {
		return ClusterAutoscalerPolicy(args.Partition, args.Region, args.AccountID, cluster)
	}).(pulumi.StringOutput)
	var caRolePolicy *iam.RolePolicy
	c.AutoscalerRole, caRolePolicy, err = irsaRole(ctx, name+"-cluster-autoscaler", args, ClusterAutoscalerSA, caPolicy, parent)
	if err != nil {
		return nil, err
	}
	c.ClusterAutoscaler, err = helmv3.NewRelease(ctx, name+"-cluster-autoscaler", &helmv3.ReleaseArgs{
		Name:           pulumi.String("cluster-autoscaler"),
		Chart:          pulumi.String("cluster-autoscaler"),
		Version:        pulumi.String(args.ClusterAutoscalerChart),
		Namespace:      pulumi.String(Namespace),
		RepositoryOpts: &helmv3.RepositoryOptsArgs{Repo: pulumi.String(ClusterAutoscalerRepo)},
		Atomic:         pulumi.Bool(true),
		Timeout:        pulumi.Int(600),
		Values: pulumi.Map{
			"cloudProvider": pulumi.String("aws"),
			"image":         pulumi.Map{"tag": pulumi.String(args.ClusterAutoscalerImage)},
			"awsRegion":     pulumi.String(args.Region),
			// Node groups are found by the tags EKS puts on their
			// Auto Scaling groups, so min and max come from the node group.
			"autoDiscovery": pulumi.Map{"clusterName": args.ClusterName},
			"rbac": pulumi.Map{"serviceAccount": pulumi.Map{
				"create":      pulumi.Bool(true),
				"name":        pulumi.String(ClusterAutoscalerSA),
				"annotations": pulumi.Map{"eks.amazonaws.com/role-arn": c.AutoscalerRole.Arn},
			}},
			"extraArgs": pulumi.Map{
				"balance-similar-node-groups": pulumi.Bool(true),
				"expander":                    pulumi.String("least-waste"),
			},
		},
	}, parent, pulumi.Provider(args.Provider), pulumi.DependsOn([]pulumi.Resource{caRolePolicy}))
	if err != nil {
		return nil, fmt.Errorf("controllers: cluster autoscaler: %w", err)
	}

	if err := ctx.RegisterResourceOutputs(c, pulumi.Map{
		"loadBalancerControllerRoleArn": c.LoadBalancerRole.Arn,
		"clusterAutoscalerRoleArn":      c.AutoscalerRole.Arn,
	}); err != nil {
		return nil, fmt.Errorf("controllers: register outputs: %w", err)
	}
	return c, nil
}

// irsaRole is a role only kube-system/<serviceAccount> can assume, with one
// inline policy; the controller's release depends on both.
func irsaRole(ctx *pulumi.Context, name string, args Args, serviceAccount string, policy pulumi.StringInput, parent pulumi.ResourceOption) (*iam.Role, *iam.RolePolicy, error) {
	trust := pulumi.All(args.OIDCProviderArn, args.OIDCIssuer).ApplyT(func(v []any) (string, error) {
		return identity.TrustPolicy(v[0].(string), v[1].(string), Namespace, serviceAccount)
	}).(pulumi.StringOutput)
	role, err := iam.NewRole(ctx, name, &iam.RoleArgs{
		Description:      pulumi.String("IRSA role of " + Namespace + "/" + serviceAccount),
		AssumeRolePolicy: trust,
	}, parent)
	if err != nil {
		return nil, nil, fmt.Errorf("controllers: %s role: %w", serviceAccount, err)
	}
	rp, err := iam.NewRolePolicy(ctx, name, &iam.RolePolicyArgs{Role: role.Name, Policy: policy}, parent)
	if err != nil {
		return nil, nil, fmt.Errorf("controllers: %s policy: %w", serviceAccount, err)
	}
	return role, rp, nil
}
