package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"time"
)

// adminPassword is the throwaway admin's password on the throwaway database.
const adminPassword = "long-admin-password-for-load"

func newClient(conns int) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns, tr.MaxIdleConnsPerHost, tr.MaxConnsPerHost = conns*2, conns, conns
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

func freePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func waitReady(url string) error {
	for i := 0; i < 300; i++ {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return errors.New("server not ready after 30s")
}

func login(c *http.Client, base string) (string, error) {
	resp, err := c.Post(base+"/api/v1/auth/tokens", "application/json",
		bytes.NewBufferString(`{"login":"bench","password":"`+adminPassword+`","name":"loadbench"}`))
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var out struct{ Token string }
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || out.Token == "" {
		return "", fmt.Errorf("login: %s", resp.Status)
	}
	return out.Token, nil
}

func seedUsers(c *http.Client, base, token string, n int) ([]int64, error) {
	ids := make([]int64, 0, n)
	for i := 0; i < n; i++ {
		body := fmt.Sprintf(`{"username":"seed%d","email":"seed%d@example.com","password":"seed-password-%d-long"}`, i, i, i)
		req, _ := http.NewRequest("POST", base+"/api/v1/users", bytes.NewBufferString(body))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := c.Do(req)
		if err != nil {
			return nil, err
		}
		var u struct{ ID int64 }
		err = json.NewDecoder(resp.Body).Decode(&u)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 201 {
			return nil, fmt.Errorf("seed user %d: %s", i, resp.Status)
		}
		ids = append(ids, u.ID)
	}
	return ids, nil
}

var csrfRe = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

// browserSession signs in through the HTML form, as a browser would.
func browserSession(base string) ([]*http.Cookie, error) {
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(base + "/login")
	if err != nil {
		return nil, err
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := csrfRe.FindSubmatch(page)
	if m == nil {
		return nil, errors.New("no CSRF token on the login page")
	}
	resp, err = c.PostForm(base+"/login", url.Values{"login": {"bench"}, "password": {adminPassword}, "csrf_token": {string(m[1])}})
	if err != nil {
		return nil, err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		return nil, fmt.Errorf("form login: %s", resp.Status)
	}
	u, _ := url.Parse(base)
	return jar.Cookies(u), nil
}

// server is the gopherops process under load.
type server struct {
	pid         int
	base, admin string // URLs of the main and admin listeners
	log         string // its log file
	stop        func()
}

// startServer builds gopherops (unless -bin names one), migrates the database,
// creates the admin and starts `serve` with APP_ENV=test, which mounts the
// bare handler on the admin listener.
func startServer(ctx context.Context, o options, work, dbURL string) (*server, error) {
	bin := o.binary
	if bin == "" {
		bin = filepath.Join(work, "gopherops")
		fmt.Println("building gopherops...")
		build := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/gopherops/gopherops/service/cmd/gopherops")
		build.Stdout, build.Stderr = os.Stdout, os.Stderr
		if err := build.Run(); err != nil {
			return nil, fmt.Errorf("build: %w", err)
		}
	}
	httpPort, adminPort := freePort(), freePort()
	env := append(os.Environ(),
		"APP_ENV=test", "DATABASE_URL="+dbURL, "HTTP_ADDR=127.0.0.1:"+strconv.Itoa(httpPort),
		"ADMIN_ADDR=127.0.0.1:"+strconv.Itoa(adminPort), "BLOB_STORE=file://"+filepath.Join(work, "blobs"),
		"SESSION_KEY="+base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{9}, 32)),
		"DATABASE_MAX_CONNS="+strconv.Itoa(o.poolSize), "LOG_FORMAT=json", "MIGRATE_ON_START=false")
	for _, args := range [][]string{{"migrate", "up"}, {"admin", "create", "--username", "bench", "--email", "bench@example.com"}} {
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Env = append(env, "ADMIN_PASSWORD="+adminPassword)
		if out, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("gopherops %v: %w: %s", args, err, out)
		}
	}
	logPath := filepath.Join(work, "serve.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	serve := exec.Command(bin, "serve")
	serve.Env, serve.Stdout, serve.Stderr = env, logFile, logFile
	if err := serve.Start(); err != nil {
		logFile.Close()
		return nil, err
	}
	srv := &server{pid: serve.Process.Pid, log: logPath,
		base:  "http://127.0.0.1:" + strconv.Itoa(httpPort),
		admin: "http://127.0.0.1:" + strconv.Itoa(adminPort),
		stop: func() {
			_ = serve.Process.Signal(os.Interrupt)
			_ = serve.Wait()
			logFile.Close()
		}}
	if err := waitReady(srv.base + "/readyz"); err != nil {
		srv.stop()
		return nil, err
	}
	return srv, nil
}
