// Package network provisions the VPC GopherOps runs in: public subnets for load
// balancers and NAT, private subnets for nodes and the database, one route
// table per private subnet, the subnet tags EKS needs to place load
// balancers, VPC endpoints that keep AWS traffic off the NAT gateways, and
// VPC flow logs kept for a set time (in S3, or in CloudWatch).
package network

import (
	"encoding/json"
	"fmt"

	"github.com/gopherops/gopherops/infra/config"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/cloudwatch"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ec2"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/iam"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/s3"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Args configures the Network component.
type Args struct {
	// Network is the stack's network settings as configured: VpcCidr (a
	// /16 to /22), NatGatewayPerAz (one per zone, prod, instead of one
	// shared, dev), InterfaceEndpoints (ECR and STS interface endpoints in
	// the private subnets; the S3 gateway endpoint is always there) and
	// FlowLogDestination (FlowLogsToS3 or FlowLogsToCloudWatch). Its
	// AvailabilityZoneCount is how many AvailabilityZoneIDs the caller
	// looked up.
	config.Network
	// AvailabilityZoneIDs to spread subnets over (2 or 3), by zone ID
	// (use1-az1): zone names map to different zones in each account.
	AvailabilityZoneIDs []string
	// ClusterName is the EKS cluster that will use the subnets (for the kubernetes.io/cluster tag).
	ClusterName string
	// AccountID and Partition scope the flow-log delivery's trust.
	AccountID string
	Partition string
	// Region names the AWS services the VPC endpoints reach.
	Region string
	// FlowLogRetentionDays is how long the VPC flow logs are kept.
	FlowLogRetentionDays int
	// ForceDestroy lets `pulumi destroy` delete a non-empty flow-log
	// bucket; Protect sets Pulumi's protect on it.
	ForceDestroy, Protect bool
}

// Flow log destinations.
const (
	// FlowLogsToS3 writes Parquet files to a bucket of the stack's own.
	FlowLogsToS3 = "s3"
	// FlowLogsToCloudWatch writes to a CloudWatch log group.
	FlowLogsToCloudWatch = "cloud-watch-logs"
)

// Network is the VPC with its subnets, gateways and the security group the
// cluster's nodes carry.
type Network struct {
	pulumi.ResourceState

	Vpc                *ec2.Vpc
	InternetGateway    *ec2.InternetGateway
	PublicSubnets      []*ec2.Subnet
	PrivateSubnets     []*ec2.Subnet
	NatGateways        []*ec2.NatGateway
	PrivateRouteTables []*ec2.RouteTable
	// PublicRoutes are what makes the public subnets public: the internet
	// gateway, and each subnet's association with the route table to it.
	PublicRoutes      []pulumi.Resource
	NodeSecurityGroup *ec2.SecurityGroup
	// S3Endpoint is the gateway endpoint; InterfaceEndpoints are by
	// service (ecr.api, ecr.dkr, sts), with their security group.
	S3Endpoint            *ec2.VpcEndpoint
	InterfaceEndpoints    map[string]*ec2.VpcEndpoint
	EndpointSecurityGroup *ec2.SecurityGroup
	// FlowLogBucket is set with FlowLogsToS3; FlowLogGroup and
	// FlowLogRole with FlowLogsToCloudWatch.
	FlowLogBucket *s3.BucketV2
	FlowLogGroup  *cloudwatch.LogGroup
	FlowLogRole   *iam.Role
	FlowLog       *ec2.FlowLog

	VpcID               pulumi.StringOutput
	PublicSubnetIDs     pulumi.StringArrayOutput
	PrivateSubnetIDs    pulumi.StringArrayOutput
	NodeSecurityGroupID pulumi.StringOutput
}

// New creates the Network component and its children.
func New(ctx *pulumi.Context, name string, args Args, opts ...pulumi.ResourceOption) (*Network, error) {
	if len(args.AvailabilityZoneIDs) < 2 {
		return nil, fmt.Errorf("network: need at least 2 availability zones, got %d", len(args.AvailabilityZoneIDs))
	}
	plan, err := PlanSubnets(args.VpcCidr, len(args.AvailabilityZoneIDs))
	if err != nil {
		return nil, fmt.Errorf("network: %w", err)
	}
	n := &Network{}
	if err := ctx.RegisterComponentResource("gopherops:infra:Network", name, n, opts...); err != nil {
		return nil, fmt.Errorf("network: register component: %w", err)
	}
	parent := pulumi.Parent(n)
	// Project tags come from the provider's default tags (the stack file);
	// these are the per-resource ones.
	tags := pulumi.ToStringMap
	clusterTag := "kubernetes.io/cluster/" + args.ClusterName

	n.Vpc, err = ec2.NewVpc(ctx, name, &ec2.VpcArgs{
		CidrBlock:          pulumi.String(args.VpcCidr),
		EnableDnsHostnames: pulumi.Bool(true),
		EnableDnsSupport:   pulumi.Bool(true),
		Tags:               tags(map[string]string{"Name": name}),
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("network: vpc: %w", err)
	}

	// The VPC's default security group admits nothing, so nothing relies on it.
	if _, err := ec2.NewDefaultSecurityGroup(ctx, name+"-default", &ec2.DefaultSecurityGroupArgs{
		VpcId: n.Vpc.ID(),
		Tags:  tags(map[string]string{"Name": name + "-default-deny"}),
	}, parent); err != nil {
		return nil, fmt.Errorf("network: default security group: %w", err)
	}

	igw, err := ec2.NewInternetGateway(ctx, name, &ec2.InternetGatewayArgs{
		VpcId: n.Vpc.ID(),
		Tags:  tags(map[string]string{"Name": name}),
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("network: internet gateway: %w", err)
	}
	n.InternetGateway = igw
	n.PublicRoutes = append(n.PublicRoutes, igw)
	publicRT, err := ec2.NewRouteTable(ctx, name+"-public", &ec2.RouteTableArgs{
		VpcId: n.Vpc.ID(),
		Routes: ec2.RouteTableRouteArray{
			ec2.RouteTableRouteArgs{CidrBlock: pulumi.String("0.0.0.0/0"), GatewayId: igw.ID()},
		},
		Tags: tags(map[string]string{"Name": name + "-public"}),
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("network: public route table: %w", err)
	}

	for i, az := range args.AvailabilityZoneIDs {
		sub, err := ec2.NewSubnet(ctx, fmt.Sprintf("%s-public-%d", name, i), &ec2.SubnetArgs{
			VpcId:              n.Vpc.ID(),
			CidrBlock:          pulumi.String(plan.Public[i]),
			AvailabilityZoneId: pulumi.String(az),
			// Nothing launched here needs a public IP by default: NAT gets an
			// Elastic IP and load balancers get their own addresses.
			MapPublicIpOnLaunch: pulumi.Bool(false),
			Tags: tags(map[string]string{
				"Name":                   fmt.Sprintf("%s-public-%s", name, az),
				"kubernetes.io/role/elb": "1",
				clusterTag:               "shared",
			}),
		}, parent)
		if err != nil {
			return nil, fmt.Errorf("network: public subnet %s: %w", az, err)
		}
		assoc, err := ec2.NewRouteTableAssociation(ctx, fmt.Sprintf("%s-public-%d", name, i), &ec2.RouteTableAssociationArgs{
			SubnetId:     sub.ID(),
			RouteTableId: publicRT.ID(),
		}, parent)
		if err != nil {
			return nil, fmt.Errorf("network: public route association %s: %w", az, err)
		}
		n.PublicSubnets = append(n.PublicSubnets, sub)
		n.PublicRoutes = append(n.PublicRoutes, assoc)
	}

	natCount := 1
	if args.NatGatewayPerAz {
		natCount = len(args.AvailabilityZoneIDs)
	}
	for i := 0; i < natCount; i++ {
		eip, err := ec2.NewEip(ctx, fmt.Sprintf("%s-nat-%d", name, i), &ec2.EipArgs{
			Domain: pulumi.String("vpc"),
			Tags:   tags(map[string]string{"Name": fmt.Sprintf("%s-nat-%d", name, i)}),
		}, parent)
		if err != nil {
			return nil, fmt.Errorf("network: nat eip %d: %w", i, err)
		}
		nat, err := ec2.NewNatGateway(ctx, fmt.Sprintf("%s-%d", name, i), &ec2.NatGatewayArgs{
			AllocationId: eip.ID(),
			SubnetId:     n.PublicSubnets[i].ID(),
			Tags:         tags(map[string]string{"Name": fmt.Sprintf("%s-%s", name, args.AvailabilityZoneIDs[i])}),
		}, parent, pulumi.DependsOn([]pulumi.Resource{igw}))
		if err != nil {
			return nil, fmt.Errorf("network: nat gateway %d: %w", i, err)
		}
		n.NatGateways = append(n.NatGateways, nat)
	}

	for i, az := range args.AvailabilityZoneIDs {
		sub, err := ec2.NewSubnet(ctx, fmt.Sprintf("%s-private-%d", name, i), &ec2.SubnetArgs{
			VpcId:              n.Vpc.ID(),
			CidrBlock:          pulumi.String(plan.Private[i]),
			AvailabilityZoneId: pulumi.String(az),
			Tags: tags(map[string]string{
				"Name":                            fmt.Sprintf("%s-private-%s", name, az),
				"kubernetes.io/role/internal-elb": "1",
				clusterTag:                        "shared",
			}),
		}, parent)
		if err != nil {
			return nil, fmt.Errorf("network: private subnet %s: %w", az, err)
		}
		nat := n.NatGateways[i%len(n.NatGateways)]
		rt, err := ec2.NewRouteTable(ctx, fmt.Sprintf("%s-private-%d", name, i), &ec2.RouteTableArgs{
			VpcId: n.Vpc.ID(),
			Routes: ec2.RouteTableRouteArray{
				ec2.RouteTableRouteArgs{CidrBlock: pulumi.String("0.0.0.0/0"), NatGatewayId: nat.ID()},
			},
			Tags: tags(map[string]string{"Name": fmt.Sprintf("%s-private-%s", name, az)}),
		}, parent)
		if err != nil {
			return nil, fmt.Errorf("network: private route table %s: %w", az, err)
		}
		if _, err := ec2.NewRouteTableAssociation(ctx, fmt.Sprintf("%s-private-%d", name, i), &ec2.RouteTableAssociationArgs{
			SubnetId:     sub.ID(),
			RouteTableId: rt.ID(),
		}, parent); err != nil {
			return nil, fmt.Errorf("network: private route association %s: %w", az, err)
		}
		n.PrivateSubnets = append(n.PrivateSubnets, sub)
		n.PrivateRouteTables = append(n.PrivateRouteTables, rt)
	}

	// Nodes (and so pods, which share the node ENIs' groups under the VPC CNI)
	// carry this group; the database admits PostgreSQL from it alone. Traffic
	// between nodes and the control plane goes through the EKS cluster
	// security group, which nodes carry as well.
	n.NodeSecurityGroup, err = ec2.NewSecurityGroup(ctx, name+"-nodes", &ec2.SecurityGroupArgs{
		VpcId:       n.Vpc.ID(),
		Description: pulumi.String("GopherOps EKS nodes: identifies workload traffic to the database"),
		Egress: ec2.SecurityGroupEgressArray{
			ec2.SecurityGroupEgressArgs{
				Description: pulumi.String("nodes reach AWS APIs, registries and the database"),
				Protocol:    pulumi.String("-1"),
				FromPort:    pulumi.Int(0),
				ToPort:      pulumi.Int(0),
				CidrBlocks:  pulumi.StringArray{pulumi.String("0.0.0.0/0")},
			},
		},
		Tags: tags(map[string]string{"Name": name + "-nodes"}),
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("network: node security group: %w", err)
	}

	if err := n.endpoints(ctx, name, args, parent); err != nil {
		return nil, err
	}
	if err := n.flowLogs(ctx, name, args, parent); err != nil {
		return nil, err
	}

	n.VpcID = n.Vpc.ID().ToStringOutput()
	n.PublicSubnetIDs = subnetIDs(n.PublicSubnets)
	n.PrivateSubnetIDs = subnetIDs(n.PrivateSubnets)
	n.NodeSecurityGroupID = n.NodeSecurityGroup.ID().ToStringOutput()
	if err := ctx.RegisterResourceOutputs(n, pulumi.Map{
		"vpcId":               n.VpcID,
		"publicSubnetIds":     n.PublicSubnetIDs,
		"privateSubnetIds":    n.PrivateSubnetIDs,
		"nodeSecurityGroupId": n.NodeSecurityGroupID,
	}); err != nil {
		return nil, fmt.Errorf("network: register outputs: %w", err)
	}
	return n, nil
}

func marshal(doc map[string]any) (string, error) {
	b, err := json.Marshal(doc)
	if err != nil {
		return "", fmt.Errorf("network: policy document: %w", err)
	}
	return string(b), nil
}

func subnetIDs(subnets []*ec2.Subnet) pulumi.StringArrayOutput {
	ids := make(pulumi.StringArray, len(subnets))
	for i, s := range subnets {
		ids[i] = s.ID()
	}
	return ids.ToStringArrayOutput()
}
