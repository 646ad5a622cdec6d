package compose

import (
	"strings"
	"testing"
)

// TestDevAdminFromLogs runs without Docker: it pins what the suite accepts as
// the app's one-time development admin banner.
func TestDevAdminFromLogs(t *testing.T) {
	banner := "\n  Development admin created (shown once):\n    username: admin\n    password: Tq7-correct-horse-battery\n\n"
	tests := []struct {
		name, logs string
		want       string // the password, or "" when refused
		err        string
	}{
		{"banner among log lines", "time=... level=INFO msg=\"starting gopherops\"" + banner + "time=... msg=serving\n", "Tq7-correct-horse-battery", ""},
		{"no banner (users existed)", "Users already exist; sign in with your account\n", "", "no \"Development admin created\" banner"},
		{"printed twice", banner + banner, "", "exactly once, found 2"},
		{"another user", strings.Replace(banner, "username: admin", "username: root", 1), "", "does not name the user"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := devAdminFromLogs(tt.logs)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want one containing %q", err, tt.err)
				}
				return
			}
			if err != nil || got.Login != "admin" || got.Password != tt.want {
				t.Fatalf("got %+v, %v; want admin/%s", got, err, tt.want)
			}
		})
	}
}
