package cluster_test

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"gopkg.in/yaml.v3"

	"github.com/gopherops/gopherops/infra/cluster"
	"github.com/gopherops/gopherops/infra/config"
	"github.com/gopherops/gopherops/infra/internal/mocks"
)

const (
	tAccessEntry  = "aws:eks/accessEntry:AccessEntry"
	tAccessPolicy = "aws:eks/accessPolicyAssociation:AccessPolicyAssociation"
	tK8sProvider  = "pulumi:providers:kubernetes"

	deployRole   = "arn:aws:iam::123456789012:role/gopherops-deploy"
	previewRole  = "arn:aws:iam::123456789012:role/gopherops-preview"
	operatorRole = "arn:aws:iam::123456789012:role/AWSReservedSSO_Admin_0123"
	prRole       = "arn:aws:iam::123456789012:role/gopherops-pr-stacks"
)

// newCluster runs cluster.New under the mock monitor with the given grants
// in the given partition.
func newCluster(t *testing.T, partition string, access []cluster.AccessGrant) (*mocks.Monitor, error) {
	t.Helper()
	mon, _, err := newClusterWith(t, func(a *cluster.Args) {
		a.Partition = partition
		a.Access = access
	})
	return mon, err
}

// newClusterWith runs cluster.New under the mock monitor with the dev
// cluster's arguments as edit leaves them; it returns the component's
// OIDC issuer and kubeconfig as the program saw them.
func newClusterWith(t *testing.T, edit func(*cluster.Args)) (*mocks.Monitor, outputs, error) {
	t.Helper()
	args := cluster.Args{
		Cluster: config.Cluster{
			Name:                     "gopherops-dev",
			KubernetesVersion:        "1.35",
			AddonVersions:            map[string]string{"vpc-cni": "v1", "kube-proxy": "v1", "coredns": "v1", "metrics-server": "v1"},
			LogRetentionDays:         30,
			NodeInstanceTypes:        []string{"t3.medium"},
			NodeAmiType:              "AL2023_x86_64_STANDARD",
			NodeDiskSizeGiB:          20,
			NodeMinSize:              1,
			NodeDesiredSize:          2,
			NodeMaxSize:              3,
			KMSKeyDeletionWindowDays: 7,
		},
		Region:              mocks.Region,
		Partition:           "aws",
		PrivateSubnetIDs:    pulumi.ToStringArray([]string{"subnet-a", "subnet-b"}),
		NodeSecurityGroupID: pulumi.String("sg-nodes"),
		Access:              []cluster.AccessGrant{{PrincipalArn: deployRole, Policy: cluster.PolicyClusterAdmin}},
	}
	edit(&args)
	mon := mocks.New()
	var (
		mu  sync.Mutex
		out outputs
	)
	err := pulumi.RunErr(func(ctx *pulumi.Context) error {
		c, err := cluster.New(ctx, "gopherops", args)
		if err != nil {
			return err
		}
		// The program's run waits for these before RunErr returns; an
		// output that fails leaves its value empty instead of hanging.
		c.OIDCIssuer.ApplyT(func(v string) string { mu.Lock(); out.oidcIssuer = v; mu.Unlock(); return v })
		c.Kubeconfig.ApplyT(func(v string) string { mu.Lock(); out.kubeconfig = v; mu.Unlock(); return v })
		return nil
	}, pulumi.WithMocks("gopherops", "dev", mon))
	mu.Lock()
	defer mu.Unlock()
	return mon, out, err
}

// outputs are the component's outputs other packages build on.
type outputs struct {
	oidcIssuer, kubeconfig string
}

// TestAccessPolicyPerRole: each principal's access entry gets exactly the
// policy its grant names, on the whole cluster, in the stack's partition:
// the preview role reads (a read-only role that could write would make
// every pull request's preview a way into the cluster), the deploy role and
// the operators administer. The Kubernetes provider waits for every one.
func TestAccessPolicyPerRole(t *testing.T) {
	for _, partition := range []string{"aws", "aws-us-gov"} {
		t.Run(partition, func(t *testing.T) {
			mon, err := newCluster(t, partition, []cluster.AccessGrant{
				{PrincipalArn: previewRole, Policy: cluster.PolicyAdminView},
				{PrincipalArn: operatorRole, Policy: cluster.PolicyClusterAdmin},
				{PrincipalArn: deployRole, Policy: cluster.PolicyClusterAdmin},
			})
			if err != nil {
				t.Fatal(err)
			}
			prefix := "arn:" + partition + ":eks::aws:cluster-access-policy/"
			want := map[string]string{
				deployRole:   prefix + "AmazonEKSClusterAdminPolicy",
				previewRole:  prefix + "AmazonEKSAdminViewPolicy",
				operatorRole: prefix + "AmazonEKSClusterAdminPolicy",
			}
			entries := mon.ByType(tAccessEntry)
			if len(entries) != len(want) {
				t.Fatalf("%d access entries, want %d", len(entries), len(want))
			}
			for _, e := range entries {
				arn := e.Str("principalArn")
				if _, ok := want[arn]; !ok || e.Str("type") != "STANDARD" || e.Str("clusterName") != "gopherops-dev" {
					t.Errorf("access entry %s: principal %q type %q cluster %q", e.Name, arn, e.Str("type"), e.Str("clusterName"))
				}
			}
			prov := mon.ByType(tK8sProvider)
			if len(prov) != 1 {
				t.Fatalf("%d Kubernetes providers, want 1", len(prov))
			}
			got := map[string]string{}
			for _, a := range mon.ByType(tAccessPolicy) {
				arn := a.Str("principalArn")
				if _, dup := got[arn]; dup {
					t.Errorf("%s has two policy associations", arn)
				}
				got[arn] = a.Str("policyArn")
				if a.Str("accessScope.type") != "cluster" || a.Str("clusterName") != "gopherops-dev" {
					t.Errorf("%s: scope %q on %q, want the whole cluster gopherops-dev", a.Name, a.Str("accessScope.type"), a.Str("clusterName"))
				}
				if !strings.HasSuffix(a.Name, "-access-"+arn[strings.LastIndex(arn, "/")+1:]) {
					t.Errorf("association %s is not named after its principal %s", a.Name, arn)
				}
				if !prov[0].ExplicitlyDependsOn(tAccessPolicy, a.Name) {
					t.Errorf("the Kubernetes provider does not wait for %s: the first up would get 401", a.Name)
				}
			}
			for arn, policy := range want {
				if got[arn] != policy {
					t.Errorf("%s gets %q, want %q", arn, got[arn], policy)
				}
			}
			if len(got) != len(want) {
				t.Errorf("policy associations %v, want %v", got, want)
			}
		})
	}
}

// TestAccessRefused: a grant the program does not understand fails the
// program before anything is created for it, instead of granting something.
func TestAccessRefused(t *testing.T) {
	tests := []struct {
		name   string
		access []cluster.AccessGrant
		want   string
	}{
		{"unknown policy", []cluster.AccessGrant{{PrincipalArn: deployRole, Policy: "AmazonEKSAdminPolicy"}}, `unknown policy "AmazonEKSAdminPolicy"`},
		{"edit on the whole cluster", []cluster.AccessGrant{{PrincipalArn: prRole, Policy: cluster.PolicyEdit}}, "name its namespaces"},
		{"a system group", []cluster.AccessGrant{
			{PrincipalArn: prRole, Policy: cluster.PolicyEdit, Namespaces: []string{"gopherops-pr-*"}, Groups: []string{"system:masters"}},
		}, `group "system:masters"`},
		{"no policy", []cluster.AccessGrant{{PrincipalArn: deployRole}}, `unknown policy ""`},
		{"one principal twice", []cluster.AccessGrant{
			{PrincipalArn: previewRole, Policy: cluster.PolicyAdminView},
			{PrincipalArn: previewRole, Policy: cluster.PolicyClusterAdmin},
		}, "granted twice"},
		{"a bad grant after good ones", []cluster.AccessGrant{
			{PrincipalArn: deployRole, Policy: cluster.PolicyClusterAdmin},
			{PrincipalArn: previewRole, Policy: "AmazonEKSAdminPolicy"},
		}, `unknown policy "AmazonEKSAdminPolicy"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mon, err := newCluster(t, "aws", tt.access)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
			if n, m := len(mon.ByType(tAccessEntry)), len(mon.ByType(tAccessPolicy)); n+m != 0 {
				t.Errorf("%d access entries and %d policy associations created for a refused list", n, m)
			}
		})
	}
}

// TestNamespaceScopedAccess: a grant with namespaces is associated with
// those namespaces only (the trailing wildcard EKS takes is passed as is),
// its entry carries the grant's Kubernetes groups, and the whole-cluster
// grants next to it keep the cluster scope and no groups.
func TestNamespaceScopedAccess(t *testing.T) {
	mon, err := newCluster(t, "aws", []cluster.AccessGrant{
		{PrincipalArn: deployRole, Policy: cluster.PolicyClusterAdmin},
		{PrincipalArn: prRole, Policy: cluster.PolicyEdit, Namespaces: []string{"gopherops-pr-*"}, Groups: []string{"gopherops-pr-stacks"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range mon.ByType(tAccessPolicy) {
		scope, _ := a.Get("accessScope.namespaces")
		switch a.Str("principalArn") {
		case prRole:
			if a.Str("policyArn") != "arn:aws:eks::aws:cluster-access-policy/AmazonEKSEditPolicy" || a.Str("accessScope.type") != "namespace" ||
				fmt.Sprint(scope) != "[gopherops-pr-*]" {
				t.Errorf("pull-request stacks' association = %s scope %s %v, want AmazonEKSEditPolicy on gopherops-pr-* only",
					a.Str("policyArn"), a.Str("accessScope.type"), scope)
			}
		case deployRole:
			if a.Str("accessScope.type") != "cluster" || scope != nil {
				t.Errorf("deploy role's scope = %s %v, want the cluster", a.Str("accessScope.type"), scope)
			}
		}
	}
	for _, e := range mon.ByType(tAccessEntry) {
		groups, _ := e.Get("kubernetesGroups")
		want := "<nil>"
		if e.Str("principalArn") == prRole {
			want = "[gopherops-pr-stacks]"
		}
		if got := fmt.Sprint(groups); got != want {
			t.Errorf("access entry of %s has groups %v, want %s", e.Str("principalArn"), got, want)
		}
	}
}

// TestAddonsArePinned: every add-on runs the version the stack pins; one
// without a pin (missing or empty) fails the program instead of letting
// EKS pick whatever is current.
func TestAddonsArePinned(t *testing.T) {
	for _, tc := range []struct {
		name    string
		version func(map[string]string)
		want    string
	}{
		{"all pinned", func(map[string]string) {}, ""},
		{"coredns not pinned", func(v map[string]string) { delete(v, "coredns") }, "add-on coredns has no pinned version"},
		{"kube-proxy pinned to nothing", func(v map[string]string) { v["kube-proxy"] = "" }, "add-on kube-proxy has no pinned version"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			versions := map[string]string{"vpc-cni": "v1.20.0", "kube-proxy": "v1.35.0", "coredns": "v1.12.0", "metrics-server": "v0.8.0"}
			tc.version(versions)
			mon, _, err := newClusterWith(t, func(a *cluster.Args) { a.AddonVersions = versions })
			if tc.want != "" {
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("err = %v, want %q", err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			addons := mon.ByType("aws:eks/addon:Addon")
			if len(addons) != len(versions) {
				t.Fatalf("%d add-ons, want %d", len(addons), len(versions))
			}
			for _, a := range addons {
				if name := a.Str("addonName"); a.Str("addonVersion") != versions[name] {
					t.Errorf("add-on %s runs %q, want the pin %q", name, a.Str("addonVersion"), versions[name])
				}
			}
		})
	}
}

// TestEndpointAccess: with CIDRs the API endpoint is public for them only;
// without, it is private and no CIDR list is sent (EKS would otherwise
// default it to 0.0.0.0/0).
func TestEndpointAccess(t *testing.T) {
	for _, tc := range []struct {
		name   string
		cidrs  []string
		public bool
	}{
		{"one operator address", []string{"34.201.10.7/32"}, true},
		{"two", []string{"34.201.10.7/32", "52.94.76.0/24"}, true},
		{"none: private", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mon, _, err := newClusterWith(t, func(a *cluster.Args) { a.EndpointPublicCidrs = tc.cidrs })
			if err != nil {
				t.Fatal(err)
			}
			eks := mon.ByType("aws:eks/cluster:Cluster")
			if len(eks) != 1 {
				t.Fatalf("%d clusters", len(eks))
			}
			if v, _ := eks[0].Get("vpcConfig.endpointPublicAccess"); v != tc.public {
				t.Errorf("endpointPublicAccess = %v, want %v", v, tc.public)
			}
			if v, _ := eks[0].Get("vpcConfig.endpointPrivateAccess"); v != true {
				t.Errorf("endpointPrivateAccess = %v: nodes and the in-VPC runner reach the API privately", v)
			}
			got, sent := eks[0].Get("vpcConfig.publicAccessCidrs")
			if !tc.public {
				if sent {
					t.Errorf("publicAccessCidrs = %v sent for a private endpoint", got)
				}
				return
			}
			var list []string
			for _, c := range got.([]any) {
				list = append(list, c.(string))
			}
			if !slices.Equal(list, tc.cidrs) {
				t.Errorf("publicAccessCidrs = %v, want %v", list, tc.cidrs)
			}
		})
	}
}

// TestClusterOutputs: the OIDC issuer comes without its scheme, as IRSA
// trust policies name it, and the kubeconfig reaches the cluster's endpoint
// with a token from `aws eks get-token` in the stack's region.
func TestClusterOutputs(t *testing.T) {
	_, out, err := newClusterWith(t, func(*cluster.Args) {})
	if err != nil {
		t.Fatal(err)
	}
	if out.oidcIssuer != mocks.OIDCIssuer {
		t.Errorf("OIDCIssuer = %q, want %q", out.oidcIssuer, mocks.OIDCIssuer)
	}
	var kc struct {
		Clusters []struct {
			Cluster struct {
				Server string `yaml:"server"`
				CA     string `yaml:"certificate-authority-data"`
			} `yaml:"cluster"`
		} `yaml:"clusters"`
		Users []struct {
			User struct {
				Exec struct {
					Command string   `yaml:"command"`
					Args    []string `yaml:"args"`
				} `yaml:"exec"`
			} `yaml:"user"`
		} `yaml:"users"`
	}
	if err := yaml.Unmarshal([]byte(out.kubeconfig), &kc); err != nil {
		t.Fatalf("kubeconfig: %v", err)
	}
	if len(kc.Clusters) != 1 || kc.Clusters[0].Cluster.Server != "https://EXAMPLE.gr7.us-east-1.eks.amazonaws.com" || kc.Clusters[0].Cluster.CA == "" {
		t.Errorf("kubeconfig clusters = %+v, want the cluster's endpoint and CA", kc.Clusters)
	}
	want := []string{"eks", "get-token", "--cluster-name", "gopherops-dev", "--region", mocks.Region, "--output", "json"}
	if len(kc.Users) != 1 || kc.Users[0].User.Exec.Command != "aws" || !slices.Equal(kc.Users[0].User.Exec.Args, want) {
		t.Errorf("kubeconfig users = %+v, want aws %v", kc.Users, want)
	}
}
