// Package app deploys GopherOps onto any Kubernetes cluster: namespace,
// ServiceAccount, secrets, the per-image migration Job, the hardened
// Deployment, Services, HPA, PodDisruptionBudget and NetworkPolicies. It knows
// nothing about AWS: the EKS stacks and the local stack pass in what differs
// (database URL, blob store, IRSA annotation, load balancer annotations).
package app

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/gopherops/gopherops/infra/quantity"
	appsv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apps/v1"
	autoscalingv2 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/autoscaling/v2"
	batchv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/batch/v1"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	networkingv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/networking/v1"
	policyv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/policy/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Ports and identity fixed by the service's runtime contract.
const (
	// HTTPPort is the public listener (HTTP_ADDR).
	HTTPPort = 8080
	// AdminPort serves /metrics and pprof (ADMIN_ADDR).
	AdminPort = 9090
	// RunAsUser is the distroless "nonroot" user the image runs as.
	RunAsUser = 65532
	// ContainerName is the container name in both the Deployment and the Job.
	ContainerName = "gopherops"
	// SkipAwaitAnnotation tells pulumi-kubernetes not to wait for readiness.
	SkipAwaitAnnotation = "pulumi.com/skipAwait"
	// IRSAAnnotation binds a ServiceAccount to an IAM role on EKS.
	IRSAAnnotation = "eks.amazonaws.com/role-arn"
)

// preStopSeconds keeps a terminating pod serving while load balancers and
// endpoints stop sending it traffic.
const preStopSeconds = 10

// Resources are the container's requests and limits (Kubernetes quantities).
type Resources struct {
	CPURequest    string
	CPULimit      string
	MemoryRequest string
	MemoryLimit   string
}

// RegistryCredentials create an image pull secret (e.g. for a private GHCR image).
type RegistryCredentials struct {
	Server   string
	Username string
	Password pulumi.StringInput
}

// Args configures the App component.
type Args struct {
	// Provider is the Kubernetes provider every resource is created with.
	Provider pulumi.ProviderResource
	// Name of the workload and its ServiceAccount (default "gopherops").
	Name string
	// Namespace is created with the Pod Security "restricted" profile.
	Namespace string
	// Image is a full reference, by tag or digest.
	Image string
	// PullCredentials, when set, create an image pull secret.
	PullCredentials *RegistryCredentials

	MinReplicas          int
	MaxReplicas          int
	TargetCPUUtilization int
	Resources            Resources

	// DatabaseURL is stored in the workload Secret (it may carry credentials).
	// With InClusterDatabase it may be nil: the URL of that database is used.
	DatabaseURL pulumi.StringInput
	// InClusterDatabase, when set, runs PostgreSQL in the namespace and points
	// the app at it; its password reaches the pods as PGPASSWORD from the
	// database's own Secret.
	InClusterDatabase *InClusterDatabase
	// BlobVolume, when set, mounts a PersistentVolumeClaim at BlobMountPath
	// for a file:// BlobStore.
	BlobVolume *BlobVolume
	// DatabaseSecretArn, when set, makes the service read credentials from Secrets Manager.
	DatabaseSecretArn pulumi.StringInput
	// BlobStore is file:///path or s3://bucket/prefix; with BlobVolume it
	// defaults to the volume.
	BlobStore pulumi.StringInput
	// AWSRegion is passed as AWS_REGION when set.
	AWSRegion string
	// SessionKey is the base64 session key, stored in the workload Secret.
	SessionKey pulumi.StringInput
	// GenerateSessionKey, instead of SessionKey, makes the component create
	// a random key once and keep it in a Secret of its own for the stack's
	// life (pull-request stacks, whose configuration is rebuilt from a
	// template on every push and so cannot hold one).
	GenerateSessionKey bool
	// LogLevel is debug, info, warn or error (default info).
	LogLevel string
	// ExtraEnv adds plain environment variables (e.g. AWS_ENDPOINT_URL_S3 locally).
	ExtraEnv map[string]string

	// ServiceAccountAnnotations are added to the ServiceAccount (e.g. IRSAAnnotation).
	ServiceAccountAnnotations pulumi.StringMapInput
	// ServiceType is LoadBalancer (default), NodePort or ClusterIP.
	ServiceType string
	// ServiceAnnotations configure the load balancer.
	ServiceAnnotations pulumi.StringMapInput
	// LoadBalancerClass hands a LoadBalancer Service to a controller (the AWS
	// Load Balancer Controller's service.k8s.aws/nlb): its IP targets reach
	// the pods directly, so no NodePorts are allocated. Without a class, a
	// NodePort or LoadBalancer Service keeps traffic on the receiving node
	// (externalTrafficPolicy Local), which preserves the client address.
	LoadBalancerClass string
	// ServiceDependsOn are what the Service waits for (the load balancer
	// controller), and what is deleted only after it on destroy.
	ServiceDependsOn []pulumi.Resource
	// TrustedProxies become TRUSTED_PROXIES: the addresses whose
	// X-Forwarded-For the service believes. Empty when the client address
	// arrives as the TCP peer, as it does with IP targets and with
	// externalTrafficPolicy Local.
	TrustedProxies []string
	// HTTPS adds port 443 to the Service (TLS terminated by the load balancer).
	HTTPS bool

	// MonitoringNamespace may scrape the admin port (default "monitoring").
	MonitoringNamespace string
	// DatabaseCIDRs restrict PostgreSQL egress; empty means any destination.
	DatabaseCIDRs []string
	// ShutdownTimeout is SHUTDOWN_TIMEOUT (default 20s).
	ShutdownTimeout time.Duration
	// SkipAwait annotates every resource with pulumi.com/skipAwait.
	SkipAwait bool
	// Quota, when set, bounds the namespace with a ResourceQuota and a
	// LimitRange that the component itself is checked to fit in.
	Quota *Quota
	// DatabaseGeneration names the database the app runs on when it is not
	// the first one (an AWS restore): a new generation gets a new migration
	// Job, so a restored schema is brought to the image's version.
	DatabaseGeneration string
}

// App is everything GopherOps runs on a cluster.
type App struct {
	pulumi.ResourceState

	Namespace      *corev1.Namespace
	ServiceAccount *corev1.ServiceAccount
	Secret         *corev1.Secret
	PullSecret     *corev1.Secret
	// SessionSecret holds the generated session key (GenerateSessionKey).
	SessionSecret  *corev1.Secret
	MigrationJob   *batchv1.Job
	Deployment     *appsv1.Deployment
	Service        *corev1.Service
	MetricsService *corev1.Service
	HPA            *autoscalingv2.HorizontalPodAutoscaler
	PDB            *policyv1.PodDisruptionBudget
	DefaultDeny    *networkingv1.NetworkPolicy
	NetworkPolicy  *networkingv1.NetworkPolicy
	// Postgres is set with Args.InClusterDatabase.
	Postgres *Postgres
	// BlobClaim is set with Args.BlobVolume.
	BlobClaim *corev1.PersistentVolumeClaim
	// BackupClaim and BackupCronJob are set with InClusterDatabase.Backup,
	// RestoreJob when it restores.
	BackupClaim   *corev1.PersistentVolumeClaim
	BackupCronJob *batchv1.CronJob
	RestoreJob    *batchv1.Job
	// ResourceQuota and LimitRange are set with Args.Quota.
	ResourceQuota   *corev1.ResourceQuota
	LimitRange      *corev1.LimitRange
	SelectorLabels  map[string]string
	MetricsLabels   map[string]string
	MetricsPortName string

	// NamespaceName is the namespace once it exists.
	NamespaceName pulumi.StringOutput
	// LoadBalancerHost is the Service's external hostname or IP (empty until assigned).
	LoadBalancerHost pulumi.StringOutput
}

// JobName is the migration Job's name for an image: a new image gets a new Job.
func JobName(name, image string) string {
	sum := sha256.Sum256([]byte(image))
	return name + "-migrate-" + hex.EncodeToString(sum[:])[:10]
}

// MigrationJobName is the migration Job's name for an image and a database
// generation: a new image or a new database (a restore) gets a new Job.
func MigrationJobName(name, image, generation string) string {
	if generation == "" {
		return JobName(name, image)
	}
	return JobName(name, image+"\x00"+generation)
}

func (a *Args) defaults() error {
	if a.Name == "" {
		a.Name = "gopherops"
	}
	if a.ServiceType == "" {
		a.ServiceType = "LoadBalancer"
	}
	if a.MonitoringNamespace == "" {
		a.MonitoringNamespace = "monitoring"
	}
	if a.ShutdownTimeout == 0 {
		a.ShutdownTimeout = 20 * time.Second
	}
	if a.LogLevel == "" {
		a.LogLevel = "info"
	}
	if a.TargetCPUUtilization == 0 {
		a.TargetCPUUtilization = 70
	}
	var errs []error
	if a.LoadBalancerClass != "" && a.ServiceType != "LoadBalancer" {
		errs = append(errs, fmt.Errorf("a load balancer class needs ServiceType LoadBalancer, not %s", a.ServiceType))
	}
	if a.Provider == nil {
		errs = append(errs, errors.New("a Kubernetes provider is required"))
	}
	if a.Namespace == "" {
		errs = append(errs, errors.New("a namespace is required"))
	}
	if a.Image == "" {
		errs = append(errs, errors.New("an image is required"))
	}
	if a.InClusterDatabase != nil {
		// A copy: filling in defaults must not change the caller's value.
		db := *a.InClusterDatabase
		db.defaults()
		a.InClusterDatabase = &db
		if a.InClusterDatabase.Image == "" || a.InClusterDatabase.StorageSize == "" {
			errs = append(errs, errors.New("an in-cluster database needs an image and a storage size"))
		}
		if bk := a.InClusterDatabase.Backup; bk != nil {
			c := *bk
			a.InClusterDatabase.Backup = &c
			errs = append(errs, c.check())
		}
		if a.DatabaseURL != nil || a.DatabaseSecretArn != nil {
			errs = append(errs, errors.New("an in-cluster database excludes DatabaseURL and DatabaseSecretArn"))
		}
		a.DatabaseURL = pulumi.String(inClusterURL(a.InClusterDatabase, a.Name, a.Namespace))
	}
	if a.BlobVolume != nil {
		if a.BlobVolume.Size == "" {
			errs = append(errs, errors.New("a blob volume needs a size"))
		}
		if a.BlobStore == nil {
			a.BlobStore = pulumi.String("file://" + BlobMountPath)
		}
	}
	if a.DatabaseURL == nil || (a.SessionKey == nil) == !a.GenerateSessionKey || a.BlobStore == nil {
		errs = append(errs, errors.New("database URL, blob store and one of session key and GenerateSessionKey are required"))
	}
	if a.MinReplicas < 1 || a.MinReplicas > a.MaxReplicas {
		errs = append(errs, fmt.Errorf("replicas: need 1 <= min (%d) <= max (%d)", a.MinReplicas, a.MaxReplicas))
	}
	if _, err := quantity.CPUMillis(a.Resources.CPULimit); err != nil {
		errs = append(errs, fmt.Errorf("CPU limit: %w", err))
	}
	if _, err := quantity.GoMemLimit(a.Resources.MemoryLimit); err != nil {
		errs = append(errs, fmt.Errorf("memory limit: %w", err))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if a.Quota != nil {
		return a.checkQuota()
	}
	return nil
}

// New creates the App component and its children.
func New(ctx *pulumi.Context, name string, args Args, opts ...pulumi.ResourceOption) (*App, error) {
	if err := args.defaults(); err != nil {
		return nil, fmt.Errorf("app: %w", err)
	}
	a := &App{}
	if err := ctx.RegisterComponentResource("gopherops:infra:App", name, a, opts...); err != nil {
		return nil, fmt.Errorf("app: register component: %w", err)
	}
	b := &builder{ctx: ctx, name: name, args: args, app: a,
		opts: []pulumi.ResourceOption{pulumi.Parent(a), pulumi.Provider(args.Provider)}}
	a.SelectorLabels = map[string]string{
		"app.kubernetes.io/name":      args.Name,
		"app.kubernetes.io/instance":  args.Name,
		"app.kubernetes.io/component": "server",
	}
	a.MetricsLabels = b.labels("metrics")
	a.MetricsPortName = "metrics"

	steps := []func() error{
		b.namespace, b.quota, b.serviceAccount, b.postgres, b.backup, b.blobVolume, b.secrets, b.restore,
		b.migrationJob, b.deployment, b.services, b.autoscaling, b.networkPolicies,
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return nil, fmt.Errorf("app: %w", err)
		}
	}

	if err := ctx.RegisterResourceOutputs(a, pulumi.Map{
		"namespace":        a.NamespaceName,
		"loadBalancerHost": a.LoadBalancerHost,
	}); err != nil {
		return nil, fmt.Errorf("app: register outputs: %w", err)
	}
	return a, nil
}

// databaseDeps are what the migration Job waits for: the in-cluster
// database when there is one (a managed database exists before the app),
// and its restore once that exists.
func (b *builder) databaseDeps() []pulumi.Resource {
	if b.app.Postgres == nil {
		return nil
	}
	deps := []pulumi.Resource{b.app.Postgres.StatefulSet, b.app.Postgres.NetworkPolicy}
	if b.app.RestoreJob != nil {
		deps = append(deps, b.app.RestoreJob)
	}
	return deps
}

// builder carries what every resource of the component shares.
type builder struct {
	ctx  *pulumi.Context
	name string
	args Args
	app  *App
	opts []pulumi.ResourceOption
}

func (b *builder) with(extra ...pulumi.ResourceOption) []pulumi.ResourceOption {
	return append(append([]pulumi.ResourceOption{}, b.opts...), extra...)
}

// labels are the common labels plus a component.
func (b *builder) labels(component string) map[string]string {
	return map[string]string{
		"app.kubernetes.io/name":       b.args.Name,
		"app.kubernetes.io/instance":   b.args.Name,
		"app.kubernetes.io/component":  component,
		"app.kubernetes.io/part-of":    "gopherops",
		"app.kubernetes.io/managed-by": "pulumi",
	}
}

// meta builds object metadata in the app namespace; an empty name lets Pulumi
// generate one (so a changed Secret is replaced under a new name and rolls
// the pods).
func (b *builder) meta(name, component string, annotations pulumi.StringMapInput) *metav1.ObjectMetaArgs {
	m := &metav1.ObjectMetaArgs{
		Namespace: b.app.NamespaceName,
		Labels:    pulumi.ToStringMap(b.labels(component)),
	}
	if name != "" {
		m.Name = pulumi.String(name)
	}
	m.Annotations = b.annotations(annotations)
	return m
}

// annotations merges the skipAwait annotation into the given ones.
func (b *builder) annotations(in pulumi.StringMapInput) pulumi.StringMapInput {
	if !b.args.SkipAwait {
		return in
	}
	if in == nil {
		return pulumi.StringMap{SkipAwaitAnnotation: pulumi.String("true")}
	}
	return in.ToStringMapOutput().ApplyT(func(m map[string]string) map[string]string {
		out := map[string]string{SkipAwaitAnnotation: "true"}
		for k, v := range m {
			out[k] = v
		}
		return out
	}).(pulumi.StringMapOutput)
}

func (b *builder) namespace() error {
	ns, err := corev1.NewNamespace(b.ctx, b.name, &corev1.NamespaceArgs{
		Metadata: &metav1.ObjectMetaArgs{
			Name: pulumi.String(b.args.Namespace),
			Labels: pulumi.StringMap{
				"pod-security.kubernetes.io/enforce":         pulumi.String("restricted"),
				"pod-security.kubernetes.io/enforce-version": pulumi.String("latest"),
				"pod-security.kubernetes.io/audit":           pulumi.String("restricted"),
				"pod-security.kubernetes.io/warn":            pulumi.String("restricted"),
				"app.kubernetes.io/part-of":                  pulumi.String("gopherops"),
			},
			Annotations: b.annotations(nil),
		},
	}, b.opts...)
	if err != nil {
		return fmt.Errorf("namespace: %w", err)
	}
	b.app.Namespace = ns
	b.app.NamespaceName = ns.Metadata.Name().Elem()
	return nil
}

func (b *builder) serviceAccount() error {
	m := b.meta(b.args.Name, "server", b.args.ServiceAccountAnnotations)
	sa, err := corev1.NewServiceAccount(b.ctx, b.name, &corev1.ServiceAccountArgs{
		Metadata: m,
		// The service never talks to the Kubernetes API.
		AutomountServiceAccountToken: pulumi.Bool(false),
	}, b.opts...)
	if err != nil {
		return fmt.Errorf("service account: %w", err)
	}
	b.app.ServiceAccount = sa
	return nil
}

func (b *builder) secrets() error {
	data := pulumi.StringMap{"DATABASE_URL": b.args.DatabaseURL}
	if b.args.SessionKey != nil {
		data["SESSION_KEY"] = b.args.SessionKey
	}
	s, err := corev1.NewSecret(b.ctx, b.name+"-env", &corev1.SecretArgs{
		Metadata:   b.meta("", "server", nil),
		Type:       pulumi.String("Opaque"),
		StringData: data,
	}, b.opts...)
	if err != nil {
		return fmt.Errorf("env secret: %w", err)
	}
	b.app.Secret = s
	if b.args.GenerateSessionKey {
		// As the database password: a fresh key on every run, and
		// ignoreChanges keeps the first, so sessions survive updates.
		raw := make([]byte, 32)
		if _, err := rand.Read(raw); err != nil {
			return fmt.Errorf("generate session key: %w", err)
		}
		key := base64.StdEncoding.EncodeToString(raw)
		sk, err := corev1.NewSecret(b.ctx, b.name+"-session", &corev1.SecretArgs{
			Metadata:   b.meta(b.args.Name+"-session", "server", nil),
			Type:       pulumi.String("Opaque"),
			StringData: pulumi.StringMap{"SESSION_KEY": pulumi.ToSecret(pulumi.String(key)).(pulumi.StringOutput)},
		}, b.with(pulumi.IgnoreChanges([]string{"stringData", "data"}))...)
		if err != nil {
			return fmt.Errorf("session key secret: %w", err)
		}
		b.app.SessionSecret = sk
	}
	if pc := b.args.PullCredentials; pc != nil {
		dockerConfig := pulumi.All(pc.Password).ApplyT(func(v []any) (string, error) {
			return DockerConfigJSON(pc.Server, pc.Username, v[0].(string))
		}).(pulumi.StringOutput)
		ps, err := corev1.NewSecret(b.ctx, b.name+"-pull", &corev1.SecretArgs{
			Metadata:   b.meta("", "server", nil),
			Type:       pulumi.String("kubernetes.io/dockerconfigjson"),
			StringData: pulumi.StringMap{".dockerconfigjson": pulumi.ToSecret(dockerConfig).(pulumi.StringOutput)},
		}, b.opts...)
		if err != nil {
			return fmt.Errorf("pull secret: %w", err)
		}
		b.app.PullSecret = ps
	}
	return nil
}

func (b *builder) migrationJob() error {
	meta := b.meta(MigrationJobName(b.args.Name, b.args.Image, b.args.DatabaseGeneration), "migrate", nil)
	job, err := batchv1.NewJob(b.ctx, b.name+"-migrate", &batchv1.JobArgs{
		Metadata: meta,
		Spec: &batchv1.JobSpecArgs{
			BackoffLimit:            pulumi.Int(4),
			ActiveDeadlineSeconds:   pulumi.Int(900),
			TtlSecondsAfterFinished: pulumi.Int(7 * 24 * 3600),
			Template: &corev1.PodTemplateSpecArgs{
				Metadata: &metav1.ObjectMetaArgs{Labels: pulumi.ToStringMap(b.labels("migrate"))},
				Spec:     b.podSpec([]string{"migrate", "up"}, false, "Never"),
			},
		},
	}, b.with(pulumi.DeleteBeforeReplace(true), pulumi.DependsOn(b.databaseDeps()))...)
	if err != nil {
		return fmt.Errorf("migration job: %w", err)
	}
	b.app.MigrationJob = job
	return nil
}

func (b *builder) deployment() error {
	podLabels := b.labels("server")
	dep, err := appsv1.NewDeployment(b.ctx, b.name, &appsv1.DeploymentArgs{
		Metadata: b.meta(b.args.Name, "server", nil),
		// No replicas: the HPA owns the count, and a value here would fight it
		// (a server-side apply conflict) on every update.
		Spec: &appsv1.DeploymentSpecArgs{
			RevisionHistoryLimit:    pulumi.Int(5),
			MinReadySeconds:         pulumi.Int(5),
			ProgressDeadlineSeconds: pulumi.Int(600),
			Selector:                &metav1.LabelSelectorArgs{MatchLabels: pulumi.ToStringMap(b.app.SelectorLabels)},
			Strategy: &appsv1.DeploymentStrategyArgs{
				Type: pulumi.String("RollingUpdate"),
				RollingUpdate: &appsv1.RollingUpdateDeploymentArgs{
					MaxUnavailable: pulumi.Int(0),
					MaxSurge:       pulumi.Int(1),
				},
			},
			Template: &corev1.PodTemplateSpecArgs{
				Metadata: &metav1.ObjectMetaArgs{Labels: pulumi.ToStringMap(podLabels)},
				Spec:     b.podSpec([]string{"serve"}, true, "Always"),
			},
		},
	}, b.with(pulumi.DependsOn([]pulumi.Resource{b.app.MigrationJob}))...)
	if err != nil {
		return fmt.Errorf("deployment: %w", err)
	}
	b.app.Deployment = dep
	return nil
}

func (b *builder) services() error {
	ports := corev1.ServicePortArray{
		corev1.ServicePortArgs{Name: pulumi.String("http"), Port: pulumi.Int(80), TargetPort: pulumi.String("http"), Protocol: pulumi.String("TCP")},
	}
	if b.args.HTTPS {
		ports = append(ports, corev1.ServicePortArgs{
			Name: pulumi.String("https"), Port: pulumi.Int(443), TargetPort: pulumi.String("http"), Protocol: pulumi.String("TCP"),
		})
	}
	spec := &corev1.ServiceSpecArgs{
		Type:     pulumi.String(b.args.ServiceType),
		Selector: pulumi.ToStringMap(b.app.SelectorLabels),
		Ports:    ports,
	}
	switch {
	case b.args.LoadBalancerClass != "":
		spec.LoadBalancerClass = pulumi.String(b.args.LoadBalancerClass)
		spec.AllocateLoadBalancerNodePorts = pulumi.Bool(false)
	case b.args.ServiceType == "NodePort" || b.args.ServiceType == "LoadBalancer":
		spec.ExternalTrafficPolicy = pulumi.String("Local")
	}
	svc, err := corev1.NewService(b.ctx, b.name, &corev1.ServiceArgs{
		Metadata: b.meta(b.args.Name, "server", b.args.ServiceAnnotations),
		Spec:     spec,
	}, b.with(pulumi.DependsOn(b.args.ServiceDependsOn))...)
	if err != nil {
		return fmt.Errorf("service: %w", err)
	}
	b.app.Service = svc
	// The ingress list is empty until a load balancer is assigned, and
	// always for ClusterIP and NodePort Services: never index into it.
	b.app.LoadBalancerHost = svc.Status.LoadBalancer().Ingress().ApplyT(
		func(ingress []corev1.LoadBalancerIngress) string {
			for _, in := range ingress {
				for _, s := range []*string{in.Hostname, in.Ip} {
					if s != nil && *s != "" {
						return *s
					}
				}
			}
			return ""
		}).(pulumi.StringOutput)

	// Metrics stay inside the cluster: a ClusterIP Service for Prometheus.
	ms, err := corev1.NewService(b.ctx, b.name+"-metrics", &corev1.ServiceArgs{
		Metadata: &metav1.ObjectMetaArgs{
			Name:        pulumi.String(b.args.Name + "-metrics"),
			Namespace:   b.app.NamespaceName,
			Labels:      pulumi.ToStringMap(b.app.MetricsLabels),
			Annotations: b.annotations(nil),
		},
		Spec: &corev1.ServiceSpecArgs{
			Type:     pulumi.String("ClusterIP"),
			Selector: pulumi.ToStringMap(b.app.SelectorLabels),
			Ports: corev1.ServicePortArray{
				corev1.ServicePortArgs{Name: pulumi.String(b.app.MetricsPortName), Port: pulumi.Int(AdminPort), TargetPort: pulumi.String("admin"), Protocol: pulumi.String("TCP")},
			},
		},
	}, b.opts...)
	if err != nil {
		return fmt.Errorf("metrics service: %w", err)
	}
	b.app.MetricsService = ms
	return nil
}

func (b *builder) autoscaling() error {
	hpa, err := autoscalingv2.NewHorizontalPodAutoscaler(b.ctx, b.name, &autoscalingv2.HorizontalPodAutoscalerArgs{
		Metadata: b.meta(b.args.Name, "server", nil),
		Spec: &autoscalingv2.HorizontalPodAutoscalerSpecArgs{
			ScaleTargetRef: &autoscalingv2.CrossVersionObjectReferenceArgs{
				ApiVersion: pulumi.String("apps/v1"),
				Kind:       pulumi.String("Deployment"),
				Name:       b.app.Deployment.Metadata.Name().Elem(),
			},
			MinReplicas: pulumi.Int(b.args.MinReplicas),
			MaxReplicas: pulumi.Int(b.args.MaxReplicas),
			Metrics: autoscalingv2.MetricSpecArray{
				autoscalingv2.MetricSpecArgs{
					Type: pulumi.String("Resource"),
					Resource: &autoscalingv2.ResourceMetricSourceArgs{
						Name: pulumi.String("cpu"),
						Target: &autoscalingv2.MetricTargetArgs{
							Type:               pulumi.String("Utilization"),
							AverageUtilization: pulumi.Int(b.args.TargetCPUUtilization),
						},
					},
				},
			},
			Behavior: &autoscalingv2.HorizontalPodAutoscalerBehaviorArgs{
				ScaleDown: &autoscalingv2.HPAScalingRulesArgs{StabilizationWindowSeconds: pulumi.Int(300)},
			},
		},
	}, b.opts...)
	if err != nil {
		return fmt.Errorf("hpa: %w", err)
	}
	b.app.HPA = hpa

	pdb, err := policyv1.NewPodDisruptionBudget(b.ctx, b.name, &policyv1.PodDisruptionBudgetArgs{
		Metadata: b.meta(b.args.Name, "server", nil),
		Spec: &policyv1.PodDisruptionBudgetSpecArgs{
			MaxUnavailable: pulumi.Int(1),
			Selector:       &metav1.LabelSelectorArgs{MatchLabels: pulumi.ToStringMap(b.app.SelectorLabels)},
		},
	}, b.opts...)
	if err != nil {
		return fmt.Errorf("pdb: %w", err)
	}
	b.app.PDB = pdb
	return nil
}
