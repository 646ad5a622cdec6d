package platform_test

import (
	"strings"
	"testing"

	"github.com/gopherops/gopherops/infra/app"
	"github.com/gopherops/gopherops/infra/internal/mocks"
	"github.com/gopherops/gopherops/infra/platform"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

const (
	tStatefulSet = "kubernetes:apps/v1:StatefulSet"
	tPVC         = "kubernetes:core/v1:PersistentVolumeClaim"
)

// TestLocalStack runs the program for the committed Pulumi.local.yaml: the
// app component of the AWS stacks plus an in-cluster PostgreSQL and a blob
// volume, and nothing that needs AWS.
func TestLocalStack(t *testing.T) {
	r := deployStack(t, "local", nil)
	checks := []struct {
		name  string
		check func(*testing.T, *run)
	}{
		{"no AWS at all", checkLocalNeedsNoAWS},
		{"kubernetes provider", checkLocalProvider},
		{"outputs", checkLocalOutputs},
		{"shared hardening", checkLocalSharedHardening},
		{"postgres statefulset", checkPostgres},
		{"database credentials", checkDatabaseCredentials},
		{"blob volume", checkBlobVolume},
		{"migration waits for the database", checkMigrationAfterDatabase},
		{"network policies", checkLocalNetworkPolicies},
		{"backups", checkBackups},
		{"awaits rollouts by default", checkAwaits(false)},
	}
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) { c.check(t, r) })
	}
}

// TestLocalStackSkipAwait: the switch the platform test uses reaches every
// Kubernetes object of the stack.
func TestLocalStackSkipAwait(t *testing.T) {
	r := deployStack(t, "local", map[string]string{"gopherops:skipAwait": "true"})
	checkAwaits(true)(t, r)
}

// TestLocalStackOnAChosenContext: gopherops:kubeContext selects the
// kubeconfig context, and the storage class reaches both claims.
func TestLocalStackOnAChosenContext(t *testing.T) {
	r := deployStack(t, "local", map[string]string{
		"gopherops:kubeContext":  "kind-gopherops",
		"gopherops:storageClass": "standard",
		"gopherops:serviceType":  "LoadBalancer",
	})
	if got := r.one(t, tK8sProv).Str("context"); got != "kind-gopherops" {
		t.Errorf("provider context = %q, want kind-gopherops", got)
	}
	for _, claim := range []string{"gopherops-local-blobs", "gopherops-local-backups"} {
		if got := r.mon.Get(tPVC, claim).Str("spec.storageClassName"); got != "standard" {
			t.Errorf("%s storage class = %q", claim, got)
		}
	}
	if got := r.one(t, tStatefulSet).Str("spec.volumeClaimTemplates[0].spec.storageClassName"); got != "standard" {
		t.Errorf("database claim storage class = %q", got)
	}
	if host := serviceHost(t, r, "gopherops-local"); host == "" || r.outputs["appUrl"] != "http://"+host {
		t.Errorf("appUrl = %q, want http:// and the Service's load balancer address %q", r.outputs["appUrl"], host)
	}
}

// TestProgramDispatchesOnEnvironment runs Program, the function main.go
// hands to pulumi.Run: the local stack must register no AWS resource, the
// dev stack must build its VPC.
func TestProgramDispatchesOnEnvironment(t *testing.T) {
	cases := []struct {
		stack   string
		wantAWS bool
	}{
		{"local", false},
		{"dev", true},
	}
	for _, tc := range cases {
		t.Run(tc.stack, func(t *testing.T) {
			setStackConfig(t, tc.stack, nil, defaultSecretKeys)
			mon := newMonitor(tc.stack)
			if err := pulumi.RunErr(platform.Program(), pulumi.WithMocks("gopherops", tc.stack, mon)); err != nil {
				t.Fatalf("Program: %v", err)
			}
			aws := 0
			for _, reg := range mon.All() {
				if strings.HasPrefix(reg.Type, "aws:") {
					aws++
				}
			}
			if (aws > 0) != tc.wantAWS {
				t.Errorf("%d AWS resources registered, want AWS = %v", aws, tc.wantAWS)
			}
			if len(mon.ByType(tDeployment)) != 1 {
				t.Errorf("%d Deployments, want the app's one", len(mon.ByType(tDeployment)))
			}
		})
	}
}

func checkLocalNeedsNoAWS(t *testing.T, r *run) {
	for _, reg := range r.mon.All() {
		if strings.HasPrefix(reg.Type, "aws:") || reg.Type == "pulumi:providers:aws" {
			t.Errorf("local stack registered %s", reg)
		}
	}
	if calls := r.mon.Calls(); len(calls) != 0 {
		t.Errorf("local stack invoked %v", calls)
	}
}

func checkLocalProvider(t *testing.T, r *run) {
	p := r.one(t, tK8sProv)
	if got, _ := p.Get("enableServerSideApply"); got != "true" && got != true {
		t.Errorf("provider enableServerSideApply = %v, want true", got)
	}
	if _, ok := p.Get("kubeconfig"); ok {
		t.Error("the local provider must use the ambient kubeconfig, not one from the program")
	}
	if _, ok := p.Get("context"); ok {
		t.Error("a context was set although Pulumi.local.yaml names none")
	}
	for _, reg := range r.mon.All() {
		if strings.HasPrefix(reg.Type, "kubernetes:") && !strings.Contains(reg.Provider, "::local::") {
			t.Errorf("%s uses provider %q, not the stack's explicit one", reg, reg.Provider)
		}
	}
}

func checkLocalOutputs(t *testing.T, r *run) {
	ns := r.cfg.App.Namespace
	want := map[string]string{
		"appUrl":     "http://gopherops." + ns + ".svc",
		"namespace":  ns,
		"dbEndpoint": "gopherops-postgres." + ns + ".svc",
	}
	for name, v := range want {
		if r.outputs[name] != v {
			t.Errorf("output %s = %q, want %q", name, r.outputs[name], v)
		}
		if r.secret[name] {
			t.Errorf("output %s is unexpectedly secret", name)
		}
	}
	if len(r.outputs) != len(want) {
		t.Errorf("outputs = %v, want exactly %v", keys(r.outputs), want)
	}
}

// checkLocalSharedHardening runs the AWS stacks' own checks of the shared
// app component on the local stack.
func checkLocalSharedHardening(t *testing.T, r *run) {
	ns := r.one(t, tNamespace)
	labels, _ := ns.Get("metadata.labels")
	for _, mode := range []string{"enforce", "audit", "warn"} {
		if v := labels.(map[string]any)["pod-security.kubernetes.io/"+mode]; v != "restricted" {
			t.Errorf("namespace pod-security %s = %v, want restricted", mode, v)
		}
	}
	d := r.one(t, tDeployment)
	const c = "spec.template.spec.containers[0]"
	if got := d.Str(c + ".image"); got != r.cfg.App.ImageRef() {
		t.Errorf("image = %q, want %q", got, r.cfg.App.ImageRef())
	}
	for path, want := range map[string]any{
		c + ".securityContext.readOnlyRootFilesystem":     true,
		c + ".securityContext.allowPrivilegeEscalation":   false,
		c + ".securityContext.capabilities.drop[0]":       "ALL",
		"spec.template.spec.securityContext.runAsUser":    float64(app.RunAsUser),
		"spec.template.spec.automountServiceAccountToken": false,
	} {
		if got, _ := d.Get(path); got != want {
			t.Errorf("deployment %s = %v, want %v", path, got, want)
		}
	}
	if got := r.mon.Get(tService, appLogical(r)).Str("spec.type"); got != r.cfg.Local.ServiceType {
		t.Errorf("service type = %q, want %s from the stack file", got, r.cfg.Local.ServiceType)
	}
	hpa := r.one(t, tHPA)
	if mn, _ := hpa.Get("spec.minReplicas"); mn != float64(r.cfg.App.MinReplicas) {
		t.Errorf("hpa minReplicas = %v", mn)
	}
	if len(r.mon.ByType(tPDB)) != 1 || len(r.mon.ByType(tJob)) != 1 {
		t.Error("the local stack lacks the PodDisruptionBudget or the migration Job")
	}
}

func checkPostgres(t *testing.T, r *run) {
	ss := r.one(t, tStatefulSet)
	const c = "spec.template.spec.containers[0]"
	want := map[string]any{
		"metadata.name":    "gopherops-postgres",
		"spec.replicas":    1.0,
		"spec.serviceName": "gopherops-postgres",
		"spec.persistentVolumeClaimRetentionPolicy.whenDeleted":  "Delete",
		"spec.template.spec.securityContext.runAsNonRoot":        true,
		"spec.template.spec.securityContext.runAsUser":           float64(app.PostgresUser),
		"spec.template.spec.securityContext.fsGroup":             float64(app.PostgresUser),
		"spec.template.spec.securityContext.fsGroupChangePolicy": "OnRootMismatch",
		"spec.template.spec.securityContext.seccompProfile.type": "RuntimeDefault",
		"spec.template.spec.automountServiceAccountToken":        false,
		c + ".image": r.cfg.Local.PostgresImage,
		c + ".securityContext.readOnlyRootFilesystem":                  true,
		c + ".securityContext.allowPrivilegeEscalation":                false,
		c + ".securityContext.capabilities.drop[0]":                    "ALL",
		c + ".readinessProbe.exec.command[0]":                          "pg_isready",
		c + ".resources.limits.memory":                                 "512Mi",
		"spec.volumeClaimTemplates[0].spec.accessModes[0]":             "ReadWriteOnce",
		"spec.volumeClaimTemplates[0].spec.resources.requests.storage": r.cfg.Local.PostgresStorageSize,
	}
	for path, w := range want {
		if got, _ := ss.Get(path); got != w {
			t.Errorf("statefulset %s = %v, want %v", path, got, w)
		}
	}
	env := envOf(t, ss, c)
	if env["POSTGRES_PASSWORD"] != "<secret:"+app.PostgresPasswordKey+">" || !strings.HasSuffix(env["PGDATA"], "/pgdata") {
		t.Errorf("postgres env = %v, want the password from its Secret and PGDATA below the mount", env)
	}
	svc := r.mon.Get(tService, appLogical(r)+"-postgres")
	if svc == nil || svc.Str("spec.clusterIP") != "None" {
		t.Fatalf("no headless Service governs the StatefulSet: %v", svc)
	}
}

func checkDatabaseCredentials(t *testing.T, r *run) {
	secret := r.mon.Get(tSecret, appLogical(r)+"-postgres")
	if secret == nil {
		t.Fatal("no database Secret")
	}
	if !secret.SecretAt("stringData." + app.PostgresPasswordKey) {
		t.Error("the generated database password reached the engine in plain text")
	}
	pw := secret.Str("stringData." + app.PostgresPasswordKey)
	if len(pw) < 40 {
		t.Errorf("generated password has %d characters, want 32 random bytes", len(pw))
	}
	env := r.mon.Get(tSecret, appLogical(r)+"-env")
	url := env.Str("stringData.DATABASE_URL")
	if strings.Contains(url, pw) || strings.Contains(url, ":@") || !strings.HasPrefix(url, "postgres://gopherops@gopherops-postgres."+r.cfg.App.Namespace+".svc:5432/gopherops") {
		t.Errorf("DATABASE_URL = %q, want the in-cluster database without credentials", url)
	}
	for _, reg := range []*mocks.Registration{r.one(t, tDeployment), r.one(t, tJob)} {
		e := envOf(t, reg, "spec.template.spec.containers[0]")
		if e["PGPASSWORD"] != "<secret:"+app.PostgresPasswordKey+">" {
			t.Errorf("%s: PGPASSWORD = %q, want a reference to the database Secret", reg, e["PGPASSWORD"])
		}
		if _, ok := e["DATABASE_SECRET_ARN"]; ok {
			t.Errorf("%s sets DATABASE_SECRET_ARN on a stack without AWS", reg)
		}
	}
}

func checkBlobVolume(t *testing.T, r *run) {
	pvc := r.mon.Get(tPVC, appLogical(r)+"-blobs")
	if pvc == nil {
		t.Fatal("no blob claim")
	}
	if got := pvc.Str("spec.resources.requests.storage"); got != r.cfg.Local.BlobStorageSize {
		t.Errorf("blob claim size = %q, want %q", got, r.cfg.Local.BlobStorageSize)
	}
	d := r.one(t, tDeployment)
	const spec = "spec.template.spec"
	env := envOf(t, d, spec+".containers[0]")
	if env["BLOB_STORE"] != "file://"+app.BlobMountPath {
		t.Errorf("BLOB_STORE = %q, want the volume", env["BLOB_STORE"])
	}
	mounted := false
	for _, m := range asAny(mustGet(t, d, spec+".containers[0].volumeMounts")) {
		mounted = mounted || m.(map[string]any)["mountPath"] == app.BlobMountPath
	}
	claimed := false
	for _, v := range asAny(mustGet(t, d, spec+".volumes")) {
		name, _ := mocks.Walk(v, "persistentVolumeClaim.claimName")
		claimed = claimed || name == pvc.Str("metadata.name")
	}
	if !mounted || !claimed {
		t.Errorf("blob volume mounted = %v, claim referenced = %v", mounted, claimed)
	}
	if len(asAny(mustGet(t, r.one(t, tJob), spec+".volumes"))) != 1 {
		t.Error("the migration Job mounts more than its /tmp")
	}
}

func checkMigrationAfterDatabase(t *testing.T, r *run) {
	job := r.one(t, tJob)
	if !job.DependsOn(tStatefulSet, appLogical(r)+"-postgres") || !job.DependsOn(tNetPol, appLogical(r)+"-postgres") {
		t.Errorf("the migration Job does not wait for the database and its policy: %v", job.Dependencies)
	}
	if !r.one(t, tDeployment).DependsOn(tJob, appLogical(r)+"-migrate") {
		t.Error("the Deployment does not wait for the migration Job")
	}
}

func checkLocalNetworkPolicies(t *testing.T, r *run) {
	appPolicy := r.mon.Get(tNetPol, appLogical(r))
	dbPolicy := r.mon.Get(tNetPol, appLogical(r)+"-postgres")
	if appPolicy == nil || dbPolicy == nil || r.mon.Get(tNetPol, appLogical(r)+"-default-deny") == nil {
		t.Fatal("missing one of the default-deny, app and database NetworkPolicies")
	}
	dbLabels := r.one(t, tStatefulSet)
	podLabels, _ := dbLabels.Get("spec.template.metadata.labels")
	appSelector, _ := appPolicy.Get("spec.podSelector.matchLabels")
	if selects(appSelector, podLabels) {
		t.Error("the app's NetworkPolicy also selects the database pods")
	}
	dbSelector, _ := dbPolicy.Get("spec.podSelector.matchLabels")
	if !selects(dbSelector, podLabels) {
		t.Errorf("the database policy's selector %v does not select the database pods %v", dbSelector, podLabels)
	}
	from, _ := dbPolicy.Get("spec.ingress[0].from[0].podSelector.matchLabels")
	serverLabels, _ := r.one(t, tDeployment).Get("spec.template.metadata.labels")
	jobLabels, _ := r.one(t, tJob).Get("spec.template.metadata.labels")
	if !selects(from, serverLabels) || !selects(from, jobLabels) {
		t.Errorf("database ingress %v admits not both the server and the migration Job", from)
	}
	if port, _ := dbPolicy.Get("spec.ingress[0].ports[0].port"); port != 5432.0 {
		t.Errorf("database ingress port = %v", port)
	}
	if eg, ok := dbPolicy.Get("spec.egress"); ok && len(asAny(eg)) > 0 {
		t.Errorf("the database may connect out: %v", eg)
	}
	// The app reaches PostgreSQL only at the database pods.
	found := false
	for _, rule := range asAny(mustGet(t, appPolicy, "spec.egress")) {
		if p, _ := mocks.Walk(rule, "ports[0].port"); p == 5432.0 {
			to, _ := mocks.Walk(rule, "to[0].podSelector.matchLabels")
			found = selects(to, podLabels)
		}
	}
	if !found {
		t.Error("the app's egress to 5432 is not limited to the database pods")
	}
}

// selects reports whether a matchLabels selector selects pods with labels.
func selects(selector, labels any) bool {
	sel, _ := selector.(map[string]any)
	lab, _ := labels.(map[string]any)
	if len(sel) == 0 {
		return false
	}
	for k, v := range sel {
		if lab[k] != v {
			return false
		}
	}
	return true
}

func checkAwaits(skip bool) func(*testing.T, *run) {
	return func(t *testing.T, r *run) {
		for _, typ := range []string{tNamespace, tDeployment, tJob, tStatefulSet, tService, tHPA, tPDB, tNetPol, tSecret, tSA} {
			for _, reg := range r.mon.ByType(typ) {
				annotations, _ := reg.Get("metadata.annotations")
				m, _ := annotations.(map[string]any)
				got := m[app.SkipAwaitAnnotation]
				if (got == "true") != skip {
					t.Errorf("%s: %s = %v, want skipped = %v", reg, app.SkipAwaitAnnotation, got, skip)
				}
			}
		}
	}
}
