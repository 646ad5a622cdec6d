// Package controlplane runs a real, throwaway Kubernetes control plane on
// loopback: etcd, kube-apiserver, kube-controller-manager and, when its
// binary is given, kube-scheduler, with a self-signed CA, a static admin
// token and a kubeconfig for it. Without a node (test/internal/node) pods are
// admitted and stored but never run: enough to prove that the API server
// accepts and stores what a Pulumi program sends, and that the controllers
// (deployments, jobs, namespaces, garbage collection) act on it. With a node,
// the scheduler binds the pods to it and they run.
package controlplane

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gopherops/gopherops/test/internal/procs"
)

// Controllers are the kube-controller-manager controllers the platform test
// needs: without the namespace, garbage-collector and PVC-protection
// controllers a namespace delete never finishes; the workload controllers
// create the pods whose admission the test checks; the endpoint controllers
// give Services their backends, the volume binder binds claims to the node's
// volumes (pv-protection lets a bound volume be deleted at all), and the
// root-CA publisher and pod GC are what a node's pods expect, and the node
// lifecycle controller lifts the not-ready taint a kubelet registers with.
// The resource-quota controller fills a ResourceQuota's status (the engine
// waits for it; a pull-request stack has one), and the CronJob controller
// runs the in-cluster backups on their schedule.
func Controllers() []string {
	return []string{
		"namespace", "garbagecollector", "serviceaccount", "pvc-protection",
		"deployment", "replicaset", "job", "statefulset",
		"endpoint", "endpointslice", "endpointslicemirroring",
		"persistentvolume-binder", "pv-protection", "root-ca-cert-publisher", "podgc", "nodelifecycle",
		"resourcequota", "cronjob",
	}
}

// Binaries are the paths of the programs the control plane runs.
type Binaries struct {
	Etcd              string
	APIServer         string
	ControllerManager string
	// Scheduler is optional: without it no pod is ever bound to a node.
	Scheduler string
}

// Options configure Start.
type Options struct {
	Binaries Binaries
	// Dir holds certificates, data, logs and the kubeconfig.
	Dir string
	// Logf receives progress lines (e.g. testing.T.Logf).
	Logf func(format string, args ...any)
	// ReadyTimeout bounds the wait for each component (default 90s).
	ReadyTimeout time.Duration
}

// ControlPlane is a running control plane.
type ControlPlane struct {
	// Kubeconfig is the path of a kubeconfig with cluster-admin rights.
	Kubeconfig string
	// Server is the API server's https URL.
	Server string
	// CACert is the path of the CA certificate: the API server's serving
	// certificate and its client certificate towards kubelets chain to it.
	CACert string
	// ServiceCIDR is the range ClusterIPs are allocated from.
	ServiceCIDR string
	// Token is the static admin token (the kubeconfig's credential).
	Token string

	logf  func(string, ...any)
	procs *procs.Group
}

// Start brings up etcd, then kube-apiserver (waiting for /readyz), then
// kube-controller-manager (waiting for its leader-less start). On error
// everything already started is stopped.
func Start(ctx context.Context, o Options) (_ *ControlPlane, err error) {
	if o.ReadyTimeout == 0 {
		o.ReadyTimeout = 90 * time.Second
	}
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	for name, path := range map[string]string{"etcd": o.Binaries.Etcd, "kube-apiserver": o.Binaries.APIServer, "kube-controller-manager": o.Binaries.ControllerManager} {
		if path == "" {
			return nil, fmt.Errorf("controlplane: no path for %s", name)
		}
	}
	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("controlplane: %w", err)
	}
	cp := &ControlPlane{logf: o.Logf, procs: procs.NewGroup(o.Dir, 10*time.Second)}
	defer func() {
		if err != nil {
			cp.Stop()
		}
	}()

	pki, err := newPKI(o.Dir)
	if err != nil {
		return nil, err
	}
	cp.CACert, cp.Token = pki.caCert, pki.token
	cp.ServiceCIDR = "10.96.0.0/16"
	ports, err := procs.FreePorts(4)
	if err != nil {
		return nil, err
	}
	etcdClient := fmt.Sprintf("http://127.0.0.1:%d", ports[0])
	etcdPeer := fmt.Sprintf("http://127.0.0.1:%d", ports[1])
	cp.Server = fmt.Sprintf("https://127.0.0.1:%d", ports[2])

	start := time.Now()
	if err := cp.procs.Start(ctx, "etcd", o.Binaries.Etcd,
		"--name", "gopherops-test",
		"--data-dir", filepath.Join(o.Dir, "etcd"),
		"--listen-client-urls", etcdClient, "--advertise-client-urls", etcdClient,
		"--listen-peer-urls", etcdPeer, "--initial-advertise-peer-urls", etcdPeer,
		"--initial-cluster", "gopherops-test="+etcdPeer,
	); err != nil {
		return nil, err
	}
	if err := waitHTTP(ctx, o.ReadyTimeout, nil, etcdClient+"/health", cp.procs.Exited); err != nil {
		return nil, cp.failure("etcd", err)
	}
	o.Logf("controlplane: etcd ready at %s (%s)", etcdClient, time.Since(start).Round(time.Millisecond))

	if err := cp.procs.Start(ctx, "kube-apiserver", o.Binaries.APIServer,
		"--etcd-servers", etcdClient,
		"--bind-address", "127.0.0.1", "--advertise-address", "127.0.0.1",
		"--secure-port", fmt.Sprint(ports[2]),
		"--cert-dir", filepath.Join(o.Dir, "apiserver-certs"),
		"--tls-cert-file", pki.serverCert, "--tls-private-key-file", pki.serverKey,
		"--token-auth-file", pki.tokenFile,
		"--authorization-mode", "RBAC",
		"--service-account-issuer", "https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file", pki.saKey,
		"--service-account-signing-key-file", pki.saKey,
		"--service-cluster-ip-range", cp.ServiceCIDR,
		"--kubelet-client-certificate", pki.kubeletClientCert, "--kubelet-client-key", pki.kubeletClientKey,
		"--kubelet-preferred-address-types", "InternalIP",
		// The loopback address cannot be the kubernetes Service's endpoint.
		"--endpoint-reconciler-type", "none",
	); err != nil {
		return nil, err
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pki.pool, MinVersion: tls.VersionTLS12}}}
	if err := waitHTTP(ctx, o.ReadyTimeout, client, cp.Server+"/readyz", cp.procs.Exited); err != nil {
		return nil, cp.failure("kube-apiserver", err)
	}
	o.Logf("controlplane: kube-apiserver ready at %s (%s)", cp.Server, time.Since(start).Round(time.Millisecond))

	cp.Kubeconfig = filepath.Join(o.Dir, "kubeconfig")
	if err := writeKubeconfig(cp.Kubeconfig, cp.Server, pki.caCert, pki.token); err != nil {
		return nil, err
	}
	if err := cp.procs.Start(ctx, "kube-controller-manager", o.Binaries.ControllerManager,
		"--kubeconfig", cp.Kubeconfig,
		"--controllers", strings.Join(Controllers(), ","),
		"--leader-elect=false",
		"--secure-port=0",
		"--concurrent-gc-syncs=5",
	); err != nil {
		return nil, err
	}
	// The controller manager has no endpoint left to probe (secure port 0):
	// it is up once it has created the default ServiceAccount, which the
	// serviceaccount controller does for every namespace.
	saURL := cp.Server + "/api/v1/namespaces/default/serviceaccounts/default"
	if err := waitHTTP(ctx, o.ReadyTimeout, bearer(client, pki.token), saURL, cp.procs.Exited); err != nil {
		return nil, cp.failure("kube-controller-manager", err)
	}
	o.Logf("controlplane: kube-controller-manager running %s (%s)", strings.Join(Controllers(), ","), time.Since(start).Round(time.Millisecond))

	if o.Binaries.Scheduler != "" {
		if err := cp.procs.Start(ctx, "kube-scheduler", o.Binaries.Scheduler,
			"--kubeconfig", cp.Kubeconfig,
			"--authentication-kubeconfig", cp.Kubeconfig,
			"--authorization-kubeconfig", cp.Kubeconfig,
			"--leader-elect=false",
			"--bind-address", "127.0.0.1",
			"--secure-port", fmt.Sprint(ports[3]),
		); err != nil {
			return nil, err
		}
		// Its serving certificate is self-signed: only its health is read.
		insecure := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}}} //nolint:gosec // a health probe of our own loopback process
		if err := waitHTTP(ctx, o.ReadyTimeout, insecure, fmt.Sprintf("https://127.0.0.1:%d/healthz", ports[3]), cp.procs.Exited); err != nil {
			return nil, cp.failure("kube-scheduler", err)
		}
		o.Logf("controlplane: kube-scheduler ready (%s)", time.Since(start).Round(time.Millisecond))
	}
	return cp, nil
}

// failure wraps err with the end of the component's log.
func (cp *ControlPlane) failure(name string, err error) error {
	return fmt.Errorf("controlplane: %s not ready: %w\n--- last lines of %s.log ---\n%s", name, err, name, cp.LogTail(name, 30))
}

// LogTail returns the last n lines of a component's log (etcd,
// kube-apiserver, kube-controller-manager, kube-scheduler), for failure reports.
func (cp *ControlPlane) LogTail(name string, n int) string { return cp.procs.LogTail(name, n) }

// Stop terminates the components in reverse order, giving each a few
// seconds before killing it.
func (cp *ControlPlane) Stop() { cp.procs.StopAll() }

// waitHTTP polls url until it answers 200, the timeout passes or check
// reports a dead component.
func waitHTTP(ctx context.Context, timeout time.Duration, client *http.Client, url string, check func() error) error {
	if client == nil {
		client = http.DefaultClient
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error
	for {
		if err := check(); err != nil {
			return err
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return fmt.Errorf("controlplane: %w", err)
		}
		resp, err := client.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("%s answered %s", url, resp.Status)
		}
		last = err
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last: %w)", ctx.Err(), last)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// bearer returns a copy of client that sends the token.
func bearer(client *http.Client, token string) *http.Client {
	c := *client
	c.Transport = tokenTransport{base: client.Transport, token: token}
	return &c
}

type tokenTransport struct {
	base  http.RoundTripper
	token string
}

func (t tokenTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+t.token)
	return t.base.RoundTrip(r)
}

// randomToken is a 32-byte hex token for the static token file.
func randomToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("controlplane: token: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// errNoPEM is returned when a generated PEM file cannot be read back.
var errNoPEM = errors.New("controlplane: no certificate in PEM data")

// certPool reads a PEM CA certificate into a pool.
func certPool(path string) (*x509.CertPool, error) {
	b, err := os.ReadFile(path) //nolint:gosec // a file this package wrote
	if err != nil {
		return nil, fmt.Errorf("controlplane: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, errNoPEM
	}
	return pool, nil
}
