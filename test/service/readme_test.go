package service

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gopherops/gopherops/service/pglocal/pgtest"

	"github.com/gopherops/gopherops/test/internal/gopherops"
	"github.com/gopherops/gopherops/test/internal/repo"
	"github.com/gopherops/gopherops/test/journey"
)

// readmeWalkSection is the README heading whose shell block the test runs.
const readmeWalkSection = "## Try the API"

// readmeAddress is where the README says `make run` listens; the test swaps
// in the address of the server it started.
const readmeAddress = "http://localhost:8080"

// readmeAdmin is the account `make run` creates and the walk signs in as.
const readmeAdmin = "admin"

// walkTimeout bounds the whole walk: a dozen requests and one argon2id hash.
const walkTimeout = 2 * time.Minute

// readmeWalk is what a newcomer runs from the README: the inline command that
// reads the password, and the fenced shell block pasted after it.
type readmeWalk struct {
	readPassword string
	script       string
}

// inlineCode matches `code` spans in Markdown prose.
var inlineCode = regexp.MustCompile("`([^`]+)`")

// parseReadmeWalk finds the walk in the README: the section under
// readmeWalkSection must hold exactly one ```sh block and name, in inline
// code, the `read` command that puts the password in $PASSWORD.
func parseReadmeWalk(readme string) (readmeWalk, error) {
	var (
		w        readmeWalk
		in       bool
		inBlock  bool
		blocks   int
		block    strings.Builder
		sc       = bufio.NewScanner(strings.NewReader(readme))
		heading2 = regexp.MustCompile(`^## `)
	)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case !in:
			in = line == readmeWalkSection
		case inBlock && line == "```":
			inBlock = false
		case inBlock:
			block.WriteString(line + "\n")
		case line == "```sh":
			inBlock = true
			blocks++
		case heading2.MatchString(line):
			in = false
		default:
			for _, m := range inlineCode.FindAllStringSubmatch(line, -1) {
				if strings.Contains(m[1], "read ") && strings.Contains(m[1], "PASSWORD") {
					w.readPassword = m[1]
				}
			}
		}
		if !in && blocks > 0 {
			break
		}
	}
	if err := sc.Err(); err != nil {
		return w, fmt.Errorf("read README: %w", err)
	}
	switch {
	case blocks != 1:
		return w, fmt.Errorf("README section %q holds %d ```sh blocks, want exactly one: the walk", readmeWalkSection, blocks)
	case w.readPassword == "":
		return w, fmt.Errorf("README section %q does not say, in inline code, how to `read` the password into PASSWORD", readmeWalkSection)
	case !strings.Contains(block.String(), readmeAddress):
		return w, fmt.Errorf("the walk does not talk to %s, where `make run` listens", readmeAddress)
	}
	w.script = block.String()
	return w, nil
}

// walkShells are the shells the README names for the walk, with the options
// that make the first failing command end the script.
var walkShells = []struct {
	name    string
	argv    []string
	prelude string
}{
	{"bash", []string{"bash", "-c"}, "set -euo pipefail"},
	{"zsh", []string{"zsh", "-f", "-c"}, "setopt err_exit pipe_fail no_unset"},
}

// TestReadmeWalk runs the README's curl walk through the API verbatim, with
// bash (and zsh where it is installed), curl and jq, against the real binary
// on a real PostgreSQL, so the first thing a newcomer tries cannot rot. The
// only changes are the server's address and the shell's stop-on-error options
// in front: any failing command fails the test.
func TestReadmeWalk(t *testing.T) {
	for _, tool := range []string{"bash", "curl", "jq"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("the README walk needs %s, which is not on PATH: %v", tool, err)
		}
	}
	readme, err := os.ReadFile(filepath.Join(repo.MustRoot(t), "README.md"))
	require.NoError(t, err)
	walk, err := parseReadmeWalk(string(readme))
	require.NoError(t, err)

	bin := gopherops.Build(t)
	dbURL := pgtest.NewEmptyDatabase(t)
	env := serviceEnv(t, dbURL)
	attachPostgresLog(t, pgtest.ServerLog())
	bin.MustRun(t, env, "", "migrate", "up")
	// The account `make run` creates, with a password that quoting would break:
	// the README promises that any password works.
	password := journey.NewPassword() + ` it's "$HOME" \n`
	bin.MustRun(t, env.With(map[string]string{"ADMIN_PASSWORD": password}), "",
		"admin", "create", "--username", readmeAdmin, "--email", "admin@gopherops.localhost", "--role", "admin")
	srv := bin.Serve(t, env)

	walks := 0
	for _, sh := range walkShells {
		t.Run(sh.name, func(t *testing.T) {
			if _, err := exec.LookPath(sh.argv[0]); err != nil {
				t.Skipf("%s is not installed: %v", sh.argv[0], err)
			}
			script := sh.prelude + "\n" + walk.readPassword + "\n" +
				strings.ReplaceAll(walk.script, readmeAddress, srv.BaseURL)
			ctx, cancel := context.WithTimeout(context.Background(), walkTimeout)
			defer cancel()
			cmd := exec.CommandContext(ctx, sh.argv[0], append(sh.argv[1:], script)...)
			cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
			cmd.Stdin = strings.NewReader(password + "\n")
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			start := time.Now()
			err := cmd.Run()
			t.Logf("the README walk took %s in %s; its output:\n%s", time.Since(start).Round(time.Millisecond), sh.name, out.String())
			require.NoError(t, err, "the README walk failed in %s (script:\n%s)", sh.name, script)
			walks++

			assert.Regexp(t, `alice is user \d+ at version "\d+"`, out.String(), "the walk read alice's ETag from the headers")
			assert.Contains(t, out.String(), "after sign-out: 401", "the walk's token stopped working when it signed out")
			assert.NotContains(t, out.String(), password, "the walk never prints the password")
		})
	}
	if walks == 0 {
		return
	}

	// What the walks did, as the service recorded it: each created, changed
	// and deleted alice, so the walk can be run again and again.
	admin := journey.NewClient(srv.BaseURL).WithBearer(journey.SignIn(t, srv.BaseURL, journey.Credentials{Login: readmeAdmin, Password: password}).Token, "admin")
	var trail struct {
		Events []struct {
			Action     string `json:"action"`
			ActorName  string `json:"actor_name"`
			TargetName string `json:"target_name"`
		} `json:"events"`
	}
	admin.Get(t, "/api/v1/audit?limit=100").ExpectJSON(t, http.StatusOK, &trail)
	var alice, want []string
	for i := len(trail.Events) - 1; i >= 0; i-- { // oldest first
		if e := trail.Events[i]; e.TargetName == "alice" {
			assert.Equal(t, readmeAdmin, e.ActorName, "%s was done by the walk's admin", e.Action)
			alice = append(alice, e.Action)
		}
	}
	for range walks {
		want = append(want, "user.created", "user.updated", "user.deleted")
	}
	assert.Equal(t, want, alice, "each walk created, changed and deleted alice")
	for _, u := range journey.ListUsers(t, admin, 100) {
		assert.NotEqual(t, "alice", u.Username, "alice is gone")
	}
}

// TestParseReadmeWalk checks that the walk is found where a reader sees it and
// that a README without one fails instead of passing vacuously.
func TestParseReadmeWalk(t *testing.T) {
	const walk = "## Try the API\n\nFirst `printf 'pw: '; read -rs PASSWORD; echo`, then:\n\n```sh\ncurl " + readmeAddress + "/healthz\n```\n\n"
	for _, tc := range []struct {
		name    string
		readme  string
		wantErr string
	}{
		{"the walk", "# X\n\n```sh\nmake run\n```\n\n" + walk + "## Next\n\n```sh\nmake test\n```\n", ""},
		{"no section", "# X\n\n```sh\nmake run\n```\n", "0 ```sh blocks"},
		{"two blocks", walk + "```sh\necho again\n```\n", "2 ```sh blocks"},
		{"no read", strings.Replace(walk, "read -rs", "type", 1), "`read` the password"},
		{"another address", strings.Replace(walk, readmeAddress, "http://localhost:9999", 1), "does not talk to"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, err := parseReadmeWalk(tc.readme)
			if tc.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, "printf 'pw: '; read -rs PASSWORD; echo", w.readPassword)
			assert.Equal(t, "curl "+readmeAddress+"/healthz\n", w.script)
		})
	}
}

// markdownLink matches inline links and images, [text](target) and
// ![alt](target), and the src of HTML images (<img src="target">).
var markdownLink = regexp.MustCompile(`!?\[[^\]]*\]\(([^)\s]+)\)|<img\s[^>]*src="([^"]+)"`)

// githubAnchor is the id GitHub gives a heading: lower case, punctuation
// dropped, spaces as hyphens.
func githubAnchor(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(heading) {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

// markdownAnchors lists the heading anchors of a Markdown page, skipping
// fenced code (whose "#" lines are shell comments).
func markdownAnchors(page string) map[string]bool {
	anchors := map[string]bool{}
	fenced := false
	for _, line := range strings.Split(page, "\n") {
		if strings.HasPrefix(line, "```") {
			fenced = !fenced
			continue
		}
		if fenced || !strings.HasPrefix(line, "#") {
			continue
		}
		anchors[githubAnchor(strings.TrimSpace(strings.TrimLeft(line, "#")))] = true
	}
	return anchors
}

// TestDocsLinksResolve checks every relative link and image of README.md and
// docs/*.md: the file exists and, with a #fragment, so does the heading. The
// pages are edited by several people; a moved section must not leave links
// (or a screenshot) pointing nowhere.
func TestDocsLinksResolve(t *testing.T) {
	root := repo.MustRoot(t)
	pages, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	require.NoError(t, err)
	pages = append(pages, filepath.Join(root, "README.md"))
	read := func(path string) (string, bool) {
		b, err := os.ReadFile(path)
		return string(b), err == nil
	}
	checked := 0
	for _, page := range pages {
		text, ok := read(page)
		require.True(t, ok, "read %s", page)
		rel, _ := filepath.Rel(root, page)
		for _, m := range markdownLink.FindAllStringSubmatch(text, -1) {
			target := m[1] + m[2]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue // the web is not this test's to check
			}
			checked++
			file, fragment, _ := strings.Cut(target, "#")
			path := page
			if file != "" {
				path = filepath.Join(filepath.Dir(page), filepath.FromSlash(file))
			}
			info, err := os.Stat(path)
			if !assert.NoError(t, err, "%s links to %s, which does not exist", rel, target) || fragment == "" {
				continue
			}
			if info.IsDir() || !strings.HasSuffix(path, ".md") {
				t.Errorf("%s links to %s: a fragment needs a Markdown page", rel, target)
				continue
			}
			linked, _ := read(path)
			assert.True(t, markdownAnchors(linked)[fragment], "%s links to %s, but %s has no heading with that anchor", rel, target, file)
		}
	}
	assert.Positive(t, checked, "the pages link to each other; finding no link means the pattern is broken")
}

func TestGitHubAnchor(t *testing.T) {
	for heading, want := range map[string]string{
		"Try the API":                                  "try-the-api",
		"The `local` stack's own keys":                 "the-local-stacks-own-keys",
		"Deploying to any cluster (the `local` stack)": "deploying-to-any-cluster-the-local-stack",
		"CI/CD (GitHub Actions)":                       "cicd-github-actions",
		"`make run`":                                   "make-run",
	} {
		assert.Equal(t, want, githubAnchor(heading), heading)
	}
}
