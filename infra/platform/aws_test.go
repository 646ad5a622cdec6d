package platform_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/gopherops/gopherops/infra/cluster"
	"github.com/gopherops/gopherops/infra/config"
	"github.com/gopherops/gopherops/infra/controllers"
	"github.com/gopherops/gopherops/infra/database"
	"github.com/gopherops/gopherops/infra/internal/mocks"
	"github.com/gopherops/gopherops/infra/network"
	"github.com/gopherops/gopherops/infra/platform"
	"github.com/gopherops/gopherops/infra/prstacks"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// More resource type tokens.
const (
	tAccessEntry  = "aws:eks/accessEntry:AccessEntry"
	tAccessPolicy = "aws:eks/accessPolicyAssociation:AccessPolicyAssociation"
	tLogGroup     = "aws:cloudwatch/logGroup:LogGroup"
	tFlowLog      = "aws:ec2/flowLog:FlowLog"
	tBucketLog    = "aws:s3/bucketLoggingV2:BucketLoggingV2"
	tCodeBuild    = "aws:codebuild/project:Project"
	tWebhook      = "aws:codebuild/webhook:Webhook"
	tSGRule       = "aws:ec2/securityGroupRule:SecurityGroupRule"
	tAttachment   = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
	tEndpoint     = "aws:ec2/vpcEndpoint:VpcEndpoint"
)

// ecrURL is the mirror's address in the mocked account and region.
func ecrURL(repo string) string {
	return mocks.AccountID + ".dkr.ecr." + mocks.Region + ".amazonaws.com/" + repo
}

// role is an IAM role ARN in the mocked account.
func role(name string) string { return "arn:aws:iam::" + mocks.AccountID + ":role/" + name }

// TestFirstRealUp checks, for each committed AWS stack file, what a first
// `pulumi up` on a real account needs and what the issue found missing.
func TestFirstRealUp(t *testing.T) {
	for _, stack := range []string{"dev", "prod"} {
		t.Run(stack, func(t *testing.T) {
			r := deployStack(t, stack, nil)
			checks := []struct {
				name  string
				check func(*testing.T, *run)
			}{
				{"cluster access is code", checkClusterAccess},
				{"pull-request stacks confined to their namespaces", checkPRStacks},
				{"API endpoint reachable by CI", checkEndpointRoute},
				{"zones by ID, none EKS refuses", checkZonesByID},
				{"image from the ECR mirror's release tag", checkImageFromRelease},
				{"pinned add-ons in order", checkAddons},
				{"node autoscaler", checkClusterAutoscaler},
				{"load balancer controller with IP targets", checkLoadBalancerController},
				{"client addresses", checkClientAddressesOnAWS},
				{"flow logs and log retention", checkLogs},
				{"database controls", checkDatabaseControls},
				{"bucket access logs and protection", checkBucketControls},
				{"prod is protected", checkProtection},
				{"components parent their resources", checkParents},
			}
			for _, c := range checks {
				t.Run(c.name, func(t *testing.T) { c.check(t, r) })
			}
		})
	}
}

func checkClusterAccess(t *testing.T, r *run) {
	c := r.one(t, tEKS)
	if c.Str("accessConfig.authenticationMode") != "API" {
		t.Errorf("authentication mode = %q, want API (access entries only)", c.Str("accessConfig.authenticationMode"))
	}
	if v, _ := c.Get("accessConfig.bootstrapClusterCreatorAdminPermissions"); v != false {
		t.Errorf("bootstrapClusterCreatorAdminPermissions = %v: whoever ran the first up would hold hidden admin", v)
	}
	want := map[string]string{
		role(r.cfg.Access.DeployRoleName):  cluster.PolicyClusterAdmin,
		role(r.cfg.Access.PreviewRoleName): cluster.PolicyAdminView,
		role(r.cfg.Access.DriftRoleName):   cluster.PolicyAdminView,
	}
	for _, arn := range r.cfg.Access.OperatorArns {
		want[arn] = cluster.PolicyClusterAdmin
	}
	prRole := role(r.cfg.Access.PRStacksRoleName)
	if r.cfg.Access.PullRequestStacks {
		want[prRole] = cluster.PolicyEdit
	}
	entries := r.mon.ByType(tAccessEntry)
	if len(entries) != len(want) {
		t.Errorf("%d access entries, want %d (%v)", len(entries), len(want), want)
	}
	for _, e := range entries {
		if _, ok := want[e.Str("principalArn")]; !ok || e.Str("clusterName") != r.cfg.Cluster.Name {
			t.Errorf("unexpected access entry %s for %q on %q", e, e.Str("principalArn"), e.Str("clusterName"))
		}
		groups, _ := e.Get("kubernetesGroups")
		if e.Str("principalArn") == prRole {
			if fmt.Sprint(groups) != "["+prstacks.Group+"]" {
				t.Errorf("the pull-request stacks' entry has groups %v, want [%s] (what the admission policy holds)", groups, prstacks.Group)
			}
		} else if groups != nil {
			t.Errorf("access entry %s has Kubernetes groups %v", e.Str("principalArn"), groups)
		}
	}
	prov := r.one(t, tK8sProv)
	got := map[string]string{}
	for _, a := range r.mon.ByType(tAccessPolicy) {
		arn := a.Str("principalArn")
		policy := strings.TrimPrefix(a.Str("policyArn"), "arn:aws:eks::aws:cluster-access-policy/")
		got[arn] = policy
		namespaces, _ := a.Get("accessScope.namespaces")
		switch {
		case arn == prRole:
			if a.Str("accessScope.type") != "namespace" || fmt.Sprint(namespaces) != "[gopherops-pr-*]" {
				t.Errorf("the pull-request stacks' role reaches %s %v, want namespaces gopherops-pr-* only", a.Str("accessScope.type"), namespaces)
			}
		case a.Str("accessScope.type") != "cluster":
			t.Errorf("%s scope = %q, want cluster", a, a.Str("accessScope.type"))
		}
		if !prov.ExplicitlyDependsOn(tAccessPolicy, a.Name) {
			t.Errorf("the Kubernetes provider does not wait for %s: the first up would get 401", a)
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("access policies = %v, want %v", got, want)
	}
}

// checkPRStacks: the cluster that hosts the pull-request stacks (dev) gives
// their role's group a ClusterRole for namespaces, quotas, limit ranges
// (and reading volumes) only, bound after an admission policy that fails
// closed, is enforced (Deny) and matches that group; any other cluster
// (prod) has none of it and no entry for the role.
func checkPRStacks(t *testing.T, r *run) {
	const (
		tVAP     = "kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicy"
		tVAPB    = "kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicyBinding"
		tCR      = "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole"
		tCRB     = "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding"
		resource = "gopherops-dev-pr-stacks"
	)
	if !r.cfg.Access.PullRequestStacks {
		for _, typ := range []string{tVAP, tVAPB, tCR, tCRB} {
			if n := len(r.mon.ByType(typ)); n != 0 {
				t.Errorf("stack %s does not host pull-request stacks but has %d %s", r.stack, n, typ)
			}
		}
		for _, e := range r.mon.ByType(tAccessEntry) {
			if e.Str("principalArn") == role(r.cfg.Access.PRStacksRoleName) {
				t.Errorf("stack %s lets the pull-request stacks' role in", r.stack)
			}
		}
		return
	}
	if r.stack != "dev" {
		t.Fatalf("stack %s hosts the pull-request stacks; only dev should", r.stack)
	}
	vap, vapb := r.mon.Get(tVAP, resource), r.mon.Get(tVAPB, resource)
	cr, crb := r.mon.Get(tCR, resource), r.mon.Get(tCRB, resource)
	if vap == nil || vapb == nil || cr == nil || crb == nil {
		t.Fatalf("policy %v, its binding %v, cluster role %v, its binding %v", vap, vapb, cr, crb)
	}
	if vap.Str("spec.failurePolicy") != "Fail" || !strings.Contains(vap.Str("spec.matchConditions[0].expression"), `"`+prstacks.Group+`" in request.userInfo.groups`) {
		t.Errorf("admission policy spec = %v, want one failing closed for group %s", vap.In()["spec"], prstacks.Group)
	}
	resources, _ := vap.Get("spec.matchConstraints.resourceRules[0].resources")
	if fmt.Sprint(resources) != "[namespaces resourcequotas limitranges]" {
		t.Errorf("the admission policy holds %v, want what the cluster role lets the group write", resources)
	}
	if !strings.Contains(vap.Str("spec.validations[0].expression"), config.PreviewNamespacePattern) {
		t.Errorf("the admission policy's namespace check is %q", vap.Str("spec.validations[0].expression"))
	}
	actions, _ := vapb.Get("spec.validationActions")
	if fmt.Sprint(actions) != "[Deny]" || vapb.Str("spec.policyName") != prstacks.Name {
		t.Errorf("policy binding = %v: the policy must be enforced, not audited", vapb.In()["spec"])
	}
	if crb.Str("subjects[0].kind") != "Group" || crb.Str("subjects[0].name") != prstacks.Group || crb.Str("roleRef.name") != prstacks.Name {
		t.Errorf("cluster role binding = %v", crb.In())
	}
	rules, _ := cr.Get("rules")
	for _, rule := range rules.([]any) {
		m := rule.(map[string]any)
		for _, res := range m["resources"].([]any) {
			switch res {
			case "namespaces", "resourcequotas", "limitranges":
			case "persistentvolumes":
				if fmt.Sprint(m["verbs"]) != "[get list watch]" {
					t.Errorf("the group may %v persistent volumes", m["verbs"])
				}
			default:
				t.Errorf("the cluster role reaches %v: beyond what EKS's namespace-scoped Edit leaves out", res)
			}
		}
	}
	for _, res := range []*mocks.Registration{cr, crb} {
		if !res.ExplicitlyDependsOn(tVAPB, resource) {
			t.Errorf("%s does not wait for the admission policy's binding: the group could hold its rights unguarded", res)
		}
	}
}

func checkEndpointRoute(t *testing.T, r *run) {
	c := r.one(t, tEKS)
	public, _ := c.Get("vpcConfig.endpointPublicAccess")
	if public != (len(r.cfg.Cluster.EndpointPublicCidrs) > 0) {
		t.Errorf("endpointPublicAccess = %v with CIDRs %v", public, r.cfg.Cluster.EndpointPublicCidrs)
	}
	projects := r.mon.ByType(tCodeBuild)
	if !r.cfg.Runner.Enabled {
		if len(projects) != 0 || r.outputs["ciRunnerLabel"] != "" {
			t.Error("a runner exists although gopherops:ciRunner is off")
		}
		return
	}
	if public == true {
		t.Error("the stack has an in-VPC runner yet keeps the API public")
	}
	if cidrs, ok := c.Get("vpcConfig.publicAccessCidrs"); ok {
		t.Errorf("a private endpoint sends publicAccessCidrs %v", cidrs)
	}
	if len(projects) != 1 {
		t.Fatalf("%d CodeBuild projects, want the runner", len(projects))
	}
	p := projects[0]
	private := r.ids(tSubnet, "-private-")
	if got := sorted(strs(mustGet(t, p, "vpcConfig.subnets"))); !slices.Equal(got, private) {
		t.Errorf("runner subnets = %v, want the private %v", got, private)
	}
	if p.Str("source.auth.type") != "CODECONNECTIONS" || p.Str("source.auth.resource") != testConnectionArn {
		t.Errorf("runner source auth = %v", mustGet(t, p, "source"))
	}
	if p.Str("source.location") != "https://github.com/"+r.cfg.Runner.GitHubRepository+".git" {
		t.Errorf("runner source = %q", p.Str("source.location"))
	}
	hook := r.one(t, tWebhook)
	if hook.Str("filterGroups[0].filters[0].pattern") != "WORKFLOW_JOB_QUEUED" {
		t.Errorf("webhook filters = %v, want workflow jobs", mustGet(t, hook, "filterGroups"))
	}
	if want := "codebuild-" + p.Str("name"); r.outputs["ciRunnerLabel"] != want {
		t.Errorf("ciRunnerLabel = %q, want %q", r.outputs["ciRunnerLabel"], want)
	}
	// The runner reaches the private endpoint: 443 from its group on the
	// cluster security group.
	runnerSG := r.mon.Get(tSG, "gopherops-"+r.stack+"-runner")
	rule := r.one(t, tSGRule)
	if rule.Str("securityGroupId") != mocks.ClusterSGID || rule.Str("sourceSecurityGroupId") != runnerSG.ID ||
		rule.Str("type") != "ingress" || fmt.Sprint(mustGet(t, rule, "fromPort")) != "443" {
		t.Errorf("API access rule = %v", rule.In())
	}
	for _, e := range asAny(mustGet(t, runnerSG, "egress")) {
		if m := e.(map[string]any); m["fromPort"] != 443.0 || m["toPort"] != 443.0 {
			t.Errorf("runner egress %v, want HTTPS only", m)
		}
	}
}

func checkZonesByID(t *testing.T, r *run) {
	var ids []string
	for _, id := range mocks.ZoneIDs {
		ids = append(ids, id.(string))
	}
	want, err := network.PickZoneIDs(ids, r.cfg.Network.AvailabilityZoneCount)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, s := range r.mon.ByType(tSubnet) {
		if s.Str("availabilityZone") != "" {
			t.Errorf("%s is placed by zone name %q, which maps to a different zone in every account", s, s.Str("availabilityZone"))
		}
		got[s.Str("availabilityZoneId")] = true
	}
	for _, id := range want {
		if !got[id] {
			t.Errorf("no subnet in %s; subnets are in %v", id, got)
		}
	}
	if got["use1-az3"] || len(got) != len(want) {
		t.Errorf("subnets in zones %v, want exactly %v (use1-az3 is refused by EKS)", got, want)
	}
}

func checkImageFromRelease(t *testing.T, r *run) {
	want := ecrURL(r.cfg.App.ECRRepository) + "@" + releaseDigest(r.stack)
	if r.outputs["image"] != want {
		t.Errorf("image output = %q, want %q", r.outputs["image"], want)
	}
	for _, typ := range []string{tDeployment, tJob} {
		if got := r.one(t, typ).Str("spec.template.spec.containers[0].image"); got != want {
			t.Errorf("%s runs %q, want %q", typ, got, want)
		}
		if _, ok := r.one(t, typ).Get("spec.template.spec.imagePullSecrets"); ok {
			t.Errorf("%s pulls with a secret", typ)
		}
	}
	readOnly := false
	for _, a := range r.mon.ByType(tAttachment) {
		if strings.HasSuffix(a.Str("policyArn"), "/AmazonEC2ContainerRegistryReadOnly") && a.Str("role") == r.mon.Get(tRole, "gopherops-"+r.stack+"-nodes").Outputs["name"].StringValue() {
			readOnly = true
		}
	}
	if !readOnly {
		t.Error("the node role cannot pull from ECR")
	}
}

// TestRollout: what the stack runs is the release being rolled out, else
// the record of the last successful rollout, never a release that only
// reached the mirror (deploy.yml once moved the stack's tag before `pulumi
// up`, so a failed up left the next laptop up rolling out the failed
// image). Each refusal stops the program before it creates anything.
func TestRollout(t *testing.T) {
	last, next, stray := releaseDigest("last good"), releaseDigest("next"), releaseDigest("never mirrored")
	cases := []struct {
		name    string
		rollout string
		pin     string
		record  bool
		want    string // the digest deployed, or "" for a refusal
		wantErr string
	}{
		{name: "an up with no rollout runs the record", record: true, want: last},
		{name: "a rollout runs its release", rollout: next, record: true, want: next},
		{name: "the first rollout needs no record", rollout: next, want: next},
		{name: "a pin wins over the record", pin: next, record: true, want: next},
		{name: "a pin and the same rollout", pin: next, rollout: next, record: true, want: next},
		{name: "a pin and another rollout", pin: last, rollout: next, record: true, wantErr: "remove the pin"},
		{name: "a release that is not in the mirror", rollout: stray, record: true, wantErr: "is not in ECR repository gopherops"},
		{name: "a rollout that is no digest", rollout: "latest", record: true, wantErr: "is not an image digest"},
		{name: "nothing ever rolled out", wantErr: "no release recorded for stack dev (SSM parameter /gopherops/dev/release)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			mon := mocks.New()
			mon.Mirror[last], mon.Mirror[next] = true, true
			if tc.record {
				mon.Parameters["/gopherops/dev/release"] = last
			}
			overrides := map[string]string{}
			if tc.pin != "" {
				overrides["gopherops:imageDigest"] = tc.pin
			}
			r, err := runStackOn(t, "dev", overrides, defaultSecretKeys, mon, platform.WithRelease(tc.rollout))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
				}
				if n := len(mon.All()); n != 0 {
					t.Errorf("%d resources registered", n)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if want := ecrURL("gopherops") + "@" + tc.want; r.outputs["image"] != want {
				t.Errorf("image = %q, want %q", r.outputs["image"], want)
			}
		})
	}
}

func checkAddons(t *testing.T, r *run) {
	c := r.one(t, tEKS)
	if v, _ := c.Get("bootstrapSelfManagedAddons"); v != false {
		t.Errorf("bootstrapSelfManagedAddons = %v: EKS would install unmanaged, unpinned add-ons", v)
	}
	ng := r.one(t, tNodeGroup)
	prov := r.one(t, tK8sProv)
	for _, name := range config.RequiredAddons() {
		logical := "gopherops-" + r.stack + "-" + name
		a := r.mon.Get(tAddon, logical)
		if a == nil {
			t.Errorf("no %s add-on", name)
			continue
		}
		if got, want := a.Str("addonVersion"), r.cfg.Cluster.AddonVersions[name]; got == "" || got != want {
			t.Errorf("%s version = %q, want the pinned %q", name, got, want)
		}
		if name == "kube-proxy" && !strings.HasPrefix(a.Str("addonVersion"), "v"+c.Str("version")+".") {
			t.Errorf("kube-proxy %s on a Kubernetes %s cluster", a.Str("addonVersion"), c.Str("version"))
		}
		network := name == "vpc-cni" || name == "kube-proxy"
		if network && !ng.ExplicitlyDependsOn(tAddon, logical) {
			t.Errorf("the node group does not wait for %s: nodes would never become ready", name)
		}
		if !network && !a.ExplicitlyDependsOn(tNodeGroup, "gopherops-"+r.stack) {
			t.Errorf("%s does not wait for nodes to run its pods", name)
		}
		if !prov.ExplicitlyDependsOn(tAddon, logical) {
			t.Errorf("workloads do not wait for %s", name)
		}
	}
	if v := c.Str("upgradePolicy.supportType"); v != cluster.SupportType || cluster.SupportType != "STANDARD" {
		t.Errorf("upgradePolicy.supportType = %q, want STANDARD (never extended support silently)", v)
	}
}

func helmRelease(t *testing.T, r *run, name string) *mocks.Registration {
	t.Helper()
	for _, rel := range r.mon.ByType(tRelease) {
		if rel.Str("chart") == name {
			return rel
		}
	}
	t.Fatalf("no %s Helm release", name)
	return nil
}

// checkIRSA: the role annotated on the chart's ServiceAccount trusts
// exactly kube-system/<sa> of this cluster's OIDC provider.
func checkIRSA(t *testing.T, r *run, rel *mocks.Registration, annotationsPath, logicalRole, serviceAccount string) map[string]any {
	t.Helper()
	roleReg := r.mon.Get(tRole, logicalRole)
	if roleReg == nil {
		t.Fatalf("no role %s", logicalRole)
	}
	ann, _ := rel.Get(annotationsPath)
	am, _ := ann.(map[string]any)
	if got := am["eks.amazonaws.com/role-arn"]; got != roleReg.Outputs["arn"].StringValue() {
		t.Errorf("%s service account role = %q, want %s", rel.Str("chart"), got, roleReg.Outputs["arn"].StringValue())
	}
	st := statements(policyDoc(t, roleReg, "assumeRolePolicy"))
	cond, _ := mocks.Walk(st[0], "Condition.StringEquals")
	if cm, _ := cond.(map[string]any); len(st) != 1 || cm[mocks.OIDCIssuer+":sub"] != "system:serviceaccount:kube-system:"+serviceAccount {
		t.Errorf("%s trust = %v", logicalRole, st)
	}
	var pol *mocks.Registration
	for _, p := range r.mon.ByType(tRolePolicy) {
		if p.Name == logicalRole {
			pol = p
		}
	}
	if pol == nil {
		t.Fatalf("no policy for %s", logicalRole)
	}
	return policyDoc(t, pol, "policy")
}

func checkClusterAutoscaler(t *testing.T, r *run) {
	rel := helmRelease(t, r, "cluster-autoscaler")
	if rel.Str("version") != r.cfg.Cluster.ClusterAutoscalerChart || rel.Str("repositoryOpts.repo") != controllers.ClusterAutoscalerRepo {
		t.Errorf("cluster-autoscaler chart %q from %q", rel.Str("version"), rel.Str("repositoryOpts.repo"))
	}
	if rel.Str("values.autoDiscovery.clusterName") != r.cfg.Cluster.Name {
		t.Errorf("autoscaler discovers %q", rel.Str("values.autoDiscovery.clusterName"))
	}
	// The autoscaler runs the release of the cluster's own minor (chart
	// 9.52.1's default image was 1.34 on a 1.35 cluster).
	eksVersion := r.one(t, tEKS).Str("version")
	if tag := rel.Str("values.image.tag"); !strings.HasPrefix(tag, "v"+eksVersion+".") {
		t.Errorf("Cluster Autoscaler image %q on a Kubernetes %s cluster: it must run the cluster's minor", tag, eksVersion)
	}
	doc := checkIRSA(t, r, rel, "values.rbac.serviceAccount.annotations", "gopherops-"+r.stack+"-cluster-autoscaler", controllers.ClusterAutoscalerSA)
	for _, st := range statements(doc) {
		for _, a := range asList(st["Action"]) {
			if a == "autoscaling:SetDesiredCapacity" || a == "autoscaling:TerminateInstanceInAutoScalingGroup" {
				tag, _ := mocks.Walk(st, "Condition.StringEquals")
				if fmt.Sprint(tag) != fmt.Sprint(map[string]any{"aws:ResourceTag/k8s.io/cluster-autoscaler/" + r.cfg.Cluster.Name: "owned"}) {
					t.Errorf("%s is not limited to this cluster's node groups: %v", a, st["Condition"])
				}
			}
		}
	}
	ng := r.one(t, tNodeGroup)
	if v, _ := ng.Get("scalingConfig.maxSize"); v != float64(r.cfg.Cluster.NodeMaxSize) {
		t.Errorf("node group max = %v, want nodeMaxSize %d (what the autoscaler scales up to)", v, r.cfg.Cluster.NodeMaxSize)
	}
}

func checkLoadBalancerController(t *testing.T, r *run) {
	rel := helmRelease(t, r, "aws-load-balancer-controller")
	if rel.Str("version") != r.cfg.Cluster.LoadBalancerControllerChart || rel.Str("values.clusterName") != r.cfg.Cluster.Name ||
		rel.Str("values.vpcId") != r.one(t, tVpc).ID {
		t.Errorf("load balancer controller values = %v", mustGet(t, rel, "values"))
	}
	doc := checkIRSA(t, r, rel, "values.serviceAccount.annotations", "gopherops-"+r.stack+"-lb-controller", controllers.LoadBalancerControllerSA)
	for _, st := range statements(doc) {
		for _, a := range asList(st["Action"]) {
			destructive := strings.Contains(a, "Delete") || strings.Contains(a, "Modify") || strings.HasPrefix(a, "elasticloadbalancing:Create") && a != "elasticloadbalancing:CreateListener"
			if destructive && st["Condition"] == nil && !slices.ContainsFunc(asList(st["Resource"]), func(s string) bool { return strings.Contains(s, "/k8s-") }) {
				t.Errorf("%s is allowed on %v without this cluster's tag", a, st["Resource"])
			}
		}
		if c := fmt.Sprint(st["Condition"]); strings.Contains(c, controllers.ClusterTag) && !strings.Contains(c, r.cfg.Cluster.Name) {
			t.Errorf("statement %v is scoped to another cluster", st["Sid"])
		}
	}
	svc := r.mon.Get(tService, "gopherops-"+r.stack)
	if svc.Str("spec.loadBalancerClass") != platform.LoadBalancerClass {
		t.Errorf("service loadBalancerClass = %q, want the controller's %q", svc.Str("spec.loadBalancerClass"), platform.LoadBalancerClass)
	}
	if v, _ := svc.Get("spec.allocateLoadBalancerNodePorts"); v != false {
		t.Errorf("allocateLoadBalancerNodePorts = %v: NodePorts would open on every node", v)
	}
	if !svc.ExplicitlyDependsOn(tRelease, "gopherops-"+r.stack+"-lb-controller") {
		t.Error("the Service does not wait for the controller (nor outlive it on destroy, leaking the NLB)")
	}
	ann, _ := svc.Get("metadata.annotations")
	if am, _ := ann.(map[string]any); am["service.beta.kubernetes.io/aws-load-balancer-target-group-attributes"] != "preserve_client_ip.enabled=true" {
		t.Errorf("client IP preservation is not on: %v", ann)
	}
}

func checkClientAddressesOnAWS(t *testing.T, r *run) {
	svc := r.mon.Get(tService, "gopherops-"+r.stack)
	if v := svc.Str("spec.externalTrafficPolicy"); v != "" {
		t.Errorf("externalTrafficPolicy = %q on an IP-target Service, where it does nothing", v)
	}
	env := envOf(t, r.one(t, tDeployment), "spec.template.spec.containers[0]")
	if v, ok := env["TRUSTED_PROXIES"]; !ok || v != "" {
		t.Errorf("TRUSTED_PROXIES = %q (set: %v), want explicitly empty: the client address is the TCP peer", v, ok)
	}
}

func checkLogs(t *testing.T, r *run) {
	days := float64(r.cfg.Cluster.LogRetentionDays)
	groups := map[string]*mocks.Registration{}
	for _, g := range r.mon.ByType(tLogGroup) {
		groups[g.Str("name")] = g
		if v, _ := g.Get("retentionInDays"); v != days {
			t.Errorf("log group %s keeps logs %v days, want %v", g.Str("name"), v, days)
		}
	}
	cp := groups[cluster.LogGroupName(r.cfg.Cluster.Name)]
	if cp == nil {
		t.Fatalf("no control-plane log group %s; EKS would make one that never expires", cluster.LogGroupName(r.cfg.Cluster.Name))
	}
	if !r.one(t, tEKS).ExplicitlyDependsOn(tLogGroup, cp.Name) {
		t.Error("the cluster is created before its log group, which EKS would then create itself")
	}
	// Flow logs go to S3 by default: a quarter of CloudWatch's ingestion
	// price and a fifth of its storage, which a year of prod's all-traffic
	// logs made the costliest item of the logs line.
	fl := r.one(t, tFlowLog)
	if fl.Str("vpcId") != r.one(t, tVpc).ID || fl.Str("trafficType") != "ALL" || fl.Str("logDestinationType") != "s3" {
		t.Errorf("flow log = %v", fl.In())
	}
	checkFlowLogBucket(t, r, fl)
}

// checkFlowLogBucket: the flow logs land as Parquet in a private, TLS-only
// bucket that expires them after the stack's retention and admits only log
// delivery for this account; prod protects it.
func checkFlowLogBucket(t *testing.T, r *run, fl *mocks.Registration) {
	t.Helper()
	bucket := r.mon.Get(tBucket, "gopherops-"+r.stack+"-flow-logs")
	if bucket == nil || fl.Str("logDestination") != bucket.Outputs["arn"].StringValue() {
		t.Fatalf("flow log goes to %q, not its bucket", fl.Str("logDestination"))
	}
	if fl.Str("destinationOptions.fileFormat") != "parquet" {
		t.Errorf("flow log format = %q, want parquet", fl.Str("destinationOptions.fileFormat"))
	}
	if fl.Str("iamRoleArn") != "" || r.mon.Get(tRole, "gopherops-"+r.stack+"-flow-logs") != nil {
		t.Error("a delivery role exists although S3 delivery needs none")
	}
	if bucket.Protect != r.cfg.IsProd() {
		t.Errorf("flow log bucket protect = %v on %s", bucket.Protect, r.stack)
	}
	var pab, lifecycle, policy *mocks.Registration
	for _, reg := range r.mon.All() {
		if reg.Str("bucket") != bucket.ID {
			continue
		}
		switch reg.Type {
		case tPAB:
			pab = reg
		case tLifecycle:
			lifecycle = reg
		case tPolicy:
			policy = reg
		}
	}
	if pab == nil || lifecycle == nil || policy == nil {
		t.Fatalf("flow log bucket lacks its public access block (%v), lifecycle (%v) or policy (%v)", pab != nil, lifecycle != nil, policy != nil)
	}
	if v, _ := lifecycle.Get("rules[0].expiration.days"); v != float64(r.cfg.Cluster.LogRetentionDays) {
		t.Errorf("flow logs expire after %v days, want the stack's %d", v, r.cfg.Cluster.LogRetentionDays)
	}
	delivery, tls := false, false
	for _, st := range statements(policyDoc(t, policy, "policy")) {
		if svc, _ := mocks.Walk(st, "Principal.Service"); svc == "delivery.logs.amazonaws.com" {
			delivery = strings.Contains(fmt.Sprint(st["Condition"]), mocks.AccountID)
			if !delivery {
				t.Errorf("log delivery admitted for any account: %v", st)
			}
		}
		if strings.Contains(fmt.Sprint(st["Condition"]), "aws:SecureTransport") && st["Effect"] == "Deny" {
			tls = true
		}
	}
	if !delivery || !tls {
		t.Errorf("flow log bucket policy admits delivery: %v, denies plain HTTP: %v", delivery, tls)
	}
}

// TestFlowLogsToCloudWatch: the other destination, a log group with the
// stack's retention, delivered by a role only VPC Flow Logs of this account
// can assume.
func TestFlowLogsToCloudWatch(t *testing.T) {
	r := deployStack(t, "dev", map[string]string{"gopherops:flowLogDestination": "cloud-watch-logs"})
	fl := r.one(t, tFlowLog)
	if fl.Str("logDestinationType") != "cloud-watch-logs" {
		t.Fatalf("flow log = %v", fl.In())
	}
	fg := r.mon.Get(tLogGroup, "gopherops-dev-flow-logs")
	if fg == nil || fl.Str("logDestination") != fg.Outputs["arn"].StringValue() {
		t.Fatalf("flow log goes to %q, not its log group", fl.Str("logDestination"))
	}
	if v, _ := fg.Get("retentionInDays"); v != float64(r.cfg.Cluster.LogRetentionDays) {
		t.Errorf("flow log group keeps logs %v days", v)
	}
	flRole := r.mon.Get(tRole, "gopherops-dev-flow-logs")
	if flRole == nil || fl.Str("iamRoleArn") != flRole.Outputs["arn"].StringValue() {
		t.Fatalf("flow log delivered by %q", fl.Str("iamRoleArn"))
	}
	for _, st := range statements(policyDoc(t, flRole, "assumeRolePolicy")) {
		if p, _ := mocks.Walk(st, "Principal.Service"); p != "vpc-flow-logs.amazonaws.com" || !strings.Contains(fmt.Sprint(st["Condition"]), mocks.AccountID) {
			t.Errorf("flow log role trust = %v", st)
		}
	}
	if r.mon.Get(tBucket, "gopherops-dev-flow-logs") != nil {
		t.Error("a flow log bucket exists although the logs go to CloudWatch")
	}
}

// TestVPCEndpoints: the S3 gateway endpoint serves every private route
// table (free; image layers and avatars stop paying NAT processing), and
// the ECR and STS interface endpoints, a setting, sit in the private
// subnets with private DNS, admitting HTTPS from the VPC only.
func TestVPCEndpoints(t *testing.T) {
	for _, interfaces := range []bool{true, false} {
		t.Run(fmt.Sprintf("interface endpoints %v", interfaces), func(t *testing.T) {
			r := deployStack(t, "prod", map[string]string{"gopherops:vpcInterfaceEndpoints": fmt.Sprint(interfaces)})
			byService := map[string]*mocks.Registration{}
			for _, ep := range r.mon.ByType(tEndpoint) {
				if ep.Str("vpcId") != r.one(t, tVpc).ID {
					t.Errorf("%s is in VPC %q", ep, ep.Str("vpcId"))
				}
				byService[strings.TrimPrefix(ep.Str("serviceName"), "com.amazonaws."+mocks.Region+".")] = ep
			}
			s3 := byService["s3"]
			if s3 == nil || s3.Str("vpcEndpointType") != "Gateway" {
				t.Fatalf("no S3 gateway endpoint: %v", byService)
			}
			var privateRTs []string
			for _, rt := range r.mon.ByType(tRouteTable) {
				if strings.Contains(rt.Name, "-private-") {
					privateRTs = append(privateRTs, rt.ID)
				}
			}
			if got := sorted(strs(mustGet(t, s3, "routeTableIds"))); !slices.Equal(got, sorted(privateRTs)) {
				t.Errorf("S3 endpoint route tables = %v, want every private one %v", got, privateRTs)
			}
			want := 1
			if interfaces {
				want += len(network.InterfaceEndpointServices)
			}
			if len(byService) != want {
				t.Errorf("%d endpoints (%v), want %d", len(byService), keysOf(byService), want)
			}
			if !interfaces {
				return
			}
			sg := r.mon.Get(tSG, "gopherops-prod-endpoints")
			if sg == nil {
				t.Fatal("no endpoint security group")
			}
			ingress := asAny(mustGet(t, sg, "ingress"))
			if len(ingress) != 1 || fmt.Sprint(ingress[0].(map[string]any)["fromPort"]) != "443" ||
				!slices.Equal(strs(ingress[0].(map[string]any)["cidrBlocks"]), []string{r.cfg.Network.VpcCidr}) {
				t.Errorf("endpoint security group ingress = %v, want HTTPS from %s only", ingress, r.cfg.Network.VpcCidr)
			}
			if _, ok := sg.Get("egress"); ok {
				t.Errorf("endpoint security group has egress rules: %v", mustGet(t, sg, "egress"))
			}
			private := r.ids(tSubnet, "-private-")
			for _, svc := range network.InterfaceEndpointServices {
				ep := byService[svc]
				if ep == nil {
					t.Errorf("no %s interface endpoint", svc)
					continue
				}
				if ep.Str("vpcEndpointType") != "Interface" {
					t.Errorf("%s endpoint type = %q, want Interface", svc, ep.Str("vpcEndpointType"))
				}
				if v, _ := ep.Get("privateDnsEnabled"); v != true {
					t.Errorf("%s endpoint without private DNS: nodes would still resolve the public address", svc)
				}
				if got := sorted(strs(mustGet(t, ep, "subnetIds"))); !slices.Equal(got, private) {
					t.Errorf("%s endpoint subnets = %v, want the private %v", svc, got, private)
				}
				if got := strs(mustGet(t, ep, "securityGroupIds")); !slices.Equal(got, []string{sg.ID}) {
					t.Errorf("%s endpoint security groups = %v", svc, got)
				}
			}
		})
	}
}

func keysOf(m map[string]*mocks.Registration) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return sorted(out)
}

func checkDatabaseControls(t *testing.T, r *run) {
	db := r.one(t, tRDS)
	if v, _ := db.Get("iamDatabaseAuthenticationEnabled"); v != true {
		t.Error("IAM database authentication is off (AWS FSBP RDS.10)")
	}
	if v, _ := db.Get("performanceInsightsEnabled"); v != true {
		t.Errorf("performanceInsightsEnabled = %v on %s", v, r.stack)
	}
	if r.cfg.IsProd() && !db.Protect {
		t.Error("prod database is not protected")
	}
	// Every exported log goes to a group the program made first, with the
	// stack's retention, not to one RDS would create that never expires.
	exports := strs(mustGet(t, db, "enabledCloudwatchLogsExports"))
	if len(exports) == 0 {
		t.Error("the database exports no logs")
	}
	for _, e := range exports {
		name := database.LogGroupName(db.Str("identifier"), e)
		var group *mocks.Registration
		for _, g := range r.mon.ByType(tLogGroup) {
			if g.Str("name") == name {
				group = g
			}
		}
		if group == nil {
			t.Errorf("RDS exports %s logs to %s, which the program does not create: it would never expire", e, name)
			continue
		}
		if v, _ := group.Get("retentionInDays"); v != float64(r.cfg.Cluster.LogRetentionDays) {
			t.Errorf("%s keeps logs %v days, want %d", name, v, r.cfg.Cluster.LogRetentionDays)
		}
		if !db.ExplicitlyDependsOn(tLogGroup, group.Name) {
			t.Errorf("the database is created before %s, which RDS would then create itself", name)
		}
	}
}

func checkBucketControls(t *testing.T, r *run) {
	// Both stacks write them (dev rehearses prod).
	logs := r.mon.ByType(tBucketLog)
	if len(logs) != 1 {
		t.Fatalf("%d bucket logging configurations, want 1 (AWS FSBP S3.9)", len(logs))
	}
	avatars := r.mon.Get(tBucket, "gopherops-"+r.stack+"-blobs")
	logBucket := r.mon.Get(tBucket, "gopherops-"+r.stack+"-blobs-access-logs")
	if logs[0].Str("bucket") != avatars.ID || logs[0].Str("targetBucket") != logBucket.ID {
		t.Errorf("access logs of %q go to %q", logs[0].Str("bucket"), logs[0].Str("targetBucket"))
	}
	var pol map[string]any
	for _, p := range r.mon.ByType(tPolicy) {
		if p.Str("bucket") == logBucket.ID {
			pol = policyDoc(t, p, "policy")
		}
	}
	delivery := false
	for _, st := range statements(pol) {
		if svc, _ := mocks.Walk(st, "Principal.Service"); svc == "logging.s3.amazonaws.com" {
			delivery = strings.Contains(fmt.Sprint(st["Condition"]), avatars.Outputs["arn"].StringValue()) &&
				strings.Contains(fmt.Sprint(st["Condition"]), mocks.AccountID)
		}
	}
	if !delivery {
		t.Errorf("log bucket policy does not admit S3 log delivery for the avatar bucket only: %v", pol)
	}
}

func checkProtection(t *testing.T, r *run) {
	prod := r.cfg.IsProd()
	for _, reg := range []*mocks.Registration{
		r.one(t, tEKS), r.one(t, tKMS), r.one(t, tRDS), r.mon.Get(tBucket, "gopherops-"+r.stack+"-blobs"),
	} {
		if reg.Protect != prod {
			t.Errorf("%s protect = %v on %s", reg, reg.Protect, r.stack)
		}
	}
}

func checkParents(t *testing.T, r *run) {
	comps := map[string]string{
		tVpc: "gopherops:infra:Network", tFlowLog: "gopherops:infra:Network", tEKS: "gopherops:infra:Cluster",
		tAccessEntry: "gopherops:infra:Cluster", tRDS: "gopherops:infra:Database", tBucket: "gopherops:infra:",
		tRelease: "gopherops:infra:", tDeployment: "gopherops:infra:App",
	}
	for typ, comp := range comps {
		for _, reg := range r.mon.ByType(typ) {
			if !strings.Contains(reg.Parent, comp) {
				t.Errorf("%s has parent %q, want a %s component", reg, reg.Parent, comp)
			}
		}
	}
}

// TestWhoMayRunUp: an update by a principal without a cluster-admin access
// entry stops before creating anything (it would end in 401 after the AWS
// half exists); an operator listed in the stack may; a preview may run as
// the read-only preview role.
func TestWhoMayRunUp(t *testing.T) {
	const operator = "arn:aws:iam::" + mocks.AccountID + ":role/AWSReservedSSO_Admin_0123"
	cases := []struct {
		name    string
		caller  string
		dryRun  bool
		extra   map[string]string
		wantErr string
	}{
		{"the deploy role", "", false, nil, ""},
		{"an unlisted laptop session", "arn:aws:sts::" + mocks.AccountID + ":assumed-role/SomeoneElse/alice", false, nil,
			"role/SomeoneElse runs this update but has no cluster-admin access entry"},
		{"the preview role updating", "arn:aws:sts::" + mocks.AccountID + ":assumed-role/gopherops-preview/pr-7", false, nil,
			"role/gopherops-preview runs this update"},
		{"the preview role previewing", "arn:aws:sts::" + mocks.AccountID + ":assumed-role/gopherops-preview/pr-7", true, nil, ""},
		{"a listed operator", "arn:aws:sts::" + mocks.AccountID + ":assumed-role/AWSReservedSSO_Admin_0123/alice@example.com", false,
			map[string]string{"gopherops:operatorArns": `["` + operator + `"]`}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			setStackConfig(t, "dev", tc.extra, defaultSecretKeys)
			mon := newMonitor("dev")
			mon.CallerArn = tc.caller
			err := pulumi.RunErr(platform.Program(), pulumi.WithMocks("gopherops", "dev", mon),
				func(info *pulumi.RunInfo) { info.DryRun = tc.dryRun })
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("Program: %v", err)
				}
				if tc.extra != nil && mon.Get(tAccessEntry, "gopherops-dev-access-AWSReservedSSO_Admin_0123") == nil {
					t.Error("the operator got no access entry")
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want %q", err, tc.wantErr)
			}
			if n := len(mon.All()); n != 0 {
				t.Errorf("%d resources registered", n)
			}
		})
	}
}

// TestPrincipalArn maps STS sessions to the principals access entries name,
// and leaves every other ARN (or a string that is none) as it is.
func TestPrincipalArn(t *testing.T) {
	cases := map[string]string{
		"arn:aws:sts::123456789012:assumed-role/gopherops-deploy/gh-1":          "arn:aws:iam::123456789012:role/gopherops-deploy",
		"arn:aws-us-gov:sts::123456789012:assumed-role/Ops/alice":               "arn:aws-us-gov:iam::123456789012:role/Ops",
		"arn:aws:iam::123456789012:user/alice":                                  "arn:aws:iam::123456789012:user/alice",
		"arn:aws:iam::123456789012:root":                                        "arn:aws:iam::123456789012:root",
		"arn:aws:sts::123456789012:federated-user/bob":                          "arn:aws:sts::123456789012:federated-user/bob",
		"arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_Admin_1/a@b.com": "arn:aws:iam::123456789012:role/AWSReservedSSO_Admin_1",
		// Anything else is returned as it is, never half-parsed.
		"not-an-arn":                "not-an-arn",
		"arn:aws:sts::123456789012": "arn:aws:sts::123456789012",
	}
	for in, want := range cases {
		if got := platform.PrincipalArn(in); got != want {
			t.Errorf("PrincipalArn(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestClientAddressesOnAnyCluster: a local NodePort or LoadBalancer Service
// keeps traffic on the receiving node so the pod sees the client's address;
// a ClusterIP Service has no external traffic to keep.
func TestClientAddressesOnAnyCluster(t *testing.T) {
	for _, typ := range []string{"ClusterIP", "NodePort", "LoadBalancer"} {
		t.Run(typ, func(t *testing.T) {
			r := deployStack(t, "local", map[string]string{"gopherops:serviceType": typ})
			svc := r.mon.Get(tService, "gopherops-local")
			want := map[string]string{"ClusterIP": "", "NodePort": "Local", "LoadBalancer": "Local"}[typ]
			if got := svc.Str("spec.externalTrafficPolicy"); got != want {
				t.Errorf("externalTrafficPolicy = %q, want %q", got, want)
			}
			if svc.Str("spec.loadBalancerClass") != "" {
				t.Error("the local Service names the AWS controller's class")
			}
			env := envOf(t, r.one(t, tDeployment), "spec.template.spec.containers[0]")
			if v, ok := env["TRUSTED_PROXIES"]; !ok || v != "" {
				t.Errorf("TRUSTED_PROXIES = %q (set: %v), want explicitly empty", v, ok)
			}
		})
	}
}

// TestLocalMetricsServer: a local cluster without metrics-server (kind) gets
// one from its pinned chart when the stack asks; by default none is added.
func TestLocalMetricsServer(t *testing.T) {
	r := deployStack(t, "local", nil)
	if n := len(r.mon.ByType(tRelease)); n != 0 {
		t.Errorf("%d Helm releases on the default local stack, want none", n)
	}
	r = deployStack(t, "local", map[string]string{"gopherops:metricsServerChartVersion": "3.13.0"})
	rel := helmRelease(t, r, "metrics-server")
	if rel.Str("version") != "3.13.0" || rel.Str("namespace") != "kube-system" || rel.Str("repositoryOpts.repo") != platform.MetricsServerRepo {
		t.Errorf("metrics-server release = %v", rel.In())
	}
	if !strings.Contains(rel.Provider, tK8sProv+"::local::") {
		t.Errorf("metrics-server uses provider %q, not the local cluster's", rel.Provider)
	}
}
