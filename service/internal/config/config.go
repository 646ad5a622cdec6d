// Package config reads the service's configuration from environment variables
// (and only from there), validates it as a whole and renders it for the log
// with secrets masked.
package config

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// Environments.
const (
	EnvDevelopment = "development"
	EnvTest        = "test"
	EnvProduction  = "production"
)

// Config is the validated configuration of one process.
type Config struct {
	Env               string
	HTTPAddr          string
	AdminAddr         string
	DatabaseURL       string
	DatabaseSecretARN string
	DatabaseMaxConns  int32
	MigrateOnStart    bool
	// CreateDevAdmin makes serve create the development admin (random
	// password printed once) when no user exists: compose's way to a first
	// sign-in. Only APP_ENV=development accepts it.
	CreateDevAdmin bool
	BlobStore      string
	S3Endpoint     string
	SessionKey     []byte
	// SessionKeyGenerated is true when no SESSION_KEY was given and a random
	// one was made: sessions will not survive a restart.
	SessionKeyGenerated bool
	SecureCookies       bool
	// TokenTTL is an API token's lifetime when its creator names none;
	// TokenMaxTTL the longest one may name.
	TokenTTL    time.Duration
	TokenMaxTTL time.Duration
	// OIDC is single sign-on with an OpenID provider; off while Issuer is "".
	OIDC OIDC
	// PasswordSignIn lets accounts sign in with their password; turning it
	// off leaves single sign-on (which must then be configured).
	PasswordSignIn  bool
	LogLevel        slog.Level
	LogFormat       string
	ShutdownTimeout time.Duration
	ShutdownDelay   time.Duration
	OTLPEndpoint    string
	TrustedProxies  []string
	PodName         string
}

// OIDC configures sign-in with an OpenID Connect provider.
type OIDC struct {
	Issuer       string
	ClientID     string
	ClientSecret string
	RedirectURL  string
	// AllowSignup creates an account (role user) for a verified email that
	// has none.
	AllowSignup bool
}

// Enabled reports whether single sign-on is configured.
func (o OIDC) Enabled() bool { return o.Issuer != "" }

// Production reports whether the process runs in production.
func (c Config) Production() bool { return c.Env == EnvProduction }

// problems collects every invalid variable so one start reports them all.
type problems []string

func (p *problems) add(name, format string, args ...any) {
	*p = append(*p, name+": "+fmt.Sprintf(format, args...))
}

// Load reads the configuration through getenv (os.Getenv in production code).
func Load(getenv func(string) string) (Config, error) {
	var errs problems
	get := func(name, def string) string {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			return v
		}
		return def
	}
	c := Config{Env: get("APP_ENV", EnvDevelopment)}
	switch c.Env {
	case EnvDevelopment, EnvTest, EnvProduction:
	default:
		errs.add("APP_ENV", "must be development, test or production, got %q", c.Env)
	}
	dev := c.Env != EnvProduction

	c.HTTPAddr = get("HTTP_ADDR", ":8080")
	checkAddr(&errs, "HTTP_ADDR", c.HTTPAddr)
	c.AdminAddr = get("ADMIN_ADDR", "127.0.0.1:9090")
	checkAddr(&errs, "ADMIN_ADDR", c.AdminAddr)

	c.DatabaseURL = get("DATABASE_URL", "")
	c.DatabaseSecretARN = get("DATABASE_SECRET_ARN", "")
	if c.DatabaseURL != "" {
		if _, err := url.Parse(c.DatabaseURL); err != nil && strings.Contains(c.DatabaseURL, "://") {
			errs.add("DATABASE_URL", "is not a valid URL")
		}
	}
	if c.DatabaseURL == "" && getenv("PGHOST") == "" && !dev {
		errs.add("DATABASE_URL", "is required in production (or set PGHOST and the other PG* variables)")
	}
	if c.DatabaseSecretARN != "" && !strings.HasPrefix(c.DatabaseSecretARN, "arn:") {
		errs.add("DATABASE_SECRET_ARN", "must be a Secrets Manager ARN (arn:...)")
	}
	c.DatabaseMaxConns = int32(4 * runtime.GOMAXPROCS(0))
	if v := get("DATABASE_MAX_CONNS", ""); v != "" {
		n, err := strconv.ParseInt(v, 10, 32)
		if err != nil || n < 1 || n > 1000 {
			errs.add("DATABASE_MAX_CONNS", "must be an integer from 1 to 1000, got %q", v)
		}
		c.DatabaseMaxConns = int32(n)
	}
	c.MigrateOnStart = parseBool(&errs, "MIGRATE_ON_START", get("MIGRATE_ON_START", strconv.FormatBool(c.Env == EnvDevelopment)))
	c.CreateDevAdmin = parseBool(&errs, "CREATE_DEV_ADMIN", get("CREATE_DEV_ADMIN", "false"))
	if c.CreateDevAdmin && c.Env != EnvDevelopment {
		errs.add("CREATE_DEV_ADMIN", "is only allowed with APP_ENV=development: a deployment gets its first admin from `gopherops admin create`")
	}

	c.BlobStore = get("BLOB_STORE", "file://./data/blobs")
	if u, err := url.Parse(c.BlobStore); err != nil || (u.Scheme != "file" && u.Scheme != "s3") || (u.Host == "" && u.Path == "") {
		errs.add("BLOB_STORE", "must be file:///path or s3://bucket/prefix, got %q", c.BlobStore)
	}
	c.S3Endpoint = get("AWS_ENDPOINT_URL_S3", "")
	if c.S3Endpoint != "" {
		if u, err := url.Parse(c.S3Endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs.add("AWS_ENDPOINT_URL_S3", "must be an http(s) URL")
		}
	}

	switch key := get("SESSION_KEY", ""); {
	case key != "":
		b, err := base64.StdEncoding.DecodeString(key)
		if err != nil {
			b, err = base64.RawStdEncoding.DecodeString(key)
		}
		if err != nil || len(b) < 32 {
			errs.add("SESSION_KEY", "must be at least 32 random bytes, base64-encoded (openssl rand -base64 32)")
		}
		c.SessionKey = b
	case !dev:
		errs.add("SESSION_KEY", "is required in production (openssl rand -base64 32)")
	default:
		c.SessionKey = make([]byte, 32)
		_, _ = rand.Read(c.SessionKey)
		c.SessionKeyGenerated = true
	}

	c.SecureCookies = parseBool(&errs, "COOKIE_SECURE", get("COOKIE_SECURE", strconv.FormatBool(!dev)))
	if !dev && !c.SecureCookies {
		errs.add("COOKIE_SECURE", "cannot be false in production: session cookies would travel in clear text")
	}

	c.TokenTTL = parseDuration(&errs, "API_TOKEN_TTL", get("API_TOKEN_TTL", "720h"))
	c.TokenMaxTTL = parseDuration(&errs, "API_TOKEN_MAX_TTL", get("API_TOKEN_MAX_TTL", "2160h"))
	switch {
	case c.TokenTTL < time.Minute:
		errs.add("API_TOKEN_TTL", "must be at least 1m, got %s", c.TokenTTL)
	case c.TokenMaxTTL > maxTokenTTL:
		errs.add("API_TOKEN_MAX_TTL", "must be at most %s (366 days), got %s", maxTokenTTL, c.TokenMaxTTL)
	case c.TokenTTL > c.TokenMaxTTL:
		errs.add("API_TOKEN_TTL", "must not be longer than API_TOKEN_MAX_TTL (%s), got %s", c.TokenMaxTTL, c.TokenTTL)
	}

	c.OIDC = OIDC{Issuer: get("OIDC_ISSUER", ""), ClientID: get("OIDC_CLIENT_ID", ""),
		ClientSecret: get("OIDC_CLIENT_SECRET", ""), RedirectURL: get("OIDC_REDIRECT_URL", "")}
	c.OIDC.AllowSignup = parseBool(&errs, "OIDC_ALLOW_SIGNUP", get("OIDC_ALLOW_SIGNUP", "false"))
	if c.OIDC.Enabled() {
		checkOIDCURL(&errs, "OIDC_ISSUER", c.OIDC.Issuer, dev)
		checkOIDCURL(&errs, "OIDC_REDIRECT_URL", c.OIDC.RedirectURL, dev)
		if c.OIDC.ClientID == "" {
			errs.add("OIDC_CLIENT_ID", "is required with OIDC_ISSUER")
		}
	} else {
		for _, name := range []string{"OIDC_CLIENT_ID", "OIDC_CLIENT_SECRET", "OIDC_REDIRECT_URL"} {
			if get(name, "") != "" {
				errs.add(name, "is set but OIDC_ISSUER is not: single sign-on stays off")
			}
		}
	}
	c.PasswordSignIn = parseBool(&errs, "PASSWORD_SIGNIN", get("PASSWORD_SIGNIN", "true"))
	if !c.PasswordSignIn && !c.OIDC.Enabled() {
		errs.add("PASSWORD_SIGNIN", "cannot be false without OIDC_ISSUER: nobody could sign in")
	}

	switch lvl := strings.ToLower(get("LOG_LEVEL", "info")); lvl {
	case "debug":
		c.LogLevel = slog.LevelDebug
	case "info":
		c.LogLevel = slog.LevelInfo
	case "warn", "warning":
		c.LogLevel = slog.LevelWarn
	case "error":
		c.LogLevel = slog.LevelError
	default:
		errs.add("LOG_LEVEL", "must be debug, info, warn or error, got %q", lvl)
	}
	defFormat := "json"
	if c.Env == EnvDevelopment {
		defFormat = "text"
	}
	c.LogFormat = strings.ToLower(get("LOG_FORMAT", defFormat))
	if c.LogFormat != "json" && c.LogFormat != "text" {
		errs.add("LOG_FORMAT", "must be json or text, got %q", c.LogFormat)
	}

	c.ShutdownTimeout = parseDuration(&errs, "SHUTDOWN_TIMEOUT", get("SHUTDOWN_TIMEOUT", "20s"))
	defDelay := "0s"
	if !dev {
		defDelay = "5s"
	}
	c.ShutdownDelay = parseDuration(&errs, "SHUTDOWN_DELAY", get("SHUTDOWN_DELAY", defDelay))
	if c.ShutdownDelay >= c.ShutdownTimeout && c.ShutdownTimeout > 0 {
		errs.add("SHUTDOWN_DELAY", "must be shorter than SHUTDOWN_TIMEOUT")
	}

	c.OTLPEndpoint = get("OTEL_EXPORTER_OTLP_ENDPOINT", "")
	if v := get("TRUSTED_PROXIES", ""); v != "" {
		for _, p := range strings.Split(v, ",") {
			p = strings.TrimSpace(p)
			if _, err := netip.ParsePrefix(p); err != nil {
				if _, err := netip.ParseAddr(p); err != nil {
					errs.add("TRUSTED_PROXIES", "must be a comma-separated list of IPs or CIDRs, got %q", p)
					continue
				}
			}
			c.TrustedProxies = append(c.TrustedProxies, p)
		}
	}
	c.PodName = get("POD_NAME", "")

	if len(errs) > 0 {
		return Config{}, errors.New("invalid configuration:\n  " + strings.Join(errs, "\n  "))
	}
	return c, nil
}

// checkOIDCURL requires an absolute http(s) URL, https outside development
// and tests (an identity provider over plain HTTP hands out sign-ins to
// anyone on the path).
func checkOIDCURL(errs *problems, name, v string, dev bool) {
	u, err := url.Parse(v)
	switch {
	case v == "" || err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http"):
		errs.add(name, "must be an absolute https URL, got %q", v)
	case u.Scheme != "https" && !dev:
		errs.add(name, "must be https in production, got %q", v)
	}
}

// maxTokenTTL bounds API_TOKEN_MAX_TTL: a leaked token that lives for years
// is a standing key.
const maxTokenTTL = 366 * 24 * time.Hour

func checkAddr(errs *problems, name, addr string) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		errs.add(name, "must be host:port or :port, got %q", addr)
		return
	}
	if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		errs.add(name, "has an invalid port %q", port)
	}
	_ = host
}

func parseBool(errs *problems, name, v string) bool {
	b, err := strconv.ParseBool(v)
	if err != nil {
		errs.add(name, "must be true or false, got %q", v)
	}
	return b
}

func parseDuration(errs *problems, name, v string) time.Duration {
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		errs.add(name, "must be a duration such as 20s, got %q", v)
	}
	return d
}

// LogValue renders the effective configuration with secrets masked.
func (c Config) LogValue() slog.Value {
	sessionKey := "set"
	if c.SessionKeyGenerated {
		sessionKey = "generated (sessions end at restart)"
	}
	return slog.GroupValue(
		slog.String("env", c.Env),
		slog.String("http_addr", c.HTTPAddr),
		slog.String("admin_addr", c.AdminAddr),
		slog.String("database_url", RedactURL(c.DatabaseURL)),
		slog.String("database_secret_arn", c.DatabaseSecretARN),
		slog.Int("database_max_conns", int(c.DatabaseMaxConns)),
		slog.Bool("migrate_on_start", c.MigrateOnStart),
		slog.Bool("create_dev_admin", c.CreateDevAdmin),
		slog.String("blob_store", c.BlobStore),
		slog.String("s3_endpoint", c.S3Endpoint),
		slog.String("session_key", sessionKey),
		slog.Bool("secure_cookies", c.SecureCookies),
		slog.Duration("api_token_ttl", c.TokenTTL),
		slog.Duration("api_token_max_ttl", c.TokenMaxTTL),
		slog.String("oidc_issuer", c.OIDC.Issuer),
		slog.String("oidc_client_id", c.OIDC.ClientID),
		slog.Bool("oidc_client_secret_set", c.OIDC.ClientSecret != ""),
		slog.String("oidc_redirect_url", c.OIDC.RedirectURL),
		slog.Bool("oidc_allow_signup", c.OIDC.AllowSignup),
		slog.Bool("password_signin", c.PasswordSignIn),
		slog.String("log_level", c.LogLevel.String()),
		slog.String("log_format", c.LogFormat),
		slog.Duration("shutdown_timeout", c.ShutdownTimeout),
		slog.Duration("shutdown_delay", c.ShutdownDelay),
		slog.Bool("tracing", c.OTLPEndpoint != ""),
		slog.Any("trusted_proxies", c.TrustedProxies),
	)
}

// RedactURL hides the password of a database URL (and any password=... in a
// key/value DSN), so the URL can be logged.
func RedactURL(raw string) string {
	if raw == "" {
		return ""
	}
	if strings.Contains(raw, "://") {
		u, err := url.Parse(raw)
		if err != nil {
			return "(unparseable URL)"
		}
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
		}
		q := u.Query()
		if q.Has("password") {
			q.Set("password", "xxxxx")
			u.RawQuery = q.Encode()
		}
		return u.String()
	}
	fields := strings.Fields(raw)
	for i, f := range fields {
		if strings.HasPrefix(strings.ToLower(f), "password=") {
			fields[i] = "password=xxxxx"
		}
	}
	return strings.Join(fields, " ")
}
