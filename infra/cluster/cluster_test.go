package cluster_test

import (
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

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
)

// newCluster runs cluster.New under the mock monitor with the given grants
// in the given partition.
func newCluster(t *testing.T, partition string, access []cluster.AccessGrant) (*mocks.Monitor, error) {
	t.Helper()
	mon := mocks.New()
	err := pulumi.RunErr(func(ctx *pulumi.Context) error {
		_, err := cluster.New(ctx, "gopherops", cluster.Args{
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
			Partition:           partition,
			PrivateSubnetIDs:    pulumi.ToStringArray([]string{"subnet-a", "subnet-b"}),
			NodeSecurityGroupID: pulumi.String("sg-nodes"),
			Access:              access,
		})
		return err
	}, pulumi.WithMocks("gopherops", "dev", mon))
	return mon, err
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
		{"unknown policy", []cluster.AccessGrant{{PrincipalArn: deployRole, Policy: "AmazonEKSEditPolicy"}}, `unknown policy "AmazonEKSEditPolicy"`},
		{"no policy", []cluster.AccessGrant{{PrincipalArn: deployRole}}, `unknown policy ""`},
		{"one principal twice", []cluster.AccessGrant{
			{PrincipalArn: previewRole, Policy: cluster.PolicyAdminView},
			{PrincipalArn: previewRole, Policy: cluster.PolicyClusterAdmin},
		}, "granted twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mon, err := newCluster(t, "aws", tt.access)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
			if n := len(mon.ByType(tAccessPolicy)); n > 1 || n == 1 && tt.name != "one principal twice" {
				t.Errorf("%d policy associations created for a refused grant", n)
			}
		})
	}
}
