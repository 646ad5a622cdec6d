package platform

import (
	"fmt"

	"github.com/gopherops/gopherops/infra/app"
	"github.com/gopherops/gopherops/infra/config"
	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// DeployLocal deploys an in-cluster stack (local, or a pull request's
// pr-<number>): the same app component as the AWS stacks, with PostgreSQL as
// a StatefulSet backed up by a CronJob, and the avatars on a volume, onto
// whatever cluster the kubeconfig (KUBECONFIG or ~/.kube/config, context
// gopherops:kubeContext) points at. A pull request's stack also gets a
// ResourceQuota and a LimitRange. It creates nothing outside that cluster.
func DeployLocal(ctx *pulumi.Context, cfg *config.Config, opts ...Option) (*Platform, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if !cfg.InCluster() {
		return nil, fmt.Errorf("platform: stack %s has environment %q: only %q and %q stacks deploy with DeployLocal", cfg.Stack, cfg.Environment, config.EnvLocal, config.EnvPR)
	}
	o := newOptions(opts)
	p := &Platform{Config: cfg}

	providerArgs := &kubernetes.ProviderArgs{
		// Server-side apply: the API server merges and validates every
		// object, and fields other managers own (HPA replicas) are left alone.
		EnableServerSideApply: pulumi.Bool(true),
	}
	if cfg.Local.KubeContext != "" {
		providerArgs.Context = pulumi.String(cfg.Local.KubeContext)
	}
	provider, err := kubernetes.NewProvider(ctx, cfg.Environment, providerArgs)
	if err != nil {
		return nil, fmt.Errorf("platform: kubernetes provider: %w", err)
	}

	if v := cfg.Local.MetricsServerChart; v != "" {
		if _, err := deployMetricsServer(ctx, cfg.Project+"-"+cfg.Stack+"-metrics-server", v, provider); err != nil {
			return nil, err
		}
	}

	appArgs := baseAppArgs(cfg, provider)
	appArgs.Image = cfg.App.ImageRef()
	appArgs.PullCredentials = pullCredentials(cfg)
	appArgs.InClusterDatabase = &app.InClusterDatabase{
		Image:        cfg.Local.PostgresImage,
		StorageSize:  cfg.Local.PostgresStorageSize,
		StorageClass: cfg.Local.StorageClass,
		Backup: &app.Backup{
			Schedule:       cfg.Backup.Schedule,
			RetentionCount: cfg.Backup.RetentionCount,
			StorageSize:    cfg.Backup.StorageSize,
			StorageClass:   cfg.Local.StorageClass,
			RestoreFrom:    cfg.Backup.RestoreFrom,
		},
	}
	appArgs.BlobVolume = &app.BlobVolume{
		Size:         cfg.Local.BlobStorageSize,
		StorageClass: cfg.Local.StorageClass,
	}
	// NodePort and LoadBalancer get externalTrafficPolicy Local from the
	// app component, so the client address reaches the pod.
	appArgs.ServiceType = cfg.Local.ServiceType
	if cfg.IsPR() {
		previewArgs(cfg, &appArgs)
	}
	p.Image = appArgs.Image
	p.App, err = app.New(ctx, cfg.Project+"-"+cfg.Stack, appArgs)
	if err != nil {
		return nil, err
	}
	if err := p.deployMonitoring(ctx, provider, o); err != nil {
		return nil, err
	}

	p.Outputs = map[string]pulumi.StringOutput{
		OutputAppURL:     localAppURL(cfg.Local.ServiceType, p.App),
		OutputNamespace:  p.App.NamespaceName,
		OutputDBEndpoint: p.App.Postgres.Host,
	}
	for name, out := range p.Outputs {
		ctx.Export(name, out)
	}
	return p, nil
}

// previewArgs adds what a pull request's stack has on the shared dev
// cluster: the quota, and a load balancer from the AWS Load Balancer
// Controller (an internet-facing NLB to the pods) when it asks for one.
func previewArgs(cfg *config.Config, a *app.Args) {
	q := cfg.Preview.Quota
	a.Quota = &app.Quota{
		RequestsCPU:        q.RequestsCPU,
		RequestsMemory:     q.RequestsMemory,
		LimitsCPU:          q.LimitsCPU,
		LimitsMemory:       q.LimitsMemory,
		Storage:            q.Storage,
		Pods:               q.Pods,
		ContainerMaxCPU:    cfg.Preview.ContainerMaxCPU,
		ContainerMaxMemory: cfg.Preview.ContainerMaxMemory,
	}
	if cfg.Local.ServiceType == "LoadBalancer" {
		a.LoadBalancerClass = LoadBalancerClass
		a.ServiceAnnotations = LoadBalancerAnnotations("")
	}
}

// localAppURL is the load balancer's address for a LoadBalancer Service and
// the in-cluster address otherwise (reach it with kubectl port-forward).
func localAppURL(serviceType string, a *app.App) pulumi.StringOutput {
	if serviceType == "LoadBalancer" {
		return a.LoadBalancerHost.ApplyT(func(h string) string {
			if h == "" {
				return ""
			}
			return "http://" + h
		}).(pulumi.StringOutput)
	}
	return pulumi.Sprintf("http://%s.%s.svc", a.Service.Metadata.Name().Elem(), a.NamespaceName)
}
