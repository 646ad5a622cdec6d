package controlplane

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// pki is the throwaway trust material of one control plane.
type pki struct {
	caCert, serverCert, serverKey, saKey, tokenFile string
	kubeletClientCert, kubeletClientKey             string
	token                                           string
	pool                                            *x509.CertPool
}

// newPKI writes a CA, a serving certificate for 127.0.0.1 and localhost, a
// service-account signing key and a static token file granting the token
// system:masters.
func newPKI(dir string) (*pki, error) {
	p := &pki{
		caCert:     filepath.Join(dir, "ca.crt"),
		serverCert: filepath.Join(dir, "apiserver.crt"),
		serverKey:  filepath.Join(dir, "apiserver.key"),
		saKey:      filepath.Join(dir, "sa.key"),
		tokenFile:  filepath.Join(dir, "tokens.csv"),

		kubeletClientCert: filepath.Join(dir, "apiserver-kubelet-client.crt"),
		kubeletClientKey:  filepath.Join(dir, "apiserver-kubelet-client.key"),
	}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("controlplane: CA key: %w", err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "gopherops-test-ca"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, fmt.Errorf("controlplane: CA certificate: %w", err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, fmt.Errorf("controlplane: CA certificate: %w", err)
	}

	srvKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("controlplane: serving key: %w", err)
	}
	srvTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "kube-apiserver"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("10.96.0.1")},
		DNSNames:     []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"},
	}
	srvDER, err := x509.CreateCertificate(rand.Reader, srvTmpl, ca, &srvKey.PublicKey, caKey)
	if err != nil {
		return nil, fmt.Errorf("controlplane: serving certificate: %w", err)
	}
	// The API server's identity towards a kubelet (logs, exec,
	// port-forward): a kubelet trusts the CA, and nothing else holds a
	// certificate of it.
	kcKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("controlplane: kubelet client key: %w", err)
	}
	kcTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(3),
		Subject:      pkix.Name{CommonName: "kube-apiserver-kubelet-client", Organization: []string{"system:masters"}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	kcDER, err := x509.CreateCertificate(rand.Reader, kcTmpl, ca, &kcKey.PublicKey, caKey)
	if err != nil {
		return nil, fmt.Errorf("controlplane: kubelet client certificate: %w", err)
	}
	saKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("controlplane: service-account key: %w", err)
	}
	if p.token, err = randomToken(); err != nil {
		return nil, err
	}

	writes := []struct {
		path string
		data []byte
	}{
		{p.caCert, pemBlock("CERTIFICATE", caDER)},
		{p.serverCert, pemBlock("CERTIFICATE", srvDER)},
		{p.serverKey, ecKeyPEM(srvKey)},
		{p.saKey, ecKeyPEM(saKey)},
		{p.kubeletClientCert, pemBlock("CERTIFICATE", kcDER)},
		{p.kubeletClientKey, ecKeyPEM(kcKey)},
		// token,user,uid,"group": the admin is a cluster-admin through system:masters.
		{p.tokenFile, []byte(p.token + ",gopherops-test-admin,gopherops-test-admin,\"system:masters\"\n")},
	}
	for _, w := range writes {
		if w.data == nil {
			return nil, fmt.Errorf("controlplane: encode %s", w.path)
		}
		if err := os.WriteFile(w.path, w.data, 0o600); err != nil {
			return nil, fmt.Errorf("controlplane: %w", err)
		}
	}
	if p.pool, err = certPool(p.caCert); err != nil {
		return nil, err
	}
	return p, nil
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

// ecKeyPEM encodes an EC private key (nil on failure, caught by the caller).
func ecKeyPEM(k *ecdsa.PrivateKey) []byte {
	der, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		return nil
	}
	return pemBlock("EC PRIVATE KEY", der)
}

// writeKubeconfig writes a kubeconfig with one context, current, that uses
// the static admin token.
func writeKubeconfig(path, server, caPath, token string) error {
	ca, err := os.ReadFile(caPath) //nolint:gosec // a file this package wrote
	if err != nil {
		return fmt.Errorf("controlplane: %w", err)
	}
	doc := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: gopherops-test
  cluster:
    server: %s
    certificate-authority-data: %s
users:
- name: gopherops-test-admin
  user:
    token: %s
contexts:
- name: gopherops-test
  context:
    cluster: gopherops-test
    user: gopherops-test-admin
current-context: gopherops-test
`, server, base64.StdEncoding.EncodeToString(ca), token)
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil { //nolint:gosec // a path under the control plane's own directory
		return fmt.Errorf("controlplane: %w", err)
	}
	return nil
}
