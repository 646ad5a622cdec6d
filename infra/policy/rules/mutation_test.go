package rules_test

import (
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/gopherops/gopherops/infra/policy/rules"
	"github.com/pulumi/pulumi/sdk/v3/go/property"
)

// Type tokens the mutations pick resources by.
const (
	tDeployment  = "kubernetes:apps/v1:Deployment"
	tStatefulSet = "kubernetes:apps/v1:StatefulSet"
	tJob         = "kubernetes:batch/v1:Job"
	tService     = "kubernetes:core/v1:Service"
	tNamespace   = "kubernetes:core/v1:Namespace"
	tNetPol      = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
	tRDS         = "aws:rds/instance:Instance"
	tEKS         = "aws:eks/cluster:Cluster"
	tLaunchTpl   = "aws:ec2/launchTemplate:LaunchTemplate"
	tSG          = "aws:ec2/securityGroup:SecurityGroup"
	tKMS         = "aws:kms/key:Key"
	tBucket      = "aws:s3/bucketV2:BucketV2"
	tPAB         = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
	tBucketPol   = "aws:s3/bucketPolicy:BucketPolicy"
	tSSE         = "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2"
	tVersioning  = "aws:s3/bucketVersioningV2:BucketVersioningV2"
	tNat         = "aws:ec2/natGateway:NatGateway"
	tNodeGroup   = "aws:eks/nodeGroup:NodeGroup"
	tVpc         = "aws:ec2/vpc:Vpc"
)

// Paths into a Deployment's pod spec.
const (
	pod = "spec.template.spec"
	ctr = pod + ".containers[0]"
	sc  = ctr + ".securityContext"
)

func str(s string) property.Value   { return property.New(s) }
func boolean(b bool) property.Value { return property.New(b) }
func num(n float64) property.Value  { return property.New(n) }
func strs(ss ...string) property.Value {
	vals := make([]property.Value, len(ss))
	for i, s := range ss {
		vals[i] = property.New(s)
	}
	return property.New(vals)
}

// edit is one change to one property of a resource.
type edit struct {
	path   string
	value  property.Value
	remove bool
}

// mutation breaks one policy on one resource of one stack.
type mutation struct {
	name   string
	policy string
	stack  string
	typ    string
	match  string // regular expression on the logical name
	// outputs edits the outputs (what stack policies judge) instead of the inputs.
	outputs bool
	edits   []edit
	// also are other policies the same change rightly breaks.
	also []string
	// subjectTyp and subjectMatch pick the resource a stack policy reports
	// on (the bucket of a companion, the namespace of a NetworkPolicy);
	// empty: the mutated resource.
	subjectTyp, subjectMatch string
}

func mutations() []mutation {
	dep := func(name, policy string, edits ...edit) mutation {
		return mutation{name: name, policy: policy, stack: "local", typ: tDeployment, match: "gopherops-local", edits: edits}
	}
	return []mutation{
		dep("container as root user", "k8s-run-as-non-root", edit{path: sc + ".runAsNonRoot", value: boolean(false)}, edit{path: sc + ".runAsUser", value: num(0)}),
		dep("runAsNonRoot dropped everywhere", "k8s-run-as-non-root", edit{path: sc + ".runAsNonRoot", remove: true}, edit{path: pod + ".securityContext.runAsNonRoot", remove: true}),
		{name: "postgres as root", policy: "k8s-run-as-non-root", stack: "local", typ: tStatefulSet, match: ".*postgres",
			edits: []edit{{path: "spec.template.spec.containers[0].securityContext.runAsUser", value: num(0)}}},
		dep("writable root filesystem", "k8s-read-only-root-filesystem", edit{path: sc + ".readOnlyRootFilesystem", value: boolean(false)}),
		dep("privilege escalation allowed", "k8s-no-privilege-escalation", edit{path: sc + ".allowPrivilegeEscalation", value: boolean(true)}),
		dep("capabilities kept", "k8s-drop-all-capabilities", edit{path: sc + ".capabilities.drop", value: strs("NET_RAW")}),
		dep("capability added", "k8s-drop-all-capabilities", edit{path: sc + ".capabilities.add", value: strs("SYS_ADMIN")}),
		dep("seccomp unconfined", "k8s-seccomp-runtime-default", edit{path: sc + ".seccompProfile.type", value: str("Unconfined")},
			edit{path: pod + ".securityContext.seccompProfile.type", value: str("Unconfined")}),
		dep("no memory limit", "k8s-resource-limits", edit{path: ctr + ".resources.limits.memory", remove: true}),
		{name: "migration job without cpu request", policy: "k8s-resource-limits", stack: "dev", typ: tJob, match: ".*migrate",
			edits: []edit{{path: "spec.template.spec.containers[0].resources.requests.cpu", remove: true}}},
		dep("image by tag", "k8s-image-digest", edit{path: ctr + ".image", value: str("ghcr.io/gopherops/gopherops:0.1.0")}),
		{name: "postgres image by tag", policy: "k8s-image-digest", stack: "local", typ: tStatefulSet, match: ".*postgres",
			edits: []edit{{path: "spec.template.spec.containers[0].image", value: str("postgres:17")}}},
		dep("hostPath volume", "k8s-no-host-path", edit{path: pod + ".volumes[0]", value: property.New(map[string]property.Value{
			"name": str("host"), "hostPath": property.New(map[string]property.Value{"path": str("/")})})}),
		dep("host network", "k8s-no-host-namespaces", edit{path: pod + ".hostNetwork", value: boolean(true)}),
		dep("host PID", "k8s-no-host-namespaces", edit{path: pod + ".hostPID", value: boolean(true)}),
		dep("privileged container", "k8s-no-privileged", edit{path: sc + ".privileged", value: boolean(true)}),
		{name: "default deny opens ingress", policy: "k8s-namespace-default-deny", stack: "dev", typ: tNetPol, match: "gopherops-dev-default-deny", outputs: true,
			edits: []edit{{path: "spec.ingress[0]", value: property.New(map[string]property.Value{})}}, subjectTyp: tNamespace, subjectMatch: "gopherops-dev"},
		{name: "default deny selects only some pods", policy: "k8s-namespace-default-deny", stack: "local", typ: tNetPol, match: ".*default-deny", outputs: true,
			edits:      []edit{{path: "spec.podSelector.matchLabels", value: property.New(map[string]property.Value{"app": str("x")})}},
			subjectTyp: tNamespace, subjectMatch: "gopherops-local"},
		{name: "default deny lets egress through", policy: "k8s-namespace-default-deny", stack: "prod", typ: tNetPol, match: "gopherops-prod-default-deny", outputs: true,
			edits: []edit{{path: "spec.policyTypes", value: strs("Ingress")}}, subjectTyp: tNamespace, subjectMatch: "gopherops-prod"},
		{name: "monitoring namespace loses its default deny", policy: "k8s-namespace-default-deny", stack: "prod", typ: tNetPol, match: "monitoring-default-deny", outputs: true,
			edits: []edit{{path: "spec.egress[0]", value: property.New(map[string]property.Value{})}}, subjectTyp: tNamespace, subjectMatch: "monitoring"},
		{name: "load balancer without the controller's class", policy: "k8s-load-balancer-class", stack: "prod", typ: tService, match: "gopherops-prod",
			edits: []edit{{path: "spec.loadBalancerClass", remove: true}}},

		{name: "database unencrypted", policy: "rds-encrypted", stack: "dev", typ: tRDS, match: ".*",
			edits: []edit{{path: "storageEncrypted", value: boolean(false)}}},
		{name: "database public", policy: "rds-not-public", stack: "prod", typ: tRDS, match: ".*",
			edits: []edit{{path: "publiclyAccessible", value: boolean(true)}}},
		{name: "database without IAM auth", policy: "rds-iam-auth", stack: "dev", typ: tRDS, match: ".*",
			edits: []edit{{path: "iamDatabaseAuthenticationEnabled", remove: true}}},
		{name: "prod database deletable", policy: "rds-prod-protection", stack: "prod", typ: tRDS, match: ".*",
			edits: []edit{{path: "deletionProtection", value: boolean(false)}}},
		{name: "prod database with 3 days of backups", policy: "rds-prod-protection", stack: "prod", typ: tRDS, match: ".*",
			edits: []edit{{path: "backupRetentionPeriod", value: num(3)}}},
		{name: "bucket without public access block", policy: "s3-public-access-block", stack: "dev", typ: tPAB, match: "gopherops-dev-blobs", outputs: true,
			edits: []edit{{path: "restrictPublicBuckets", value: boolean(false)}}, subjectTyp: tBucket, subjectMatch: "gopherops-dev-blobs"},
		{name: "bucket policy allows plain HTTP", policy: "s3-tls-only", stack: "prod", typ: tBucketPol, match: "gopherops-prod-blobs", outputs: true,
			edits:      []edit{{path: "policy", value: str(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"*"}]}`)}},
			subjectTyp: tBucket, subjectMatch: "gopherops-prod-blobs"},
		{name: "bucket without default encryption", policy: "s3-encryption", stack: "dev", typ: tSSE, match: "gopherops-dev-flow-logs", outputs: true,
			edits: []edit{{path: "rules", value: property.New([]property.Value{})}}, subjectTyp: tBucket, subjectMatch: "gopherops-dev-flow-logs"},
		{name: "bucket versioning suspended", policy: "s3-versioning", stack: "prod", typ: tVersioning, match: "gopherops-prod-blobs", outputs: true,
			edits: []edit{{path: "versioningConfiguration.status", value: str("Suspended")}}, subjectTyp: tBucket, subjectMatch: "gopherops-prod-blobs"},
		{name: "access log bucket without versioning", policy: "s3-versioning", stack: "prod", typ: tVersioning, match: "gopherops-prod-blobs-access-logs", outputs: true,
			edits: []edit{{path: "bucket", value: str("another-bucket")}}, subjectTyp: tBucket, subjectMatch: "gopherops-prod-blobs-access-logs"},
		{name: "cluster secrets unencrypted", policy: "eks-secrets-encryption", stack: "dev", typ: tEKS, match: ".*",
			edits: []edit{{path: "encryptionConfig", remove: true}}},
		{name: "cluster audit log off", policy: "eks-control-plane-logs", stack: "dev", typ: tEKS, match: ".*",
			edits: []edit{{path: "enabledClusterLogTypes", value: strs("api", "authenticator")}}},
		{name: "prod cluster API public", policy: "eks-private-endpoint", stack: "prod", typ: tEKS, match: ".*",
			edits: []edit{{path: "vpcConfig.endpointPublicAccess", value: boolean(true)}}},
		{name: "nodes open to the internet", policy: "sg-no-public-ingress", stack: "dev", typ: tSG, match: ".*nodes",
			edits: []edit{{path: "ingress[0]", value: property.New(map[string]property.Value{
				"protocol": str("tcp"), "fromPort": num(22), "toPort": num(22), "cidrBlocks": strs("0.0.0.0/0")})}}},
		{name: "IPv6 world on every port", policy: "sg-no-public-ingress", stack: "prod", typ: tSG, match: ".*nodes",
			edits: []edit{{path: "ingress[0]", value: property.New(map[string]property.Value{
				"protocol": str("-1"), "fromPort": num(0), "toPort": num(0), "ipv6CidrBlocks": strs("::/0")})}}},
		{name: "IMDSv1 allowed", policy: "launch-template-imdsv2", stack: "dev", typ: tLaunchTpl, match: ".*",
			edits: []edit{{path: "metadataOptions.httpTokens", value: str("optional")}}},
		{name: "IMDS reaches pods", policy: "launch-template-imdsv2", stack: "prod", typ: tLaunchTpl, match: ".*",
			edits: []edit{{path: "metadataOptions.httpPutResponseHopLimit", value: num(2)}}},
		{name: "VPC tagged for another stack", policy: "aws-required-tags", stack: "dev", typ: tVpc, match: ".*",
			edits: []edit{{path: "tags.Stack", value: str("prod")}}},
		{name: "KMS key without rotation", policy: "kms-key-rotation", stack: "prod", typ: tKMS, match: ".*",
			edits: []edit{{path: "enableKeyRotation", value: boolean(false)}}},

		{name: "a second NAT gateway in dev", policy: "cost-nat-gateway-per-az", stack: "dev", typ: tNat, match: ".*", outputs: true,
			edits: nil},
		{name: "dev database on a 2xlarge", policy: "cost-instance-size", stack: "dev", typ: tRDS, match: ".*",
			edits: []edit{{path: "instanceClass", value: str("db.r6g.2xlarge")}}},
		{name: "dev nodes on 4xlarge", policy: "cost-instance-size", stack: "dev", typ: tNodeGroup, match: ".*",
			edits: []edit{{path: "instanceTypes", value: strs("m6i.4xlarge")}}},
	}
}

// apply applies m to d: the edits, or for the NAT gateway case a copy of
// the gateway in a second zone.
func (m mutation) apply(t *testing.T, d *declared) *rules.Resource {
	t.Helper()
	rs := d.inputs
	if m.outputs {
		rs = d.outputs
	}
	r := find(t, rs, m.typ, m.match)
	if m.policy == "cost-nat-gateway-per-az" {
		twin := *r
		twin.URN, twin.Name = r.URN+"-b", r.Name+"-b"
		d.outputs = append(d.outputs, &twin)
		return &twin
	}
	for _, e := range m.edits {
		r.Props = set(r.Props, e.path, e.value, e.remove)
	}
	return r
}

// TestMutationsFailNamingThePolicy: each mutation of what the program
// declares breaks its policy, which reports the mutated resource's URN, and
// no other policy but those the change rightly breaks reports anything.
func TestMutationsFailNamingThePolicy(t *testing.T) {
	for _, m := range mutations() {
		t.Run(m.policy+"/"+m.name, func(t *testing.T) {
			d := declare(t, m.stack)
			r := m.apply(t, d)
			if m.subjectTyp != "" {
				r = find(t, d.outputs, m.subjectTyp, m.subjectMatch)
			}
			found := byPolicy(run(t, d))
			hits := found[m.policy]
			if len(hits) == 0 {
				t.Fatalf("%s did not report the mutation of %s", m.policy, r.URN)
			}
			for _, f := range hits {
				if f.URN != r.URN || !strings.HasPrefix(f.Message, r.URN+": ") {
					t.Errorf("%s reported %s (%q), want the mutated %s", m.policy, f.URN, f.Message, r.URN)
				}
			}
			var others []string
			for name := range found {
				if name != m.policy && !slices.Contains(m.also, name) {
					others = append(others, name+": "+found[name][0].Message)
				}
			}
			sort.Strings(others)
			if len(others) > 0 {
				t.Errorf("other policies reported too:\n%s", strings.Join(others, "\n"))
			}
		})
	}
}

// TestEveryPolicyHasAMutation: each policy that judges resources is broken
// by at least one mutation above, so none can pass everything unnoticed.
func TestEveryPolicyHasAMutation(t *testing.T) {
	covered := map[string]bool{}
	for _, m := range mutations() {
		covered[m.policy] = true
	}
	for _, p := range rules.Catalog() {
		switch p.Name {
		case rules.WaiverValid, rules.Report, rules.StackReport: // tested in waiver_test.go and unknown_test.go
			continue
		}
		if !covered[p.Name] {
			t.Errorf("no mutation breaks %s", p.Name)
		}
	}
}
