// Package cluster provisions the EKS cluster GopherOps runs on: a control plane
// with KMS-encrypted secrets, full control-plane logging into a log group
// with a retention, standard support only, and an API endpoint that is
// private or limited to configured CIDRs; access entries for exactly the
// principals the stack names; a managed node group in the private subnets
// with IMDSv2 and encrypted disks; the OIDC provider IRSA needs; every EKS
// add-on explicit and pinned (VPC CNI with NetworkPolicy enforcement,
// kube-proxy, CoreDNS, metrics-server); and an explicit Kubernetes provider
// built from the cluster's outputs.
package cluster

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/gopherops/gopherops/infra/config"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/cloudwatch"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ec2"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/eks"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/iam"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/kms"
	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// LogTypes are the control-plane log streams sent to CloudWatch.
var LogTypes = []string{"api", "audit", "authenticator", "controllerManager", "scheduler"}

// Args configures the Cluster component.
type Args struct {
	// Cluster is the stack's cluster settings as configured: Name (also in
	// subnet tags), KubernetesVersion, EndpointPublicCidrs (none makes the
	// endpoint private), the node group's sizes, AddonVersions (each add-on
	// of RequiredAddons by name), LogRetentionDays of the control-plane
	// logs and KMSKeyDeletionWindowDays of the secrets key. The controller
	// chart pins are the controllers package's.
	config.Cluster
	// Region is the AWS region, written into the kubeconfig.
	Region string
	// Partition is the AWS partition ("aws"), for managed policy ARNs.
	Partition string

	PrivateSubnetIDs pulumi.StringArrayInput
	// NodeSecurityGroupID is attached to every node next to the cluster security group.
	NodeSecurityGroupID pulumi.StringInput
	// Access lists who gets an access entry, and with which policy.
	Access []AccessGrant
	// Protect sets Pulumi's protect on the cluster and its secrets key (prod).
	Protect bool
}

// Cluster is the EKS cluster with its nodes, OIDC provider and Kubernetes provider.
type Cluster struct {
	pulumi.ResourceState

	SecretsKey   *kms.Key
	LogGroup     *cloudwatch.LogGroup
	Role         *iam.Role
	Cluster      *eks.Cluster
	OIDCProvider *iam.OpenIdConnectProvider
	NodeRole     *iam.Role
	LaunchTmpl   *ec2.LaunchTemplate
	NodeGroup    *eks.NodeGroup
	// Addons are the EKS add-ons by name.
	Addons map[string]*eks.Addon
	// AccessEntries and AccessPolicies are by principal ARN.
	AccessEntries  map[string]*eks.AccessEntry
	AccessPolicies map[string]*eks.AccessPolicyAssociation
	Provider       *kubernetes.Provider

	// Name is the cluster name once the cluster exists.
	Name pulumi.StringOutput
	// SecurityGroupID is the cluster security group EKS creates: control
	// plane, nodes and (IP-target) load balancer traffic.
	SecurityGroupID pulumi.StringOutput
	// OIDCProviderArn and OIDCIssuer (without https://) are what IRSA trust policies need.
	OIDCProviderArn pulumi.StringOutput
	OIDCIssuer      pulumi.StringOutput
	// Kubeconfig authenticates with `aws eks get-token`; it is a secret output.
	Kubeconfig pulumi.StringOutput
}

// New creates the Cluster component and its children.
func New(ctx *pulumi.Context, name string, args Args, opts ...pulumi.ResourceOption) (*Cluster, error) {
	c := &Cluster{}
	if err := ctx.RegisterComponentResource("gopherops:infra:Cluster", name, c, opts...); err != nil {
		return nil, fmt.Errorf("cluster: register component: %w", err)
	}
	parent := pulumi.Parent(c)
	protect := pulumi.Protect(args.Protect)
	policyArn := func(p string) pulumi.String {
		return pulumi.String("arn:" + args.Partition + ":iam::aws:policy/" + p)
	}
	var err error

	c.SecretsKey, err = kms.NewKey(ctx, name+"-secrets", &kms.KeyArgs{
		Description:          pulumi.String("Envelope encryption of Kubernetes secrets in EKS cluster " + args.Name),
		EnableKeyRotation:    pulumi.Bool(true),
		DeletionWindowInDays: pulumi.Int(args.KMSKeyDeletionWindowDays),
	}, parent, protect)
	if err != nil {
		return nil, fmt.Errorf("cluster: kms key: %w", err)
	}

	// EKS writes to this group by name; made first, it has a retention
	// instead of the "never expire" group EKS would create.
	c.LogGroup, err = cloudwatch.NewLogGroup(ctx, name+"-control-plane", &cloudwatch.LogGroupArgs{
		Name:            pulumi.String(LogGroupName(args.Name)),
		RetentionInDays: pulumi.Int(args.LogRetentionDays),
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("cluster: log group: %w", err)
	}

	c.Role, err = iam.NewRole(ctx, name+"-control-plane", &iam.RoleArgs{
		AssumeRolePolicy: pulumi.String(servicePrincipalTrust("eks.amazonaws.com")),
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("cluster: control plane role: %w", err)
	}
	clusterPolicy, err := iam.NewRolePolicyAttachment(ctx, name+"-control-plane", &iam.RolePolicyAttachmentArgs{
		Role:      c.Role.Name,
		PolicyArn: policyArn("AmazonEKSClusterPolicy"),
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("cluster: control plane policy: %w", err)
	}

	logTypes := pulumi.StringArray{}
	for _, l := range LogTypes {
		logTypes = append(logTypes, pulumi.String(l))
	}
	c.Cluster, err = eks.NewCluster(ctx, name, &eks.ClusterArgs{
		Name:      pulumi.String(args.Name),
		Version:   pulumi.String(args.KubernetesVersion),
		RoleArn:   c.Role.Arn,
		VpcConfig: vpcConfig(args),
		EncryptionConfig: eks.ClusterEncryptionConfigArgs{
			Provider:  eks.ClusterEncryptionConfigProviderArgs{KeyArn: c.SecretsKey.Arn},
			Resources: pulumi.StringArray{pulumi.String("secrets")},
		},
		EnabledClusterLogTypes: logTypes,
		// Access is what the stack's access entries say, nothing more: the
		// identity that happened to create the cluster gets no hidden admin.
		AccessConfig: eks.ClusterAccessConfigArgs{
			AuthenticationMode:                      pulumi.String("API"),
			BootstrapClusterCreatorAdminPermissions: pulumi.Bool(false),
		},
		// The add-ons are explicit, pinned resources below, not whatever
		// EKS installs unmanaged at creation.
		BootstrapSelfManagedAddons: pulumi.Bool(false),
		// A version past standard support fails the upgrade-less cluster
		// loudly instead of moving it into paid extended support.
		UpgradePolicy: eks.ClusterUpgradePolicyArgs{SupportType: pulumi.String(SupportType)},
	}, parent, protect, pulumi.DependsOn([]pulumi.Resource{clusterPolicy, c.LogGroup}))
	if err != nil {
		return nil, fmt.Errorf("cluster: eks cluster: %w", err)
	}
	c.Name = c.Cluster.Name
	issuerURL := c.Cluster.Identities.Index(pulumi.Int(0)).Oidcs().Index(pulumi.Int(0)).Issuer().Elem()

	c.SecurityGroupID = c.Cluster.VpcConfig.ClusterSecurityGroupId().Elem()

	c.OIDCProvider, err = iam.NewOpenIdConnectProvider(ctx, name, &iam.OpenIdConnectProviderArgs{
		Url:           issuerURL,
		ClientIdLists: pulumi.StringArray{pulumi.String("sts.amazonaws.com")},
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("cluster: oidc provider: %w", err)
	}
	c.OIDCProviderArn = c.OIDCProvider.Arn
	c.OIDCIssuer = issuerURL.ApplyT(func(u string) string {
		return strings.TrimPrefix(u, "https://")
	}).(pulumi.StringOutput)

	access, err := c.accessEntries(ctx, name, args, parent)
	if err != nil {
		return nil, err
	}
	// The network add-ons run on every node, so they exist before the first
	// node joins; the others schedule pods and need nodes.
	networking, err := c.addons(ctx, name, args, []string{"vpc-cni", "kube-proxy"}, nil, parent)
	if err != nil {
		return nil, err
	}
	if err := c.nodes(ctx, name, args, policyArn, parent, networking); err != nil {
		return nil, err
	}
	workloads, err := c.addons(ctx, name, args, []string{"coredns", "metrics-server"}, []pulumi.Resource{c.NodeGroup}, parent)
	if err != nil {
		return nil, err
	}

	c.Kubeconfig = pulumi.ToSecret(pulumi.All(c.Cluster.Name, c.Cluster.Endpoint, c.Cluster.CertificateAuthority.Data().Elem()).ApplyT(
		func(v []any) (string, error) {
			return Kubeconfig(v[0].(string), v[1].(string), v[2].(string), args.Region)
		})).(pulumi.StringOutput)

	// Workloads wait for nodes, every add-on (the CNI's policy enforcement,
	// DNS, metrics) and for the access entries that let `pulumi up` in.
	deps := append(append(append([]pulumi.Resource{c.NodeGroup}, networking...), workloads...), access...)
	c.Provider, err = kubernetes.NewProvider(ctx, name, &kubernetes.ProviderArgs{
		Kubeconfig:            c.Kubeconfig,
		EnableServerSideApply: pulumi.Bool(true),
	}, parent, pulumi.DependsOn(deps))
	if err != nil {
		return nil, fmt.Errorf("cluster: kubernetes provider: %w", err)
	}

	if err := ctx.RegisterResourceOutputs(c, pulumi.Map{
		"name":            c.Name,
		"oidcProviderArn": c.OIDCProviderArn,
		"kubeconfig":      c.Kubeconfig,
	}); err != nil {
		return nil, fmt.Errorf("cluster: register outputs: %w", err)
	}
	return c, nil
}

// vpcConfig places the control plane's interfaces in the private subnets;
// the endpoint is public (for the given CIDRs only) when there are any, and
// private otherwise, with no CIDR list sent at all.
func vpcConfig(args Args) eks.ClusterVpcConfigArgs {
	v := eks.ClusterVpcConfigArgs{
		SubnetIds:             args.PrivateSubnetIDs,
		EndpointPrivateAccess: pulumi.Bool(true),
		EndpointPublicAccess:  pulumi.Bool(len(args.EndpointPublicCidrs) > 0),
	}
	if len(args.EndpointPublicCidrs) > 0 {
		v.PublicAccessCidrs = pulumi.ToStringArray(args.EndpointPublicCidrs)
	}
	return v
}

// nodes creates the node role, the launch template and the managed node
// group, after the network add-ons its nodes need to become ready.
func (c *Cluster) nodes(ctx *pulumi.Context, name string, args Args,
	policyArn func(string) pulumi.String, parent pulumi.ResourceOption, after []pulumi.Resource,
) error {
	var err error
	c.NodeRole, err = iam.NewRole(ctx, name+"-nodes", &iam.RoleArgs{
		AssumeRolePolicy: pulumi.String(servicePrincipalTrust("ec2.amazonaws.com")),
	}, parent)
	if err != nil {
		return fmt.Errorf("cluster: node role: %w", err)
	}
	var attachments []pulumi.Resource
	for _, p := range []string{"AmazonEKSWorkerNodePolicy", "AmazonEKS_CNI_Policy", "AmazonEC2ContainerRegistryReadOnly"} {
		a, err := iam.NewRolePolicyAttachment(ctx, name+"-nodes-"+p, &iam.RolePolicyAttachmentArgs{
			Role:      c.NodeRole.Name,
			PolicyArn: policyArn(p),
		}, parent)
		if err != nil {
			return fmt.Errorf("cluster: node policy %s: %w", p, err)
		}
		attachments = append(attachments, a)
	}

	// IMDSv2 only, one hop: pods cannot borrow the node's credentials and must
	// use IRSA. Nodes carry the cluster security group (control plane and
	// node-to-node traffic) plus the node group the database admits.
	c.LaunchTmpl, err = ec2.NewLaunchTemplate(ctx, name+"-nodes", &ec2.LaunchTemplateArgs{
		Description: pulumi.String("GopherOps EKS nodes: IMDSv2, encrypted gp3 root volume"),
		MetadataOptions: ec2.LaunchTemplateMetadataOptionsArgs{
			HttpEndpoint:            pulumi.String("enabled"),
			HttpTokens:              pulumi.String("required"),
			HttpPutResponseHopLimit: pulumi.Int(1),
		},
		BlockDeviceMappings: ec2.LaunchTemplateBlockDeviceMappingArray{
			ec2.LaunchTemplateBlockDeviceMappingArgs{
				DeviceName: pulumi.String("/dev/xvda"),
				Ebs: ec2.LaunchTemplateBlockDeviceMappingEbsArgs{
					VolumeSize:          pulumi.Int(args.NodeDiskSizeGiB),
					VolumeType:          pulumi.String("gp3"),
					Encrypted:           pulumi.String("true"),
					DeleteOnTermination: pulumi.String("true"),
				},
			},
		},
		VpcSecurityGroupIds: pulumi.StringArray{
			c.Cluster.VpcConfig.ClusterSecurityGroupId().Elem(),
			args.NodeSecurityGroupID,
		},
		TagSpecifications: ec2.LaunchTemplateTagSpecificationArray{
			ec2.LaunchTemplateTagSpecificationArgs{
				ResourceType: pulumi.String("instance"),
				Tags:         pulumi.StringMap{"Name": pulumi.String(args.Name + "-node")},
			},
		},
	}, parent)
	if err != nil {
		return fmt.Errorf("cluster: launch template: %w", err)
	}

	instanceTypes := pulumi.StringArray{}
	for _, t := range args.NodeInstanceTypes {
		instanceTypes = append(instanceTypes, pulumi.String(t))
	}
	c.NodeGroup, err = eks.NewNodeGroup(ctx, name, &eks.NodeGroupArgs{
		ClusterName:   c.Cluster.Name,
		NodeRoleArn:   c.NodeRole.Arn,
		SubnetIds:     args.PrivateSubnetIDs,
		InstanceTypes: instanceTypes,
		AmiType:       pulumi.String(args.NodeAmiType),
		CapacityType:  pulumi.String("ON_DEMAND"),
		ScalingConfig: eks.NodeGroupScalingConfigArgs{
			MinSize:     pulumi.Int(args.NodeMinSize),
			DesiredSize: pulumi.Int(args.NodeDesiredSize),
			MaxSize:     pulumi.Int(args.NodeMaxSize),
		},
		UpdateConfig: eks.NodeGroupUpdateConfigArgs{MaxUnavailable: pulumi.Int(1)},
		LaunchTemplate: eks.NodeGroupLaunchTemplateArgs{
			Id: c.LaunchTmpl.ID(),
			Version: c.LaunchTmpl.LatestVersion.ApplyT(func(v int) string {
				return strconv.Itoa(v)
			}).(pulumi.StringOutput),
		},
		Labels: pulumi.StringMap{"gopherops.io/pool": pulumi.String("default")},
		// Cluster Autoscaler owns the desired size between min and max.
	}, parent, pulumi.DependsOn(append(attachments, after...)), pulumi.IgnoreChanges([]string{"scalingConfig.desiredSize"}))
	if err != nil {
		return fmt.Errorf("cluster: node group: %w", err)
	}
	return nil
}

// servicePrincipalTrust is an assume-role policy for one AWS service principal.
func servicePrincipalTrust(service string) string {
	doc := map[string]any{
		"Version": "2012-10-17",
		"Statement": []map[string]any{{
			"Effect":    "Allow",
			"Principal": map[string]any{"Service": service},
			"Action":    "sts:AssumeRole",
		}},
	}
	b, _ := json.Marshal(doc) // a static map always marshals
	return string(b)
}
