//go:build live

package infra

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gruntwork-io/terratest/modules/k8s"
	"github.com/gruntwork-io/terratest/modules/logger"
	"github.com/gruntwork-io/terratest/modules/random"
	test_structure "github.com/gruntwork-io/terratest/modules/test-structure"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"

	"github.com/gopherops/gopherops/test/internal/kube"
	"github.com/gopherops/gopherops/test/internal/repo"
	"github.com/gopherops/gopherops/test/internal/stage"
	"github.com/gopherops/gopherops/test/journey"
)

// Stages; set SKIP_<stage> to skip one (SKIP_destroy keeps the stack for the
// next run, which then sets SKIP_deploy).
const (
	stageDeploy   = "deploy"
	stageValidate = "validate"
	stageRestore  = "restore"
	stageDestroy  = "destroy"
)

// destroyReserve is the part of the test's -timeout kept for destroying the
// stack: deploy and validate give up in time for it, so a slow run never
// ends in a panic that leaves the stack behind.
const destroyReserve = 35 * time.Minute

// appReadyTimeout covers the load balancer's registration and DNS.
const appReadyTimeout = 15 * time.Minute

// TestLiveStack deploys a throwaway stack of the repository's Pulumi project,
// validates the AWS resources, the cluster and the service's journeys, and
// destroys it.
func TestLiveStack(t *testing.T) {
	env := requireLive(t)
	root := repo.MustRoot(t)
	workDir, err := os.Getwd()
	require.NoError(t, err)

	stackName := os.Getenv("GOPHEROPS_STACK") // CI names the stack after its run
	switch {
	case test_structure.IsTestDataPresent(t, test_structure.FormatTestDataPath(workDir, "stackName.json")):
		stackName = test_structure.LoadString(t, workDir, "stackName")
	case stackName == "":
		stackName = "test-" + strings.ToLower(random.UniqueID())
	}
	test_structure.SaveString(t, workDir, "stackName", stackName)
	logger.Default.Logf(t, "stack %s in %s (account %s)", stackName, env.Region, env.Account)

	// Destroy is registered before anything exists, and has its own time.
	defer test_structure.RunTestStage(t, stageDestroy, func() {
		ctx, cancel := destroyContext(t)
		defer cancel()
		destroy(ctx, t, root, stackName)
		if !t.Failed() {
			test_structure.CleanupTestDataFolder(t, workDir)
		}
	})
	defer func() {
		if !t.Failed() {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		out, err := readOutputsE(ctx, root, stackName)
		if err != nil {
			logger.Default.Logf(t, "no diagnostics from the cluster: %v", err)
			return
		}
		kube.Diagnose(ctx, t, connect(t, out), appName)
	}()

	test_structure.RunTestStage(t, stageDeploy, func() {
		ctx, cancel := contextBefore(t, destroyReserve)
		defer cancel()
		deploy(ctx, t, root, stackName, env)
	})

	test_structure.RunTestStage(t, stageValidate, func() {
		ctx, cancel := contextBefore(t, destroyReserve)
		defer cancel()
		out := readOutputs(ctx, t, root, stackName)
		c := connect(t, out)
		var pods []corev1.Pod

		t.Run("database", func(t *testing.T) { validateDatabase(ctx, t, env.Region, out) })
		t.Run("bucket", func(t *testing.T) { validateBucket(ctx, t, env.Region, out) })
		t.Run("workload", func(t *testing.T) { pods = validateWorkload(ctx, t, c, out) })
		t.Run("network policies", func(t *testing.T) { validateNetworkPolicies(ctx, t, c) })
		t.Run("IRSA role", func(t *testing.T) {
			sa, err := k8s.GetServiceAccountContextE(t, ctx, c.Opts, appName)
			require.NoError(t, err)
			validateIRSA(ctx, t, env.Region, out.Namespace, sa.Annotations[irsaKey])
		})
		require.NotEmpty(t, pods, "no ready server pod to run the journeys against")
		t.Run("CI roles' access entries", func(t *testing.T) { validateAccessEntries(ctx, t, c, env, out.Namespace) })
		t.Run("image through the ECR mirror", func(t *testing.T) { validateImageRoute(ctx, t, pods, env, out, stackName) })
		t.Run("NetworkPolicies refuse blocked traffic", func(t *testing.T) { validateBlockedTraffic(ctx, t, c, out) })
		t.Run("HPA reports metrics", func(t *testing.T) { validateHPAMetrics(ctx, t, c) })
		t.Run("client address reaches the logs", func(t *testing.T) {
			journey.WaitReady(t, out.AppURL, appReadyTimeout)
			validateClientAddress(ctx, t, c, out)
		})

		t.Run("journeys", func(t *testing.T) {
			admin := liveAdmin(ctx, t, c, workDir, pods[0])
			journey.WaitReady(t, out.AppURL, appReadyTimeout)
			journey.All(t, &journey.Target{
				BaseURL:   out.AppURL,
				AdminURLs: metricsTunnels(t, c, pods),
				Admin:     admin,
				Version:   os.Getenv("GOPHEROPS_LIVE_VERSION"),
			})
		})
	})

	// The recovery drill of docs/recovery.md: a point-in-time restore into
	// a new instance, the journeys on it, the RTO measured.
	test_structure.RunTestStage(t, stageRestore, func() {
		ctx, cancel := contextBefore(t, destroyReserve)
		defer cancel()
		var admin journey.Credentials
		require.NoError(t, stage.LoadE(workDir, "admin", &admin), "the admin the validate stage created")
		drillPointInTimeRestore(ctx, t, root, stackName, env, admin)
	})
}

// liveAdmin returns the stack's root admin, creating it in a pod on the first
// validation of a stack (credentials kept in .test-data for later runs).
func liveAdmin(ctx context.Context, t *testing.T, c *cluster, workDir string, pod corev1.Pod) journey.Credentials {
	t.Helper()
	var admin journey.Credentials
	if err := stage.LoadE(workDir, "admin", &admin); err == nil {
		return admin
	}
	admin = journey.Credentials{Login: "root-" + random.UniqueID(), Password: journey.NewPassword()}
	kube.CreateAdmin(ctx, t, c, pod, appName, admin)
	stage.Save(t, workDir, "admin", admin)
	return admin
}

// destroyContext is a context for destroying the stack: whatever the test's
// deadline leaves, less a minute to report.
func destroyContext(t *testing.T) (context.Context, context.CancelFunc) {
	deadline, ok := t.Deadline()
	if !ok {
		return context.WithCancel(context.Background())
	}
	return context.WithDeadline(context.Background(), deadline.Add(-time.Minute))
}

// contextBefore is a context that ends reserve before the test's deadline
// (-timeout), or never when there is none.
func contextBefore(t *testing.T, reserve time.Duration) (context.Context, context.CancelFunc) {
	deadline, ok := t.Deadline()
	if !ok {
		return context.WithCancel(context.Background())
	}
	if time.Until(deadline) < reserve {
		t.Fatalf("-timeout leaves %s, less than the %s this stage must keep for destroying the stack: run with -timeout 120m (make test-live)",
			time.Until(deadline).Round(time.Second), reserve)
	}
	return context.WithDeadline(context.Background(), deadline.Add(-reserve))
}
