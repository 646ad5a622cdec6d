package cluster

import (
	"fmt"
	"strings"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/eks"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// SupportType is the cluster's upgrade policy: standard support only, so a
// Kubernetes version reaching its end of standard support is an upgrade to
// plan, never a silent move into extended support at six times the price.
const SupportType = "STANDARD"

// LogGroupName is the CloudWatch log group EKS writes control-plane logs to.
func LogGroupName(clusterName string) string { return "/aws/eks/" + clusterName + "/cluster" }

// EKS access policies (arn:aws:eks::aws:cluster-access-policy/<name>).
const (
	// PolicyClusterAdmin is cluster-admin: CI's deploy role and operators.
	PolicyClusterAdmin = "AmazonEKSClusterAdminPolicy"
	// PolicyAdminView reads every object, Secrets and Helm release records
	// included, and writes nothing: enough for pulumi-kubernetes to fall
	// back to a client-side preview when a server-side dry run is refused.
	PolicyAdminView = "AmazonEKSAdminViewPolicy"
	// PolicyEdit creates, changes and deletes a namespace's workloads,
	// Services, Secrets, volume claims and NetworkPolicies, but not its
	// quotas, limit ranges or RBAC: the pull-request stacks' role, scoped
	// to their namespaces.
	PolicyEdit = "AmazonEKSEditPolicy"
)

// AccessGrant gives one IAM principal one access policy, on the whole
// cluster or on some namespaces, and Kubernetes groups its RBAC bindings
// name.
type AccessGrant struct {
	// PrincipalArn is an IAM role or user ARN (no path for Identity Center roles).
	PrincipalArn string
	// Policy is PolicyClusterAdmin, PolicyAdminView or PolicyEdit.
	Policy string
	// Namespaces scope the policy to these namespaces (EKS takes a
	// trailing * in a name: gopherops-pr-*); none, the whole cluster.
	// PolicyEdit is only ever granted on namespaces.
	Namespaces []string
	// Groups are the Kubernetes groups the principal is in (the access
	// entry's kubernetesGroups), for RoleBindings and admission policies.
	Groups []string
}

// accessEntries creates an access entry and a cluster-wide policy
// association per grant, in the order given; they are what the Kubernetes
// provider waits for. Every grant is checked before any is created, so a
// refused list grants nothing.
func (c *Cluster) accessEntries(ctx *pulumi.Context, name string, args Args, parent pulumi.ResourceOption) ([]pulumi.Resource, error) {
	granted := map[string]bool{}
	for _, g := range args.Access {
		switch {
		case g.Policy != PolicyClusterAdmin && g.Policy != PolicyAdminView && g.Policy != PolicyEdit:
			return nil, fmt.Errorf("cluster: access for %s: unknown policy %q", g.PrincipalArn, g.Policy)
		case g.Policy == PolicyEdit && len(g.Namespaces) == 0:
			return nil, fmt.Errorf("cluster: access for %s: %s on the whole cluster; name its namespaces", g.PrincipalArn, PolicyEdit)
		}
		for _, group := range g.Groups {
			if strings.HasPrefix(group, "system:") || group == "" {
				return nil, fmt.Errorf("cluster: access for %s: group %q (EKS refuses system: groups)", g.PrincipalArn, group)
			}
		}
		if granted[g.PrincipalArn] {
			return nil, fmt.Errorf("cluster: access for %s is granted twice", g.PrincipalArn)
		}
		granted[g.PrincipalArn] = true
	}
	c.AccessEntries = map[string]*eks.AccessEntry{}
	c.AccessPolicies = map[string]*eks.AccessPolicyAssociation{}
	var out []pulumi.Resource
	for _, g := range args.Access {
		logical := name + "-access-" + principalName(g.PrincipalArn)
		entryArgs := &eks.AccessEntryArgs{
			ClusterName:  c.Cluster.Name,
			PrincipalArn: pulumi.String(g.PrincipalArn),
			Type:         pulumi.String("STANDARD"),
		}
		if len(g.Groups) > 0 {
			entryArgs.KubernetesGroups = pulumi.ToStringArray(g.Groups)
		}
		entry, err := eks.NewAccessEntry(ctx, logical, entryArgs, parent)
		if err != nil {
			return nil, fmt.Errorf("cluster: access entry %s: %w", g.PrincipalArn, err)
		}
		assoc, err := eks.NewAccessPolicyAssociation(ctx, logical, &eks.AccessPolicyAssociationArgs{
			ClusterName:  c.Cluster.Name,
			PrincipalArn: entry.PrincipalArn,
			PolicyArn:    pulumi.String("arn:" + args.Partition + ":eks::aws:cluster-access-policy/" + g.Policy),
			AccessScope:  accessScope(g.Namespaces),
		}, parent)
		if err != nil {
			return nil, fmt.Errorf("cluster: access policy %s: %w", g.PrincipalArn, err)
		}
		c.AccessEntries[g.PrincipalArn] = entry
		c.AccessPolicies[g.PrincipalArn] = assoc
		out = append(out, entry, assoc)
	}
	return out, nil
}

// accessScope is the whole cluster, or the given namespaces.
func accessScope(namespaces []string) eks.AccessPolicyAssociationAccessScopeArgs {
	if len(namespaces) == 0 {
		return eks.AccessPolicyAssociationAccessScopeArgs{Type: pulumi.String("cluster")}
	}
	return eks.AccessPolicyAssociationAccessScopeArgs{
		Type: pulumi.String("namespace"), Namespaces: pulumi.ToStringArray(namespaces),
	}
}

// principalName is the last path element of an IAM ARN, for logical names
// ("arn:aws:iam::1:role/gopherops-deploy" → "gopherops-deploy").
func principalName(arn string) string {
	return arn[strings.LastIndexAny(arn, "/:")+1:]
}
