package delivery_test

import (
	"bytes"
	"go/ast"
	goparser "go/parser"
	"go/token"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
)

// parseDockerfile parses the repository's Dockerfile with BuildKit's own parser.
func parseDockerfile(t *testing.T) ([]instructions.Stage, []instructions.ArgCommand) {
	t.Helper()
	ast, err := parser.Parse(bytes.NewReader(readFile(t, "Dockerfile")))
	if err != nil {
		t.Fatalf("parse Dockerfile: %v", err)
	}
	stages, metaArgs, err := instructions.Parse(ast.AST, nil)
	if err != nil {
		t.Fatalf("instructions: %v", err)
	}
	return stages, metaArgs
}

// commandsOf returns the commands of one type in a stage.
func commandsOf[T instructions.Command](stage instructions.Stage) []T {
	var out []T
	for _, c := range stage.Commands {
		if v, ok := c.(T); ok {
			out = append(out, v)
		}
	}
	return out
}

func TestDockerfileStages(t *testing.T) {
	stages, metaArgs := parseDockerfile(t)
	if len(stages) < 2 {
		t.Fatalf("%d stage(s): the image must be multi-stage", len(stages))
	}
	build, final := stages[0], stages[len(stages)-1]

	t.Run("build stage", func(t *testing.T) {
		if build.Platform != "$BUILDPLATFORM" {
			t.Errorf("build stage platform %q: cross-compile from $BUILDPLATFORM", build.Platform)
		}
		if !strings.HasPrefix(build.BaseName, "golang:") {
			t.Errorf("build stage base %q", build.BaseName)
		}
		if !slices.ContainsFunc(metaArgs, func(a instructions.ArgCommand) bool { return a.Args[0].Key == "GO_VERSION" }) {
			t.Error("no GO_VERSION build argument before FROM")
		}
		var script string
		for _, run := range commandsOf[*instructions.RunCommand](build) {
			script += strings.Join(run.CmdLine, " ") + "\n"
		}
		for _, want := range []string{"go build", "-trimpath", "GOOS=$TARGETOS", "GOARCH=$TARGETARCH", "${VERSION}", "${COMMIT}", "${BUILD_DATE}"} {
			if !strings.Contains(script, want) {
				t.Errorf("no RUN contains %q", want)
			}
		}
		// Every -X must name a string variable that exists, or the linker
		// silently ignores it and the binary reports "dev".
		for _, m := range ldflagX.FindAllStringSubmatch(script, -1) {
			pkg, name := m[1], m[2]
			if !packageHasVar(t, pkg, name) {
				t.Errorf("-X %s.%s: no such package-level variable", pkg, name)
			}
		}
		if n := len(ldflagX.FindAllString(script, -1)); n != 3 {
			t.Errorf("%d -X flags, want version, commit and date", n)
		}
		env := map[string]string{}
		for _, e := range commandsOf[*instructions.EnvCommand](build) {
			for _, kv := range e.Env {
				env[kv.Key] = kv.Value
			}
		}
		if env["CGO_ENABLED"] != "0" {
			t.Errorf("CGO_ENABLED=%q in the build stage, want 0", env["CGO_ENABLED"])
		}
		src := string(readFile(t, "Dockerfile"))
		for _, cache := range []string{"--mount=type=cache,target=/go/pkg/mod", "--mount=type=cache,target=/root/.cache/go-build"} {
			if !strings.Contains(src, cache) {
				t.Errorf("no %s: module and build caches must be mounted", cache)
			}
		}
		args := map[string]bool{}
		for _, a := range commandsOf[*instructions.ArgCommand](build) {
			for _, kv := range a.Args {
				args[kv.Key] = true
			}
		}
		for _, want := range []string{"TARGETOS", "TARGETARCH", "VERSION", "COMMIT", "BUILD_DATE"} {
			if !args[want] {
				t.Errorf("build stage does not declare ARG %s", want)
			}
		}
	})

	t.Run("final stage", func(t *testing.T) {
		if !strings.Contains(final.BaseName, "distroless/static") && final.BaseName != "scratch" {
			t.Errorf("final base %q: want distroless static or scratch", final.BaseName)
		}
		users := commandsOf[*instructions.UserCommand](final)
		if len(users) == 0 {
			t.Fatal("final stage sets no USER")
		}
		user := users[len(users)-1].User
		if name, _, _ := strings.Cut(user, ":"); name == "" || name == "root" || name == "0" {
			t.Errorf("final USER %q is root", user)
		}
		if !regexp.MustCompile(`^[1-9][0-9]*(:[0-9]+)?$`).MatchString(user) {
			t.Errorf("final USER %q is not numeric: Kubernetes runAsNonRoot cannot verify a name", user)
		}

		copies := commandsOf[*instructions.CopyCommand](final)
		if len(copies) != 1 || copies[0].From != build.Name || copies[0].DestPath != "/usr/local/bin/gopherops" {
			t.Errorf("final stage should copy only the binary from %q to /usr/local/bin/gopherops", build.Name)
		}

		entry := commandsOf[*instructions.EntrypointCommand](final)
		if len(entry) != 1 || entry[0].PrependShell || !slices.Equal(entry[0].CmdLine, []string{"/usr/local/bin/gopherops"}) {
			t.Errorf("ENTRYPOINT should be the binary in exec form, got %+v", entry)
		}
		cmd := commandsOf[*instructions.CmdCommand](final)
		if len(cmd) != 1 || !slices.Equal(cmd[0].CmdLine, []string{"serve"}) {
			t.Errorf("CMD should be [serve], got %+v", cmd)
		}

		health := commandsOf[*instructions.HealthCheckCommand](final)
		if len(health) != 1 || health[0].Health == nil {
			t.Fatal("final stage has no HEALTHCHECK")
		}
		if got := health[0].Health.Test; !slices.Equal(got, []string{"CMD", "/usr/local/bin/gopherops", "healthcheck"}) {
			t.Errorf("HEALTHCHECK runs %v, want exec form of gopherops healthcheck (no shell in the image)", got)
		}
		if health[0].Health.Interval <= 0 || health[0].Health.Timeout <= 0 {
			t.Error("HEALTHCHECK without interval or timeout")
		}

		var ports []string
		for _, e := range commandsOf[*instructions.ExposeCommand](final) {
			ports = append(ports, e.Ports...)
		}
		if !slices.Equal(sorted(ports), []string{"8080", "9090"}) {
			t.Errorf("EXPOSE %v, want 8080 and 9090", ports)
		}

		labels := map[string]string{}
		for _, l := range commandsOf[*instructions.LabelCommand](final) {
			for _, kv := range l.Labels {
				labels[kv.Key] = strings.Trim(kv.Value, `"`)
			}
		}
		for key, want := range map[string]string{
			"org.opencontainers.image.source":   "${SOURCE_URL}",
			"org.opencontainers.image.revision": "${COMMIT}",
			"org.opencontainers.image.version":  "${VERSION}",
		} {
			if labels[key] != want {
				t.Errorf("LABEL %s=%q, want %q", key, labels[key], want)
			}
		}
	})
}

// ldflagX matches "-X <import path>.<Var>=" in the build command.
var ldflagX = regexp.MustCompile(`-X (github\.com/gopherops/gopherops/[\w/]+)\.(\w+)=`)

// packageHasVar reports whether the repository package with that import path
// declares a package-level variable of that name.
func packageHasVar(t *testing.T, importPath, name string) bool {
	t.Helper()
	rel, ok := strings.CutPrefix(importPath, "github.com/gopherops/gopherops/")
	if !ok {
		return false
	}
	dir := filepath.Join(repoRoot(t), filepath.FromSlash(rel))
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil || len(files) == 0 {
		return false
	}
	fset := token.NewFileSet()
	for _, file := range files {
		if strings.HasSuffix(file, "_test.go") {
			continue
		}
		f, err := goparser.ParseFile(fset, file, nil, 0)
		if err != nil {
			t.Fatalf("parse %s: %v", file, err)
		}
		for _, decl := range f.Decls {
			gen, ok := decl.(*ast.GenDecl)
			if !ok || gen.Tok != token.VAR {
				continue
			}
			for _, spec := range gen.Specs {
				for _, ident := range spec.(*ast.ValueSpec).Names {
					if ident.Name == name {
						return true
					}
				}
			}
		}
	}
	return false
}

// TestDockerfileHygiene rejects remote ADDs and secrets baked into ARG or ENV,
// where they would end up in the image history.
func TestDockerfileHygiene(t *testing.T) {
	stages, metaArgs := parseDockerfile(t)
	secret := regexp.MustCompile(`(?i)(password|passwd|secret|token|private_?key|access_?key|credential|session_?key|database_url)`)
	check := func(where, key, value string) {
		if secret.MatchString(key) {
			t.Errorf("%s: %s looks like a secret; pass secrets with RUN --mount=type=secret or at run time", where, key)
		}
		if strings.Contains(value, "://") && strings.Contains(value, "@") {
			t.Errorf("%s: %s=%q carries credentials in a URL", where, key, value)
		}
	}
	for _, a := range metaArgs {
		for _, kv := range a.Args {
			check("global ARG", kv.Key, kv.ValueString())
		}
	}
	for _, stage := range stages {
		for _, c := range stage.Commands {
			switch c := c.(type) {
			case *instructions.AddCommand:
				for _, src := range c.SourcePaths {
					if strings.Contains(src, "://") || strings.HasPrefix(src, "git@") {
						t.Errorf("stage %s: ADD of remote %q", stage.Name, src)
					}
				}
			case *instructions.ArgCommand:
				for _, kv := range c.Args {
					check("stage "+stage.Name+" ARG", kv.Key, kv.ValueString())
				}
			case *instructions.EnvCommand:
				for _, kv := range c.Env {
					check("stage "+stage.Name+" ENV", kv.Key, kv.Value)
				}
			}
		}
	}
}

// TestDockerignoreKeepsContextSmall checks the allow-list: only the modules the
// image builds from are sent to the builder.
func TestDockerignoreKeepsContextSmall(t *testing.T) {
	var patterns []string
	for _, line := range strings.Split(string(readFile(t, ".dockerignore")), "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			patterns = append(patterns, line)
		}
	}
	if len(patterns) == 0 || patterns[0] != "*" {
		t.Fatalf(".dockerignore should start by excluding everything, got %v", patterns)
	}
	for _, want := range []string{"!service/", "!migrations/", "**/*_test.go"} {
		if !slices.Contains(patterns, want) {
			t.Errorf(".dockerignore lacks %q", want)
		}
	}
	for _, p := range patterns {
		if p == "!infra/" || p == "!test/" || p == "!.git" || p == "!.github/" {
			t.Errorf(".dockerignore re-includes %q, which the image never needs", p)
		}
	}
}
