// Package config is the one place where the GopherOps stack configuration is
// read: it turns the `gopherops:` keys of Pulumi.<stack>.yaml (plus `aws:region`
// and secret values set with `pulumi config set --secret`) into a typed,
// defaulted and validated Config.
package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Namespace is the Pulumi config namespace holding every GopherOps setting.
const Namespace = "gopherops"

// Environments the program knows how to size and harden.
const (
	// EnvDev is a small, cheap, single-NAT stack for development.
	EnvDev = "dev"
	// EnvProd is the highly available, deletion-protected stack.
	EnvProd = "prod"
	// EnvLocal deploys only the app, with PostgreSQL in the cluster, onto any
	// existing cluster (kind, k3d, minikube): no AWS at all.
	EnvLocal = "local"
	// EnvPR is a pull request's stack, pr-<number>: what local deploys, in
	// its own namespace on the dev cluster, under a ResourceQuota.
	EnvPR = "pr"
)

// Secret holds a secret configuration value. It never prints its content, so
// a Config can be logged or compared in tests without leaking anything.
type Secret struct {
	value string
}

// NewSecret wraps a plaintext value (used by the loader and by tests).
func NewSecret(v string) Secret { return Secret{value: v} }

// String hides the value.
func (s Secret) String() string {
	if s.value == "" {
		return "<unset>"
	}
	return "<secret>"
}

// GoString hides the value from %#v as well.
func (s Secret) GoString() string { return s.String() }

// IsSet reports whether a value was configured.
func (s Secret) IsSet() bool { return s.value != "" }

// Output returns the value as a Pulumi secret output, the only form in which
// it reaches resources.
func (s Secret) Output() pulumi.StringOutput {
	return pulumi.ToSecret(pulumi.String(s.value)).(pulumi.StringOutput)
}

// Config is the whole, validated configuration of one stack.
type Config struct {
	Project     string
	Stack       string
	Environment string // EnvDev, EnvProd or EnvLocal
	Region      string // aws:region (unused by EnvLocal)
	// Decommission relaxes the prod protections so the stack can be destroyed.
	Decommission bool

	Network    Network
	Cluster    Cluster
	Access     Access
	Database   Database
	Storage    Storage
	App        App
	Monitoring Monitoring
	Runner     Runner
	Local      Local
	// Preview is set on pull-request stacks (EnvPR) only.
	Preview Preview
	// Backup is the in-cluster database's backups (EnvLocal and EnvPR).
	Backup Backup
}

// Network sizes the VPC.
type Network struct {
	VpcCidr               string
	AvailabilityZoneCount int
	NatGatewayPerAz       bool
	// InterfaceEndpoints adds ECR and STS interface endpoints (the S3
	// gateway endpoint is always there).
	InterfaceEndpoints bool
	// FlowLogDestination is "s3" (Parquet in a bucket) or
	// "cloud-watch-logs".
	FlowLogDestination string
}

// Cluster sizes and restricts the EKS cluster.
type Cluster struct {
	Name                     string
	KubernetesVersion        string
	EndpointPublicCidrs      []string
	NodeInstanceTypes        []string
	NodeAmiType              string
	NodeDiskSizeGiB          int
	NodeMinSize              int
	NodeDesiredSize          int
	NodeMaxSize              int
	KMSKeyDeletionWindowDays int
	// LogRetentionDays keeps the control-plane and VPC flow logs in CloudWatch.
	LogRetentionDays int
	// AddonVersions pins every EKS add-on by name (vpc-cni, coredns,
	// kube-proxy, metrics-server): an unpinned add-on changes under a running
	// cluster when AWS moves its default. From versions.go, by minor.
	AddonVersions map[string]string
	// LoadBalancerControllerChart and ClusterAutoscalerChart pin the Helm
	// charts of the two controllers the program installs, and
	// ClusterAutoscalerImage the autoscaler release of the cluster's minor
	// (versions.go).
	LoadBalancerControllerChart string
	ClusterAutoscalerChart      string
	ClusterAutoscalerImage      string
}

// Access names who may use the cluster's Kubernetes API, each through an EKS
// access entry the program creates: nobody gets access by having created
// the cluster.
type Access struct {
	// DeployRoleName is the bootstrap project's role `pulumi up` runs as in CI
	// (cluster admin).
	DeployRoleName string
	// PreviewRoleName is the bootstrap project's read-only role for
	// `pulumi preview` on pull requests (AmazonEKSAdminViewPolicy).
	PreviewRoleName string
	// DriftRoleName is the bootstrap project's read-only role of the
	// scheduled drift check (AmazonEKSAdminViewPolicy).
	DriftRoleName string
	// PRStacksRoleName is the bootstrap project's role of the pull-request
	// stacks (preview-env.yml), given their namespaces only when the
	// cluster hosts them.
	PRStacksRoleName string
	// PullRequestStacks is true on the stack whose cluster hosts the
	// pull-request stacks (dev by default): its cluster lets their role
	// into namespaces gopherops-pr-<number> and refuses it any other.
	PullRequestStacks bool
	// OperatorArns are the IAM roles or users of the people who run the
	// cluster (cluster admin).
	OperatorArns []string
}

// Runner is the AWS CodeBuild-hosted GitHub Actions runner inside the VPC,
// the route by which CI reaches a private Kubernetes API endpoint.
type Runner struct {
	Enabled bool
	// GitHubRepository is owner/name of the repository whose workflows run on it.
	GitHubRepository string
	// ConnectionArn is the AWS CodeConnections connection to GitHub, made
	// once in the console (its OAuth handshake cannot be automated).
	ConnectionArn string
}

// Database sizes and protects the RDS PostgreSQL instance.
type Database struct {
	InstanceClass          string
	EngineVersion          string
	AllocatedStorageGiB    int
	MaxAllocatedStorageGiB int
	MultiAz                bool
	BackupRetentionDays    int
	DeletionProtection     bool
	// PerformanceInsights turns on RDS Performance Insights (required in prod).
	PerformanceInsights bool
	// Restore, when set, creates the instance from a snapshot or a point in
	// time (docs/recovery.md).
	Restore DatabaseRestore
}

// Storage configures the avatar bucket.
type Storage struct {
	NoncurrentVersionDays int
	ForceDestroy          bool
	// AccessLogging writes S3 server access logs to a second bucket (required in prod).
	AccessLogging bool
}

// App configures the GopherOps workload on the cluster.
type App struct {
	Namespace string
	// ImageRepository and ImageTag are what the local stack runs; the AWS
	// stacks run the ECR mirror instead (ECRRepository).
	ImageRepository string
	ImageTag        string
	// ImageDigest pins the image by digest. On AWS it overrides the release
	// the stack's ECR tag points at (an emergency pin or a rollback).
	ImageDigest string
	// ECRRepository is the bootstrap project's ECR repository that CI mirrors
	// each release into; the tag named after the stack records which image
	// the stack runs, so every `pulumi up`, from CI or a laptop, deploys it.
	ECRRepository        string
	MinReplicas          int
	MaxReplicas          int
	TargetCPUUtilization int
	CPURequest           string
	CPULimit             string
	MemoryRequest        string
	MemoryLimit          string
	LogLevel             string
	CertificateArn       string
	DomainName           string
	GHCRUsername         string
	GHCRToken            Secret
	SessionKey           Secret
	// SkipAwait stops Pulumi from waiting for workloads to become ready. Only
	// the platform test sets it, against an API server without a kubelet.
	SkipAwait bool
}

// Local configures the `local` environment: which cluster, how the app is
// exposed, and the in-cluster PostgreSQL and avatar volume.
type Local struct {
	// KubeContext selects a kubeconfig context; empty means the current one.
	KubeContext string
	// ServiceType exposes the app: ClusterIP (port-forward), NodePort or LoadBalancer.
	ServiceType         string
	PostgresImage       string
	PostgresStorageSize string
	BlobStorageSize     string
	// StorageClass for both volumes; empty means the cluster's default class.
	StorageClass string
	// MetricsServerChart installs metrics-server (the HPA's CPU source) from
	// its Helm chart at this version; empty leaves it to the cluster (k3d and
	// minikube bundle one, kind does not). AWS stacks use the EKS add-on.
	MetricsServerChart string
}

// Monitoring configures the optional kube-prometheus-stack installation.
type Monitoring struct {
	Enabled              bool
	Namespace            string
	ChartVersion         string
	GrafanaAdminPassword Secret
}

// IsProd reports whether the stack must meet the production rules.
func (c *Config) IsProd() bool { return c.Environment == EnvProd }

// IsLocal reports whether the stack deploys onto an existing cluster without AWS.
func (c *Config) IsLocal() bool { return c.Environment == EnvLocal }

// IsPR reports whether the stack is a pull request's (pr-<number>).
func (c *Config) IsPR() bool { return c.Environment == EnvPR }

// InCluster reports whether the stack runs the app with its own PostgreSQL
// on an existing cluster (local and pull-request stacks) instead of
// creating AWS infrastructure.
func (c *Config) InCluster() bool { return c.IsLocal() || c.IsPR() }

// ImageRef is the full image reference the local stack deploys: the digest
// wins over the tag.
func (a App) ImageRef() string {
	if a.ImageDigest != "" {
		return a.ImageRepository + "@" + a.ImageDigest
	}
	return a.ImageRepository + ":" + a.ImageTag
}

// Source looks up a raw configuration value by its full key ("gopherops:x",
// "aws:region"); ok is false when the key is not set.
type Source func(key string) (value string, ok bool)

// FromMap is a Source over a map of full keys, for tests and tools.
func FromMap(m map[string]string) Source {
	return func(key string) (string, bool) {
		v, ok := m[key]
		return v, ok
	}
}

// Load reads and validates the configuration of the running stack. Every key
// is read with ctx.GetConfig, which never warns about secrets (pulumi/config's
// Try is the same lookup, with a warning for secret keys that the SDK may
// turn back on); a secret key must have been set with --secret.
func Load(ctx *pulumi.Context) (*Config, error) {
	cfg, err := Parse(ctx.GetConfig, ctx.Project(), ctx.Stack())
	if err != nil {
		return nil, err
	}
	for _, k := range secretKeys {
		full := Namespace + ":" + k
		if _, ok := ctx.GetConfig(full); ok && !ctx.IsConfigSecret(full) {
			return nil, fmt.Errorf("config: %s is stored in plain text; set it with `pulumi config set --secret %s`", full, full)
		}
	}
	return cfg, nil
}

// secretKeys are the keys whose values must only ever be set with --secret.
var secretKeys = []string{"sessionKey", "ghcrToken", "grafanaAdminPassword"}

// reader parses keys with defaults, collecting one error per bad key.
type reader struct {
	src  Source
	errs []error
}

func (r *reader) fail(key, format string, args ...any) {
	r.errs = append(r.errs, fmt.Errorf("%s:%s: %s", Namespace, key, fmt.Sprintf(format, args...)))
}

func (r *reader) raw(key string) (string, bool) {
	v, ok := r.src(Namespace + ":" + key)
	return strings.TrimSpace(v), ok
}

func (r *reader) str(key, def string) string {
	if v, ok := r.raw(key); ok {
		return v
	}
	return def
}

func (r *reader) integer(key string, def int) int {
	v, ok := r.raw(key)
	if !ok {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		r.fail(key, "%q is not an integer", v)
		return def
	}
	return n
}

func (r *reader) boolean(key string, def bool) bool {
	v, ok := r.raw(key)
	if !ok {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		r.fail(key, "%q is not a boolean (true or false)", v)
		return def
	}
	return b
}

func (r *reader) list(key string, def []string) []string {
	v, ok := r.raw(key)
	if !ok {
		return def
	}
	var out []string
	if strings.HasPrefix(v, "[") {
		if err := json.Unmarshal([]byte(v), &out); err != nil {
			r.fail(key, "is not a list of strings: %v", err)
			return def
		}
	} else {
		for _, part := range strings.Split(v, ",") {
			if p := strings.TrimSpace(part); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

func (r *reader) secret(key string) Secret {
	v, _ := r.src(Namespace + ":" + key)
	return NewSecret(v)
}

// Parse builds a Config from a Source, applying defaults and then Validate.
// Every error names the configuration key at fault.
func Parse(src Source, project, stack string) (*Config, error) {
	r := &reader{src: src}
	region, _ := src("aws:region")
	env := r.str("environment", defaultEnvironment(stack))
	// The local stack pulls a release from GHCR; the AWS stacks run the ECR
	// mirror and name no other repository.
	defaultRepo := ""
	if env == EnvLocal || env == EnvPR {
		defaultRepo = "ghcr.io/gopherops/gopherops"
	}
	// An unknown minor has no pins: Validate names the key; the release
	// stays empty so every other problem is reported with it.
	kubernetesVersion := r.str("kubernetesVersion", DefaultKubernetesVersion)
	release, _ := ReleaseFor(kubernetesVersion)
	defaultRetention := 30
	if env == EnvProd {
		defaultRetention = 365
	}
	cfg := &Config{
		Project:      project,
		Stack:        stack,
		Environment:  env,
		Region:       strings.TrimSpace(region),
		Decommission: r.boolean("decommission", false),
		Network: Network{
			VpcCidr:               r.str("vpcCidr", "10.0.0.0/16"),
			AvailabilityZoneCount: r.integer("availabilityZoneCount", 2),
			NatGatewayPerAz:       r.boolean("natGatewayPerAz", false),
			InterfaceEndpoints:    r.boolean("vpcInterfaceEndpoints", true),
			FlowLogDestination:    r.str("flowLogDestination", "s3"),
		},
		Cluster: Cluster{
			Name:                     r.str("clusterName", project+"-"+stack),
			KubernetesVersion:        kubernetesVersion,
			EndpointPublicCidrs:      r.list("clusterEndpointPublicCidrs", nil),
			NodeInstanceTypes:        r.list("nodeInstanceTypes", []string{"t3.medium"}),
			NodeAmiType:              r.str("nodeAmiType", "AL2023_x86_64_STANDARD"),
			NodeDiskSizeGiB:          r.integer("nodeDiskSizeGiB", 20),
			NodeMinSize:              r.integer("nodeMinSize", 2),
			NodeDesiredSize:          r.integer("nodeDesiredSize", 2),
			NodeMaxSize:              r.integer("nodeMaxSize", 4),
			KMSKeyDeletionWindowDays: r.integer("kmsKeyDeletionWindowDays", 30),
			LogRetentionDays:         r.integer("logRetentionDays", defaultRetention),
			// Pinned in versions.go, by the Kubernetes minor where they
			// must agree with it.
			AddonVersions:               release.Addons,
			LoadBalancerControllerChart: LoadBalancerControllerChart,
			ClusterAutoscalerChart:      release.ClusterAutoscalerChart,
			ClusterAutoscalerImage:      release.ClusterAutoscalerImage,
		},
		Access: Access{
			DeployRoleName:    r.str("deployRoleName", "gopherops-deploy"),
			PreviewRoleName:   r.str("previewRoleName", "gopherops-preview"),
			DriftRoleName:     r.str("driftRoleName", "gopherops-drift"),
			PRStacksRoleName:  r.str("prStacksRoleName", "gopherops-pr-stacks"),
			PullRequestStacks: r.boolean("pullRequestStacks", env == EnvDev),
			OperatorArns:      r.list("operatorArns", nil),
		},
		Runner: Runner{
			Enabled:          r.boolean("ciRunner", false),
			GitHubRepository: r.str("githubRepository", ""),
			ConnectionArn:    r.str("githubConnectionArn", ""),
		},
		Database: Database{
			InstanceClass:          r.str("dbInstanceClass", "db.t4g.micro"),
			EngineVersion:          r.str("dbEngineVersion", "17"),
			AllocatedStorageGiB:    r.integer("dbAllocatedStorageGiB", 20),
			MaxAllocatedStorageGiB: r.integer("dbMaxAllocatedStorageGiB", 100),
			MultiAz:                r.boolean("dbMultiAz", false),
			BackupRetentionDays:    r.integer("dbBackupRetentionDays", 7),
			DeletionProtection:     r.boolean("dbDeletionProtection", false),
			PerformanceInsights:    r.boolean("dbPerformanceInsights", env == EnvProd),
			Restore:                r.databaseRestore(),
		},
		Storage: Storage{
			NoncurrentVersionDays: r.integer("bucketNoncurrentVersionDays", 30),
			ForceDestroy:          r.boolean("bucketForceDestroy", false),
			AccessLogging:         r.boolean("bucketAccessLogging", env == EnvProd),
		},
		App: App{
			Namespace:            r.str("namespace", defaultNamespace(env, stack)),
			ImageRepository:      r.str("imageRepository", defaultRepo),
			ECRRepository:        r.str("ecrRepository", "gopherops"),
			ImageTag:             r.str("imageTag", ""),
			ImageDigest:          r.str("imageDigest", ""),
			MinReplicas:          r.integer("minReplicas", 2),
			MaxReplicas:          r.integer("maxReplicas", 4),
			TargetCPUUtilization: r.integer("hpaCpuUtilization", 70),
			CPURequest:           r.str("cpuRequest", "250m"),
			CPULimit:             r.str("cpuLimit", "1"),
			MemoryRequest:        r.str("memoryRequest", "256Mi"),
			MemoryLimit:          r.str("memoryLimit", "512Mi"),
			LogLevel:             r.str("logLevel", "info"),
			CertificateArn:       r.str("certificateArn", ""),
			DomainName:           r.str("domainName", ""),
			GHCRUsername:         r.str("ghcrUsername", ""),
			GHCRToken:            r.secret("ghcrToken"),
			SessionKey:           r.secret("sessionKey"),
			SkipAwait:            r.boolean("skipAwait", false),
		},
		Monitoring: Monitoring{
			Enabled:              r.boolean("monitoringEnabled", false),
			Namespace:            r.str("monitoringNamespace", "monitoring"),
			ChartVersion:         MonitoringChart,
			GrafanaAdminPassword: r.secret("grafanaAdminPassword"),
		},
		Local: Local{
			KubeContext:         r.str("kubeContext", ""),
			ServiceType:         r.str("serviceType", "ClusterIP"),
			PostgresImage:       r.str("postgresImage", PostgresImage),
			PostgresStorageSize: r.str("postgresStorageSize", "1Gi"),
			BlobStorageSize:     r.str("blobStorageSize", "1Gi"),
			StorageClass:        r.str("storageClass", ""),
			MetricsServerChart:  r.str("metricsServerChartVersion", ""),
		},
		Preview: r.preview(stack),
		Backup:  r.backup(),
	}
	r.refuseMisplaced(env)
	if len(r.errs) > 0 {
		return nil, joinErrors(r.errs)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// KnownKeys lists every `gopherops:` key the loader reads, so tooling and
// tests can reject typos in stack files.
func KnownKeys() []string {
	seen := map[string]bool{}
	record := func(key string) (string, bool) {
		if k, ok := strings.CutPrefix(key, Namespace+":"); ok {
			seen[k] = true
		}
		return "", false
	}
	// Parse asks the source for every key it knows; the (failing) result is
	// irrelevant here.
	_, _ = Parse(record, Namespace, EnvDev)
	keys := make([]string, 0, len(seen))
	for k := range seen {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func joinErrors(errs []error) error {
	return fmt.Errorf("invalid stack configuration:\n%w", errors.Join(errs...))
}
