package database

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// secretsServer answers GetSecretValue over Secrets Manager's JSON protocol
// with whatever password is current, counting calls.
func secretsServer(t *testing.T, password *atomic.Value, calls *atomic.Int32) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		if r.Header.Get("X-Amz-Target") != "secretsmanager.GetSecretValue" {
			http.Error(w, "unexpected operation", http.StatusBadRequest)
			return
		}
		var in struct {
			SecretID string `json:"SecretId"`
		}
		_ = json.NewDecoder(r.Body).Decode(&in)
		secret, _ := json.Marshal(map[string]string{"username": "gopherops", "password": password.Load().(string)})
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		_ = json.NewEncoder(w).Encode(map[string]any{"ARN": in.SecretID, "Name": "rds", "SecretString": string(secret)})
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestSecretCredentialsFollowRotation(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_CONFIG_FILE", "/dev/null")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
	var pw atomic.Value
	pw.Store("first-password")
	var calls atomic.Int32
	srv := secretsServer(t, &pw, &calls)

	ctx := context.Background()
	creds, err := NewSecretCredentials(ctx, "arn:aws:secretsmanager:us-east-1:123456789012:secret:rds", SecretOptions{Endpoint: srv.URL, TTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_800_000_000, 0)
	creds.now = func() time.Time { return now }

	user, got, err := creds.Credentials(ctx)
	if err != nil || user != "gopherops" || got != "first-password" {
		t.Fatalf("first read: %q %q %v", user, got, err)
	}
	pw.Store("rotated-password")
	if _, got, _ := creds.Credentials(ctx); got != "first-password" || calls.Load() != 1 {
		t.Fatalf("within the TTL: %q after %d calls, want the cached password after 1", got, calls.Load())
	}
	now = now.Add(2 * time.Minute)
	if _, got, _ := creds.Credentials(ctx); got != "rotated-password" {
		t.Fatalf("after the TTL: %q, want the rotated password", got)
	}
	// AWS unreachable: keep the last known credentials rather than fail connections.
	srv.Close()
	now = now.Add(2 * time.Minute)
	if _, got, err := creds.Credentials(ctx); err != nil || got != "rotated-password" {
		t.Fatalf("with AWS down: %q %v", got, err)
	}
}
