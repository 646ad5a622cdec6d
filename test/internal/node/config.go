package node

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Network of the node: a bridge the node creates, its pods' subnet and the
// address the kubelet, CoreDNS and the API server's kubelet calls use.
const (
	// BridgeName is the node's bridge; a leftover of a killed run is recognised by it.
	BridgeName = "gopherops0"
	// PodCIDR is the pods' subnet, behind the bridge.
	PodCIDR = "10.244.0.0/24"
	// NodeIP is the bridge's address: the node's InternalIP and the cluster DNS address.
	NodeIP = "10.244.0.1"
	// NodeName is the node's name in the API.
	NodeName = "gopherops-node"
	// ClusterDomain is the DNS domain of Services.
	ClusterDomain = "cluster.local"
	// cniBinDir is where Debian's containernetworking-plugins installs the plugins.
	cniBinDir = "/usr/lib/cni"
)

// paths are the node's files under its directory.
type paths struct {
	dir                               string
	containerdConfig, containerdRoot  string
	containerdState, containerdSocket string
	cniConfDir, cniDataDir            string
	kubeletRoot, kubeletConfig        string
	kubeletKubeconfig, podLogs        string
	resolvConf, proxyConfig, corefile string
	volumes                           string
}

func newPaths(dir string) paths {
	j := func(p string) string { return dir + "/" + p }
	return paths{
		dir:               dir,
		containerdConfig:  j("containerd/config.toml"),
		containerdRoot:    j("containerd/root"),
		containerdState:   j("containerd/state"),
		containerdSocket:  j("containerd/containerd.sock"),
		cniConfDir:        j("cni/net.d"),
		cniDataDir:        j("cni/ipam"),
		kubeletRoot:       j("kubelet"),
		kubeletConfig:     j("kubelet-config.yaml"),
		kubeletKubeconfig: j("kubelet.kubeconfig"),
		podLogs:           j("pod-logs"),
		resolvConf:        j("resolv.conf"),
		proxyConfig:       j("kube-proxy-config.yaml"),
		corefile:          j("Corefile"),
		volumes:           j("volumes"),
	}
}

// containerdConfig is containerd 1.6's configuration (version 2): its
// state under the node's directory, the CRI plugin with the cgroupfs
// driver, the local pause image and restrict_oom_score_adj (this kernel
// refuses a negative oom_score_adj even from root: without it runc fails
// with "can't get final child's PID from pipe").
func containerdConfig(p paths, pauseImage string) string {
	return fmt.Sprintf(`version = 2
root = %q
state = %q

[grpc]
  address = %q

[ttrpc]
  address = %q

[metrics]
  address = ""

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = %q
  restrict_oom_score_adj = true
  disable_apparmor = true
  enable_selinux = false
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = %q
    conf_dir = %q
    max_conf_num = 1
`, p.containerdRoot, p.containerdState, p.containerdSocket, p.containerdSocket+".ttrpc", pauseImage, cniBinDir, p.cniConfDir)
}

// cniConfig is the pods' network: the bridge plugin on the node's bridge
// (the gateway), host-local addresses from PodCIDR kept under the node's
// directory, and portmap. It enforces no NetworkPolicy.
func cniConfig(p paths) ([]byte, error) {
	conf := map[string]any{
		"cniVersion": "1.0.0",
		"name":       "gopherops",
		"plugins": []map[string]any{
			{
				"type":        "bridge",
				"bridge":      BridgeName,
				"isGateway":   true,
				"ipMasq":      false,
				"hairpinMode": true,
				"ipam": map[string]any{
					"type":    "host-local",
					"dataDir": p.cniDataDir,
					"ranges":  [][]map[string]string{{{"subnet": PodCIDR, "gateway": NodeIP}}},
					"routes":  []map[string]string{{"dst": "0.0.0.0/0"}},
				},
			},
			{"type": "portmap", "capabilities": map[string]bool{"portMappings": true}},
		},
	}
	return json.MarshalIndent(conf, "", "  ")
}

// kubeletConfig is the KubeletConfiguration: cgroup v1 allowed
// (failCgroupV1: false; 1.34 still allows it), the cgroupfs driver,
// containerd's socket, serving on the node's address with the control
// plane's CA for client certificates (only the API server holds one), no
// anonymous access, image garbage collection off (the images are imported
// here, never pulled), and the cluster DNS on the node's address.
func kubeletConfig(p paths, caCert string, port, healthzPort int) string {
	return fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
failCgroupV1: false
cgroupDriver: cgroupfs
containerRuntimeEndpoint: unix://%s
address: %s
port: %d
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: %d
authentication:
  anonymous:
    enabled: false
  webhook:
    enabled: false
  x509:
    clientCAFile: %s
authorization:
  mode: AlwaysAllow
clusterDNS:
- %s
clusterDomain: %s
resolvConf: %s
podLogsDir: %s
failSwapOn: false
protectKernelDefaults: false
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard:
  memory.available: 100Mi
  nodefs.available: "1%%"
  imagefs.available: "1%%"
  nodefs.inodesFree: "1%%"
serializeImagePulls: false
rotateCertificates: false
serverTLSBootstrap: false
staticPodPath: ""
`, p.containerdSocket, NodeIP, port, healthzPort, caCert, NodeIP, ClusterDomain, p.resolvConf, p.podLogs)
}

// proxyConfig is the KubeProxyConfiguration: iptables mode, health and
// metrics on loopback, conntrack settings left as they are (0), and no
// route_localnet (localhost node ports off).
func proxyConfig(kubeconfig string, healthzPort, metricsPort int) string {
	return fmt.Sprintf(`apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection:
  kubeconfig: %s
mode: iptables
hostnameOverride: %s
bindAddress: %s
healthzBindAddress: 127.0.0.1:%d
metricsBindAddress: 127.0.0.1:%d
clusterCIDR: %s
iptables:
  localhostNodePorts: false
  masqueradeAll: false
conntrack:
  maxPerCore: 0
  min: 0
  tcpEstablishedTimeout: 0s
  tcpCloseWaitTimeout: 0s
`, kubeconfig, NodeName, NodeIP, healthzPort, metricsPort, PodCIDR)
}

// corefile serves the cluster domain from the API (the kubernetes plugin),
// bound to the node's address only; names outside it get no answer (the
// machine has no upstream to forward to).
func corefile(kubeconfig string, readyPort, healthPort int) string {
	return strings.Join([]string{
		".:53 {",
		"    bind " + NodeIP,
		"    errors",
		fmt.Sprintf("    health 127.0.0.1:%d", healthPort),
		fmt.Sprintf("    ready 127.0.0.1:%d", readyPort),
		"    kubernetes " + ClusterDomain + " in-addr.arpa ip6.arpa {",
		"        kubeconfig " + kubeconfig,
		"        pods insecure",
		"        fallthrough in-addr.arpa ip6.arpa",
		"    }",
		"    cache 30",
		"}",
		"",
	}, "\n")
}
