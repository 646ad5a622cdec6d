package platform_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gopherops/gopherops/infra/app"
	"github.com/gopherops/gopherops/infra/config"
	"github.com/gopherops/gopherops/infra/database"
	"github.com/gopherops/gopherops/infra/internal/mocks"
	"github.com/gopherops/gopherops/infra/platform"
)

const (
	tCronJob    = "kubernetes:batch/v1:CronJob"
	tQuota      = "kubernetes:core/v1:ResourceQuota"
	tLimitRange = "kubernetes:core/v1:LimitRange"
)

// appLogical is the app component's logical name on an in-cluster stack.
func appLogical(r *run) string { return r.cfg.Project + "-" + r.cfg.Stack }

// envRef is the Secret and key an environment variable of a container
// comes from ("" when it is a plain value or absent).
func envRef(t *testing.T, reg *mocks.Registration, container, name string) (secret, key string) {
	t.Helper()
	for _, e := range asAny(mustGet(t, reg, container+".env")) {
		m := e.(map[string]any)
		if m["name"] != name {
			continue
		}
		s, _ := mocks.Walk(m, "valueFrom.secretKeyRef.name")
		k, _ := mocks.Walk(m, "valueFrom.secretKeyRef.key")
		secret, _ = s.(string)
		key, _ = k.(string)
	}
	return secret, key
}

// TestPreviewStack runs the program for a pull request's stack, from the
// committed template Pulumi.pr.yaml as the workflow copies it.
func TestPreviewStack(t *testing.T) {
	r := deployStack(t, "pr-42", nil)
	checks := []struct {
		name  string
		check func(*testing.T, *run)
	}{
		{"no AWS at all", checkLocalNeedsNoAWS},
		{"its own namespace", checkPreviewNamespace},
		{"quota and limit range first", checkPreviewQuota},
		{"a load balancer of the dev cluster's controller", checkPreviewLoadBalancer},
		{"a session key kept in the cluster", checkGeneratedSessionKey},
		{"its own database", checkPostgres},
		{"backups", checkBackups},
		{"shared hardening", checkLocalSharedHardening},
		{"network policies", checkLocalNetworkPolicies},
	}
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) { c.check(t, r) })
	}
}

func checkPreviewNamespace(t *testing.T, r *run) {
	ns := r.one(t, tNamespace)
	if got := ns.Str("metadata.name"); got != "gopherops-pr-42" {
		t.Errorf("namespace = %q, want gopherops-pr-42", got)
	}
	if r.outputs["namespace"] != "gopherops-pr-42" {
		t.Errorf("output namespace = %q", r.outputs["namespace"])
	}
	labels, _ := ns.Get("metadata.labels")
	if got, _ := labels.(map[string]any)["pod-security.kubernetes.io/enforce"]; got != "restricted" {
		t.Errorf("namespace enforces %v, want restricted", got)
	}
}

func checkPreviewQuota(t *testing.T, r *run) {
	q := r.one(t, tQuota)
	want := map[string]string{
		"requests.cpu":           r.cfg.Preview.Quota.RequestsCPU,
		"requests.memory":        r.cfg.Preview.Quota.RequestsMemory,
		"limits.cpu":             r.cfg.Preview.Quota.LimitsCPU,
		"limits.memory":          r.cfg.Preview.Quota.LimitsMemory,
		"requests.storage":       r.cfg.Preview.Quota.Storage,
		"pods":                   "10",
		"persistentvolumeclaims": "3",
		"services.loadbalancers": "1",
	}
	hard, _ := q.Get("spec.hard")
	got, _ := hard.(map[string]any)
	for k, v := range want {
		if got[k] != v {
			t.Errorf("quota %s = %v, want %v", k, got[k], v)
		}
	}
	lr := r.one(t, tLimitRange)
	if c := lr.Str("spec.limits[0].max.cpu"); c != r.cfg.Preview.ContainerMaxCPU {
		t.Errorf("limit range max cpu = %q", c)
	}
	if m := lr.Str("spec.limits[0].max.memory"); m != r.cfg.Preview.ContainerMaxMemory {
		t.Errorf("limit range max memory = %q", m)
	}
	if d := lr.Str("spec.limits[0].default.memory"); d != r.cfg.App.MemoryLimit {
		t.Errorf("limit range default memory = %q, want the server's %q", d, r.cfg.App.MemoryLimit)
	}
	if s := lr.Str("spec.limits[1].max.storage"); s != r.cfg.Preview.Quota.Storage {
		t.Errorf("limit range max claim = %q", s)
	}
	// No pod may be admitted before the bounds exist.
	name := appLogical(r)
	for _, typ := range []string{tDeployment, tStatefulSet, tJob, tCronJob, tPVC} {
		for _, reg := range r.mon.ByType(typ) {
			if !reg.DependsOn(tQuota, name) || !reg.DependsOn(tLimitRange, name) {
				t.Errorf("%s does not wait for the quota and the limit range", reg)
			}
		}
	}
}

func checkPreviewLoadBalancer(t *testing.T, r *run) {
	svc := r.mon.Get(tService, appLogical(r))
	if svc == nil {
		t.Fatal("no Service")
	}
	if svc.Str("spec.type") != "LoadBalancer" || svc.Str("spec.loadBalancerClass") != platform.LoadBalancerClass {
		t.Errorf("service type %q class %q, want a LoadBalancer of %s", svc.Str("spec.type"), svc.Str("spec.loadBalancerClass"), platform.LoadBalancerClass)
	}
	annotations, _ := svc.Get("metadata.annotations")
	if s, _ := annotations.(map[string]any)["service.beta.kubernetes.io/aws-load-balancer-scheme"]; s != "internet-facing" {
		t.Errorf("load balancer scheme = %q, want internet-facing (the address the workflow posts)", s)
	}
}

func checkGeneratedSessionKey(t *testing.T, r *run) {
	sk := r.mon.Get(tSecret, appLogical(r)+"-session")
	if sk == nil {
		t.Fatal("no generated session key Secret")
	}
	if !sk.SecretAt("stringData.SESSION_KEY") || len(sk.Str("stringData.SESSION_KEY")) != 44 {
		t.Error("the generated session key is not a secret of 32 random bytes")
	}
	if env := r.mon.Get(tSecret, appLogical(r)+"-env"); env.Str("stringData.SESSION_KEY") != "" {
		t.Error("the workload Secret holds a session key too")
	}
	secret, key := envRef(t, r.one(t, tDeployment), "spec.template.spec.containers[0]", "SESSION_KEY")
	if secret != sk.Str("metadata.name") || key != "SESSION_KEY" {
		t.Errorf("SESSION_KEY comes from %s/%s, want the generated Secret %s", secret, key, sk.Str("metadata.name"))
	}
}

// checkBackups: the CronJob dumps the in-cluster database with the backup
// script onto a claim of its own, as the postgres user, hardened, on the
// configured schedule in UTC, and its pods may reach the database.
func checkBackups(t *testing.T, r *run) {
	cron := r.one(t, tCronJob)
	const pod = "spec.jobTemplate.spec.template.spec"
	const c = pod + ".containers[0]"
	want := map[string]any{
		"metadata.name":                               "gopherops-backup",
		"spec.schedule":                               r.cfg.Backup.Schedule,
		"spec.timeZone":                               "Etc/UTC",
		"spec.concurrencyPolicy":                      "Forbid",
		pod + ".restartPolicy":                        "Never",
		pod + ".securityContext.runAsUser":            float64(app.PostgresUser),
		pod + ".securityContext.fsGroup":              float64(app.PostgresUser),
		pod + ".automountServiceAccountToken":         false,
		c + ".image":                                  r.cfg.Local.PostgresImage,
		c + ".command[2]":                             app.BackupScript,
		c + ".securityContext.readOnlyRootFilesystem": true,
		c + ".securityContext.capabilities.drop[0]":   "ALL",
		c + ".resources.limits.memory":                "256Mi",
	}
	for path, w := range want {
		if got, _ := cron.Get(path); got != w {
			t.Errorf("cronjob %s = %v, want %v", path, got, w)
		}
	}
	if !strings.Contains(app.BackupScript, "pg_dump -Fc") {
		t.Error("the backup script does not dump in custom format")
	}
	env := envOf(t, cron, c)
	if env["BACKUP_KEEP"] != "24" || env["BACKUP_DIR"] != app.BackupMountPath || !strings.HasPrefix(env["PGHOST"], "gopherops-postgres.") {
		t.Errorf("backup env = %v", env)
	}
	if secret, key := envRef(t, cron, c, "PGPASSWORD"); secret != "gopherops-postgres" || key != app.PostgresPasswordKey {
		t.Errorf("PGPASSWORD from %s/%s, want the database Secret", secret, key)
	}
	claim := r.mon.Get(tPVC, appLogical(r)+"-backups")
	if claim == nil || claim.Str("metadata.name") != "gopherops-backups" || claim.Str("spec.resources.requests.storage") != r.cfg.Backup.StorageSize {
		t.Fatalf("backup claim = %v", claim)
	}
	claimed := false
	for _, v := range asAny(mustGet(t, cron, pod+".volumes")) {
		name, _ := mocks.Walk(v, "persistentVolumeClaim.claimName")
		claimed = claimed || name == "gopherops-backups"
	}
	if !claimed {
		t.Error("the backup pods do not mount the backup claim")
	}
	// The database admits the backup pods, and their egress reaches it.
	dbPolicy := r.mon.Get(tNetPol, appLogical(r)+"-postgres")
	from, _ := dbPolicy.Get("spec.ingress[0].from[0].podSelector.matchLabels")
	labels, _ := cron.Get(pod)
	podLabels, _ := cron.Get("spec.jobTemplate.spec.template.metadata.labels")
	if !selects(from, podLabels) || labels == nil {
		t.Errorf("the database's policy (%v) does not admit the backup pods (%v)", from, podLabels)
	}
	appPolicy := r.mon.Get(tNetPol, appLogical(r))
	sel, _ := appPolicy.Get("spec.podSelector.matchLabels")
	if !selects(sel, podLabels) {
		t.Errorf("the app's egress policy (%v) does not cover the backup pods (%v)", sel, podLabels)
	}
	if !cron.DependsOn(tStatefulSet, appLogical(r)+"-postgres") {
		t.Error("the CronJob does not wait for the database")
	}
	if len(r.mon.ByType(tJob)) != 1 {
		t.Error("a restore Job exists without restoreFrom")
	}
}

// TestRestoreFromBackup: restoreFrom creates the restore Job (the dump into
// the empty database, then `migrate up` with the stack's image) that the
// migration Job waits for.
func TestRestoreFromBackup(t *testing.T) {
	for _, tc := range []struct{ stack, from string }{
		{"local", "latest"},
		{"pr-42", "gopherops-20260301T030000Z.dump"},
	} {
		t.Run(tc.stack, func(t *testing.T) {
			r := deployStack(t, tc.stack, map[string]string{"gopherops:restoreFrom": tc.from})
			job := r.mon.Get(tJob, appLogical(r)+"-restore")
			if job == nil {
				t.Fatal("no restore Job")
			}
			const pod = "spec.template.spec"
			if got := job.Str("metadata.name"); got != app.RestoreJobName("gopherops", tc.from) {
				t.Errorf("restore Job name = %q", got)
			}
			init := pod + ".initContainers[0]"
			if job.Str(init+".image") != r.cfg.Local.PostgresImage || job.Str(init+".command[2]") != app.RestoreScript {
				t.Errorf("the restore step is not the restore script in the PostgreSQL image")
			}
			if env := envOf(t, job, init); env["RESTORE_FROM"] != tc.from {
				t.Errorf("RESTORE_FROM = %q, want %q", env["RESTORE_FROM"], tc.from)
			}
			main := pod + ".containers[0]"
			if job.Str(main+".image") != r.p.Image || job.Str(main+".args[0]") != "migrate" || job.Str(main+".args[1]") != "up" {
				t.Errorf("after the restore the Job runs %s %v, want the stack's image migrating up", job.Str(main+".image"), mustGet(t, job, main+".args"))
			}
			if v, _ := job.Get(pod + ".securityContext.fsGroup"); v != float64(app.PostgresUser) {
				t.Errorf("restore pod fsGroup = %v, want the postgres group that owns the dumps", v)
			}
			if v, _ := job.Get(main + ".securityContext.runAsUser"); v != float64(app.RunAsUser) {
				t.Errorf("the migrate step runs as %v", v)
			}
			if !job.DependsOn(tStatefulSet, appLogical(r)+"-postgres") {
				t.Error("the restore does not wait for the database")
			}
			if !r.mon.Get(tJob, appLogical(r)+"-migrate").DependsOn(tJob, appLogical(r)+"-restore") {
				t.Error("the migration Job does not wait for the restore")
			}
		})
	}
}

// TestPreviewQuotaMustFitTheStack: a quota the stack's own pods exceed at
// their peak is refused before anything is created.
func TestPreviewQuotaMustFitTheStack(t *testing.T) {
	for _, tc := range []struct {
		key, value, want string
	}{
		{"gopherops:quotaLimitsMemory", "1Gi", "limits.memory 1Gi is below"},
		{"gopherops:quotaLimitsCpu", "2", "limits.cpu 2 is below"},
		{"gopherops:quotaPods", "4", "pods 4 is below the 5 pods"},
		{"gopherops:quotaStorage", "2Gi", "requests.storage 2Gi is below"},
		{"gopherops:containerMaxMemory", "300Mi", "container max memory 300Mi is below the 512Mi"},
	} {
		t.Run(tc.key, func(t *testing.T) {
			_, err := runStack(t, "pr-42", map[string]string{tc.key: tc.value})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("program error = %v, want %q", err, tc.want)
			}
		})
	}
}

// restoreAt runs the dev or prod program at a fixed time with the restore
// overrides, the mocked account holding the given RDS instances.
func restoreAt(t *testing.T, stack string, now time.Time, overrides map[string]string, existing ...string) (*run, error) {
	t.Helper()
	mon := newMonitor(stack)
	mon.RDSInstances = append(existing, "gopherops-"+stack+"-0a1b2c3")
	return runStackOn(t, stack, overrides, defaultSecretKeys, mon, platform.WithClock(func() time.Time { return now }))
}

var restoreNow = time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)

// TestDatabaseRestore: a snapshot or a point in time creates a new instance
// in the stack's subnets and security group, encrypted and protected as the
// stack's, and the app is switched to its endpoint and secret.
func TestDatabaseRestore(t *testing.T) {
	cases := []struct {
		name, stack string
		overrides   map[string]string
		check       func(*testing.T, *mocks.Registration)
	}{
		{"dev from a snapshot", "dev", map[string]string{"gopherops:dbRestoreSnapshot": "gopherops-dev-before-upgrade"},
			func(t *testing.T, db *mocks.Registration) {
				if db.Str("snapshotIdentifier") != "gopherops-dev-before-upgrade" {
					t.Errorf("snapshotIdentifier = %q", db.Str("snapshotIdentifier"))
				}
				if _, ok := db.Get("restoreToPointInTime"); ok {
					t.Error("a snapshot restore also restores to a point in time")
				}
			}},
		{"prod to a point in time", "prod", map[string]string{
			"gopherops:dbRestoreTime": "2026-03-09T08:15:00Z", "gopherops:dbRestoreSource": "gopherops-prod-0a1b2c3"},
			func(t *testing.T, db *mocks.Registration) {
				if db.Str("restoreToPointInTime.restoreTime") != "2026-03-09T08:15:00Z" ||
					db.Str("restoreToPointInTime.sourceDbInstanceIdentifier") != "gopherops-prod-0a1b2c3" {
					t.Errorf("restoreToPointInTime = %v", mustGet(t, db, "restoreToPointInTime"))
				}
				if v, _ := db.Get("restoreToPointInTime.useLatestRestorableTime"); v == true {
					t.Error("both a time and the latest time")
				}
				if !db.Protect || !db.RetainOnDelete {
					t.Errorf("prod's restored instance: protect %v, retainOnDelete %v; want both", db.Protect, db.RetainOnDelete)
				}
				if v, _ := db.Get("multiAz"); v != true {
					t.Error("prod's restored instance is single-AZ")
				}
			}},
		{"dev to the latest restorable time", "dev", map[string]string{
			"gopherops:dbRestoreTime": "latest", "gopherops:dbRestoreSource": "gopherops-dev-0a1b2c3"},
			func(t *testing.T, db *mocks.Registration) {
				if v, _ := db.Get("restoreToPointInTime.useLatestRestorableTime"); v != true {
					t.Errorf("restoreToPointInTime = %v", mustGet(t, db, "restoreToPointInTime"))
				}
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, err := restoreAt(t, tc.stack, restoreNow, tc.overrides)
			if err != nil {
				t.Fatalf("program: %v", err)
			}
			id := r.cfg.Database.Restore.ID()
			db := r.one(t, tRDS)
			if !strings.HasSuffix(db.Name, "-restore-"+id) {
				t.Errorf("instance %s: want a logical name of its own for restore %s", db.Name, id)
			}
			if got := db.Str("identifier"); got != database.RestoredIdentifier(r.cfg.Cluster.Name, id) {
				t.Errorf("identifier = %q", got)
			}
			if db.Str("dbName") != "" || db.Str("username") != "" {
				t.Errorf("a restore names a database %q or user %q: both come from the backup", db.Str("dbName"), db.Str("username"))
			}
			subnets := r.one(t, "aws:rds/subnetGroup:SubnetGroup")
			sg := r.mon.Get("aws:ec2/securityGroup:SecurityGroup", "gopherops-"+tc.stack)
			if db.Str("dbSubnetGroupName") != subnets.Outputs["name"].StringValue() {
				t.Errorf("subnet group %q, want the stack's %q", db.Str("dbSubnetGroupName"), subnets.Outputs["name"].StringValue())
			}
			if got := strs(mustGet(t, db, "vpcSecurityGroupIds")); sg == nil || !slices.Equal(got, []string{sg.ID}) {
				t.Errorf("security groups %v, want the database's own", got)
			}
			for path, want := range map[string]any{
				"storageEncrypted":         true,
				"publiclyAccessible":       false,
				"manageMasterUserPassword": true,
				"deletionProtection":       r.cfg.Database.DeletionProtection,
				"backupRetentionPeriod":    float64(r.cfg.Database.BackupRetentionDays),
			} {
				if got, _ := db.Get(path); got != want {
					t.Errorf("%s = %v, want %v", path, got, want)
				}
			}
			tc.check(t, db)
			// The app runs on the new instance: its address and its secret.
			addr := db.Outputs["address"].StringValue()
			env := r.mon.Get(tSecret, "gopherops-"+tc.stack+"-env")
			if !strings.Contains(env.Str("stringData.DATABASE_URL"), addr) {
				t.Errorf("DATABASE_URL %q is not the restored instance %s", env.Str("stringData.DATABASE_URL"), addr)
			}
			dep := r.one(t, tDeployment)
			if e := envOf(t, dep, "spec.template.spec.containers[0]"); e["DATABASE_SECRET_ARN"] != mocks.RestoredRDSSecret {
				t.Errorf("DATABASE_SECRET_ARN = %q, want the restored instance's secret", e["DATABASE_SECRET_ARN"])
			}
			if r.outputs[platform.OutputDBEndpoint] != addr || r.outputs[platform.OutputDBSecretArn] != mocks.RestoredRDSSecret {
				t.Errorf("outputs dbEndpoint %q, dbSecretArn %q", r.outputs[platform.OutputDBEndpoint], r.outputs[platform.OutputDBSecretArn])
			}
			if r.one(t, tJob).Str("metadata.name") == app.JobName("gopherops", r.p.Image) {
				t.Error("the restored database is not migrated by a Job of its own")
			}
		})
	}
}

// TestDatabaseRestoreWindow: a time the source's backups cannot reach is
// refused before anything is created, unless the restored instance exists
// already (then the time is history).
func TestDatabaseRestoreWindow(t *testing.T) {
	old := map[string]string{"gopherops:dbRestoreTime": "2026-01-20T08:00:00Z", "gopherops:dbRestoreSource": "gopherops-prod-0a1b2c3"}
	r, err := restoreAt(t, "prod", restoreNow, old)
	if err == nil || !strings.Contains(err.Error(), "outside the 30-day backup retention window") {
		t.Fatalf("program error = %v, want the retention window refusal", err)
	}
	if r != nil && len(r.mon.ByType(tRDS)) != 0 {
		t.Error("an instance was registered before the refusal")
	}
	future := map[string]string{"gopherops:dbRestoreTime": "2026-03-10T13:00:00Z", "gopherops:dbRestoreSource": "gopherops-prod-0a1b2c3"}
	if _, err := restoreAt(t, "prod", restoreNow, future); err == nil || !strings.Contains(err.Error(), "after the latest restorable time") {
		t.Errorf("a future time: %v", err)
	}
	cfgID := config.DatabaseRestore{Time: old["gopherops:dbRestoreTime"], Source: old["gopherops:dbRestoreSource"]}.ID()
	done := database.RestoredIdentifier("gopherops-prod", cfgID)
	if _, err := restoreAt(t, "prod", restoreNow, old, done); err != nil {
		t.Errorf("the restored instance exists, yet its time is refused: %v", err)
	}
}

// TestRestoredIdentifier: always a valid RDS identifier.
func TestRestoredIdentifier(t *testing.T) {
	for base, want := range map[string]string{
		"gopherops-prod":         "gopherops-prod-r0a1b2c3d",
		"GopherOps_Prod":         "gopherops-prod-r0a1b2c3d",
		"9lives":                 "db-9lives-r0a1b2c3d",
		strings.Repeat("a-", 40): strings.TrimRight(strings.Repeat("a-", 25), "-") + "-r0a1b2c3d",
		"team--gopherops":        "team-gopherops-r0a1b2c3d",
	} {
		if got := database.RestoredIdentifier(base, "0a1b2c3d"); got != want {
			t.Errorf("RestoredIdentifier(%q) = %q, want %q", base, got, want)
		}
	}
}
