package platform

import (
	"fmt"
	"slices"
	"time"

	"github.com/gopherops/gopherops/infra/config"
	"github.com/gopherops/gopherops/infra/database"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/rds"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// planRestore turns the stack's restore settings into the database's. A
// point in time is checked against the clock and the backup retention only
// while the restored instance does not exist yet: once it does, the time
// is history and every later `pulumi up` keeps the instance as it is.
func planRestore(ctx *pulumi.Context, cfg *config.Config, base string, now func() time.Time) (*database.Restore, error) {
	r := cfg.Database.Restore
	if !r.IsSet() {
		return nil, nil
	}
	restore := &database.Restore{
		ID:                 r.ID(),
		Identifier:         database.RestoredIdentifier(base, r.ID()),
		SnapshotIdentifier: r.Snapshot,
	}
	if r.Time != "" {
		at, latest, err := r.PointInTime()
		if err != nil {
			return nil, fmt.Errorf("platform: %s:dbRestoreTime: %w", config.Namespace, err)
		}
		restore.SourceInstance, restore.Time, restore.UseLatestRestorableTime = r.Source, at, latest
	}
	found, err := rds.GetInstances(ctx, &rds.GetInstancesArgs{
		Filters: []rds.GetInstancesFilter{{Name: "db-instance-id", Values: []string{restore.Identifier}}},
	})
	if err != nil {
		return nil, fmt.Errorf("platform: look up the restored instance %s: %w", restore.Identifier, err)
	}
	if !slices.Contains(found.InstanceIdentifiers, restore.Identifier) {
		if err := cfg.CheckRestoreWindow(now()); err != nil {
			return nil, err
		}
	}
	return restore, nil
}
