package config

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// testSessionKey is base64 of 32 bytes, as `openssl rand -base64 32` prints.
const testSessionKey = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="

// operatorCIDR is a public (routable, non-reserved) address.
const operatorCIDR = "34.201.10.7/32"

// connectionArn is a well-formed CodeConnections connection ARN.
const connectionArn = "arn:aws:codeconnections:us-east-1:123456789012:connection/0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d"

func validDev() map[string]string {
	return map[string]string{
		"aws:region":                           "us-east-1",
		"gopherops:clusterEndpointPublicCidrs": `["` + operatorCIDR + `"]`,
		"gopherops:sessionKey":                 testSessionKey,
	}
}

func validProd() map[string]string {
	m := validDev()
	for k, v := range map[string]string{
		"gopherops:environment":           "prod",
		"gopherops:availabilityZoneCount": "3",
		"gopherops:natGatewayPerAz":       "true",
		"gopherops:dbMultiAz":             "true",
		"gopherops:dbDeletionProtection":  "true",
		"gopherops:dbBackupRetentionDays": "30",
		"gopherops:logRetentionDays":      "365",
	} {
		m[k] = v
	}
	return m
}

// validLocal is the smallest valid local stack: no AWS key at all.
func validLocal() map[string]string {
	return map[string]string{
		"gopherops:imageTag":   "1.2.3",
		"gopherops:sessionKey": testSessionKey,
	}
}

func with(base map[string]string, kv ...string) map[string]string {
	m := map[string]string{}
	for k, v := range base {
		m[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "<delete>" {
			delete(m, kv[i])
			continue
		}
		m[kv[i]] = kv[i+1]
	}
	return m
}

// TestLocalDefaults: the local environment runs without any AWS setting and
// with an in-cluster database, ClusterIP service and awaiting rollouts.
func TestLocalDefaults(t *testing.T) {
	cfg, err := Parse(FromMap(validLocal()), "gopherops", "local")
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"environment from stack name", cfg.Environment, EnvLocal},
		{"is local", cfg.IsLocal(), true},
		{"is prod", cfg.IsProd(), false},
		{"service type", cfg.Local.ServiceType, "ClusterIP"},
		{"postgres image", cfg.Local.PostgresImage, PostgresImage},
		{"postgres volume", cfg.Local.PostgresStorageSize, "1Gi"},
		{"blob volume", cfg.Local.BlobStorageSize, "1Gi"},
		{"current kube context", cfg.Local.KubeContext, ""},
		{"default storage class", cfg.Local.StorageClass, ""},
		{"awaits rollouts", cfg.App.SkipAwait, false},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestParseAppliesDefaults(t *testing.T) {
	cfg, err := Parse(FromMap(validDev()), "gopherops", "dev")
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"environment from stack name", cfg.Environment, EnvDev},
		{"cluster name", cfg.Cluster.Name, "gopherops-dev"},
		{"vpc cidr", cfg.Network.VpcCidr, "10.0.0.0/16"},
		{"az count", cfg.Network.AvailabilityZoneCount, 2},
		{"db engine", cfg.Database.EngineVersion, "17"},
		{"namespace", cfg.App.Namespace, "gopherops"},
		{"no GHCR repository on AWS", cfg.App.ImageRepository, ""},
		{"ECR mirror", cfg.App.ECRRepository, "gopherops"},
		{"deploy role", cfg.Access.DeployRoleName, "gopherops-deploy"},
		{"preview role", cfg.Access.PreviewRoleName, "gopherops-preview"},
		{"no operators", len(cfg.Access.OperatorArns), 0},
		{"metrics-server pinned", cfg.Cluster.AddonVersions["metrics-server"] != "", true},
		{"dev log retention", cfg.Cluster.LogRetentionDays, 30},
		{"no performance insights in dev", cfg.Database.PerformanceInsights, false},
		{"no access logs in dev", cfg.Storage.AccessLogging, false},
		{"no runner", cfg.Runner.Enabled, false},
		{"dev hosts the pull-request stacks", cfg.Access.PullRequestStacks, true},
		{"cidr list from JSON", fmt.Sprint(cfg.Cluster.EndpointPublicCidrs), "[" + operatorCIDR + "]"},
		{"monitoring off", cfg.Monitoring.Enabled, false},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestImageDigestWinsOverTag(t *testing.T) {
	digest := "sha256:" + strings.Repeat("ab", 32)
	cfg, err := Parse(FromMap(with(validLocal(), "gopherops:imageDigest", digest)), "gopherops", "local")
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if got, want := cfg.App.ImageRef(), "ghcr.io/gopherops/gopherops@"+digest; got != want {
		t.Errorf("ImageRef = %q, want %q", got, want)
	}
	cfg, err = Parse(FromMap(validLocal()), "gopherops", "local")
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if got, want := cfg.App.ImageRef(), "ghcr.io/gopherops/gopherops:1.2.3"; got != want {
		t.Errorf("ImageRef without a digest = %q, want %q", got, want)
	}
}

func TestSecretNeverPrints(t *testing.T) {
	cfg, err := Parse(FromMap(validDev()), "gopherops", "dev")
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	for _, format := range []string{"%v", "%+v", "%#v", "%s"} {
		if out := fmt.Sprintf(format, cfg.App); strings.Contains(out, testSessionKey) {
			t.Errorf("%s of the app config leaks the session key: %s", format, out)
		}
	}
}

func TestValidationNamesTheKey(t *testing.T) {
	cases := []struct {
		name  string
		stack string
		conf  map[string]string
		key   string
		msg   string
	}{
		{"min replicas above max", "dev", with(validDev(), "gopherops:minReplicas", "5", "gopherops:maxReplicas", "3"),
			"gopherops:minReplicas", "must not exceed gopherops:maxReplicas"},
		{"image tag LATEST in capitals", "local", with(validLocal(), "gopherops:imageTag", "LATEST"),
			"gopherops:imageTag", "mutable"},
		{"image tag empty", "local", with(validLocal(), "gopherops:imageTag", ""),
			"gopherops:imageTag", "is empty"},
		{"image tag missing", "local", with(validLocal(), "gopherops:imageTag", "<delete>"),
			"gopherops:imageTag", "is empty"},
		{"image digest malformed", "dev", with(validDev(), "gopherops:imageDigest", "sha256:abc"),
			"gopherops:imageDigest", "sha256:<64 hex digits>"},
		{"image repository with tag", "local", with(validLocal(), "gopherops:imageRepository", "ghcr.io/x/gopherops:1.0"),
			"gopherops:imageRepository", "without tag or digest"},
		{"AWS stack with a GHCR tag", "dev", with(validDev(), "gopherops:imageTag", "1.2.3"),
			"gopherops:imageTag", "local-stack setting"},
		{"AWS stack with a GHCR repository", "prod", with(validProd(), "gopherops:imageRepository", "ghcr.io/x/gopherops"),
			"gopherops:imageRepository", "ECR mirror"},
		{"AWS stack with a GHCR token", "dev", with(validDev(), "gopherops:ghcrToken", "ghp_x"),
			"gopherops:ghcrToken", "IAM role, no token"},
		{"bad ECR repository", "dev", with(validDev(), "gopherops:ecrRepository", "GopherOps"),
			"gopherops:ecrRepository", "not an ECR repository name"},
		{"prod endpoint on the committed documentation range", "prod", with(validProd(), "gopherops:clusterEndpointPublicCidrs", `["203.0.113.0/24"]`),
			"gopherops:clusterEndpointPublicCidrs", "reserved range 203.0.113.0/24"},
		{"dev endpoint on a private range", "dev", with(validDev(), "gopherops:clusterEndpointPublicCidrs", `["10.1.0.0/16"]`),
			"gopherops:clusterEndpointPublicCidrs", "reserved range 10.0.0.0/8"},
		{"endpoint range that contains a reserved one", "dev", with(validDev(), "gopherops:clusterEndpointPublicCidrs", `["192.0.0.0/16"]`),
			"gopherops:clusterEndpointPublicCidrs", "reserved range"},
		{"private endpoint without a runner", "prod", with(validProd(), "gopherops:clusterEndpointPublicCidrs", `[]`),
			"gopherops:clusterEndpointPublicCidrs", "nothing could reach"},
		{"runner without its repository", "prod", with(validProd(), "gopherops:ciRunner", "true", "gopherops:githubConnectionArn", connectionArn),
			"gopherops:githubRepository", "owner/name"},
		{"runner without its connection", "prod", with(validProd(), "gopherops:ciRunner", "true", "gopherops:githubRepository", "gopherops/gopherops"),
			"gopherops:githubConnectionArn", "CodeConnections"},
		{"runner settings while it is off", "dev", with(validDev(), "gopherops:githubRepository", "gopherops/gopherops"),
			"gopherops:ciRunner", "would be ignored"},
		{"operator ARN with an Identity Center path", "dev", with(validDev(), "gopherops:operatorArns",
			`["arn:aws:iam::123456789012:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_Admin_0123"]`),
			"gopherops:operatorArns", "without it"},
		{"operator that is not an IAM principal", "dev", with(validDev(), "gopherops:operatorArns", `["arn:aws:s3:::bucket"]`),
			"gopherops:operatorArns", "not an IAM role or user ARN"},
		{"operator listed twice", "dev", with(validDev(), "gopherops:operatorArns",
			`["arn:aws:iam::123456789012:role/ops","arn:aws:iam::123456789012:role/ops"]`),
			"gopherops:operatorArns", "listed twice"},
		{"preview role same as deploy role", "dev", with(validDev(), "gopherops:previewRoleName", "gopherops-deploy"),
			"gopherops:previewRoleName", "read-only"},
		// Each of the three on its own: any branch's pull request holds the
		// pull-request stacks' role, so it may be none of the others.
		{"pull-request stacks' role same as deploy role", "dev", with(validDev(), "gopherops:prStacksRoleName", "gopherops-deploy"),
			"gopherops:prStacksRoleName", "any branch's pull request"},
		{"pull-request stacks' role same as preview role", "dev", with(validDev(), "gopherops:prStacksRoleName", "gopherops-preview"),
			"gopherops:prStacksRoleName", "any branch's pull request"},
		{"pull-request stacks' role same as drift role", "dev", with(validDev(), "gopherops:prStacksRoleName", "gopherops-drift"),
			"gopherops:prStacksRoleName", "any branch's pull request"},
		{"a Kubernetes minor without pins", "dev", with(validDev(), "gopherops:kubernetesVersion", "1.30"),
			"gopherops:kubernetesVersion", "no add-ons and autoscaler are pinned for Kubernetes 1.30"},
		{"retention CloudWatch refuses", "dev", with(validDev(), "gopherops:logRetentionDays", "10"),
			"gopherops:logRetentionDays", "not a CloudWatch retention period"},
		{"prod logs kept a month", "prod", with(validProd(), "gopherops:logRetentionDays", "30"),
			"gopherops:logRetentionDays", "at least 365 in prod"},
		{"prod without Performance Insights", "prod", with(validProd(), "gopherops:dbPerformanceInsights", "false"),
			"gopherops:dbPerformanceInsights", "must be true in prod"},
		{"prod without bucket access logs", "prod", with(validProd(), "gopherops:bucketAccessLogging", "false"),
			"gopherops:bucketAccessLogging", "must be true in prod"},
		{"vpc cidr malformed", "dev", with(validDev(), "gopherops:vpcCidr", "10.0.0.300/16"),
			"gopherops:vpcCidr", "not a valid IPv4 network CIDR"},
		{"vpc cidr host bits set", "dev", with(validDev(), "gopherops:vpcCidr", "10.0.0.1/16"),
			"gopherops:vpcCidr", "not a valid IPv4 network CIDR"},
		{"vpc cidr too small", "dev", with(validDev(), "gopherops:vpcCidr", "10.0.0.0/26"),
			"gopherops:vpcCidr", "between /16 and /22"},
		{"endpoint cidr malformed", "dev", with(validDev(), "gopherops:clusterEndpointPublicCidrs", `["1.2.3/24"]`),
			"gopherops:clusterEndpointPublicCidrs", "not a valid IPv4 CIDR"},
		{"endpoint cidrs missing", "dev", with(validDev(), "gopherops:clusterEndpointPublicCidrs", "<delete>"),
			"gopherops:clusterEndpointPublicCidrs", "nothing could reach"},
		{"endpoint cidr list not JSON", "dev", with(validDev(), "gopherops:clusterEndpointPublicCidrs", `["x"`),
			"gopherops:clusterEndpointPublicCidrs", "not a list of strings"},
		{"prod without multi-AZ database", "prod", with(validProd(), "gopherops:dbMultiAz", "false"),
			"gopherops:dbMultiAz", "must be true in prod"},
		{"prod without deletion protection", "prod", with(validProd(), "gopherops:dbDeletionProtection", "<delete>"),
			"gopherops:dbDeletionProtection", "must be true in prod"},
		{"prod with force-destroyed bucket", "prod", with(validProd(), "gopherops:bucketForceDestroy", "true"),
			"gopherops:bucketForceDestroy", "gopherops:decommission"},
		{"prod with short backups", "prod", with(validProd(), "gopherops:dbBackupRetentionDays", "7"),
			"gopherops:dbBackupRetentionDays", "at least 30 in prod"},
		{"prod with two AZs", "prod", with(validProd(), "gopherops:availabilityZoneCount", "2"),
			"gopherops:availabilityZoneCount", "must be 3 in prod"},
		{"prod with one NAT", "prod", with(validProd(), "gopherops:natGatewayPerAz", "false"),
			"gopherops:natGatewayPerAz", "must be true in prod"},
		{"prod with open API endpoint", "prod", with(validProd(), "gopherops:clusterEndpointPublicCidrs", `["0.0.0.0/0"]`),
			"gopherops:clusterEndpointPublicCidrs", "whole internet"},
		{"dev with open API endpoint", "dev", with(validDev(), "gopherops:clusterEndpointPublicCidrs", `["0.0.0.0/0"]`),
			"gopherops:clusterEndpointPublicCidrs", "AWS FSBP EKS.1"},
		{"prod with one replica", "prod", with(validProd(), "gopherops:minReplicas", "1"),
			"gopherops:minReplicas", "at least 2 in prod"},
		{"unknown environment", "staging", validDev(),
			"gopherops:environment", `"staging" must be "dev", "prod", "local" or "pr"`},
		{"prod awaiting nothing", "prod", with(validProd(), "gopherops:skipAwait", "true"),
			"gopherops:skipAwait", "must not be set in prod"},
		{"local with an unknown service type", "local", with(validLocal(), "gopherops:serviceType", "Ingress"),
			"gopherops:serviceType", "must be ClusterIP, NodePort or LoadBalancer"},
		{"local with another postgres major", "local", with(validLocal(), "gopherops:postgresImage", "postgres:16"),
			"gopherops:postgresImage", "PostgreSQL 17"},
		{"local with a malformed postgres image", "local", with(validLocal(), "gopherops:postgresImage", "Postgres 17!"),
			"gopherops:postgresImage", "not an image reference"},
		{"local with a tiny database volume", "local", with(validLocal(), "gopherops:postgresStorageSize", "1Mi"),
			"gopherops:postgresStorageSize", "below 64Mi"},
		{"local with a malformed blob volume size", "local", with(validLocal(), "gopherops:blobStorageSize", "big"),
			"gopherops:blobStorageSize", "invalid memory quantity"},
		{"local with an AWS certificate", "local", with(validLocal(), "gopherops:certificateArn", "arn:aws:acm:us-east-1:123456789012:certificate/abc-123", "gopherops:domainName", "gopherops.example.com"),
			"gopherops:certificateArn", "local environment cannot use"},
		{"local metrics-server chart by range", "local", with(validLocal(), "gopherops:metricsServerChartVersion", "3.x"),
			"gopherops:metricsServerChartVersion", "exact chart version"},
		{"local with a bad storage class", "local", with(validLocal(), "gopherops:storageClass", "Fast SSD"),
			"gopherops:storageClass", "not a valid StorageClass name"},
		{"local without a session key", "local", with(validLocal(), "gopherops:sessionKey", "<delete>"),
			"gopherops:sessionKey", "pulumi config set --secret"},
		{"local with a mutable tag", "local", with(validLocal(), "gopherops:imageTag", "latest"),
			"gopherops:imageTag", "mutable"},
		{"integer not a number", "dev", with(validDev(), "gopherops:maxReplicas", "many"),
			"gopherops:maxReplicas", "not an integer"},
		{"boolean not a boolean", "dev", with(validDev(), "gopherops:dbMultiAz", "yes please"),
			"gopherops:dbMultiAz", "not a boolean"},
		{"cpu request above limit", "dev", with(validDev(), "gopherops:cpuRequest", "2", "gopherops:cpuLimit", "500m"),
			"gopherops:cpuRequest", "must not exceed gopherops:cpuLimit"},
		{"memory limit malformed", "dev", with(validDev(), "gopherops:memoryLimit", "lots"),
			"gopherops:memoryLimit", "invalid memory quantity"},
		{"memory request above limit", "dev", with(validDev(), "gopherops:memoryRequest", "1Gi", "gopherops:memoryLimit", "512Mi"),
			"gopherops:memoryRequest", "must not exceed gopherops:memoryLimit"},
		{"node min above max", "dev", with(validDev(), "gopherops:nodeMinSize", "5", "gopherops:nodeMaxSize", "3", "gopherops:nodeDesiredSize", "4"),
			"gopherops:nodeMinSize", "must not exceed gopherops:nodeMaxSize"},
		{"session key missing", "dev", with(validDev(), "gopherops:sessionKey", "<delete>"),
			"gopherops:sessionKey", "pulumi config set --secret"},
		{"session key too short", "dev", with(validDev(), "gopherops:sessionKey", "c2hvcnQ="),
			"gopherops:sessionKey", "at least 32 random bytes"},
		{"postgres major other than 17", "dev", with(validDev(), "gopherops:dbEngineVersion", "16"),
			"gopherops:dbEngineVersion", "PostgreSQL 17"},
		{"region missing", "dev", with(validDev(), "aws:region", "<delete>"),
			"aws:region", "not an AWS region"},
		{"ghcr token without user", "local", with(validLocal(), "gopherops:ghcrToken", "ghp_x"),
			"gopherops:ghcrUsername", "must be set together"},
		{"certificate without domain", "dev", with(validDev(), "gopherops:certificateArn", "arn:aws:acm:us-east-1:123456789012:certificate/abc-123"),
			"gopherops:certificateArn", "needs gopherops:domainName"},
		{"monitoring without grafana password", "dev", with(validDev(), "gopherops:monitoringEnabled", "true"),
			"gopherops:grafanaAdminPassword", "is required"},
		{"bad namespace", "dev", with(validDev(), "gopherops:namespace", "Gopher_Ops"),
			"gopherops:namespace", "not a valid Kubernetes namespace name"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(FromMap(tc.conf), "gopherops", tc.stack)
			if err == nil {
				t.Fatalf("Parse accepted the configuration; want an error naming %s", tc.key)
			}
			line := ""
			for _, l := range strings.Split(err.Error(), "\n") {
				if strings.HasPrefix(l, tc.key+":") || strings.HasPrefix(l, tc.key+" ") {
					line = l
					break
				}
			}
			if line == "" {
				t.Fatalf("no error line starts with %s:\n%v", tc.key, err)
			}
			if !strings.Contains(line, tc.msg) {
				t.Errorf("error for %s = %q, want it to contain %q", tc.key, line, tc.msg)
			}
		})
	}
}

func TestValidConfigurationsPass(t *testing.T) {
	cases := []struct {
		name  string
		stack string
		conf  map[string]string
	}{
		{"minimal dev", "dev", validDev()},
		{"minimal prod", "prod", validProd()},
		{"dev pinned to a digest", "dev", with(validDev(), "gopherops:imageDigest", "sha256:"+strings.Repeat("0f", 32))},
		{"prod with a private endpoint and the in-VPC runner", "prod", with(validProd(), "gopherops:clusterEndpointPublicCidrs", "[]",
			"gopherops:ciRunner", "true", "gopherops:githubRepository", "gopherops/gopherops", "gopherops:githubConnectionArn", connectionArn)},
		{"operators by role and user", "dev", with(validDev(), "gopherops:operatorArns",
			`["arn:aws:iam::123456789012:role/AWSReservedSSO_Admin_0123","arn:aws:iam::123456789012:user/alice"]`)},
		{"prod being decommissioned", "prod", with(validProd(), "gopherops:decommission", "true",
			"gopherops:dbDeletionProtection", "false", "gopherops:bucketForceDestroy", "true")},
		{"comma separated list", "dev", with(validDev(), "gopherops:clusterEndpointPublicCidrs", "34.201.10.7/32, 52.94.76.0/24")},
		{"private GHCR image on the local stack", "local", with(validLocal(),
			"gopherops:ghcrUsername", "bot", "gopherops:ghcrToken", "ghp_secret")},
		{"TLS", "dev", with(validDev(),
			"gopherops:certificateArn", "arn:aws:acm:us-east-1:123456789012:certificate/abc-123",
			"gopherops:domainName", "gopherops.example.com")},
		{"minimal local needs no AWS key", "local", validLocal()},
		{"local under another stack name", "kind", with(validLocal(), "gopherops:environment", "local")},
		{"local image loaded into kind by bare name", "local", with(validLocal(), "gopherops:imageRepository", "gopherops", "gopherops:imageTag", "dev")},
		{"local on a chosen context and storage class", "local", with(validLocal(),
			"gopherops:kubeContext", "kind-gopherops", "gopherops:storageClass", "standard",
			"gopherops:serviceType", "NodePort", "gopherops:postgresImage", "postgres:17.6-bookworm")},
		{"dev test stack awaiting nothing", "dev", with(validDev(), "gopherops:skipAwait", "true")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Parse(FromMap(tc.conf), "gopherops", tc.stack); err != nil {
				t.Fatalf("Parse: %v", err)
			}
		})
	}
}

// TestCommittedStackFiles loads the real Pulumi.<stack>.yaml files: they must
// hold only known keys, no secrets and, with the secrets an operator sets,
// validate.
func TestCommittedStackFiles(t *testing.T) {
	known := KnownKeys()
	for _, stack := range []string{"dev", "prod", "local"} {
		t.Run(stack, func(t *testing.T) {
			sf, err := ReadStackFile(filepath.Join("..", "..", "Pulumi."+stack+".yaml"))
			if err != nil {
				t.Fatal(err)
			}
			for key := range sf.Values {
				name, ok := strings.CutPrefix(key, Namespace+":")
				if !ok {
					if key != "aws:region" && key != "aws:defaultTags" {
						t.Errorf("unexpected config key %s", key)
					}
					continue
				}
				if !slices.Contains(known, name) {
					t.Errorf("unknown config key %s (typo?)", key)
				}
				if slices.Contains(secretKeys, name) {
					t.Errorf("secret %s is committed in plain text", key)
				}
			}
			// What an operator sets per account: the secrets, and the
			// connection the in-VPC runner needs.
			conf := with(sf.Values, "gopherops:sessionKey", testSessionKey,
				"gopherops:grafanaAdminPassword", "a-long-enough-password")
			if sf.Values["gopherops:ciRunner"] == "true" {
				conf["gopherops:githubConnectionArn"] = connectionArn
			}
			cfg, err := Parse(FromMap(conf), "gopherops", stack)
			if err != nil {
				t.Fatalf("committed stack file does not validate: %v", err)
			}
			if cfg.Environment != stack {
				t.Errorf("environment = %q, want %q", cfg.Environment, stack)
			}
			if !cfg.IsLocal() {
				checkDefaultTags(t, sf, stack)
			}
		})
	}
}

// checkDefaultTags: every AWS resource is tagged once, by the provider's
// default tags in the stack file, never by each component.
func checkDefaultTags(t *testing.T, sf *StackFile, stack string) {
	t.Helper()
	var dt struct {
		Tags map[string]string `json:"tags"`
	}
	raw, ok := sf.Values["aws:defaultTags"]
	if !ok {
		t.Fatal("aws:defaultTags is missing: tags are set once, in the stack file")
	}
	if err := json.Unmarshal([]byte(raw), &dt); err != nil {
		t.Fatalf("aws:defaultTags: %v", err)
	}
	want := map[string]string{"Project": "gopherops", "Stack": stack, "ManagedBy": "pulumi"}
	for k, v := range want {
		if dt.Tags[k] != v {
			t.Errorf("aws:defaultTags.tags.%s = %q, want %q", k, dt.Tags[k], v)
		}
	}
}

// validPR is the smallest valid pull-request stack: no secret, the cluster
// keeps a generated session key.
func validPR() map[string]string {
	return map[string]string{"gopherops:imageTag": "pr-7-0123456789ab"}
}

// TestPreviewStackDefaults: a stack named pr-<number> is a pull request's,
// in its own namespace, with backups, a quota and a stack limit.
func TestPreviewStackDefaults(t *testing.T) {
	cfg, err := Parse(FromMap(validPR()), "gopherops", "pr-7")
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"environment from the stack name", cfg.Environment, EnvPR},
		{"is a pull request's", cfg.IsPR(), true},
		{"runs in a cluster", cfg.InCluster(), true},
		{"is not the local stack", cfg.IsLocal(), false},
		{"number", cfg.Preview.Number, 7},
		{"namespace", cfg.App.Namespace, "gopherops-pr-7"},
		{"stack limit", cfg.Preview.StackLimit, 5},
		{"pods quota", cfg.Preview.Quota.Pods, 12},
		{"hourly backups", cfg.Backup.Schedule, "0 * * * *"},
		{"a day of backups", cfg.Backup.RetentionCount, 24},
		{"no restore", cfg.Backup.RestoreFrom, ""},
		{"GHCR image", cfg.App.ImageRepository, "ghcr.io/gopherops/gopherops"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	local, err := Parse(FromMap(validLocal()), "gopherops", "local")
	if err != nil {
		t.Fatal(err)
	}
	if !local.InCluster() || local.IsPR() || local.Backup.Schedule == "" {
		t.Errorf("local stack: in cluster %v, pr %v, backup schedule %q", local.InCluster(), local.IsPR(), local.Backup.Schedule)
	}
}

func TestPreviewNames(t *testing.T) {
	for _, tc := range []struct {
		stack string
		n     int
		ok    bool
	}{
		{"pr-1", 1, true},
		{"pr-123456789", 123456789, true},
		{"pr-0", 0, false},
		{"pr-01", 0, false},
		{"pr-", 0, false},
		{"pr-1234567890", 0, false},
		{"pr-12a", 0, false},
		{"dev", 0, false},
		{"xpr-1", 0, false},
	} {
		n, ok := PreviewNumber(tc.stack)
		if n != tc.n || ok != tc.ok {
			t.Errorf("PreviewNumber(%q) = %d, %v; want %d, %v", tc.stack, n, ok, tc.n, tc.ok)
		}
		if ok && PreviewStackName(n) != tc.stack {
			t.Errorf("PreviewStackName(%d) = %q, want %q", n, PreviewStackName(n), tc.stack)
		}
	}
	if got := PreviewNamespace(42); got != "gopherops-pr-42" {
		t.Errorf("PreviewNamespace(42) = %q", got)
	}
}

// TestEnvironmentSettingsValidate: the pull-request, backup and restore keys
// are checked like every other, each error naming its key.
func TestEnvironmentSettingsValidate(t *testing.T) {
	cases := []struct {
		name  string
		stack string
		conf  map[string]string
		key   string
		msg   string
	}{
		{"pr environment on a stack without a number", "pr", with(validPR(), "gopherops:environment", "pr"),
			"gopherops:environment", "must be named pr-<number>"},
		{"pr stack in another namespace", "pr-7", with(validPR(), "gopherops:namespace", "gopherops-pr-8"),
			"gopherops:namespace", `must be "gopherops-pr-7"`},
		{"stack limit zero", "pr-7", with(validPR(), "gopherops:prStackLimit", "0"),
			"gopherops:prStackLimit", "between 1 and 50"},
		{"stack limit not a number", "pr-7", with(validPR(), "gopherops:prStackLimit", "five"),
			"gopherops:prStackLimit", "not an integer"},
		{"quota too small for the stack's pods", "pr-7", with(validPR(), "gopherops:quotaPods", "3"),
			"gopherops:quotaPods", "between 4 and 100"},
		{"quota memory malformed", "pr-7", with(validPR(), "gopherops:quotaLimitsMemory", "lots"),
			"gopherops:quotaLimitsMemory", ""},
		{"quota cpu zero", "pr-7", with(validPR(), "gopherops:quotaRequestsCpu", "0"),
			"gopherops:quotaRequestsCpu", "invalid CPU quantity"},
		{"app container above the LimitRange", "pr-7", with(validPR(), "gopherops:memoryLimit", "2Gi", "gopherops:memoryRequest", "64Mi"),
			"gopherops:memoryLimit", "exceeds gopherops:containerMaxMemory"},
		{"app cpu above the LimitRange", "pr-7", with(validPR(), "gopherops:cpuLimit", "2"),
			"gopherops:cpuLimit", "exceeds gopherops:containerMaxCpu"},
		{"pull-request session key too short", "pr-7", with(validPR(), "gopherops:sessionKey", "c2hvcnQ="),
			"gopherops:sessionKey", "at least 32 random bytes"},
		{"NodePort on the shared cluster", "pr-7", with(validPR(), "gopherops:serviceType", "NodePort"),
			"gopherops:serviceType", "every node of the shared cluster"},
		{"pr keys on the local stack", "local", with(validLocal(), "gopherops:prStackLimit", "3"),
			"gopherops:prStackLimit", "pull-request stacks (pr-<number>) only"},
		{"quota keys on dev", "dev", with(validDev(), "gopherops:quotaPods", "10"),
			"gopherops:quotaPods", "pull-request stacks"},
		{"backup schedule malformed", "local", with(validLocal(), "gopherops:backupSchedule", "hourly"),
			"gopherops:backupSchedule", "want 5 fields"},
		{"backup schedule out of range", "pr-7", with(validPR(), "gopherops:backupSchedule", "0 25 * * *"),
			"gopherops:backupSchedule", "25 is outside 0-23"},
		{"backups further apart than a week", "local", with(validLocal(), "gopherops:backupSchedule", "@monthly"),
			"gopherops:backupSchedule", "more than the 168h0m0s a stack may lose"},
		{"backup schedule that never fires", "local", with(validLocal(), "gopherops:backupSchedule", "0 0 30 2 *"),
			"gopherops:backupSchedule", "never fires"},
		{"no backup kept", "local", with(validLocal(), "gopherops:backupRetentionCount", "0"),
			"gopherops:backupRetentionCount", "between 1 and 168"},
		{"backup volume too small", "local", with(validLocal(), "gopherops:backupStorageSize", "1Mi"),
			"gopherops:backupStorageSize", "below 64Mi"},
		{"restore from a path", "local", with(validLocal(), "gopherops:restoreFrom", "../etc/passwd"),
			"gopherops:restoreFrom", "must be \"latest\" or the name of a backup"},
		{"backup keys on an AWS stack", "dev", with(validDev(), "gopherops:backupSchedule", "0 * * * *"),
			"gopherops:backupSchedule", "AWS stacks back up with RDS"},
		{"in-cluster restore on an AWS stack", "prod", with(validProd(), "gopherops:restoreFrom", "latest"),
			"gopherops:restoreFrom", "AWS stacks back up with RDS"},
		{"RDS restore on the local stack", "local", with(validLocal(), "gopherops:dbRestoreSnapshot", "nightly-1"),
			"gopherops:dbRestoreSnapshot", "in-cluster stacks restore with restoreFrom"},
		{"snapshot and time at once", "dev", with(validDev(), "gopherops:dbRestoreSnapshot", "nightly-1",
			"gopherops:dbRestoreTime", "latest", "gopherops:dbRestoreSource", "gopherops-dev"),
			"gopherops:dbRestoreSnapshot", "set one"},
		{"snapshot name malformed", "dev", with(validDev(), "gopherops:dbRestoreSnapshot", "1-starts-with-a-digit"),
			"gopherops:dbRestoreSnapshot", "not an RDS snapshot identifier"},
		{"restore time malformed", "dev", with(validDev(), "gopherops:dbRestoreTime", "yesterday", "gopherops:dbRestoreSource", "gopherops-dev"),
			"gopherops:dbRestoreTime", "not an RFC 3339 time"},
		{"restore time without its source", "dev", with(validDev(), "gopherops:dbRestoreTime", "latest"),
			"gopherops:dbRestoreSource", "is required with gopherops:dbRestoreTime"},
		{"source without a time", "dev", with(validDev(), "gopherops:dbRestoreSource", "gopherops-dev"),
			"gopherops:dbRestoreSource", "only used with gopherops:dbRestoreTime"},
		{"source that is no RDS identifier", "dev", with(validDev(), "gopherops:dbRestoreTime", "latest", "gopherops:dbRestoreSource", "Gopherops_Dev"),
			"gopherops:dbRestoreSource", "not an RDS instance identifier"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(FromMap(tc.conf), "gopherops", tc.stack)
			if err == nil {
				t.Fatalf("Parse accepted the configuration; want an error naming %s", tc.key)
			}
			for _, l := range strings.Split(err.Error(), "\n") {
				if (strings.HasPrefix(l, tc.key+":") || strings.HasPrefix(l, tc.key+" ")) && strings.Contains(l, tc.msg) {
					return
				}
			}
			t.Errorf("no error line for %s containing %q:\n%v", tc.key, tc.msg, err)
		})
	}
}

func TestEnvironmentSettingsPass(t *testing.T) {
	cases := []struct {
		name  string
		stack string
		conf  map[string]string
	}{
		{"minimal pull-request stack", "pr-7", validPR()},
		{"pull-request stack with its own session key", "pr-7", with(validPR(), "gopherops:sessionKey", testSessionKey)},
		{"pull-request stack reached by port-forward", "pr-7", with(validPR(), "gopherops:serviceType", "ClusterIP")},
		{"restore the latest backup", "local", with(validLocal(), "gopherops:restoreFrom", "latest")},
		{"restore a named backup", "pr-7", with(validPR(), "gopherops:restoreFrom", "gopherops-20260301T030000Z.dump")},
		{"backups every 15 minutes", "local", with(validLocal(), "gopherops:backupSchedule", "*/15 * * * *")},
		{"weekly backups", "local", with(validLocal(), "gopherops:backupSchedule", "@weekly")},
		{"restore a manual snapshot", "prod", with(validProd(), "gopherops:dbRestoreSnapshot", "gopherops-before-upgrade")},
		{"restore an automated snapshot by ARN", "dev", with(validDev(), "gopherops:dbRestoreSnapshot",
			"arn:aws:rds:us-east-1:123456789012:snapshot:rds:gopherops-dev-2026-03-01-03-10")},
		{"restore to a point in time", "prod", with(validProd(), "gopherops:dbRestoreTime", "2026-03-01T10:30:00Z",
			"gopherops:dbRestoreSource", "gopherops-prod-0a1b2c3")},
		{"restore to the latest time", "dev", with(validDev(), "gopherops:dbRestoreTime", "latest",
			"gopherops:dbRestoreSource", "gopherops-dev-0a1b2c3")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Parse(FromMap(tc.conf), "gopherops", tc.stack); err != nil {
				t.Fatalf("Parse: %v", err)
			}
		})
	}
}

// TestRestoreWindow: a point in time the source's backups cannot reach is
// refused before any instance is created; "latest" always can be reached.
func TestRestoreWindow(t *testing.T) {
	now := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		name, at string
		retain   string
		want     string
	}{
		{"an hour ago", "2026-03-10T11:00:00Z", "7", ""},
		{"six days ago", "2026-03-04T12:00:00Z", "7", ""},
		{"in another zone, inside", "2026-03-10T12:30:00+02:00", "7", ""},
		{"latest", "latest", "7", ""},
		{"in the future", "2026-03-10T13:00:00Z", "7", "after the latest restorable time"},
		{"two minutes ago, newer than the logs", "2026-03-10T11:58:00Z", "7", "after the latest restorable time"},
		{"before the retention", "2026-03-02T12:00:00Z", "7", "outside the 7-day backup retention window"},
		{"inside a longer retention", "2026-03-02T12:00:00Z", "30", ""},
		{"a year ago", "2025-03-10T12:00:00Z", "35", "restore a snapshot instead"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Parse(FromMap(with(validDev(), "gopherops:dbRestoreTime", tc.at,
				"gopherops:dbRestoreSource", "gopherops-dev-0a1b2c3", "gopherops:dbBackupRetentionDays", tc.retain)), "gopherops", "dev")
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			err = cfg.CheckRestoreWindow(now)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("CheckRestoreWindow = %v, want an error containing %q", err, tc.want)
			case tc.want != "" && !strings.HasPrefix(err.Error(), "gopherops:dbRestoreTime:"):
				t.Errorf("error %q does not name gopherops:dbRestoreTime", err)
			}
		})
	}
	none, err := Parse(FromMap(validDev()), "gopherops", "dev")
	if err != nil {
		t.Fatal(err)
	}
	if err := none.CheckRestoreWindow(now); err != nil {
		t.Errorf("no restore configured: %v", err)
	}
}

// TestRestoreIdentity: a restore is named by what it restores, so the same
// settings keep the same instance and new ones make a new instance.
func TestRestoreIdentity(t *testing.T) {
	a := DatabaseRestore{Time: "2026-03-01T10:30:00Z", Source: "gopherops-dev-0a1b2c3"}
	b := DatabaseRestore{Time: "2026-03-01T10:31:00Z", Source: "gopherops-dev-0a1b2c3"}
	c := DatabaseRestore{Snapshot: "gopherops-dev-0a1b2c3"}
	if a.ID() == "" || len(a.ID()) != 8 {
		t.Fatalf("ID = %q, want 8 hex digits", a.ID())
	}
	if a.ID() != (DatabaseRestore{Time: a.Time, Source: a.Source}).ID() {
		t.Error("the same restore has two names")
	}
	if a.ID() == b.ID() || a.ID() == c.ID() || b.ID() == c.ID() {
		t.Errorf("different restores share a name: %s %s %s", a.ID(), b.ID(), c.ID())
	}
	if (DatabaseRestore{}).ID() != "" || (DatabaseRestore{}).IsSet() {
		t.Error("no restore has a name")
	}
}

// TestCommittedPreviewTemplate: Pulumi.pr.yaml, the template every
// pull-request stack is copied from, holds known keys only and validates as
// any pr-<number> stack, and never as a stack named "pr".
func TestCommittedPreviewTemplate(t *testing.T) {
	sf, err := ReadStackFile(filepath.Join("..", "..", "Pulumi.pr.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	known := KnownKeys()
	for key := range sf.Values {
		name, ok := strings.CutPrefix(key, Namespace+":")
		if !ok || !slices.Contains(known, name) {
			t.Errorf("unknown config key %s", key)
		}
	}
	if len(sf.Secure) > 0 {
		t.Errorf("the template holds encrypted values %v: each stack sets its own", sf.Secure)
	}
	conf := with(sf.Values)
	for _, n := range []int{1, 4321} {
		cfg, err := Parse(FromMap(conf), "gopherops", PreviewStackName(n))
		if err != nil {
			t.Fatalf("template as %s: %v", PreviewStackName(n), err)
		}
		if !cfg.IsPR() || cfg.App.Namespace != PreviewNamespace(n) || cfg.Preview.Number != n {
			t.Errorf("template as %s: environment %s, namespace %s, number %d", PreviewStackName(n), cfg.Environment, cfg.App.Namespace, cfg.Preview.Number)
		}
	}
	if _, err := Parse(FromMap(with(conf, "gopherops:environment", EnvPR)), "gopherops", "pr"); err == nil {
		t.Error("the template deploys as a stack named pr")
	}
}
