package app

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"

	appsv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apps/v1"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	networkingv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/networking/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Identity of the in-cluster PostgreSQL, fixed so that its DNS name, Secret
// and labels are known before any of it exists.
const (
	// PostgresPort is the PostgreSQL listener.
	PostgresPort = 5432
	// PostgresUser is the image's postgres user and group; the Debian-based
	// official image creates it with this id.
	PostgresUser = 999
	// PostgresPasswordKey is the key of the generated password in the database Secret.
	PostgresPasswordKey = "password"
	// postgresDataMount is where the PersistentVolume is mounted; PGDATA is a
	// subdirectory so a filesystem's lost+found never confuses initdb.
	postgresDataMount = "/var/lib/postgresql/data"
)

// InClusterDatabase runs PostgreSQL as a StatefulSet next to the app, for
// clusters without a managed database (the local stack).
type InClusterDatabase struct {
	// Image is a PostgreSQL 17 image of the official Debian-based family.
	Image string
	// StorageSize is the PersistentVolumeClaim's request, e.g. 1Gi.
	StorageSize string
	// StorageClass is the claim's class; empty means the cluster default.
	StorageClass string
	// Database and User default to gopherops.
	Database string
	User     string
	// Backup, when set, dumps the database on a schedule onto a volume of
	// its own (and restores it from there).
	Backup *Backup
}

// BlobVolume keeps the file blob store (avatars) on a PersistentVolumeClaim.
type BlobVolume struct {
	// Size is the claim's request, e.g. 1Gi.
	Size string
	// StorageClass is the claim's class; empty means the cluster default.
	StorageClass string
	// AccessMode defaults to ReadWriteOnce: every replica must then run on
	// one node, which is what kind, k3d and minikube have.
	AccessMode string
}

// BlobMountPath is where a BlobVolume is mounted in the server's pods.
const BlobMountPath = "/var/lib/gopherops/blobs"

// Postgres is what the app component creates for an InClusterDatabase.
type Postgres struct {
	Secret         *corev1.Secret
	ServiceAccount *corev1.ServiceAccount
	Service        *corev1.Service
	StatefulSet    *appsv1.StatefulSet
	NetworkPolicy  *networkingv1.NetworkPolicy
	// Host is the Service's in-cluster DNS name.
	Host pulumi.StringOutput
	// Labels select the database pods (for the app's egress policy).
	Labels map[string]string
}

func (d *InClusterDatabase) defaults() {
	if d.Database == "" {
		d.Database = "gopherops"
	}
	if d.User == "" {
		d.User = "gopherops"
	}
}

// postgresName is the name of every database object of the workload name;
// it is also the Service's, so the app's DATABASE_URL is built from it.
func postgresName(workload string) string { return workload + "-postgres" }

// inClusterURL is the app's DATABASE_URL for the in-cluster database: no
// credentials, the password comes from PGPASSWORD.
func inClusterURL(db *InClusterDatabase, workload, namespace string) string {
	return fmt.Sprintf("postgres://%s@%s.%s.svc:%d/%s?sslmode=disable",
		db.User, postgresName(workload), namespace, PostgresPort, db.Database)
}

// secretEnv is an environment variable read from a key of a Secret.
func secretEnv(name string, secret pulumi.StringInput, key string) corev1.EnvVarArgs {
	return corev1.EnvVarArgs{Name: pulumi.String(name), ValueFrom: &corev1.EnvVarSourceArgs{
		SecretKeyRef: &corev1.SecretKeySelectorArgs{Name: secret, Key: pulumi.String(key)},
	}}
}

// postgresLabels select the database pods; the name differs from the app's so
// no policy or selector of the app ever matches the database.
func (b *builder) postgresLabels() map[string]string {
	return map[string]string{
		"app.kubernetes.io/name":      "postgresql",
		"app.kubernetes.io/instance":  b.args.Name,
		"app.kubernetes.io/component": "database",
	}
}

// generatePassword makes a 32-byte random password, URL-safe so it never
// needs escaping in a connection string.
func generatePassword() (string, error) {
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", fmt.Errorf("generate database password: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(raw), nil
}

// postgres creates the database Secret, ServiceAccount, headless Service,
// StatefulSet and the NetworkPolicy that admits only the app's pods.
func (b *builder) postgres() error {
	db := b.args.InClusterDatabase
	if db == nil {
		return nil
	}
	name := postgresName(b.args.Name)
	logical := b.name + "-postgres"
	labels := b.postgresLabels()
	for k, v := range b.labels("database") {
		if _, ok := labels[k]; !ok {
			labels[k] = v
		}
	}
	pg := &Postgres{Labels: b.postgresLabels()}

	// PostgreSQL takes its password only when it initialises the volume, so
	// the Secret must keep the first password for its whole life: a fresh one
	// is generated on every run, and ignoreChanges keeps the stored one.
	password, err := generatePassword()
	if err != nil {
		return err
	}
	pg.Secret, err = corev1.NewSecret(b.ctx, logical, &corev1.SecretArgs{
		Metadata: b.meta(name, "database", nil),
		Type:     pulumi.String("Opaque"),
		StringData: pulumi.StringMap{
			"username":          pulumi.String(db.User),
			"database":          pulumi.String(db.Database),
			PostgresPasswordKey: pulumi.ToSecret(pulumi.String(password)).(pulumi.StringOutput),
		},
	}, b.with(pulumi.IgnoreChanges([]string{"stringData", "data"}))...)
	if err != nil {
		return fmt.Errorf("database secret: %w", err)
	}

	pg.ServiceAccount, err = corev1.NewServiceAccount(b.ctx, logical, &corev1.ServiceAccountArgs{
		Metadata:                     b.meta(name, "database", nil),
		AutomountServiceAccountToken: pulumi.Bool(false),
	}, b.opts...)
	if err != nil {
		return fmt.Errorf("database service account: %w", err)
	}

	pg.Service, err = corev1.NewService(b.ctx, logical, &corev1.ServiceArgs{
		Metadata: b.meta(name, "database", nil),
		Spec: &corev1.ServiceSpecArgs{
			// Headless: the StatefulSet's governing Service; the name resolves
			// to the one database pod.
			ClusterIP:                pulumi.String("None"),
			PublishNotReadyAddresses: pulumi.Bool(false),
			Selector:                 pulumi.ToStringMap(pg.Labels),
			Ports: corev1.ServicePortArray{corev1.ServicePortArgs{
				Name: pulumi.String("postgres"), Port: pulumi.Int(PostgresPort),
				TargetPort: pulumi.String("postgres"), Protocol: pulumi.String("TCP"),
			}},
		},
	}, b.opts...)
	if err != nil {
		return fmt.Errorf("database service: %w", err)
	}
	pg.Host = pulumi.Sprintf("%s.%s.svc", name, b.app.NamespaceName)

	secretName := pg.Secret.Metadata.Name().Elem()
	ready := &corev1.ProbeArgs{
		Exec: &corev1.ExecActionArgs{Command: pulumi.ToStringArray([]string{
			"pg_isready", "--host=127.0.0.1", "--username=" + db.User, "--dbname=" + db.Database,
		})},
		PeriodSeconds:    pulumi.Int(5),
		TimeoutSeconds:   pulumi.Int(3),
		FailureThreshold: pulumi.Int(3),
	}
	emptyDir := func(name, size string) corev1.VolumeArgs {
		return corev1.VolumeArgs{Name: pulumi.String(name), EmptyDir: &corev1.EmptyDirVolumeSourceArgs{SizeLimit: pulumi.String(size)}}
	}
	claim := corev1.PersistentVolumeClaimSpecArgs{
		AccessModes: pulumi.StringArray{pulumi.String("ReadWriteOnce")},
		Resources: &corev1.VolumeResourceRequirementsArgs{
			Requests: pulumi.StringMap{"storage": pulumi.String(db.StorageSize)},
		},
	}
	if db.StorageClass != "" {
		claim.StorageClassName = pulumi.String(db.StorageClass)
	}
	pg.StatefulSet, err = appsv1.NewStatefulSet(b.ctx, logical, &appsv1.StatefulSetArgs{
		Metadata: b.meta(name, "database", nil),
		Spec: &appsv1.StatefulSetSpecArgs{
			ServiceName: pg.Service.Metadata.Name().Elem(),
			Replicas:    pulumi.Int(1),
			Selector:    &metav1.LabelSelectorArgs{MatchLabels: pulumi.ToStringMap(pg.Labels)},
			PersistentVolumeClaimRetentionPolicy: &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicyArgs{
				// `pulumi destroy` removes the data with the stack; scaling
				// never does.
				WhenDeleted: pulumi.String("Delete"),
				WhenScaled:  pulumi.String("Retain"),
			},
			Template: &corev1.PodTemplateSpecArgs{
				Metadata: &metav1.ObjectMetaArgs{Labels: pulumi.ToStringMap(labels)},
				Spec: &corev1.PodSpecArgs{
					ServiceAccountName:            pg.ServiceAccount.Metadata.Name().Elem(),
					AutomountServiceAccountToken:  pulumi.Bool(false),
					EnableServiceLinks:            pulumi.Bool(false),
					TerminationGracePeriodSeconds: pulumi.Int(30),
					SecurityContext: &corev1.PodSecurityContextArgs{
						RunAsNonRoot: pulumi.Bool(true),
						RunAsUser:    pulumi.Int(PostgresUser),
						RunAsGroup:   pulumi.Int(PostgresUser),
						FsGroup:      pulumi.Int(PostgresUser),
						// Relabel the volume only when its root is not the
						// database's yet: a recursive pass on every start is
						// slow and loosens PGDATA's 0700 (the entrypoint
						// restores it, PostgreSQL refuses to start without).
						FsGroupChangePolicy: pulumi.String("OnRootMismatch"),
						SeccompProfile:      &corev1.SeccompProfileArgs{Type: pulumi.String("RuntimeDefault")},
					},
					Containers: corev1.ContainerArray{corev1.ContainerArgs{
						Name:            pulumi.String("postgres"),
						Image:           pulumi.String(db.Image),
						ImagePullPolicy: pulumi.String("IfNotPresent"),
						Ports: corev1.ContainerPortArray{corev1.ContainerPortArgs{
							Name: pulumi.String("postgres"), ContainerPort: pulumi.Int(PostgresPort), Protocol: pulumi.String("TCP"),
						}},
						Env: corev1.EnvVarArray{
							secretEnv("POSTGRES_USER", secretName, "username"),
							secretEnv("POSTGRES_DB", secretName, "database"),
							secretEnv("POSTGRES_PASSWORD", secretName, PostgresPasswordKey),
							corev1.EnvVarArgs{Name: pulumi.String("PGDATA"), Value: pulumi.String(postgresDataMount + "/pgdata")},
						},
						Resources: &corev1.ResourceRequirementsArgs{
							Requests: pulumi.ToStringMap(postgresRequests),
							Limits:   pulumi.ToStringMap(postgresLimits),
						},
						SecurityContext: restrictedContainer(PostgresUser),
						StartupProbe: &corev1.ProbeArgs{
							Exec:             ready.Exec,
							PeriodSeconds:    pulumi.Int(2),
							TimeoutSeconds:   pulumi.Int(3),
							FailureThreshold: pulumi.Int(60),
						},
						ReadinessProbe: ready,
						LivenessProbe: &corev1.ProbeArgs{
							Exec:             ready.Exec,
							PeriodSeconds:    pulumi.Int(10),
							TimeoutSeconds:   pulumi.Int(5),
							FailureThreshold: pulumi.Int(6),
						},
						VolumeMounts: corev1.VolumeMountArray{
							corev1.VolumeMountArgs{Name: pulumi.String("data"), MountPath: pulumi.String(postgresDataMount)},
							// The root filesystem is read-only: the socket
							// directory and temporary files need their own.
							corev1.VolumeMountArgs{Name: pulumi.String("run"), MountPath: pulumi.String("/var/run/postgresql")},
							corev1.VolumeMountArgs{Name: pulumi.String("tmp"), MountPath: pulumi.String("/tmp")},
						},
					}},
					Volumes: corev1.VolumeArray{emptyDir("run", "16Mi"), emptyDir("tmp", "256Mi")},
				},
			},
			VolumeClaimTemplates: corev1.PersistentVolumeClaimTypeArray{corev1.PersistentVolumeClaimTypeArgs{
				Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String("data"), Labels: pulumi.ToStringMap(pg.Labels)},
				Spec:     claim,
			}},
		},
	}, b.opts...)
	if err != nil {
		return fmt.Errorf("database statefulset: %w", err)
	}

	// The namespace's default-deny covers the database too: only the app's
	// pods (server and migration Job) may connect, and it connects nowhere.
	pg.NetworkPolicy, err = networkingv1.NewNetworkPolicy(b.ctx, logical, &networkingv1.NetworkPolicyArgs{
		Metadata: b.meta(name, "network", nil),
		Spec: &networkingv1.NetworkPolicySpecArgs{
			PodSelector: &metav1.LabelSelectorArgs{MatchLabels: pulumi.ToStringMap(pg.Labels)},
			PolicyTypes: pulumi.StringArray{pulumi.String("Ingress"), pulumi.String("Egress")},
			Ingress: networkingv1.NetworkPolicyIngressRuleArray{networkingv1.NetworkPolicyIngressRuleArgs{
				From: networkingv1.NetworkPolicyPeerArray{networkingv1.NetworkPolicyPeerArgs{
					PodSelector: &metav1.LabelSelectorArgs{MatchLabels: pulumi.ToStringMap(b.appPodLabels())},
				}},
				Ports: networkingv1.NetworkPolicyPortArray{networkingv1.NetworkPolicyPortArgs{
					Protocol: pulumi.String("TCP"), Port: pulumi.Int(PostgresPort),
				}},
			}},
		},
	}, b.opts...)
	if err != nil {
		return fmt.Errorf("database network policy: %w", err)
	}
	b.app.Postgres = pg
	return nil
}

// appPodLabels select every pod of the app (server and migration Job).
func (b *builder) appPodLabels() map[string]string {
	return map[string]string{
		"app.kubernetes.io/name":     b.args.Name,
		"app.kubernetes.io/instance": b.args.Name,
	}
}

// blobVolume creates the PersistentVolumeClaim of a BlobVolume.
func (b *builder) blobVolume() error {
	v := b.args.BlobVolume
	if v == nil {
		return nil
	}
	mode := v.AccessMode
	if mode == "" {
		mode = "ReadWriteOnce"
	}
	spec := &corev1.PersistentVolumeClaimSpecArgs{
		AccessModes: pulumi.StringArray{pulumi.String(mode)},
		Resources: &corev1.VolumeResourceRequirementsArgs{
			Requests: pulumi.StringMap{"storage": pulumi.String(v.Size)},
		},
	}
	if v.StorageClass != "" {
		spec.StorageClassName = pulumi.String(v.StorageClass)
	}
	// A claim binds when its first consumer is scheduled on many
	// provisioners: Pulumi must not wait for it before the Deployment exists.
	annotations := pulumi.StringMap{SkipAwaitAnnotation: pulumi.String("true")}
	pvc, err := corev1.NewPersistentVolumeClaim(b.ctx, b.name+"-blobs", &corev1.PersistentVolumeClaimArgs{
		Metadata: b.meta(b.args.Name+"-blobs", "server", annotations),
		Spec:     spec,
	}, b.opts...)
	if err != nil {
		return fmt.Errorf("blob volume: %w", err)
	}
	b.app.BlobClaim = pvc
	return nil
}
