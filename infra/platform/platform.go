// Package platform is the GopherOps Pulumi program as a function: Deploy wires
// network → database → cluster → storage → identity → app (→ monitoring) for
// one validated Config and exports the stack outputs of the infrastructure
// contract. main.go and the mock-based tests both call it.
package platform

import (
	"fmt"
	"time"

	"github.com/gopherops/gopherops/infra/app"
	"github.com/gopherops/gopherops/infra/cluster"
	"github.com/gopherops/gopherops/infra/config"
	"github.com/gopherops/gopherops/infra/database"
	"github.com/gopherops/gopherops/infra/identity"
	"github.com/gopherops/gopherops/infra/monitoring"
	"github.com/gopherops/gopherops/infra/network"
	"github.com/gopherops/gopherops/infra/storage"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// ServiceAccountName is the Kubernetes ServiceAccount the IRSA role trusts.
const ServiceAccountName = "gopherops"

// ShutdownTimeout is the service's SHUTDOWN_TIMEOUT on every stack.
const ShutdownTimeout = 20 * time.Second

// Output names of the infrastructure contract.
const (
	OutputAppURL      = "appUrl"
	OutputClusterName = "clusterName"
	OutputKubeconfig  = "kubeconfig"
	OutputDBEndpoint  = "dbEndpoint"
	OutputDBSecretArn = "dbSecretArn"
	OutputBucketName  = "bucketName"
	OutputNamespace   = "namespace"
)

// Platform is everything one stack creates, returned for tests and tooling.
type Platform struct {
	Config     *config.Config
	Network    *network.Network
	Database   *database.Database
	Cluster    *cluster.Cluster
	Storage    *storage.Storage
	Identity   *identity.Identity
	App        *app.App
	Monitoring *monitoring.Monitoring // nil unless gopherops:monitoringEnabled

	// Outputs are the exported stack outputs by name.
	Outputs map[string]pulumi.StringOutput
}

// Deploy creates the whole platform for cfg and exports the stack outputs.
func Deploy(ctx *pulumi.Context, cfg *config.Config, opts ...Option) (*Platform, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.IsLocal() {
		return nil, fmt.Errorf("platform: stack %s is a %s stack: deploy it with DeployLocal", cfg.Stack, config.EnvLocal)
	}
	o := newOptions(opts)
	p := &Platform{Config: cfg}
	base := cfg.Cluster.Name
	tags := map[string]string{
		"Project":   cfg.Project,
		"Stack":     cfg.Stack,
		"ManagedBy": "pulumi",
	}

	azs, err := availabilityZones(ctx, cfg.Network.AvailabilityZoneCount)
	if err != nil {
		return nil, err
	}
	partition, err := aws.GetPartition(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("platform: aws partition: %w", err)
	}

	p.Network, err = network.New(ctx, base, network.Args{
		CidrBlock:         cfg.Network.VpcCidr,
		AvailabilityZones: azs,
		NatGatewayPerAz:   cfg.Network.NatGatewayPerAz,
		ClusterName:       cfg.Cluster.Name,
		Tags:              tags,
	})
	if err != nil {
		return nil, err
	}

	p.Database, err = database.New(ctx, base, database.Args{
		VpcID:                 p.Network.VpcID,
		PrivateSubnetIDs:      p.Network.PrivateSubnetIDs,
		ClientSecurityGroupID: p.Network.NodeSecurityGroupID,
		InstanceClass:         cfg.Database.InstanceClass,
		EngineVersion:         cfg.Database.EngineVersion,
		AllocatedStorageGiB:   cfg.Database.AllocatedStorageGiB,
		MaxAllocatedStorage:   cfg.Database.MaxAllocatedStorageGiB,
		MultiAz:               cfg.Database.MultiAz,
		BackupRetentionDays:   cfg.Database.BackupRetentionDays,
		DeletionProtection:    cfg.Database.DeletionProtection,
		FinalSnapshot:         cfg.IsProd(),
		Tags:                  tags,
	})
	if err != nil {
		return nil, err
	}

	p.Cluster, err = cluster.New(ctx, base, cluster.Args{
		Name:                  cfg.Cluster.Name,
		Version:               cfg.Cluster.KubernetesVersion,
		Region:                cfg.Region,
		Partition:             partition.Partition,
		PrivateSubnetIDs:      p.Network.PrivateSubnetIDs,
		NodeSecurityGroupID:   p.Network.NodeSecurityGroupID,
		EndpointPublicCidrs:   cfg.Cluster.EndpointPublicCidrs,
		NodeInstanceTypes:     cfg.Cluster.NodeInstanceTypes,
		NodeAmiType:           cfg.Cluster.NodeAmiType,
		NodeDiskSizeGiB:       cfg.Cluster.NodeDiskSizeGiB,
		NodeMinSize:           cfg.Cluster.NodeMinSize,
		NodeDesiredSize:       cfg.Cluster.NodeDesiredSize,
		NodeMaxSize:           cfg.Cluster.NodeMaxSize,
		KMSDeletionWindowDays: cfg.Cluster.KMSKeyDeletionWindowDays,
		Tags:                  tags,
	})
	if err != nil {
		return nil, err
	}

	p.Storage, err = storage.New(ctx, base+"-blobs", storage.Args{
		NoncurrentVersionDays: cfg.Storage.NoncurrentVersionDays,
		ForceDestroy:          cfg.Storage.ForceDestroy,
		Tags:                  tags,
	})
	if err != nil {
		return nil, err
	}

	p.Identity, err = identity.New(ctx, base+"-app", identity.Args{
		OIDCProviderArn:   p.Cluster.OIDCProviderArn,
		OIDCIssuer:        p.Cluster.OIDCIssuer,
		Namespace:         cfg.App.Namespace,
		ServiceAccount:    ServiceAccountName,
		BucketArn:         p.Storage.BucketArn,
		Prefix:            storage.AvatarPrefix,
		DatabaseSecretArn: p.Database.SecretArn,
		Tags:              tags,
	})
	if err != nil {
		return nil, err
	}

	appArgs := app.Args{
		Provider:                  p.Cluster.Provider,
		Name:                      ServiceAccountName,
		Namespace:                 cfg.App.Namespace,
		Image:                     cfg.App.ImageRef(),
		MinReplicas:               cfg.App.MinReplicas,
		MaxReplicas:               cfg.App.MaxReplicas,
		TargetCPUUtilization:      cfg.App.TargetCPUUtilization,
		Resources:                 appResources(cfg),
		DatabaseURL:               p.Database.URL,
		DatabaseSecretArn:         p.Database.SecretArn,
		BlobStore:                 pulumi.Sprintf("s3://%s/%s", p.Storage.BucketName, storage.AvatarPrefix),
		AWSRegion:                 cfg.Region,
		SessionKey:                cfg.App.SessionKey.Output(),
		LogLevel:                  cfg.App.LogLevel,
		ServiceAccountAnnotations: pulumi.StringMap{app.IRSAAnnotation: p.Identity.RoleArn},
		ServiceType:               "LoadBalancer",
		ServiceAnnotations:        LoadBalancerAnnotations(cfg.App.CertificateArn),
		HTTPS:                     cfg.App.CertificateArn != "",
		MonitoringNamespace:       cfg.Monitoring.Namespace,
		DatabaseCIDRs:             []string{cfg.Network.VpcCidr},
		ShutdownTimeout:           ShutdownTimeout,
		SkipAwait:                 cfg.App.SkipAwait,
		PullCredentials:           pullCredentials(cfg),
	}
	p.App, err = app.New(ctx, base, appArgs)
	if err != nil {
		return nil, err
	}

	if err := p.deployMonitoring(ctx, p.Cluster.Provider, o); err != nil {
		return nil, err
	}

	p.Outputs = map[string]pulumi.StringOutput{
		OutputAppURL:      appURL(cfg.App.DomainName, p.App.LoadBalancerHost),
		OutputClusterName: p.Cluster.Name,
		OutputKubeconfig:  p.Cluster.Kubeconfig,
		OutputDBEndpoint:  p.Database.Address,
		OutputDBSecretArn: p.Database.SecretArn,
		OutputBucketName:  p.Storage.BucketName,
		OutputNamespace:   p.App.NamespaceName,
	}
	for name, out := range p.Outputs {
		ctx.Export(name, out)
	}
	return p, nil
}

// Program is the Pulumi program of every stack: it loads the stack's
// configuration and deploys its environment (AWS for dev and prod, an
// existing cluster for local). infra/main.go runs it, and the platform test
// runs the same function through the Automation API.
func Program(opts ...Option) pulumi.RunFunc {
	return func(ctx *pulumi.Context) error {
		cfg, err := config.Load(ctx)
		if err != nil {
			return err
		}
		_, err = Run(ctx, cfg, opts...)
		return err
	}
}

// Run deploys cfg's environment: DeployLocal for a local stack, Deploy
// (AWS) otherwise.
func Run(ctx *pulumi.Context, cfg *config.Config, opts ...Option) (*Platform, error) {
	if cfg.IsLocal() {
		return DeployLocal(ctx, cfg, opts...)
	}
	return Deploy(ctx, cfg, opts...)
}

// appResources are the service container's requests and limits.
func appResources(cfg *config.Config) app.Resources {
	return app.Resources{
		CPURequest:    cfg.App.CPURequest,
		CPULimit:      cfg.App.CPULimit,
		MemoryRequest: cfg.App.MemoryRequest,
		MemoryLimit:   cfg.App.MemoryLimit,
	}
}

// pullCredentials are GHCR credentials for a private image, when configured.
func pullCredentials(cfg *config.Config) *app.RegistryCredentials {
	if !cfg.App.GHCRToken.IsSet() {
		return nil
	}
	return &app.RegistryCredentials{
		Server:   "ghcr.io",
		Username: cfg.App.GHCRUsername,
		Password: cfg.App.GHCRToken.Output(),
	}
}

// deployMonitoring installs kube-prometheus-stack with the shared rules and
// dashboards when the stack enables it.
func (p *Platform) deployMonitoring(ctx *pulumi.Context, provider pulumi.ProviderResource, o options) error {
	cfg := p.Config
	if !cfg.Monitoring.Enabled {
		return nil
	}
	groups, err := RuleGroups(o.observability.AlertRules)
	if err != nil {
		return err
	}
	p.Monitoring, err = monitoring.New(ctx, "monitoring", monitoring.Args{
		RuleGroups:           groups,
		Dashboards:           o.observability.Dashboards,
		Provider:             provider,
		Namespace:            cfg.Monitoring.Namespace,
		ChartVersion:         cfg.Monitoring.ChartVersion,
		GrafanaAdminPassword: cfg.Monitoring.GrafanaAdminPassword.Output(),
		AppName:              ServiceAccountName,
		AppNamespace:         p.App.NamespaceName,
		MetricsLabels:        p.App.MetricsLabels,
		MetricsPort:          p.App.MetricsPortName,
	})
	return err
}

// availabilityZones returns the first n standard (non opt-in) AZs of the region.
func availabilityZones(ctx *pulumi.Context, n int) ([]string, error) {
	state := "available"
	res, err := aws.GetAvailabilityZones(ctx, &aws.GetAvailabilityZonesArgs{
		State: &state,
		Filters: []aws.GetAvailabilityZonesFilter{
			{Name: "opt-in-status", Values: []string{"opt-in-not-required"}},
		},
	})
	if err != nil {
		return nil, fmt.Errorf("platform: availability zones: %w", err)
	}
	if len(res.Names) < n {
		return nil, fmt.Errorf("platform: gopherops:availabilityZoneCount is %d but the region has only %d zones", n, len(res.Names))
	}
	return res.Names[:n], nil
}

// LoadBalancerAnnotations ask the AWS cloud provider for a Network Load
// Balancer, terminating TLS with the ACM certificate when one is given.
func LoadBalancerAnnotations(certificateArn string) pulumi.StringMap {
	a := pulumi.StringMap{
		"service.beta.kubernetes.io/aws-load-balancer-type": pulumi.String("nlb"),
	}
	if certificateArn != "" {
		a["service.beta.kubernetes.io/aws-load-balancer-ssl-cert"] = pulumi.String(certificateArn)
		a["service.beta.kubernetes.io/aws-load-balancer-ssl-ports"] = pulumi.String("443")
		a["service.beta.kubernetes.io/aws-load-balancer-ssl-negotiation-policy"] = pulumi.String("ELBSecurityPolicy-TLS13-1-2-2021-06")
	}
	return a
}

// appURL is https://<domain> when a domain is configured (DNS points it at the
// load balancer), else the load balancer's own http address.
func appURL(domain string, lbHost pulumi.StringOutput) pulumi.StringOutput {
	if domain != "" {
		return pulumi.String("https://" + domain).ToStringOutput()
	}
	return lbHost.ApplyT(func(h string) string {
		if h == "" {
			return ""
		}
		return "http://" + h
	}).(pulumi.StringOutput)
}
