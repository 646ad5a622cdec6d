//go:build live

package infra

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gruntwork-io/terratest/modules/logger"
	"github.com/gruntwork-io/terratest/modules/retry"
	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optdestroy"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optup"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/gopherops/gopherops/infra/config"
	"github.com/gopherops/gopherops/infra/release"
	"github.com/gopherops/gopherops/test/internal/kube"
)

// Stack outputs of the infrastructure contract (infra/platform).
const (
	outAppURL      = "appUrl"
	outClusterName = "clusterName"
	outKubeconfig  = "kubeconfig"
	outDBEndpoint  = "dbEndpoint"
	outDBSecretArn = "dbSecretArn"
	outBucketName  = "bucketName"
	outNamespace   = "namespace"
	outImage       = "image"
)

// outputs are the stack outputs the validation reads.
type outputs struct {
	AppURL, ClusterName, Kubeconfig, DBEndpoint, DBSecretArn, BucketName, Namespace, Image string
}

// smallDev overrides Pulumi.dev.yaml for a throwaway stack: the dev
// environment at its smallest sizes, deletable without leftovers.
var smallDev = map[string]string{
	"gopherops:environment":              "dev",
	"gopherops:availabilityZoneCount":    "2",
	"gopherops:natGatewayPerAz":          "false",
	"gopherops:nodeMinSize":              "1",
	"gopherops:nodeDesiredSize":          "2",
	"gopherops:nodeMaxSize":              "2",
	"gopherops:minReplicas":              "2",
	"gopherops:maxReplicas":              "2",
	"gopherops:dbInstanceClass":          "db.t4g.micro",
	"gopherops:dbAllocatedStorageGiB":    "20",
	"gopherops:dbMaxAllocatedStorageGiB": "20",
	"gopherops:dbMultiAz":                "false",
	"gopherops:dbBackupRetentionDays":    "1",
	"gopherops:dbDeletionProtection":     "false",
	"gopherops:bucketForceDestroy":       "true",
	"gopherops:kmsKeyDeletionWindowDays": "7",
	// The suite reaches the API from where it runs, not from the stack's
	// in-VPC runner (which needs the account's GitHub connection).
	"gopherops:ciRunner": "false",
}

// fromRunnerSetup are the runner's settings, dropped with the runner.
var fromRunnerSetup = []string{"gopherops:githubRepository", "gopherops:githubConnectionArn"}

// minReplicas is the replica count smallDev asks for.
const minReplicas = 2

// stackConfig is the throwaway stack's configuration: every key of the
// committed Pulumi.dev.yaml, then smallDev, the region, a fresh session key
// and Grafana password, and the Kubernetes API open to this machine only
// (or to GOPHEROPS_LIVE_API_CIDRS).
func stackConfig(ctx context.Context, t *testing.T, root string, env liveEnv) auto.ConfigMap {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "Pulumi.dev.yaml"))
	require.NoError(t, err, "read the dev stack file")
	var file struct {
		Config map[string]any `yaml:"config"`
	}
	require.NoError(t, yaml.Unmarshal(b, &file), "parse Pulumi.dev.yaml")

	cfg := auto.ConfigMap{}
	for key, v := range file.Config {
		switch val := v.(type) {
		case string:
			cfg[key] = auto.ConfigValue{Value: val}
		case bool, int, float64:
			cfg[key] = auto.ConfigValue{Value: fmt.Sprint(val)}
		case []any, map[string]any:
			// Lists and maps (addonVersions, aws:defaultTags) reach the
			// program as JSON, as the engine hands them over.
			j, err := json.Marshal(val)
			require.NoError(t, err)
			cfg[key] = auto.ConfigValue{Value: string(j)}
		default:
			t.Fatalf("Pulumi.dev.yaml: %s has a value of type %T the suite cannot copy", key, v)
		}
	}
	for k, v := range smallDev {
		cfg[k] = auto.ConfigValue{Value: v}
	}
	for _, k := range fromRunnerSetup {
		delete(cfg, k)
	}
	if env.Region != "" {
		cfg["aws:region"] = auto.ConfigValue{Value: env.Region}
	}

	key := make([]byte, 32)
	_, err = rand.Read(key)
	require.NoError(t, err)
	cfg["gopherops:sessionKey"] = auto.ConfigValue{Value: base64.StdEncoding.EncodeToString(key), Secret: true}
	_, err = rand.Read(key)
	require.NoError(t, err)
	cfg["gopherops:grafanaAdminPassword"] = auto.ConfigValue{Value: base64.StdEncoding.EncodeToString(key[:18]), Secret: true}

	// Whoever runs the suite administers the throwaway cluster.
	if env.Principal != "" && env.Principal != env.roleArn(deployRole) {
		j, _ := json.Marshal([]string{env.Principal})
		cfg["gopherops:operatorArns"] = auto.ConfigValue{Value: string(j)}
	}
	cidrs := []string{publicAddress(ctx, t) + "/32"}
	if v := os.Getenv("GOPHEROPS_LIVE_API_CIDRS"); v != "" {
		cidrs = nil
		for _, c := range strings.Split(v, ",") {
			if c = strings.TrimSpace(c); c != "" {
				cidrs = append(cidrs, c)
			}
		}
	}
	j, _ := json.Marshal(cidrs)
	cfg["gopherops:clusterEndpointPublicCidrs"] = auto.ConfigValue{Value: string(j)}
	return cfg
}

// checkAddonVersions asks EKS, before anything is created, whether every
// add-on build the stack pins (infra/config/versions.go, by the stack's
// Kubernetes minor) exists for that minor: the mocks only check that the
// pins agree with each other.
func checkAddonVersions(ctx context.Context, t *testing.T, cfg auto.ConfigMap, stackName string) {
	t.Helper()
	parsed, err := config.Parse(func(key string) (string, bool) {
		v, ok := cfg[key]
		return v.Value, ok
	}, project, stackName)
	require.NoError(t, err, "the throwaway stack's configuration")
	minor := parsed.Cluster.KubernetesVersion
	for _, name := range config.RequiredAddons() {
		pinned := parsed.Cluster.AddonVersions[name]
		out, err := exec.CommandContext(ctx, "aws", "eks", "describe-addon-versions", "--addon-name", name, "--kubernetes-version", minor,
			"--query", "addons[].addonVersions[].addonVersion", "--output", "text").Output()
		require.NoError(t, err, "aws eks describe-addon-versions --addon-name %s --kubernetes-version %s", name, minor)
		offered := strings.Fields(string(out))
		require.Contains(t, offered, pinned, "EKS offers %s %v for Kubernetes %s, not the pinned %s (infra/config/versions.go)", name, offered, minor, pinned)
		logger.Default.Logf(t, "EKS offers %s %s for Kubernetes %s", name, pinned, minor)
	}
}

// deploy configures the stack, checks its pinned add-ons against what EKS
// offers, mirrors a release and rolls it out with `pulumi up`, then records
// it, as deploy.yml does.
func deploy(ctx context.Context, t *testing.T, root, stackName string, env liveEnv) {
	t.Helper()
	cfg := stackConfig(ctx, t, root, env)
	checkAddonVersions(ctx, t, cfg, stackName)
	digest := mirrorRelease(ctx, t, env, stackName)
	stack, err := auto.UpsertStackLocalSource(ctx, stackName, root,
		auto.EnvVars(map[string]string{release.DigestEnv: digest}))
	require.NoError(t, err, "create stack %s", stackName)
	require.NoError(t, stack.SetAllConfig(ctx, cfg), "configure stack %s", stackName)
	logger.Default.Logf(t, "pulumi up -s %s (region %s, account %s, image %s@%s)", stackName, env.Region, env.Account,
		env.ecrRepository(), digest)

	progress := kube.NewLogWriter(t, "pulumi up: ")
	defer progress.Flush()
	start := time.Now()
	res, err := stack.Up(ctx, optup.ProgressStreams(progress), optup.ErrorProgressStreams(progress),
		optup.Color("never"), optup.Message("gopherops live suite "+t.Name()))
	require.NoError(t, err, "pulumi up -s %s", stackName)
	logger.Default.Logf(t, "pulumi up -s %s: %s in %s", stackName, summary(res.Summary.ResourceChanges), time.Since(start).Round(time.Second))
	recordRelease(ctx, t, stackName, digest)
}

// readOutputs reads the stack's outputs (secrets in plain text) and fails t
// naming every output of the contract that is missing or empty.
func readOutputs(ctx context.Context, t *testing.T, root, stackName string) outputs {
	t.Helper()
	o, err := readOutputsE(ctx, root, stackName)
	require.NoError(t, err)
	return o
}

// readOutputsE reads the stack's outputs, or says which are missing.
func readOutputsE(ctx context.Context, root, stackName string) (outputs, error) {
	stack, err := auto.SelectStackLocalSource(ctx, stackName, root)
	if err != nil {
		return outputs{}, fmt.Errorf("select stack %s: %w", stackName, err)
	}
	out, err := stack.Outputs(ctx)
	if err != nil {
		return outputs{}, fmt.Errorf("stack outputs of %s: %w", stackName, err)
	}
	get := func(name string, missing *[]string) string {
		s, _ := out[name].Value.(string)
		if s == "" {
			*missing = append(*missing, name)
		}
		return s
	}
	var missing []string
	o := outputs{
		AppURL:      get(outAppURL, &missing),
		ClusterName: get(outClusterName, &missing),
		Kubeconfig:  get(outKubeconfig, &missing),
		DBEndpoint:  get(outDBEndpoint, &missing),
		DBSecretArn: get(outDBSecretArn, &missing),
		BucketName:  get(outBucketName, &missing),
		Namespace:   get(outNamespace, &missing),
		Image:       get(outImage, &missing),
	}
	if len(missing) > 0 {
		return outputs{}, fmt.Errorf("stack %s lacks outputs the infrastructure contract promises: %s", stackName, strings.Join(missing, ", "))
	}
	if !out[outKubeconfig].Secret {
		return outputs{}, fmt.Errorf("stack %s exports %s in plain text: it must be a secret", stackName, outKubeconfig)
	}
	return o, nil
}

// destroyAttempts: EKS and VPC deletions sometimes trip on resources AWS is
// still tearing down (ENIs of the load balancer); a second destroy finishes.
const destroyAttempts = 3

// destroy runs `pulumi destroy` (retrying) and removes the stack and its
// stack file. When it cannot, it says loudly what may still be costing money.
func destroy(ctx context.Context, t *testing.T, root, stackName string) {
	t.Helper()
	stack, err := auto.SelectStackLocalSource(ctx, stackName, root)
	if auto.IsSelectStack404Error(err) {
		logger.Default.Logf(t, "stack %s does not exist: nothing to destroy", stackName)
		return
	}
	if err != nil {
		t.Errorf("select stack %s to destroy it: %v\n%s", stackName, err, leftovers(root, stackName))
		return
	}
	progress := kube.NewLogWriter(t, "pulumi destroy: ")
	defer progress.Flush()
	start := time.Now()
	_, err = retry.DoWithRetryContextE(t, ctx, "pulumi destroy -s "+stackName, destroyAttempts, 30*time.Second, func() (string, error) {
		res, err := stack.Destroy(ctx, optdestroy.ProgressStreams(progress), optdestroy.ErrorProgressStreams(progress), optdestroy.Color("never"))
		if err != nil {
			return "", err
		}
		return summary(res.Summary.ResourceChanges), nil
	})
	if err != nil {
		t.Errorf("pulumi destroy -s %s failed: %v\n%s", stackName, err, leftovers(root, stackName))
		return
	}
	logger.Default.Logf(t, "pulumi destroy -s %s: done in %s", stackName, time.Since(start).Round(time.Second))
	forgetRelease(ctx, t, stackName)
	if err := stack.Workspace().RemoveStack(ctx, stackName); err != nil {
		t.Errorf("pulumi stack rm %s: %v", stackName, err)
	}
	// `stack rm` deletes the stack file; make sure none is left in the repository.
	if err := os.Remove(filepath.Join(root, "Pulumi."+stackName+".yaml")); err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Errorf("remove the throwaway stack file: %v", err)
	}
}

// leftovers tells the user how to finish a destroy by hand.
func leftovers(root, stackName string) string {
	return fmt.Sprintf("THE STACK %[1]s MAY STILL HOLD AWS RESOURCES THAT COST MONEY (EKS, NAT gateway, RDS, load balancer).\n"+
		"Finish by hand: cd %[2]s && pulumi destroy --yes -s %[1]s && pulumi stack rm --yes -s %[1]s", stackName, root)
}

func summary(changes *map[string]int) string {
	if changes == nil {
		return "no changes reported"
	}
	var parts []string
	for op, n := range *changes {
		parts = append(parts, fmt.Sprintf("%s %d", op, n))
	}
	return strings.Join(parts, ", ")
}
