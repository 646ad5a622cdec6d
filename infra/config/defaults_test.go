package config

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// repoRoot is the repository root, two levels above infra/config.
var repoRoot = filepath.Join("..", "..")

// committedStacks are the stack files, by the stack name each is parsed as
// (Pulumi.pr.yaml is the template of every pr-<number> stack).
var committedStacks = map[string]string{"dev": "dev", "prod": "prod", "local": "local", "pr": PreviewStackName(1)}

// committedStack is a stack file's settings plus what an operator sets per
// account (the secrets, the runner's connection), ready for Parse.
func committedStack(t *testing.T, file string) (settings, conf map[string]string) {
	t.Helper()
	sf, err := ReadStackFile(filepath.Join(repoRoot, "Pulumi."+file+".yaml"))
	if err != nil {
		t.Fatal(err)
	}
	conf = maps.Clone(sf.Values)
	if file != "pr" {
		conf = with(conf, "gopherops:sessionKey", testSessionKey, "gopherops:grafanaAdminPassword", "a-long-enough-password")
	}
	if sf.Values["gopherops:ciRunner"] == "true" {
		conf["gopherops:githubConnectionArn"] = connectionArn
	}
	return sf.Values, conf
}

// mustParse is Parse of a committed configuration, which must validate.
func mustParse(t *testing.T, conf map[string]string, stack string) *Config {
	t.Helper()
	cfg, err := Parse(FromMap(conf), "gopherops", stack)
	if err != nil {
		t.Fatalf("stack %s: %v", stack, err)
	}
	return cfg
}

// TestStackFilesCarryOnlyDifferences: a stack file sets a key only when its
// value differs from the code's default for that stack. A copy of a default
// is a second place for one value: when the default moves, the copy stays
// behind without anyone noticing. Every key of every committed stack file
// is left out in turn, and the configuration must change.
func TestStackFilesCarryOnlyDifferences(t *testing.T) {
	for file, stack := range committedStacks {
		t.Run(file, func(t *testing.T) {
			settings, conf := committedStack(t, file)
			want := mustParse(t, conf, stack)
			for _, key := range slices.Sorted(maps.Keys(settings)) {
				if !strings.HasPrefix(key, Namespace+":") {
					continue
				}
				got, err := Parse(FromMap(with(conf, key, "<delete>")), "gopherops", stack)
				if err == nil && sameConfig(got, want) {
					t.Errorf("Pulumi.%s.yaml: %s: %s is the default; leave it out (defaults live in infra/config)", file, key, settings[key])
				}
			}
		})
	}
}

// TestComposeRunsThePinnedPostgres: compose's database is the image the
// in-cluster stacks run by default, pinned in one place (versions.go).
func TestComposeRunsThePinnedPostgres(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(repoRoot, "compose.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var compose struct {
		Services map[string]struct {
			Image string `yaml:"image"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(raw, &compose); err != nil {
		t.Fatal(err)
	}
	if got := compose.Services["db"].Image; got != PostgresImage {
		t.Errorf("compose.yaml's db runs %q, the stacks %q (infra/config/versions.go): pin it in one place", got, PostgresImage)
	}
}

// docTable is one Markdown table of a docs page.
type docTable struct {
	header []string
	rows   [][]string
}

// readDocTables returns the pipe tables of a docs page, cells trimmed.
func readDocTables(t *testing.T, page string) []docTable {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(repoRoot, "docs", page))
	if err != nil {
		t.Fatal(err)
	}
	var tables []docTable
	var cur *docTable
	for _, line := range strings.Split(string(raw), "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "|") {
			cur = nil
			continue
		}
		cells := splitRow(line)
		switch {
		case cur == nil:
			tables = append(tables, docTable{header: cells})
			cur = &tables[len(tables)-1]
		case strings.Trim(strings.Join(cells, ""), "-: ") == "":
			// the separator row
		default:
			cur.rows = append(cur.rows, cells)
		}
	}
	return tables
}

// splitRow splits a table row on the pipes that are not escaped (\|).
func splitRow(line string) []string {
	const escaped = "\x00"
	line = strings.ReplaceAll(line, `\|`, escaped)
	parts := strings.Split(strings.Trim(line, "|"), "|")
	for i, p := range parts {
		parts[i] = strings.TrimSpace(strings.ReplaceAll(p, escaped, "|"))
	}
	return parts
}

var backticked = regexp.MustCompile("`([^`]*)`")

// docKeys are the gopherops keys a table row is about, in order, and the
// separator between them ("/" or ","); aws: keys are not the program's.
func docKeys(cell string) (keys []string, sep string) {
	sep = ", "
	if strings.Contains(cell, " / ") {
		sep = " / "
	}
	for _, m := range backticked.FindAllStringSubmatch(cell, -1) {
		k := strings.TrimPrefix(m[1], Namespace+":")
		if strings.Contains(k, ":") {
			return nil, sep
		}
		keys = append(keys, k)
	}
	return keys, sep
}

// proseValues are the words the tables use instead of a value.
var proseValues = []string{"", "—", "-", "default", "same", "✓", "on", "off", "(required)"}

// docValues are the values a cell gives its row's keys, in order; ok is
// false when the cell does not give one literal value per key (prose, a
// placeholder, or one word for several keys).
func docValues(cell, sep string, n int) (values []string, ok bool) {
	// One quoted value is literal, spaces and all (`0 * * * *`).
	if strings.Count(cell, "`") == 2 && strings.HasPrefix(cell, "`") && strings.HasSuffix(cell, "`") && n == 1 && !strings.Contains(cell, "<") {
		return []string{strings.Trim(cell, "`")}, true
	}
	parts := strings.Split(cell, strings.TrimSpace(sep))
	if len(parts) != n {
		return nil, false
	}
	for _, p := range parts {
		p = strings.Trim(strings.TrimSpace(p), "`")
		if slices.Contains(proseValues, p) || strings.ContainsAny(p, " <(") {
			return nil, false
		}
		// [t3.medium] as the loader reads a list: JSON.
		if strings.HasPrefix(p, "[") && !json.Valid([]byte(p)) {
			var items []string
			for _, e := range strings.Split(strings.Trim(p, "[]"), ",") {
				if e = strings.TrimSpace(e); e != "" {
					items = append(items, e)
				}
			}
			b, _ := json.Marshal(items)
			p = string(b)
		}
		values = append(values, p)
	}
	return values, true
}

// TestDocsAgreeWithCode: every value the configuration tables of the docs
// state for a key (its default, or what dev, prod and the pull-request
// stacks run) is what the code
// and the stack files make of it: setting the key to the documented value
// changes nothing, and a blank dev, prod or pr cell means the stack file leaves
// the key to its default. The docs restate the code for readers; this
// keeps the restatement from drifting (dev once ran monitoring while the
// docs said false).
func TestDocsAgreeWithCode(t *testing.T) {
	known := KnownKeys()
	bases := map[string]struct {
		settings, conf map[string]string
		stack          string
	}{}
	for _, file := range []string{"dev", "prod", "pr"} {
		settings, conf := committedStack(t, file)
		bases[file] = struct {
			settings, conf map[string]string
			stack          string
		}{settings, conf, committedStacks[file]}
	}
	checked := 0
	for _, page := range []string{"configuration.md", "aws.md", "environments.md"} {
		for _, table := range readDocTables(t, page) {
			first := strings.ToLower(table.header[0])
			if len(table.header) < 2 || !strings.HasPrefix(first, "key") && first != "bound" {
				continue
			}
			// The default column of the local and pull-request keys'
			// tables is a local and a pull-request stack's; the others a
			// dev stack's, reaching its (default, private) API through
			// the runner.
			defaultBase, defaultStack := with(validDev(), "gopherops:clusterEndpointPublicCidrs", "<delete>",
				"gopherops:ciRunner", "true", "gopherops:githubRepository", "gopherops/gopherops",
				"gopherops:githubConnectionArn", connectionArn), "dev"
			switch {
			case strings.Contains(table.header[0], "local"):
				defaultBase, defaultStack = validLocal(), "local"
			case strings.Contains(table.header[0], "pr only"):
				defaultBase, defaultStack = map[string]string{"gopherops:imageTag": "1.2.3"}, PreviewStackName(1)
			}
			for _, row := range table.rows {
				keys, sep := docKeys(row[0])
				if len(keys) == 0 {
					continue
				}
				for _, k := range keys {
					if !slices.Contains(known, k) {
						t.Errorf("docs/%s names %s, which the program does not read", page, k)
					}
				}
				for col, name := range table.header {
					if col >= len(row) {
						break
					}
					var conf map[string]string
					var stack string
					switch strings.ToLower(name) {
					case "default":
						conf, stack = defaultBase, defaultStack
					case "dev", "prod", "pr":
						b := bases[strings.ToLower(name)]
						conf, stack = b.conf, b.stack
						if row[col] == "" {
							for _, k := range keys {
								if v, set := b.settings[Namespace+":"+k]; set {
									t.Errorf("docs/%s: %s is blank for %s (the default), but Pulumi.%s.yaml sets %s", page, k, name, name, v)
								}
							}
							checked++
							continue
						}
					default:
						continue
					}
					values, ok := docValues(row[col], sep, len(keys))
					if !ok {
						continue
					}
					want := mustParse(t, conf, stack)
					for i, k := range keys {
						got, err := Parse(FromMap(with(conf, Namespace+":"+k, values[i])), "gopherops", stack)
						switch {
						case err != nil:
							t.Errorf("docs/%s: %s %s = %q does not even validate: %v", page, name, k, values[i], err)
						case !sameConfig(got, want):
							t.Errorf("docs/%s: %s %s = %q, but the code and stack file make it something else", page, name, k, values[i])
						}
						checked++
					}
				}
			}
		}
	}
	// The tables state dozens of values; a parser that read none of them
	// would pass vacuously.
	if checked < 60 {
		t.Errorf("checked only %d documented values", checked)
	}
	t.Logf("%d documented values checked", checked)
}

// sameConfig reports whether two configurations are the same to the
// program: equal field by field, an empty list or map the same as none
// (the program only ever ranges over them or takes their length).
func sameConfig(a, b *Config) bool {
	return reflect.DeepEqual(canonical(reflect.ValueOf(a)), canonical(reflect.ValueOf(b)))
}

// canonical is v as plain values (unexported fields included, read through
// reflection), with nil and empty lists and maps alike.
func canonical(v reflect.Value) any {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return nil
		}
		return canonical(v.Elem())
	case reflect.Struct:
		out := map[string]any{}
		for i := range v.NumField() {
			out[v.Type().Field(i).Name] = canonical(v.Field(i))
		}
		return out
	case reflect.Slice, reflect.Array:
		out := []any{}
		for i := range v.Len() {
			out = append(out, canonical(v.Index(i)))
		}
		return out
	case reflect.Map:
		out := map[string]any{}
		for _, k := range v.MapKeys() {
			out[fmt.Sprint(canonical(k))] = canonical(v.MapIndex(k))
		}
		return out
	case reflect.String:
		return v.String()
	case reflect.Bool:
		return v.Bool()
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return v.Int()
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return v.Uint()
	case reflect.Float32, reflect.Float64:
		return v.Float()
	}
	return fmt.Sprintf("unsupported %s", v.Kind())
}
