//go:build live

package infra

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/gruntwork-io/terratest/modules/aws"
	"github.com/gruntwork-io/terratest/modules/logger"
	"github.com/gruntwork-io/terratest/modules/retry"
	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optup"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gopherops/gopherops/test/internal/kube"
	"github.com/gopherops/gopherops/test/journey"
)

// outDBInstance is the RDS instance's identifier, the source of a restore.
const outDBInstance = "dbInstanceIdentifier"

// restorableWait bounds the wait for RDS's latest restorable time to pass
// the users the drill creates (the logs ship every five minutes).
const restorableWait = 20 * time.Minute

// drillPointInTimeRestore is docs/recovery.md's runbook done for real on the
// throwaway stack: users created before and after a chosen time, the
// database restored to that time into a new instance through the stack's
// own settings (dbRestoreTime, dbRestoreSource), the app switched to it by
// `pulumi up`. The users from before are there with the same ids and
// versions and sign in with their passwords; the one from after is not; the
// journeys pass. It logs the RTO: from the start of the update to the first
// answer that shows the restored data.
func drillPointInTimeRestore(ctx context.Context, t *testing.T, root, stackName string, env liveEnv, admin journey.Credentials) {
	out := readOutputs(ctx, t, root, stackName)
	stack, err := auto.SelectStackLocalSource(ctx, stackName, root)
	require.NoError(t, err)
	all, err := stack.Outputs(ctx)
	require.NoError(t, err)
	source, _ := all[outDBInstance].Value.(string)
	require.NotEmpty(t, source, "the stack exports %s", outDBInstance)

	journey.WaitReady(t, out.AppURL, appReadyTimeout)
	api := journey.NewClient(out.AppURL).WithBearer(journey.SignIn(t, out.AppURL, admin).Token, "admin")
	specs := []journey.NewUser{journey.NewUserSpec("pitr-a", "user", journey.Bool(false)), journey.NewUserSpec("pitr-b", "user", journey.Bool(false))}
	var kept []journey.User
	for _, s := range specs {
		kept = append(kept, journey.CreateUser(t, api, s))
	}
	// A user is changed once, so its version (2) is part of what must return.
	resp := api.Do(t, journey.Request{Method: http.MethodPatch, Path: kept[0].Path(),
		JSON:   map[string]string{"email": "pitr-changed-" + strings.ToLower(kept[0].Username) + "@example.com"},
		Header: map[string]string{"If-Match": journey.ETag(kept[0].Version)}})
	resp.ExpectJSON(t, http.StatusOK, &kept[0])
	time.Sleep(2 * time.Second)
	at := time.Now().UTC().Truncate(time.Second)
	time.Sleep(2 * time.Second)
	lost := journey.CreateUser(t, api, journey.NewUserSpec("pitr-after", "user", journey.Bool(false)))
	logger.Default.Logf(t, "restore point %s: users %d and %d before it, %d after it", at.Format(time.RFC3339), kept[0].ID, kept[1].ID, lost.ID)

	// RDS can restore to a time only once its logs cover it.
	retry.DoWithRetryContext(t, ctx, "the latest restorable time passes the drill's users", int(restorableWait/(30*time.Second)), 30*time.Second,
		func() (string, error) {
			db, err := aws.GetRdsInstanceDetailsContextE(t, ctx, source, env.Region)
			if err != nil {
				return "", err
			}
			latest := awssdk.ToTime(db.LatestRestorableTime)
			if !latest.After(lost.CreatedAt) {
				return "", fmt.Errorf("latest restorable time %s", latest.Format(time.RFC3339))
			}
			return latest.Format(time.RFC3339), nil
		})

	require.NoError(t, stack.SetAllConfig(ctx, auto.ConfigMap{
		"gopherops:dbRestoreTime":   {Value: at.Format(time.RFC3339)},
		"gopherops:dbRestoreSource": {Value: source},
	}))
	progress := kube.NewLogWriter(t, "pulumi up (restore): ")
	start := time.Now()
	res, err := stack.Up(ctx, optup.ProgressStreams(progress), optup.ErrorProgressStreams(progress), optup.Color("never"),
		optup.Message("gopherops live suite: point-in-time restore drill"))
	progress.Flush()
	require.NoError(t, err, "pulumi up with the restore settings")
	upTook := time.Since(start)

	// The first good answer: the restored data through the public address.
	var rto time.Duration
	retry.DoWithRetryContext(t, ctx, "the app answers from the restored database", 60, 10*time.Second, func() (string, error) {
		c := journey.NewClient(out.AppURL)
		tok, err := c.SignInE(admin)
		if err != nil {
			return "", err
		}
		u, err := c.WithBearer(tok, "admin").GetUserE(kept[0].ID)
		if err != nil {
			return "", err
		}
		if u.Version != kept[0].Version {
			return "", fmt.Errorf("user %d at version %d, want %d", u.ID, u.Version, kept[0].Version)
		}
		rto = time.Since(start)
		return "", nil
	})
	logger.Default.Logf(t, "RTO of a point-in-time restore (db.t4g.micro, 20 GiB): %s (pulumi up %s: %s)",
		rto.Round(time.Second), upTook.Round(time.Second), summary(res.Summary.ResourceChanges))

	after := readOutputs(ctx, t, root, stackName)
	assert.NotEqual(t, out.DBEndpoint, after.DBEndpoint, "the app runs on a new instance")
	assert.NotEqual(t, out.DBSecretArn, after.DBSecretArn, "with the new instance's secret")
	newID, _, _ := strings.Cut(after.DBEndpoint, ".")
	db, err := aws.GetRdsInstanceDetailsContextE(t, ctx, newID, env.Region)
	require.NoError(t, err)
	assert.True(t, awssdk.ToBool(db.StorageEncrypted), "the restored instance is encrypted")
	assert.False(t, awssdk.ToBool(db.PubliclyAccessible), "the restored instance is private")
	validateDatabase(ctx, t, env.Region, after)

	restored := journey.NewClient(after.AppURL).WithBearer(journey.SignIn(t, after.AppURL, admin).Token, "admin")
	for i, u := range kept {
		got, err := restored.GetUserE(u.ID)
		require.NoError(t, err, "user %d after the restore", u.ID)
		assert.Equal(t, u.Username, got.Username)
		assert.Equal(t, u.Version, got.Version, "user %d's version", u.ID)
		assert.Equal(t, u.Email, got.Email)
		// The password hash came back with the row: the user signs in.
		journey.SignIn(t, after.AppURL, specs[i].Credentials())
	}
	if _, err := restored.GetUserE(lost.ID); err == nil {
		t.Errorf("user %d, created after the restore point, is in the restored database", lost.ID)
	}
	journey.All(t, &journey.Target{BaseURL: after.AppURL, Admin: admin})
}
