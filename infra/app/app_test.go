package app_test

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gopherops/gopherops/infra/app"
	"github.com/gopherops/gopherops/infra/internal/mocks"
	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// localArgs are what a non-AWS stack (kind, k3d, minikube) would pass.
func localArgs(p pulumi.ProviderResource) app.Args {
	return app.Args{
		Provider:    p,
		Namespace:   "gopherops",
		Image:       "ghcr.io/gopherops/gopherops:1.2.3",
		MinReplicas: 1,
		MaxReplicas: 2,
		Resources:   app.Resources{CPURequest: "100m", CPULimit: "500m", MemoryRequest: "64Mi", MemoryLimit: "128Mi"},
		DatabaseURL: pulumi.ToSecret(pulumi.String("postgres://gopherops:pw@postgres:5432/gopherops?sslmode=disable")).(pulumi.StringOutput),
		BlobStore:   pulumi.String("file:///tmp/blobs"),
		SessionKey:  pulumi.ToSecret(pulumi.String("c2Vzc2lvbi1rZXk=")).(pulumi.StringOutput),
		ServiceType: "ClusterIP",
		ExtraEnv:    map[string]string{"AWS_ENDPOINT_URL_S3": "http://minio:9000"},
	}
}

func deployApp(t *testing.T, mutate func(*app.Args)) *mocks.Monitor {
	t.Helper()
	mon := mocks.New()
	err := pulumi.RunErr(func(ctx *pulumi.Context) error {
		p, err := kubernetes.NewProvider(ctx, "local", &kubernetes.ProviderArgs{})
		if err != nil {
			return err
		}
		args := localArgs(p)
		if mutate != nil {
			mutate(&args)
		}
		_, err = app.New(ctx, "gopherops", args)
		return err
	}, pulumi.WithMocks("gopherops", "local", mon))
	if err != nil {
		t.Fatalf("app.New: %v", err)
	}
	return mon
}

func TestAppNeedsNoAWS(t *testing.T) {
	mon := deployApp(t, nil)
	for _, r := range mon.All() {
		if strings.HasPrefix(r.Type, "aws:") || strings.HasPrefix(r.Type, "pulumi:providers:aws") {
			t.Errorf("app component registered AWS resource %s", r)
		}
	}
	if calls := mon.Calls(); len(calls) != 0 {
		t.Errorf("app component invoked %v", calls)
	}
	files, _ := filepath.Glob("*.go")
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		parsed, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range parsed.Imports {
			if strings.Contains(imp.Path.Value, "pulumi-aws") {
				t.Errorf("%s imports %s", f, imp.Path.Value)
			}
		}
	}
}

func TestAppLocalShape(t *testing.T) {
	mon := deployApp(t, nil)
	d := mon.ByType("kubernetes:apps/v1:Deployment")
	if len(d) != 1 {
		t.Fatalf("%d deployments", len(d))
	}
	env := map[string]any{}
	envs, _ := d[0].Get("spec.template.spec.containers[0].env")
	for _, e := range envs.([]any) {
		m := e.(map[string]any)
		env[m["name"].(string)] = m["value"]
	}
	if _, ok := env["DATABASE_SECRET_ARN"]; ok {
		t.Error("DATABASE_SECRET_ARN set without a secret ARN")
	}
	if _, ok := env["AWS_REGION"]; ok {
		t.Error("AWS_REGION set without a region")
	}
	if env["AWS_ENDPOINT_URL_S3"] != "http://minio:9000" || env["BLOB_STORE"] != "file:///tmp/blobs" {
		t.Errorf("env = %v", env)
	}
	svc := mon.Get("kubernetes:core/v1:Service", "gopherops")
	if svc == nil || svc.Str("spec.type") != "ClusterIP" {
		t.Fatalf("service type not honoured: %v", svc)
	}
	if ports, _ := svc.Get("spec.ports"); len(ports.([]any)) != 1 {
		t.Errorf("service ports = %v, want http only without HTTPS", ports)
	}
	secret := mon.Get("kubernetes:core/v1:Secret", "gopherops-env")
	if secret == nil || !secret.SecretAt("stringData.DATABASE_URL") {
		t.Error("a DATABASE_URL with credentials reached the engine in plain text")
	}
	if mon.Get("kubernetes:core/v1:Secret", "gopherops-pull") != nil {
		t.Error("pull secret created without credentials")
	}
}

func TestAppSkipAwait(t *testing.T) {
	for _, skip := range []bool{false, true} {
		mon := deployApp(t, func(a *app.Args) {
			a.SkipAwait = skip
			a.ServiceAnnotations = pulumi.StringMap{"example.com/x": pulumi.String("y")}
		})
		n := 0
		for _, r := range mon.All() {
			if !strings.HasPrefix(r.Type, "kubernetes:") {
				continue
			}
			n++
			ann, _ := r.Get("metadata.annotations")
			m, _ := ann.(map[string]any)
			if got := m[app.SkipAwaitAnnotation] == "true"; got != skip {
				t.Errorf("SkipAwait=%v: %s has annotations %v", skip, r, m)
			}
			if r.Type == "kubernetes:core/v1:Service" && r.Name == "gopherops" && m["example.com/x"] != "y" {
				t.Errorf("service annotations lost: %v", m)
			}
		}
		if n < 10 {
			t.Errorf("only %d kubernetes resources", n)
		}
	}
}

func TestAppPullSecretAndHTTPS(t *testing.T) {
	mon := deployApp(t, func(a *app.Args) {
		a.PullCredentials = &app.RegistryCredentials{Server: "ghcr.io", Username: "bot", Password: pulumi.ToSecret(pulumi.String("ghp_x")).(pulumi.StringOutput)}
		a.HTTPS = true
		a.ServiceType = "LoadBalancer"
	})
	ps := mon.Get("kubernetes:core/v1:Secret", "gopherops-pull")
	if ps == nil || ps.Str("type") != "kubernetes.io/dockerconfigjson" {
		t.Fatalf("pull secret = %v", ps)
	}
	if !ps.IsSecret("stringData") {
		t.Error("registry token reached the engine in plain text")
	}
	sd, _ := ps.Get("stringData")
	dockerConfig, _ := sd.(map[string]any)[".dockerconfigjson"].(string)
	if !strings.Contains(dockerConfig, `"ghcr.io"`) || !strings.Contains(dockerConfig, `"username":"bot"`) {
		t.Errorf("docker config = %q", dockerConfig)
	}
	name := ps.Outputs["metadata"].ObjectValue()["name"].StringValue()
	for _, typ := range []string{"kubernetes:apps/v1:Deployment", "kubernetes:batch/v1:Job"} {
		r := mon.ByType(typ)[0]
		if got := r.Str("spec.template.spec.imagePullSecrets[0].name"); got != name {
			t.Errorf("%s pulls with %q, want %q", typ, got, name)
		}
	}
	svc := mon.Get("kubernetes:core/v1:Service", "gopherops")
	if svc.Str("spec.ports[1].name") != "https" {
		t.Errorf("HTTPS port missing: %v", svc.In()["spec"])
	}
}

func TestJobNamePerImage(t *testing.T) {
	cases := []struct {
		a, b string
		same bool
	}{
		{"ghcr.io/o/gopherops:1.0.0", "ghcr.io/o/gopherops:1.0.0", true},
		{"ghcr.io/o/gopherops:1.0.0", "ghcr.io/o/gopherops:1.0.1", false},
		{"ghcr.io/o/gopherops:1.0.0", "ghcr.io/o/gopherops@sha256:" + strings.Repeat("a", 64), false},
	}
	for _, tc := range cases {
		na, nb := app.JobName("gopherops", tc.a), app.JobName("gopherops", tc.b)
		if (na == nb) != tc.same {
			t.Errorf("JobName(%q)=%q, JobName(%q)=%q; same=%v", tc.a, na, tc.b, nb, tc.same)
		}
		if len(na) > 63 || !strings.HasPrefix(na, "gopherops-migrate-") {
			t.Errorf("job name %q is not a valid, recognisable name", na)
		}
	}
}

func TestAppRejectsBadArgs(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*app.Args)
		want   string
	}{
		{"no namespace", func(a *app.Args) { a.Namespace = "" }, "a namespace is required"},
		{"no image", func(a *app.Args) { a.Image = "" }, "an image is required"},
		{"min above max", func(a *app.Args) { a.MinReplicas = 3 }, "replicas"},
		{"bad memory limit", func(a *app.Args) { a.Resources.MemoryLimit = "big" }, "memory limit"},
		{"no provider", func(a *app.Args) { a.Provider = nil }, "a Kubernetes provider is required"},
		{"in-cluster database and an external URL", func(a *app.Args) {
			a.InClusterDatabase = &app.InClusterDatabase{Image: "postgres:17", StorageSize: "1Gi"}
		}, "excludes DatabaseURL"},
		{"in-cluster database without a volume size", func(a *app.Args) {
			a.DatabaseURL = nil
			a.InClusterDatabase = &app.InClusterDatabase{Image: "postgres:17"}
		}, "needs an image and a storage size"},
		{"blob volume without a size", func(a *app.Args) { a.BlobVolume = &app.BlobVolume{} }, "a blob volume needs a size"},
		{"backup keeping nothing", func(a *app.Args) {
			a.DatabaseURL = nil
			a.InClusterDatabase = &app.InClusterDatabase{Image: "postgres:17", StorageSize: "1Gi",
				Backup: &app.Backup{Schedule: "0 * * * *", StorageSize: "1Gi"}}
		}, "at least one dump"},
		{"restore from a path", func(a *app.Args) {
			a.DatabaseURL = nil
			a.InClusterDatabase = &app.InClusterDatabase{Image: "postgres:17", StorageSize: "1Gi",
				Backup: &app.Backup{Schedule: "0 * * * *", StorageSize: "1Gi", RetentionCount: 3, RestoreFrom: "../../etc/passwd"}}
		}, "want \"latest\" or a dump's name"},
		{"both a session key and a generated one", func(a *app.Args) { a.GenerateSessionKey = true }, "one of session key and GenerateSessionKey"},
		{"neither a session key nor a generated one", func(a *app.Args) { a.SessionKey = nil }, "one of session key and GenerateSessionKey"},
		{"a quota the stack does not fit", func(a *app.Args) {
			a.Quota = &app.Quota{RequestsCPU: "100m", RequestsMemory: "1Gi", LimitsCPU: "8", LimitsMemory: "8Gi",
				Storage: "1Gi", Pods: 10, ContainerMaxCPU: "1", ContainerMaxMemory: "1Gi"}
		}, "quota requests.cpu 100m is below the 400m the stack needs at its peak"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := pulumi.RunErr(func(ctx *pulumi.Context) error {
				p, err := kubernetes.NewProvider(ctx, "local", &kubernetes.ProviderArgs{})
				if err != nil {
					return err
				}
				args := localArgs(p)
				tc.mutate(&args)
				_, err = app.New(ctx, "gopherops", args)
				return err
			}, pulumi.WithMocks("gopherops", "local", mocks.New()))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to mention %q", err, tc.want)
			}
		})
	}
}
