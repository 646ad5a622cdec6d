package app

import (
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strconv"

	batchv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/batch/v1"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// BackupScript is the backup CronJob's program: pg_dump -Fc onto the
// backup volume, checked with pg_restore --list, newest BACKUP_KEEP kept.
//
//go:embed scripts/backup.sh
var BackupScript string

// RestoreScript is the restore Job's first step: pg_restore of "latest" or
// a named dump into an empty database, before `gopherops migrate up`.
//
//go:embed scripts/restore.sh
var RestoreScript string

// BackupMountPath is where the backup volume is mounted in the backup and
// restore pods.
const BackupMountPath = "/var/lib/gopherops/backups"

// RestoreLatest restores the newest backup.
const RestoreLatest = "latest"

// backupName is the name of every dump the backup CronJob writes.
var backupName = regexp.MustCompile(`^gopherops-[0-9]{8}T[0-9]{6}Z\.dump$`)

// Backup dumps an InClusterDatabase on a schedule onto a volume of its own,
// and restores it from there when RestoreFrom is set.
type Backup struct {
	// Schedule is the CronJob's five-field expression, evaluated in UTC.
	Schedule string
	// RetentionCount is how many dumps are kept.
	RetentionCount int
	// StorageSize is the backup volume's request, e.g. 1Gi.
	StorageSize string
	// StorageClass is the volume's class; empty means the cluster default.
	StorageClass string
	// RestoreFrom, when set ("latest" or a dump's name), creates the restore
	// Job: pg_restore into the (empty) database, then migrations. The
	// migration Job and the server wait for it.
	RestoreFrom string
}

// Resources of the backup and restore containers of the PostgreSQL image.
var (
	backupRequests = map[string]string{"cpu": "50m", "memory": "64Mi"}
	backupLimits   = map[string]string{"cpu": "500m", "memory": "256Mi"}
)

func (bk *Backup) check() error {
	var errs []error
	if bk.Schedule == "" || bk.StorageSize == "" {
		errs = append(errs, errors.New("a backup needs a schedule and a storage size"))
	}
	if bk.RetentionCount < 1 {
		errs = append(errs, fmt.Errorf("a backup must keep at least one dump, not %d", bk.RetentionCount))
	}
	if f := bk.RestoreFrom; f != "" && f != RestoreLatest && !backupName.MatchString(f) {
		errs = append(errs, fmt.Errorf("restore from %q: want %q or a dump's name (gopherops-<yyyymmdd>T<hhmmss>Z.dump)", f, RestoreLatest))
	}
	return errors.Join(errs...)
}

// BackupCronJobName and BackupClaimName are the backup's object names for a workload.
func BackupCronJobName(workload string) string { return workload + "-backup" }

// BackupClaimName is the backup volume's PersistentVolumeClaim.
func BackupClaimName(workload string) string { return workload + "-backups" }

// RestoreJobName is the restore Job's name: one per restore source, so a
// new RestoreFrom runs a new Job and the same one never runs twice.
func RestoreJobName(workload, from string) string {
	sum := sha256.Sum256([]byte(from))
	return workload + "-restore-" + hex.EncodeToString(sum[:])[:10]
}

// databaseEnv are the libpq variables of a client of the in-cluster database.
func (b *builder) databaseEnv() corev1.EnvVarArray {
	pg := b.app.Postgres
	secret := pg.Secret.Metadata.Name().Elem()
	return corev1.EnvVarArray{
		corev1.EnvVarArgs{Name: pulumi.String("PGHOST"), Value: pg.Host},
		corev1.EnvVarArgs{Name: pulumi.String("PGPORT"), Value: pulumi.String(strconv.Itoa(PostgresPort))},
		secretEnv("PGUSER", secret, "username"),
		secretEnv("PGDATABASE", secret, "database"),
		secretEnv("PGPASSWORD", secret, PostgresPasswordKey),
		corev1.EnvVarArgs{Name: pulumi.String("BACKUP_DIR"), Value: pulumi.String(BackupMountPath)},
	}
}

// databaseTool is a container of the PostgreSQL image running one of the
// scripts, as the image's postgres user, with the backup volume mounted.
func (b *builder) databaseTool(name, script string, env corev1.EnvVarArray) corev1.ContainerArgs {
	return corev1.ContainerArgs{
		Name:            pulumi.String(name),
		Image:           pulumi.String(b.args.InClusterDatabase.Image),
		ImagePullPolicy: pulumi.String("IfNotPresent"),
		Command:         pulumi.ToStringArray([]string{"/bin/sh", "-c", script}),
		Env:             env,
		Resources: &corev1.ResourceRequirementsArgs{
			Requests: pulumi.ToStringMap(backupRequests),
			Limits:   pulumi.ToStringMap(backupLimits),
		},
		SecurityContext: restrictedContainer(PostgresUser),
		VolumeMounts: corev1.VolumeMountArray{
			corev1.VolumeMountArgs{Name: pulumi.String("backups"), MountPath: pulumi.String(BackupMountPath)},
			corev1.VolumeMountArgs{Name: pulumi.String("tmp"), MountPath: pulumi.String("/tmp")},
		},
	}
}

// backupVolumes are the backup claim and a scratch /tmp.
func (b *builder) backupVolumes() corev1.VolumeArray {
	return corev1.VolumeArray{
		corev1.VolumeArgs{
			Name: pulumi.String("backups"),
			PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSourceArgs{
				ClaimName: b.app.BackupClaim.Metadata.Name().Elem(),
			},
		},
		corev1.VolumeArgs{Name: pulumi.String("tmp"), EmptyDir: &corev1.EmptyDirVolumeSourceArgs{SizeLimit: pulumi.String("64Mi")}},
	}
}

// backup creates the backup volume and the CronJob that dumps the database
// onto it. Its pods carry the app's labels, so the database's and the
// app's NetworkPolicies let them reach PostgreSQL and DNS, and nothing else.
func (b *builder) backup() error {
	db := b.args.InClusterDatabase
	if db == nil || db.Backup == nil {
		return nil
	}
	bk := db.Backup
	spec := &corev1.PersistentVolumeClaimSpecArgs{
		AccessModes: pulumi.StringArray{pulumi.String("ReadWriteOnce")},
		Resources: &corev1.VolumeResourceRequirementsArgs{
			Requests: pulumi.StringMap{"storage": pulumi.String(bk.StorageSize)},
		},
	}
	if bk.StorageClass != "" {
		spec.StorageClassName = pulumi.String(bk.StorageClass)
	}
	// Bound by its first consumer on many provisioners: do not wait for it.
	pvc, err := corev1.NewPersistentVolumeClaim(b.ctx, b.name+"-backups", &corev1.PersistentVolumeClaimArgs{
		Metadata: b.meta(BackupClaimName(b.args.Name), "backup", pulumi.StringMap{SkipAwaitAnnotation: pulumi.String("true")}),
		Spec:     spec,
	}, b.opts...)
	if err != nil {
		return fmt.Errorf("backup volume: %w", err)
	}
	b.app.BackupClaim = pvc

	env := append(b.databaseEnv(), corev1.EnvVarArgs{Name: pulumi.String("BACKUP_KEEP"), Value: pulumi.String(strconv.Itoa(bk.RetentionCount))})
	cron, err := batchv1.NewCronJob(b.ctx, b.name+"-backup", &batchv1.CronJobArgs{
		Metadata: b.meta(BackupCronJobName(b.args.Name), "backup", nil),
		Spec: &batchv1.CronJobSpecArgs{
			Schedule: pulumi.String(bk.Schedule),
			TimeZone: pulumi.String("Etc/UTC"),
			// One dump at a time; a run missed by more than ten minutes
			// (the controller was down) is skipped, the next one comes.
			ConcurrencyPolicy:          pulumi.String("Forbid"),
			StartingDeadlineSeconds:    pulumi.Int(600),
			SuccessfulJobsHistoryLimit: pulumi.Int(3),
			FailedJobsHistoryLimit:     pulumi.Int(3),
			JobTemplate: &batchv1.JobTemplateSpecArgs{
				Metadata: &metav1.ObjectMetaArgs{Labels: pulumi.ToStringMap(b.labels("backup"))},
				Spec: &batchv1.JobSpecArgs{
					BackoffLimit:          pulumi.Int(2),
					ActiveDeadlineSeconds: pulumi.Int(3600),
					Template: &corev1.PodTemplateSpecArgs{
						Metadata: &metav1.ObjectMetaArgs{Labels: pulumi.ToStringMap(b.labels("backup"))},
						Spec:     b.databaseToolPod(b.databaseTool("backup", BackupScript, env)),
					},
				},
			},
		},
	}, b.with(pulumi.DependsOn([]pulumi.Resource{b.app.Postgres.StatefulSet}))...)
	if err != nil {
		return fmt.Errorf("backup cronjob: %w", err)
	}
	b.app.BackupCronJob = cron
	return nil
}

// databaseToolPod is the pod of a backup: the postgres user, the backup
// volume group-owned by it, no API token, RuntimeDefault seccomp.
func (b *builder) databaseToolPod(container corev1.ContainerArgs) *corev1.PodSpecArgs {
	return &corev1.PodSpecArgs{
		ServiceAccountName:           b.app.Postgres.ServiceAccount.Metadata.Name().Elem(),
		AutomountServiceAccountToken: pulumi.Bool(false),
		EnableServiceLinks:           pulumi.Bool(false),
		RestartPolicy:                pulumi.String("Never"),
		SecurityContext:              databaseToolSecurity(),
		Containers:                   corev1.ContainerArray{container},
		Volumes:                      b.backupVolumes(),
	}
}

func databaseToolSecurity() *corev1.PodSecurityContextArgs {
	return &corev1.PodSecurityContextArgs{
		RunAsNonRoot:        pulumi.Bool(true),
		RunAsUser:           pulumi.Int(PostgresUser),
		RunAsGroup:          pulumi.Int(PostgresUser),
		FsGroup:             pulumi.Int(PostgresUser),
		FsGroupChangePolicy: pulumi.String("OnRootMismatch"),
		SeccompProfile:      &corev1.SeccompProfileArgs{Type: pulumi.String("RuntimeDefault")},
	}
}

// restore creates the restore Job when a restore is asked for: the
// PostgreSQL image restores the dump (init container), then the app's own
// image runs `migrate up`, so the schema is at the binary's version before
// the Job counts as done. The migration Job and the server wait for it.
func (b *builder) restore() error {
	db := b.args.InClusterDatabase
	if db == nil || db.Backup == nil || db.Backup.RestoreFrom == "" {
		return nil
	}
	from := db.Backup.RestoreFrom
	env := append(b.databaseEnv(), corev1.EnvVarArgs{Name: pulumi.String("RESTORE_FROM"), Value: pulumi.String(from)})
	spec := b.podSpec([]string{"migrate", "up"}, false, "Never")
	spec.InitContainers = corev1.ContainerArray{b.databaseTool("restore", RestoreScript, env)}
	spec.Volumes = append(spec.Volumes.(corev1.VolumeArray), b.backupVolumes()[0])
	// The dumps belong to the postgres user and group (0600): the pod's
	// group is theirs; the migrate container still runs as the app's user.
	spec.SecurityContext = &corev1.PodSecurityContextArgs{
		RunAsNonRoot:        pulumi.Bool(true),
		RunAsUser:           pulumi.Int(RunAsUser),
		RunAsGroup:          pulumi.Int(RunAsUser),
		FsGroup:             pulumi.Int(PostgresUser),
		FsGroupChangePolicy: pulumi.String("OnRootMismatch"),
		SeccompProfile:      &corev1.SeccompProfileArgs{Type: pulumi.String("RuntimeDefault")},
	}
	job, err := batchv1.NewJob(b.ctx, b.name+"-restore", &batchv1.JobArgs{
		Metadata: b.meta(RestoreJobName(b.args.Name, from), "restore", nil),
		Spec: &batchv1.JobSpecArgs{
			// Kept (no TTL) as the record of the restore while RestoreFrom is
			// set; a retry finds the database marked and passes.
			BackoffLimit:          pulumi.Int(3),
			ActiveDeadlineSeconds: pulumi.Int(1800),
			Template: &corev1.PodTemplateSpecArgs{
				Metadata: &metav1.ObjectMetaArgs{Labels: pulumi.ToStringMap(b.labels("restore"))},
				Spec:     spec,
			},
		},
	}, b.with(pulumi.DeleteBeforeReplace(true), pulumi.DependsOn(b.databaseDeps()))...)
	if err != nil {
		return fmt.Errorf("restore job: %w", err)
	}
	b.app.RestoreJob = job
	return nil
}
