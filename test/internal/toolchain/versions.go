package toolchain

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
	// KubernetesVersion is the k8s.io/kubernetes release of kube-apiserver and kube-controller-manager.
	KubernetesVersion = "v1.34.3"
	// EtcdVersion is the go.etcd.io/etcd/server/v3 release built when no etcd is on PATH.
	EtcdVersion = "v3.6.16"
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
	etcdModule         = "go.etcd.io/etcd/server/v3"
	etcdMainPackage    = etcdModule + "/etcdmain"
)

// Wrapper modules under <cache>/src/: one per group, shared by the tools of a group.
const (
	groupEtcd     = "etcd"
	groupKube     = "kube"
	groupPulumi   = "pulumi"
	groupProvider = "k8sprovider"
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
}

// tools lists the programs in build order, cheapest first. A function, not a
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
		{name: Pulumi, version: PulumiVersion, dir: "pulumi-" + PulumiVersion, group: groupPulumi,
			cost: "cold ~8 CPU-min, 2.3 GB of build cache", versionArgs: []string{"version"}},
		{name: KubernetesProvider, version: KubernetesProviderVersion, dir: "pulumi-kubernetes-" + KubernetesProviderVersion, group: groupProvider,
			cost: "cold ~12.5 CPU-min, 5.1 GB of build cache"},
	}
}
