package delivery_test

import (
	"context"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
)

// loadCompose loads compose.yaml the way `docker compose` does, with the given
// profiles active and only the given variables in the environment.
func loadCompose(t *testing.T, profiles []string, env ...string) *types.Project {
	t.Helper()
	root := repoRoot(t)
	opts, err := cli.NewProjectOptions(
		[]string{filepath.Join(root, "compose.yaml")},
		cli.WithWorkingDirectory(root),
		cli.WithEnv(env),
		cli.WithProfiles(profiles),
		cli.WithResolvedPaths(true),
	)
	if err != nil {
		t.Fatalf("compose options: %v", err)
	}
	project, err := opts.LoadProject(context.Background())
	if err != nil {
		t.Fatalf("load compose.yaml: %v", err)
	}
	return project
}

// service returns one service of the project or fails the test.
func service(t *testing.T, p *types.Project, name string) types.ServiceConfig {
	t.Helper()
	s, ok := p.Services[name]
	if !ok {
		t.Fatalf("compose.yaml has no enabled service %q", name)
	}
	return s
}

// env returns a service's environment variable ("" when unset).
func env(s types.ServiceConfig, key string) string {
	if v, ok := s.Environment[key]; ok && v != nil {
		return *v
	}
	return ""
}

// oneShots run to completion; every other service is long-running.
var oneShots = []string{"migrate"}

func TestComposeServicesAndProfiles(t *testing.T) {
	cases := []struct {
		name     string
		profiles []string
		enabled  []string
		disabled []string
	}{
		{
			name:     "plain docker compose up",
			enabled:  []string{"app", "db", "migrate", "s3"},
			disabled: []string{"grafana", "prometheus"},
		},
		{
			name:     "observability profile",
			profiles: []string{"observability"},
			enabled:  []string{"app", "db", "grafana", "migrate", "prometheus", "s3"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := loadCompose(t, tc.profiles)
			if got := p.ServiceNames(); !slices.Equal(sorted(got), tc.enabled) {
				t.Errorf("enabled services %v, want %v", sorted(got), tc.enabled)
			}
			if got := p.DisabledServiceNames(); !slices.Equal(sorted(got), tc.disabled) {
				t.Errorf("disabled services %v, want %v", sorted(got), tc.disabled)
			}
		})
	}
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	if s == nil {
		return []string{}
	}
	return s
}

func TestComposeHealthchecksAndRestarts(t *testing.T) {
	p := loadCompose(t, []string{"observability"})
	for name, s := range p.Services {
		t.Run(name, func(t *testing.T) {
			if slices.Contains(oneShots, name) {
				if s.Restart != "no" {
					t.Errorf("one-shot service restarts %q, want \"no\"", s.Restart)
				}
				return
			}
			if s.HealthCheck == nil || s.HealthCheck.Disable || len(s.HealthCheck.Test) < 2 {
				t.Fatalf("long-running service without a healthcheck: %+v", s.HealthCheck)
			}
			if kind := s.HealthCheck.Test[0]; kind != "CMD" && kind != "CMD-SHELL" {
				t.Errorf("healthcheck test starts with %q", kind)
			}
			if s.HealthCheck.Interval == nil || s.HealthCheck.Retries == nil {
				t.Error("healthcheck without interval or retries")
			}
			if s.Restart != "unless-stopped" {
				t.Errorf("restart %q, want unless-stopped", s.Restart)
			}
		})
	}
}

func TestComposeDependencies(t *testing.T) {
	p := loadCompose(t, []string{"observability"})
	cases := []struct {
		service string
		want    map[string]string
	}{
		{service: "app", want: map[string]string{
			"db":      types.ServiceConditionHealthy,
			"migrate": types.ServiceConditionCompletedSuccessfully,
			// Healthy means the avatars bucket exists (see the s3 healthcheck).
			"s3": types.ServiceConditionHealthy,
		}},
		{service: "migrate", want: map[string]string{"db": types.ServiceConditionHealthy}},
		{service: "grafana", want: map[string]string{"prometheus": types.ServiceConditionHealthy}},
	}
	for _, tc := range cases {
		t.Run(tc.service, func(t *testing.T) {
			s := service(t, p, tc.service)
			got := map[string]string{}
			for dep, cfg := range s.DependsOn {
				got[dep] = cfg.Condition
			}
			for dep, cond := range tc.want {
				if got[dep] != cond {
					t.Errorf("depends on %s with condition %q, want %q", dep, got[dep], cond)
				}
			}
		})
	}
}

// TestComposeOneShotsAreAdopted: `docker compose up --wait` counts a one-shot's
// exit as success only when a long-running service waits for its completion.
func TestComposeOneShotsAreAdopted(t *testing.T) {
	for _, profiles := range [][]string{nil, {"observability"}} {
		p := loadCompose(t, profiles)
		for _, oneShot := range oneShots {
			adopted := false
			for name, s := range p.Services {
				if slices.Contains(oneShots, name) {
					continue
				}
				if dep, ok := s.DependsOn[oneShot]; ok && dep.Condition == types.ServiceConditionCompletedSuccessfully {
					adopted = true
				}
			}
			if !adopted {
				t.Errorf("profiles %v: no long-running service waits for %s to complete", profiles, oneShot)
			}
		}
	}
}

func TestComposeGopherOpsImageAndConfig(t *testing.T) {
	cases := []struct {
		name  string
		env   []string
		image string
	}{
		{name: "default development image", image: "gopherops:dev"},
		{name: "image chosen by CI", env: []string{"GOPHEROPS_IMAGE=ghcr.io/gopherops/gopherops@sha256:abc"}, image: "ghcr.io/gopherops/gopherops@sha256:abc"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := loadCompose(t, nil, tc.env...)
			for _, name := range []string{"app", "migrate"} {
				s := service(t, p, name)
				if s.Image != tc.image {
					t.Errorf("%s image %q, want %q", name, s.Image, tc.image)
				}
				if s.Build == nil || s.Build.Context != repoRoot(t) || filepath.Base(s.Build.Dockerfile) != "Dockerfile" {
					t.Errorf("%s is not built from the repository's Dockerfile: %+v", name, s.Build)
				}
				if got := env(s, "APP_ENV"); got != "development" {
					t.Errorf("%s APP_ENV %q", name, got)
				}
				if !strings.Contains(env(s, "DATABASE_URL"), "@db:5432/") {
					t.Errorf("%s DATABASE_URL does not point at the db service", name)
				}
			}
		})
	}

	p := loadCompose(t, nil)
	if got := service(t, p, "migrate").Command; !slices.Equal(got, []string{"migrate", "up"}) {
		t.Errorf("migrate runs %v, want [migrate up]", got)
	}
	app := service(t, p, "app")
	if got := app.Command; !slices.Equal(got, []string{"serve"}) {
		t.Errorf("app runs %v, want [serve]", got)
	}
	wantEnv := map[string]string{
		"HTTP_ADDR":           ":8080",
		"ADMIN_ADDR":          ":9090",
		"MIGRATE_ON_START":    "false",
		"BLOB_STORE":          "s3://avatars/",
		"AWS_ENDPOINT_URL_S3": "http://s3:8333",
		"CREATE_DEV_ADMIN":    "true",
	}
	for k, v := range wantEnv {
		if got := env(app, k); got != v {
			t.Errorf("app %s = %q, want %q", k, got, v)
		}
	}
	if env(app, "SESSION_KEY") != "" {
		t.Error("app sets SESSION_KEY: development generates one per process; no key belongs in Git")
	}
	// The object store creates the bucket BLOB_STORE names and reports
	// healthy only once it exists; the app waits for that.
	s3 := service(t, p, "s3")
	bucket := strings.Trim(strings.TrimPrefix(env(app, "BLOB_STORE"), "s3://"), "/")
	if got := env(s3, "S3_BUCKET"); got != bucket {
		t.Errorf("s3 creates bucket %q, BLOB_STORE names %q", got, bucket)
	}
	if s3.HealthCheck == nil || !strings.HasSuffix(strings.Join(s3.HealthCheck.Test, " "), "/buckets/"+bucket+"/") {
		t.Errorf("s3 healthcheck does not wait for the %s bucket: %+v", bucket, s3.HealthCheck)
	}
	if env(s3, "AWS_ACCESS_KEY_ID") != env(app, "AWS_ACCESS_KEY_ID") || env(s3, "AWS_SECRET_ACCESS_KEY") != env(app, "AWS_SECRET_ACCESS_KEY") {
		t.Error("the app's S3 key pair is not the object store's identity")
	}
	if got := service(t, p, "db").Image; !strings.HasPrefix(got, "postgres:17.") {
		t.Errorf("db image %q, want postgres:17.x (the RDS major version)", got)
	}
}

func TestComposePortsAndVolumes(t *testing.T) {
	p := loadCompose(t, []string{"observability"})
	published := map[string]uint32{"app": 8080, "prometheus": 9090, "grafana": 3000, "db": 5432, "s3": 8333}
	for name, target := range published {
		t.Run(name+" port", func(t *testing.T) {
			s := service(t, p, name)
			found := false
			for _, port := range s.Ports {
				if port.Target == target {
					found = true
					if port.Published != strings.TrimSpace(port.Published) || port.Published == "" {
						t.Errorf("port %d published as %q", target, port.Published)
					}
				}
			}
			if !found {
				t.Errorf("container port %d is not published", target)
			}
		})
	}
	if got := service(t, p, "app").Ports[0].Published; got != "8080" {
		t.Errorf("app published on host port %q, want 8080", got)
	}
	// Development credentials must not be reachable from the network.
	for name, s := range p.Services {
		for _, port := range s.Ports {
			if port.HostIP != "127.0.0.1" {
				t.Errorf("%s publishes %d on %q, want 127.0.0.1", name, port.Target, port.HostIP)
			}
		}
	}

	root := repoRoot(t)
	mounts := []struct {
		service, source, target string
	}{
		{"prometheus", "infra/observability/prometheus", "/etc/prometheus"},
		{"grafana", "infra/observability/grafana/provisioning", "/etc/grafana/provisioning"},
		{"grafana", "infra/observability/grafana/dashboards", "/etc/grafana/dashboards"},
	}
	for _, m := range mounts {
		t.Run(m.service+" mount "+m.target, func(t *testing.T) {
			s := service(t, p, m.service)
			i := slices.IndexFunc(s.Volumes, func(v types.ServiceVolumeConfig) bool { return v.Target == m.target })
			if i < 0 {
				t.Fatalf("nothing mounted at %s", m.target)
			}
			v := s.Volumes[i]
			if v.Type != types.VolumeTypeBind || v.Source != filepath.Join(root, m.source) || !v.ReadOnly {
				t.Errorf("mount %+v, want read-only bind of %s", v, m.source)
			}
		})
	}
	namedVolumes := map[string]string{"db": "/var/lib/postgresql/data", "s3": "/data", "prometheus": "/prometheus", "grafana": "/var/lib/grafana"}
	for name, target := range namedVolumes {
		s := service(t, p, name)
		if !slices.ContainsFunc(s.Volumes, func(v types.ServiceVolumeConfig) bool {
			return v.Type == types.VolumeTypeVolume && v.Target == target
		}) {
			t.Errorf("%s keeps %s outside a named volume", name, target)
		}
	}
}

// devSecret marks the only credentials allowed in compose.yaml.
var devSecret = regexp.MustCompile(`(?i)dev`)

func TestComposeHoldsOnlyDevelopmentCredentials(t *testing.T) {
	p := loadCompose(t, []string{"observability"})
	secretName := regexp.MustCompile(`(?i)(PASSWORD|SECRET|SESSION_KEY|TOKEN)`)
	checked := 0
	for name, s := range p.Services {
		for key, value := range s.Environment {
			if !secretName.MatchString(key) || value == nil {
				continue
			}
			checked++
			if !devSecret.MatchString(*value) {
				t.Errorf("%s: %s does not look like a development-only value", name, key)
			}
		}
		if u := env(s, "DATABASE_URL"); u != "" && !devSecret.MatchString(u) {
			t.Errorf("%s: DATABASE_URL carries a password that is not marked for development", name)
		}
	}
	if checked == 0 {
		t.Error("no credential variables found: the check saw nothing")
	}
}
