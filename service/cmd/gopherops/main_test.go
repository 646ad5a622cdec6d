package main

import (
	"bytes"
	"strings"
	"testing"
)

// brokenEnv is an environment config.Load refuses: help and usage errors must
// not depend on it.
func brokenEnv(key string) string {
	if key == "APP_ENV" {
		return "staging"
	}
	return ""
}

func runMain(args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = run(args, brokenEnv, strings.NewReader(""), &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestHelpExitsZeroWithTheCommandsOwnUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--help"}, "usage: gopherops [command]"},
		{[]string{"-h"}, "usage: gopherops [command]"},
		{[]string{"help"}, "usage: gopherops [command]"},
		{[]string{"serve", "--help"}, "usage: gopherops serve\n"},
		{[]string{"help", "serve"}, "usage: gopherops serve\n"},
		{[]string{"migrate", "--help"}, "usage: gopherops migrate up | down N"},
		{[]string{"migrate", "-h"}, "usage: gopherops migrate up | down N"},
		{[]string{"migrate", "help"}, "usage: gopherops migrate up | down N"},
		{[]string{"migrate", "down", "--help"}, "usage: gopherops migrate up | down N"},
		{[]string{"help", "migrate"}, "usage: gopherops migrate up | down N"},
		{[]string{"admin", "--help"}, "usage: gopherops admin create"},
		{[]string{"admin", "create", "--help"}, "usage: gopherops admin create"},
		{[]string{"admin", "create", "-h"}, "usage: gopherops admin create"},
		{[]string{"admin", "create", "--username", "ann", "--help"}, "usage: gopherops admin create"},
		{[]string{"help", "admin"}, "usage: gopherops admin create"},
		{[]string{"healthcheck", "--help"}, "usage: gopherops healthcheck\n"},
		{[]string{"version", "--help"}, "usage: gopherops version\n"},
		{[]string{"help", "version"}, "usage: gopherops version\n"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, stdout, stderr := runMain(tc.args...)
			if code != 0 {
				t.Errorf("exit code %d, want 0 (stderr: %q)", code, stderr)
			}
			if !strings.HasPrefix(stdout, tc.want) {
				t.Errorf("stdout does not start with %q:\n%s", tc.want, stdout)
			}
			if stderr != "" {
				t.Errorf("help writes nothing on stderr, got %q", stderr)
			}
		})
	}
}

func TestAdminHelpDescribesEveryFlag(t *testing.T) {
	_, stdout, _ := runMain("admin", "create", "--help")
	for _, flag := range []string{"-username", "-email", "-role", "ADMIN_PASSWORD"} {
		if !strings.Contains(stdout, flag) {
			t.Errorf("admin create --help does not mention %s:\n%s", flag, stdout)
		}
	}
}

func TestUsageErrorsExitTwoWithOneLineOfAdvice(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		message string
		advice  string
	}{
		{[]string{"frobnicate"}, `unknown command "frobnicate"`, "Run 'gopherops --help' for the list of commands."},
		{[]string{"--port", "80"}, `unknown flag "--port"`, "Run 'gopherops --help' for the list of commands."},
		{[]string{"help", "frobnicate"}, `unknown command "frobnicate"`, "Run 'gopherops --help' for the list of commands."},
		{[]string{"help", "migrate", "up"}, "at most one command", "Run 'gopherops --help' for the list of commands."},
		{[]string{"serve", "now"}, "serve takes no arguments", "Run 'gopherops serve --help' for usage."},
		{[]string{"migrate"}, "migrate needs a subcommand", "Run 'gopherops migrate --help' for usage."},
		{[]string{"migrate", "sideways"}, `unknown migrate subcommand "sideways"`, "Run 'gopherops migrate --help' for usage."},
		{[]string{"migrate", "up", "2"}, "migrate up takes no arguments", "Run 'gopherops migrate --help' for usage."},
		{[]string{"migrate", "down"}, "needs the number of migrations", "Run 'gopherops migrate --help' for usage."},
		{[]string{"migrate", "down", "zero"}, `N must be a positive integer, got "zero"`, "Run 'gopherops migrate --help' for usage."},
		{[]string{"migrate", "down", "0"}, `N must be a positive integer, got "0"`, "Run 'gopherops migrate --help' for usage."},
		{[]string{"migrate", "down", "99999999999999999999"}, "N must be a positive integer", "Run 'gopherops migrate --help' for usage."},
		{[]string{"migrate", "version", "now"}, "migrate version takes no arguments", "Run 'gopherops migrate --help' for usage."},
		{[]string{"migrate", "force"}, "migrate force needs a version", "Run 'gopherops migrate --help' for usage."},
		{[]string{"migrate", "force", "-2"}, "V must be an integer >= -1", "Run 'gopherops migrate --help' for usage."},
		{[]string{"admin"}, "admin needs a subcommand", "Run 'gopherops admin --help' for usage."},
		{[]string{"admin", "delete"}, `unknown admin subcommand "delete"`, "Run 'gopherops admin --help' for usage."},
		{[]string{"admin", "create"}, "needs --username and --email", "Run 'gopherops admin --help' for usage."},
		{[]string{"admin", "create", "--username", "x"}, "needs --username and --email", "Run 'gopherops admin --help' for usage."},
		{[]string{"admin", "create", "--user", "x"}, "flag provided but not defined: -user", "Run 'gopherops admin --help' for usage."},
		{[]string{"admin", "create", "--username"}, "flag needs an argument", "Run 'gopherops admin --help' for usage."},
		{[]string{"admin", "create", "--username", "x", "--email", "x@example.com", "extra"}, `takes only flags, got "extra"`, "Run 'gopherops admin --help' for usage."},
		{[]string{"admin", "create", "--username", "x", "--email", "x@example.com", "--role", "owner"}, `--role must be admin or user, got "owner"`, "Run 'gopherops admin --help' for usage."},
		{[]string{"healthcheck", "now"}, "healthcheck takes no arguments", "Run 'gopherops healthcheck --help' for usage."},
		{[]string{"version", "--short"}, "version takes no arguments", "Run 'gopherops version --help' for usage."},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			// brokenEnv: a usage error is reported as such before any configuration is read.
			code, stdout, stderr := runMain(tc.args...)
			if code != 2 {
				t.Errorf("exit code %d, want 2", code)
			}
			if stdout != "" {
				t.Errorf("a usage error writes nothing on stdout, got %q", stdout)
			}
			lines := strings.Split(strings.TrimSuffix(stderr, "\n"), "\n")
			if len(lines) != 2 {
				t.Fatalf("want the message and one line of advice on stderr, got %d lines:\n%s", len(lines), stderr)
			}
			if !strings.HasPrefix(lines[0], "gopherops: ") || !strings.Contains(lines[0], tc.message) {
				t.Errorf("message %q does not say %q", lines[0], tc.message)
			}
			if lines[1] != tc.advice {
				t.Errorf("advice %q, want %q", lines[1], tc.advice)
			}
		})
	}
}

func TestInvalidConfigurationExitsTwoNamingTheVariable(t *testing.T) {
	for _, args := range [][]string{nil, {"serve"}, {"migrate", "up"}, {"healthcheck"}} {
		code, _, stderr := runMain(args...)
		if code != 2 {
			t.Errorf("gopherops %s: exit code %d, want 2", strings.Join(args, " "), code)
		}
		if !strings.Contains(stderr, "APP_ENV") || !strings.Contains(stderr, "docs/configuration.md") {
			t.Errorf("gopherops %s: stderr names neither the variable nor where they are described:\n%s", strings.Join(args, " "), stderr)
		}
	}
}

func TestVersionNeedsNoConfiguration(t *testing.T) {
	for _, args := range [][]string{{"version"}, {"--version"}, {"-v"}} {
		code, stdout, stderr := runMain(args...)
		if code != 0 || !strings.HasPrefix(stdout, "gopherops ") {
			t.Errorf("gopherops %s: exit %d, stdout %q, stderr %q", strings.Join(args, " "), code, stdout, stderr)
		}
	}
}
