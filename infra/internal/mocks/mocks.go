// Package mocks is the Pulumi mock monitor the infra tests run the program
// under: it records every resource registration exactly as the engine would
// receive it (type, name, inputs, provider, dependencies, order), answers the
// AWS and GitHub invokes the programs use, and fills in the outputs AWS and
// Kubernetes would compute, so later resources see realistic IDs and ARNs.
package mocks

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Fixed values the mocked cloud returns.
const (
	AccountID   = "123456789012"
	Region      = "us-east-1"
	OIDCIssuer  = "oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE"
	ClusterSGID = "sg-eks-cluster"
	LBHostname  = "a1b2c3-gopherops.elb.us-east-1.amazonaws.com"
	RDSSecret   = "arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!db-0123abcd-AbCdEf" //nolint:gosec // an ARN, not a credential
	// RestoredRDSSecret is the managed secret of an instance a restore created.
	RestoredRDSSecret = "arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!db-4567cdef-GhIjKl" //nolint:gosec // an ARN, not a credential
)

// Registration is one NewResource call as the mock monitor saw it.
type Registration struct {
	Type     string
	Name     string
	ID       string
	Inputs   resource.PropertyMap
	Provider string
	// Dependencies are the URNs the SDK declared (explicit dependsOn plus input dependencies).
	Dependencies []string
	// DependsOnURNs are the explicit dependsOn URNs only: the dependencies no
	// input carries.
	DependsOnURNs []string
	// PropertyDependencies are, by input property, the URNs its value was
	// computed from.
	PropertyDependencies map[string][]string
	// Parent is the parent's URN ("" for the stack).
	Parent string
	// Protect and RetainOnDelete are the resource options of those names.
	Protect, RetainOnDelete bool
	// Seq is the position of the call; Done is the position at which it returned.
	Seq, Done int
	// Outputs is the state the mock returned.
	Outputs resource.PropertyMap
}

// ZoneNames and ZoneIDs are the region's zones as the mocked account maps
// them; ZoneIDs[2] is one EKS does not support.
var (
	ZoneNames = []any{"us-east-1a", "us-east-1b", "us-east-1c", "us-east-1d", "us-east-1e"}
	ZoneIDs   = []any{"use1-az1", "use1-az2", "use1-az3", "use1-az4", "use1-az6"}
)

// Monitor implements pulumi.MockResourceMonitor and records everything.
type Monitor struct {
	// Delay holds NewResource of the given types for a while before it
	// returns, widening any race between resources that should be ordered.
	Delay map[string]time.Duration
	// Mirror holds the digests of the images in the ECR mirror; a lookup
	// of any other fails as ECR does.
	Mirror map[string]bool
	// Parameters are SSM parameters by name (a stack's release record);
	// a lookup of any other fails as SSM does.
	Parameters map[string]string
	// CallerArn is who runs the program (sts:GetCallerIdentity); empty
	// means the bootstrap project's deploy role.
	CallerArn string
	// RDSInstances are the identifiers of the RDS instances that exist
	// (rds:GetInstances, filtered by db-instance-id).
	RDSInstances []string
	// GitHubUsers and GitHubTeams are the numeric ids of the GitHub users
	// (by login) and teams (by slug) that exist; a lookup of any other
	// fails as GitHub's API does.
	GitHubUsers, GitHubTeams map[string]int

	mu    sync.Mutex
	seq   int
	regs  []*Registration
	calls []string
}

// New returns an empty Monitor.
func New() *Monitor {
	return &Monitor{
		Delay: map[string]time.Duration{}, Mirror: map[string]bool{}, Parameters: map[string]string{},
		GitHubUsers: map[string]int{}, GitHubTeams: map[string]int{},
	}
}

// DeployRoleArn is the bootstrap project's deploy role in the mocked account.
const DeployRoleArn = "arn:aws:iam::" + AccountID + ":role/gopherops-deploy"

// Caller is the ARN sts:GetCallerIdentity reports: an assumed-role session.
func (m *Monitor) Caller() string {
	if m.CallerArn != "" {
		return m.CallerArn
	}
	return "arn:aws:sts::" + AccountID + ":assumed-role/gopherops-deploy/gopherops-deploy-dev-123"
}

func (m *Monitor) next() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.seq++
	return m.seq
}

// NewResource records a registration and returns mocked outputs.
func (m *Monitor) NewResource(args pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
	reg := &Registration{
		Type:     args.TypeToken,
		Name:     args.Name,
		Inputs:   args.Inputs,
		Provider: args.Provider,
		Seq:      m.next(),
	}
	if rpc := args.RegisterRPC; rpc != nil {
		reg.Dependencies = rpc.GetDependencies()
		reg.Parent = rpc.GetParent()
		reg.Protect = rpc.GetProtect()
		reg.RetainOnDelete = rpc.GetRetainOnDelete()
		viaInputs := map[string]bool{}
		reg.PropertyDependencies = map[string][]string{}
		for key, deps := range rpc.GetPropertyDependencies() {
			for _, urn := range deps.GetUrns() {
				viaInputs[urn] = true
			}
			if urns := deps.GetUrns(); len(urns) > 0 {
				reg.PropertyDependencies[key] = append([]string(nil), urns...)
			}
		}
		for _, urn := range reg.Dependencies {
			if !viaInputs[urn] {
				reg.DependsOnURNs = append(reg.DependsOnURNs, urn)
			}
		}
	}
	m.mu.Lock()
	m.regs = append(m.regs, reg)
	m.mu.Unlock()

	if d := m.Delay[args.TypeToken]; d > 0 {
		time.Sleep(d)
	}
	reg.ID, reg.Outputs = outputs(args)
	reg.Done = m.next()
	return reg.ID, reg.Outputs, nil
}

// Call answers the AWS and GitHub invokes the programs make.
func (m *Monitor) Call(args pulumi.MockCallArgs) (resource.PropertyMap, error) {
	m.mu.Lock()
	m.calls = append(m.calls, args.Token)
	m.mu.Unlock()
	switch args.Token {
	case "aws:index/getAvailabilityZones:getAvailabilityZones":
		// As one real account sees us-east-1: its "c" is use1-az3, a zone
		// EKS refuses control-plane subnets in.
		return resource.NewPropertyMapFromMap(map[string]any{
			"names":   ZoneNames,
			"zoneIds": ZoneIDs,
			"id":      Region,
		}), nil
	case "aws:index/getCallerIdentity:getCallerIdentity":
		return resource.NewPropertyMapFromMap(map[string]any{
			"accountId": AccountID,
			"arn":       m.Caller(),
			"userId":    "AROAEXAMPLE:session",
			"id":        AccountID,
		}), nil
	case "aws:ecr/getRepository:getRepository":
		name := args.Args["name"].StringValue()
		return resource.NewPropertyMapFromMap(map[string]any{
			"name":          name,
			"registryId":    AccountID,
			"arn":           fmt.Sprintf("arn:aws:ecr:%s:%s:repository/%s", Region, AccountID, name),
			"repositoryUrl": fmt.Sprintf("%s.dkr.ecr.%s.amazonaws.com/%s", AccountID, Region, name),
			"id":            name,
		}), nil
	case "aws:ecr/getImage:getImage":
		digest := ""
		if v, ok := args.Args["imageDigest"]; ok && v.IsString() {
			digest = v.StringValue()
		}
		if !m.Mirror[digest] {
			return nil, fmt.Errorf("mocks: ImageNotFoundException: no image %q in ECR", digest)
		}
		return resource.NewPropertyMapFromMap(map[string]any{
			"imageDigest":    digest,
			"registryId":     AccountID,
			"repositoryName": args.Args["repositoryName"].StringValue(),
			"id":             digest,
		}), nil
	case "aws:rds/getInstances:getInstances":
		var want []string
		if f, ok := args.Args["filters"]; ok && f.IsArray() {
			for _, filter := range f.ArrayValue() {
				obj := filter.ObjectValue()
				if obj["name"].StringValue() != "db-instance-id" {
					return nil, fmt.Errorf("mocks: getInstances filter %s is not mocked", obj["name"].StringValue())
				}
				for _, v := range obj["values"].ArrayValue() {
					want = append(want, v.StringValue())
				}
			}
		}
		var ids []any
		for _, id := range m.RDSInstances {
			if want == nil || slices.Contains(want, id) {
				ids = append(ids, id)
			}
		}
		return resource.NewPropertyMapFromMap(map[string]any{
			"instanceIdentifiers": ids, "instanceArns": []any{}, "id": Region,
		}), nil
	case "aws:ssm/getParameter:getParameter":
		name := args.Args["name"].StringValue()
		v, ok := m.Parameters[name]
		if !ok {
			return nil, fmt.Errorf("mocks: ParameterNotFound: %s", name)
		}
		return resource.NewPropertyMapFromMap(map[string]any{
			"name": name, "value": v, "insecureValue": v, "type": "String", "version": 1,
			"arn": fmt.Sprintf("arn:aws:ssm:%s:%s:parameter%s", Region, AccountID, name), "id": name,
		}), nil
	case "github:index/getUser:getUser":
		login := args.Args["username"].StringValue()
		id, ok := m.GitHubUsers[login]
		if !ok {
			return nil, fmt.Errorf("mocks: GET /users/%s: 404 Not Found", login)
		}
		return resource.NewPropertyMapFromMap(map[string]any{
			"id": fmt.Sprint(id), "login": login, "username": login, "nodeId": fmt.Sprintf("U_%d", id),
		}), nil
	case "github:index/getTeam:getTeam":
		slug := args.Args["slug"].StringValue()
		id, ok := m.GitHubTeams[slug]
		if !ok {
			return nil, fmt.Errorf("mocks: team %s: 404 Not Found", slug)
		}
		return resource.NewPropertyMapFromMap(map[string]any{
			"id": fmt.Sprint(id), "slug": slug, "name": slug, "nodeId": fmt.Sprintf("T_%d", id),
		}), nil
	case "aws:index/getPartition:getPartition":
		return resource.NewPropertyMapFromMap(map[string]any{
			"partition": "aws", "dnsSuffix": "amazonaws.com", "id": "aws", "reverseDnsPrefix": "com.amazonaws",
		}), nil
	}
	return nil, fmt.Errorf("mocks: unexpected invoke %s", args.Token)
}

// Calls lists the invoke tokens in call order.
func (m *Monitor) Calls() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.calls...)
}

// All returns every registration in call order.
func (m *Monitor) All() []*Registration {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := append([]*Registration(nil), m.regs...)
	sort.Slice(out, func(i, j int) bool { return out[i].Seq < out[j].Seq })
	return out
}

// ByType returns the registrations of one type token, in call order.
func (m *Monitor) ByType(typ string) []*Registration {
	var out []*Registration
	for _, r := range m.All() {
		if r.Type == typ {
			out = append(out, r)
		}
	}
	return out
}

// DependsOn reports whether r declared a dependency on the resource of the
// given type and logical name (URNs end in "<type>::<name>", the type
// possibly qualified by its parents' types).
func (r *Registration) DependsOn(typ, name string) bool {
	return matchURN(r.Dependencies, typ, name)
}

// ExplicitlyDependsOn reports whether r was given dependsOn on the resource
// of the given type and logical name (not merely an input of it).
func (r *Registration) ExplicitlyDependsOn(typ, name string) bool {
	return matchURN(r.DependsOnURNs, typ, name)
}

// ChildOf reports whether r's parent is the resource of the given type and
// logical name.
func (r *Registration) ChildOf(typ, name string) bool {
	return r.Parent != "" && matchURN([]string{r.Parent}, typ, name)
}

func matchURN(urns []string, typ, name string) bool {
	for _, urn := range urns {
		if strings.HasSuffix(urn, "::"+typ+"::"+name) || strings.HasSuffix(urn, "$"+typ+"::"+name) {
			return true
		}
	}
	return false
}

// Get returns the registration of a type and logical name, or nil.
func (m *Monitor) Get(typ, name string) *Registration {
	for _, r := range m.All() {
		if r.Type == typ && r.Name == name {
			return r
		}
	}
	return nil
}

// outputs computes the ID and the state a real provider would return: the
// inputs plus the computed properties the program reads.
func outputs(args pulumi.MockResourceArgs) (string, resource.PropertyMap) {
	state := args.Inputs.Copy()
	set := func(k string, v any) { state[resource.PropertyKey(k)] = resource.NewPropertyValue(v) }
	has := func(k string) bool { _, ok := state[resource.PropertyKey(k)]; return ok }
	name := args.Name
	id := name + "-id"
	service := ""
	if parts := strings.Split(args.TypeToken, ":"); len(parts) == 3 && parts[0] == "aws" {
		service = strings.Split(parts[1], "/")[0]
		if !has("arn") {
			set("arn", fmt.Sprintf("arn:aws:%s:%s:%s:%s/%s", service, Region, AccountID, strings.ToLower(parts[2]), name))
		}
	}

	switch args.TypeToken {
	case "aws:ec2/securityGroup:SecurityGroup":
		id = "sg-" + name
	case "aws:ec2/subnet:Subnet":
		id = "subnet-" + name
	case "aws:ec2/vpc:Vpc":
		id = "vpc-" + name
	case "aws:ec2/launchTemplate:LaunchTemplate":
		id = "lt-" + name
		set("latestVersion", 1)
	case "aws:cloudwatch/logGroup:LogGroup":
		lg := fmt.Sprint(args.Inputs["name"].V)
		id = lg
		set("arn", fmt.Sprintf("arn:aws:logs:%s:%s:log-group:%s", Region, AccountID, lg))
	case "aws:ecr/repository:Repository":
		repo := fmt.Sprint(args.Inputs["name"].V)
		set("repositoryUrl", fmt.Sprintf("%s.dkr.ecr.%s.amazonaws.com/%s", AccountID, Region, repo))
		set("arn", fmt.Sprintf("arn:aws:ecr:%s:%s:repository/%s", Region, AccountID, repo))
	case "aws:codebuild/project:Project":
		set("arn", fmt.Sprintf("arn:aws:codebuild:%s:%s:project/%v", Region, AccountID, args.Inputs["name"].V))
	case "aws:kms/key:Key":
		id = "key-" + name
		set("arn", fmt.Sprintf("arn:aws:kms:%s:%s:key/%s", Region, AccountID, id))
	case "aws:iam/role:Role":
		// An explicit name (the bootstrap roles) is kept; else Pulumi's autoname.
		role := name + "-role"
		if v, ok := args.Inputs["name"]; ok && v.IsString() {
			role = v.StringValue()
		}
		set("name", role)
		set("arn", fmt.Sprintf("arn:aws:iam::%s:role/%s", AccountID, role))
	case "aws:iam/openIdConnectProvider:OpenIdConnectProvider":
		set("arn", fmt.Sprintf("arn:aws:iam::%s:oidc-provider/%s", AccountID, OIDCIssuer))
	case "aws:eks/cluster:Cluster":
		set("endpoint", "https://EXAMPLE.gr7.us-east-1.eks.amazonaws.com")
		set("certificateAuthority", map[string]any{"data": "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0t"})
		set("identities", []any{map[string]any{"oidcs": []any{map[string]any{"issuer": "https://" + OIDCIssuer}}}})
		vpc := map[string]any{}
		if v, ok := state["vpcConfig"]; ok && v.IsObject() {
			vpc = v.ObjectValue().Mappable()
		}
		vpc["clusterSecurityGroupId"] = ClusterSGID
		set("vpcConfig", vpc)
	case "aws:rds/instance:Instance":
		addr := name + ".c0ffee.us-east-1.rds.amazonaws.com"
		set("address", addr)
		set("endpoint", addr+":5432")
		// A restore creates a new instance, and RDS a new managed secret for it.
		secret := RDSSecret
		if strings.Contains(name, "-restore-") {
			secret = RestoredRDSSecret
		}
		set("masterUserSecrets", []any{map[string]any{"secretArn": secret, "secretStatus": "active"}})
		if !has("identifier") {
			set("identifier", name+"-0a1b2c3")
		}
	case "aws:rds/subnetGroup:SubnetGroup", "aws:rds/parameterGroup:ParameterGroup":
		set("name", name+"-generated")
	case "aws:s3/bucketV2:BucketV2":
		bucket := name + "-4f3e2d1"
		id = bucket
		set("bucket", bucket)
		set("arn", "arn:aws:s3:::"+bucket)
	}

	if strings.HasPrefix(args.TypeToken, "kubernetes:") {
		meta := map[string]any{}
		if v, ok := state["metadata"]; ok && v.IsObject() {
			meta = v.ObjectValue().Mappable()
		}
		if _, ok := meta["name"]; !ok {
			meta["name"] = name + "-5x7k2p"
		}
		set("metadata", meta)
		id = fmt.Sprint(meta["name"])
		if ns, ok := meta["namespace"]; ok {
			id = fmt.Sprint(ns) + "/" + id
		}
		if args.TypeToken == "kubernetes:core/v1:Service" {
			// Only a LoadBalancer Service gets an address; the others report
			// an empty load balancer status, as the API server does.
			lb := map[string]any{}
			if spec, ok := state["spec"]; ok && spec.IsObject() && spec.ObjectValue()["type"].IsString() &&
				spec.ObjectValue()["type"].StringValue() == "LoadBalancer" {
				lb["ingress"] = []any{map[string]any{"hostname": LBHostname}}
			}
			set("status", map[string]any{"loadBalancer": lb})
		}
	}
	return id, state
}
