package toolchain

import "github.com/gopherops/gopherops/service/s3local"

// The pinned versions: the one place to change when upgrading a tool. A cached
// build lives in a directory named after its version, so a new pin is built
// next to the old one instead of replacing it.
const (
	// PulumiVersion is the Pulumi engine release built from github.com/pulumi/pulumi/pkg/v3.
	PulumiVersion = "v3.274.1"
	// KubernetesProviderVersion is the plugin version the Kubernetes provider reports to the engine.
	KubernetesProviderVersion = "4.32.0"
	// KubernetesProviderModuleVersion is the proxy-served version of github.com/pulumi/pulumi-kubernetes/provider/v4 built as KubernetesProviderVersion.
	KubernetesProviderModuleVersion = "v4.0.0-20260115033456-f47bc2d6f199"
	// KubernetesVersion is the k8s.io/kubernetes release of every Kubernetes
	// program: kube-apiserver, kube-controller-manager, kube-scheduler,
	// kubelet and kube-proxy (one release, so the node never skews).
	KubernetesVersion = "v1.34.3"
	// CoreDNSVersion is the github.com/coredns/coredns release of the node's cluster DNS.
	CoreDNSVersion = "v1.14.7"
	// EtcdVersion is the go.etcd.io/etcd/server/v3 release built when no etcd is on PATH.
	EtcdVersion = "v3.6.16"
	// SeaweedFSVersion is the SeaweedFS release of weed, the S3 server the
	// service's tests start (pinned in service/s3local, which finds it).
	SeaweedFSVersion = s3local.Version
)

// Modules, packages and version variables of the builds.
const (
	pulumiModule       = "github.com/pulumi/pulumi/pkg/v3"
	pulumiPackage      = pulumiModule + "/cmd/pulumi"
	pulumiVersionVar   = "github.com/pulumi/pulumi/sdk/v3/go/common/version.Version"
	providerModule     = "github.com/pulumi/pulumi-kubernetes/provider/v4"
	providerCmdDir     = "cmd/pulumi-resource-kubernetes"
	providerVersionVar = providerModule + "/pkg/version.Version"
	kubernetesModule   = "k8s.io/kubernetes"
	kubeVersionPackage = "k8s.io/component-base/version"
	coreDNSModule      = "github.com/coredns/coredns"
	etcdModule         = "go.etcd.io/etcd/server/v3"
	etcdMainPackage    = etcdModule + "/etcdmain"
)

// Wrapper modules under <cache>/src/: one per group, shared by the tools of a group.
const (
	groupEtcd     = "etcd"
	groupKube     = "kube"
	groupPulumi   = "pulumi"
	groupProvider = "k8sprovider"
	groupCoreDNS  = "coredns"
	groupWeed     = "seaweedfs"
)

// tool is what the package knows about one program: where its build is cached
// and how expensive building it is.
type tool struct {
	name    string
	version string // version of a cached build; also in the name of its directory
	dir     string // directory under the cache root holding the binary
	group   string // wrapper module under <cache>/src/
	cost    string // cold-build cost, for progress lines and `-check`
	// versionArgs print the version of a binary found on PATH; nil: never run it.
	versionArgs []string
	// optional tools are not the platform suite's: their absence does not
	// make it unready.
	optional bool
}

// tools lists the programs in build order: the platform suite's, cheapest first, then weed. A function, not a
// variable: the table is never modified.
func tools() []tool {
	kubeDir := "kubernetes-" + KubernetesVersion
	return []tool{
		{name: Etcd, version: EtcdVersion, dir: "etcd-" + EtcdVersion, group: groupEtcd,
			cost: "cold ~2 CPU-min", versionArgs: []string{"--version"}},
		{name: KubeAPIServer, version: KubernetesVersion, dir: kubeDir, group: groupKube,
			cost: "cold ~10 CPU-min", versionArgs: []string{"--version"}},
		{name: KubeControllerManager, version: KubernetesVersion, dir: kubeDir, group: groupKube,
			cost: "cold: a few CPU-min on top of kube-apiserver, whose packages it shares", versionArgs: []string{"--version"}},
		{name: KubeScheduler, version: KubernetesVersion, dir: kubeDir, group: groupKube,
			cost: "cold: about a CPU-min on top of kube-apiserver", versionArgs: []string{"--version"}},
		{name: Kubelet, version: KubernetesVersion, dir: kubeDir, group: groupKube,
			cost: "cold: a few CPU-min on top of kube-apiserver", versionArgs: []string{"--version"}},
		{name: KubeProxy, version: KubernetesVersion, dir: kubeDir, group: groupKube,
			cost: "cold: about a CPU-min on top of kube-apiserver", versionArgs: []string{"--version"}},
		{name: CoreDNS, version: CoreDNSVersion, dir: "coredns-" + CoreDNSVersion, group: groupCoreDNS,
			cost: "cold ~3 CPU-min (only the plugins the node's Corefile uses)", versionArgs: []string{"-version"}},
		{name: Pulumi, version: PulumiVersion, dir: "pulumi-" + PulumiVersion, group: groupPulumi,
			cost: "cold ~8 CPU-min, 2.3 GB of build cache", versionArgs: []string{"version"}},
		{name: KubernetesProvider, version: KubernetesProviderVersion, dir: "pulumi-kubernetes-" + KubernetesProviderVersion, group: groupProvider,
			cost: "cold ~12.5 CPU-min, 5.1 GB of build cache"},
		// Last, and not the platform suite's: the S3 server of the service's
		// tests, built with whatever budget the platform tools leave (without
		// it those tests skip, saying so).
		{name: Weed, version: SeaweedFSVersion, dir: "seaweedfs-" + SeaweedFSVersion, group: groupWeed,
			cost: "cold: several CPU-min (see docs/testing.md)", versionArgs: []string{"version"}, optional: true},
	}
}

// Release downloads: official archives tried before a build, each verified
// against a SHA-256 pinned here before anything in it is used. A release with
// an empty SHA256 is refused, never installed unverified: the sums below
// could not be obtained from a source this repository can cite (the machine
// that wrote this has no internet, and no copy of the projects' published
// checksum files was available), so until someone with internet pins them
// from the release's own checksum file (pulumi-<v>-checksums.txt, the
// provider's pulumi-kubernetes_<v>_checksums.txt, controller-tools'
// envtest-releases.yaml gives SHA-512s; the GitHub release page lists each
// asset's SHA-256), every tool is built from the Go module proxy.
const (
	// EnvtestVersion is the controller-tools envtest release whose
	// kube-apiserver and etcd binaries may be downloaded; envtest publishes
	// no v1.34.3, so a download serves the same minor version.
	EnvtestVersion = "v1.34.1"
)

// pinnedSums are the SHA-256 sums of the release archives, by archive name
// (see above for why there are none yet).
func pinnedSums() map[string]string {
	return map[string]string{}
}

// releases are the official downloads of the tools that have one, for
// goos/goarch; tools without an entry (or on other platforms) are built.
func releases(goos, goarch string) map[string]Release {
	if goos != "linux" && goos != "darwin" || goarch != "amd64" && goarch != "arm64" {
		return nil
	}
	pulumiArch := map[string]string{"amd64": "x64", "arm64": "arm64"}[goarch]
	pulumiArchive := "pulumi-" + PulumiVersion + "-" + goos + "-" + pulumiArch + ".tar.gz"
	providerArchive := "pulumi-resource-kubernetes-v" + KubernetesProviderVersion + "-" + goos + "-" + goarch + ".tar.gz"
	envtestArchive := "envtest-" + EnvtestVersion + "-" + goos + "-" + goarch + ".tar.gz"
	sums := pinnedSums()
	envtestURL := "https://github.com/kubernetes-sigs/controller-tools/releases/download/envtest-" + EnvtestVersion + "/" + envtestArchive
	return map[string]Release{
		Pulumi: {
			URL:    "https://github.com/pulumi/pulumi/releases/download/" + PulumiVersion + "/" + pulumiArchive,
			SHA256: sums[pulumiArchive], Member: "pulumi/pulumi", Version: PulumiVersion,
		},
		KubernetesProvider: {
			URL:    "https://github.com/pulumi/pulumi-kubernetes/releases/download/v" + KubernetesProviderVersion + "/" + providerArchive,
			SHA256: sums[providerArchive], Member: "pulumi-resource-kubernetes", Version: KubernetesProviderVersion,
		},
		KubeAPIServer: {
			URL: envtestURL, SHA256: sums[envtestArchive],
			Member: "controller-tools/envtest/kube-apiserver", Version: EnvtestVersion,
		},
		Etcd: {
			URL: envtestURL, SHA256: sums[envtestArchive],
			// The archive does not say which etcd it carries: the binary is asked.
			Member: "controller-tools/envtest/etcd",
		},
	}
}
