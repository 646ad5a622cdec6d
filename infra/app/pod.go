package app

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/gopherops/gopherops/infra/quantity"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// podSpec is the hardened pod shared by the Deployment (serve) and the
// migration Job: non-root, read-only root filesystem with an emptyDir /tmp,
// no capabilities, RuntimeDefault seccomp, no Kubernetes API token.
func (b *builder) podSpec(args []string, serve bool, restartPolicy string) *corev1.PodSpecArgs {
	container := corev1.ContainerArgs{
		Name:            pulumi.String(ContainerName),
		Image:           pulumi.String(b.args.Image),
		ImagePullPolicy: pulumi.String("IfNotPresent"),
		Args:            pulumi.ToStringArray(args),
		Env:             b.env(),
		Resources: &corev1.ResourceRequirementsArgs{
			Requests: pulumi.StringMap{
				"cpu":    pulumi.String(b.args.Resources.CPURequest),
				"memory": pulumi.String(b.args.Resources.MemoryRequest),
			},
			Limits: pulumi.StringMap{
				"cpu":    pulumi.String(b.args.Resources.CPULimit),
				"memory": pulumi.String(b.args.Resources.MemoryLimit),
			},
		},
		SecurityContext: restrictedContainer(RunAsUser),
		VolumeMounts: corev1.VolumeMountArray{
			corev1.VolumeMountArgs{Name: pulumi.String("tmp"), MountPath: pulumi.String("/tmp")},
		},
	}
	spec := &corev1.PodSpecArgs{
		ServiceAccountName:           b.app.ServiceAccount.Metadata.Name().Elem(),
		AutomountServiceAccountToken: pulumi.Bool(false),
		EnableServiceLinks:           pulumi.Bool(false),
		RestartPolicy:                pulumi.String(restartPolicy),
		SecurityContext: &corev1.PodSecurityContextArgs{
			RunAsNonRoot:   pulumi.Bool(true),
			RunAsUser:      pulumi.Int(RunAsUser),
			RunAsGroup:     pulumi.Int(RunAsUser),
			FsGroup:        pulumi.Int(RunAsUser),
			SeccompProfile: &corev1.SeccompProfileArgs{Type: pulumi.String("RuntimeDefault")},
		},
		Volumes: corev1.VolumeArray{
			corev1.VolumeArgs{
				Name:     pulumi.String("tmp"),
				EmptyDir: &corev1.EmptyDirVolumeSourceArgs{SizeLimit: pulumi.String("64Mi")},
			},
		},
	}
	if b.app.PullSecret != nil {
		spec.ImagePullSecrets = corev1.LocalObjectReferenceArray{
			corev1.LocalObjectReferenceArgs{Name: b.app.PullSecret.Metadata.Name().Elem()},
		}
	}
	if serve && b.app.BlobClaim != nil {
		container.VolumeMounts = append(container.VolumeMounts.(corev1.VolumeMountArray),
			corev1.VolumeMountArgs{Name: pulumi.String("blobs"), MountPath: pulumi.String(BlobMountPath)})
		spec.Volumes = append(spec.Volumes.(corev1.VolumeArray), corev1.VolumeArgs{
			Name: pulumi.String("blobs"),
			PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSourceArgs{
				ClaimName: b.app.BlobClaim.Metadata.Name().Elem(),
			},
		})
	}
	if serve {
		container.Ports = corev1.ContainerPortArray{
			corev1.ContainerPortArgs{Name: pulumi.String("http"), ContainerPort: pulumi.Int(HTTPPort), Protocol: pulumi.String("TCP")},
			corev1.ContainerPortArgs{Name: pulumi.String("admin"), ContainerPort: pulumi.Int(AdminPort), Protocol: pulumi.String("TCP")},
		}
		container.StartupProbe = probe("/healthz", 2, 30)
		container.LivenessProbe = probe("/healthz", 10, 3)
		container.ReadinessProbe = probe("/readyz", 5, 2)
		// Keep serving while endpoints and load balancers drop the pod; the
		// image has no shell, so use the kubelet's sleep action.
		container.Lifecycle = &corev1.LifecycleArgs{
			PreStop: &corev1.LifecycleHandlerArgs{Sleep: &corev1.SleepActionArgs{Seconds: pulumi.Int(preStopSeconds)}},
		}
		spec.TerminationGracePeriodSeconds = pulumi.Int(TerminationGracePeriodSeconds(b.args.ShutdownTimeout.Seconds()))
		spec.TopologySpreadConstraints = corev1.TopologySpreadConstraintArray{
			spread("topology.kubernetes.io/zone", b.app.SelectorLabels),
			spread("kubernetes.io/hostname", b.app.SelectorLabels),
		}
	}
	spec.Containers = corev1.ContainerArray{container}
	return spec
}

// restrictedContainer is the container security context of the Pod Security
// "restricted" profile, for the given user and group, with a read-only root
// filesystem on top.
func restrictedContainer(uid int) *corev1.SecurityContextArgs {
	return &corev1.SecurityContextArgs{
		AllowPrivilegeEscalation: pulumi.Bool(false),
		ReadOnlyRootFilesystem:   pulumi.Bool(true),
		RunAsNonRoot:             pulumi.Bool(true),
		RunAsUser:                pulumi.Int(uid),
		RunAsGroup:               pulumi.Int(uid),
		Privileged:               pulumi.Bool(false),
		Capabilities:             &corev1.CapabilitiesArgs{Drop: pulumi.StringArray{pulumi.String("ALL")}},
		SeccompProfile:           &corev1.SeccompProfileArgs{Type: pulumi.String("RuntimeDefault")},
	}
}

// TerminationGracePeriodSeconds covers the preStop pause, the service's own
// drain (SHUTDOWN_TIMEOUT) and a margin, so the kubelet never kills a pod
// that is still draining.
func TerminationGracePeriodSeconds(shutdownSeconds float64) int {
	return preStopSeconds + int(shutdownSeconds+0.5) + 15
}

func probe(path string, period, failures int) *corev1.ProbeArgs {
	return &corev1.ProbeArgs{
		HttpGet:          &corev1.HTTPGetActionArgs{Path: pulumi.String(path), Port: pulumi.String("http")},
		PeriodSeconds:    pulumi.Int(period),
		TimeoutSeconds:   pulumi.Int(2),
		FailureThreshold: pulumi.Int(failures),
	}
}

func spread(topologyKey string, selector map[string]string) corev1.TopologySpreadConstraintArgs {
	return corev1.TopologySpreadConstraintArgs{
		MaxSkew:           pulumi.Int(1),
		TopologyKey:       pulumi.String(topologyKey),
		WhenUnsatisfiable: pulumi.String("ScheduleAnyway"),
		LabelSelector:     &metav1.LabelSelectorArgs{MatchLabels: pulumi.ToStringMap(selector)},
	}
}

// env is the service's runtime contract for a container on Kubernetes.
func (b *builder) env() corev1.EnvVarArray {
	plain := func(name, value string) corev1.EnvVarArgs {
		return corev1.EnvVarArgs{Name: pulumi.String(name), Value: pulumi.String(value)}
	}
	workloadSecret := b.app.Secret.Metadata.Name().Elem()
	// Validated in defaults().
	memLimit, _ := quantity.GoMemLimit(b.args.Resources.MemoryLimit)
	env := corev1.EnvVarArray{
		plain("APP_ENV", "production"),
		plain("HTTP_ADDR", fmt.Sprintf(":%d", HTTPPort)),
		plain("ADMIN_ADDR", fmt.Sprintf(":%d", AdminPort)),
		plain("LOG_FORMAT", "json"),
		plain("LOG_LEVEL", b.args.LogLevel),
		plain("SHUTDOWN_TIMEOUT", b.args.ShutdownTimeout.String()),
		plain("MIGRATE_ON_START", "false"),
		plain("TRUSTED_PROXIES", strings.Join(b.args.TrustedProxies, ",")),
		corev1.EnvVarArgs{Name: pulumi.String("BLOB_STORE"), Value: b.args.BlobStore},
		secretEnv("DATABASE_URL", workloadSecret, "DATABASE_URL"),
		secretEnv("SESSION_KEY", b.sessionKeySecret(), "SESSION_KEY"),
		corev1.EnvVarArgs{
			Name: pulumi.String("GOMAXPROCS"),
			ValueFrom: &corev1.EnvVarSourceArgs{ResourceFieldRef: &corev1.ResourceFieldSelectorArgs{
				ContainerName: pulumi.String(ContainerName),
				Resource:      pulumi.String("limits.cpu"),
				Divisor:       pulumi.String("1"),
			}},
		},
		plain("GOMEMLIMIT", memLimit),
	}
	if pg := b.app.Postgres; pg != nil {
		// libpq semantics: pgx takes the password from PGPASSWORD when the
		// URL has none, so the generated password never leaves its Secret.
		env = append(env, secretEnv("PGPASSWORD", pg.Secret.Metadata.Name().Elem(), PostgresPasswordKey))
	}
	if b.args.DatabaseSecretArn != nil {
		env = append(env, corev1.EnvVarArgs{Name: pulumi.String("DATABASE_SECRET_ARN"), Value: b.args.DatabaseSecretArn})
	}
	if b.args.AWSRegion != "" {
		env = append(env, plain("AWS_REGION", b.args.AWSRegion))
	}
	keys := make([]string, 0, len(b.args.ExtraEnv))
	for k := range b.args.ExtraEnv {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		env = append(env, plain(k, b.args.ExtraEnv[k]))
	}
	return env
}

// sessionKeySecret is the Secret holding SESSION_KEY: the generated one's,
// or the workload Secret.
func (b *builder) sessionKeySecret() pulumi.StringInput {
	if b.app.SessionSecret != nil {
		return b.app.SessionSecret.Metadata.Name().Elem()
	}
	return b.app.Secret.Metadata.Name().Elem()
}

// DockerConfigJSON renders the .dockerconfigjson of an image pull secret.
func DockerConfigJSON(server, username, password string) (string, error) {
	auth := base64.StdEncoding.EncodeToString([]byte(username + ":" + password))
	b, err := json.Marshal(map[string]any{
		"auths": map[string]any{
			server: map[string]string{"username": username, "password": password, "auth": auth},
		},
	})
	if err != nil {
		return "", fmt.Errorf("docker config: %w", err)
	}
	return string(b), nil
}
