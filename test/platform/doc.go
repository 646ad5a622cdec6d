//go:build platform

// Package platform proves the Kubernetes half of the infra program for
// real: the real Pulumi engine, driven through the Automation API with a
// local file backend, runs the `local` stack's program (infra/platform
// Program, exactly what `pulumi up -s local` runs) against a real
// Kubernetes API server, and the suite checks with Terratest's k8s module
// what that API server stored and what runs.
//
// Without KUBECONFIG it starts its own control plane on loopback (etcd,
// kube-apiserver, kube-controller-manager, kube-scheduler from `make tools`)
// and, where the machine allows it, a node (test/internal/node: containerd,
// kubelet, kube-proxy, CoreDNS) with images built here (test/internal/images):
// the pods run, every wait is real, the service journeys pass through a
// port-forward and the ClusterIP Service, and a rollout keeps a request loop
// answered. Where no node can run (or GOPHEROPS_PLATFORM_NO_NODE is set) pods
// are admitted but never run, and the stack's gopherops:skipAwait switch
// stops Pulumi from waiting for them. With KUBECONFIG (kind in CI) and
// GOPHEROPS_PLATFORM_IMAGE/GOPHEROPS_PLATFORM_UPDATE_IMAGE naming images
// the cluster has, pods run and every rollout is awaited for real.
//
// The files carry the build tag platform: `make test-platform` runs them.
package platform
