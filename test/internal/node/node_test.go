package node

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestUnescapeMount(t *testing.T) {
	cases := map[string]string{
		`/run/netns/cni-1`:         "/run/netns/cni-1",
		`/tmp/with\040space/x`:     "/tmp/with space/x",
		`/tmp/tab\011and\134slash`: "/tmp/tab\tand\\slash",
		`/tmp/not\08escape`:        `/tmp/not\08escape`,
		`/tmp/trailing\04`:         `/tmp/trailing\04`,
	}
	for in, want := range cases {
		if got := unescapeMount(in); got != want {
			t.Errorf("unescapeMount(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSplitRule(t *testing.T) {
	cases := []struct {
		rule string
		want []string
	}{
		{`-A KUBE-SERVICES ! -d 127.0.0.0/8 -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS`,
			[]string{"-A", "KUBE-SERVICES", "!", "-d", "127.0.0.0/8", "-m", "comment", "--comment", "kubernetes service nodeports; NOTE: this must be the last rule in this chain", "-m", "addrtype", "--dst-type", "LOCAL", "-j", "KUBE-NODEPORTS"}},
		{`-A OUTPUT -m comment --comment "say \"hi\" \\ bye" -j X`, []string{"-A", "OUTPUT", "-m", "comment", "--comment", `say "hi" \ bye`, "-j", "X"}},
		{`-A POSTROUTING -m comment --comment "" -j Y`, []string{"-A", "POSTROUTING", "-m", "comment", "--comment", "", "-j", "Y"}},
		{`-A INPUT   -j ACCEPT `, []string{"-A", "INPUT", "-j", "ACCEPT"}},
	}
	for _, tc := range cases {
		got := splitRule(tc.rule)
		if strings.Join(got, "|") != strings.Join(tc.want, "|") || len(got) != len(tc.want) {
			t.Errorf("splitRule(%q) =\n%q\nwant\n%q", tc.rule, got, tc.want)
		}
	}
}

func TestJumpTarget(t *testing.T) {
	cases := []struct{ rule, want string }{
		{"-A PREROUTING -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES", "KUBE-SERVICES"},
		{"-A POSTROUTING -s 10.244.0.2/32 -g CNI-abc", "CNI-abc"},
		{"-A INPUT -p tcp --dport 22 -m state --state NEW", ""},
	}
	for _, tc := range cases {
		if got := jumpTarget(strings.Fields(tc.rule)); got != tc.want {
			t.Errorf("jumpTarget(%q) = %q, want %q", tc.rule, got, tc.want)
		}
	}
}

// The settings the issue found necessary on this kind of machine are in
// the rendered configurations.
func TestConfigs(t *testing.T) {
	p := newPaths("/tmp/gopherops-node-x")
	cases := []struct {
		name, text string
		want       []string
	}{
		{"containerd", containerdConfig(p, "gopherops.local/pause:1"), []string{
			"restrict_oom_score_adj = true", `sandbox_image = "gopherops.local/pause:1"`, "SystemdCgroup = false",
			`address = "/tmp/gopherops-node-x/containerd/containerd.sock"`, `conf_dir = "/tmp/gopherops-node-x/cni/net.d"`,
		}},
		{"kubelet", kubeletConfig(p, "/ca.crt", 10250, 10248), []string{
			"failCgroupV1: false", "cgroupDriver: cgroupfs", "containerRuntimeEndpoint: unix:///tmp/gopherops-node-x/containerd/containerd.sock",
			"address: " + NodeIP, "readOnlyPort: 0", "anonymous:\n    enabled: false", "clientCAFile: /ca.crt",
			"imageGCHighThresholdPercent: 100", "clusterDNS:\n- " + NodeIP, `nodefs.available: "1%"`,
		}},
		{"kube-proxy", proxyConfig("/kc", 1, 2), []string{"mode: iptables", "localhostNodePorts: false", "maxPerCore: 0", "clusterCIDR: " + PodCIDR}},
		{"coredns", corefile("/kc", 3, 4), []string{"bind " + NodeIP, "kubernetes cluster.local in-addr.arpa ip6.arpa {", "kubeconfig /kc", "ready 127.0.0.1:3"}},
	}
	for _, tc := range cases {
		for _, want := range tc.want {
			if !strings.Contains(tc.text, want) {
				t.Errorf("%s configuration lacks %q:\n%s", tc.name, want, tc.text)
			}
		}
	}

	raw, err := cniConfig(p)
	if err != nil {
		t.Fatal(err)
	}
	var conf struct {
		Plugins []struct {
			Type, Bridge string
			IsGateway    bool
			IPAM         struct {
				DataDir string
				Ranges  [][]struct{ Subnet, Gateway string }
			}
		}
	}
	if err := json.Unmarshal(raw, &conf); err != nil {
		t.Fatal(err)
	}
	b := conf.Plugins[0]
	if b.Type != "bridge" || b.Bridge != BridgeName || !b.IsGateway || b.IPAM.DataDir != p.cniDataDir ||
		b.IPAM.Ranges[0][0].Subnet != PodCIDR || b.IPAM.Ranges[0][0].Gateway != NodeIP {
		t.Errorf("CNI bridge = %+v", b)
	}
}
