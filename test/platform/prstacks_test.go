//go:build platform

package platform

import (
	"context"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gruntwork-io/terratest/modules/logger"
	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	k8sclient "k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/gopherops/gopherops/infra/prstacks"
	"github.com/gopherops/gopherops/test/internal/kube"
)

// prStacksUser is who EKS says the pull-request stacks' role is: an
// assumed-role session, in the group its access entry names.
const prStacksUser = "arn:aws:sts::123456789012:assumed-role/gopherops-pr-stacks/gopherops-pr-7-1"

// TestPullRequestStacksConfinement deploys what the dev stack adds for the
// pull-request stacks (infra/prstacks: the ClusterRole, its binding and the
// ValidatingAdmissionPolicy) with the real engine and the policy pack, then
// acts as the stacks' role does on EKS (impersonating its group): it may
// create, label, give a quota and limit range to, and delete its own
// namespace gopherops-pr-<number>; it may not create, change or delete any
// other namespace (gopherops-dev, gopherops-prod, default, kube-system), nor one of its own
// without the restricted Pod Security profile, nor put a quota or limit
// range anywhere else. Every refusal of another namespace is a server-side
// dry run, so a broken policy cannot harm the cluster the suite runs on.
func TestPullRequestStacksConfinement(t *testing.T) {
	tg := requireTarget(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	s := newStackOf(ctx, t, tg, nil, func(ctx *pulumi.Context) error {
		provider, err := kubernetes.NewProvider(ctx, "cluster", &kubernetes.ProviderArgs{EnableServerSideApply: pulumi.Bool(true)})
		if err != nil {
			return err
		}
		_, err = prstacks.New(ctx, "pr-stacks", prstacks.Args{Provider: provider})
		return err
	})
	defer func() {
		dctx, dcancel := context.WithTimeout(context.Background(), destroyReserve)
		defer dcancel()
		s.destroy(dctx, t)
	}()
	s.up(ctx, t, "the pull-request stacks' confinement")

	admin := kube.Connect(t, tg.kubeconfig, "default")
	as := rest.CopyConfig(admin.Rest)
	as.Impersonate = rest.ImpersonationConfig{UserName: prStacksUser, Groups: []string{prstacks.Group, "system:authenticated"}}
	pr, err := k8sclient.NewForConfig(as)
	require.NoError(t, err)
	own := "gopherops-pr-" + strconv.Itoa(1000+rand.IntN(90000))
	dry := metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}
	namespace := func(name string, labels map[string]string) *corev1.Namespace {
		return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
	}
	restricted := map[string]string{prstacks.EnforceLabel: prstacks.Restricted}
	quota := &corev1.ResourceQuota{
		ObjectMeta: metav1.ObjectMeta{Name: "gopherops"},
		Spec:       corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{corev1.ResourcePods: resource.MustParse("10")}},
	}
	limits := &corev1.LimitRange{
		ObjectMeta: metav1.ObjectMeta{Name: "gopherops"},
		Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{{
			Type: corev1.LimitTypeContainer, Max: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")},
		}}},
	}
	labelPatch := func(value string) []byte {
		return []byte(`{"metadata":{"labels":{"` + prstacks.EnforceLabel + `":"` + value + `"}}}`)
	}

	// The dev stack's namespace, as on the dev cluster (default and
	// kube-system are never deleted: the API server refuses that to anyone,
	// before any admission policy).
	_, err = admin.Client.CoreV1().Namespaces().Create(ctx, namespace("gopherops-dev", restricted), metav1.CreateOptions{})
	require.NoError(t, err, "create namespace gopherops-dev as the administrator")
	defer func() {
		_ = admin.Client.CoreV1().Namespaces().Delete(context.Background(), "gopherops-dev", metav1.DeleteOptions{})
	}()

	// The policy is in force once the API server's informer has it: until
	// then a refused request would pass, so wait for the first refusal.
	start := time.Now()
	for {
		_, err := pr.CoreV1().Namespaces().Create(ctx, namespace("gopherops-prod", restricted), dry)
		if refusedByPolicy(err) {
			break
		}
		require.Less(t, time.Since(start), time.Minute, "the admission policy never refused gopherops-prod (last answer: %v)", err)
		time.Sleep(time.Second)
	}
	logger.Default.Logf(t, "admission policy in force %s after the up", time.Since(start).Round(100*time.Millisecond))

	refused := []struct {
		name string
		do   func() error
		want string // in the refusal's message
	}{
		{"create namespace gopherops-prod", func() error {
			_, err := pr.CoreV1().Namespaces().Create(ctx, namespace("gopherops-prod", restricted), dry)
			return err
		}, `not namespace "gopherops-prod"`},
		{"create namespace gopherops-pr-x (not a number)", func() error {
			_, err := pr.CoreV1().Namespaces().Create(ctx, namespace("gopherops-pr-x", restricted), dry)
			return err
		}, "gopherops-pr-<number>"},
		{"create namespace gopherops-pr-07 (not a stack's)", func() error {
			_, err := pr.CoreV1().Namespaces().Create(ctx, namespace("gopherops-pr-07", restricted), dry)
			return err
		}, "gopherops-pr-<number>"},
		{"create its own namespace without Pod Security", func() error {
			_, err := pr.CoreV1().Namespaces().Create(ctx, namespace(own+"1", nil), dry)
			return err
		}, "restricted profile"},
		{"create its own namespace with privileged pods", func() error {
			_, err := pr.CoreV1().Namespaces().Create(ctx, namespace(own+"2", map[string]string{prstacks.EnforceLabel: "privileged"}), dry)
			return err
		}, "restricted profile"},
		{"label namespace default", func() error {
			_, err := pr.CoreV1().Namespaces().Patch(ctx, "default", types.MergePatchType, labelPatch(prstacks.Restricted),
				metav1.PatchOptions{DryRun: []string{metav1.DryRunAll}})
			return err
		}, `namespace "default"`},
		{"label namespace kube-system", func() error {
			_, err := pr.CoreV1().Namespaces().Patch(ctx, "kube-system", types.MergePatchType, labelPatch(prstacks.Restricted),
				metav1.PatchOptions{DryRun: []string{metav1.DryRunAll}})
			return err
		}, `namespace "kube-system"`},
		{"label namespace gopherops-dev", func() error {
			_, err := pr.CoreV1().Namespaces().Patch(ctx, "gopherops-dev", types.MergePatchType, labelPatch(prstacks.Restricted),
				metav1.PatchOptions{DryRun: []string{metav1.DryRunAll}})
			return err
		}, `namespace "gopherops-dev"`},
		{"delete namespace gopherops-dev", func() error {
			return pr.CoreV1().Namespaces().Delete(ctx, "gopherops-dev", metav1.DeleteOptions{DryRun: []string{metav1.DryRunAll}})
		}, `namespace "gopherops-dev"`},
		{"a quota in default", func() error {
			_, err := pr.CoreV1().ResourceQuotas("default").Create(ctx, quota, dry)
			return err
		}, `resourcequotas in namespace "default"`},
		{"a limit range in kube-system", func() error {
			_, err := pr.CoreV1().LimitRanges("kube-system").Create(ctx, limits, dry)
			return err
		}, `limitranges in namespace "kube-system"`},
	}
	for _, c := range refused {
		t.Run("refused/"+c.name, func(t *testing.T) {
			err := c.do()
			require.Error(t, err, "the pull-request stacks' group may %s", c.name)
			require.True(t, refusedByPolicy(err), "refused, but not by the admission policy: %v", err)
			require.Contains(t, err.Error(), c.want)
		})
	}

	// Beyond the policy, RBAC: the group's ClusterRole gives nothing else
	// cluster-wide (on EKS, its namespaces' workloads come from the
	// namespace-scoped access policy, which no cluster-wide RBAC widens).
	t.Run("refused/bind itself cluster-admin", func(t *testing.T) {
		_, err := pr.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: "gopherops-pr-escalate"},
			RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "cluster-admin"},
			Subjects:   []rbacv1.Subject{{APIGroup: "rbac.authorization.k8s.io", Kind: "Group", Name: prstacks.Group}},
		}, dry)
		require.True(t, apierrors.IsForbidden(err), "binding cluster-admin: %v", err)
	})
	t.Run("refused/a ConfigMap in kube-system", func(t *testing.T) {
		_, err := pr.CoreV1().ConfigMaps("kube-system").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "x"}}, dry)
		require.True(t, apierrors.IsForbidden(err), "a ConfigMap in kube-system: %v", err)
	})

	// Its own namespace's life, for real: created, labelled, given its
	// quota and limit range, and deleted, as a stack's up and destroy do.
	t.Run("allowed/its own namespace", func(t *testing.T) {
		created := false
		defer func() {
			if created {
				_ = admin.Client.CoreV1().Namespaces().Delete(context.Background(), own, metav1.DeleteOptions{})
			}
		}()
		_, err := pr.CoreV1().Namespaces().Create(ctx, namespace(own, restricted), metav1.CreateOptions{})
		require.NoError(t, err, "create namespace %s", own)
		created = true
		_, err = pr.CoreV1().Namespaces().Patch(ctx, own, types.MergePatchType,
			[]byte(`{"metadata":{"annotations":{"gopherops.dev/pr":"7"}}}`), metav1.PatchOptions{})
		require.NoError(t, err, "annotate namespace %s", own)
		_, err = pr.CoreV1().ResourceQuotas(own).Create(ctx, quota, metav1.CreateOptions{})
		require.NoError(t, err, "a quota in %s", own)
		_, err = pr.CoreV1().LimitRanges(own).Create(ctx, limits, metav1.CreateOptions{})
		require.NoError(t, err, "a limit range in %s", own)
		_, err = pr.CoreV1().Namespaces().Patch(ctx, own, types.MergePatchType, labelPatch("privileged"), metav1.PatchOptions{})
		require.True(t, refusedByPolicy(err), "relabelling %s privileged: %v", own, err)
		_, err = pr.CoreV1().PersistentVolumes().List(ctx, metav1.ListOptions{})
		require.NoError(t, err, "list persistent volumes (the destroy checks none of its own is left)")
		require.NoError(t, pr.CoreV1().LimitRanges(own).Delete(ctx, limits.Name, metav1.DeleteOptions{}))
		require.NoError(t, pr.CoreV1().ResourceQuotas(own).Delete(ctx, quota.Name, metav1.DeleteOptions{}))
		require.NoError(t, pr.CoreV1().Namespaces().Delete(ctx, own, metav1.DeleteOptions{}), "delete namespace %s", own)
		created = false
	})

	// Only the group is held: an administrator is not.
	t.Run("others unaffected", func(t *testing.T) {
		_, err := admin.Client.CoreV1().Namespaces().Patch(ctx, "gopherops-dev", types.MergePatchType, labelPatch("baseline"),
			metav1.PatchOptions{DryRun: []string{metav1.DryRunAll}})
		require.NoError(t, err, "an administrator relabelling gopherops-dev")
	})
}

// refusedByPolicy reports whether err is the admission policy's refusal.
func refusedByPolicy(err error) bool {
	return apierrors.IsForbidden(err) && strings.Contains(err.Error(), "ValidatingAdmissionPolicy '"+prstacks.Name+"'")
}
