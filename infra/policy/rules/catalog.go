package rules

// Names of the policies that report on the others rather than judge
// resources themselves.
const (
	// WaiverValid fails on an expired or malformed waiver.
	WaiverValid = "waiver-valid"
	// Report lists, for each resource, the waivers used and the checks a
	// preview deferred (advisory).
	Report = "guardrail-report"
	// StackReport does the same for the stack-wide policies (advisory).
	StackReport = "guardrail-stack-report"
)

// Catalog is every policy of the pack, in the order the docs list them.
func Catalog() []Policy {
	res := func(name, reason, control string, level Level, fn func(Env, *Resource, *Check)) Policy {
		return Policy{Name: name, Reason: reason, Control: control, Level: level, Waivable: level == Mandatory,
			scope: ScopeResource, resource: fn}
	}
	stack := func(name, reason, control string, level Level, fn func(Env, []*Resource, func(*Resource) *Check)) Policy {
		return Policy{Name: name, Reason: reason, Control: control, Level: level, Waivable: level == Mandatory,
			scope: ScopeStack, stack: fn}
	}
	return []Policy{
		// Kubernetes workloads: the Pod Security "restricted" profile and more.
		res("k8s-run-as-non-root", "A container that runs as root owns the node once it escapes.",
			pssRestricted, Mandatory, runAsNonRoot),
		res("k8s-read-only-root-filesystem", "An attacker cannot drop tools into an immutable filesystem; writable paths are explicit volumes.",
			nsaHardening, Mandatory, readOnlyRootFilesystem),
		res("k8s-no-privilege-escalation", "No setuid binary or file capability may raise a process above its start.",
			pssRestricted, Mandatory, noPrivilegeEscalation),
		res("k8s-drop-all-capabilities", "Containers start with no Linux capabilities (NET_BIND_SERVICE may be added back).",
			pssRestricted, Mandatory, dropAllCapabilities),
		res("k8s-seccomp-runtime-default", "The runtime's seccomp profile blocks the syscalls most kernel exploits use.",
			pssRestricted, Mandatory, seccompRuntimeDefault),
		res("k8s-resource-limits", "Without CPU and memory requests and limits one pod can starve the node and the scheduler guesses.",
			nsaHardening, Mandatory, resourceLimits),
		res("k8s-image-digest", "A tag can be moved to other content; a digest deploys exactly the image that was scanned and signed.",
			imageDigests, Mandatory, imageDigest),
		res("k8s-no-host-path", "A hostPath volume gives the pod the node's files.",
			pssBaseline, Mandatory, noHostPath),
		res("k8s-no-host-namespaces", "Sharing the host's network, PID or IPC namespace removes the pod's isolation.",
			pssBaseline, Mandatory, noHostNamespaces),
		res("k8s-no-privileged", "A privileged container is root on the node.",
			pssBaseline, Mandatory, noPrivileged),
		stack("k8s-namespace-default-deny", "Every namespace the stack creates denies all traffic unless a policy opens it.",
			cisKubernetes, Mandatory, defaultDeny),
		res("k8s-load-balancer-class", "On AWS, internet-facing Services go through the AWS Load Balancer Controller's NLB, never the in-tree Classic Load Balancer.",
			lbcService, Mandatory, loadBalancerClass),

		// AWS.
		res("rds-encrypted", "Database storage, snapshots and backups are encrypted at rest (FSBP RDS.3).",
			fsbpRDS+"#rds-3", Mandatory, rdsEncrypted),
		res("rds-not-public", "The database is reachable only from inside the VPC (FSBP RDS.2).",
			fsbpRDS+"#rds-2", Mandatory, rdsNotPublic),
		res("rds-iam-auth", "Database logins can use short-lived IAM tokens instead of long-lived passwords (FSBP RDS.10).",
			fsbpRDS+"#rds-10", Mandatory, rdsIAMAuth),
		res("rds-prod-protection", "A prod database cannot be deleted by one command and keeps at least 7 days of backups (FSBP RDS.8, RDS.11).",
			fsbpRDS+"#rds-8", Mandatory, rdsProdProtection),
		stack("s3-public-access-block", "No ACL or bucket policy can make a bucket public (FSBP S3.8).",
			fsbpS3+"#s3-8", Mandatory, s3PublicAccessBlock),
		stack("s3-tls-only", "The bucket refuses requests made without TLS (FSBP S3.5).",
			fsbpS3+"#s3-5", Mandatory, s3TLSOnly),
		stack("s3-encryption", "Objects are encrypted at rest by default, stated in code rather than left to the account default (FSBP S3.4).",
			fsbpS3, Mandatory, s3Encryption),
		stack("s3-versioning", "An overwritten or deleted object can be recovered (FSBP S3.14).",
			fsbpS3+"#s3-14", Mandatory, s3Versioning),
		res("eks-secrets-encryption", "Kubernetes Secrets are envelope-encrypted with a KMS key (FSBP EKS.3).",
			fsbpEKS+"#eks-3", Mandatory, eksSecretsEncryption),
		res("eks-control-plane-logs", "The API server, audit and authenticator logs reach CloudWatch (FSBP EKS.8, CIS EKS 2.1.1).",
			fsbpEKS+"#eks-8", Mandatory, eksControlPlaneLogs),
		res("eks-private-endpoint", "The prod cluster's Kubernetes API is reachable only from inside the VPC (FSBP EKS.1).",
			fsbpEKS+"#eks-1", Mandatory, eksPrivateEndpoint),
		res("sg-no-public-ingress", "No security group admits the whole internet except on the load balancer's listener ports 80 and 443 (FSBP EC2.18, EC2.19).",
			fsbpEC2+"#ec2-18", Mandatory, sgNoPublicIngress),
		res("launch-template-imdsv2", "Nodes require IMDSv2 tokens with a hop limit of 1, so pods cannot steal the node's credentials (FSBP EC2.170).",
			fsbpEC2+"#ec2-170", Mandatory, launchTemplateIMDSv2),
		res("aws-required-tags", "Every taggable AWS resource carries Project, Stack and ManagedBy, so cost and ownership are known.",
			taggingStd, Mandatory, requiredTags),
		res("kms-key-rotation", "KMS keys rotate their material every year (FSBP KMS.4).",
			fsbpKMS+"#kms-4", Mandatory, kmsKeyRotation),

		// Advisory: cost smells outside prod.
		stack("cost-nat-gateway-per-az", "Outside prod one NAT gateway is enough; one per zone multiplies a fixed hourly cost.",
			awsCostGuides, Advisory, costNatPerAZ),
		res("cost-instance-size", "Outside prod, instances above the large size cost a multiple of what a test load needs.",
			awsCostGuides, Advisory, costInstanceSize),

		// The pack's own bookkeeping.
		{Name: WaiverValid, Reason: "A waiver holds for one policy on one resource, with a reason and an expiry at most 90 days ahead; an expired or malformed one is a violation.",
			Control: "docs/guardrails.md#waiving-a-policy", Level: Mandatory, scope: ScopeResource, resource: nil},
		{Name: Report, Reason: "Reports every waiver used and every check a preview deferred because a value was unknown.",
			Control: "docs/guardrails.md#what-a-run-reports", Level: Advisory, scope: ScopeResource, resource: nil},
		{Name: StackReport, Reason: "Reports the waivers and deferred checks of the stack-wide policies.",
			Control: "docs/guardrails.md#what-a-run-reports", Level: Advisory, scope: ScopeStack, stack: nil},
	}
}

// byName indexes policies by name.
func byName(policies []Policy) map[string]Policy {
	m := make(map[string]Policy, len(policies))
	for _, p := range policies {
		m[p.Name] = p
	}
	return m
}
