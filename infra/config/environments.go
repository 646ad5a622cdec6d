package config

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"strconv"
	"time"

	"github.com/gopherops/gopherops/infra/quantity"
	"github.com/gopherops/gopherops/infra/schedule"
)

// Preview configures a pull request's stack (EnvPR): which pull request it
// is, how many such stacks the cluster holds at most, and the namespace's
// ResourceQuota and LimitRange so that one pull request cannot starve the
// others or the dev stack.
type Preview struct {
	// Number is the pull request's number, from the stack name pr-<number>.
	Number int
	// StackLimit is how many pull-request stacks may be alive at once; the
	// admission step (infra/previews) refuses one more.
	StackLimit int
	// Quota is the namespace's ResourceQuota.
	Quota Quota
	// ContainerMaxCPU and ContainerMaxMemory bound every container (the
	// LimitRange); they are also the defaults of a container that sets none.
	ContainerMaxCPU    string
	ContainerMaxMemory string
}

// Quota is what the pods and claims of one namespace may hold in total.
type Quota struct {
	RequestsCPU    string
	RequestsMemory string
	LimitsCPU      string
	LimitsMemory   string
	// Storage is the total of the PersistentVolumeClaims' requests.
	Storage string
	Pods    int
}

// Backup configures the in-cluster database's backups: a CronJob that runs
// pg_dump in custom format onto a volume of its own and keeps the newest
// RetentionCount dumps, and the restore Job that RestoreFrom creates.
type Backup struct {
	// Schedule is the CronJob's five-field expression, in UTC.
	Schedule string
	// RetentionCount is how many dumps are kept.
	RetentionCount int
	// StorageSize is the backup volume's request.
	StorageSize string
	// RestoreFrom, when set, restores the database from "latest" or a named
	// dump (gopherops-<yyyymmdd>T<hhmmss>Z.dump) before migrations run; it
	// refuses a database that already holds tables.
	RestoreFrom string
}

// RestoreLatest is the RestoreFrom and dbRestoreTime value that means the
// newest backup or restorable time.
const RestoreLatest = "latest"

// BackupNamePattern is the name of every dump the backup CronJob writes.
var BackupNamePattern = regexp.MustCompile(`^gopherops-[0-9]{8}T[0-9]{6}Z\.dump$`)

// DatabaseRestore creates an AWS stack's RDS instance from a snapshot or
// from a point in time of another instance, as a new instance the app is
// then switched to (docs/recovery.md).
type DatabaseRestore struct {
	// Snapshot is a DB snapshot identifier or ARN (manual or rds:... automated).
	Snapshot string
	// Time is an RFC 3339 time, or RestoreLatest, to restore Source to.
	Time string
	// Source is the identifier of the instance whose backups Time reads.
	Source string
}

// IsSet reports whether a restore is configured.
func (r DatabaseRestore) IsSet() bool { return r.Snapshot != "" || r.Time != "" }

// ID names one restore: the restored instance's logical and physical names
// carry it, so a new restore makes a new instance and the same one stays put.
func (r DatabaseRestore) ID() string {
	if !r.IsSet() {
		return ""
	}
	sum := sha256.Sum256([]byte(r.Snapshot + "\x00" + r.Time + "\x00" + r.Source))
	return hex.EncodeToString(sum[:])[:8]
}

// PointInTime is the time to restore to; latest is true for RestoreLatest.
func (r DatabaseRestore) PointInTime() (t time.Time, latest bool, err error) {
	if r.Time == RestoreLatest {
		return time.Time{}, true, nil
	}
	t, err = time.Parse(time.RFC3339, r.Time)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("%q is not an RFC 3339 time such as 2026-03-01T10:30:00Z", r.Time)
	}
	return t.UTC(), false, nil
}

// LatestRestorableLag is how far behind now RDS's latest restorable time
// usually is: the transaction logs are shipped every five minutes.
const LatestRestorableLag = 5 * time.Minute

// CheckRestoreWindow refuses a point in time the source's backups cannot
// reach: later than the latest restorable time or earlier than the backup
// retention allows. The program calls it before it creates the restored
// instance (and not once that instance exists, when the time is history).
func (c *Config) CheckRestoreWindow(now time.Time) error {
	r := c.Database.Restore
	if r.Time == "" {
		return nil
	}
	t, latest, err := r.PointInTime()
	if err != nil {
		return fmt.Errorf("%s:dbRestoreTime: %w", Namespace, err)
	}
	if latest {
		return nil
	}
	newest := now.Add(-LatestRestorableLag)
	oldest := now.Add(-time.Duration(c.Database.BackupRetentionDays) * 24 * time.Hour)
	switch {
	case t.After(newest):
		return fmt.Errorf("%s:dbRestoreTime: %s is after the latest restorable time (about %s ago, %s): pick an earlier time or %q",
			Namespace, t.Format(time.RFC3339), LatestRestorableLag, newest.Format(time.RFC3339), RestoreLatest)
	case t.Before(oldest):
		return fmt.Errorf("%s:dbRestoreTime: %s is outside the %d-day backup retention window (the earliest restorable time is about %s): restore a snapshot instead (%s:dbRestoreSnapshot)",
			Namespace, t.Format(time.RFC3339), c.Database.BackupRetentionDays, oldest.Format(time.RFC3339), Namespace)
	}
	return nil
}

// Stack names and namespaces of pull-request stacks.
const (
	previewStackPrefix     = "pr-"
	previewNamespacePrefix = "gopherops-pr-"
)

var previewStackPattern = regexp.MustCompile(`^pr-([1-9][0-9]{0,8})$`)

// PreviewNamespacePrefix begins the namespace of every pull-request stack:
// the dev cluster grants the pull-request stacks' role the namespaces
// matching PreviewNamespacePrefix+"*", and PreviewNamespacePattern is the
// exact form its admission policy holds the role's own namespaces to.
const (
	PreviewNamespacePrefix  = previewNamespacePrefix
	PreviewNamespacePattern = `^gopherops-pr-[1-9][0-9]{0,8}$`
)

// PreviewStackName is the stack of pull request number.
func PreviewStackName(number int) string { return previewStackPrefix + strconv.Itoa(number) }

// PreviewNamespace is the namespace of pull request number's stack.
func PreviewNamespace(number int) string { return previewNamespacePrefix + strconv.Itoa(number) }

// PreviewNumber is the pull request a stack name pr-<number> belongs to.
func PreviewNumber(stack string) (int, bool) {
	m := previewStackPattern.FindStringSubmatch(stack)
	if m == nil {
		return 0, false
	}
	n, err := strconv.Atoi(m[1])
	return n, err == nil
}

// defaultEnvironment is the stack name, except that every pr-<number> stack
// is a pull request's.
func defaultEnvironment(stack string) string {
	if _, ok := PreviewNumber(stack); ok {
		return EnvPR
	}
	return stack
}

// defaultNamespace is gopherops, and gopherops-pr-<number> for a pull
// request's stack.
func defaultNamespace(env, stack string) string {
	if n, ok := PreviewNumber(stack); ok && env == EnvPR {
		return PreviewNamespace(n)
	}
	return "gopherops"
}

// Keys that belong to one kind of stack only: set anywhere else they would
// be silently ignored, so Parse refuses them.
var (
	previewKeys = []string{"prStackLimit", "quotaRequestsCpu", "quotaRequestsMemory", "quotaLimitsCpu",
		"quotaLimitsMemory", "quotaStorage", "quotaPods", "containerMaxCpu", "containerMaxMemory"}
	backupKeys  = []string{"backupSchedule", "backupRetentionCount", "backupStorageSize", "restoreFrom"}
	restoreKeys = []string{"dbRestoreSnapshot", "dbRestoreTime", "dbRestoreSource"}
)

func (r *reader) preview(stack string) Preview {
	n, _ := PreviewNumber(stack)
	return Preview{
		Number:     n,
		StackLimit: r.integer("prStackLimit", 5),
		Quota: Quota{
			RequestsCPU:    r.str("quotaRequestsCpu", "1"),
			RequestsMemory: r.str("quotaRequestsMemory", "1Gi"),
			LimitsCPU:      r.str("quotaLimitsCpu", "6"),
			LimitsMemory:   r.str("quotaLimitsMemory", "3Gi"),
			Storage:        r.str("quotaStorage", "5Gi"),
			Pods:           r.integer("quotaPods", 12),
		},
		ContainerMaxCPU:    r.str("containerMaxCpu", "1"),
		ContainerMaxMemory: r.str("containerMaxMemory", "1Gi"),
	}
}

func (r *reader) backup() Backup {
	return Backup{
		Schedule:       r.str("backupSchedule", "0 * * * *"),
		RetentionCount: r.integer("backupRetentionCount", 24),
		StorageSize:    r.str("backupStorageSize", "1Gi"),
		RestoreFrom:    r.str("restoreFrom", ""),
	}
}

func (r *reader) databaseRestore() DatabaseRestore {
	return DatabaseRestore{
		Snapshot: r.str("dbRestoreSnapshot", ""),
		Time:     r.str("dbRestoreTime", ""),
		Source:   r.str("dbRestoreSource", ""),
	}
}

// refuseMisplaced reports keys set on a kind of stack that does not use them.
func (r *reader) refuseMisplaced(env string) {
	refuse := func(keys []string, why string) {
		for _, key := range keys {
			if _, ok := r.raw(key); ok {
				r.fail(key, "%s", why)
			}
		}
	}
	if env != EnvPR {
		refuse(previewKeys, "is a setting of pull-request stacks (pr-<number>) only")
	}
	if env != EnvLocal && env != EnvPR {
		refuse(backupKeys, "is a setting of the in-cluster database (local and pr-<number> stacks); AWS stacks back up with RDS (dbBackupRetentionDays) and restore with dbRestoreSnapshot or dbRestoreTime")
	} else {
		refuse(restoreKeys, "is an RDS setting: in-cluster stacks restore with restoreFrom")
	}
}

var (
	// snapshotPattern: a manual snapshot name, an automated rds:<name>, or
	// either's ARN.
	snapshotPattern = regexp.MustCompile(`^(arn:aws[a-z-]*:rds:[a-z0-9-]+:[0-9]{12}:snapshot:)?(rds:)?[A-Za-z][A-Za-z0-9-]{0,254}$`)
	// dbIdentifierPattern is an RDS instance identifier.
	dbIdentifierPattern = regexp.MustCompile(`^[a-z][a-z0-9]*(-[a-z0-9]+)*$`)
)

// maxBackupGap is the longest the backup schedule may leave between two
// dumps: a week of lost writes is the most a stack may risk.
const maxBackupGap = 7 * 24 * time.Hour

// validateBackup checks the in-cluster database's backup and restore settings.
func (c *Config) validateBackup(fail failFunc, k func(string) string) {
	b := c.Backup
	if s, err := schedule.Parse(b.Schedule); err != nil {
		fail(k("backupSchedule"), "%v", err)
	} else if gap, err := s.MaxGap(time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)); err != nil {
		fail(k("backupSchedule"), "%v", err)
	} else if gap > maxBackupGap {
		fail(k("backupSchedule"), "%q leaves up to %s between two backups, more than the %s a stack may lose", b.Schedule, gap, maxBackupGap)
	}
	if n := b.RetentionCount; n < 1 || n > 168 {
		fail(k("backupRetentionCount"), "%d must be between 1 and 168", n)
	}
	if n, err := quantity.MemoryBytes(b.StorageSize); err != nil {
		fail(k("backupStorageSize"), "%v", err)
	} else if n < 64<<20 {
		fail(k("backupStorageSize"), "%s is below 64Mi", b.StorageSize)
	}
	if f := b.RestoreFrom; f != "" && f != RestoreLatest && !BackupNamePattern.MatchString(f) {
		fail(k("restoreFrom"), "%q must be %q or the name of a backup such as gopherops-20260301T030000Z.dump", f, RestoreLatest)
	}
}

// validateDatabaseRestore checks an AWS stack's restore settings; the time
// window is checked against the clock by CheckRestoreWindow.
func (c *Config) validateDatabaseRestore(fail failFunc, k func(string) string) {
	r := c.Database.Restore
	if r.Snapshot != "" && r.Time != "" {
		fail(k("dbRestoreSnapshot"), "and %s are two ways to restore: set one", k("dbRestoreTime"))
	}
	if r.Snapshot != "" && !snapshotPattern.MatchString(r.Snapshot) {
		fail(k("dbRestoreSnapshot"), "%q is not an RDS snapshot identifier or ARN", r.Snapshot)
	}
	if r.Time != "" {
		if _, _, err := r.PointInTime(); err != nil {
			fail(k("dbRestoreTime"), "%v (or %q)", err, RestoreLatest)
		}
		if r.Source == "" {
			fail(k("dbRestoreSource"), "is required with %s: the identifier of the instance whose backups to read (pulumi stack output dbInstanceIdentifier)", k("dbRestoreTime"))
		}
	}
	if r.Source != "" {
		if r.Time == "" {
			fail(k("dbRestoreSource"), "is only used with %s", k("dbRestoreTime"))
		}
		if len(r.Source) > 63 || !dbIdentifierPattern.MatchString(r.Source) {
			fail(k("dbRestoreSource"), "%q is not an RDS instance identifier", r.Source)
		}
	}
}

// validatePreview checks a pull-request stack's name, namespace and limits.
func (c *Config) validatePreview(fail failFunc, k func(string) string) {
	p := c.Preview
	if p.Number == 0 {
		fail(k("environment"), "%q stacks must be named pr-<number> (the pull request's), not %q", EnvPR, c.Stack)
	} else if want := PreviewNamespace(p.Number); c.App.Namespace != want {
		fail(k("namespace"), "%q must be %q: the workflow, the reaper and the quota find a pull request's stack there", c.App.Namespace, want)
	}
	if n := p.StackLimit; n < 1 || n > 50 {
		fail(k("prStackLimit"), "%d must be between 1 and 50", n)
	}
	if n := p.Quota.Pods; n < 4 || n > 100 {
		fail(k("quotaPods"), "%d must be between 4 and 100 (the server, its migration, PostgreSQL and a backup run at once)", n)
	}
	cpu := map[string]string{"quotaRequestsCpu": p.Quota.RequestsCPU, "quotaLimitsCpu": p.Quota.LimitsCPU, "containerMaxCpu": p.ContainerMaxCPU}
	for key, v := range cpu {
		if _, err := quantity.CPUMillis(v); err != nil {
			fail(k(key), "%v", err)
		}
	}
	mem := map[string]string{"quotaRequestsMemory": p.Quota.RequestsMemory, "quotaLimitsMemory": p.Quota.LimitsMemory,
		"quotaStorage": p.Quota.Storage, "containerMaxMemory": p.ContainerMaxMemory}
	for key, v := range mem {
		if n, err := quantity.MemoryBytes(v); err != nil {
			fail(k(key), "%v", err)
		} else if n < 64<<20 {
			fail(k(key), "%s is below 64Mi", v)
		}
	}
	// The app's own containers must fit the LimitRange.
	if limit, err := quantity.CPUMillis(c.App.CPULimit); err == nil {
		if maxCPU, err := quantity.CPUMillis(p.ContainerMaxCPU); err == nil && limit > maxCPU {
			fail(k("cpuLimit"), "%s exceeds %s (%s)", c.App.CPULimit, k("containerMaxCpu"), p.ContainerMaxCPU)
		}
	}
	if limit, err := quantity.MemoryBytes(c.App.MemoryLimit); err == nil {
		if maxMem, err := quantity.MemoryBytes(p.ContainerMaxMemory); err == nil && limit > maxMem {
			fail(k("memoryLimit"), "%s exceeds %s (%s)", c.App.MemoryLimit, k("containerMaxMemory"), p.ContainerMaxMemory)
		}
	}
	if c.Local.ServiceType == "NodePort" {
		fail(k("serviceType"), "NodePort would open a port on every node of the shared cluster for one pull request: use ClusterIP or LoadBalancer")
	}
}
