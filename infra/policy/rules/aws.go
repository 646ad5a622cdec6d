package rules

import (
	"encoding/json"
	"slices"
	"strings"
)

// Controls the AWS policies enforce: the AWS Foundational Security Best
// Practices controls of Security Hub, and the CIS Amazon EKS Benchmark.
const (
	fsbp          = "https://docs.aws.amazon.com/securityhub/latest/userguide/"
	fsbpRDS       = fsbp + "rds-controls.html"
	fsbpS3        = fsbp + "s3-controls.html"
	fsbpEKS       = fsbp + "eks-controls.html"
	fsbpEC2       = fsbp + "ec2-controls.html"
	fsbpKMS       = fsbp + "kms-controls.html"
	taggingStd    = fsbp + "standards-tagging.html"
	cisEKS        = "https://www.cisecurity.org/benchmark/kubernetes"
	awsCostGuides = "https://docs.aws.amazon.com/wellarchitected/latest/cost-optimization-pillar/welcome.html"
)

// Type tokens of the AWS resources the policies judge.
const (
	typeRDSInstance    = "aws:rds/instance:Instance"
	typeRDSCluster     = "aws:rds/cluster:Cluster"
	typeEKSCluster     = "aws:eks/cluster:Cluster"
	typeNodeGroup      = "aws:eks/nodeGroup:NodeGroup"
	typeLaunchTemplate = "aws:ec2/launchTemplate:LaunchTemplate"
	typeEC2Instance    = "aws:ec2/instance:Instance"
	typeSecurityGroup  = "aws:ec2/securityGroup:SecurityGroup"
	typeSGRule         = "aws:ec2/securityGroupRule:SecurityGroupRule"
	typeSGIngressRule  = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
	typeKMSKey         = "aws:kms/key:Key"
	typeNatGateway     = "aws:ec2/natGateway:NatGateway"
)

// RequiredTags are the tags every taggable AWS resource carries, by key;
// an empty value is filled from the stack (Project, Stack).
var requiredTagKeys = []string{"Project", "Stack", "ManagedBy"}

// ManagedBy is the ManagedBy tag's value.
const ManagedBy = "pulumi"

// MinProdBackupDays is the least automated backup retention in prod.
const MinProdBackupDays = 7

// PublicListenerPorts are the only ports a security group may open to the
// whole internet: the load balancer's listeners.
var PublicListenerPorts = []int{80, 443}

// isDatabase reports whether r is an RDS instance or cluster.
func isDatabase(r *Resource) bool { return r.Type == typeRDSInstance || r.Type == typeRDSCluster }

func rdsEncrypted(_ Env, r *Resource, c *Check) {
	if isDatabase(r) {
		c.requireBool(r.props().get("storageEncrypted"), true, "the database must be encrypted at rest")
	}
}

func rdsNotPublic(_ Env, r *Resource, c *Check) {
	if r.Type != typeRDSInstance {
		return
	}
	f := r.props().get("publiclyAccessible")
	if f.unknown() {
		c.Unknown(f.path)
	} else if on, _ := f.boolean(); on {
		c.Failf("the database must not be publicly accessible: %s is true", f.path)
	}
}

func rdsIAMAuth(_ Env, r *Resource, c *Check) {
	if isDatabase(r) {
		c.requireBool(r.props().get("iamDatabaseAuthenticationEnabled"), true, "the database must accept IAM authentication")
	}
}

func rdsProdProtection(e Env, r *Resource, c *Check) {
	if !isDatabase(r) || !e.Prod() {
		return
	}
	c.requireBool(r.props().get("deletionProtection"), true, "a prod database must have deletion protection")
	days := r.props().get("backupRetentionPeriod")
	if days.unknown() {
		c.Unknown(days.path)
	} else if n, ok := days.number(); !ok || n < MinProdBackupDays {
		c.Failf("a prod database keeps at least %d days of backups: %s is %s", MinProdBackupDays, days.path, show(days))
	}
}

func eksSecretsEncryption(_ Env, r *Resource, c *Check) {
	if r.Type != typeEKSCluster {
		return
	}
	cfg := r.props().get("encryptionConfig")
	if cfg.unknown() {
		c.Unknown(cfg.path)
		return
	}
	resources, unknown := cfg.get("resources").strings()
	switch {
	case unknown:
		c.Unknown(cfg.get("resources").path)
	case !slices.Contains(resources, "secrets"):
		c.Failf("the cluster must encrypt Kubernetes secrets with a KMS key: %s is %v", cfg.get("resources").path, resources)
	}
	switch key := cfg.at("provider", "keyArn"); {
	case key.unknown():
		c.Unknown(key.path)
	case !key.present():
		c.Failf("the cluster's secrets encryption names no KMS key (%s)", key.path)
	}
}

// controlPlaneLogs are the EKS control-plane log types that must be on.
var controlPlaneLogs = []string{"api", "audit", "authenticator"}

func eksControlPlaneLogs(_ Env, r *Resource, c *Check) {
	if r.Type != typeEKSCluster {
		return
	}
	f := r.props().get("enabledClusterLogTypes")
	types, unknown := f.strings()
	if unknown {
		c.Unknown(f.path)
		return
	}
	for _, want := range controlPlaneLogs {
		if !slices.Contains(types, want) {
			c.Failf("the cluster must send its %s log to CloudWatch: %s is %v", want, f.path, types)
		}
	}
}

func eksPrivateEndpoint(e Env, r *Resource, c *Check) {
	if r.Type != typeEKSCluster || !e.Prod() {
		return
	}
	vpc := r.props().get("vpcConfig")
	c.requireBool(vpc.get("endpointPrivateAccess"), true, "a prod cluster's API must be reachable privately")
	c.requireBool(vpc.get("endpointPublicAccess"), false, "a prod cluster's API must not be public")
}

// openCIDRs are the addresses that mean "the whole internet".
var openCIDRs = []string{"0.0.0.0/0", "::/0"}

// ingressRule is one ingress permission of a security group.
type ingressRule struct {
	path             string
	protocol         field
	fromPort, toPort field
	cidrs            []field
}

// ingressRules lists the ingress permissions r grants.
func ingressRules(r *Resource, c *Check) []ingressRule {
	p := r.props()
	switch r.Type {
	case typeSecurityGroup:
		list := p.get("ingress")
		if list.unknown() {
			c.Unknown(list.path)
			return nil
		}
		var out []ingressRule
		for _, in := range list.items() {
			out = append(out, ingressRule{path: in.path, protocol: in.get("protocol"),
				fromPort: in.get("fromPort"), toPort: in.get("toPort"),
				cidrs: []field{in.get("cidrBlocks"), in.get("ipv6CidrBlocks")}})
		}
		return out
	case typeSGRule:
		typ := p.get("type")
		if typ.unknown() {
			c.Unknown(typ.path)
			return nil
		}
		if s, _ := typ.str(); s != "ingress" {
			return nil
		}
		return []ingressRule{{path: r.Name, protocol: p.get("protocol"), fromPort: p.get("fromPort"), toPort: p.get("toPort"),
			cidrs: []field{p.get("cidrBlocks"), p.get("ipv6CidrBlocks")}}}
	case typeSGIngressRule:
		return []ingressRule{{path: r.Name, protocol: p.get("ipProtocol"), fromPort: p.get("fromPort"), toPort: p.get("toPort"),
			cidrs: []field{p.get("cidrIpv4"), p.get("cidrIpv6")}}}
	}
	return nil
}

func sgNoPublicIngress(_ Env, r *Resource, c *Check) {
	for _, rule := range ingressRules(r, c) {
		open := ""
		for _, f := range rule.cidrs {
			cidrs, unknown := f.strings()
			if unknown {
				c.Unknown(f.path)
			}
			for _, cidr := range cidrs {
				if slices.Contains(openCIDRs, cidr) {
					open = cidr
				}
			}
		}
		if open == "" {
			continue
		}
		if !onlyListenerPorts(rule, c) {
			c.Failf("ingress %s opens %s beyond the load balancer's listener ports %v (protocol %s, ports %s-%s)",
				rule.path, open, PublicListenerPorts, show(rule.protocol), show(rule.fromPort), show(rule.toPort))
		}
	}
}

// onlyListenerPorts reports whether rule admits TCP to one listener port only.
func onlyListenerPorts(rule ingressRule, c *Check) bool {
	for _, f := range []field{rule.protocol, rule.fromPort, rule.toPort} {
		if f.unknown() {
			c.Unknown(f.path)
			return true // judged when known
		}
	}
	proto, _ := rule.protocol.str()
	if proto != "tcp" && proto != "6" {
		return false
	}
	from, ok1 := rule.fromPort.number()
	to, ok2 := rule.toPort.number()
	return ok1 && ok2 && from == to && slices.Contains(PublicListenerPorts, int(from))
}

func launchTemplateIMDSv2(_ Env, r *Resource, c *Check) {
	if r.Type != typeLaunchTemplate {
		return
	}
	md := r.props().get("metadataOptions")
	tokens := md.get("httpTokens")
	if tokens.unknown() {
		c.Unknown(tokens.path)
	} else if s, _ := tokens.str(); s != "required" {
		c.Failf("nodes must require IMDSv2 session tokens: %s is %s", tokens.path, show(tokens))
	}
	hops := md.get("httpPutResponseHopLimit")
	if hops.unknown() {
		c.Unknown(hops.path)
	} else if n, ok := hops.number(); !ok || n != 1 {
		c.Failf("the instance metadata must not reach pods (hop limit 1): %s is %s", hops.path, show(hops))
	}
}

func kmsKeyRotation(_ Env, r *Resource, c *Check) {
	if r.Type != typeKMSKey {
		return
	}
	// Only symmetric encryption keys can rotate automatically.
	if spec, _ := r.props().get("customerMasterKeySpec").str(); spec != "" && spec != "SYMMETRIC_DEFAULT" {
		return
	}
	c.requireBool(r.props().get("enableKeyRotation"), true, "the KMS key must rotate yearly")
}

// untaggable are the AWS types the program uses that have no tags (AWS
// cannot tag them); every other AWS type must carry the required tags.
// The policy's test proves each entry has no tags in the provider's SDK.
var untaggable = []string{
	"aws:ec2/routeTableAssociation:RouteTableAssociation",
	"aws:ec2/securityGroupRule:SecurityGroupRule",
	"aws:eks/accessPolicyAssociation:AccessPolicyAssociation",
	"aws:iam/rolePolicy:RolePolicy",
	"aws:iam/rolePolicyAttachment:RolePolicyAttachment",
	"aws:s3/bucketLifecycleConfigurationV2:BucketLifecycleConfigurationV2",
	"aws:s3/bucketLoggingV2:BucketLoggingV2",
	"aws:s3/bucketOwnershipControls:BucketOwnershipControls",
	"aws:s3/bucketPolicy:BucketPolicy",
	"aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
	"aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2",
	"aws:s3/bucketVersioningV2:BucketVersioningV2",
	"aws:ec2/mainRouteTableAssociation:MainRouteTableAssociation",
	"aws:kms/alias:Alias",
	"aws:ecr/lifecyclePolicy:LifecyclePolicy",
	"aws:ecr/repositoryPolicy:RepositoryPolicy",
	"aws:codebuild/webhook:Webhook",
	"aws:codebuild/sourceCredential:SourceCredential",
}

// Untaggable lists the AWS types exempt from the tag policy.
func Untaggable() []string { return slices.Clone(untaggable) }

func requiredTags(e Env, r *Resource, c *Check) {
	if !r.isAWS() || slices.Contains(untaggable, r.Type) {
		return
	}
	defaultsField := root(r.Provider).get("defaultTags").object().get("tags")
	defaults, unknownDefaults, allDefaults := defaultsField.stringMap()
	ownField := r.props().get("tags")
	own, unknownOwn, allOwn := ownField.stringMap()
	want := map[string]string{"Project": e.Project, "Stack": e.Stack, "ManagedBy": ManagedBy}
	for _, k := range requiredTagKeys {
		// The resource's own tag wins over the provider's default.
		got, ok := own[k]
		switch {
		case allOwn || slices.Contains(unknownOwn, k):
			c.Unknown(ownField.path + "." + k)
			continue
		case !ok:
			got, ok = defaults[k]
			if !ok && (allDefaults || slices.Contains(unknownDefaults, k)) {
				c.Unknown("provider.defaultTags.tags." + k)
				continue
			}
		}
		switch {
		case !ok:
			c.Failf("tag %s is missing (want %q; set it in aws:defaultTags of the stack)", k, want[k])
		case got != want[k]:
			c.Failf("tag %s is %q, want %q", k, got, want[k])
		}
	}
}

// bucketPolicyDoc is the subset of an IAM policy document the TLS check reads.
type bucketPolicyDoc struct {
	Statement []struct {
		Effect    string
		Principal any
		Action    any
		Condition map[string]map[string]any
	}
}

// deniesInsecureTransport reports whether doc denies every request made
// without TLS to everyone.
func deniesInsecureTransport(doc string) bool {
	var d bucketPolicyDoc
	if json.Unmarshal([]byte(doc), &d) != nil {
		return false
	}
	for _, s := range d.Statement {
		if s.Effect != "Deny" || !isEveryone(s.Principal) || !coversAllS3(s.Action) {
			continue
		}
		if v, ok := s.Condition["Bool"]["aws:SecureTransport"]; ok && strings.EqualFold(asString(v), "false") {
			return true
		}
	}
	return false
}

func isEveryone(p any) bool {
	switch x := p.(type) {
	case string:
		return x == "*"
	case map[string]any:
		return asString(x["AWS"]) == "*"
	}
	return false
}

func coversAllS3(a any) bool {
	switch x := a.(type) {
	case string:
		return x == "s3:*" || x == "*"
	case []any:
		for _, e := range x {
			if coversAllS3(e) {
				return true
			}
		}
	}
	return false
}

func asString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case bool:
		if x {
			return "true"
		}
		return "false"
	case []any:
		if len(x) == 1 {
			return asString(x[0])
		}
	}
	return ""
}

// instanceSize is the size of an instance class or type: db.t4g.micro → micro.
func instanceSize(class string) string {
	return class[strings.LastIndex(class, ".")+1:]
}

// smallSizes are the instance sizes a non-prod stack is expected to use.
var smallSizes = []string{"nano", "micro", "small", "medium", "large"}

// costInstanceSize: a non-prod stack on instances above "large" costs a
// multiple of what it needs.
func costInstanceSize(e Env, r *Resource, c *Check) {
	if e.Prod() {
		return
	}
	var fields []field
	switch r.Type {
	case typeRDSInstance:
		fields = []field{r.props().get("instanceClass")}
	case typeLaunchTemplate, typeEC2Instance:
		fields = []field{r.props().get("instanceType")}
	case typeNodeGroup:
		fields = r.props().get("instanceTypes").items()
		if f := r.props().get("instanceTypes"); f.unknown() {
			c.Unknown(f.path)
		}
	}
	for _, f := range fields {
		if f.unknown() {
			c.Unknown(f.path)
			continue
		}
		if class, ok := f.str(); ok && !slices.Contains(smallSizes, instanceSize(class)) {
			c.Failf("a non-prod stack runs %s (%s): sizes up to large are enough outside prod", class, f.path)
		}
	}
}

// costNatPerAZ: one NAT gateway per availability zone survives a zone
// outage, which a non-prod stack does not need at its price.
func costNatPerAZ(e Env, rs []*Resource, report func(*Resource) *Check) {
	if e.Prod() {
		return
	}
	var nats []*Resource
	for _, r := range rs {
		if r.Type == typeNatGateway {
			nats = append(nats, r)
		}
	}
	for _, extra := range nats[min(1, len(nats)):] {
		report(extra).Failf("a non-prod stack runs %d NAT gateways: one shared gateway is enough outside prod", len(nats))
	}
}
