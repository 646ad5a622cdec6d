// Package prstacks confines the pull-request stacks' role on the cluster
// that hosts them. EKS grants the role AmazonEKSEditPolicy in the
// namespaces gopherops-pr-* (the stack's access entry, in the Kubernetes
// group Group); what that policy does not cover is either cluster-scoped (a
// stack's own namespace, the volumes its destroy waits for) or left out of
// it on purpose (the namespace's ResourceQuota and LimitRange). The group
// gets a ClusterRole for exactly those, and a ValidatingAdmissionPolicy
// holds every write of them to namespaces gopherops-pr-<number>, each of
// which must enforce the Pod Security "restricted" profile. Whoever holds
// the role (any branch's pull request) can therefore neither touch another
// namespace nor make one of their own where privileged pods are admitted.
package prstacks

import (
	"fmt"

	"github.com/gopherops/gopherops/infra/config"
	admissionv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/admissionregistration/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	rbacv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/rbac/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Group is the Kubernetes group of the pull-request stacks' role (its
// access entry's kubernetesGroups): what the ClusterRoleBinding and the
// admission policy name.
const Group = "gopherops-pr-stacks"

// Name names the ClusterRole, its binding, the policy and its binding.
const Name = "gopherops-pr-stacks"

// EnforceLabel is the Pod Security admission label a pull-request stack's
// namespace must carry, with the value Restricted.
const (
	EnforceLabel = "pod-security.kubernetes.io/enforce"
	Restricted   = "restricted"
)

// Args configures the PullRequestStacks component.
type Args struct {
	// Provider is the hosting cluster's Kubernetes provider.
	Provider pulumi.ProviderResource
}

// PullRequestStacks is the hosting cluster's side of the pull-request
// stacks' confinement.
type PullRequestStacks struct {
	pulumi.ResourceState

	ClusterRole   *rbacv1.ClusterRole
	Binding       *rbacv1.ClusterRoleBinding
	Policy        *admissionv1.ValidatingAdmissionPolicy
	PolicyBinding *admissionv1.ValidatingAdmissionPolicyBinding
}

// New creates the admission policy first, then the ClusterRole and its
// binding, so the group never holds namespace rights without the policy
// in force (and loses them first on destroy).
func New(ctx *pulumi.Context, name string, args Args, opts ...pulumi.ResourceOption) (*PullRequestStacks, error) {
	p := &PullRequestStacks{}
	if err := ctx.RegisterComponentResource("gopherops:infra:PullRequestStacks", name, p, opts...); err != nil {
		return nil, fmt.Errorf("prstacks: register component: %w", err)
	}
	k8s := []pulumi.ResourceOption{pulumi.Parent(p), pulumi.Provider(args.Provider)}
	meta := &metav1.ObjectMetaArgs{
		Name:   pulumi.String(Name),
		Labels: pulumi.StringMap{"app.kubernetes.io/part-of": pulumi.String("gopherops")},
	}
	var err error

	p.Policy, err = admissionv1.NewValidatingAdmissionPolicy(ctx, name, &admissionv1.ValidatingAdmissionPolicyArgs{
		Metadata: meta,
		Spec:     policySpec(),
	}, k8s...)
	if err != nil {
		return nil, fmt.Errorf("prstacks: admission policy: %w", err)
	}
	p.PolicyBinding, err = admissionv1.NewValidatingAdmissionPolicyBinding(ctx, name, &admissionv1.ValidatingAdmissionPolicyBindingArgs{
		Metadata: meta,
		Spec: &admissionv1.ValidatingAdmissionPolicyBindingSpecArgs{
			PolicyName:        p.Policy.Metadata.Name().Elem(),
			ValidationActions: pulumi.StringArray{pulumi.String("Deny")},
		},
	}, k8s...)
	if err != nil {
		return nil, fmt.Errorf("prstacks: admission policy binding: %w", err)
	}

	p.ClusterRole, err = rbacv1.NewClusterRole(ctx, name, &rbacv1.ClusterRoleArgs{
		Metadata: meta,
		Rules:    rules(),
	}, append(k8s, pulumi.DependsOn([]pulumi.Resource{p.PolicyBinding}))...)
	if err != nil {
		return nil, fmt.Errorf("prstacks: cluster role: %w", err)
	}
	p.Binding, err = rbacv1.NewClusterRoleBinding(ctx, name, &rbacv1.ClusterRoleBindingArgs{
		Metadata: meta,
		RoleRef: &rbacv1.RoleRefArgs{
			ApiGroup: pulumi.String("rbac.authorization.k8s.io"), Kind: pulumi.String("ClusterRole"),
			Name: p.ClusterRole.Metadata.Name().Elem(),
		},
		Subjects: rbacv1.SubjectArray{&rbacv1.SubjectArgs{
			ApiGroup: pulumi.String("rbac.authorization.k8s.io"), Kind: pulumi.String("Group"), Name: pulumi.String(Group),
		}},
	}, append(k8s, pulumi.DependsOn([]pulumi.Resource{p.PolicyBinding}))...)
	if err != nil {
		return nil, fmt.Errorf("prstacks: cluster role binding: %w", err)
	}
	if err := ctx.RegisterResourceOutputs(p, pulumi.Map{}); err != nil {
		return nil, fmt.Errorf("prstacks: register outputs: %w", err)
	}
	return p, nil
}

// guarded are the core resources the group may write outside the EKS
// access policy, and which the admission policy therefore holds.
var guarded = []string{"namespaces", "resourcequotas", "limitranges"}

// rules are what a pull-request stack needs beyond AmazonEKSEditPolicy in
// its namespace: creating and deleting that namespace, its quota and limit
// range (Edit only reads them), and reading volumes, which the destroy
// workflow checks are gone.
func rules() rbacv1.PolicyRuleArray {
	write := pulumi.ToStringArray([]string{"get", "list", "watch", "create", "update", "patch", "delete"})
	return rbacv1.PolicyRuleArray{
		&rbacv1.PolicyRuleArgs{ApiGroups: pulumi.StringArray{pulumi.String("")}, Resources: pulumi.ToStringArray(guarded), Verbs: write},
		&rbacv1.PolicyRuleArgs{
			ApiGroups: pulumi.StringArray{pulumi.String("")}, Resources: pulumi.StringArray{pulumi.String("persistentvolumes")},
			Verbs: pulumi.ToStringArray([]string{"get", "list", "watch"}),
		},
	}
}

// CEL of the admission policy. The variable target is the namespace a
// request is about (a namespace's own name, or the namespace a quota or
// limit range is in); "namespace" is a reserved word of CEL.
const (
	celNamespace  = `request.resource.resource == "namespaces" ? request.name : request.namespace`
	celInGroup    = `has(request.userInfo.groups) && "` + Group + `" in request.userInfo.groups`
	celRestricted = `request.resource.resource != "namespaces" || request.operation == "DELETE" || ` +
		`(has(object.metadata.labels) && "` + EnforceLabel + `" in object.metadata.labels && ` +
		`object.metadata.labels["` + EnforceLabel + `"] == "` + Restricted + `")`
)

// policySpec refuses the group any create, update or delete of a
// namespace, quota or limit range outside gopherops-pr-<number>, and a
// namespace of theirs that does not enforce the restricted profile. It
// fails closed: a request it cannot evaluate is refused.
func policySpec() *admissionv1.ValidatingAdmissionPolicySpecArgs {
	return &admissionv1.ValidatingAdmissionPolicySpecArgs{
		FailurePolicy: pulumi.String("Fail"),
		MatchConstraints: &admissionv1.MatchResourcesArgs{
			ResourceRules: admissionv1.NamedRuleWithOperationsArray{&admissionv1.NamedRuleWithOperationsArgs{
				ApiGroups:   pulumi.StringArray{pulumi.String("")},
				ApiVersions: pulumi.StringArray{pulumi.String("*")},
				Operations:  pulumi.ToStringArray([]string{"CREATE", "UPDATE", "DELETE"}),
				Resources:   pulumi.ToStringArray(guarded),
			}},
		},
		MatchConditions: admissionv1.MatchConditionArray{&admissionv1.MatchConditionArgs{
			Name: pulumi.String("pull-request-stacks"), Expression: pulumi.String(celInGroup),
		}},
		Variables: admissionv1.VariableArray{&admissionv1.VariableArgs{
			Name: pulumi.String("target"), Expression: pulumi.String(celNamespace),
		}},
		Validations: admissionv1.ValidationArray{
			&admissionv1.ValidationArgs{
				Expression: pulumi.String(`variables.target.matches("` + config.PreviewNamespacePattern + `")`),
				MessageExpression: pulumi.String(`"the pull-request stacks may only change namespaces ` + config.PreviewNamespacePrefix +
					`<number> and their quotas and limit ranges, not " + (request.resource.resource == "namespaces" ? "namespace" : ` +
					`request.resource.resource + " in namespace") + " \"" + variables.target + "\""`),
				Reason: pulumi.String("Forbidden"),
			},
			&admissionv1.ValidationArgs{
				Expression: pulumi.String(celRestricted),
				Message: pulumi.String("a pull-request stack's namespace must enforce the Pod Security restricted profile (label " +
					EnforceLabel + "=" + Restricted + ")"),
				Reason: pulumi.String("Forbidden"),
			},
		},
	}
}
