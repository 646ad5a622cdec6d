//go:build platform

package platform

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gruntwork-io/terratest/modules/k8s"
	"github.com/gruntwork-io/terratest/modules/logger"
	"github.com/gruntwork-io/terratest/modules/retry"
	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optup"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gopherops/gopherops/infra/app"
	"github.com/gopherops/gopherops/infra/config"
	"github.com/gopherops/gopherops/infra/previews"
	"github.com/gopherops/gopherops/infra/schedule"
	"github.com/gopherops/gopherops/test/internal/kube"
	"github.com/gopherops/gopherops/test/internal/stage"
	"github.com/gopherops/gopherops/test/journey"
)

// prStackLimit is the suite's stack limit: two stacks, a third refused.
const prStackLimit = 2

// previewStack is one pull request's stack of the suite.
type previewStack struct {
	*localStack
	number    int
	name, ns  string
	c         *kube.Cluster
	urls      serverURLs
	admin     journey.Credentials
	upTook    time.Duration
	lastStart time.Time
}

// TestPullRequestStacks deploys two pull requests' stacks side by side from
// the committed Pulumi.pr.yaml with the real engine: the third is refused
// by admission; the journeys pass in both and their data stay apart; the
// quota refuses a pod above the namespace's share; the recovery drill runs
// on one (backup, PostgreSQL and its volume deleted, restore, RTO); the
// reaper, told a clock, destroys the idle one and keeps the fresh one, which
// goes on working; the close path destroys the other; nothing of theirs is
// left (namespace, volume, stack).
func TestPullRequestStacks(t *testing.T) {
	tg := requireTarget(t)
	ctx, cancel := context.WithTimeout(context.Background(), suiteTimeout)
	defer cancel()
	p := newProject(t, tg)
	first := 1000 + rand.IntN(8000)
	stacks := []*previewStack{newPreviewStack(ctx, t, tg, p, first), newPreviewStack(ctx, t, tg, p, first+1)}
	backend := previews.Workspace{WS: p.ws, Progress: kube.NewLogWriter(t, "pulumi destroy: ")}

	// Whatever happens, nothing is left: the close path for each.
	defer stage.Run(t, stageDestroy, func() {
		dctx, dcancel := context.WithTimeout(context.Background(), destroyReserve)
		defer dcancel()
		for _, s := range stacks {
			if err := backend.Destroy(dctx, s.name); err != nil {
				t.Errorf("destroy %s: %v", s.name, err)
			}
		}
		for _, s := range stacks {
			validateNothingLeft(dctx, t, s, backend)
		}
	})
	defer func() {
		if t.Failed() {
			dctx, dcancel := context.WithTimeout(context.Background(), time.Minute)
			defer dcancel()
			for _, s := range stacks {
				kube.Diagnose(dctx, t, s.c, appName)
			}
		}
	}()

	stage.Run(t, stageDeploy, func() {
		start := time.Now()
		for _, s := range stacks {
			alive, err := backend.Stacks(ctx)
			require.NoError(t, err)
			require.NoError(t, previews.Admit(alive, s.number, prStackLimit), "admission of %s", s.name)
			s.lastStart = time.Now()
			s.up(ctx, t, "create")
			s.upTook = time.Since(s.lastStart)
		}
		logger.Default.Logf(t, "two pull-request stacks up in %s (%s: %s, %s: %s), one after the other",
			time.Since(start).Round(time.Second), stacks[0].name, stacks[0].upTook.Round(time.Second), stacks[1].name, stacks[1].upTook.Round(time.Second))
		alive, err := backend.Stacks(ctx)
		require.NoError(t, err)
		third := first + 2
		err = previews.Admit(alive, third, prStackLimit)
		require.ErrorIs(t, err, previews.ErrLimit, "a third pull request is refused at the limit")
		logger.Default.Logf(t, "admission of pr-%d: %v", third, err)
	})

	stage.Run(t, stageValidate, func() {
		for _, s := range stacks {
			t.Run(s.name+" is bounded", func(t *testing.T) { validatePreviewBounds(ctx, t, s) })
		}
		if !tg.podsRun() {
			t.Run("journeys, data apart, recovery", func(t *testing.T) { t.Skip("no pods run here: " + tg.whyNoPods()) })
		} else {
			for _, s := range stacks {
				t.Run("journeys on "+s.name, func(t *testing.T) {
					ready := kube.ReadyPods(ctx, t, s.c, serverPods)
					require.NotEmpty(t, ready, "a ready server pod")
					s.urls = reachServer(ctx, t, s.c, ready[0])
					s.admin = walkJourneys(ctx, t, s.c, s.urls, ready[0], versionOf(tg, images{tag: tg.images.tag}))
				})
			}
			t.Run("their data stay apart", func(t *testing.T) { validateApart(t, stacks[0], stacks[1]) })
		}
		t.Run("the quota refuses a pod above the namespace's share", func(t *testing.T) { validateQuotaRefuses(ctx, t, stacks[0]) })
	})

	stage.Run(t, "recover", func() {
		if !tg.podsRun() {
			t.Skip("no pods run here: " + tg.whyNoPods())
		}
		recoveryDrill(ctx, t, stacks[1])
	})

	stage.Run(t, "reap", func() {
		alive, err := backend.Stacks(ctx)
		require.NoError(t, err)
		byName := map[string]previews.Stack{}
		for _, s := range alive {
			byName[s.Name] = s
		}
		idle, fresh := byName[stacks[0].name], byName[stacks[1].name]
		require.False(t, idle.LastUpdate.IsZero() || fresh.LastUpdate.IsZero(), "both stacks report their last update: %v", alive)
		require.True(t, fresh.LastUpdate.After(idle.LastUpdate.Add(2*time.Second)), "the second stack was updated after the first: %v", alive)
		// The clock: the first stack has been idle exactly the TTL, the
		// second half of it.
		ttl := fresh.LastUpdate.Sub(idle.LastUpdate) * 2
		now := idle.LastUpdate.Add(ttl)
		r := &previews.Reaper{Backend: backend, TTL: ttl, Now: func() time.Time { return now },
			Log: slog.New(slog.NewTextHandler(kube.NewLogWriter(t, "reaper: "), nil))}
		reaped, err := r.Reap(ctx)
		require.NoError(t, err)
		require.Equal(t, []string{stacks[0].name}, reaped, "the reaper destroys the idle stack only")
		validateNothingLeft(ctx, t, stacks[0], backend)
		if tg.podsRun() {
			t.Run(stacks[1].name+" goes on working", func(t *testing.T) {
				ready := kube.ReadyPods(ctx, t, stacks[1].c, serverPods)
				require.NotEmpty(t, ready)
				journey.WaitReady(t, stacks[1].urls.serviceBase, time.Minute)
				api := journey.NewClient(stacks[1].urls.serviceBase).WithBearer(journey.SignIn(t, stacks[1].urls.serviceBase, stacks[1].admin).Token, "admin")
				api.Get(t, "/api/v1/me").Expect(t, http.StatusOK)
			})
		}
	})
}

// newPreviewStack creates pull request number's stack from the committed
// template, on the suite's cluster: its context, the images built here,
// ClusterIP (no load balancer here), the suite's stack limit.
func newPreviewStack(ctx context.Context, t *testing.T, tg target, p *project, number int) *previewStack {
	t.Helper()
	name := config.PreviewStackName(number)
	cfg := auto.ConfigMap{
		"gopherops:kubeContext":  {Value: ""},
		"gopherops:serviceType":  {Value: "ClusterIP"},
		"gopherops:prStackLimit": {Value: strconv.Itoa(prStackLimit)},
		"gopherops:skipAwait":    {Value: strconv.FormatBool(!tg.podsRun())},
	}
	if tg.node != nil {
		cfg["gopherops:imageRepository"] = auto.ConfigValue{Value: tg.images.repository}
		cfg["gopherops:imageTag"] = auto.ConfigValue{Value: tg.images.tag}
		cfg["gopherops:postgresImage"] = auto.ConfigValue{Value: tg.images.postgres}
	}
	s := &previewStack{localStack: p.stack(ctx, t, name, "Pulumi.pr.yaml", cfg), number: number, name: name, ns: config.PreviewNamespace(number)}
	s.c = kube.Connect(t, tg.kubeconfig, s.ns)
	return s
}

// validatePreviewBounds: the namespace holds the quota and the limit range
// the template asks for, and the stack's pods fit in it.
func validatePreviewBounds(ctx context.Context, t *testing.T, s *previewStack) {
	q, err := s.c.Client.CoreV1().ResourceQuotas(s.ns).Get(ctx, appName, metav1.GetOptions{})
	require.NoError(t, err, "the ResourceQuota")
	for res, want := range map[corev1.ResourceName]string{
		corev1.ResourceLimitsMemory: "3Gi", corev1.ResourceLimitsCPU: "5", corev1.ResourceRequestsStorage: "5Gi",
		corev1.ResourcePods: "10", corev1.ResourcePersistentVolumeClaims: "3",
	} {
		got := q.Spec.Hard[res]
		assert.Zero(t, got.Cmp(resource.MustParse(want)), "quota %s = %s, want %s", res, got.String(), want)
	}
	lr, err := s.c.Client.CoreV1().LimitRanges(s.ns).Get(ctx, appName, metav1.GetOptions{})
	require.NoError(t, err, "the LimitRange")
	require.NotEmpty(t, lr.Spec.Limits)
	assert.Equal(t, "1Gi", lr.Spec.Limits[0].Max.Memory().String())
	cron, err := s.c.Client.BatchV1().CronJobs(s.ns).Get(ctx, app.BackupCronJobName(appName), metav1.GetOptions{})
	require.NoError(t, err, "the backup CronJob")
	assert.Equal(t, "0 * * * *", cron.Spec.Schedule)
	kube.CheckPodSpecHardening(t, "backup", cron.Spec.JobTemplate.Spec.Template.Spec)
}

// validateApart: a user made in one stack does not exist in the other, and
// neither stack's admin signs in to the other.
func validateApart(t *testing.T, a, b *previewStack) {
	require.NotEmpty(t, a.urls.serviceBase, "the first stack was reached")
	require.NotEmpty(t, b.urls.serviceBase, "the second stack was reached")
	apiA := journey.NewClient(a.urls.serviceBase).WithBearer(journey.SignIn(t, a.urls.serviceBase, a.admin).Token, "admin of "+a.name)
	apiB := journey.NewClient(b.urls.serviceBase).WithBearer(journey.SignIn(t, b.urls.serviceBase, b.admin).Token, "admin of "+b.name)
	only := journey.CreateUser(t, apiA, journey.NewUserSpec("only-in-a", "user", journey.Bool(false)))
	for _, u := range journey.ListUsers(t, apiB, 100) {
		assert.NotEqual(t, only.Username, u.Username, "%s's user is in %s", a.name, b.name)
	}
	_, err := journey.NewClient(b.urls.serviceBase).SignInE(a.admin)
	assert.Error(t, err, "%s's admin signs in to %s", a.name, b.name)
}

// validateQuotaRefuses: the API server refuses a pod that asks for more
// than what is left of the namespace's memory share, and one container
// above the LimitRange, while a small pod is admitted (all dry runs).
func validateQuotaRefuses(ctx context.Context, t *testing.T, s *previewStack) {
	pod := func(name string, containers int, memory string) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: s.ns}, Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyNever,
			SecurityContext: &corev1.PodSecurityContext{RunAsNonRoot: ptr(true), RunAsUser: ptr(int64(65532)),
				SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}},
		}}
		for i := range containers {
			p.Spec.Containers = append(p.Spec.Containers, corev1.Container{
				Name: "hog-" + strconv.Itoa(i), Image: "registry.invalid/hog:1",
				Resources: corev1.ResourceRequirements{
					Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("10m"), corev1.ResourceMemory: resource.MustParse("16Mi")},
					Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse(memory)},
				},
				SecurityContext: &corev1.SecurityContext{AllowPrivilegeEscalation: ptr(false),
					Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}},
			})
		}
		return p
	}
	dry := metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}
	pods := s.c.Client.CoreV1().Pods(s.ns)

	_, err := pods.Create(ctx, pod("small", 1, "64Mi"), dry)
	require.NoError(t, err, "a small pod fits the namespace's share")

	// Three containers at the LimitRange's maximum: 3Gi, the whole memory
	// share, of which the stack's own pods already use part.
	_, err = pods.Create(ctx, pod("hog", 3, "1Gi"), dry)
	require.Error(t, err, "a pod above the namespace's share is admitted")
	assert.True(t, apierrors.IsForbidden(err), "refused as forbidden: %v", err)
	assert.Contains(t, err.Error(), "exceeded quota", "refused by the quota")
	logger.Default.Logf(t, "quota: %v", err)

	_, err = pods.Create(ctx, pod("wide", 1, "2Gi"), dry)
	require.Error(t, err, "a container above the LimitRange is admitted")
	assert.Contains(t, err.Error(), "maximum memory usage per Container is 1Gi")
}

func ptr[T any](v T) *T { return &v }

// validateNothingLeft: no namespace, no volume and no stack of s remain.
func validateNothingLeft(ctx context.Context, t *testing.T, s *previewStack, backend previews.Workspace) {
	t.Helper()
	gone(t, "namespace "+s.ns, func() error {
		_, err := s.c.Client.CoreV1().Namespaces().Get(ctx, s.ns, metav1.GetOptions{})
		return err
	})
	retry.DoWithRetryContext(t, ctx, "the volumes of "+s.ns+" are deleted", 60, 2*time.Second, func() (string, error) {
		pvs, err := s.c.Client.CoreV1().PersistentVolumes().List(ctx, metav1.ListOptions{})
		if err != nil {
			return "", err
		}
		var left []string
		for _, pv := range pvs.Items {
			if pv.Spec.ClaimRef != nil && pv.Spec.ClaimRef.Namespace == s.ns {
				left = append(left, pv.Name+" ("+string(pv.Status.Phase)+")")
			}
		}
		if len(left) > 0 {
			return "", fmt.Errorf("volumes left: %s", strings.Join(left, ", "))
		}
		return "", nil
	})
	alive, err := backend.Stacks(ctx)
	require.NoError(t, err)
	for _, a := range alive {
		assert.NotEqual(t, s.name, a.Name, "the stack %s is still in the backend", s.name)
	}
}

// drillUser is what the drill checks of a user before and after.
type drillUser struct {
	spec journey.NewUser
	user journey.User
}

// recoveryDrill is docs/recovery.md's runbook done for real on a stack:
// users (one with an avatar) are created, a backup is taken, PostgreSQL's
// StatefulSet and its volume claim are deleted, the restore is asked for
// with gopherops:restoreFrom and `pulumi up --refresh`; the same users come
// back (ids, versions, password hashes: they sign in), with the same schema
// version and the avatar. It logs the RTO (from the delete to the first
// good answer) and the RPO the backup schedule gives.
func recoveryDrill(ctx context.Context, t *testing.T, s *previewStack) {
	base := s.urls.serviceBase
	require.NotEmpty(t, base, "the stack was reached")
	api := journey.NewClient(base).WithBearer(journey.SignIn(t, base, s.admin).Token, "admin")
	var users []drillUser
	for _, label := range []string{"drill-a", "drill-b", "drill-c"} {
		spec := journey.NewUserSpec(label, "user", journey.Bool(false))
		var u journey.User
		api.Send(t, http.MethodPost, "/api/v1/users", spec).ExpectJSON(t, http.StatusCreated, &u)
		users = append(users, drillUser{spec: spec, user: u})
	}
	// One user changes her email and uploads an avatar.
	resp := api.Do(t, journey.Request{Method: http.MethodPatch, Path: users[0].user.Path(),
		JSON:   map[string]string{"email": "changed-" + strings.ToLower(users[0].spec.Username) + "@example.com"},
		Header: map[string]string{"If-Match": journey.ETag(users[0].user.Version)}})
	resp.ExpectJSON(t, http.StatusOK, &users[0].user)
	picture := journey.PNG(t, 40, 40)
	self := journey.NewClient(base).WithBearer(journey.SignIn(t, base, users[0].spec.Credentials()).Token, "drill-a")
	self.Do(t, journey.Request{Method: http.MethodPut, Path: users[0].user.Path() + "/avatar", Body: picture, ContentType: "image/png"}).Expect(t, http.StatusOK)
	avatar := self.Get(t, users[0].user.Path()+"/avatar").Expect(t, http.StatusOK).Body
	// The avatar is a change of the user too (version 3): what the restore
	// must bring back is the user as she is now.
	api.Get(t, users[0].user.Path()).ExpectJSON(t, http.StatusOK, &users[0].user)

	pg := postgresPodOf(ctx, t, s)
	rowsBefore := userRows(ctx, t, s, pg)
	versionBefore := schemaVersion(ctx, t, s, pg)
	require.Len(t, rowsBefore, 4, "the root admin and the drill's three users")

	// Take a backup now, as the runbook does: a Job from the CronJob.
	takeBackup(ctx, t, s)

	// Lose the database: its StatefulSet and its volume claim.
	start := time.Now()
	ss := s.c.Client.AppsV1().StatefulSets(s.ns)
	require.NoError(t, ss.Delete(ctx, postgresName, metav1.DeleteOptions{}))
	require.NoError(t, s.c.Client.CoreV1().PersistentVolumeClaims(s.ns).Delete(ctx, postgresClaim, metav1.DeleteOptions{}))
	gone(t, "claim "+postgresClaim, func() error {
		_, err := s.c.Client.CoreV1().PersistentVolumeClaims(s.ns).Get(ctx, postgresClaim, metav1.GetOptions{})
		return err
	})
	logger.Default.Logf(t, "the database and its volume are gone (%s after the delete)", time.Since(start).Round(time.Millisecond))

	// Restore, as the runbook says.
	s.setConfig(ctx, t, "gopherops:restoreFrom", config.RestoreLatest)
	upStart := time.Now()
	progress := kube.NewLogWriter(t, "pulumi up --refresh: ")
	_, err := s.stack.Up(ctx, optup.Refresh(), optup.ProgressStreams(progress), optup.ErrorProgressStreams(progress),
		optup.Color("never"), optup.Message("gopherops platform suite: restore drill"))
	progress.Flush()
	require.NoError(t, err, "pulumi up --refresh with restoreFrom latest")
	upTook := time.Since(upStart)

	// The first good answer: a restored user signs in and reads herself.
	var rto time.Duration
	retry.DoWithRetryContext(t, ctx, "the app answers from the restored database", 120, time.Second, func() (string, error) {
		tok, err := journey.NewClient(base).SignInE(users[0].spec.Credentials())
		if err != nil {
			return "", err
		}
		u, err := journey.NewClient(base).WithBearer(tok, "drill-a").GetUserE(users[0].user.ID)
		if err != nil {
			return "", err
		}
		if u.Version != users[0].user.Version {
			return "", fmt.Errorf("version %d, want %d", u.Version, users[0].user.Version)
		}
		rto = time.Since(start)
		return "", nil
	})
	sched, err := schedule.Parse(s.stackConfig(ctx, t).Backup.Schedule)
	require.NoError(t, err)
	rpo, err := sched.MaxGap(time.Now())
	require.NoError(t, err)
	logger.Default.Logf(t, "RECOVERY DRILL %s: RTO %s from the delete to the first good answer (pulumi up --refresh %s); RPO up to %s (schedule %q) plus the dump's time",
		s.name, rto.Round(100*time.Millisecond), upTook.Round(100*time.Millisecond), rpo, sched)

	t.Run("the same users, schema and avatar", func(t *testing.T) {
		pg := postgresPodOf(ctx, t, s)
		assert.Equal(t, rowsBefore, userRows(ctx, t, s, pg), "ids, versions and password hashes after the restore")
		assert.Equal(t, versionBefore, schemaVersion(ctx, t, s, pg), "schema version after the restore")
		for _, u := range users {
			tok := journey.SignIn(t, base, u.spec.Credentials())
			got, err := journey.NewClient(base).WithBearer(tok.Token, u.spec.Username).GetUserE(u.user.ID)
			require.NoError(t, err)
			assert.Equal(t, u.user.Version, got.Version)
			assert.Equal(t, u.user.Email, got.Email)
		}
		got := self.Get(t, users[0].user.Path()+"/avatar").Expect(t, http.StatusOK).Body
		assert.True(t, bytes.Equal(avatar, got), "the avatar after the restore")
		job, err := s.c.Client.BatchV1().Jobs(s.ns).Get(ctx, app.RestoreJobName(appName, config.RestoreLatest), metav1.GetOptions{})
		require.NoError(t, err)
		assert.Equal(t, int32(1), job.Status.Succeeded, "the restore Job succeeded")
	})
}

// postgresPodOf waits for the database pod to be ready and returns it.
func postgresPodOf(ctx context.Context, t *testing.T, s *previewStack) corev1.Pod {
	t.Helper()
	require.NoError(t, k8s.WaitUntilPodAvailableContextE(t, ctx, s.c.Opts, postgresPod, 60, 2*time.Second))
	p, err := s.c.Client.CoreV1().Pods(s.ns).Get(ctx, postgresPod, metav1.GetOptions{})
	require.NoError(t, err)
	return *p
}

// psql runs a query in the database pod, as its postgres user over the socket.
func psql(ctx context.Context, t *testing.T, s *previewStack, pg corev1.Pod, query string) string {
	t.Helper()
	return kube.Exec(ctx, t, s.c, pg, "postgres", nil, "psql", "--no-psqlrc", "--no-align", "--tuples-only",
		"--username=gopherops", "--dbname=gopherops", "-v", "ON_ERROR_STOP=1", "--command="+query)
}

// userRows are every user's id, version and password hash.
func userRows(ctx context.Context, t *testing.T, s *previewStack, pg corev1.Pod) []string {
	t.Helper()
	out := strings.Split(strings.TrimSpace(psql(ctx, t, s, pg, "SELECT id, version, password_hash FROM users ORDER BY id")), "\n")
	return slices.DeleteFunc(out, func(l string) bool { return l == "" })
}

// schemaVersion is golang-migrate's record of the schema.
func schemaVersion(ctx context.Context, t *testing.T, s *previewStack, pg corev1.Pod) string {
	t.Helper()
	return strings.TrimSpace(psql(ctx, t, s, pg, "SELECT version, dirty FROM schema_migrations"))
}

// takeBackup runs the backup CronJob now (kubectl create job --from) and
// waits for it to complete.
func takeBackup(ctx context.Context, t *testing.T, s *previewStack) {
	t.Helper()
	cron, err := s.c.Client.BatchV1().CronJobs(s.ns).Get(ctx, app.BackupCronJobName(appName), metav1.GetOptions{})
	require.NoError(t, err)
	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{
			Name: "gopherops-backup-drill", Namespace: s.ns, Labels: cron.Spec.JobTemplate.Labels,
			Annotations: map[string]string{"cronjob.kubernetes.io/instantiate": "manual"},
			// Owned by the CronJob, as `kubectl create job --from` makes it:
			// deleting the CronJob (the stack's destroy) takes it along.
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(cron, batchv1.SchemeGroupVersion.WithKind("CronJob"))},
		},
		Spec: cron.Spec.JobTemplate.Spec,
	}
	start := time.Now()
	_, err = s.c.Client.BatchV1().Jobs(s.ns).Create(ctx, job, metav1.CreateOptions{})
	require.NoError(t, err)
	retry.DoWithRetryContext(t, ctx, "the backup Job completes", 150, 2*time.Second, func() (string, error) {
		j, err := s.c.Client.BatchV1().Jobs(s.ns).Get(ctx, job.Name, metav1.GetOptions{})
		if err != nil {
			return "", err
		}
		for _, c := range j.Status.Conditions {
			if c.Type == batchv1.JobFailed && c.Status == corev1.ConditionTrue {
				return "", retry.FatalError{Underlying: fmt.Errorf("backup failed: %s", c.Message)}
			}
			if c.Type == batchv1.JobComplete && c.Status == corev1.ConditionTrue {
				return "", nil
			}
		}
		return "", fmt.Errorf("active %d", j.Status.Active)
	})
	logger.Default.Logf(t, "backup taken in %s", time.Since(start).Round(100*time.Millisecond))
	// The dump is on the volume; the finished Job and its pod go now, so
	// that no pod outside the stack still holds the backup volume's claim
	// when the stack is destroyed (its protection would wait for the pod).
	foreground := metav1.DeletePropagationForeground
	require.NoError(t, s.c.Client.BatchV1().Jobs(s.ns).Delete(ctx, job.Name, metav1.DeleteOptions{PropagationPolicy: &foreground}))
	gone(t, "the backup Job "+job.Name, func() error {
		_, err := s.c.Client.BatchV1().Jobs(s.ns).Get(ctx, job.Name, metav1.GetOptions{})
		return err
	})
}
