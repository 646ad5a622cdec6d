package platform_test

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/gopherops/gopherops/infra/app"
	"github.com/gopherops/gopherops/infra/internal/mocks"
	"github.com/gopherops/gopherops/infra/platform"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
)

// snapshotIdentifier is what RDS accepts as a DB snapshot identifier: a
// letter, then letters, digits and single hyphens, no hyphen at the end.
var snapshotIdentifier = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9]*(-[A-Za-z0-9]+)*$`)

// Resource type tokens as the engine sees them.
const (
	tVpc        = "aws:ec2/vpc:Vpc"
	tSubnet     = "aws:ec2/subnet:Subnet"
	tNat        = "aws:ec2/natGateway:NatGateway"
	tRouteTable = "aws:ec2/routeTable:RouteTable"
	tSG         = "aws:ec2/securityGroup:SecurityGroup"
	tLaunchTmpl = "aws:ec2/launchTemplate:LaunchTemplate"
	tRDS        = "aws:rds/instance:Instance"
	tSubnetGrp  = "aws:rds/subnetGroup:SubnetGroup"
	tParamGrp   = "aws:rds/parameterGroup:ParameterGroup"
	tEKS        = "aws:eks/cluster:Cluster"
	tNodeGroup  = "aws:eks/nodeGroup:NodeGroup"
	tAddon      = "aws:eks/addon:Addon"
	tKMS        = "aws:kms/key:Key"
	tOIDC       = "aws:iam/openIdConnectProvider:OpenIdConnectProvider"
	tRole       = "aws:iam/role:Role"
	tRolePolicy = "aws:iam/rolePolicy:RolePolicy"
	tBucket     = "aws:s3/bucketV2:BucketV2"
	tPAB        = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
	tOwnership  = "aws:s3/bucketOwnershipControls:BucketOwnershipControls"
	tPolicy     = "aws:s3/bucketPolicy:BucketPolicy"
	tVersioning = "aws:s3/bucketVersioningV2:BucketVersioningV2"
	tSSE        = "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2"
	tLifecycle  = "aws:s3/bucketLifecycleConfigurationV2:BucketLifecycleConfigurationV2"
	tK8sProv    = "pulumi:providers:kubernetes"
	tNamespace  = "kubernetes:core/v1:Namespace"
	tSA         = "kubernetes:core/v1:ServiceAccount"
	tSecret     = "kubernetes:core/v1:Secret"
	tService    = "kubernetes:core/v1:Service"
	tJob        = "kubernetes:batch/v1:Job"
	tDeployment = "kubernetes:apps/v1:Deployment"
	tHPA        = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler"
	tPDB        = "kubernetes:policy/v1:PodDisruptionBudget"
	tNetPol     = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
	tRelease    = "kubernetes:helm.sh/v3:Release"
	tSvcMonitor = "kubernetes:monitoring.coreos.com/v1:ServiceMonitor"
	tPromRule   = "kubernetes:monitoring.coreos.com/v1:PrometheusRule"
)

// TestStacks runs the program for each committed stack file and checks every
// security and availability property on the inputs the engine received.
func TestStacks(t *testing.T) {
	for _, stack := range []string{"dev", "prod"} {
		t.Run(stack, func(t *testing.T) {
			r := deployStack(t, stack, nil)
			checks := []struct {
				name  string
				check func(*testing.T, *run)
			}{
				{"outputs", checkOutputs},
				{"network", checkNetwork},
				{"database", checkDatabase},
				{"cluster", checkCluster},
				{"storage", checkStorage},
				{"identity", checkIdentity},
				{"kubernetes provider", checkProvider},
				{"namespace and service account", checkNamespace},
				{"deployment", checkDeployment},
				{"migration job", checkJob},
				{"job before deployment", checkJobOrdering},
				{"service", checkService},
				{"autoscaling and disruption budget", checkScaling},
				{"network policy", checkNetworkPolicy},
				{"monitoring", checkMonitoring},
			}
			for _, c := range checks {
				t.Run(c.name, func(t *testing.T) { c.check(t, r) })
			}
		})
	}
}

func checkOutputs(t *testing.T, r *run) {
	want := []string{"appUrl", "clusterName", "kubeconfig", "dbEndpoint", "dbSecretArn", "bucketName", "namespace", "image", "dbInstanceIdentifier"}
	if r.cfg.Runner.Enabled {
		want = append(want, "ciRunnerLabel")
	}
	for _, name := range want {
		if r.outputs[name] == "" {
			t.Errorf("stack output %s is empty or missing", name)
		}
	}
	if len(r.outputs) != len(want) {
		t.Errorf("outputs = %v, want exactly %v", keys(r.outputs), want)
	}
	if !r.secret["kubeconfig"] {
		t.Error("kubeconfig output is not a secret")
	}
	for _, name := range want {
		if name != "kubeconfig" && r.secret[name] {
			t.Errorf("output %s is unexpectedly secret", name)
		}
	}
	kc := r.outputs["kubeconfig"]
	for _, part := range []string{"command: aws", "get-token", "--cluster-name", "gopherops-" + r.stack, "--region", "us-east-1"} {
		if !strings.Contains(kc, part) {
			t.Errorf("kubeconfig lacks %q:\n%s", part, kc)
		}
	}
	// appUrl is derived from the status of the app's LoadBalancer Service,
	// whatever address the load balancer got.
	if host := serviceHost(t, r, "gopherops-"+r.stack); host == "" || r.outputs["appUrl"] != "http://"+host {
		t.Errorf("appUrl = %q, want http:// and the Service's load balancer address %q", r.outputs["appUrl"], host)
	}
	// dbSecretArn is the secret RDS made for the master password it manages.
	if v, _ := r.one(t, tRDS).Get("manageMasterUserPassword"); v != true || r.outputs["dbSecretArn"] != rdsSecretArn(t, r) {
		t.Errorf("dbSecretArn = %q, want the RDS instance's managed master secret", r.outputs["dbSecretArn"])
	}
	if got := r.outputs["namespace"]; got != r.cfg.App.Namespace {
		t.Errorf("namespace = %q, want %q", got, r.cfg.App.Namespace)
	}
}

// rdsSecretArn is the secret the RDS instance reports for the master
// password it manages: what the program must pass on, whatever its value.
func rdsSecretArn(t *testing.T, r *run) string {
	t.Helper()
	v, _ := mocks.Walk(mocks.Plain(resource.NewObjectProperty(r.one(t, tRDS).Outputs)), "masterUserSecrets[0].secretArn")
	s, _ := v.(string)
	if s == "" {
		t.Fatal("the RDS instance reports no managed master secret")
	}
	return s
}

// serviceHost is the address the app's Service status reports.
func serviceHost(t *testing.T, r *run, logical string) string {
	t.Helper()
	svc := r.mon.Get(tService, logical)
	if svc == nil {
		t.Fatalf("no Service %s", logical)
	}
	v, _ := mocks.Walk(mocks.Plain(resource.NewObjectProperty(svc.Outputs)), "status.loadBalancer.ingress[0].hostname")
	s, _ := v.(string)
	return s
}

func keys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return sorted(out)
}

func checkNetwork(t *testing.T, r *run) {
	azs := r.cfg.Network.AvailabilityZoneCount
	vpc := r.one(t, tVpc)
	if vpc.Str("cidrBlock") != r.cfg.Network.VpcCidr {
		t.Errorf("vpc cidr = %q, want %q", vpc.Str("cidrBlock"), r.cfg.Network.VpcCidr)
	}
	clusterTag := "kubernetes.io/cluster/" + r.cfg.Cluster.Name
	zones := map[string]bool{}
	var public, private int
	for _, s := range r.mon.ByType(tSubnet) {
		tags, _ := s.Get("tags")
		tm, _ := tags.(map[string]any)
		zones[s.Str("availabilityZoneId")] = true
		if tm[clusterTag] != "shared" {
			t.Errorf("%s lacks tag %s=shared", s, clusterTag)
		}
		switch {
		case strings.Contains(s.Name, "-public-"):
			public++
			if tm["kubernetes.io/role/elb"] != "1" {
				t.Errorf("%s lacks kubernetes.io/role/elb=1", s)
			}
			if v, _ := s.Get("mapPublicIpOnLaunch"); v == true {
				t.Errorf("%s assigns public IPs on launch", s)
			}
		case strings.Contains(s.Name, "-private-"):
			private++
			if tm["kubernetes.io/role/internal-elb"] != "1" {
				t.Errorf("%s lacks kubernetes.io/role/internal-elb=1", s)
			}
		}
	}
	if public != azs || private != azs || len(zones) != azs {
		t.Errorf("subnets: %d public, %d private over %d AZs; want %d of each over %d AZs", public, private, len(zones), azs, azs)
	}
	wantNAT := 1
	if r.stack == "prod" {
		wantNAT = azs
	}
	if n := len(r.mon.ByType(tNat)); n != wantNAT {
		t.Errorf("%d NAT gateways, want %d", n, wantNAT)
	}
	if n := len(r.mon.ByType("aws:ec2/internetGateway:InternetGateway")); n != 1 {
		t.Errorf("%d internet gateways, want 1", n)
	}
	// Every private route table sends the internet through a NAT gateway.
	natIDs := r.ids(tNat, "")
	for _, rt := range r.mon.ByType(tRouteTable) {
		if !strings.Contains(rt.Name, "-private-") {
			continue
		}
		nat := rt.Str("routes[0].natGatewayId")
		if !slices.Contains(natIDs, nat) || rt.Str("routes[0].cidrBlock") != "0.0.0.0/0" {
			t.Errorf("%s default route goes to %q, want one of the NAT gateways %v", rt, nat, natIDs)
		}
		if rt.Str("routes[0].gatewayId") != "" {
			t.Errorf("%s routes to an internet gateway", rt)
		}
	}
}

func checkDatabase(t *testing.T, r *run) {
	db := r.one(t, tRDS)
	in := db.In()
	prod := r.stack == "prod"
	expect := map[string]any{
		"engine":                   "postgres",
		"publiclyAccessible":       false,
		"storageEncrypted":         true,
		"manageMasterUserPassword": true,
		"multiAz":                  prod,
		"deletionProtection":       prod,
		"skipFinalSnapshot":        !prod,
		"backupRetentionPeriod":    float64(map[bool]int{true: 30, false: 7}[prod]),
	}
	for k, want := range expect {
		if in[k] != want {
			t.Errorf("rds %s = %v, want %v", k, in[k], want)
		}
	}
	if v := db.Str("engineVersion"); !strings.HasPrefix(v, "17") {
		t.Errorf("rds engineVersion = %q, want PostgreSQL 17 as in compose", v)
	}
	if _, ok := in["password"]; ok {
		t.Error("rds has a password input; AWS must manage it in Secrets Manager")
	}
	if prod {
		// The snapshot is named after the VPC, whose ID AWS never reuses: a
		// second decommission of a re-created stack must not fail on the
		// name of the first one's snapshot (gopherops-prod-final, as it was).
		snap := db.Str("finalSnapshotIdentifier")
		want := "gopherops-" + r.stack + "-final-" + strings.TrimPrefix(r.one(t, tVpc).ID, "vpc-")
		if snap != want {
			t.Errorf("final snapshot identifier = %q, want %q (unique per VPC, so per life of the stack)", snap, want)
		}
		if !snapshotIdentifier.MatchString(snap) || len(snap) > 255 {
			t.Errorf("final snapshot identifier %q is not one RDS accepts", snap)
		}
	}
	logs := strs(in["enabledCloudwatchLogsExports"])
	if !slices.Contains(logs, "postgresql") {
		t.Errorf("rds log exports = %v, want postgresql", logs)
	}

	// Private subnets only.
	sg := r.mon.Get(tSubnetGrp, "gopherops-"+r.stack)
	if sg == nil {
		t.Fatal("no db subnet group")
	}
	if got, want := sorted(strs(sg.In()["subnetIds"])), r.ids(tSubnet, "-private-"); !slices.Equal(got, want) {
		t.Errorf("db subnet group subnets = %v, want the private subnets %v", got, want)
	}
	if db.Str("dbSubnetGroupName") != sg.Outputs["name"].StringValue() {
		t.Errorf("rds uses subnet group %q, not the private one", db.Str("dbSubnetGroupName"))
	}

	// TLS enforced by the parameter group the instance uses.
	pg := r.one(t, tParamGrp)
	if db.Str("parameterGroupName") != pg.Outputs["name"].StringValue() {
		t.Errorf("rds uses parameter group %q, not the managed one", db.Str("parameterGroupName"))
	}
	forceSSL := ""
	params, _ := pg.Get("parameters")
	for _, p := range params.([]any) {
		m := p.(map[string]any)
		if m["name"] == "rds.force_ssl" {
			forceSSL, _ = m["value"].(string)
		}
	}
	if forceSSL != "1" {
		t.Errorf("rds.force_ssl = %q, want 1", forceSSL)
	}
	if pg.Str("family") != "postgres17" {
		t.Errorf("parameter group family = %q, want postgres17", pg.Str("family"))
	}

	// The security group admits 5432 from the node security group only.
	dbSG := r.mon.Get(tSG, "gopherops-"+r.stack)
	nodeSG := r.mon.Get(tSG, "gopherops-"+r.stack+"-nodes")
	if dbSG == nil || nodeSG == nil {
		t.Fatal("database or node security group missing")
	}
	if got := strs(db.In()["vpcSecurityGroupIds"]); !slices.Equal(got, []string{dbSG.ID}) {
		t.Errorf("rds security groups = %v, want only %s", got, dbSG.ID)
	}
	ingress, _ := dbSG.Get("ingress")
	rules, _ := ingress.([]any)
	if len(rules) != 1 {
		t.Fatalf("db security group has %d ingress rules, want 1", len(rules))
	}
	rule := rules[0].(map[string]any)
	if rule["fromPort"] != 5432.0 || rule["toPort"] != 5432.0 || rule["protocol"] != "tcp" {
		t.Errorf("db ingress = %v, want tcp 5432 only", rule)
	}
	if got := strs(rule["securityGroups"]); !slices.Equal(got, []string{nodeSG.ID}) {
		t.Errorf("db ingress sources = %v, want the node security group %s", got, nodeSG.ID)
	}
	for _, k := range []string{"cidrBlocks", "ipv6CidrBlocks", "prefixListIds"} {
		if v := strs(rule[k]); len(v) > 0 {
			t.Errorf("db ingress also admits %s %v", k, v)
		}
	}
	if e, _ := dbSG.Get("egress"); len(asAny(e)) != 0 {
		t.Errorf("db security group has egress rules %v", e)
	}
	// The nodes really carry that group.
	lt := r.one(t, tLaunchTmpl)
	if sgs := strs(lt.In()["vpcSecurityGroupIds"]); !slices.Contains(sgs, nodeSG.ID) {
		t.Errorf("nodes carry %v, not the node security group %s", sgs, nodeSG.ID)
	}
}

func asAny(v any) []any { a, _ := v.([]any); return a }

func checkCluster(t *testing.T, r *run) {
	c := r.one(t, tEKS)
	if got := sorted(strs(c.In()["enabledClusterLogTypes"])); !slices.Equal(got, sorted([]string{"api", "audit", "authenticator", "controllerManager", "scheduler"})) {
		t.Errorf("control-plane logs = %v, want all five", got)
	}
	key := r.one(t, tKMS)
	if v, _ := key.Get("enableKeyRotation"); v != true {
		t.Error("secrets KMS key has no rotation")
	}
	if got := c.Str("encryptionConfig.provider.keyArn"); got != key.Outputs["arn"].StringValue() {
		t.Errorf("secrets encrypted with %q, want the cluster KMS key", got)
	}
	if got := strs(mustGet(t, c, "encryptionConfig.resources")); !slices.Equal(got, []string{"secrets"}) {
		t.Errorf("encrypted resources = %v, want [secrets]", got)
	}
	raw, _ := c.Get("vpcConfig.publicAccessCidrs")
	cidrs := strs(raw)
	if !slices.Equal(cidrs, r.cfg.Cluster.EndpointPublicCidrs) && (len(cidrs) != 0 || len(r.cfg.Cluster.EndpointPublicCidrs) != 0) {
		t.Errorf("endpoint CIDRs = %v, want the configured %v", cidrs, r.cfg.Cluster.EndpointPublicCidrs)
	}
	// Neither committed stack exposes its API (AWS FSBP EKS.1): both deploy
	// from their in-VPC runner.
	if public, _ := c.Get("vpcConfig.endpointPublicAccess"); public != false || len(cidrs) != 0 {
		t.Errorf("%s API endpoint public (%v) to %v", r.stack, public, cidrs)
	}
	if v, _ := c.Get("vpcConfig.endpointPrivateAccess"); v != true {
		t.Error("private endpoint access is off")
	}
	private := r.ids(tSubnet, "-private-")
	if got := sorted(strs(mustGet(t, c, "vpcConfig.subnetIds"))); !slices.Equal(got, private) {
		t.Errorf("control plane subnets = %v, want private %v", got, private)
	}
	if c.Str("version") != r.cfg.Cluster.KubernetesVersion {
		t.Errorf("cluster version = %q", c.Str("version"))
	}

	ng := r.one(t, tNodeGroup)
	if got := sorted(strs(ng.In()["subnetIds"])); !slices.Equal(got, private) {
		t.Errorf("node group subnets = %v, want private %v", got, private)
	}
	if got := ng.Str("launchTemplate.id"); got != r.one(t, tLaunchTmpl).ID {
		t.Errorf("node group launch template = %q", got)
	}
	lt := r.one(t, tLaunchTmpl)
	if lt.Str("metadataOptions.httpTokens") != "required" {
		t.Error("nodes allow IMDSv1")
	}
	if v, _ := lt.Get("metadataOptions.httpPutResponseHopLimit"); v != 1.0 {
		t.Errorf("IMDS hop limit = %v, want 1 (pods must use IRSA)", v)
	}
	if lt.Str("blockDeviceMappings[0].ebs.encrypted") != "true" {
		t.Error("node root volume is not encrypted")
	}
	if sgs := strs(lt.In()["vpcSecurityGroupIds"]); !slices.Contains(sgs, mocks.ClusterSGID) {
		t.Errorf("nodes lack the cluster security group: %v", sgs)
	}

	oidc := r.one(t, tOIDC)
	if got := strs(oidc.In()["clientIdLists"]); !slices.Equal(got, []string{"sts.amazonaws.com"}) {
		t.Errorf("oidc client ids = %v", got)
	}
	if oidc.Str("url") != "https://"+mocks.OIDCIssuer {
		t.Errorf("oidc url = %q, want the cluster issuer", oidc.Str("url"))
	}
	cni := r.mon.Get(tAddon, "gopherops-"+r.stack+"-vpc-cni")
	if cni == nil || cni.Str("addonName") != "vpc-cni" || !strings.Contains(cni.Str("configurationValues"), `"enableNetworkPolicy":"true"`) {
		t.Errorf("vpc-cni addon does not enforce NetworkPolicy: %v", cni)
	}
}

func mustGet(t *testing.T, reg *mocks.Registration, path string) any {
	t.Helper()
	v, ok := reg.Get(path)
	if !ok {
		t.Fatalf("%s has no %s", reg, path)
	}
	return v
}

func checkStorage(t *testing.T, r *run) {
	name := "gopherops-" + r.stack + "-blobs"
	bucket := r.mon.Get(tBucket, name)
	if bucket == nil {
		t.Fatal("no avatar bucket")
	}
	for _, typ := range []string{tPAB, tOwnership, tPolicy, tVersioning, tSSE, tLifecycle} {
		if got := r.mon.Get(typ, name).Str("bucket"); got != bucket.ID {
			t.Errorf("%s applies to %q, not the bucket %q", typ, got, bucket.ID)
		}
	}
	pab := r.mon.Get(tPAB, name).In()
	for _, k := range []string{"blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"} {
		if pab[k] != true {
			t.Errorf("public access block %s = %v, want true", k, pab[k])
		}
	}
	if got := r.mon.Get(tOwnership, name).Str("rule.objectOwnership"); got != "BucketOwnerEnforced" {
		t.Errorf("object ownership = %q", got)
	}
	if got := r.mon.Get(tVersioning, name).Str("versioningConfiguration.status"); got != "Enabled" {
		t.Errorf("versioning = %q", got)
	}
	if got := r.mon.Get(tSSE, name).Str("rules[0].applyServerSideEncryptionByDefault.sseAlgorithm"); got != "aws:kms" && got != "AES256" {
		t.Errorf("default encryption = %q", got)
	}
	lc := r.mon.Get(tLifecycle, name)
	if v, _ := lc.Get("rules[0].noncurrentVersionExpiration.noncurrentDays"); v != float64(r.cfg.Storage.NoncurrentVersionDays) || lc.Str("rules[0].status") != "Enabled" {
		t.Errorf("lifecycle rule = %v", lc.In()["rules"])
	}

	// TLS-only policy: a Deny on aws:SecureTransport=false for the bucket and its objects.
	arn := bucket.Outputs["arn"].StringValue()
	found := false
	for _, st := range statements(policyDoc(t, r.mon.Get(tPolicy, name), "policy")) {
		cond, _ := mocks.Walk(st, "Condition.Bool")
		cm, _ := cond.(map[string]any)
		if st["Effect"] == "Deny" && st["Principal"] == "*" && cm["aws:SecureTransport"] == "false" &&
			slices.Contains(asList(st["Action"]), "s3:*") &&
			slices.Equal(sorted(asList(st["Resource"])), sorted([]string{arn, arn + "/*"})) {
			found = true
		}
	}
	if !found {
		t.Errorf("bucket policy has no TLS-only deny: %s", r.mon.Get(tPolicy, name).Str("policy"))
	}
	if !r.mon.Get(tPolicy, name).DependsOn(tPAB, name) {
		t.Error("bucket policy is not applied after the public access block")
	}
	if v, _ := bucket.Get("forceDestroy"); v != (r.stack == "dev") {
		t.Errorf("forceDestroy = %v on %s", v, r.stack)
	}
}

func checkIdentity(t *testing.T, r *run) {
	role := r.mon.Get(tRole, "gopherops-"+r.stack+"-app")
	if role == nil {
		t.Fatal("no IRSA role")
	}
	sts := statements(policyDoc(t, role, "assumeRolePolicy"))
	if len(sts) != 1 {
		t.Fatalf("trust policy has %d statements, want 1", len(sts))
	}
	st := sts[0]
	oidcArn := r.one(t, tOIDC).Outputs["arn"].StringValue()
	if fed, _ := mocks.Walk(st, "Principal.Federated"); fed != oidcArn || st["Action"] != "sts:AssumeRoleWithWebIdentity" || st["Effect"] != "Allow" {
		t.Errorf("trust statement = %v, want web identity from %s", st, oidcArn)
	}
	cond, _ := mocks.Walk(st, "Condition.StringEquals")
	want := map[string]any{
		mocks.OIDCIssuer + ":sub": "system:serviceaccount:" + r.cfg.App.Namespace + ":" + platform.ServiceAccountName,
		mocks.OIDCIssuer + ":aud": "sts.amazonaws.com",
	}
	if fmt.Sprint(cond) != fmt.Sprint(want) {
		t.Errorf("trust conditions = %v, want exactly %v", cond, want)
	}
	if c, _ := st["Condition"].(map[string]any); len(c) != 1 {
		t.Errorf("trust has extra condition operators (StringLike wildcards?): %v", c)
	}

	pol := r.mon.Get(tRolePolicy, "gopherops-"+r.stack+"-app")
	if pol == nil || pol.Str("role") != role.Outputs["name"].StringValue() {
		t.Errorf("policy attached to %q, not the IRSA role", pol.Str("role"))
	}
	bucketArn := r.mon.Get(tBucket, "gopherops-"+r.stack+"-blobs").Outputs["arn"].StringValue()
	allowed := map[string][]string{
		"s3:GetObject":                  {bucketArn + "/avatars/*"},
		"s3:PutObject":                  {bucketArn + "/avatars/*"},
		"s3:DeleteObject":               {bucketArn + "/avatars/*"},
		"s3:ListBucket":                 {bucketArn},
		"secretsmanager:GetSecretValue": {rdsSecretArn(t, r)},
		"secretsmanager:DescribeSecret": {rdsSecretArn(t, r)},
	}
	granted := map[string]bool{}
	for _, st := range statements(policyDoc(t, pol, "policy")) {
		if st["Effect"] != "Allow" {
			continue
		}
		for _, action := range asList(st["Action"]) {
			res, ok := allowed[action]
			if !ok || strings.Contains(action, "*") {
				t.Errorf("policy grants %q, which is not needed", action)
				continue
			}
			for _, rsc := range asList(st["Resource"]) {
				if rsc == "*" || !slices.Contains(res, rsc) {
					t.Errorf("policy grants %s on %q, want only %v", action, rsc, res)
				}
			}
			granted[action] = true
		}
		if slices.Contains(asList(st["Action"]), "s3:ListBucket") {
			prefix, _ := mocks.Walk(st, "Condition.StringLike")
			if !strings.Contains(fmt.Sprint(prefix), "avatars/") {
				t.Errorf("ListBucket is not limited to the avatars prefix: %v", st["Condition"])
			}
		}
	}
	for _, need := range []string{"s3:GetObject", "s3:PutObject", "secretsmanager:GetSecretValue"} {
		if !granted[need] {
			t.Errorf("policy lacks %s", need)
		}
	}
}

func checkProvider(t *testing.T, r *run) {
	prov := r.one(t, tK8sProv)
	if !prov.SecretAt("kubeconfig") {
		t.Error("provider kubeconfig input is not a secret")
	}
	if !strings.Contains(prov.Str("kubeconfig"), "get-token") {
		t.Error("provider kubeconfig does not use aws eks get-token")
	}
	if !prov.DependsOn(tNodeGroup, "gopherops-"+r.stack) {
		t.Error("kubernetes provider does not wait for the node group")
	}
	n := 0
	for _, reg := range r.mon.All() {
		if strings.HasPrefix(reg.Type, "kubernetes:") {
			n++
			if !strings.Contains(reg.Provider, tK8sProv+"::gopherops-"+r.stack+"::") {
				t.Errorf("%s uses provider %q, not the explicit EKS provider", reg, reg.Provider)
			}
		}
	}
	if n < 10 {
		t.Errorf("only %d kubernetes resources registered", n)
	}
}

func checkNamespace(t *testing.T, r *run) {
	var ns *mocks.Registration
	for _, reg := range r.mon.ByType(tNamespace) {
		if reg.Str("metadata.name") == r.cfg.App.Namespace {
			ns = reg
		}
	}
	if ns == nil {
		t.Fatalf("no namespace %s", r.cfg.App.Namespace)
	}
	labels, _ := ns.Get("metadata.labels")
	for _, mode := range []string{"enforce", "audit", "warn"} {
		if v := labels.(map[string]any)["pod-security.kubernetes.io/"+mode]; v != "restricted" {
			t.Errorf("namespace pod-security %s = %v, want restricted", mode, v)
		}
	}
	sa := r.one(t, tSA)
	if sa.Str("metadata.name") != platform.ServiceAccountName || sa.Str("metadata.namespace") != r.cfg.App.Namespace {
		t.Errorf("service account %s/%s, want %s/%s", sa.Str("metadata.namespace"), sa.Str("metadata.name"), r.cfg.App.Namespace, platform.ServiceAccountName)
	}
	ann, _ := sa.Get("metadata.annotations")
	role := r.mon.Get(tRole, "gopherops-"+r.stack+"-app")
	if got := ann.(map[string]any)[app.IRSAAnnotation]; got != role.Outputs["arn"].StringValue() {
		t.Errorf("service account IRSA annotation = %v, want %s", got, role.Outputs["arn"].StringValue())
	}
}

// envOf returns a container's env as name → value, or "<secret:key>" /
// "<field:resource>" for references.
func envOf(t *testing.T, reg *mocks.Registration, container string) map[string]string {
	t.Helper()
	env := map[string]string{}
	for _, e := range asAny(mustGet(t, reg, container+".env")) {
		m := e.(map[string]any)
		name, _ := m["name"].(string)
		switch {
		case m["value"] != nil:
			env[name] = fmt.Sprint(m["value"])
		case m["valueFrom"] != nil:
			if k, ok := mocks.Walk(m, "valueFrom.secretKeyRef.key"); ok {
				env[name] = fmt.Sprintf("<secret:%v>", k)
			} else if f, ok := mocks.Walk(m, "valueFrom.resourceFieldRef.resource"); ok {
				env[name] = fmt.Sprintf("<field:%v>", f)
			}
		}
	}
	return env
}

func checkDeployment(t *testing.T, r *run) {
	d := r.one(t, tDeployment)
	const c = "spec.template.spec.containers[0]"
	image := d.Str(c + ".image")
	if want := ecrURL(r.cfg.App.ECRRepository) + "@" + releaseDigest(r.stack); image != want {
		t.Errorf("image = %q, want the ECR mirror at the digest of the stack's release tag, %q", image, want)
	}
	expect := map[string]any{
		"spec.strategy.type":                                          "RollingUpdate",
		"spec.strategy.rollingUpdate.maxUnavailable":                  0.0,
		"spec.template.spec.securityContext.runAsNonRoot":             true,
		"spec.template.spec.securityContext.runAsUser":                65532.0,
		"spec.template.spec.securityContext.seccompProfile.type":      "RuntimeDefault",
		"spec.template.spec.automountServiceAccountToken":             false,
		"spec.template.spec.serviceAccountName":                       platform.ServiceAccountName,
		c + ".securityContext.runAsNonRoot":                           true,
		c + ".securityContext.readOnlyRootFilesystem":                 true,
		c + ".securityContext.allowPrivilegeEscalation":               false,
		c + ".securityContext.seccompProfile.type":                    "RuntimeDefault",
		c + ".securityContext.capabilities.drop[0]":                   "ALL",
		c + ".livenessProbe.httpGet.path":                             "/healthz",
		c + ".livenessProbe.httpGet.port":                             "http",
		c + ".readinessProbe.httpGet.path":                            "/readyz",
		c + ".readinessProbe.httpGet.port":                            "http",
		c + ".ports[0].name":                                          "http",
		c + ".ports[0].containerPort":                                 8080.0,
		c + ".ports[1].containerPort":                                 9090.0,
		c + ".resources.limits.cpu":                                   r.cfg.App.CPULimit,
		c + ".resources.limits.memory":                                r.cfg.App.MemoryLimit,
		c + ".resources.requests.cpu":                                 r.cfg.App.CPURequest,
		c + ".resources.requests.memory":                              r.cfg.App.MemoryRequest,
		c + ".volumeMounts[0].mountPath":                              "/tmp",
		"spec.template.spec.volumes[0].name":                          "tmp",
		"spec.template.spec.topologySpreadConstraints[0].topologyKey": "topology.kubernetes.io/zone",
	}
	for path, want := range expect {
		if got, _ := d.Get(path); got != want {
			t.Errorf("deployment %s = %v, want %v", path, got, want)
		}
	}
	if _, ok := d.Get("spec.template.spec.volumes[0].emptyDir"); !ok {
		t.Error("/tmp is not an emptyDir")
	}
	if caps, _ := d.Get(c + ".securityContext.capabilities.add"); len(asAny(caps)) > 0 {
		t.Errorf("capabilities added: %v", caps)
	}
	grace, _ := d.Get("spec.template.spec.terminationGracePeriodSeconds")
	if g, _ := grace.(float64); g <= platform.ShutdownTimeout.Seconds() {
		t.Errorf("terminationGracePeriodSeconds = %v, want more than the %v shutdown timeout", grace, platform.ShutdownTimeout)
	}

	env := envOf(t, d, c)
	bucket := r.outputs["bucketName"]
	wantEnv := map[string]string{
		"APP_ENV":             "production",
		"HTTP_ADDR":           ":8080",
		"ADMIN_ADDR":          ":9090",
		"LOG_FORMAT":          "json",
		"SHUTDOWN_TIMEOUT":    "20s",
		"MIGRATE_ON_START":    "false",
		"TRUSTED_PROXIES":     "",
		"BLOB_STORE":          "s3://" + bucket + "/avatars",
		"AWS_REGION":          "us-east-1",
		"DATABASE_SECRET_ARN": rdsSecretArn(t, r),
		"DATABASE_URL":        "<secret:DATABASE_URL>",
		"SESSION_KEY":         "<secret:SESSION_KEY>",
		"GOMAXPROCS":          "<field:limits.cpu>",
		"GOMEMLIMIT":          map[string]string{"256Mi": "230MiB", "512Mi": "460MiB"}[r.cfg.App.MemoryLimit],
	}
	for k, want := range wantEnv {
		if env[k] != want {
			t.Errorf("env %s = %q, want %q", k, env[k], want)
		}
	}

	// The Secret the env refers to holds the credential-free URL and the key, as secrets.
	secretName := ""
	for _, e := range asAny(mustGet(t, d, c+".env")) {
		if m := e.(map[string]any); m["name"] == "DATABASE_URL" {
			n, _ := mocks.Walk(m, "valueFrom.secretKeyRef.name")
			secretName, _ = n.(string)
		}
	}
	var envSecret *mocks.Registration
	for _, s := range r.mon.ByType(tSecret) {
		if s.Outputs["metadata"].ObjectValue()["name"].StringValue() == secretName {
			envSecret = s
		}
	}
	if envSecret == nil {
		t.Fatalf("deployment refers to secret %q which was not created", secretName)
	}
	wantURL := "postgres://" + r.outputs["dbEndpoint"] + ":5432/gopherops?sslmode=require"
	if got := envSecret.Str("stringData.DATABASE_URL"); got != wantURL {
		t.Errorf("DATABASE_URL = %q, want %q", got, wantURL)
	}
	if got := envSecret.Str("stringData.SESSION_KEY"); got != testSessionKey {
		t.Error("SESSION_KEY is not the configured secret")
	}
	if !envSecret.SecretAt("stringData.SESSION_KEY") {
		t.Error("SESSION_KEY reached the engine in plain text")
	}
}

func checkJob(t *testing.T, r *run) {
	job := r.one(t, tJob)
	d := r.one(t, tDeployment)
	if got, want := job.Str("metadata.name"), app.JobName(platform.ServiceAccountName, r.p.Image); got != want {
		t.Errorf("job name = %q, want %q (per image)", got, want)
	}
	const c = "spec.template.spec.containers[0]"
	if got := strs(mustGet(t, job, c+".args")); !slices.Equal(got, []string{"migrate", "up"}) {
		t.Errorf("job args = %v", got)
	}
	if job.Str(c+".image") != d.Str(c+".image") {
		t.Errorf("job image %q differs from deployment image %q", job.Str(c+".image"), d.Str(c+".image"))
	}
	for _, k := range []string{"spec.backoffLimit", "spec.ttlSecondsAfterFinished", "spec.activeDeadlineSeconds"} {
		if v, _ := job.Get(k); v == nil {
			t.Errorf("job has no %s", k)
		}
	}
	for _, path := range []string{c + ".securityContext", "spec.template.spec.securityContext", c + ".resources", c + ".volumeMounts", "spec.template.spec.volumes", "spec.template.spec.serviceAccountName"} {
		jv, _ := job.Get(path)
		dv, _ := d.Get(path)
		if jv == nil || fmt.Sprint(jv) != fmt.Sprint(dv) {
			t.Errorf("job %s = %v, want the deployment's %v", path, jv, dv)
		}
	}
	if fmt.Sprint(envOf(t, job, c)) != fmt.Sprint(envOf(t, d, c)) {
		t.Error("job env differs from the deployment's")
	}
}

// checkJobOrdering fails when the Deployment does not depend on the Job: the
// dependency must be declared to the engine, and the Deployment must not be
// registered before the Job's registration (held open by the mock) returned.
func checkJobOrdering(t *testing.T, r *run) {
	job := r.one(t, tJob)
	d := r.one(t, tDeployment)
	if !d.DependsOn(tJob, "gopherops-"+r.stack+"-migrate") {
		t.Errorf("deployment dependencies %v do not include the migration job", d.Dependencies)
	}
	if d.Seq < job.Done {
		t.Errorf("deployment registered (call %d) before the migration job finished (call %d)", d.Seq, job.Done)
	}
}

func checkService(t *testing.T, r *run) {
	var svc *mocks.Registration
	for _, s := range r.mon.ByType(tService) {
		if s.Str("spec.type") == "LoadBalancer" {
			if svc != nil {
				t.Fatal("more than one LoadBalancer service")
			}
			svc = s
		}
	}
	if svc == nil {
		t.Fatal("no LoadBalancer service")
	}
	ann, _ := svc.Get("metadata.annotations")
	am, _ := ann.(map[string]any)
	if am["service.beta.kubernetes.io/aws-load-balancer-type"] != "external" ||
		am["service.beta.kubernetes.io/aws-load-balancer-nlb-target-type"] != "ip" {
		t.Errorf("service annotations = %v, want an AWS Load Balancer Controller NLB with IP targets", ann)
	}
	for _, p := range asAny(mustGet(t, svc, "spec.ports")) {
		m := p.(map[string]any)
		if m["targetPort"] != "http" {
			t.Errorf("load balancer exposes %v, want only the http port", m)
		}
	}
}

func checkScaling(t *testing.T, r *run) {
	hpa := r.one(t, tHPA)
	if v, _ := hpa.Get("spec.minReplicas"); v != float64(r.cfg.App.MinReplicas) {
		t.Errorf("hpa min = %v", v)
	}
	if v, _ := hpa.Get("spec.maxReplicas"); v != float64(r.cfg.App.MaxReplicas) {
		t.Errorf("hpa max = %v", v)
	}
	d := r.one(t, tDeployment)
	if _, ok := d.Get("spec.replicas"); ok {
		t.Error("deployment sets spec.replicas, which the HPA owns")
	}
	if hpa.Str("spec.scaleTargetRef.name") != d.Str("metadata.name") || hpa.Str("spec.scaleTargetRef.kind") != "Deployment" {
		t.Errorf("hpa targets %v", hpa.In()["spec"])
	}
	pdb := r.one(t, tPDB)
	if v, _ := pdb.Get("spec.maxUnavailable"); v != 1.0 {
		t.Errorf("pdb maxUnavailable = %v", v)
	}
	ps, _ := pdb.Get("spec.selector.matchLabels")
	ds, _ := d.Get("spec.selector.matchLabels")
	if fmt.Sprint(ps) != fmt.Sprint(ds) {
		t.Errorf("pdb selects %v, deployment is %v", ps, ds)
	}
}

func checkNetworkPolicy(t *testing.T, r *run) {
	var deny, allow *mocks.Registration
	for _, np := range r.mon.ByType(tNetPol) {
		if sel, _ := np.Get("spec.podSelector"); len(sel.(map[string]any)) == 0 {
			deny = np
		} else {
			allow = np
		}
	}
	if deny == nil || allow == nil {
		t.Fatal("want a default-deny and an allow NetworkPolicy")
	}
	if got := strs(mustGet(t, deny, "spec.policyTypes")); !slices.Equal(sorted(got), []string{"Egress", "Ingress"}) {
		t.Errorf("default deny policy types = %v", got)
	}
	if _, ok := deny.Get("spec.ingress"); ok {
		t.Error("default deny admits ingress")
	}
	// Ingress: 8080 from anywhere, 9090 from the monitoring namespace only.
	for _, rule := range asAny(mustGet(t, allow, "spec.ingress")) {
		m := rule.(map[string]any)
		for _, p := range asAny(m["ports"]) {
			port := p.(map[string]any)["port"]
			switch port {
			case 8080.0:
			case 9090.0:
				ns, _ := mocks.Walk(m, "from[0].namespaceSelector.matchLabels")
				if len(asAny(m["from"])) != 1 || ns.(map[string]any)["kubernetes.io/metadata.name"] != r.cfg.Monitoring.Namespace {
					t.Errorf("metrics port admitted from %v, want only namespace %s", m["from"], r.cfg.Monitoring.Namespace)
				}
			default:
				t.Errorf("ingress admits port %v", port)
			}
		}
		if len(asAny(m["ports"])) == 0 {
			t.Errorf("ingress rule without ports admits everything: %v", m)
		}
	}
	// Egress: DNS, PostgreSQL and HTTPS only.
	allowed := map[string]bool{"UDP/53": true, "TCP/53": true, "TCP/5432": true, "TCP/443": true}
	seen := map[string]bool{}
	for _, rule := range asAny(mustGet(t, allow, "spec.egress")) {
		m := rule.(map[string]any)
		if len(asAny(m["ports"])) == 0 {
			t.Errorf("egress rule without ports allows everything: %v", m)
		}
		for _, p := range asAny(m["ports"]) {
			pm := p.(map[string]any)
			key := fmt.Sprintf("%v/%v", pm["protocol"], pm["port"])
			if !allowed[key] {
				t.Errorf("egress allows %s", key)
			}
			seen[key] = true
			if key == "TCP/5432" {
				if cidr, _ := mocks.Walk(m, "to[0].ipBlock.cidr"); cidr != r.cfg.Network.VpcCidr {
					t.Errorf("PostgreSQL egress goes to %v, want the VPC %s", cidr, r.cfg.Network.VpcCidr)
				}
			}
		}
	}
	if len(seen) != len(allowed) {
		t.Errorf("egress ports = %v, want %v", seen, allowed)
	}
}

func checkMonitoring(t *testing.T, r *run) {
	var releases []*mocks.Registration
	for _, rel := range r.mon.ByType(tRelease) {
		if rel.Str("chart") == "kube-prometheus-stack" {
			releases = append(releases, rel)
		}
	}
	if !r.cfg.Monitoring.Enabled {
		if len(releases) != 0 || len(r.mon.ByType(tSvcMonitor)) != 0 {
			t.Error("monitoring resources created although monitoring is disabled")
		}
		return
	}
	if len(releases) != 1 || releases[0].Str("chart") != "kube-prometheus-stack" {
		t.Fatalf("want one kube-prometheus-stack release, got %v", releases)
	}
	if !releases[0].SecretAt("values.grafana.adminPassword") {
		t.Error("helm values (grafana admin password) are not secret")
	}
	sm := r.one(t, tSvcMonitor)
	if !sm.DependsOn(tRelease, "monitoring") {
		t.Error("ServiceMonitor does not wait for the chart's CRDs")
	}
	if sm.Str("spec.endpoints[0].port") != "metrics" {
		t.Errorf("ServiceMonitor scrapes %v", sm.In()["spec"])
	}
	if sm.Str("spec.jobLabel") != "app.kubernetes.io/name" {
		t.Errorf("ServiceMonitor jobLabel = %q; the shared rules expect job=\"gopherops\"", sm.Str("spec.jobLabel"))
	}

	// Every alert of infra/observability is installed, plus the Kubernetes-level ones.
	obs := sharedObservability(t)
	groups, err := platform.RuleGroups(obs.AlertRules)
	if err != nil {
		t.Fatal(err)
	}
	installed := map[string]bool{}
	rules := r.one(t, tPromRule)
	for _, g := range asAny(mustGet(t, rules, "spec.groups")) {
		for _, rule := range asAny(g.(map[string]any)["rules"]) {
			installed[fmt.Sprint(rule.(map[string]any)["alert"])] = true
		}
	}
	for _, g := range groups {
		for _, rule := range asAny(g.(map[string]any)["rules"]) {
			if name := fmt.Sprint(rule.(map[string]any)["alert"]); !installed[name] {
				t.Errorf("shared alert %s is not installed", name)
			}
		}
	}
	for _, name := range []string{"GopherOpsMigrationFailed", "GopherOpsReplicasUnavailable"} {
		if !installed[name] {
			t.Errorf("alert %s is not installed", name)
		}
	}

	var dash *mocks.Registration
	for _, cm := range r.mon.ByType("kubernetes:core/v1:ConfigMap") {
		if labels, _ := cm.Get("metadata.labels"); labels.(map[string]any)["grafana_dashboard"] == "1" {
			dash = cm
		}
	}
	if dash == nil {
		t.Fatal("no Grafana dashboard ConfigMap")
	}
	if dash.Str("metadata.namespace") != r.cfg.Monitoring.Namespace {
		t.Errorf("dashboard ConfigMap in %q, want Grafana's namespace %q", dash.Str("metadata.namespace"), r.cfg.Monitoring.Namespace)
	}
	data, _ := dash.Get("data")
	if data.(map[string]any)["gopherops.json"] != obs.Dashboards["gopherops.json"] {
		t.Error("dashboard ConfigMap does not hold infra/observability's dashboard")
	}
}
