//go:build platform

package platform

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gruntwork-io/terratest/modules/logger"
	"github.com/gruntwork-io/terratest/modules/random"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optpreview"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optup"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/gopherops/gopherops/infra/drift"
	"github.com/gopherops/gopherops/infra/platform"
	"github.com/gopherops/gopherops/infra/policy/rules"
	imagebuild "github.com/gopherops/gopherops/test/internal/images"
	"github.com/gopherops/gopherops/test/internal/kube"
)

// envPolicyRounds, set to a number, measures what the policy pack adds to a
// preview: that many interleaved previews of the deployed stack with and
// without it (off by default: it only logs figures).
const envPolicyRounds = "GOPHEROPS_PLATFORM_POLICY_ROUNDS"

// fieldManager is who the suite's hand-made changes are attributed to.
const fieldManager = "gopherops-platform-suite"

var (
	packOnce sync.Once
	packPath string
	packErr  error
)

// policyPack builds the policy pack (infra/policy) once per test binary. The
// engine runs a pack given as a directory through its Go language host,
// which an engine built from source lacks; given the built binary it starts
// it directly. Both run the same main package.
func policyPack(ctx context.Context, t *testing.T) string {
	t.Helper()
	packOnce.Do(func() {
		dir, err := os.MkdirTemp("", "gopherops-policy-")
		if err != nil {
			packErr = err
			return
		}
		packPath = filepath.Join(dir, "gopherops-policy")
		start := time.Now()
		cmd := exec.CommandContext(ctx, "go", "build", "-o", packPath, "./infra/policy")
		cmd.Dir = repoRoot(t)
		out, err := cmd.CombinedOutput()
		if err != nil {
			packErr = fmt.Errorf("go build ./infra/policy: %w\n%s", err, out)
			return
		}
		logger.Default.Logf(t, "policy pack built in %s: %s", time.Since(start).Round(100*time.Millisecond), packPath)
	})
	require.NoError(t, packErr)
	return packPath
}

// previewOutput runs a preview with the policy pack and returns its output
// and error, without failing.
func (s *localStack) previewOutput(ctx context.Context, t *testing.T) (string, error) {
	t.Helper()
	var out bytes.Buffer
	progress := kube.NewLogWriter(t, "pulumi preview: ")
	defer progress.Flush()
	_, err := s.stack.Preview(ctx, optpreview.ProgressStreams(progress, &out), optpreview.ErrorProgressStreams(progress, &out),
		optpreview.Color("never"), optpreview.PolicyPacks(s.policyPack))
	return out.String(), err
}

// transformed is the local stack's program with transform applied to every
// resource registration.
func transformed(transform pulumi.ResourceTransform) pulumi.RunFunc {
	program := platform.Program()
	return func(ctx *pulumi.Context) error {
		if err := ctx.RegisterResourceTransform(transform); err != nil {
			return err
		}
		return program(ctx)
	}
}

// setIn sets the value at keys (object members, or [i] for list elements)
// of a resource's properties as a transform sees them.
func setIn(props pulumi.Map, value pulumi.Input, keys ...string) error {
	var cur any = props
	for i, k := range keys {
		last := i == len(keys)-1
		switch c := cur.(type) {
		case pulumi.Map:
			if last {
				c[k] = value
				return nil
			}
			next, ok := c[k]
			if !ok || next == nil {
				next = pulumi.Map{}
				c[k] = next
			}
			cur = next
		case pulumi.Array:
			n, err := strconv.Atoi(strings.Trim(k, "[]"))
			if err != nil || n >= len(c) {
				return fmt.Errorf("no element %s in a list of %d", k, len(c))
			}
			if last {
				c[n] = value
				return nil
			}
			cur = c[n]
		default:
			return fmt.Errorf("%s: cannot step into %T", strings.Join(keys[:i+1], "."), cur)
		}
	}
	return nil
}

// workloadTransform applies edit to the properties of the app's Deployment
// and migration Job (the workloads that run the app image).
func workloadTransform(t *testing.T, edit func(typ string, props pulumi.Map) error) pulumi.ResourceTransform {
	return func(_ context.Context, args *pulumi.ResourceTransformArgs) *pulumi.ResourceTransformResult {
		if args.Type != "kubernetes:apps/v1:Deployment" && args.Type != "kubernetes:batch/v1:Job" {
			return nil
		}
		if err := edit(args.Type, args.Props); err != nil {
			t.Errorf("transform of %s %s: %v", args.Type, args.Name, err)
			return nil
		}
		return &pulumi.ResourceTransformResult{Props: args.Props, Opts: args.Opts}
	}
}

// checkPolicyVariants: variants of the local stack that break a policy are
// refused by the engine in the preview that precedes every up, before any
// object exists; a waived violation passes and the waiver is reported.
func checkPolicyVariants(ctx context.Context, t *testing.T, tg target, img images) {
	asRoot := func(typ string, props pulumi.Map) error {
		if typ != "kubernetes:apps/v1:Deployment" {
			return nil
		}
		sc := []string{"spec", "template", "spec", "containers", "[0]", "securityContext"}
		if err := setIn(props, pulumi.Bool(false), append(sc, "runAsNonRoot")...); err != nil {
			return err
		}
		return setIn(props, pulumi.Int(0), append(sc, "runAsUser")...)
	}
	waived := func(policy string) func(string, pulumi.Map) error {
		return func(_ string, props pulumi.Map) error {
			until := time.Now().UTC().AddDate(0, 0, 30).Format(time.DateOnly)
			return setIn(props, pulumi.String(until+" platform suite: the waiver is reported"),
				"metadata", "annotations", rules.AnnotationPrefix+policy)
		}
	}
	registryTag := map[string]string{
		// The committed release by tag, from a registry that could move it.
		"gopherops:imageRepository": "ghcr.io/gopherops/gopherops",
		"gopherops:imageTag":        "0.1.0",
	}
	cases := []struct {
		name      string
		overrides map[string]string
		transform func(string, pulumi.Map) error
		policy    string
		waived    bool
	}{
		{name: "an image by tag from a registry", overrides: registryTag, policy: "k8s-image-digest"},
		{name: "a container as root", transform: asRoot, policy: "k8s-run-as-non-root"},
		{name: "a waived image by tag", overrides: registryTag, transform: waived("k8s-image-digest"), policy: "k8s-image-digest", waived: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			namespace := "gopherops-pv-" + strings.ToLower(random.UniqueID())
			overrides := map[string]string{"gopherops:namespace": namespace, "gopherops:skipAwait": "true"}
			// The images the suite deploys (accepted by the pack), unless
			// the variant replaces them.
			if img.repository != "" {
				overrides["gopherops:imageRepository"] = img.repository
				overrides["gopherops:imageTag"] = img.tag
			}
			if tg.node != nil {
				overrides["gopherops:postgresImage"] = tg.images.postgres
			}
			for k, v := range tc.overrides {
				overrides[k] = v
			}
			program := platform.Program()
			if tc.transform != nil {
				program = transformed(workloadTransform(t, tc.transform))
			}
			s := newStackOf(ctx, t, tg, overrides, program)
			start := time.Now()
			out, err := s.previewOutput(ctx, t)
			logger.Default.Logf(t, "preview of %s with the policy pack: %s", tc.name, time.Since(start).Round(100*time.Millisecond))
			deployment := "urn:pulumi:local::gopherops::gopherops:infra:App$kubernetes:apps/v1:Deployment::gopherops-local"
			if tc.waived {
				require.NoError(t, err, "a waived violation must pass:\n%s", out)
				assert.Contains(t, out, rules.Report, "the waiver is reported")
				assert.Contains(t, out, "waiver used: "+tc.policy+" waived until")
				assert.Contains(t, out, deployment)
			} else {
				require.Error(t, err, "the preview passed a variant with %s:\n%s", tc.name, out)
				assert.Contains(t, out, tc.policy, "the output names the policy")
				assert.Contains(t, out, deployment, "the output names the resource's URN")
				assert.Contains(t, out, "mandatory")
			}
			// A preview never creates anything: the variant's namespace and
			// its objects do not exist.
			c := kube.Connect(t, tg.kubeconfig, namespace)
			_, err = c.Client.CoreV1().Namespaces().Get(ctx, namespace, metav1.GetOptions{})
			assert.True(t, apierrors.IsNotFound(err), "namespace %s exists after a refused preview: %v", namespace, err)
			deps, err := c.Client.AppsV1().Deployments(namespace).List(ctx, metav1.ListOptions{})
			require.NoError(t, err)
			assert.Empty(t, deps.Items, "Deployments in %s", namespace)
		})
	}
}

// stateDigest hashes every file of the stack's file backend (state,
// backups, history), so that any write shows.
func stateDigest(t *testing.T, backend string) map[string]string {
	t.Helper()
	sums := map[string]string{}
	root := filepath.Join(backend, ".pulumi")
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if strings.HasPrefix(rel, "locks"+string(filepath.Separator)) {
			return nil // a lock held during the operation, removed after it
		}
		raw, err := os.ReadFile(path) //nolint:gosec // a file of the test's own backend
		if err != nil {
			return err
		}
		sum := sha256.Sum256(raw)
		sums[rel] = hex.EncodeToString(sum[:])
		return nil
	})
	require.NoError(t, err)
	require.NotEmpty(t, sums, "no state under %s", root)
	return sums
}

// checkDrift changes the deployed stack behind Pulumi's back (scale the
// Deployment, edit a NetworkPolicy, delete a Service), runs the drift check
// (which must report exactly those resources and properties and write
// nothing), repairs with `up --refresh` and checks again.
func checkDrift(ctx context.Context, t *testing.T, s *localStack, c *kube.Cluster, namespace string) {
	check := func(t *testing.T) *drift.Report {
		t.Helper()
		progress := kube.NewLogWriter(t, "drift: ")
		defer progress.Flush()
		start := time.Now()
		report, err := drift.Check(ctx, drift.Options{Stack: stackName, WorkDir: s.project.workDir, Env: s.project.env, Progress: progress, Pulumi: s.project.cmd})
		require.NoError(t, err, "drift check")
		logger.Default.Logf(t, "drift check of the local stack: %s wall, %s refresh preview, %d drifted, summary %v",
			time.Since(start).Round(100*time.Millisecond), report.Duration, len(report.Resources), report.Summary)
		return report
	}

	t.Run("a fresh stack has no drift", func(t *testing.T) {
		r := check(t)
		require.False(t, r.Drifted, "drift right after up: %+v", r.Resources)
	})

	before := stateDigest(t, s.project.backend())
	apps, core, netv1 := c.Client.AppsV1(), c.Client.CoreV1(), c.Client.NetworkingV1()
	update := metav1.UpdateOptions{FieldManager: fieldManager}
	scale, err := apps.Deployments(namespace).GetScale(ctx, appName, metav1.GetOptions{})
	require.NoError(t, err)
	declaredReplicas := scale.Spec.Replicas
	scale.Spec.Replicas = 0
	_, err = apps.Deployments(namespace).UpdateScale(ctx, appName, scale, update)
	require.NoError(t, err, "scale the Deployment")
	np, err := netv1.NetworkPolicies(namespace).Get(ctx, appName, metav1.GetOptions{})
	require.NoError(t, err)
	require.NotEmpty(t, np.Spec.Ingress, "the app's NetworkPolicy admits something")
	require.NotEmpty(t, np.Spec.Ingress[0].Ports)
	declaredPort := np.Spec.Ingress[0].Ports[0].Port.String()
	hand := intstr.FromInt32(2222)
	np.Spec.Ingress[0].Ports[0].Port = &hand
	_, err = netv1.NetworkPolicies(namespace).Update(ctx, np, update)
	require.NoError(t, err, "edit the NetworkPolicy")
	require.NoError(t, core.Services(namespace).Delete(ctx, metricsName, metav1.DeleteOptions{}), "delete the metrics Service")

	t.Run("the drift check reports exactly what changed", func(t *testing.T) {
		r := check(t)
		require.True(t, r.Drifted)
		got := map[string]string{}
		props := map[string][]string{}
		for _, res := range r.Resources {
			got[res.Type+" "+res.Name] = res.Change
			for _, p := range res.Properties {
				props[res.Type+" "+res.Name] = append(props[res.Type+" "+res.Name], p.Path)
			}
		}
		want := map[string]string{
			"kubernetes:apps/v1:Deployment gopherops-local":                 drift.Updated,
			"kubernetes:networking.k8s.io/v1:NetworkPolicy gopherops-local": drift.Updated,
			"kubernetes:core/v1:Service gopherops-local-metrics":            drift.Deleted,
		}
		assert.Equal(t, want, got, "drifted resources (properties %v)", props)
		assert.Equal(t, []string{"spec.replicas"}, props["kubernetes:apps/v1:Deployment gopherops-local"])
		npProps := props["kubernetes:networking.k8s.io/v1:NetworkPolicy gopherops-local"]
		assert.NotEmpty(t, npProps)
		for _, p := range npProps {
			assert.True(t, strings.HasPrefix(p, "spec.ingress[0].ports"), "NetworkPolicy property %s", p)
		}
		for _, res := range r.Resources {
			if res.Type == "kubernetes:apps/v1:Deployment" {
				require.Len(t, res.Properties, 1)
				assert.EqualValues(t, declaredReplicas, res.Properties[0].Declared)
				assert.EqualValues(t, 0, res.Properties[0].Live)
			}
		}
		var md bytes.Buffer
		require.NoError(t, r.WriteMarkdown(&md))
		for _, part := range []string{"spec.replicas", "gopherops-local-metrics", "gone", "3 resource(s) drifted"} {
			assert.Contains(t, md.String(), part)
		}
	})

	t.Run("the drift check wrote no state", func(t *testing.T) {
		assert.Equal(t, before, stateDigest(t, s.project.backend()), "the state files changed")
	})

	t.Run("up --refresh repairs it", func(t *testing.T) {
		// The program owns what it declares: force its fields back from the
		// manager that changed them (server-side apply would refuse the
		// conflict otherwise), as docs/guardrails.md says to.
		s.stack.Workspace().SetEnvVar("PULUMI_K8S_ENABLE_PATCH_FORCE", "true")
		defer s.stack.Workspace().UnsetEnvVar("PULUMI_K8S_ENABLE_PATCH_FORCE")
		progress := kube.NewLogWriter(t, "pulumi up --refresh: ")
		defer progress.Flush()
		start := time.Now()
		res, err := s.stack.Up(ctx, optup.Refresh(), optup.ProgressStreams(progress), optup.ErrorProgressStreams(progress),
			optup.Color("never"), optup.Message("gopherops platform suite: repair drift"), optup.PolicyPacks(s.policyPack))
		require.NoError(t, err, "pulumi up --refresh")
		logger.Default.Logf(t, "pulumi up --refresh: %v in %s", res.Summary.ResourceChanges, time.Since(start).Round(100*time.Millisecond))

		scale, err := apps.Deployments(namespace).GetScale(ctx, appName, metav1.GetOptions{})
		require.NoError(t, err)
		assert.Equal(t, declaredReplicas, scale.Spec.Replicas, "replicas back")
		np, err := netv1.NetworkPolicies(namespace).Get(ctx, appName, metav1.GetOptions{})
		require.NoError(t, err)
		assert.Equal(t, declaredPort, np.Spec.Ingress[0].Ports[0].Port.String(), "NetworkPolicy port back")
		_, err = core.Services(namespace).Get(ctx, metricsName, metav1.GetOptions{})
		assert.NoError(t, err, "metrics Service back")
	})

	t.Run("the next check is clean", func(t *testing.T) {
		r := check(t)
		assert.False(t, r.Drifted, "drift after the repair: %+v", r.Resources)
	})
}

// measurePolicyCost logs what the policy pack adds to a preview of the
// deployed stack: interleaved previews with and without it, medians.
func measurePolicyCost(ctx context.Context, t *testing.T, s *localStack) {
	rounds, _ := strconv.Atoi(os.Getenv(envPolicyRounds))
	if rounds <= 0 {
		return
	}
	var with, without []time.Duration
	for i := 0; i < rounds; i++ {
		for _, pack := range []bool{i%2 == 0, i%2 != 0} {
			opts := []optpreview.Option{optpreview.Color("never")}
			if pack {
				opts = append(opts, optpreview.PolicyPacks(s.policyPack))
			}
			start := time.Now()
			_, err := s.stack.Preview(ctx, opts...)
			require.NoError(t, err)
			if pack {
				with = append(with, time.Since(start))
			} else {
				without = append(without, time.Since(start))
			}
		}
	}
	median := func(ds []time.Duration) time.Duration {
		s := slices.Clone(ds)
		sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
		if len(s)%2 == 1 {
			return s[len(s)/2]
		}
		return (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	logger.Default.Logf(t, "preview of the local stack, %d interleaved rounds: with the policy pack median %s %v, without median %s %v: the pack adds %s",
		rounds, median(with).Round(time.Millisecond), with, median(without).Round(time.Millisecond), without,
		(median(with) - median(without)).Round(time.Millisecond))
}

// localImageNames are the suite's own image names (a .local repository no
// registry serves), for a cluster that runs no pod of them.
func localImageNames() images {
	return images{repository: imagebuild.GopherOpsRepository, tag: "platform-1", updateTag: "platform-2"}
}
