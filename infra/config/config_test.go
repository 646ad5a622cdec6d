package config

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// testSessionKey is base64 of 32 bytes, as `openssl rand -base64 32` prints.
const testSessionKey = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="

func validDev() map[string]string {
	return map[string]string{
		"aws:region":                           "us-east-1",
		"gopherops:imageTag":                   "1.2.3",
		"gopherops:clusterEndpointPublicCidrs": `["198.51.100.0/24"]`,
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
		{"postgres image", cfg.Local.PostgresImage, "postgres:17"},
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
		{"image ref by tag", cfg.App.ImageRef(), "ghcr.io/gopherops/gopherops:1.2.3"},
		{"cidr list from JSON", fmt.Sprint(cfg.Cluster.EndpointPublicCidrs), "[198.51.100.0/24]"},
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
	cfg, err := Parse(FromMap(with(validDev(), "gopherops:imageDigest", digest)), "gopherops", "dev")
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if got, want := cfg.App.ImageRef(), "ghcr.io/gopherops/gopherops@"+digest; got != want {
		t.Errorf("ImageRef = %q, want %q", got, want)
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
		{"image tag latest", "dev", with(validDev(), "gopherops:imageTag", "latest"),
			"gopherops:imageTag", "mutable"},
		{"image tag LATEST in capitals", "dev", with(validDev(), "gopherops:imageTag", "LATEST"),
			"gopherops:imageTag", "mutable"},
		{"image tag empty", "dev", with(validDev(), "gopherops:imageTag", ""),
			"gopherops:imageTag", "is empty"},
		{"image tag missing", "dev", with(validDev(), "gopherops:imageTag", "<delete>"),
			"gopherops:imageTag", "is empty"},
		{"image digest malformed", "dev", with(validDev(), "gopherops:imageDigest", "sha256:abc"),
			"gopherops:imageDigest", "sha256:<64 hex digits>"},
		{"image repository with tag", "dev", with(validDev(), "gopherops:imageRepository", "ghcr.io/x/gopherops:1.0"),
			"gopherops:imageRepository", "without tag or digest"},
		{"vpc cidr malformed", "dev", with(validDev(), "gopherops:vpcCidr", "10.0.0.300/16"),
			"gopherops:vpcCidr", "not a valid IPv4 network CIDR"},
		{"vpc cidr host bits set", "dev", with(validDev(), "gopherops:vpcCidr", "10.0.0.1/16"),
			"gopherops:vpcCidr", "not a valid IPv4 network CIDR"},
		{"vpc cidr too small", "dev", with(validDev(), "gopherops:vpcCidr", "10.0.0.0/26"),
			"gopherops:vpcCidr", "between /16 and /22"},
		{"endpoint cidr malformed", "dev", with(validDev(), "gopherops:clusterEndpointPublicCidrs", `["1.2.3/24"]`),
			"gopherops:clusterEndpointPublicCidrs", "not a valid IPv4 CIDR"},
		{"endpoint cidrs missing", "dev", with(validDev(), "gopherops:clusterEndpointPublicCidrs", "<delete>"),
			"gopherops:clusterEndpointPublicCidrs", "must list"},
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
		{"prod with one replica", "prod", with(validProd(), "gopherops:minReplicas", "1"),
			"gopherops:minReplicas", "at least 2 in prod"},
		{"unknown environment", "staging", validDev(),
			"gopherops:environment", `"staging" must be "dev", "prod" or "local"`},
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
		{"ghcr token without user", "dev", with(validDev(), "gopherops:ghcrToken", "ghp_x"),
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
		{"dev by digest without tag", "dev", with(validDev(), "gopherops:imageTag", "<delete>", "gopherops:imageDigest", "sha256:"+strings.Repeat("0f", 32))},
		{"prod being decommissioned", "prod", with(validProd(), "gopherops:decommission", "true",
			"gopherops:dbDeletionProtection", "false", "gopherops:bucketForceDestroy", "true")},
		{"comma separated list", "dev", with(validDev(), "gopherops:clusterEndpointPublicCidrs", "198.51.100.0/24, 203.0.113.7/32")},
		{"private image with TLS", "dev", with(validDev(),
			"gopherops:ghcrUsername", "bot", "gopherops:ghcrToken", "ghp_secret",
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
					if key != "aws:region" {
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
			conf := with(sf.Values, "gopherops:sessionKey", testSessionKey,
				"gopherops:grafanaAdminPassword", "a-long-enough-password")
			cfg, err := Parse(FromMap(conf), "gopherops", stack)
			if err != nil {
				t.Fatalf("committed stack file does not validate: %v", err)
			}
			if cfg.Environment != stack {
				t.Errorf("environment = %q, want %q", cfg.Environment, stack)
			}
		})
	}
}
