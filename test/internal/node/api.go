package node

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"time"
)

// api is the few REST calls the node makes to the API server as the admin:
// its readiness, its volumes and the pods it must drain. Plain HTTP and
// JSON keep client-go out of every build of this package.
type api struct {
	server string
	token  string
	client *http.Client
}

func newAPI(server, caCert, token string) (*api, error) {
	pem, err := os.ReadFile(caCert) //nolint:gosec // the control plane's CA
	if err != nil {
		return nil, fmt.Errorf("node: CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, errors.New("node: no certificate in the CA file")
	}
	return &api{server: server, token: token, client: &http.Client{
		Timeout:   30 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}},
	}}, nil
}

// errNotFound is a 404 from the API server.
var errNotFound = errors.New("not found")

// do sends body (JSON-encoded unless nil) and decodes the answer into out (unless nil).
func (a *api) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("node: %s %s: %w", method, path, err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.server+path, rd)
	if err != nil {
		return fmt.Errorf("node: %s %s: %w", method, path, err)
	}
	req.Header.Set("Authorization", "Bearer "+a.token)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := a.client.Do(req)
	if err != nil {
		return fmt.Errorf("node: %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("node: %s %s: %w", method, path, err)
	}
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return fmt.Errorf("node: %s %s: %w", method, path, errNotFound)
	case resp.StatusCode >= 300:
		return fmt.Errorf("node: %s %s: %s: %s", method, path, resp.Status, bytes.TrimSpace(data))
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("node: %s %s: %w", method, path, err)
		}
	}
	return nil
}

// nodeReady reports whether the node's Ready condition is True, and why not.
func (a *api) nodeReady(ctx context.Context) (bool, string, error) {
	var n struct {
		Status struct {
			Conditions []struct {
				Type, Status, Reason, Message string
			}
		}
	}
	if err := a.do(ctx, http.MethodGet, "/api/v1/nodes/"+NodeName, nil, &n); err != nil {
		if errors.Is(err, errNotFound) {
			return false, "not registered yet", nil
		}
		return false, "", err
	}
	for _, c := range n.Status.Conditions {
		if c.Type == "Ready" {
			return c.Status == "True", c.Reason + ": " + c.Message, nil
		}
	}
	return false, "no Ready condition yet", nil
}

// podRef names a pod.
type podRef struct{ namespace, name string }

// nodePods lists the pods bound to the node.
func (a *api) nodePods(ctx context.Context) ([]podRef, error) {
	var list struct {
		Items []struct {
			Metadata struct{ Namespace, Name string }
		}
	}
	q := url.Values{"fieldSelector": {"spec.nodeName=" + NodeName}}
	if err := a.do(ctx, http.MethodGet, "/api/v1/pods?"+q.Encode(), nil, &list); err != nil {
		return nil, err
	}
	out := make([]podRef, 0, len(list.Items))
	for _, it := range list.Items {
		out = append(out, podRef{it.Metadata.Namespace, it.Metadata.Name})
	}
	return out, nil
}

// deletePod deletes a pod with the given grace period.
func (a *api) deletePod(ctx context.Context, p podRef, grace int) error {
	body := map[string]any{"kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": grace}
	err := a.do(ctx, http.MethodDelete, "/api/v1/namespaces/"+url.PathEscape(p.namespace)+"/pods/"+url.PathEscape(p.name), body, nil)
	if errors.Is(err, errNotFound) {
		return nil
	}
	return err
}

// create posts obj to path; an object that already exists is an error.
func (a *api) create(ctx context.Context, path string, obj any) error {
	return a.do(ctx, http.MethodPost, path, obj, nil)
}

// remove deletes the object at path; a missing one is no error.
func (a *api) remove(ctx context.Context, path string) error {
	err := a.do(ctx, http.MethodDelete, path, nil, nil)
	if errors.Is(err, errNotFound) {
		return nil
	}
	return err
}

// storageClass is the node's default StorageClass: each claim gets a
// hostPath volume of its own from the node's provisioner at once, deleted
// with the claim.
func storageClass(name string) map[string]any {
	return map[string]any{
		"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
		"metadata": map[string]any{
			"name":        name,
			"annotations": map[string]string{"storageclass.kubernetes.io/is-default-class": "true"},
		},
		"provisioner":       Provisioner,
		"volumeBindingMode": "Immediate",
		"reclaimPolicy":     "Delete",
	}
}
