package config

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
)

// This file is the one place every version the program installs is pinned.
// Stack files pin none of them: a stack picks its Kubernetes minor
// (gopherops:kubernetesVersion) and gets everything that must agree with it
// from the row of that minor below, so the pins of two stacks, or of a stack
// and the code, can never disagree.

// DefaultKubernetesVersion is the EKS minor a stack runs unless it names
// another row of kubernetesReleases (to try the next minor in dev first).
const DefaultKubernetesVersion = "1.35"

// KubernetesRelease is what must agree with a cluster's Kubernetes minor.
type KubernetesRelease struct {
	// Addons are the EKS add-on builds by name, each one that
	// `aws eks describe-addon-versions --kubernetes-version <minor>` lists
	// (the live suite asks EKS before it deploys). kube-proxy's build
	// carries the minor itself.
	Addons map[string]string
	// ClusterAutoscalerImage is the tag of Cluster Autoscaler's image:
	// the autoscaler must run the release of the cluster's minor, whatever
	// the chart's default image is.
	ClusterAutoscalerImage string
	// ClusterAutoscalerChart is the chart that ships that release (its
	// appVersion has the same minor).
	ClusterAutoscalerChart string
}

// kubernetesReleases are the minors the program knows how to run.
var kubernetesReleases = map[string]KubernetesRelease{
	"1.35": {
		Addons: map[string]string{
			"vpc-cni":        "v1.21.1-eksbuild.1",
			"coredns":        "v1.13.1-eksbuild.1",
			"kube-proxy":     "v1.35.0-eksbuild.2",
			"metrics-server": "v0.8.0-eksbuild.3",
		},
		ClusterAutoscalerImage: "v1.35.2",
		ClusterAutoscalerChart: "9.59.0",
	},
}

// Chart pins that do not follow the Kubernetes minor.
const (
	// LoadBalancerControllerChart is the AWS Load Balancer Controller's
	// chart (1.14.x is the controller v2.14).
	LoadBalancerControllerChart = "1.14.1"
	// MonitoringChart is kube-prometheus-stack's chart.
	MonitoringChart = "75.15.1"
	// PostgresImage is the PostgreSQL the in-cluster stacks (local,
	// pr-<number>) run unless gopherops:postgresImage names another, and
	// compose's database: the major RDS runs, pinned by digest.
	PostgresImage = "postgres:17.6@sha256:00bc86618629af00d2937fdc5a5d63db3ff8450acf52f0636ec813c7f4902929"
)

// KubernetesVersions lists the minors that have a row of pins, oldest first.
func KubernetesVersions() []string {
	return slices.Sorted(maps.Keys(kubernetesReleases))
}

// ReleaseFor returns the pins of a Kubernetes minor.
func ReleaseFor(minor string) (KubernetesRelease, error) {
	r, ok := kubernetesReleases[minor]
	if !ok {
		return KubernetesRelease{}, fmt.Errorf("no add-ons and autoscaler are pinned for Kubernetes %s in infra/config/versions.go (pinned: %s)",
			minor, strings.Join(KubernetesVersions(), ", "))
	}
	out := r
	out.Addons = maps.Clone(r.Addons)
	return out, nil
}

// RequiredAddons are the EKS add-ons every AWS cluster runs.
func RequiredAddons() []string {
	return []string{"coredns", "kube-proxy", "metrics-server", "vpc-cni"}
}

var (
	addonBuildPattern = regexp.MustCompile(`^v([0-9]+)\.([0-9]+)\.[0-9]+-eksbuild\.[0-9]+$`)
	imageTagPattern   = regexp.MustCompile(`^v([0-9]+)\.([0-9]+)\.[0-9]+$`)
)

// Check reports every way a release disagrees with its minor: an add-on
// missing, unknown or not an EKS build; kube-proxy of another minor; an
// autoscaler of another minor; a chart not pinned exactly.
func (r KubernetesRelease) Check(minor string) error {
	var problems []string
	for _, name := range RequiredAddons() {
		v, ok := r.Addons[name]
		switch {
		case !ok:
			problems = append(problems, fmt.Sprintf("add-on %s is not pinned (aws eks describe-addon-versions --addon-name %s --kubernetes-version %s)", name, name, minor))
		case !addonBuildPattern.MatchString(v):
			problems = append(problems, fmt.Sprintf("add-on %s: %q is not an EKS add-on build such as v1.20.0-eksbuild.1", name, v))
		case name == "kube-proxy" && minorOf(addonBuildPattern, v) != minor:
			problems = append(problems, fmt.Sprintf("kube-proxy %s is not the build of Kubernetes %s", v, minor))
		}
	}
	for _, name := range slices.Sorted(maps.Keys(r.Addons)) {
		if !slices.Contains(RequiredAddons(), name) {
			problems = append(problems, fmt.Sprintf("%q is not an add-on this program installs (%v)", name, RequiredAddons()))
		}
	}
	if got := minorOf(imageTagPattern, r.ClusterAutoscalerImage); got != minor {
		problems = append(problems, fmt.Sprintf("Cluster Autoscaler %q is not a release of Kubernetes %s: the autoscaler must run its cluster's minor", r.ClusterAutoscalerImage, minor))
	}
	if !semverPattern.MatchString(r.ClusterAutoscalerChart) {
		problems = append(problems, fmt.Sprintf("Cluster Autoscaler chart %q is not an exact chart version such as 1.2.3", r.ClusterAutoscalerChart))
	}
	if len(problems) > 0 {
		return fmt.Errorf("the pins of Kubernetes %s disagree with it: %s", minor, strings.Join(problems, "; "))
	}
	return nil
}

// minorOf is the "major.minor" of a version matched by p, or "".
func minorOf(p *regexp.Regexp, v string) string {
	m := p.FindStringSubmatch(v)
	if m == nil {
		return ""
	}
	return m[1] + "." + m[2]
}
