package controlplane

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"os"
	"strings"
	"testing"
)

// TestPKIServesLoopbackUnderItsCA: the serving certificate verifies for the
// names a client uses, and the token file grants system:masters.
func TestPKIServesLoopbackUnderItsCA(t *testing.T) {
	dir := t.TempDir()
	p, err := newPKI(dir)
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.LoadX509KeyPair(p.serverCert, p.serverKey)
	if err != nil {
		t.Fatalf("serving pair: %v", err)
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, host := range []string{"127.0.0.1", "localhost", "kubernetes.default.svc"} {
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: p.pool, DNSName: host}); err != nil {
			t.Errorf("serving certificate for %s: %v", host, err)
		}
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: x509.NewCertPool(), DNSName: "127.0.0.1"}); err == nil {
		t.Error("the serving certificate verified without its CA")
	}
	sa, err := os.ReadFile(p.saKey)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := pem.Decode(sa); b == nil || b.Type != "EC PRIVATE KEY" {
		t.Error("service-account key is not a PEM EC private key")
	}
	tokens, err := os.ReadFile(p.tokenFile)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(tokens), p.token+",") || !strings.Contains(string(tokens), `"system:masters"`) || len(p.token) != 64 {
		t.Errorf("token file %q does not grant a 32-byte token system:masters", tokens)
	}
	for _, f := range []string{p.serverKey, p.saKey, p.tokenFile} {
		if st, err := os.Stat(f); err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, want 0600 (%v)", f, st.Mode().Perm(), err)
		}
	}
}

func TestKubeconfigUsesTheTokenAndCA(t *testing.T) {
	dir := t.TempDir()
	p, err := newPKI(dir)
	if err != nil {
		t.Fatal(err)
	}
	path := dir + "/kubeconfig"
	if err := writeKubeconfig(path, "https://127.0.0.1:6443", p.caCert, p.token); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	for _, want := range []string{"server: https://127.0.0.1:6443", "token: " + p.token, "certificate-authority-data: ", "current-context: gopherops-test"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("kubeconfig lacks %q", want)
		}
	}
}
