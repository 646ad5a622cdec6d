package platform_test

import (
	"strings"
	"testing"

	"github.com/gopherops/gopherops/infra/app"
	"github.com/gopherops/gopherops/infra/platform"
)

// TestTLSAndAPinnedDigest deploys the dev stack file with the optional
// settings: an emergency pin by digest (which wins over the release tag),
// HTTPS with an ACM certificate and a domain.
func TestTLSAndAPinnedDigest(t *testing.T) {
	const (
		cert   = "arn:aws:acm:us-east-1:123456789012:certificate/0a1b2c3d-4e5f"
		domain = "gopherops.example.com"
	)
	digest := "sha256:" + strings.Repeat("c0", 32)
	mon := newMonitor("dev")
	mon.Mirror[digest] = true
	r := deployStackOn(t, "dev", map[string]string{
		"gopherops:imageDigest":    digest,
		"gopherops:certificateArn": cert,
		"gopherops:domainName":     domain,
	}, mon)
	const c = "spec.template.spec.containers[0]"
	d := r.one(t, tDeployment)
	wantImage := ecrURL("gopherops") + "@" + digest
	if got := d.Str(c + ".image"); got != wantImage {
		t.Errorf("image = %q, want %q (the pinned digest wins over the release tag)", got, wantImage)
	}
	if r.outputs["image"] != wantImage {
		t.Errorf("image output = %q, want %q", r.outputs["image"], wantImage)
	}
	if got, want := r.one(t, tJob).Str("metadata.name"), app.JobName(platform.ServiceAccountName, wantImage); got != want {
		t.Errorf("job name = %q, want %q", got, want)
	}
	if got := r.outputs["appUrl"]; got != "https://"+domain {
		t.Errorf("appUrl = %q, want https://%s", got, domain)
	}

	svc := r.mon.Get(tService, "gopherops-dev")
	ann, _ := svc.Get("metadata.annotations")
	am := ann.(map[string]any)
	if am["service.beta.kubernetes.io/aws-load-balancer-ssl-cert"] != cert || am["service.beta.kubernetes.io/aws-load-balancer-ssl-ports"] != "443" {
		t.Errorf("TLS annotations = %v", am)
	}
	if svc.Str("spec.ports[1].name") != "https" {
		t.Errorf("no HTTPS port: %v", svc.In()["spec"])
	}
	// Nodes pull the ECR mirror with their IAM role: no pull secret.
	if len(r.mon.ByType(tSecret)) != 1 {
		t.Errorf("%d Secrets, want only the workload's (no image pull secret)", len(r.mon.ByType(tSecret)))
	}
	if _, ok := d.Get("spec.template.spec.imagePullSecrets"); ok {
		t.Error("the deployment pulls with a secret")
	}
}

// TestInvalidStackConfigurationStopsTheProgram: the committed stack files
// with one bad change fail before any resource is registered, naming the key.
func TestInvalidStackConfigurationStopsTheProgram(t *testing.T) {
	cases := []struct {
		name      string
		stack     string
		overrides map[string]string
		key       string
	}{
		{"prod API open to the internet", "prod", map[string]string{"gopherops:clusterEndpointPublicCidrs": `["0.0.0.0/0"]`}, "gopherops:clusterEndpointPublicCidrs"},
		{"dev API open to the internet", "dev", map[string]string{"gopherops:clusterEndpointPublicCidrs": `["0.0.0.0/0"]`}, "gopherops:clusterEndpointPublicCidrs"},
		{"prod single-AZ database", "prod", map[string]string{"gopherops:dbMultiAz": "false"}, "gopherops:dbMultiAz"},
		{"prod API on the documentation placeholder", "prod", map[string]string{"gopherops:clusterEndpointPublicCidrs": `["203.0.113.0/24"]`}, "gopherops:clusterEndpointPublicCidrs"},
		{"GHCR tag on an AWS stack", "dev", map[string]string{"gopherops:imageTag": "0.1.0"}, "gopherops:imageTag"},
		{"no session key", "dev", map[string]string{"gopherops:sessionKey": "<delete>"}, "gopherops:sessionKey"},
		{"replicas inverted", "dev", map[string]string{"gopherops:minReplicas": "6"}, "gopherops:minReplicas"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, err := runStack(t, tc.stack, tc.overrides)
			if err == nil || !strings.Contains(err.Error(), tc.key) {
				t.Fatalf("err = %v, want one naming %s", err, tc.key)
			}
			if n := len(r.mon.All()); n != 0 {
				t.Errorf("%d resources registered before the configuration was rejected", n)
			}
		})
	}
}

// TestSecretSetInPlainTextIsRefused: a secret key must come from
// `pulumi config set --secret`, never from plain stack configuration.
func TestSecretSetInPlainTextIsRefused(t *testing.T) {
	r, err := runStackWithSecretKeys(t, "dev", nil, []string{"gopherops:grafanaAdminPassword"})
	if err == nil || !strings.Contains(err.Error(), "gopherops:sessionKey is stored in plain text") {
		t.Fatalf("err = %v, want a refusal of the plain-text session key", err)
	}
	if n := len(r.mon.All()); n != 0 {
		t.Errorf("%d resources registered", n)
	}
}
