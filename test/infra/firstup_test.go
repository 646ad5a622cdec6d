//go:build live

package infra

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gruntwork-io/terratest/modules/random"
	"github.com/gruntwork-io/terratest/modules/retry"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// What the mocks cannot prove, proven on the live stack (issue 12): the CI
// roles' access entries authorize what they should, NetworkPolicies refuse
// traffic for real, the HPA gets metrics, the client's address reaches the
// app's logs, and the image came through the ECR mirror.

// validateAccessEntries asks the API server, as each bootstrap role would be
// seen through its access entry, what it may do (kubectl auth can-i --as):
// the deploy role administers, the preview role reads Secrets and Helm
// records but writes nothing, and an unknown role gets nothing.
func validateAccessEntries(ctx context.Context, t *testing.T, c *cluster, env liveEnv, namespace string) {
	cases := []struct {
		role, verb, resource string
		allowed              bool
	}{
		{deployRole, "create", "deployments", true},
		{deployRole, "delete", "namespaces", true},
		{previewRole, "get", "secrets", true},
		{previewRole, "list", "deployments", true},
		{previewRole, "patch", "deployments", false},
		{previewRole, "create", "secrets", false},
		{"gopherops-nobody-" + strings.ToLower(random.UniqueID()), "get", "pods", false},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%s %s %s", tc.role, tc.verb, tc.resource), func(t *testing.T) {
			group := ""
			if tc.resource == "deployments" {
				group = "apps"
			}
			session := "arn:aws:sts::" + env.Account + ":assumed-role/" + tc.role + "/live-suite"
			review, err := c.Client.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authorizationv1.SubjectAccessReview{
				Spec: authorizationv1.SubjectAccessReviewSpec{
					User: session,
					// What the EKS authenticator attaches to a role's session.
					Extra: map[string]authorizationv1.ExtraValue{
						"arn":          {session},
						"canonicalArn": {env.roleArn(tc.role)},
						"sessionName":  {"live-suite"},
					},
					ResourceAttributes: &authorizationv1.ResourceAttributes{
						Namespace: namespace, Verb: tc.verb, Group: group, Resource: tc.resource,
					},
				},
			}, metav1.CreateOptions{})
			require.NoError(t, err)
			assert.Equal(t, tc.allowed, review.Status.Allowed, "%s may %s %s: %s", tc.role, tc.verb, tc.resource, review.Status.Reason)
		})
	}
}

// probeImage is a small image with nc, pulled by the nodes through NAT.
const probeImage = "public.ecr.aws/docker/library/busybox:1.37.0"

// validateBlockedTraffic runs two short-lived pods that try to open the
// database's port: one without the app's labels must be refused by the
// NetworkPolicies, one with them must get through, so the policy (not the
// network) is what blocks.
func validateBlockedTraffic(ctx context.Context, t *testing.T, c *cluster, out outputs) {
	addrs, err := net.DefaultResolver.LookupHost(ctx, out.DBEndpoint)
	require.NoError(t, err, "resolve %s", out.DBEndpoint)
	require.NotEmpty(t, addrs)
	cases := []struct {
		name   string
		labels map[string]string
		want   string
	}{
		{"a pod without the app's labels is refused", map[string]string{"app.kubernetes.io/name": "netpol-probe"}, "BLOCKED"},
		{"a pod with them gets through", map[string]string{
			"app.kubernetes.io/name": appName, "app.kubernetes.io/instance": appName, "app.kubernetes.io/component": "probe",
		}, "OPEN"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := probe(ctx, t, c, tc.labels, fmt.Sprintf("nc -z -w 5 %s 5432 && echo OPEN || echo BLOCKED", addrs[0]))
			assert.Equal(t, tc.want, got)
		})
	}
}

// probe runs a restricted pod with the command and returns its last output line.
func probe(ctx context.Context, t *testing.T, c *cluster, labels map[string]string, command string) string {
	t.Helper()
	pods := c.Client.CoreV1().Pods(c.Opts.Namespace)
	name := "probe-" + strings.ToLower(random.UniqueID())
	_, err := pods.Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Spec: corev1.PodSpec{
			RestartPolicy:                corev1.RestartPolicyNever,
			AutomountServiceAccountToken: ptr.To(false),
			SecurityContext: &corev1.PodSecurityContext{
				RunAsNonRoot: ptr.To(true), RunAsUser: ptr.To(int64(65534)),
				SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
			},
			Containers: []corev1.Container{{
				Name: "probe", Image: probeImage, Command: []string{"sh", "-c", command},
				SecurityContext: &corev1.SecurityContext{
					AllowPrivilegeEscalation: ptr.To(false),
					Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
				},
			}},
		},
	}, metav1.CreateOptions{})
	require.NoError(t, err, "create probe pod")
	t.Cleanup(func() { _ = pods.Delete(context.Background(), name, metav1.DeleteOptions{}) })
	_, err = retry.DoWithRetryContextE(t, ctx, "probe "+name+" finishes", 30, 5*time.Second, func() (string, error) {
		p, err := pods.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return "", err
		}
		if p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed {
			return "", fmt.Errorf("phase %s", p.Status.Phase)
		}
		return "", nil
	})
	require.NoError(t, err)
	logs, err := pods.GetLogs(name, &corev1.PodLogOptions{}).DoRaw(ctx)
	require.NoError(t, err)
	lines := strings.Fields(strings.TrimSpace(string(logs)))
	require.NotEmpty(t, lines, "probe %s printed nothing", name)
	return lines[len(lines)-1]
}

// validateHPAMetrics waits for the HPA to report CPU utilization, which it
// can only do with metrics-server (the EKS add-on) answering.
func validateHPAMetrics(ctx context.Context, t *testing.T, c *cluster) {
	_, err := retry.DoWithRetryContextE(t, ctx, "HPA reports CPU utilization", 30, 10*time.Second, func() (string, error) {
		hpa, err := c.Client.AutoscalingV2().HorizontalPodAutoscalers(c.Opts.Namespace).Get(ctx, appName, metav1.GetOptions{})
		if err != nil {
			return "", err
		}
		for _, m := range hpa.Status.CurrentMetrics {
			if m.Resource != nil && m.Resource.Current.AverageUtilization != nil {
				return fmt.Sprintf("%d%%", *m.Resource.Current.AverageUtilization), nil
			}
		}
		return "", fmt.Errorf("no current metrics yet (conditions: %v)", hpa.Status.Conditions)
	})
	require.NoError(t, err)
}

// validateClientAddress sends a request with a unique request ID and a forged
// X-Forwarded-For, and finds its access-log line: the client address must be
// this machine's public address (the NLB preserved it), not a node's or the
// load balancer's, and the forged header must be ignored (TRUSTED_PROXIES empty).
func validateClientAddress(ctx context.Context, t *testing.T, c *cluster, out outputs) {
	mine := publicAddress(ctx, t)
	id := "live-" + strings.ToLower(random.UniqueID())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, out.AppURL+"/api/v1/openapi.json", nil)
	require.NoError(t, err)
	req.Header.Set("X-Request-ID", id)
	req.Header.Set("X-Forwarded-For", "203.0.113.9")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	_ = resp.Body.Close()

	_, err = retry.DoWithRetryContextE(t, ctx, "access log line of "+id, 12, 5*time.Second, func() (string, error) {
		pods, err := c.Client.CoreV1().Pods(c.Opts.Namespace).List(ctx, metav1.ListOptions{LabelSelector: serverPods})
		if err != nil {
			return "", err
		}
		for _, p := range pods.Items {
			stream, err := c.Client.CoreV1().Pods(c.Opts.Namespace).GetLogs(p.Name, &corev1.PodLogOptions{
				Container: appName, SinceSeconds: ptr.To(int64(600)),
			}).Stream(ctx)
			if err != nil {
				continue
			}
			ip, found := findClientIP(stream, id)
			_ = stream.Close()
			if found {
				if ip != mine {
					return "", retry.FatalError{Underlying: fmt.Errorf("request %s logged client_ip %q, want this machine's %q", id, ip, mine)}
				}
				return ip, nil
			}
		}
		return "", fmt.Errorf("no access log line for %s yet", id)
	})
	require.NoError(t, err)
}

// findClientIP scans JSON log lines for the request ID.
func findClientIP(r io.Reader, requestID string) (string, bool) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var line struct {
			RequestID string `json:"request_id"`
			ClientIP  string `json:"client_ip"`
		}
		if json.Unmarshal(sc.Bytes(), &line) == nil && line.RequestID == requestID {
			return line.ClientIP, true
		}
	}
	return "", false
}

// publicAddress is this machine's address as the internet sees it.
func publicAddress(ctx context.Context, t *testing.T) string {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://checkip.amazonaws.com", nil)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64))
	require.NoError(t, err)
	ip := strings.TrimSpace(string(b))
	require.NotNil(t, net.ParseIP(ip), "checkip answered %q", ip)
	return ip
}

// validateImageRoute: the pods run the ECR mirror's image at the digest the
// stack's release record names, pulled by the nodes with their IAM role (no
// pull secret exists).
func validateImageRoute(ctx context.Context, t *testing.T, pods []corev1.Pod, env liveEnv, out outputs, stackName string) {
	repo, digest, ok := strings.Cut(out.Image, "@")
	require.True(t, ok, "image output %q is not by digest", out.Image)
	assert.Equal(t, env.ecrRepository(), repo, "the stack runs the ECR mirror")
	recorded, err := recordedRelease(ctx, stackName)
	require.NoError(t, err)
	assert.Equal(t, recorded, digest, "the stack runs what its release record names")
	if env.ImageDigest != "" {
		assert.Equal(t, env.ImageDigest, digest, "the mirrored release")
	}
	for _, p := range pods {
		assert.Empty(t, p.Spec.ImagePullSecrets, "%s pulls with a secret", p.Name)
		for _, cs := range p.Status.ContainerStatuses {
			assert.True(t, strings.HasPrefix(cs.Image, env.ecrRepository()), "%s runs %s, not the ECR mirror", p.Name, cs.Image)
			assert.True(t, strings.HasSuffix(cs.ImageID, digest), "%s runs %s, not the release %s", p.Name, cs.ImageID, digest)
		}
	}
}
