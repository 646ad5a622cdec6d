package network

import (
	"fmt"
	"strings"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ec2"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// InterfaceEndpointServices are the AWS services the nodes reach through
// interface endpoints when Args.InterfaceEndpoints is set: the ECR API and
// registry (image manifests; the layers come from S3, through the gateway
// endpoint) and STS (IRSA's AssumeRoleWithWebIdentity).
var InterfaceEndpointServices = []string{"ecr.api", "ecr.dkr", "sts"}

// endpoints keeps AWS traffic inside the VPC instead of paying NAT
// processing for it: an S3 gateway endpoint on every private route table
// (free: image layers and avatars), and, as a setting, interface endpoints
// with private DNS for ECR and STS, admitting HTTPS from the VPC only.
func (n *Network) endpoints(ctx *pulumi.Context, name string, args Args, parent pulumi.ResourceOption) error {
	var routeTables pulumi.StringArray
	for _, rt := range n.PrivateRouteTables {
		routeTables = append(routeTables, rt.ID())
	}
	var err error
	n.S3Endpoint, err = ec2.NewVpcEndpoint(ctx, name+"-s3", &ec2.VpcEndpointArgs{
		VpcId:           n.Vpc.ID(),
		ServiceName:     pulumi.String(ServiceName(args.Region, "s3")),
		VpcEndpointType: pulumi.String("Gateway"),
		RouteTableIds:   routeTables,
		Tags:            pulumi.StringMap{"Name": pulumi.String(name + "-s3")},
	}, parent)
	if err != nil {
		return fmt.Errorf("network: s3 gateway endpoint: %w", err)
	}
	if !args.InterfaceEndpoints {
		return nil
	}

	// No egress rules: an endpoint never opens connections.
	n.EndpointSecurityGroup, err = ec2.NewSecurityGroup(ctx, name+"-endpoints", &ec2.SecurityGroupArgs{
		VpcId:       n.Vpc.ID(),
		Description: pulumi.String("GopherOps VPC interface endpoints: HTTPS from the VPC"),
		Ingress: ec2.SecurityGroupIngressArray{
			ec2.SecurityGroupIngressArgs{
				Description: pulumi.String("HTTPS from the VPC"),
				Protocol:    pulumi.String("tcp"),
				FromPort:    pulumi.Int(443),
				ToPort:      pulumi.Int(443),
				CidrBlocks:  pulumi.StringArray{pulumi.String(args.VpcCidr)},
			},
		},
		Tags: pulumi.StringMap{"Name": pulumi.String(name + "-endpoints")},
	}, parent)
	if err != nil {
		return fmt.Errorf("network: endpoint security group: %w", err)
	}
	var subnets pulumi.StringArray
	for _, s := range n.PrivateSubnets {
		subnets = append(subnets, s.ID())
	}
	n.InterfaceEndpoints = map[string]*ec2.VpcEndpoint{}
	for _, svc := range InterfaceEndpointServices {
		logical := name + "-" + strings.ReplaceAll(svc, ".", "-")
		ep, err := ec2.NewVpcEndpoint(ctx, logical, &ec2.VpcEndpointArgs{
			VpcId:             n.Vpc.ID(),
			ServiceName:       pulumi.String(ServiceName(args.Region, svc)),
			VpcEndpointType:   pulumi.String("Interface"),
			SubnetIds:         subnets,
			SecurityGroupIds:  pulumi.StringArray{n.EndpointSecurityGroup.ID()},
			PrivateDnsEnabled: pulumi.Bool(true),
			Tags:              pulumi.StringMap{"Name": pulumi.String(logical)},
		}, parent)
		if err != nil {
			return fmt.Errorf("network: %s endpoint: %w", svc, err)
		}
		n.InterfaceEndpoints[svc] = ep
	}
	return nil
}

// ServiceName is the endpoint service name of an AWS service in a region.
func ServiceName(region, service string) string { return "com.amazonaws." + region + "." + service }
