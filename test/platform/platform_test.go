//go:build platform

package platform

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gruntwork-io/terratest/modules/logger"
	"github.com/gruntwork-io/terratest/modules/random"
	"github.com/stretchr/testify/require"

	"github.com/gopherops/gopherops/test/internal/kube"
	"github.com/gopherops/gopherops/test/internal/stage"
	"github.com/gopherops/gopherops/test/journey"
)

// Stages (SKIP_<name> skips one, as with Terratest's test_structure).
const (
	stageDeploy   = "deploy"
	stageValidate = "validate"
	stageUpdate   = "update"
	// stageGuardrails: the policy pack refuses breaking variants and reports
	// waivers; drift is noticed without writing state, and repaired.
	stageGuardrails = "guardrails"
	stageDestroy    = "destroy"
)

// suiteTimeout bounds the whole run, leaving destroyReserve for the destroy.
const (
	suiteTimeout   = 25 * time.Minute
	destroyReserve = 5 * time.Minute
)

// TestLocalStackOnKubernetes deploys the local stack with the real engine
// and the policy pack, checks what the API server stored, rolls out a new
// image tag, checks the guardrails (refused variants, a reported waiver,
// drift noticed and repaired), and destroys the stack, checking that its
// namespace is gone.
func TestLocalStackOnKubernetes(t *testing.T) {
	tg := requireTarget(t)
	ctx, cancel := context.WithTimeout(context.Background(), suiteTimeout)
	defer cancel()

	namespace := "gopherops-pt-" + strings.ToLower(random.UniqueID())
	images := chooseImages(t)
	overrides := map[string]string{
		"gopherops:namespace": namespace,
		// Without a kubelet nothing becomes ready: only then is the await
		// logic switched off, through the stack's own setting.
		"gopherops:skipAwait": strconv.FormatBool(!tg.podsRun()),
	}
	if tg.node != nil {
		// The suite's own node: the images built here, imported into it.
		images.repository, images.tag, images.updateTag = tg.images.repository, tg.images.tag, tg.images.updateTag
		overrides["gopherops:postgresImage"] = tg.images.postgres
	}
	if images.repository == "" {
		// No image the cluster can run: pods are admitted but never start,
		// so the names only have to pass the policy pack, which accepts a
		// tag for a node-local (.local) image on the local stack.
		images = localImageNames()
	}
	overrides["gopherops:imageRepository"] = images.repository
	overrides["gopherops:imageTag"] = images.tag
	s := newLocalStack(ctx, t, tg, overrides)
	logger.Default.Logf(t, "namespace %s, image %s, then %s; pods run: %v", namespace, images.ref(), images.updateRef(), tg.podsRun())
	c := kube.Connect(t, tg.kubeconfig, namespace)
	cfg := s.stackConfig(ctx, t)

	// The destroy is registered before anything exists, with its own time.
	defer stage.Run(t, stageDestroy, func() {
		dctx, dcancel := context.WithTimeout(context.Background(), destroyReserve)
		defer dcancel()
		s.destroy(dctx, t)
		validateDestroyed(dctx, t, c, namespace)
	})
	defer func() {
		if t.Failed() {
			dctx, dcancel := context.WithTimeout(context.Background(), time.Minute)
			defer dcancel()
			kube.Diagnose(dctx, t, c, appName)
		}
	}()

	var before snapshot
	var urls serverURLs
	var admin journey.Credentials
	stage.Run(t, stageDeploy, func() {
		changes := s.up(ctx, t, "create")
		require.Positive(t, changes["create"], "the first up creates the stack's objects")
	})
	stage.Run(t, stageValidate, func() {
		t.Run("outputs", func(t *testing.T) { validateOutputs(t, s.outputs(ctx, t), namespace) })
		before = validateDeployed(ctx, t, c, tg, cfg, images.ref())
		if tg.podsRun() {
			t.Run("service journeys on the pods", func(t *testing.T) {
				ready := kube.ReadyPods(ctx, t, c, serverPods)
				require.NotEmpty(t, ready, "a ready server pod")
				urls = reachServer(ctx, t, c, ready[0])
				admin = walkJourneys(ctx, t, c, urls, ready[0], versionOf(tg, images))
			})
		} else {
			t.Run("service journeys on the pods", func(t *testing.T) { t.Skip("no pods run here: " + tg.whyNoPods()) })
		}
		if tg.node != nil {
			logger.Default.Logf(t, "the NetworkPolicies are stored and checked above, but not enforced: the node's bridge CNI plugin has no policy engine")
		}
		t.Run("a second run changes nothing", func(t *testing.T) {
			plan := s.preview(ctx, t)
			for op, n := range plan {
				if op != "same" && n > 0 {
					t.Errorf("preview right after up plans %d %s operations (%v): the program does not converge", n, op, plan)
				}
			}
		})
	})
	stage.Run(t, stageUpdate, func() {
		// With pods running, requests flow through the Service during the
		// whole rollout: maxUnavailable 0, readiness and the drain on
		// SIGTERM must keep every one of them answered.
		var loop *requestLoop
		if tg.podsRun() && urls.serviceBase != "" {
			loop = startRequestLoop(t, urls.serviceBase, journey.SignIn(t, urls.serviceBase, admin).Token)
			defer loop.stop() // also when a check below stops the test early
		}
		s.setConfig(ctx, t, "gopherops:imageTag", images.updateTag)
		changes := s.up(ctx, t, "new image tag "+images.updateTag)
		require.Zero(t, changes["delete"], "a new image deletes nothing but the old migration Job (a replacement)")
		validateUpdated(ctx, t, c, tg, images.ref(), images.updateRef(), before)
		if loop != nil {
			t.Run("no request fails during the rollout", func(t *testing.T) {
				ok, failed, first := loop.finish()
				logger.Default.Logf(t, "request loop through the Service during the rollout: %d answered, %d failed", ok, failed)
				require.Positive(t, ok, "requests were answered during the rollout")
				require.Zero(t, failed, "failed requests during the rollout, first ones:\n%s", strings.Join(first, "\n"))
			})
		}
	})
	stage.Run(t, stageGuardrails, func() {
		t.Run("policy pack", func(t *testing.T) { checkPolicyVariants(ctx, t, tg, images) })
		t.Run("drift", func(t *testing.T) { checkDrift(ctx, t, s, c, namespace) })
		measurePolicyCost(ctx, t, s)
	})
}

// images are the tags the suite deploys and then rolls out.
type images struct {
	repository, tag, updateTag string
}

func (i images) ref() string       { return i.repository + ":" + i.tag }
func (i images) updateRef() string { return i.repository + ":" + i.updateTag }

// chooseImages reads GOPHEROPS_PLATFORM_IMAGE and _UPDATE_IMAGE (two tags of
// one repository); without them the suite's own image names are deployed
// and rolled out, which only an API server without kubelet accepts as
// meaningful.
func chooseImages(t *testing.T) images {
	t.Helper()
	first, second := os.Getenv(envImage), os.Getenv(envUpdateImage)
	if first == "" && second == "" {
		return images{}
	}
	require.True(t, first != "" && second != "", "set both %s and %s, or neither", envImage, envUpdateImage)
	repo1, tag1, ok1 := splitRef(first)
	repo2, tag2, ok2 := splitRef(second)
	require.True(t, ok1 && ok2 && repo1 == repo2 && tag1 != tag2, "%s and %s must be two tags of one repository, got %q and %q", envImage, envUpdateImage, first, second)
	return images{repository: repo1, tag: tag1, updateTag: tag2}
}

// splitRef splits repository:tag at the last colon after the last slash.
func splitRef(ref string) (repo, tag string, ok bool) {
	i := strings.LastIndex(ref, ":")
	if i <= strings.LastIndex(ref, "/") {
		return "", "", false
	}
	return ref[:i], ref[i+1:], true
}

// versionOf is the version the deployed image reports: the tag of an image
// built here (its buildinfo carries it), else GOPHEROPS_PLATFORM_VERSION.
func versionOf(tg target, img images) string {
	if tg.node != nil {
		return img.tag
	}
	return os.Getenv("GOPHEROPS_PLATFORM_VERSION")
}

// whyNoPods says why the suite's pods do not run.
func (tg target) whyNoPods() string {
	if tg.noNode != "" {
		return tg.noNode
	}
	return "a cluster from KUBECONFIG without " + envImage + " and " + envUpdateImage
}
