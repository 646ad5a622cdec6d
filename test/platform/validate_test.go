//go:build platform

package platform

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/gruntwork-io/terratest/modules/k8s"
	"github.com/gruntwork-io/terratest/modules/retry"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/gopherops/gopherops/infra/app"
	"github.com/gopherops/gopherops/infra/config"
	"github.com/gopherops/gopherops/test/internal/kube"
)

// Names the app component gives its objects (infra/app, infra/platform).
const (
	appName       = "gopherops"
	metricsName   = "gopherops-metrics"
	postgresName  = "gopherops-postgres"
	postgresPod   = "gopherops-postgres-0"
	postgresClaim = "data-gopherops-postgres-0"
	blobClaim     = "gopherops-blobs"
	serverPods    = "app.kubernetes.io/name=gopherops,app.kubernetes.io/component=server"
	revisionKey   = "deployment.kubernetes.io/revision"
)

// snapshot is what an image update must leave untouched.
type snapshot struct {
	namespaceUID, statefulSetUID, databaseClaimUID, blobClaimUID types.UID
	databasePassword                                             string
}

func validateOutputs(t *testing.T, out map[string]string, namespace string) {
	assert.Equal(t, namespace, out["namespace"], "output namespace")
	assert.Equal(t, "http://"+appName+"."+namespace+".svc", out["appUrl"], "output appUrl (ClusterIP: in-cluster address)")
	assert.Equal(t, postgresName+"."+namespace+".svc", out["dbEndpoint"], "output dbEndpoint")
}

// validateDeployed checks every object of the stack as the API server
// stored it (defaults filled in, admission applied), and what the
// controllers made of it.
func validateDeployed(ctx context.Context, t *testing.T, c *kube.Cluster, tg target, cfg *config.Config, image string) snapshot {
	var snap snapshot
	ns := c.Opts.Namespace

	t.Run("namespace enforces Pod Security restricted", func(t *testing.T) {
		n, err := k8s.GetNamespaceContextE(t, ctx, c.Opts, ns)
		require.NoError(t, err)
		for _, mode := range []string{"enforce", "audit", "warn"} {
			assert.Equal(t, "restricted", n.Labels["pod-security.kubernetes.io/"+mode], "pod-security %s", mode)
		}
		snap.namespaceUID = n.UID
	})

	var dep *appsv1.Deployment
	t.Run("deployment", func(t *testing.T) {
		var err error
		dep, err = k8s.GetDeploymentContextE(t, ctx, c.Opts, appName)
		require.NoError(t, err)
		spec := dep.Spec.Template.Spec
		kube.CheckPodSpecHardening(t, "deployment", spec)
		ctr := container(t, spec, app.ContainerName)
		assert.Equal(t, image, ctr.Image)
		assert.Equal(t, []string{"serve"}, ctr.Args)
		assert.Equal(t, appsv1.RollingUpdateDeploymentStrategyType, dep.Spec.Strategy.Type)
		assert.Equal(t, "0", dep.Spec.Strategy.RollingUpdate.MaxUnavailable.String(), "a rollout never drops below the ready count")
		// A fixed count (min = max) is declared; a range is the HPA's, and
		// starts from the API server's default of 1.
		want := int32(1)
		if cfg.App.MinReplicas == cfg.App.MaxReplicas {
			want = int32(cfg.App.MinReplicas)
		}
		assert.Equal(t, want, *dep.Spec.Replicas, "replicas")
		require.NotNil(t, ctr.ReadinessProbe)
		assert.Equal(t, "/readyz", ctr.ReadinessProbe.HTTPGet.Path)
		assert.Equal(t, "/healthz", ctr.LivenessProbe.HTTPGet.Path)
		assert.Equal(t, "/healthz", ctr.StartupProbe.HTTPGet.Path)
		assert.Equal(t, cfg.App.MemoryLimit, ctr.Resources.Limits.Memory().String())
		assert.Equal(t, appName, spec.ServiceAccountName)
		require.NotNil(t, spec.TerminationGracePeriodSeconds)
		assert.Greater(t, *spec.TerminationGracePeriodSeconds, int64(20), "the grace period covers the drain")
		env := envByName(ctr)
		assert.Equal(t, "production", env["APP_ENV"].Value)
		assert.Equal(t, "false", env["MIGRATE_ON_START"].Value, "migrations run in the Job only")
		assert.Equal(t, "file://"+app.BlobMountPath, env["BLOB_STORE"].Value)
		requireSecretRef(t, env["PGPASSWORD"], postgresName, app.PostgresPasswordKey)
		require.NotNil(t, env["DATABASE_URL"].ValueFrom, "DATABASE_URL comes from a Secret")
		require.NotNil(t, env["SESSION_KEY"].ValueFrom, "SESSION_KEY comes from a Secret")
		claimed := false
		for _, v := range spec.Volumes {
			claimed = claimed || (v.PersistentVolumeClaim != nil && v.PersistentVolumeClaim.ClaimName == blobClaim)
		}
		assert.True(t, claimed, "the pods mount the blob claim")
	})

	t.Run("workload secrets", func(t *testing.T) {
		if dep == nil {
			t.Skip("no deployment")
		}
		envSecret := container(t, dep.Spec.Template.Spec, app.ContainerName)
		ref := envByName(envSecret)["DATABASE_URL"].ValueFrom.SecretKeyRef
		s, err := k8s.GetSecretContextE(t, ctx, c.Opts, ref.Name)
		require.NoError(t, err)
		dbURL, err := url.Parse(string(s.Data["DATABASE_URL"]))
		require.NoError(t, err, "DATABASE_URL parses")
		_, hasPassword := dbURL.User.Password()
		assert.False(t, hasPassword, "DATABASE_URL carries no password (PGPASSWORD comes from the database Secret)")
		assert.Equal(t, postgresName+"."+ns+".svc:5432", dbURL.Host)
		assert.GreaterOrEqual(t, len(s.Data["SESSION_KEY"]), 44, "a 32-byte base64 session key")

		db, err := k8s.GetSecretContextE(t, ctx, c.Opts, postgresName)
		require.NoError(t, err)
		snap.databasePassword = string(db.Data[app.PostgresPasswordKey])
		assert.GreaterOrEqual(t, len(snap.databasePassword), 43, "a generated 32-byte password")
	})

	t.Run("migration job", func(t *testing.T) {
		job, err := k8s.GetJobContextE(t, ctx, c.Opts, app.JobName(appName, image))
		require.NoError(t, err, "the Job is named for its image")
		spec := job.Spec.Template.Spec
		kube.CheckPodSpecHardening(t, "job", spec)
		ctr := container(t, spec, app.ContainerName)
		assert.Equal(t, image, ctr.Image)
		assert.Equal(t, []string{"migrate", "up"}, ctr.Args)
		assert.Equal(t, corev1.RestartPolicyNever, spec.RestartPolicy)
		requireSecretRef(t, envByName(ctr)["PGPASSWORD"], postgresName, app.PostgresPasswordKey)
		require.NotNil(t, job.Spec.TTLSecondsAfterFinished)
		require.NotNil(t, job.Spec.ActiveDeadlineSeconds)
	})

	t.Run("database", func(t *testing.T) {
		ss, err := c.Client.AppsV1().StatefulSets(ns).Get(ctx, postgresName, metav1.GetOptions{})
		require.NoError(t, err)
		snap.statefulSetUID = ss.UID
		kube.CheckPodSpecHardening(t, "statefulset", ss.Spec.Template.Spec)
		assert.Equal(t, int64(app.PostgresUser), *ss.Spec.Template.Spec.SecurityContext.RunAsUser)
		require.Len(t, ss.Spec.VolumeClaimTemplates, 1)
		assert.Equal(t, cfg.Local.PostgresStorageSize, ss.Spec.VolumeClaimTemplates[0].Spec.Resources.Requests.Storage().String())
		require.NotNil(t, ss.Spec.PersistentVolumeClaimRetentionPolicy)
		assert.Equal(t, appsv1.DeletePersistentVolumeClaimRetentionPolicyType, ss.Spec.PersistentVolumeClaimRetentionPolicy.WhenDeleted)
		svc, err := k8s.GetServiceContextE(t, ctx, c.Opts, postgresName)
		require.NoError(t, err)
		assert.Equal(t, corev1.ClusterIPNone, svc.Spec.ClusterIP, "a headless Service governs the StatefulSet")
		// The StatefulSet controller made the volume claim from the template.
		pvc := eventually(t, "the database's claim", func() (*corev1.PersistentVolumeClaim, error) {
			return k8s.GetPersistentVolumeClaimContextE(t, ctx, c.Opts, postgresClaim)
		})
		snap.databaseClaimUID = pvc.UID
	})

	t.Run("blob claim", func(t *testing.T) {
		pvc, err := k8s.GetPersistentVolumeClaimContextE(t, ctx, c.Opts, blobClaim)
		require.NoError(t, err)
		assert.Equal(t, cfg.Local.BlobStorageSize, pvc.Spec.Resources.Requests.Storage().String())
		assert.Contains(t, pvc.Spec.AccessModes, corev1.ReadWriteOnce)
		snap.blobClaimUID = pvc.UID
	})

	t.Run("service accounts mount no token", func(t *testing.T) {
		for _, name := range []string{appName, postgresName} {
			sa, err := k8s.GetServiceAccountContextE(t, ctx, c.Opts, name)
			require.NoError(t, err)
			assert.False(t, sa.AutomountServiceAccountToken == nil || *sa.AutomountServiceAccountToken, "ServiceAccount %s", name)
		}
	})

	t.Run("services", func(t *testing.T) {
		svc, err := k8s.GetServiceContextE(t, ctx, c.Opts, appName)
		require.NoError(t, err)
		assert.Equal(t, corev1.ServiceType(cfg.Local.ServiceType), svc.Spec.Type)
		require.Len(t, svc.Spec.Ports, 1)
		assert.Equal(t, int32(80), svc.Spec.Ports[0].Port)
		assert.Equal(t, "http", svc.Spec.Ports[0].TargetPort.String())
		assert.NotEmpty(t, svc.Spec.ClusterIP, "the API server allocated a cluster IP")
		metrics, err := k8s.GetServiceContextE(t, ctx, c.Opts, metricsName)
		require.NoError(t, err)
		assert.Equal(t, corev1.ServiceTypeClusterIP, metrics.Spec.Type, "metrics stay inside the cluster")
		assert.Equal(t, int32(app.AdminPort), metrics.Spec.Ports[0].Port)
	})

	t.Run("autoscaling and disruption budget", func(t *testing.T) {
		hpa, err := c.Client.AutoscalingV2().HorizontalPodAutoscalers(ns).Get(ctx, appName, metav1.GetOptions{})
		if cfg.App.MinReplicas == cfg.App.MaxReplicas {
			// A fixed count has no HPA: it could not scale, only fight.
			require.True(t, apierrors.IsNotFound(err), "an HPA for a fixed replica count: %v", err)
		} else {
			require.NoError(t, err)
			assert.Equal(t, cfg.App.MinReplicas, int(*hpa.Spec.MinReplicas))
			assert.Equal(t, cfg.App.MaxReplicas, int(hpa.Spec.MaxReplicas))
			assert.Equal(t, appName, hpa.Spec.ScaleTargetRef.Name)
		}
		pdb, err := c.Client.PolicyV1().PodDisruptionBudgets(ns).Get(ctx, appName, metav1.GetOptions{})
		require.NoError(t, err)
		assert.Equal(t, "1", pdb.Spec.MaxUnavailable.String())
	})

	t.Run("network policies", func(t *testing.T) { validateNetworkPolicies(ctx, t, c) })

	t.Run("pod security admission", func(t *testing.T) {
		// A root pod is refused by the namespace's label, server-side...
		root := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "root-probe", Namespace: ns},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
		}
		_, err := c.Client.CoreV1().Pods(ns).Create(ctx, root, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		require.Error(t, err, "a pod without any hardening is admitted into the namespace")
		assert.Contains(t, err.Error(), "violates PodSecurity \"restricted:latest\"")
		// ...while the controllers' pods, built from the stored templates,
		// were admitted: the workloads pass "restricted" for real.
		for what, selector := range map[string]string{
			"server":    serverPods,
			"migration": "job-name=" + app.JobName(appName, image),
			"database":  "statefulset.kubernetes.io/pod-name=" + postgresPod,
		} {
			require.NoError(t, k8s.WaitUntilNumPodsCreatedContextE(t, ctx, c.Opts, metav1.ListOptions{LabelSelector: selector}, 1, 60, time.Second),
				"the controller of the %s pods created one (admission would have refused a non-compliant pod)", what)
		}
	})

	if tg.podsRun() {
		t.Run("pods run", func(t *testing.T) {
			require.NoError(t, k8s.WaitUntilJobSucceedContextE(t, ctx, c.Opts, app.JobName(appName, image), 60, 5*time.Second))
			require.NoError(t, k8s.WaitUntilDeploymentAvailableContextE(t, ctx, c.Opts, appName, 60, 5*time.Second))
			pods, err := k8s.ListPodsContextE(t, ctx, c.Opts, metav1.ListOptions{LabelSelector: serverPods})
			require.NoError(t, err)
			require.NotEmpty(t, pods)
			for _, p := range pods {
				kube.CheckPodSecurity(t, p)
			}
			pvc, err := k8s.GetPersistentVolumeClaimContextE(t, ctx, c.Opts, blobClaim)
			require.NoError(t, err)
			assert.Equal(t, corev1.ClaimBound, pvc.Status.Phase, "the blob claim is bound")
		})
	}
	return snap
}

// validateNetworkPolicies: default deny; the app admits HTTP from anywhere,
// the admin port from the monitoring namespace, and reaches PostgreSQL only
// at the database pods; the database admits only the app's pods.
func validateNetworkPolicies(ctx context.Context, t *testing.T, c *kube.Cluster) {
	deny, err := k8s.GetNetworkPolicyContextE(t, ctx, c.Opts, "default-deny")
	require.NoError(t, err)
	assert.Empty(t, deny.Spec.PodSelector.MatchLabels, "default-deny selects every pod")
	assert.ElementsMatch(t, []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress}, deny.Spec.PolicyTypes)
	assert.Empty(t, deny.Spec.Ingress)
	assert.Empty(t, deny.Spec.Egress)

	ss, err := c.Client.AppsV1().StatefulSets(c.Opts.Namespace).Get(ctx, postgresName, metav1.GetOptions{})
	require.NoError(t, err)
	dbPods := ss.Spec.Template.Labels

	np, err := k8s.GetNetworkPolicyContextE(t, ctx, c.Opts, appName)
	require.NoError(t, err)
	assert.False(t, matches(np.Spec.PodSelector, dbPods), "the app's policy does not select the database pods")
	ingress := map[int32][]networkingv1.NetworkPolicyPeer{}
	for _, rule := range np.Spec.Ingress {
		for _, p := range rule.Ports {
			ingress[p.Port.IntVal] = rule.From
		}
	}
	assert.Contains(t, ingress, int32(app.HTTPPort), "HTTP is admitted")
	if from := ingress[app.AdminPort]; assert.NotEmpty(t, from, "the admin port is not open to everyone") {
		assert.NotNil(t, from[0].NamespaceSelector, "the admin port admits the monitoring namespace")
	}
	dbEgress := false
	for _, rule := range np.Spec.Egress {
		for _, p := range rule.Ports {
			if p.Port.IntVal == app.PostgresPort {
				dbEgress = len(rule.To) > 0 && rule.To[0].PodSelector != nil && matches(*rule.To[0].PodSelector, dbPods)
			}
		}
	}
	assert.True(t, dbEgress, "the app reaches PostgreSQL only at the database pods")

	db, err := k8s.GetNetworkPolicyContextE(t, ctx, c.Opts, postgresName)
	require.NoError(t, err)
	assert.True(t, matches(db.Spec.PodSelector, dbPods), "the database policy selects the database pods")
	require.Len(t, db.Spec.Ingress, 1)
	require.Len(t, db.Spec.Ingress[0].From, 1)
	from := db.Spec.Ingress[0].From[0].PodSelector
	require.NotNil(t, from)
	assert.Equal(t, appName, from.MatchLabels["app.kubernetes.io/name"], "only the app's pods may connect")
	assert.Empty(t, db.Spec.Egress, "the database connects nowhere")
	assert.Contains(t, db.Spec.PolicyTypes, networkingv1.PolicyTypeEgress)
}

// validateUpdated checks a rollout to a new image: a new ReplicaSet with
// the new image, a new migration Job (the old one replaced), and nothing
// stateful recreated.
func validateUpdated(ctx context.Context, t *testing.T, c *kube.Cluster, tg target, oldImage, newImage string, before snapshot) {
	ns := c.Opts.Namespace
	t.Run("rolling update", func(t *testing.T) {
		dep := eventually(t, "the deployment controller observed the new template", func() (*appsv1.Deployment, error) {
			d, err := k8s.GetDeploymentContextE(t, ctx, c.Opts, appName)
			if err == nil && d.Status.ObservedGeneration < d.Generation {
				err = fmt.Errorf("observed generation %d of %d", d.Status.ObservedGeneration, d.Generation)
			}
			return d, err
		})
		assert.Equal(t, newImage, container(t, dep.Spec.Template.Spec, app.ContainerName).Image)
		assert.Equal(t, "2", dep.Annotations[revisionKey], "the second revision")
		sets, err := k8s.ListReplicaSetsContextE(t, ctx, c.Opts, metav1.ListOptions{LabelSelector: serverPods})
		require.NoError(t, err)
		byImage := map[string]appsv1.ReplicaSet{}
		for _, rs := range sets {
			byImage[container(t, rs.Spec.Template.Spec, app.ContainerName).Image] = rs
		}
		imagesSeen := make([]string, 0, len(byImage))
		for img := range byImage {
			imagesSeen = append(imagesSeen, img)
		}
		require.Contains(t, imagesSeen, oldImage, "the old ReplicaSet is kept (revision history)")
		require.Contains(t, imagesSeen, newImage, "the deployment controller created a ReplicaSet for the new image")
		assert.Equal(t, "2", byImage[newImage].Annotations[revisionKey])
		assert.GreaterOrEqual(t, *byImage[newImage].Spec.Replicas, int32(1), "the new ReplicaSet is scaled up")
		require.NoError(t, k8s.WaitUntilNumPodsCreatedContextE(t, ctx, c.Opts,
			metav1.ListOptions{LabelSelector: serverPods + ",pod-template-hash=" + byImage[newImage].Labels["pod-template-hash"]}, 1, 60, time.Second),
			"a pod of the new image was admitted")
		if !tg.podsRun() {
			// maxUnavailable 0: without ready new pods the old one stays.
			assert.Equal(t, int32(1), *byImage[oldImage].Spec.Replicas, "the old ReplicaSet keeps serving until the new pods are ready")
			return
		}
		require.NoError(t, k8s.WaitUntilDeploymentAvailableContextE(t, ctx, c.Opts, appName, 60, 5*time.Second))
		done := eventually(t, "the rollout completes", func() (*appsv1.Deployment, error) {
			d, err := k8s.GetDeploymentContextE(t, ctx, c.Opts, appName)
			if err == nil && (d.Status.UpdatedReplicas != *d.Spec.Replicas || d.Status.Replicas != d.Status.UpdatedReplicas || d.Status.AvailableReplicas != d.Status.Replicas) {
				err = fmt.Errorf("updated %d, total %d, available %d", d.Status.UpdatedReplicas, d.Status.Replicas, d.Status.AvailableReplicas)
			}
			return d, err
		})
		assert.Equal(t, *done.Spec.Replicas, done.Status.ReadyReplicas)
		old, err := c.Client.AppsV1().ReplicaSets(ns).Get(ctx, byImage[oldImage].Name, metav1.GetOptions{})
		require.NoError(t, err)
		assert.Equal(t, int32(0), *old.Spec.Replicas, "the old ReplicaSet is scaled to zero")
	})

	t.Run("new migration job", func(t *testing.T) {
		job, err := k8s.GetJobContextE(t, ctx, c.Opts, app.JobName(appName, newImage))
		require.NoError(t, err, "a Job for the new image")
		assert.Equal(t, newImage, container(t, job.Spec.Template.Spec, app.ContainerName).Image)
		gone(t, "the old image's Job", func() error {
			_, err := k8s.GetJobContextE(t, ctx, c.Opts, app.JobName(appName, oldImage))
			return err
		})
		if tg.podsRun() {
			require.NoError(t, k8s.WaitUntilJobSucceedContextE(t, ctx, c.Opts, job.Name, 60, 5*time.Second))
		}
	})

	t.Run("state survives", func(t *testing.T) {
		n, err := k8s.GetNamespaceContextE(t, ctx, c.Opts, ns)
		require.NoError(t, err)
		assert.Equal(t, before.namespaceUID, n.UID, "the namespace is the same object")
		ss, err := c.Client.AppsV1().StatefulSets(ns).Get(ctx, postgresName, metav1.GetOptions{})
		require.NoError(t, err)
		assert.Equal(t, before.statefulSetUID, ss.UID, "the database is not recreated")
		for name, uid := range map[string]types.UID{postgresClaim: before.databaseClaimUID, blobClaim: before.blobClaimUID} {
			pvc, err := k8s.GetPersistentVolumeClaimContextE(t, ctx, c.Opts, name)
			require.NoError(t, err)
			assert.Equal(t, uid, pvc.UID, "claim %s is the same volume", name)
		}
		db, err := k8s.GetSecretContextE(t, ctx, c.Opts, postgresName)
		require.NoError(t, err)
		// The program generated a new password on this run too; the stored
		// one must win, or PostgreSQL (initialised with it) locks the app out.
		assert.Equal(t, before.databasePassword, string(db.Data[app.PostgresPasswordKey]), "the database password is kept")
	})
}

// validateDestroyed waits for the namespace, and with it everything in it,
// to be gone.
func validateDestroyed(ctx context.Context, t *testing.T, c *kube.Cluster, namespace string) {
	gone(t, "namespace "+namespace, func() error {
		_, err := k8s.GetNamespaceContextE(t, ctx, c.Opts, namespace)
		return err
	})
}

// eventually retries get for up to a minute until it succeeds.
func eventually[T any](t *testing.T, what string, get func() (T, error)) T {
	t.Helper()
	var out T
	retry.DoWithRetryContext(t, context.Background(), what, 60, time.Second, func() (string, error) {
		v, err := get()
		if err != nil {
			return "", err
		}
		out = v
		return "", nil
	})
	return out
}

// gone retries for up to three minutes until get reports NotFound.
func gone(t *testing.T, what string, get func() error) {
	t.Helper()
	retry.DoWithRetryContext(t, context.Background(), what+" is deleted", 90, 2*time.Second, func() (string, error) {
		err := get()
		switch {
		case err == nil:
			return "", errors.New("still there")
		case apierrors.IsNotFound(err):
			return "", nil
		default:
			return "", err
		}
	})
}

func container(t *testing.T, spec corev1.PodSpec, name string) corev1.Container {
	t.Helper()
	for _, c := range spec.Containers {
		if c.Name == name {
			return c
		}
	}
	require.Failf(t, "no container", "no container %s", name)
	return corev1.Container{}
}

func envByName(c corev1.Container) map[string]corev1.EnvVar {
	m := map[string]corev1.EnvVar{}
	for _, e := range c.Env {
		m[e.Name] = e
	}
	return m
}

func requireSecretRef(t *testing.T, e corev1.EnvVar, secret, key string) {
	t.Helper()
	require.NotNil(t, e.ValueFrom, "%s comes from a Secret", e.Name)
	require.NotNil(t, e.ValueFrom.SecretKeyRef, "%s comes from a Secret", e.Name)
	assert.Equal(t, secret, e.ValueFrom.SecretKeyRef.Name, "%s's Secret", e.Name)
	assert.Equal(t, key, e.ValueFrom.SecretKeyRef.Key, "%s's key", e.Name)
}

func matches(sel metav1.LabelSelector, labels map[string]string) bool {
	if len(sel.MatchLabels) == 0 {
		return false
	}
	for k, v := range sel.MatchLabels {
		if labels[k] != v {
			return false
		}
	}
	return true
}
