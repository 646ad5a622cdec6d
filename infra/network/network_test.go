package network_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/gopherops/gopherops/infra/config"
	"github.com/gopherops/gopherops/infra/internal/mocks"
	"github.com/gopherops/gopherops/infra/logbucket"
	"github.com/gopherops/gopherops/infra/network"
)

const (
	tVpc          = "aws:ec2/vpc:Vpc"
	tDefaultSG    = "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup"
	tSG           = "aws:ec2/securityGroup:SecurityGroup"
	tSubnet       = "aws:ec2/subnet:Subnet"
	tRouteTable   = "aws:ec2/routeTable:RouteTable"
	tAssociation  = "aws:ec2/routeTableAssociation:RouteTableAssociation"
	tNat          = "aws:ec2/natGateway:NatGateway"
	tEip          = "aws:ec2/eip:Eip"
	tEndpoint     = "aws:ec2/vpcEndpoint:VpcEndpoint"
	tFlowLog      = "aws:ec2/flowLog:FlowLog"
	tBucket       = "aws:s3/bucketV2:BucketV2"
	tAccessBlock  = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
	tVersioning   = "aws:s3/bucketVersioningV2:BucketVersioningV2"
	tLifecycle    = "aws:s3/bucketLifecycleConfigurationV2:BucketLifecycleConfigurationV2"
	tBucketPolicy = "aws:s3/bucketPolicy:BucketPolicy"
	tLogGroup     = "aws:cloudwatch/logGroup:LogGroup"
	tRole         = "aws:iam/role:Role"
	tRolePolicy   = "aws:iam/rolePolicy:RolePolicy"
)

// newNetwork runs network.New under the mock monitor with a dev network as
// edit leaves it.
func newNetwork(t *testing.T, edit func(*network.Args)) (*mocks.Monitor, error) {
	t.Helper()
	args := network.Args{
		Network: config.Network{
			VpcCidr:               "10.0.0.0/16",
			AvailabilityZoneCount: 2,
			FlowLogDestination:    network.FlowLogsToS3,
		},
		AvailabilityZoneIDs:  []string{"use1-az1", "use1-az2"},
		ClusterName:          "gopherops-dev",
		AccountID:            mocks.AccountID,
		Partition:            "aws",
		Region:               mocks.Region,
		FlowLogRetentionDays: 30,
	}
	edit(&args)
	mon := mocks.New()
	err := pulumi.RunErr(func(ctx *pulumi.Context) error {
		_, err := network.New(ctx, "net", args)
		return err
	}, pulumi.WithMocks("gopherops", "dev", mon))
	return mon, err
}

// one is the only registration of a type.
func one(t *testing.T, mon *mocks.Monitor, typ string) *mocks.Registration {
	t.Helper()
	regs := mon.ByType(typ)
	if len(regs) != 1 {
		t.Fatalf("%d %s, want 1", len(regs), typ)
	}
	return regs[0]
}

// strs is a list input as strings.
func strs(v any) []string {
	var out []string
	l, _ := v.([]any)
	for _, x := range l {
		out = append(out, fmt.Sprint(x))
	}
	return out
}

// TestNetworkLayout: each zone gets a public subnet (load balancers, NAT)
// and a private one (nodes, database) from PlanSubnets, tagged for EKS; the
// private subnets leave through one NAT gateway (dev) or their zone's own
// (prod, so one zone's failure does not cut the others' egress).
func TestNetworkLayout(t *testing.T) {
	for _, tc := range []struct {
		name   string
		zones  []string
		perAz  bool
		natFor []int // the NAT gateway each private subnet's route uses
	}{
		{"dev: two zones, one NAT", []string{"use1-az1", "use1-az2"}, false, []int{0, 0}},
		{"prod: three zones, a NAT each", []string{"use1-az1", "use1-az2", "use1-az4"}, true, []int{0, 1, 2}},
		{"three zones, one NAT", []string{"use1-az1", "use1-az2", "use1-az4"}, false, []int{0, 0, 0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mon, err := newNetwork(t, func(a *network.Args) {
				a.AvailabilityZoneIDs = tc.zones
				a.AvailabilityZoneCount = len(tc.zones)
				a.NatGatewayPerAz = tc.perAz
			})
			if err != nil {
				t.Fatal(err)
			}
			plan, err := network.PlanSubnets("10.0.0.0/16", len(tc.zones))
			if err != nil {
				t.Fatal(err)
			}
			vpc := one(t, mon, tVpc)
			if vpc.Str("cidrBlock") != "10.0.0.0/16" {
				t.Errorf("VPC CIDR = %q", vpc.Str("cidrBlock"))
			}
			for _, k := range []string{"enableDnsHostnames", "enableDnsSupport"} {
				if v, _ := vpc.Get(k); v != true {
					t.Errorf("VPC %s = %v: private endpoints and EKS need DNS", k, v)
				}
			}
			def := one(t, mon, tDefaultSG)
			for _, k := range []string{"ingress", "egress"} {
				if v, ok := def.Get(k); ok && len(strs(v)) > 0 {
					t.Errorf("default security group %s = %v, want none", k, v)
				}
			}

			subnets := map[string]*mocks.Registration{}
			for _, s := range mon.ByType(tSubnet) {
				subnets[s.Name] = s
			}
			if len(subnets) != 2*len(tc.zones) {
				t.Fatalf("%d subnets, want %d", len(subnets), 2*len(tc.zones))
			}
			routeTables := map[string]*mocks.Registration{}
			for _, rt := range mon.ByType(tRouteTable) {
				routeTables[rt.ID] = rt
			}
			associated := map[string]string{} // subnet ID → route table ID
			for _, a := range mon.ByType(tAssociation) {
				associated[a.Str("subnetId")] = a.Str("routeTableId")
			}
			nats := mon.ByType(tNat)
			if want := len(slices.Compact(slices.Clone(tc.natFor))); len(nats) != want || len(mon.ByType(tEip)) != want {
				t.Fatalf("%d NAT gateways and %d Elastic IPs, want %d", len(nats), len(mon.ByType(tEip)), want)
			}
			// defaultRoute is where a route table sends 0.0.0.0/0.
			defaultRoute := func(rt *mocks.Registration) map[string]any {
				v, _ := rt.Get("routes")
				l, _ := v.([]any)
				if len(l) != 1 {
					t.Fatalf("route table %s has routes %v, want one default route", rt.Name, v)
				}
				r := l[0].(map[string]any)
				if r["cidrBlock"] != "0.0.0.0/0" {
					t.Errorf("route table %s routes %v", rt.Name, r["cidrBlock"])
				}
				return r
			}
			for i, zone := range tc.zones {
				pub := subnets[fmt.Sprintf("net-public-%d", i)]
				priv := subnets[fmt.Sprintf("net-private-%d", i)]
				if pub == nil || priv == nil {
					t.Fatalf("zone %s lacks a subnet: %v", zone, subnets)
				}
				for _, c := range []struct {
					s          *mocks.Registration
					cidr, role string
				}{{pub, plan.Public[i], "kubernetes.io/role/elb"}, {priv, plan.Private[i], "kubernetes.io/role/internal-elb"}} {
					if c.s.Str("cidrBlock") != c.cidr || c.s.Str("availabilityZoneId") != zone {
						t.Errorf("%s: %s in %s, want %s in %s", c.s.Name, c.s.Str("cidrBlock"), c.s.Str("availabilityZoneId"), c.cidr, zone)
					}
					tags, _ := mustGet(c.s, "tags").(map[string]any)
					if tags[c.role] != "1" || tags["kubernetes.io/cluster/gopherops-dev"] != "shared" {
						t.Errorf("%s tags = %v: EKS would not place load balancers there", c.s.Name, mustGet(c.s, "tags"))
					}
				}
				if v, _ := pub.Get("mapPublicIpOnLaunch"); v != false {
					t.Errorf("%s gives instances public addresses", pub.Name)
				}
				if r := defaultRoute(routeTables[associated[pub.ID]]); r["gatewayId"] != "net-id" {
					t.Errorf("public subnet %s leaves through %v, want the internet gateway", zone, r)
				}
				rt := routeTables[associated[priv.ID]]
				if rt == nil || rt.Name != fmt.Sprintf("net-private-%d", i) {
					t.Fatalf("private subnet %s is not associated with its own route table", zone)
				}
				if r := defaultRoute(rt); r["natGatewayId"] != fmt.Sprintf("net-%d-id", tc.natFor[i]) {
					t.Errorf("private subnet %s leaves through %v, want NAT gateway %d", zone, r["natGatewayId"], tc.natFor[i])
				}
			}
			for i := range nats {
				nat := mon.Get(tNat, fmt.Sprintf("net-%d", i))
				if nat == nil {
					t.Fatalf("no NAT gateway net-%d", i)
				}
				if nat.Str("subnetId") != fmt.Sprintf("subnet-net-public-%d", i) || nat.Str("allocationId") != fmt.Sprintf("net-nat-%d-id", i) {
					t.Errorf("NAT gateway %s in %s with %s, want public subnet %d and its own Elastic IP", nat.Name, nat.Str("subnetId"), nat.Str("allocationId"), i)
				}
			}
			nodes := mon.Get(tSG, "net-nodes")
			if nodes == nil {
				t.Fatal("no node security group")
			}
			if _, ok := nodes.Get("ingress"); ok {
				t.Errorf("node security group admits %v: it only identifies the nodes", mustGet(nodes, "ingress"))
			}
		})
	}
}

// mustGet is a registration's input at path, or nil.
func mustGet(r *mocks.Registration, path string) any {
	v, _ := r.Get(path)
	return v
}

// TestNetworkRefuses: a network needs two zones and a plannable range; the
// program fails before creating anything.
func TestNetworkRefuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*network.Args)
		want string
	}{
		{"one zone", func(a *network.Args) { a.AvailabilityZoneIDs = []string{"use1-az1"} }, "need at least 2 availability zones, got 1"},
		{"a range too small", func(a *network.Args) { a.VpcCidr = "10.0.0.0/25" }, "too small to split"},
		{"an unknown flow log destination", func(a *network.Args) { a.FlowLogDestination = "kinesis" }, `flow log destination "kinesis"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mon, err := newNetwork(t, tc.edit)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
			if tc.name != "an unknown flow log destination" && len(mon.All()) != 0 {
				t.Errorf("%d resources created", len(mon.All()))
			}
		})
	}
}

// TestEndpoints: the S3 gateway endpoint serves every private route table;
// with InterfaceEndpoints, ECR and STS are reached privately through
// endpoints in every private subnet that admit HTTPS from the VPC only.
func TestEndpoints(t *testing.T) {
	for _, interfaces := range []bool{false, true} {
		t.Run(fmt.Sprint("interface endpoints ", interfaces), func(t *testing.T) {
			mon, err := newNetwork(t, func(a *network.Args) { a.InterfaceEndpoints = interfaces })
			if err != nil {
				t.Fatal(err)
			}
			byService := map[string]*mocks.Registration{}
			for _, ep := range mon.ByType(tEndpoint) {
				if ep.Str("vpcId") != "vpc-net" {
					t.Errorf("%s is in %q", ep.Name, ep.Str("vpcId"))
				}
				byService[strings.TrimPrefix(ep.Str("serviceName"), "com.amazonaws."+mocks.Region+".")] = ep
			}
			s3 := byService["s3"]
			if s3 == nil || s3.Str("vpcEndpointType") != "Gateway" {
				t.Fatalf("no S3 gateway endpoint: %v", byService)
			}
			if got := strs(mustGet(s3, "routeTableIds")); !slices.Equal(got, []string{"net-private-0-id", "net-private-1-id"}) {
				t.Errorf("S3 endpoint route tables = %v, want both private ones", got)
			}
			want := 1
			if interfaces {
				want += len(network.InterfaceEndpointServices)
			}
			if len(byService) != want {
				t.Fatalf("%d endpoints, want %d", len(byService), want)
			}
			sg := mon.Get(tSG, "net-endpoints")
			if !interfaces {
				if sg != nil {
					t.Error("an endpoint security group without interface endpoints")
				}
				return
			}
			ingress, _ := mustGet(sg, "ingress").([]any)
			if len(ingress) != 1 {
				t.Fatalf("endpoint security group ingress = %v", ingress)
			}
			in := ingress[0].(map[string]any)
			if fmt.Sprint(in["fromPort"], in["toPort"]) != "443 443" || !slices.Equal(strs(in["cidrBlocks"]), []string{"10.0.0.0/16"}) {
				t.Errorf("endpoint security group admits %v, want HTTPS from the VPC only", in)
			}
			for _, svc := range []string{"ecr.api", "ecr.dkr", "sts"} {
				ep := byService[svc]
				if ep == nil {
					t.Errorf("no %s endpoint", svc)
					continue
				}
				if ep.Name != "net-"+strings.ReplaceAll(svc, ".", "-") || ep.Str("vpcEndpointType") != "Interface" || mustGet(ep, "privateDnsEnabled") != true {
					t.Errorf("%s endpoint %s: type %q, private DNS %v", svc, ep.Name, ep.Str("vpcEndpointType"), mustGet(ep, "privateDnsEnabled"))
				}
				if got := strs(mustGet(ep, "subnetIds")); !slices.Equal(got, []string{"subnet-net-private-0", "subnet-net-private-1"}) {
					t.Errorf("%s endpoint subnets = %v, want the private ones", svc, got)
				}
				if got := strs(mustGet(ep, "securityGroupIds")); !slices.Equal(got, []string{"sg-net-endpoints"}) {
					t.Errorf("%s endpoint security groups = %v", svc, got)
				}
			}
		})
	}
}

// TestFlowLogDestinations: every flow of the VPC is logged, into a private,
// versioned, expiring bucket that only log delivery may write (S3) or into a
// log group kept for the retention, written by a role only VPC Flow Logs
// may assume (CloudWatch).
func TestFlowLogDestinations(t *testing.T) {
	t.Run("s3", func(t *testing.T) {
		mon, err := newNetwork(t, func(a *network.Args) { a.FlowLogRetentionDays = 90; a.ForceDestroy = true; a.Protect = true })
		if err != nil {
			t.Fatal(err)
		}
		bucket := one(t, mon, tBucket)
		if mustGet(bucket, "forceDestroy") != true || !bucket.Protect {
			t.Errorf("bucket forceDestroy %v, protect %v: want both as asked", mustGet(bucket, "forceDestroy"), bucket.Protect)
		}
		pab := one(t, mon, tAccessBlock)
		for _, k := range []string{"blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"} {
			if mustGet(pab, k) != true {
				t.Errorf("public access block %s = %v", k, mustGet(pab, k))
			}
		}
		if s := one(t, mon, tVersioning).Str("versioningConfiguration.status"); s != "Enabled" {
			t.Errorf("versioning = %q", s)
		}
		lc := one(t, mon, tLifecycle)
		if fmt.Sprint(mustGet(lc, "rules[0].expiration.days"), mustGet(lc, "rules[0].noncurrentVersionExpiration.noncurrentDays")) != fmt.Sprint(90, logbucket.NoncurrentDays) {
			t.Errorf("lifecycle = %v, want expiry after 90 days, old versions after %d", mustGet(lc, "rules"), logbucket.NoncurrentDays)
		}
		if !lc.ExplicitlyDependsOn(tVersioning, "net-flow-logs") {
			t.Error("the lifecycle rule does not wait for versioning")
		}
		want, err := network.FlowLogBucketPolicy("arn:aws:s3:::net-flow-logs-4f3e2d1", "aws", mocks.Region, mocks.AccountID)
		if err != nil {
			t.Fatal(err)
		}
		policy := one(t, mon, tBucketPolicy)
		if !jsonEqual(policy.Str("policy"), want) || !policy.ExplicitlyDependsOn(tAccessBlock, "net-flow-logs") {
			t.Errorf("bucket policy = %s, want %s after the public access block", policy.Str("policy"), want)
		}
		fl := one(t, mon, tFlowLog)
		if fl.Str("trafficType") != "ALL" || fl.Str("logDestinationType") != "s3" || fl.Str("logDestination") != "arn:aws:s3:::net-flow-logs-4f3e2d1" ||
			fl.Str("destinationOptions.fileFormat") != "parquet" || mustGet(fl, "destinationOptions.perHourPartition") != true || fl.Str("vpcId") != "vpc-net" {
			t.Errorf("flow log = %v", fl.In())
		}
		if !fl.ExplicitlyDependsOn(tBucketPolicy, "net-flow-logs") {
			t.Error("the flow log does not wait for the bucket policy: delivery would be refused")
		}
		if len(mon.ByType(tLogGroup)) != 0 {
			t.Error("a log group as well")
		}
	})
	t.Run("cloudwatch", func(t *testing.T) {
		mon, err := newNetwork(t, func(a *network.Args) {
			a.FlowLogDestination = network.FlowLogsToCloudWatch
			a.FlowLogRetentionDays = 365
		})
		if err != nil {
			t.Fatal(err)
		}
		group := one(t, mon, tLogGroup)
		if group.Str("name") != "/aws/vpc/flow-logs/net" || fmt.Sprint(mustGet(group, "retentionInDays")) != "365" {
			t.Errorf("log group %s kept %v days", group.Str("name"), mustGet(group, "retentionInDays"))
		}
		trust, err := network.FlowLogTrustPolicy("aws", mocks.AccountID)
		if err != nil {
			t.Fatal(err)
		}
		role := one(t, mon, tRole)
		if !jsonEqual(role.Str("assumeRolePolicy"), trust) || !strings.Contains(role.Str("description"), "/aws/vpc/flow-logs/net") {
			t.Errorf("role %s trusts %s", role.Str("description"), role.Str("assumeRolePolicy"))
		}
		delivery, err := network.FlowLogDeliveryPolicy("arn:aws:logs:" + mocks.Region + ":" + mocks.AccountID + ":log-group:/aws/vpc/flow-logs/net")
		if err != nil {
			t.Fatal(err)
		}
		rp := one(t, mon, tRolePolicy)
		if !jsonEqual(rp.Str("policy"), delivery) || rp.Str("role") != "net-flow-logs-role" {
			t.Errorf("role policy on %s = %s, want %s", rp.Str("role"), rp.Str("policy"), delivery)
		}
		fl := one(t, mon, tFlowLog)
		if fl.Str("trafficType") != "ALL" || fl.Str("logDestinationType") != "cloud-watch-logs" || fl.Str("logDestination") != "arn:aws:logs:"+mocks.Region+":"+mocks.AccountID+":log-group:/aws/vpc/flow-logs/net" ||
			fl.Str("iamRoleArn") != "arn:aws:iam::"+mocks.AccountID+":role/net-flow-logs-role" {
			t.Errorf("flow log = %v", fl.In())
		}
		if !fl.ExplicitlyDependsOn(tRolePolicy, "net-flow-logs") {
			t.Error("the flow log does not wait for its role's policy")
		}
		if len(mon.ByType(tBucket)) != 0 {
			t.Error("a bucket as well")
		}
	})
}

// jsonEqual compares two JSON documents by value.
func jsonEqual(a, b string) bool {
	var x, y any
	if json.Unmarshal([]byte(a), &x) != nil || json.Unmarshal([]byte(b), &y) != nil {
		return false
	}
	return fmt.Sprint(x) == fmt.Sprint(y)
}
