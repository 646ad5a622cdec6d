package toolchain

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/gopherops/gopherops/service/s3local"
)

// wrapper is a module under <cache>/src/ that requires a tool's module at its
// pinned version and builds the tool's main package from it: the upstream
// modules are libraries to go build, with the replacements of their own
// go.mod restored where go ignores them (in a dependency).
type wrapper struct {
	module  string // the wrapper's module path
	require string // the module it builds from
	version string
	// replaces picks the wrapper's replacements from those of require's go.mod.
	replaces func(upstream []replacement) []replacement
	// files are the wrapper's sources, given require's directory in the module cache.
	files func(moduleDir string) (map[string][]byte, error)
}

func wrapperOf(group string) wrapper {
	switch group {
	case groupPulumi:
		return wrapper{
			module: "gopherops.local/tools/pulumi", require: pulumiModule, version: PulumiVersion,
			replaces: versionedReplaces,
			files:    func(string) (map[string][]byte, error) { return toolsGo(pulumiPackage), nil },
		}
	case groupProvider:
		return wrapper{
			module: "gopherops.local/tools/k8sprovider", require: providerModule, version: KubernetesProviderModuleVersion,
			replaces: versionedReplaces,
			files:    providerFiles,
		}
	case groupKube:
		return wrapper{
			module: "gopherops.local/tools/kube", require: kubernetesModule, version: KubernetesVersion,
			replaces: func(upstream []replacement) []replacement {
				return append(stagingReplaces(upstream, stagingVersion(KubernetesVersion)), versionedReplaces(upstream)...)
			},
			files: func(string) (map[string][]byte, error) {
				var pkgs []string
				for _, t := range tools() {
					if t.group == groupKube {
						pkgs = append(pkgs, kubernetesModule+"/cmd/"+t.name)
					}
				}
				return toolsGo(pkgs...), nil
			},
		}
	case groupCoreDNS:
		return wrapper{
			module: "gopherops.local/tools/coredns", require: coreDNSModule, version: CoreDNSVersion,
			replaces: versionedReplaces,
			files: func(string) (map[string][]byte, error) {
				return map[string][]byte{"main.go": []byte(coreDNSMain)}, nil
			},
		}
	case groupWeed:
		return wrapper{
			module: "gopherops.local/tools/seaweedfs", require: s3local.Module, version: s3local.ModuleVersion,
			replaces: versionedReplaces,
			files:    func(string) (map[string][]byte, error) { return toolsGo(s3local.Package), nil },
		}
	default: // groupEtcd
		return wrapper{
			module: "gopherops.local/tools/etcd", require: etcdModule, version: EtcdVersion,
			replaces: versionedReplaces,
			files: func(string) (map[string][]byte, error) {
				return map[string][]byte{"main.go": []byte(etcdMain)}, nil
			},
		}
	}
}

// etcdMain is the main package of etcd's own main module (go.etcd.io/etcd/v3).
const etcdMain = `// Command etcd is the etcd server, built from ` + etcdModule + `.
package main

import (
	"os"

	"` + etcdMainPackage + `"
)

func main() {
	etcdmain.Main(os.Args)
}
`

// coreDNSMain is CoreDNS with only the plugins the node's Corefile uses:
// upstream's main imports every plugin (cloud DNS providers, tracing
// exporters), which costs minutes of compiling for nothing here.
const coreDNSMain = `// Command coredns is CoreDNS ` + CoreDNSVersion + ` with the plugins of the platform suite's node.
package main

import (
	"` + coreDNSModule + `/coremain"

	_ "` + coreDNSModule + `/plugin/bind"
	_ "` + coreDNSModule + `/plugin/cache"
	_ "` + coreDNSModule + `/plugin/errors"
	_ "` + coreDNSModule + `/plugin/health"
	_ "` + coreDNSModule + `/plugin/kubernetes"
	_ "` + coreDNSModule + `/plugin/log"
	_ "` + coreDNSModule + `/plugin/ready"
)

func main() {
	coremain.Run()
}
`

// toolsGo is a tools.go that imports packages under a build tag, so that
// go mod tidy keeps their dependencies.
func toolsGo(packages ...string) map[string][]byte {
	var b strings.Builder
	b.WriteString("//go:build tools\n\n// Package tools pins the commands this module builds.\npackage tools\n\nimport (\n")
	for _, p := range packages {
		fmt.Fprintf(&b, "\t_ %q\n", p)
	}
	b.WriteString(")\n")
	return map[string][]byte{"tools.go": []byte(b.String())}
}

// providerFiles are the provider's main.go and the two files it embeds, which
// the provider's Makefile generates: the schema stamped with the plugin
// version, and the Terraform mapping, both compact.
func providerFiles(moduleDir string) (map[string][]byte, error) {
	dir, err := os.OpenRoot(filepath.Join(moduleDir, filepath.FromSlash(providerCmdDir)))
	if err != nil {
		return nil, fmt.Errorf("provider sources: %w", err)
	}
	defer dir.Close()
	main, err := dir.ReadFile("main.go")
	if err != nil {
		return nil, fmt.Errorf("provider sources: %w", err)
	}
	schema, err := dir.ReadFile("schema.json")
	if err != nil {
		return nil, fmt.Errorf("provider sources: %w", err)
	}
	stamped, err := stampSchemaVersion(schema, KubernetesProviderVersion)
	if err != nil {
		return nil, fmt.Errorf("provider schema.json: %w", err)
	}
	mapping, err := dir.ReadFile("terraform-mapping.json")
	if err != nil {
		return nil, fmt.Errorf("provider sources: %w", err)
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, mapping); err != nil {
		return nil, fmt.Errorf("provider terraform-mapping.json: %w", err)
	}
	return map[string][]byte{
		"main.go":                      main,
		"schema-embed.json":            stamped,
		"terraform-mapping-embed.json": compact.Bytes(),
	}, nil
}

// stampSchemaVersion is a Pulumi package schema (a JSON object) as compact
// JSON with its top-level "version" set to version; the order of the other
// members is kept, and "version" is added at the end when absent.
func stampSchemaVersion(schema []byte, version string) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(schema))
	tok, err := dec.Token()
	if err != nil {
		return nil, fmt.Errorf("not a JSON object: %w", err)
	}
	if tok != json.Delim('{') {
		return nil, errors.New("not a JSON object")
	}
	var out bytes.Buffer
	out.WriteByte('{')
	member := func(key string, value []byte) error {
		if out.Len() > 1 {
			out.WriteByte(',')
		}
		out.Write(jsonString(key))
		out.WriteByte(':')
		return json.Compact(&out, value)
	}
	stamped := false
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("member name: %w", err)
		}
		key, _ := tok.(string) // object members always start with a string
		var value json.RawMessage
		if err := dec.Decode(&value); err != nil {
			return nil, fmt.Errorf("member %q: %w", key, err)
		}
		if key == "version" {
			value, stamped = jsonString(version), true
		}
		if err := member(key, value); err != nil {
			return nil, fmt.Errorf("member %q: %w", key, err)
		}
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return nil, fmt.Errorf("end of object: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("data after the top-level object")
	}
	if !stamped {
		if err := member("version", jsonString(version)); err != nil {
			return nil, err
		}
	}
	out.WriteByte('}')
	return out.Bytes(), nil
}

// jsonString is s as a JSON string, without the HTML escaping of json.Marshal.
func jsonString(s string) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

// replacement is a replace directive of a go.mod: Old is "path" or "path
// version", New is "path version" or a directory.
type replacement struct {
	Old, New string
}

// local reports whether the replacement points at a directory, which only
// exists in the upstream repository.
func (r replacement) local() bool {
	return len(strings.Fields(r.New)) != 2
}

// parseGoMod returns the replace and godebug directives of a go.mod, block
// or single-line. Comments are dropped; quoted paths are not supported (no
// module built here uses them).
func parseGoMod(data []byte) (replaces []replacement, godebug []string) {
	block := ""
	for line := range strings.Lines(string(data)) {
		if i := strings.Index(line, "//"); i >= 0 {
			line = line[:i]
		}
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		kind := block
		if block != "" {
			if line == ")" {
				block = ""
				continue
			}
		} else {
			verb, rest, _ := strings.Cut(line, " ")
			if verb != "replace" && verb != "godebug" {
				continue
			}
			rest = strings.TrimSpace(rest)
			if rest == "(" {
				block = verb
				continue
			}
			kind, line = verb, rest
		}
		switch kind {
		case "replace":
			if old, repl, ok := strings.Cut(line, "=>"); ok {
				replaces = append(replaces, replacement{
					Old: strings.Join(strings.Fields(old), " "),
					New: strings.Join(strings.Fields(repl), " "),
				})
			}
		case "godebug":
			godebug = append(godebug, strings.Join(strings.Fields(line), ""))
		}
	}
	return replaces, godebug
}

// versionedReplaces are the replacements by another module version, which a
// wrapper can copy (the directory ones only work in the upstream repository).
func versionedReplaces(upstream []replacement) []replacement {
	var out []replacement
	for _, r := range upstream {
		if !r.local() {
			out = append(out, r)
		}
	}
	return out
}

// stagingReplaces turns k8s.io/kubernetes's "k8s.io/X => ./staging/src/k8s.io/X"
// replacements into "k8s.io/X => k8s.io/X <version>": the staging
// directories are published as modules of their own.
func stagingReplaces(upstream []replacement, version string) []replacement {
	var out []replacement
	for _, r := range upstream {
		if strings.HasPrefix(r.Old, "k8s.io/") && r.New == "./staging/src/"+r.Old {
			out = append(out, replacement{Old: r.Old, New: r.Old + " " + version})
		}
	}
	return out
}

// stagingVersion is the version of the staging modules released with a
// Kubernetes version: v1.34.3 gives v0.34.3.
func stagingVersion(kubernetesVersion string) string {
	if rest, ok := strings.CutPrefix(kubernetesVersion, "v1."); ok {
		return "v0." + rest
	}
	return kubernetesVersion
}

// goModFile is the go.mod of a wrapper module.
type goModFile struct {
	Module  string
	Go      string
	Require string // "path version"; empty: none
	Godebug []string
	Replace []replacement
}

func (m goModFile) bytes() []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "// Generated by gopherops test/internal/toolchain; rewritten on every build.\n\nmodule %s\n\ngo %s\n", m.Module, m.Go)
	for _, g := range m.Godebug {
		fmt.Fprintf(&b, "\ngodebug %s\n", g)
	}
	if m.Require != "" {
		fmt.Fprintf(&b, "\nrequire %s\n", m.Require)
	}
	if len(m.Replace) > 0 {
		b.WriteString("\nreplace (\n")
		for _, r := range m.Replace {
			fmt.Fprintf(&b, "\t%s => %s\n", r.Old, r.New)
		}
		b.WriteString(")\n")
	}
	return []byte(b.String())
}
