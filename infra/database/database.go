// Package database provisions the RDS PostgreSQL instance GopherOps stores its
// data in: private subnets only, reachable on 5432 from the cluster's nodes
// only, encrypted, TLS enforced, with the master password generated and kept
// by AWS in Secrets Manager, IAM database authentication available and
// Performance Insights where the stack asks for it.
package database

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/gopherops/gopherops/infra/config"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/cloudwatch"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ec2"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/rds"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Port is the PostgreSQL port the instance listens on.
const Port = 5432

// DatabaseName is the database the service connects to.
const DatabaseName = "gopherops"

// Args configures the Database component.
type Args struct {
	VpcID            pulumi.StringInput
	PrivateSubnetIDs pulumi.StringArrayInput
	// ClientSecurityGroupID is the only security group admitted on 5432 (the nodes').
	ClientSecurityGroupID pulumi.StringInput

	// Database is the stack's database settings as configured: size,
	// engine major, Multi-AZ, backups, Performance Insights, and
	// DeletionProtection, which also sets Pulumi's protect. Its Restore
	// (what the stack asks to restore) is shadowed by Args.Restore, the plan
	// made of it.
	config.Database
	// FinalSnapshot keeps a snapshot when the instance is deleted (prod).
	FinalSnapshot bool
	// LogRetentionDays keeps the exported PostgreSQL logs in CloudWatch.
	LogRetentionDays int
	// Restore, when set, creates the instance from a snapshot or a point in
	// time, as a new instance under names of its own: the stack switches to
	// it, and the instance it replaces leaves the stack (kept in AWS when it
	// is deletion-protected, see docs/recovery.md).
	Restore *Restore
}

// LogExports are the PostgreSQL logs the instance exports to CloudWatch.
var LogExports = []string{"postgresql", "upgrade"}

// LogGroupName is the CloudWatch log group RDS exports one log of an
// instance to.
func LogGroupName(identifier, export string) string {
	return "/aws/rds/instance/" + identifier + "/" + export
}

// Restore is where a restored instance's data comes from.
type Restore struct {
	// ID names the restore; the instance's logical name carries it.
	ID string
	// Identifier is the new instance's identifier (RestoredIdentifier).
	Identifier string
	// SnapshotIdentifier restores a DB snapshot (name or ARN).
	SnapshotIdentifier string
	// SourceInstance, with Time or UseLatestRestorableTime, restores that
	// instance's automated backups to a point in time.
	SourceInstance          string
	Time                    time.Time
	UseLatestRestorableTime bool
}

func (r *Restore) check() error {
	switch {
	case r.ID == "" || r.Identifier == "":
		return errors.New("database: a restore needs an ID and the new instance's identifier")
	case r.SnapshotIdentifier != "" && r.SourceInstance != "":
		return errors.New("database: restore from a snapshot or from a point in time, not both")
	case r.SnapshotIdentifier == "" && r.SourceInstance == "":
		return errors.New("database: a restore needs a snapshot or a source instance")
	case r.SourceInstance != "" && r.Time.IsZero() == !r.UseLatestRestorableTime:
		return errors.New("database: a point-in-time restore needs either a time or the latest restorable time")
	}
	return nil
}

// identifierUnsafe are the characters an RDS identifier cannot hold.
var identifierUnsafe = regexp.MustCompile(`[^a-z0-9]+`)

// RestoredIdentifier is the identifier of the instance a restore creates:
// the stack's base name made a valid RDS identifier (letters, digits, single
// hyphens, starting with a letter), then -r and the restore's ID.
func RestoredIdentifier(base, id string) string {
	name := strings.Trim(identifierUnsafe.ReplaceAllString(strings.ToLower(base), "-"), "-")
	if name == "" || name[0] < 'a' || name[0] > 'z' {
		name = "db-" + name
	}
	if len(name) > 50 {
		name = strings.TrimRight(name[:50], "-")
	}
	return strings.TrimRight(name, "-") + "-r" + id
}

// Database is the RDS instance with its network and parameter settings.
type Database struct {
	pulumi.ResourceState

	LogGroups      []*cloudwatch.LogGroup
	SecurityGroup  *ec2.SecurityGroup
	SubnetGroup    *rds.SubnetGroup
	ParameterGroup *rds.ParameterGroup
	Instance       *rds.Instance

	// Address is the instance's DNS name.
	Address pulumi.StringOutput
	// Identifier is the instance's RDS identifier (the source of a later
	// point-in-time restore).
	Identifier pulumi.StringOutput
	// SecretArn is the Secrets Manager secret AWS keeps the master credentials in.
	SecretArn pulumi.StringOutput
	// URL is a credential-free connection URL (sslmode=require) for the service.
	URL pulumi.StringOutput
}

// New creates the Database component and its children.
func New(ctx *pulumi.Context, name string, args Args, opts ...pulumi.ResourceOption) (*Database, error) {
	if args.Restore != nil {
		if err := args.Restore.check(); err != nil {
			return nil, err
		}
	}
	d := &Database{}
	if err := ctx.RegisterComponentResource("gopherops:infra:Database", name, d, opts...); err != nil {
		return nil, fmt.Errorf("database: register component: %w", err)
	}
	parent := pulumi.Parent(d)
	var err error

	// No egress rules: the instance never opens connections.
	d.SecurityGroup, err = ec2.NewSecurityGroup(ctx, name, &ec2.SecurityGroupArgs{
		VpcId:       args.VpcID,
		Description: pulumi.String("GopherOps PostgreSQL: 5432 from the EKS nodes only"),
		Ingress: ec2.SecurityGroupIngressArray{
			ec2.SecurityGroupIngressArgs{
				Description:    pulumi.String("PostgreSQL from the EKS nodes"),
				Protocol:       pulumi.String("tcp"),
				FromPort:       pulumi.Int(Port),
				ToPort:         pulumi.Int(Port),
				SecurityGroups: pulumi.StringArray{args.ClientSecurityGroupID},
			},
		},
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("database: security group: %w", err)
	}

	d.SubnetGroup, err = rds.NewSubnetGroup(ctx, name, &rds.SubnetGroupArgs{
		Description: pulumi.String("GopherOps PostgreSQL: private subnets"),
		SubnetIds:   args.PrivateSubnetIDs,
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("database: subnet group: %w", err)
	}

	major := args.EngineVersion
	if len(major) > 2 {
		major = major[:2]
	}
	d.ParameterGroup, err = rds.NewParameterGroup(ctx, name, &rds.ParameterGroupArgs{
		Family:      pulumi.String("postgres" + major),
		Description: pulumi.String("GopherOps PostgreSQL: TLS only, connection logging"),
		Parameters: rds.ParameterGroupParameterArray{
			rds.ParameterGroupParameterArgs{Name: pulumi.String("rds.force_ssl"), Value: pulumi.String("1")},
			rds.ParameterGroupParameterArgs{Name: pulumi.String("log_connections"), Value: pulumi.String("1")},
			rds.ParameterGroupParameterArgs{Name: pulumi.String("log_min_duration_statement"), Value: pulumi.String("1000")},
		},
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("database: parameter group: %w", err)
	}

	// The instance's identifier and logical name: the stack's, or a
	// restore's own, so that a restore creates a new instance.
	identifier, instanceName := name, name
	if r := args.Restore; r != nil {
		identifier, instanceName = r.Identifier, name+"-restore-"+r.ID
	}
	// A protected database never leaves AWS through Pulumi: when a restore
	// replaces it, it and its logs leave the stack only, still
	// deletion-protected, until a person deletes them (docs/recovery.md).
	retain := pulumi.RetainOnDelete(args.DeletionProtection)

	// RDS writes exported logs to groups named after the instance; made
	// first, they keep the logs for a set time instead of for ever.
	var exports pulumi.StringArray
	var logGroups []pulumi.Resource
	for _, e := range LogExports {
		g, err := cloudwatch.NewLogGroup(ctx, instanceName+"-"+e, &cloudwatch.LogGroupArgs{
			Name:            pulumi.String(LogGroupName(identifier, e)),
			RetentionInDays: pulumi.Int(args.LogRetentionDays),
		}, parent, retain)
		if err != nil {
			return nil, fmt.Errorf("database: %s log group: %w", e, err)
		}
		d.LogGroups = append(d.LogGroups, g)
		logGroups = append(logGroups, g)
		exports = append(exports, pulumi.String(e))
	}

	instanceArgs := &rds.InstanceArgs{
		// Named, not generated: the log groups above carry the name.
		Identifier:                   pulumi.String(identifier),
		Engine:                       pulumi.String("postgres"),
		EngineVersion:                pulumi.String(args.EngineVersion),
		InstanceClass:                pulumi.String(args.InstanceClass),
		DbName:                       pulumi.String(DatabaseName),
		Username:                     pulumi.String("gopherops"),
		ManageMasterUserPassword:     pulumi.Bool(true),
		Port:                         pulumi.Int(Port),
		DbSubnetGroupName:            d.SubnetGroup.Name,
		VpcSecurityGroupIds:          pulumi.StringArray{d.SecurityGroup.ID()},
		ParameterGroupName:           d.ParameterGroup.Name,
		PubliclyAccessible:           pulumi.Bool(false),
		StorageEncrypted:             pulumi.Bool(true),
		StorageType:                  pulumi.String("gp3"),
		AllocatedStorage:             pulumi.Int(args.AllocatedStorageGiB),
		MaxAllocatedStorage:          pulumi.Int(args.MaxAllocatedStorageGiB),
		MultiAz:                      pulumi.Bool(args.MultiAz),
		BackupRetentionPeriod:        pulumi.Int(args.BackupRetentionDays),
		BackupWindow:                 pulumi.String("03:00-04:00"),
		MaintenanceWindow:            pulumi.String("sun:04:30-sun:05:30"),
		CopyTagsToSnapshot:           pulumi.Bool(true),
		AutoMinorVersionUpgrade:      pulumi.Bool(true),
		AllowMajorVersionUpgrade:     pulumi.Bool(false),
		EnabledCloudwatchLogsExports: exports,
		DeletionProtection:           pulumi.Bool(args.DeletionProtection),
		SkipFinalSnapshot:            pulumi.Bool(!args.FinalSnapshot),
		// IAM authentication is available (AWS FSBP RDS.10); the service
		// keeps using the RDS-managed secret, so nothing depends on it yet.
		IamDatabaseAuthenticationEnabled: pulumi.Bool(true),
		PerformanceInsightsEnabled:       pulumi.Bool(args.PerformanceInsights),
	}
	if args.PerformanceInsights {
		instanceArgs.PerformanceInsightsRetentionPeriod = pulumi.Int(7)
	}
	if r := args.Restore; r != nil {
		restoreInto(instanceArgs, r)
	}
	if args.FinalSnapshot {
		instanceArgs.FinalSnapshotIdentifier = FinalSnapshotName(identifier, args.VpcID)
		instanceArgs.DeleteAutomatedBackups = pulumi.Bool(false)
	}
	instanceOpts := []pulumi.ResourceOption{parent, pulumi.DependsOn(logGroups), retain}
	if args.DeletionProtection {
		instanceOpts = append(instanceOpts, pulumi.Protect(true))
	}
	d.Instance, err = rds.NewInstance(ctx, instanceName, instanceArgs, instanceOpts...)
	if err != nil {
		return nil, fmt.Errorf("database: instance: %w", err)
	}

	d.Address = d.Instance.Address
	d.Identifier = d.Instance.Identifier
	d.SecretArn = d.Instance.MasterUserSecrets.Index(pulumi.Int(0)).SecretArn().Elem()
	d.URL = pulumi.Sprintf("postgres://%s:%d/%s?sslmode=require", d.Instance.Address, Port, DatabaseName)
	if err := ctx.RegisterResourceOutputs(d, pulumi.Map{
		"address":   d.Address,
		"secretArn": d.SecretArn,
		"url":       d.URL,
	}); err != nil {
		return nil, fmt.Errorf("database: register outputs: %w", err)
	}
	return d, nil
}

// restoreInto makes instance arguments create the instance from r: the data,
// the master user and the database come from the snapshot or the source's
// backups; network, encryption, protection, sizes and the RDS-managed
// password (a new secret for the new instance) are the stack's as for any
// instance.
func restoreInto(a *rds.InstanceArgs, r *Restore) {
	a.DbName = nil
	a.Username = nil
	if r.SnapshotIdentifier != "" {
		a.SnapshotIdentifier = pulumi.String(r.SnapshotIdentifier)
		return
	}
	pitr := &rds.InstanceRestoreToPointInTimeArgs{SourceDbInstanceIdentifier: pulumi.String(r.SourceInstance)}
	if r.UseLatestRestorableTime {
		pitr.UseLatestRestorableTime = pulumi.Bool(true)
	} else {
		pitr.RestoreTime = pulumi.String(r.Time.UTC().Format(time.RFC3339))
	}
	a.RestoreToPointInTime = pitr
}

// FinalSnapshotName names the snapshot RDS takes when the instance is
// deleted after the VPC the instance lives in, whose ID AWS never hands out
// twice: a stack decommissioned, created again and decommissioned again
// takes a second snapshot instead of failing on the first one's name, and
// the name stays the same on every update of one instance's life.
func FinalSnapshotName(prefix string, vpcID pulumi.StringInput) pulumi.StringOutput {
	return vpcID.ToStringOutput().ApplyT(func(id string) string {
		return prefix + "-final-" + strings.TrimPrefix(id, "vpc-")
	}).(pulumi.StringOutput)
}
