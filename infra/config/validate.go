package config

import (
	"encoding/base64"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strings"

	"github.com/gopherops/gopherops/infra/quantity"
)

var (
	tagPattern     = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)
	digestPattern  = regexp.MustCompile(`^sha256:[a-f0-9]{64}$`)
	repoPattern    = regexp.MustCompile(`^[a-z0-9]+([._-][a-z0-9]+)*(\.[a-z0-9]+)*(:[0-9]+)?(/[a-z0-9]+([._-][a-z0-9]+)*)+$`)
	k8sNamePattern = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`)
	// clusterPattern: the cluster's name also names the RDS instance, its
	// log groups and final snapshot, which take lower-case letters, digits
	// and single hyphens only.
	clusterPattern   = regexp.MustCompile(`^[a-z][a-z0-9]*(-[a-z0-9]+)*$`)
	versionPattern   = regexp.MustCompile(`^1\.[0-9]{2}$`)
	regionPattern    = regexp.MustCompile(`^[a-z]{2}(-gov)?-[a-z]+-[0-9]$`)
	certArnPattern   = regexp.MustCompile(`^arn:aws[a-z-]*:acm:[a-z0-9-]+:[0-9]{12}:certificate/[A-Za-z0-9-]+$`)
	domainPattern    = regexp.MustCompile(`^([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$`)
	dbClassPattern   = regexp.MustCompile(`^db\.[a-z0-9]+\.[a-z0-9]+$`)
	majorVersionPatt = regexp.MustCompile(`^[0-9]{2}(\.[0-9]+)?$`)
	logLevels        = []string{"debug", "info", "warn", "error"}
	// localRepoPattern also admits a bare name (gopherops), as loaded into kind.
	localRepoPattern = regexp.MustCompile(`^[a-z0-9]+([._-][a-z0-9]+)*(/[a-z0-9]+([._-][a-z0-9]+)*)*$`)
	imageRefPattern  = regexp.MustCompile(`^[a-z0-9]+([._/:-][a-z0-9]+)*(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[a-f0-9]{64})?$`)

	semverPattern        = regexp.MustCompile(`^[0-9]+\.[0-9]+\.[0-9]+$`)
	roleNamePattern      = regexp.MustCompile(`^[A-Za-z0-9+=,.@_-]{1,64}$`)
	principalArnPattern  = regexp.MustCompile(`^arn:aws[a-z-]*:iam::[0-9]{12}:(role|user)/[A-Za-z0-9+=,.@_-]{1,64}$`)
	githubRepoPattern    = regexp.MustCompile(`^[A-Za-z0-9-]{1,39}/[A-Za-z0-9._-]{1,100}$`)
	connectionArnPattern = regexp.MustCompile(`^arn:aws[a-z-]*:(codeconnections|codestar-connections):[a-z0-9-]+:[0-9]{12}:connection/[0-9a-f-]{36}$`)
	ecrRepoPattern       = regexp.MustCompile(`^[a-z0-9]+([._-][a-z0-9]+)*(/[a-z0-9]+([._-][a-z0-9]+)*)*$`)
	// retentionDays are the periods CloudWatch Logs accepts.
	retentionDays = []int{1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653}
)

// Validate checks every setting and the combinations between them; the error
// lists each problem on its own line, each naming its key.
func (c *Config) Validate() error {
	var errs []error
	fail := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
	}
	k := func(name string) string { return Namespace + ":" + name }

	switch c.Environment {
	case EnvDev, EnvProd, EnvLocal, EnvPR:
	default:
		fail(k("environment"), "%q must be %q, %q, %q or %q (defaults to the stack name, and to %q for a stack pr-<number>)", c.Environment, EnvDev, EnvProd, EnvLocal, EnvPR, EnvPR)
	}
	if c.InCluster() {
		c.validateLocal(fail, k)
		c.validateBackup(fail, k)
	} else {
		c.validateAWS(fail, k)
		c.validateDatabaseRestore(fail, k)
	}
	if c.IsPR() {
		c.validatePreview(fail, k)
	}

	// App.
	a := c.App
	if !k8sNamePattern.MatchString(a.Namespace) {
		fail(k("namespace"), "%q is not a valid Kubernetes namespace name", a.Namespace)
	}
	if c.InCluster() {
		c.validateLocalImage(fail, k)
	} else {
		c.validateAWSImage(fail, k)
	}
	if a.MinReplicas < 1 {
		fail(k("minReplicas"), "%d must be at least 1", a.MinReplicas)
	}
	if a.MinReplicas > a.MaxReplicas {
		fail(k("minReplicas"), "%d must not exceed %s (%d)", a.MinReplicas, k("maxReplicas"), a.MaxReplicas)
	}
	if u := a.TargetCPUUtilization; u < 10 || u > 100 {
		fail(k("hpaCpuUtilization"), "%d must be a percentage between 10 and 100", u)
	}
	cpuReq, errReq := quantity.CPUMillis(a.CPURequest)
	if errReq != nil {
		fail(k("cpuRequest"), "%v", errReq)
	}
	cpuLim, errLim := quantity.CPUMillis(a.CPULimit)
	if errLim != nil {
		fail(k("cpuLimit"), "%v", errLim)
	}
	if errReq == nil && errLim == nil && cpuReq > cpuLim {
		fail(k("cpuRequest"), "%s must not exceed %s (%s)", a.CPURequest, k("cpuLimit"), a.CPULimit)
	}
	memReq, errReq := quantity.MemoryBytes(a.MemoryRequest)
	if errReq != nil {
		fail(k("memoryRequest"), "%v", errReq)
	}
	memLim, errLim := quantity.MemoryBytes(a.MemoryLimit)
	if errLim != nil {
		fail(k("memoryLimit"), "%v", errLim)
	} else if memLim < 64<<20 {
		fail(k("memoryLimit"), "%s is below the 64Mi the service needs", a.MemoryLimit)
	}
	if errReq == nil && errLim == nil && memReq > memLim {
		fail(k("memoryRequest"), "%s must not exceed %s (%s)", a.MemoryRequest, k("memoryLimit"), a.MemoryLimit)
	}
	found := false
	for _, l := range logLevels {
		found = found || a.LogLevel == l
	}
	if !found {
		fail(k("logLevel"), "%q must be one of %s", a.LogLevel, strings.Join(logLevels, ", "))
	}
	if a.SkipAwait && c.IsProd() {
		fail(k("skipAwait"), "must not be set in prod: Pulumi has to wait for the rollout to succeed")
	}
	if a.CertificateArn != "" && !certArnPattern.MatchString(a.CertificateArn) {
		fail(k("certificateArn"), "%q is not an ACM certificate ARN", a.CertificateArn)
	}
	if a.DomainName != "" && !domainPattern.MatchString(a.DomainName) {
		fail(k("domainName"), "%q is not a lower-case DNS name", a.DomainName)
	}
	if a.DomainName != "" && a.CertificateArn == "" {
		fail(k("domainName"), "needs %s so the name is served over HTTPS", k("certificateArn"))
	}
	if a.CertificateArn != "" && a.DomainName == "" {
		fail(k("certificateArn"), "needs %s, the name the certificate covers", k("domainName"))
	}
	switch {
	case !a.SessionKey.IsSet() && c.IsPR():
		// The cluster keeps a generated one (the template holds no secret).
	case !a.SessionKey.IsSet():
		fail(k("sessionKey"), "is required: pulumi config set --secret %s \"$(openssl rand -base64 32)\"", k("sessionKey"))
	default:
		if raw, err := base64.StdEncoding.DecodeString(a.SessionKey.value); err != nil || len(raw) < 32 {
			fail(k("sessionKey"), "must be base64 of at least 32 random bytes (openssl rand -base64 32)")
		}
	}

	// Monitoring.
	if c.Monitoring.Enabled {
		if !k8sNamePattern.MatchString(c.Monitoring.Namespace) || c.Monitoring.Namespace == a.Namespace {
			fail(k("monitoringNamespace"), "%q must be a valid namespace name other than the app's", c.Monitoring.Namespace)
		}
		if len(c.Monitoring.GrafanaAdminPassword.value) < 12 {
			fail(k("grafanaAdminPassword"), "is required (12+ characters) when monitoring is enabled: pulumi config set --secret %s ...", k("grafanaAdminPassword"))
		}
	}

	// Production rules.
	if c.IsProd() {
		if !c.Database.MultiAz {
			fail(k("dbMultiAz"), "must be true in prod (a single-AZ database is an outage waiting to happen)")
		}
		if !c.Database.DeletionProtection && !c.Decommission {
			fail(k("dbDeletionProtection"), "must be true in prod (set %s to true first to tear the stack down)", k("decommission"))
		}
		if c.Database.BackupRetentionDays < 30 {
			fail(k("dbBackupRetentionDays"), "%d must be at least 30 in prod", c.Database.BackupRetentionDays)
		}
		if c.Network.AvailabilityZoneCount < 3 {
			fail(k("availabilityZoneCount"), "%d must be 3 in prod", c.Network.AvailabilityZoneCount)
		}
		if !c.Network.NatGatewayPerAz {
			fail(k("natGatewayPerAz"), "must be true in prod so one AZ failure does not cut egress")
		}
		if a.MinReplicas < 2 {
			fail(k("minReplicas"), "%d must be at least 2 in prod", a.MinReplicas)
		}
		if c.Storage.ForceDestroy && !c.Decommission {
			fail(k("bucketForceDestroy"), "must be false in prod (set %s to true first to tear the stack down)", k("decommission"))
		}
	}

	if len(errs) > 0 {
		return joinErrors(errs)
	}
	return nil
}

// failFunc records one problem with a configuration key.
type failFunc func(key, format string, args ...any)

// validateAWS checks what only the AWS stacks use: region, VPC, EKS, RDS, S3.
func (c *Config) validateAWS(fail failFunc, k func(string) string) {
	if !regionPattern.MatchString(c.Region) {
		fail("aws:region", "%q is not an AWS region; set it with `pulumi config set aws:region us-east-1`", c.Region)
	}

	// Network.
	if p, err := netip.ParsePrefix(c.Network.VpcCidr); err != nil || !p.Addr().Is4() || p.Masked() != p {
		fail(k("vpcCidr"), "%q is not a valid IPv4 network CIDR such as 10.0.0.0/16", c.Network.VpcCidr)
	} else if p.Bits() < 16 || p.Bits() > 22 {
		fail(k("vpcCidr"), "%q must have a prefix length between /16 and /22", c.Network.VpcCidr)
	}
	if n := c.Network.AvailabilityZoneCount; n < 2 || n > 3 {
		fail(k("availabilityZoneCount"), "%d must be 2 or 3", n)
	}
	switch c.Network.FlowLogDestination {
	case "s3", "cloud-watch-logs":
	default:
		fail(k("flowLogDestination"), "%q must be s3 or cloud-watch-logs", c.Network.FlowLogDestination)
	}

	// Cluster.
	if !clusterPattern.MatchString(c.Cluster.Name) || len(c.Cluster.Name) > 40 {
		fail(k("clusterName"), "%q must be at most 40 lower-case letters, digits and single hyphens, starting with a letter "+
			"(it names the EKS cluster, the RDS instance and their log groups)", c.Cluster.Name)
	}
	if !versionPattern.MatchString(c.Cluster.KubernetesVersion) {
		fail(k("kubernetesVersion"), "%q must be a Kubernetes minor version such as 1.33", c.Cluster.KubernetesVersion)
	}
	c.validateEndpoint(fail, k)
	if len(c.Cluster.NodeInstanceTypes) == 0 {
		fail(k("nodeInstanceTypes"), "must name at least one EC2 instance type")
	}
	switch c.Cluster.NodeAmiType {
	case "AL2023_x86_64_STANDARD", "AL2023_ARM_64_STANDARD":
	default:
		fail(k("nodeAmiType"), "%q must be AL2023_x86_64_STANDARD or AL2023_ARM_64_STANDARD (matching the instance types)", c.Cluster.NodeAmiType)
	}
	if c.Cluster.NodeDiskSizeGiB < 20 {
		fail(k("nodeDiskSizeGiB"), "%d must be at least 20", c.Cluster.NodeDiskSizeGiB)
	}
	if c.Cluster.NodeMinSize < 1 {
		fail(k("nodeMinSize"), "%d must be at least 1", c.Cluster.NodeMinSize)
	}
	if c.Cluster.NodeMinSize > c.Cluster.NodeMaxSize {
		fail(k("nodeMinSize"), "%d must not exceed %s (%d)", c.Cluster.NodeMinSize, k("nodeMaxSize"), c.Cluster.NodeMaxSize)
	}
	if c.Cluster.NodeDesiredSize < c.Cluster.NodeMinSize || c.Cluster.NodeDesiredSize > c.Cluster.NodeMaxSize {
		fail(k("nodeDesiredSize"), "%d must lie between %s and %s", c.Cluster.NodeDesiredSize, k("nodeMinSize"), k("nodeMaxSize"))
	}
	if d := c.Cluster.KMSKeyDeletionWindowDays; d < 7 || d > 30 {
		fail(k("kmsKeyDeletionWindowDays"), "%d must be between 7 and 30", d)
	}

	if !slices.Contains(retentionDays, c.Cluster.LogRetentionDays) {
		fail(k("logRetentionDays"), "%d is not a CloudWatch retention period (%v)", c.Cluster.LogRetentionDays, retentionDays)
	} else if c.IsProd() && c.Cluster.LogRetentionDays < 365 {
		fail(k("logRetentionDays"), "%d must be at least 365 in prod (AWS FSBP CloudWatch.16)", c.Cluster.LogRetentionDays)
	}
	if release, err := ReleaseFor(c.Cluster.KubernetesVersion); err != nil {
		fail(k("kubernetesVersion"), "%v", err)
	} else if err := release.Check(c.Cluster.KubernetesVersion); err != nil {
		fail(k("kubernetesVersion"), "%v", err)
	}
	c.validateAccess(fail, k)
	c.validateRunner(fail, k)

	// Database.
	if !dbClassPattern.MatchString(c.Database.InstanceClass) {
		fail(k("dbInstanceClass"), "%q is not an RDS instance class such as db.t4g.micro", c.Database.InstanceClass)
	}
	if !majorVersionPatt.MatchString(c.Database.EngineVersion) || !strings.HasPrefix(c.Database.EngineVersion, "17") {
		fail(k("dbEngineVersion"), "%q must be PostgreSQL 17 (the version compose and the migrations use)", c.Database.EngineVersion)
	}
	if c.Database.AllocatedStorageGiB < 20 {
		fail(k("dbAllocatedStorageGiB"), "%d must be at least 20", c.Database.AllocatedStorageGiB)
	}
	if c.Database.MaxAllocatedStorageGiB < c.Database.AllocatedStorageGiB {
		fail(k("dbMaxAllocatedStorageGiB"), "%d must not be below %s (%d)", c.Database.MaxAllocatedStorageGiB, k("dbAllocatedStorageGiB"), c.Database.AllocatedStorageGiB)
	}
	if d := c.Database.BackupRetentionDays; d < 1 || d > 35 {
		fail(k("dbBackupRetentionDays"), "%d must be between 1 and 35", d)
	}

	if c.IsProd() && !c.Database.PerformanceInsights {
		fail(k("dbPerformanceInsights"), "must be true in prod (AWS FSBP RDS.41 asks for it on production databases)")
	}

	// Storage.
	if c.Storage.NoncurrentVersionDays < 1 {
		fail(k("bucketNoncurrentVersionDays"), "%d must be at least 1", c.Storage.NoncurrentVersionDays)
	}
	if c.IsProd() && !c.Storage.AccessLogging {
		fail(k("bucketAccessLogging"), "must be true in prod (AWS FSBP S3.9)")
	}
}

// reservedRanges can never be the address of an operator or a CI runner on
// the internet: documentation (RFC 5737), private (RFC 1918), shared
// (RFC 6598), loopback, link-local, benchmarking, multicast and reserved
// space. A committed placeholder such as 203.0.113.0/24 is refused here
// instead of timing out the Kubernetes provider after the cluster exists.
var reservedRanges = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("10.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("127.0.0.0/8"),
	netip.MustParsePrefix("169.254.0.0/16"),
	netip.MustParsePrefix("172.16.0.0/12"),
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("192.0.2.0/24"),
	netip.MustParsePrefix("192.168.0.0/16"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("198.51.100.0/24"),
	netip.MustParsePrefix("203.0.113.0/24"),
	netip.MustParsePrefix("224.0.0.0/4"),
	netip.MustParsePrefix("240.0.0.0/4"),
}

// validateEndpoint checks who may reach the public Kubernetes API endpoint.
// An empty list makes the endpoint private: then only the in-VPC runner
// (gopherops:ciRunner) and whatever else is inside the VPC can deploy.
func (c *Config) validateEndpoint(fail failFunc, k func(string) string) {
	key := k("clusterEndpointPublicCidrs")
	cidrs := c.Cluster.EndpointPublicCidrs
	if len(cidrs) == 0 && !c.Runner.Enabled {
		fail(key, "is empty (a private endpoint) but %s is off: nothing could reach the Kubernetes API to deploy", k("ciRunner"))
	}
	for _, cidr := range cidrs {
		p, err := netip.ParsePrefix(cidr)
		if err != nil || !p.Addr().Is4() || p.Masked() != p {
			fail(key, "%q is not a valid IPv4 CIDR", cidr)
			continue
		}
		if p.Bits() == 0 {
			fail(key, "%q opens the Kubernetes API to the whole internet (AWS FSBP EKS.1): list your own egress address, "+
				"or leave it empty and deploy from the in-VPC runner", cidr)
			continue
		}
		for _, r := range reservedRanges {
			if p.Overlaps(r) {
				fail(key, "%q lies in the reserved range %s, which no client on the internet has: use your real egress address (curl https://checkip.amazonaws.com)", cidr, r)
				break
			}
		}
	}
}

// validateAccess checks the principals that get EKS access entries.
func (c *Config) validateAccess(fail failFunc, k func(string) string) {
	a := c.Access
	for key, name := range map[string]string{
		"deployRoleName": a.DeployRoleName, "previewRoleName": a.PreviewRoleName, "driftRoleName": a.DriftRoleName,
		"prStacksRoleName": a.PRStacksRoleName,
	} {
		if !roleNamePattern.MatchString(name) {
			fail(k(key), "%q is not an IAM role name (the bootstrap project's output)", name)
		}
	}
	if a.DeployRoleName == a.PreviewRoleName {
		fail(k("previewRoleName"), "must differ from %s: previews get read-only access", k("deployRoleName"))
	}
	if a.DriftRoleName == a.DeployRoleName {
		fail(k("driftRoleName"), "must differ from %s: drift checks get read-only access", k("deployRoleName"))
	}
	if a.PRStacksRoleName == a.DeployRoleName || a.PRStacksRoleName == a.PreviewRoleName || a.PRStacksRoleName == a.DriftRoleName {
		fail(k("prStacksRoleName"), "must differ from %s, %s and %s: any branch's pull request may hold it", k("deployRoleName"), k("previewRoleName"), k("driftRoleName"))
	}
	seen := map[string]bool{}
	for _, arn := range a.OperatorArns {
		switch {
		case strings.Contains(arn, "/aws-reserved/"):
			fail(k("operatorArns"), "%q has an IAM Identity Center path: EKS access entries take the role ARN without it (arn:aws:iam::<account>:role/AWSReservedSSO_...)", arn)
		case !principalArnPattern.MatchString(arn):
			fail(k("operatorArns"), "%q is not an IAM role or user ARN", arn)
		case seen[arn]:
			fail(k("operatorArns"), "%q is listed twice", arn)
		}
		seen[arn] = true
	}
}

// validateRunner checks the in-VPC GitHub Actions runner's settings.
func (c *Config) validateRunner(fail failFunc, k func(string) string) {
	r := c.Runner
	if !r.Enabled {
		if r.GitHubRepository != "" || r.ConnectionArn != "" {
			fail(k("ciRunner"), "is off, so %s and %s would be ignored: remove them or turn it on", k("githubRepository"), k("githubConnectionArn"))
		}
		return
	}
	if !githubRepoPattern.MatchString(r.GitHubRepository) {
		fail(k("githubRepository"), "%q must be owner/name of the GitHub repository whose workflows deploy", r.GitHubRepository)
	}
	if !connectionArnPattern.MatchString(r.ConnectionArn) {
		fail(k("githubConnectionArn"), "%q must be the ARN of an AVAILABLE AWS CodeConnections connection to GitHub", r.ConnectionArn)
	}
}

// validateLocalImage checks the GHCR (or kind-loaded) image the local stack runs.
func (c *Config) validateLocalImage(fail failFunc, k func(string) string) {
	a := c.App
	if !repoPattern.MatchString(a.ImageRepository) && !localRepoPattern.MatchString(a.ImageRepository) {
		fail(k("imageRepository"), "%q must be a lower-case image repository without tag or digest, e.g. ghcr.io/<owner>/gopherops", a.ImageRepository)
	}
	switch {
	case a.ImageDigest != "":
		if !digestPattern.MatchString(a.ImageDigest) {
			fail(k("imageDigest"), "%q must be sha256:<64 hex digits>", a.ImageDigest)
		}
	case a.ImageTag == "":
		fail(k("imageTag"), "is empty: set an immutable release tag (or %s)", k("imageDigest"))
	case strings.EqualFold(a.ImageTag, "latest"):
		fail(k("imageTag"), "%q is mutable and not reproducible: pin a release tag or %s", a.ImageTag, k("imageDigest"))
	case !tagPattern.MatchString(a.ImageTag):
		fail(k("imageTag"), "%q is not a valid image tag", a.ImageTag)
	}
	if a.GHCRToken.IsSet() != (a.GHCRUsername != "") {
		fail(k("ghcrUsername"), "must be set together with %s (both only for a private image)", k("ghcrToken"))
	}
}

// validateAWSImage checks the ECR mirror the AWS stacks run, and refuses the
// local stack's image settings, which they would silently ignore.
func (c *Config) validateAWSImage(fail failFunc, k func(string) string) {
	a := c.App
	if !ecrRepoPattern.MatchString(a.ECRRepository) {
		fail(k("ecrRepository"), "%q is not an ECR repository name (the bootstrap project's output)", a.ECRRepository)
	}
	if a.ImageDigest != "" && !digestPattern.MatchString(a.ImageDigest) {
		fail(k("imageDigest"), "%q must be sha256:<64 hex digits>", a.ImageDigest)
	}
	for key, v := range map[string]string{"imageRepository": a.ImageRepository, "imageTag": a.ImageTag, "ghcrUsername": a.GHCRUsername} {
		if v != "" {
			fail(k(key), "is a local-stack setting: AWS stacks run the ECR mirror %s at the tag %q (or %s)", k("ecrRepository"), c.Stack, k("imageDigest"))
		}
	}
	if a.GHCRToken.IsSet() {
		fail(k("ghcrToken"), "is not used on AWS: nodes pull the ECR mirror with their IAM role, no token")
	}
}

// validateLocal checks the local stack's own settings and refuses the
// AWS-only ones that would otherwise be silently ignored.
func (c *Config) validateLocal(fail failFunc, k func(string) string) {
	l := c.Local
	if l.KubeContext != "" && strings.ContainsAny(l.KubeContext, " \t\n") {
		fail(k("kubeContext"), "%q is not a kubeconfig context name", l.KubeContext)
	}
	switch l.ServiceType {
	case "ClusterIP", "NodePort", "LoadBalancer":
	default:
		fail(k("serviceType"), "%q must be ClusterIP, NodePort or LoadBalancer", l.ServiceType)
	}
	if !imageRefPattern.MatchString(l.PostgresImage) {
		fail(k("postgresImage"), "%q is not an image reference such as postgres:17", l.PostgresImage)
	} else if !strings.Contains(l.PostgresImage, ":17") {
		fail(k("postgresImage"), "%q must be PostgreSQL 17 (the version compose and the migrations use)", l.PostgresImage)
	}
	for key, size := range map[string]string{"postgresStorageSize": l.PostgresStorageSize, "blobStorageSize": l.BlobStorageSize} {
		if n, err := quantity.MemoryBytes(size); err != nil {
			fail(k(key), "%v", err)
		} else if n < 64<<20 {
			fail(k(key), "%s is below 64Mi", size)
		}
	}
	if l.StorageClass != "" && !k8sNamePattern.MatchString(l.StorageClass) {
		fail(k("storageClass"), "%q is not a valid StorageClass name", l.StorageClass)
	}
	if c.App.CertificateArn != "" || c.App.DomainName != "" {
		fail(k("certificateArn"), "and %s are AWS load balancer settings the local environment cannot use", k("domainName"))
	}
	if v := l.MetricsServerChart; v != "" && !semverPattern.MatchString(v) {
		fail(k("metricsServerChartVersion"), "%q must pin an exact chart version such as 3.13.0", v)
	}
}
