package config

import (
	"encoding/base64"
	"log/slog"
	"strings"
	"testing"
	"time"
)

var key = base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))

func env(kv map[string]string) func(string) string { return func(k string) string { return kv[k] } }

func TestLoadDefaults(t *testing.T) {
	c, err := Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.Env != EnvDevelopment || c.HTTPAddr != ":8080" || c.AdminAddr != "127.0.0.1:9090" ||
		!c.MigrateOnStart || c.LogFormat != "text" || c.ShutdownTimeout != 20*time.Second ||
		!c.SessionKeyGenerated || len(c.SessionKey) != 32 || c.SecureCookies || c.BlobStore != "file://./data/blobs" ||
		c.TokenTTL != 30*24*time.Hour || c.TokenMaxTTL != 90*24*time.Hour || c.OIDC.Enabled() || !c.PasswordSignIn {
		t.Fatalf("unexpected defaults: %+v", c)
	}
}

func TestLoadRejects(t *testing.T) {
	prod := map[string]string{"APP_ENV": "production", "DATABASE_URL": "postgres://db/app", "SESSION_KEY": key}
	with := func(base map[string]string, k, v string) map[string]string {
		out := map[string]string{}
		for bk, bv := range base {
			out[bk] = bv
		}
		out[k] = v
		return out
	}
	tests := []struct {
		name string
		env  map[string]string
		want string // the variable the error must name
	}{
		{"unknown env", map[string]string{"APP_ENV": "staging"}, "APP_ENV"},
		{"production without session key", with(prod, "SESSION_KEY", ""), "SESSION_KEY"},
		{"short session key", with(prod, "SESSION_KEY", base64.StdEncoding.EncodeToString([]byte("short"))), "SESSION_KEY"},
		{"production without database", with(prod, "DATABASE_URL", ""), "DATABASE_URL"},
		{"production with insecure cookies", with(prod, "COOKIE_SECURE", "false"), "COOKIE_SECURE"},
		{"bad address", map[string]string{"HTTP_ADDR": "8080"}, "HTTP_ADDR"},
		{"bad admin port", map[string]string{"ADMIN_ADDR": "127.0.0.1:99999"}, "ADMIN_ADDR"},
		{"bad pool size", map[string]string{"DATABASE_MAX_CONNS": "0"}, "DATABASE_MAX_CONNS"},
		{"bad blob store", map[string]string{"BLOB_STORE": "ftp://x"}, "BLOB_STORE"},
		{"bad S3 endpoint", map[string]string{"AWS_ENDPOINT_URL_S3": "minio:9000"}, "AWS_ENDPOINT_URL_S3"},
		{"bad log level", map[string]string{"LOG_LEVEL": "loud"}, "LOG_LEVEL"},
		{"bad log format", map[string]string{"LOG_FORMAT": "xml"}, "LOG_FORMAT"},
		{"bad timeout", map[string]string{"SHUTDOWN_TIMEOUT": "soon"}, "SHUTDOWN_TIMEOUT"},
		{"delay longer than timeout", map[string]string{"SHUTDOWN_DELAY": "30s"}, "SHUTDOWN_DELAY"},
		{"bad migrate flag", map[string]string{"MIGRATE_ON_START": "maybe"}, "MIGRATE_ON_START"},
		{"dev admin in production", with(prod, "CREATE_DEV_ADMIN", "true"), "CREATE_DEV_ADMIN"},
		{"dev admin in test", map[string]string{"APP_ENV": "test", "CREATE_DEV_ADMIN": "true"}, "CREATE_DEV_ADMIN"},
		{"bad dev admin flag", map[string]string{"CREATE_DEV_ADMIN": "yes please"}, "CREATE_DEV_ADMIN"},
		{"bad secret ARN", map[string]string{"DATABASE_SECRET_ARN": "my-secret"}, "DATABASE_SECRET_ARN"},
		{"token lifetime not a duration", map[string]string{"API_TOKEN_TTL": "30 days"}, "API_TOKEN_TTL"},
		{"token lifetime under a minute", map[string]string{"API_TOKEN_TTL": "30s"}, "API_TOKEN_TTL"},
		{"default token lifetime over the maximum", map[string]string{"API_TOKEN_TTL": "100h", "API_TOKEN_MAX_TTL": "99h"}, "API_TOKEN_TTL"},
		{"maximum token lifetime over a year", map[string]string{"API_TOKEN_MAX_TTL": "9000h"}, "API_TOKEN_MAX_TTL"},
		{"OIDC issuer not a URL", map[string]string{"OIDC_ISSUER": "accounts", "OIDC_CLIENT_ID": "c", "OIDC_REDIRECT_URL": "https://app/login/sso/callback"}, "OIDC_ISSUER"},
		{"OIDC without client id", map[string]string{"OIDC_ISSUER": "https://idp", "OIDC_REDIRECT_URL": "https://app/login/sso/callback"}, "OIDC_CLIENT_ID"},
		{"OIDC without redirect", map[string]string{"OIDC_ISSUER": "https://idp", "OIDC_CLIENT_ID": "c"}, "OIDC_REDIRECT_URL"},
		{"OIDC over http in production", with(with(with(prod, "OIDC_ISSUER", "http://idp"), "OIDC_CLIENT_ID", "c"), "OIDC_REDIRECT_URL", "https://app/cb"), "OIDC_ISSUER"},
		{"OIDC client without issuer", map[string]string{"OIDC_CLIENT_ID": "c"}, "OIDC_CLIENT_ID"},
		{"bad signup flag", map[string]string{"OIDC_ALLOW_SIGNUP": "maybe"}, "OIDC_ALLOW_SIGNUP"},
		{"passwords off without SSO", map[string]string{"PASSWORD_SIGNIN": "false"}, "PASSWORD_SIGNIN"},
		{"bad trusted proxy", map[string]string{"TRUSTED_PROXIES": "10.0.0.0/8, nope"}, "TRUSTED_PROXIES"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(env(tt.env))
			if err == nil || !strings.Contains(err.Error(), tt.want+":") {
				t.Fatalf("error %v, want one naming %s", err, tt.want)
			}
		})
	}
	// Debug logging is allowed in production.
	if _, err := Load(env(with(prod, "LOG_LEVEL", "debug"))); err != nil {
		t.Fatalf("production with LOG_LEVEL=debug: %v", err)
	}
	if c, err := Load(env(map[string]string{"CREATE_DEV_ADMIN": "true"})); err != nil || !c.CreateDevAdmin {
		t.Fatalf("development with CREATE_DEV_ADMIN=true: %+v %v", c, err)
	}
	c, err := Load(env(prod))
	if err != nil || !c.SecureCookies || c.LogFormat != "json" || c.MigrateOnStart || c.CreateDevAdmin || c.ShutdownDelay != 5*time.Second {
		t.Fatalf("production defaults: %+v %v", c, err)
	}
}

func TestLogValueMasksSecrets(t *testing.T) {
	c, err := Load(env(map[string]string{"DATABASE_URL": "postgres://app:hunter2-secret@db:5432/app?password=other-secret", "SESSION_KEY": key}))
	if err != nil {
		t.Fatal(err)
	}
	var buf strings.Builder
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("config", "config", c)
	out := buf.String()
	for _, secret := range []string{"hunter2-secret", "other-secret", key} {
		if strings.Contains(out, secret) {
			t.Fatalf("log line leaks %q: %s", secret, out)
		}
	}
	if !strings.Contains(out, "db:5432") {
		t.Fatalf("log line lost the host: %s", out)
	}
	if got := RedactURL("host=db user=app password=s3cret dbname=app"); strings.Contains(got, "s3cret") {
		t.Fatalf("DSN password not masked: %s", got)
	}
}
