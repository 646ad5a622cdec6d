package config

import (
	"maps"
	"strings"
	"testing"
)

// TestEveryPinAgreesWithItsKubernetesMinor: each row of versions.go pins
// every add-on as an EKS build, kube-proxy and Cluster Autoscaler of the
// row's own minor, and the chart exactly. Chart 9.52.1 with its default
// image ran Cluster Autoscaler 1.34 on a 1.35 cluster.
func TestEveryPinAgreesWithItsKubernetesMinor(t *testing.T) {
	if _, err := ReleaseFor(DefaultKubernetesVersion); err != nil {
		t.Fatalf("the default minor has no pins: %v", err)
	}
	for _, minor := range KubernetesVersions() {
		r, err := ReleaseFor(minor)
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Check(minor); err != nil {
			t.Error(err)
		}
	}
}

// TestCheckRefusesWhatDisagrees: each way a row can disagree with its minor
// is refused, naming what is wrong.
func TestCheckRefusesWhatDisagrees(t *testing.T) {
	good, err := ReleaseFor("1.35")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		mutate func(*KubernetesRelease)
		want   string
	}{
		{"autoscaler of the previous minor", func(r *KubernetesRelease) { r.ClusterAutoscalerImage = "v1.34.1" }, "must run its cluster's minor"},
		{"autoscaler not a release", func(r *KubernetesRelease) { r.ClusterAutoscalerImage = "latest" }, "not a release of Kubernetes 1.35"},
		{"kube-proxy of another minor", func(r *KubernetesRelease) { r.Addons["kube-proxy"] = "v1.34.2-eksbuild.1" }, "kube-proxy v1.34.2-eksbuild.1"},
		{"add-on missing", func(r *KubernetesRelease) { delete(r.Addons, "coredns") }, "add-on coredns is not pinned"},
		{"add-on not an EKS build", func(r *KubernetesRelease) { r.Addons["vpc-cni"] = "latest" }, "not an EKS add-on build"},
		{"add-on the program does not install", func(r *KubernetesRelease) { r.Addons["aws-ebs-csi-driver"] = "v1.50.0-eksbuild.1" }, "not an add-on this program installs"},
		{"chart by range", func(r *KubernetesRelease) { r.ClusterAutoscalerChart = "9.x" }, "not an exact chart version"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := good
			r.Addons = maps.Clone(good.Addons)
			c.mutate(&r)
			err := r.Check("1.35")
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("Check = %v, want an error containing %q", err, c.want)
			}
		})
	}
	if err := good.Check("1.36"); err == nil {
		t.Error("the 1.35 pins pass for a 1.36 cluster")
	}
}
