// Package platform is the GopherOps Pulumi program as a function: Deploy wires
// network → database → cluster → controllers → storage → identity → app
// (→ runner, monitoring) for one validated Config and exports the stack
// outputs of the infrastructure contract. main.go and the mock-based tests
// both call it.
package platform

import (
	"fmt"
	"strings"
	"time"

	"github.com/gopherops/gopherops/infra/app"
	"github.com/gopherops/gopherops/infra/cluster"
	"github.com/gopherops/gopherops/infra/config"
	"github.com/gopherops/gopherops/infra/controllers"
	"github.com/gopherops/gopherops/infra/database"
	"github.com/gopherops/gopherops/infra/identity"
	"github.com/gopherops/gopherops/infra/monitoring"
	"github.com/gopherops/gopherops/infra/network"
	"github.com/gopherops/gopherops/infra/prstacks"
	"github.com/gopherops/gopherops/infra/runner"
	"github.com/gopherops/gopherops/infra/storage"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ec2"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// ServiceAccountName is the Kubernetes ServiceAccount the IRSA role trusts.
const ServiceAccountName = "gopherops"

// ShutdownTimeout is the service's SHUTDOWN_TIMEOUT on every stack.
const ShutdownTimeout = 20 * time.Second

// LoadBalancerClass is the AWS Load Balancer Controller's class for NLBs.
const LoadBalancerClass = "service.k8s.aws/nlb"

// AccessLogDays is how long the prod bucket's access logs are kept.
const AccessLogDays = 365

// Output names of the infrastructure contract.
const (
	OutputAppURL      = "appUrl"
	OutputClusterName = "clusterName"
	OutputKubeconfig  = "kubeconfig"
	OutputDBEndpoint  = "dbEndpoint"
	OutputDBSecretArn = "dbSecretArn"
	OutputBucketName  = "bucketName"
	OutputNamespace   = "namespace"
	// OutputImage is the image reference the stack runs (by digest).
	OutputImage = "image"
	// OutputDBInstance is the RDS instance's identifier, the source of a
	// point-in-time restore (gopherops:dbRestoreSource).
	OutputDBInstance = "dbInstanceIdentifier"
	// OutputRunnerLabel is the runs-on label of the in-VPC CI runner (prefix
	// of codebuild-<project>-<run id>-<attempt>), when the stack has one.
	OutputRunnerLabel = "ciRunnerLabel"
)

// Platform is everything one stack creates, returned for tests and tooling.
type Platform struct {
	Config      *config.Config
	Network     *network.Network
	Database    *database.Database
	Cluster     *cluster.Cluster
	Controllers *controllers.Controllers
	Storage     *storage.Storage
	Identity    *identity.Identity
	App         *app.App
	Runner      *runner.Runner // nil unless gopherops:ciRunner
	// PRStacks confines the pull-request stacks' role; nil unless
	// gopherops:pullRequestStacks.
	PRStacks   *prstacks.PullRequestStacks
	Monitoring *monitoring.Monitoring // nil unless gopherops:monitoringEnabled

	// Image is the reference the app runs, as the program resolved it.
	Image string
	// Outputs are the exported stack outputs by name.
	Outputs map[string]pulumi.StringOutput
}

// Deploy creates the whole platform for cfg and exports the stack outputs.
func Deploy(ctx *pulumi.Context, cfg *config.Config, opts ...Option) (*Platform, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.InCluster() {
		return nil, fmt.Errorf("platform: stack %s is a %s stack: deploy it with DeployLocal", cfg.Stack, cfg.Environment)
	}
	o := newOptions(opts)
	p := &Platform{Config: cfg}
	base := cfg.Cluster.Name
	// Prod keeps its data and keys unless it is being decommissioned on purpose.
	protect := cfg.IsProd() && !cfg.Decommission

	acct, err := lookupAccount(ctx, cfg)
	if err != nil {
		return nil, err
	}
	p.Image, err = resolveImage(ctx, cfg, o.release)
	if err != nil {
		return nil, err
	}
	zones, err := availabilityZones(ctx, cfg.Network.AvailabilityZoneCount)
	if err != nil {
		return nil, err
	}
	restore, err := planRestore(ctx, cfg, base, o.now)
	if err != nil {
		return nil, err
	}

	p.Network, err = network.New(ctx, base, network.Args{
		Network:              cfg.Network,
		AvailabilityZoneIDs:  zones,
		ClusterName:          cfg.Cluster.Name,
		AccountID:            acct.ID,
		Partition:            acct.Partition,
		Region:               cfg.Region,
		FlowLogRetentionDays: cfg.Cluster.LogRetentionDays,
		ForceDestroy:         cfg.Storage.ForceDestroy,
		Protect:              protect,
	})
	if err != nil {
		return nil, err
	}

	p.Database, err = database.New(ctx, base, database.Args{
		VpcID:                 p.Network.VpcID,
		PrivateSubnetIDs:      p.Network.PrivateSubnetIDs,
		ClientSecurityGroupID: p.Network.NodeSecurityGroupID,
		Database:              cfg.Database,
		FinalSnapshot:         cfg.IsProd(),
		LogRetentionDays:      cfg.Cluster.LogRetentionDays,
		Restore:               restore,
	})
	if err != nil {
		return nil, err
	}

	p.Cluster, err = cluster.New(ctx, base, cluster.Args{
		Cluster:             cfg.Cluster,
		Region:              cfg.Region,
		Partition:           acct.Partition,
		PrivateSubnetIDs:    p.Network.PrivateSubnetIDs,
		NodeSecurityGroupID: p.Network.NodeSecurityGroupID,
		Access:              AccessGrants(cfg, acct),
		Protect:             protect,
	})
	if err != nil {
		return nil, err
	}

	p.Controllers, err = controllers.New(ctx, base, controllers.Args{
		Provider:                    p.Cluster.Provider,
		ClusterName:                 p.Cluster.Name,
		Region:                      cfg.Region,
		Partition:                   acct.Partition,
		AccountID:                   acct.ID,
		VpcID:                       p.Network.VpcID,
		OIDCProviderArn:             p.Cluster.OIDCProviderArn,
		OIDCIssuer:                  p.Cluster.OIDCIssuer,
		LoadBalancerControllerChart: cfg.Cluster.LoadBalancerControllerChart,
		ClusterAutoscalerChart:      cfg.Cluster.ClusterAutoscalerChart,
		ClusterAutoscalerImage:      cfg.Cluster.ClusterAutoscalerImage,
		LoadBalancerNetwork:         append(subnetResources(p.Network.PublicSubnets), p.Network.PublicRoutes...),
	})
	if err != nil {
		return nil, err
	}

	if cfg.Access.PullRequestStacks {
		p.PRStacks, err = prstacks.New(ctx, base+"-pr-stacks", prstacks.Args{Provider: p.Cluster.Provider})
		if err != nil {
			return nil, err
		}
	}

	p.Storage, err = storage.New(ctx, base+"-blobs", storage.Args{
		Storage:       cfg.Storage,
		Protect:       protect,
		AccountID:     acct.ID,
		AccessLogDays: AccessLogDays,
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
	})
	if err != nil {
		return nil, err
	}

	appArgs := baseAppArgs(cfg, p.Cluster.Provider)
	appArgs.Image = p.Image
	appArgs.DatabaseURL = p.Database.URL
	appArgs.DatabaseSecretArn = p.Database.SecretArn
	appArgs.BlobStore = pulumi.Sprintf("s3://%s/%s", p.Storage.BucketName, storage.AvatarPrefix)
	appArgs.AWSRegion = cfg.Region
	appArgs.ServiceAccountAnnotations = pulumi.StringMap{app.IRSAAnnotation: p.Identity.RoleArn}
	appArgs.ServiceType = "LoadBalancer"
	appArgs.LoadBalancerClass = LoadBalancerClass
	appArgs.ServiceAnnotations = LoadBalancerAnnotations(cfg.App.CertificateArn)
	appArgs.ServiceDependsOn = []pulumi.Resource{p.Controllers.LoadBalancerController}
	appArgs.HTTPS = cfg.App.CertificateArn != ""
	appArgs.DatabaseCIDRs = []string{cfg.Network.VpcCidr}
	if restore != nil {
		appArgs.DatabaseGeneration = restore.ID
	}
	p.App, err = app.New(ctx, base, appArgs)
	if err != nil {
		return nil, err
	}

	if cfg.Runner.Enabled {
		p.Runner, err = runner.New(ctx, base+"-runner", runner.Args{
			ProjectName:            base + "-runner",
			VpcID:                  p.Network.VpcID,
			PrivateSubnetIDs:       p.Network.PrivateSubnetIDs,
			ClusterSecurityGroupID: p.Cluster.SecurityGroupID,
			Runner:                 cfg.Runner,
			Partition:              acct.Partition,
			Region:                 cfg.Region,
			AccountID:              acct.ID,
			LogRetentionDays:       cfg.Cluster.LogRetentionDays,
		})
		if err != nil {
			return nil, err
		}
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
		OutputImage:       pulumi.String(p.Image).ToStringOutput(),
		OutputDBInstance:  p.Database.Identifier,
	}
	if p.Runner != nil {
		p.Outputs[OutputRunnerLabel] = pulumi.String(p.Runner.Label).ToStringOutput()
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

// Run deploys cfg's environment: DeployLocal for a local or pull-request
// stack, Deploy (AWS) otherwise.
func Run(ctx *pulumi.Context, cfg *config.Config, opts ...Option) (*Platform, error) {
	if cfg.InCluster() {
		return DeployLocal(ctx, cfg, opts...)
	}
	return Deploy(ctx, cfg, opts...)
}

// baseAppArgs are the app settings every stack shares; Deploy and
// DeployLocal add what differs (image, database, blobs, exposure).
func baseAppArgs(cfg *config.Config, provider pulumi.ProviderResource) app.Args {
	// A pull request's stack sets no session key: its configuration is a
	// template copied on each push, so the cluster keeps one instead.
	var sessionKey pulumi.StringInput
	if cfg.App.SessionKey.IsSet() {
		sessionKey = cfg.App.SessionKey.Output()
	}
	return app.Args{
		SessionKey:           sessionKey,
		GenerateSessionKey:   sessionKey == nil,
		Provider:             provider,
		Name:                 ServiceAccountName,
		Namespace:            cfg.App.Namespace,
		MinReplicas:          cfg.App.MinReplicas,
		MaxReplicas:          cfg.App.MaxReplicas,
		TargetCPUUtilization: cfg.App.TargetCPUUtilization,
		Resources:            appResources(cfg),
		LogLevel:             cfg.App.LogLevel,
		MonitoringNamespace:  cfg.Monitoring.Namespace,
		ShutdownTimeout:      ShutdownTimeout,
		SkipAwait:            cfg.App.SkipAwait,
		// Every exposure the stacks use hands the app the client's address
		// as the TCP peer (NLB IP targets with client IP preservation,
		// externalTrafficPolicy Local, port-forward): no proxy to trust.
		TrustedProxies: nil,
	}
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

// subnetResources lists subnets as resources to depend on.
func subnetResources(subnets []*ec2.Subnet) []pulumi.Resource {
	out := make([]pulumi.Resource, len(subnets))
	for i, s := range subnets {
		out[i] = s
	}
	return out
}

// availabilityZones returns the first n standard (non opt-in) zones of the
// region that EKS supports, by zone ID.
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
	ids, err := network.PickZoneIDs(res.ZoneIds, n)
	if err != nil {
		return nil, fmt.Errorf("platform: gopherops:availabilityZoneCount: %w", err)
	}
	return ids, nil
}

// account is the AWS account and partition the stack deploys into.
type account struct {
	ID        string
	Partition string
	// CallerRoleArn is the IAM role (or user) ARN running the program.
	CallerRoleArn string
}

// lookupAccount reads the account, and refuses an update by a principal the
// stack grants no cluster access: the AWS half would be created and the
// Kubernetes half would then fail with Unauthorized. Previews (the read-only
// preview role) may run as anyone with AWS read access.
func lookupAccount(ctx *pulumi.Context, cfg *config.Config) (account, error) {
	partition, err := aws.GetPartition(ctx, nil)
	if err != nil {
		return account{}, fmt.Errorf("platform: aws partition: %w", err)
	}
	caller, err := aws.GetCallerIdentity(ctx, nil)
	if err != nil {
		return account{}, fmt.Errorf("platform: aws caller identity: %w", err)
	}
	a := account{ID: caller.AccountId, Partition: partition.Partition, CallerRoleArn: PrincipalArn(caller.Arn)}
	if ctx.DryRun() {
		return a, nil
	}
	for _, g := range AccessGrants(cfg, a) {
		if g.PrincipalArn == a.CallerRoleArn && g.Policy == cluster.PolicyClusterAdmin {
			return a, nil
		}
	}
	return account{}, fmt.Errorf("platform: %s runs this update but has no cluster-admin access entry: "+
		"add it to gopherops:operatorArns (or run as the deploy role %s)", a.CallerRoleArn, cfg.Access.DeployRoleName)
}

// PrincipalArn turns an STS caller ARN into the IAM principal ARN access
// entries name: arn:aws:sts::1:assumed-role/R/session → arn:aws:iam::1:role/R.
func PrincipalArn(callerArn string) string {
	parts := strings.SplitN(callerArn, ":", 6)
	if len(parts) != 6 || parts[2] != "sts" {
		return callerArn
	}
	rest, ok := strings.CutPrefix(parts[5], "assumed-role/")
	if !ok {
		return callerArn
	}
	role, _, _ := strings.Cut(rest, "/")
	return "arn:" + parts[1] + ":iam::" + parts[4] + ":role/" + role
}

// AccessGrants are the stack's EKS access entries: the deploy role and the
// operators administer the cluster, the preview and drift roles read it,
// and, on the cluster that hosts them, the pull-request stacks' role edits
// their namespaces only (its group is what prstacks binds and guards).
func AccessGrants(cfg *config.Config, a account) []cluster.AccessGrant {
	role := func(name string) string { return "arn:" + a.Partition + ":iam::" + a.ID + ":role/" + name }
	grants := []cluster.AccessGrant{
		{PrincipalArn: role(cfg.Access.DeployRoleName), Policy: cluster.PolicyClusterAdmin},
		{PrincipalArn: role(cfg.Access.PreviewRoleName), Policy: cluster.PolicyAdminView},
		{PrincipalArn: role(cfg.Access.DriftRoleName), Policy: cluster.PolicyAdminView},
	}
	if cfg.Access.PullRequestStacks {
		grants = append(grants, cluster.AccessGrant{
			PrincipalArn: role(cfg.Access.PRStacksRoleName), Policy: cluster.PolicyEdit,
			Namespaces: []string{config.PreviewNamespacePrefix + "*"}, Groups: []string{prstacks.Group},
		})
	}
	for _, arn := range cfg.Access.OperatorArns {
		grants = append(grants, cluster.AccessGrant{PrincipalArn: arn, Policy: cluster.PolicyClusterAdmin})
	}
	return grants
}

// LoadBalancerAnnotations ask the AWS Load Balancer Controller for an
// internet-facing Network Load Balancer whose targets are the pods' IPs, with
// the client's address preserved (IP targets over TCP do not preserve it by
// default), terminating TLS with the ACM certificate when one is given.
func LoadBalancerAnnotations(certificateArn string) pulumi.StringMap {
	a := pulumi.StringMap{
		"service.beta.kubernetes.io/aws-load-balancer-type":                    pulumi.String("external"),
		"service.beta.kubernetes.io/aws-load-balancer-nlb-target-type":         pulumi.String("ip"),
		"service.beta.kubernetes.io/aws-load-balancer-scheme":                  pulumi.String("internet-facing"),
		"service.beta.kubernetes.io/aws-load-balancer-target-group-attributes": pulumi.String("preserve_client_ip.enabled=true"),
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
