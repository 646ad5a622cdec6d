// Package s3local runs a real S3 server, SeaweedFS's `weed mini` (the server
// compose runs), on free loopback ports for tests: the avatar store's S3
// tests and any suite that needs buckets (versioning, recovery). The `weed`
// binary is not built here: `make tools` builds it from the Go module proxy
// into the tool cache, where Find looks for it.
package s3local

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// The SeaweedFS that `make tools` builds. Compose runs the 4.48 image; the Go
// module proxy serves no pseudo-version of that release, and 4.53 is the
// nearest it serves.
const (
	// Version is the SeaweedFS release `weed version` reports.
	Version = "4.53"
	// Module is SeaweedFS's Go module.
	Module = "github.com/seaweedfs/seaweedfs"
	// ModuleVersion is the proxy's pseudo-version of Version.
	ModuleVersion = "v0.0.0-20261109003541-7506e5f91cd6"
	// Package is the main package of the weed command.
	Package = Module + "/weed"
	// Binary is the executable's name.
	Binary = "weed"
)

// EnvCacheDir overrides the tool cache directory (as for `make tools`).
const EnvCacheDir = "GOPHEROPS_TOOLS_DIR"

// ErrNotBuilt is wrapped by Find's error when no weed is on PATH or in the cache.
var ErrNotBuilt = errors.New("weed is not built")

// Region is the region the server signs for; any works with SeaweedFS.
const Region = "us-east-1"

// CacheDir is the tool cache: $GOPHEROPS_TOOLS_DIR, else the user cache
// directory's gopherops-tools.
func CacheDir() (string, error) {
	if dir := os.Getenv(EnvCacheDir); dir != "" {
		return filepath.Abs(dir)
	}
	base, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("s3local: cache directory (set %s): %w", EnvCacheDir, err)
	}
	return filepath.Join(base, "gopherops-tools"), nil
}

// BinaryIn is where `make tools` puts weed under the cache root.
func BinaryIn(cacheRoot string) string {
	return filepath.Join(cacheRoot, "seaweedfs-"+Version, Binary)
}

// Find returns the weed executable: on PATH, else in the tool cache.
func Find() (string, error) {
	if p, err := exec.LookPath(Binary); err == nil {
		return p, nil
	}
	root, err := CacheDir()
	if err != nil {
		return "", err
	}
	p := BinaryIn(root)
	if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0 {
		return p, nil
	}
	return "", fmt.Errorf("s3local: SeaweedFS %s is neither on PATH nor at %s; `make tools` builds it: %w", Version, p, ErrNotBuilt)
}

// Options configure Start.
type Options struct {
	// Binary is the weed executable; empty means Find.
	Binary string
	// Dir holds the data and the server's log; empty means a temporary
	// directory that Close removes.
	Dir string
	// Buckets are created before Start returns.
	Buckets []string
	// AccessKey and SecretKey are the only identity the server accepts;
	// empty means random ones.
	AccessKey, SecretKey string
	// StartTimeout bounds the wait for the server to answer; 0 means 60s.
	StartTimeout time.Duration
}

// Server is a running weed mini owned by this process.
type Server struct {
	// URL is the S3 endpoint (path-style), for AWS_ENDPOINT_URL_S3.
	URL string
	// AccessKey and SecretKey sign requests to it.
	AccessKey, SecretKey string
	// Dir holds its data and log (weed.log).
	Dir string

	temp    bool
	sockDir string
	cmd     *exec.Cmd
	done    chan struct{}
	exitErr error
	once    sync.Once
	stopErr error
}

// ports weed mini listens on besides S3: each gets a free loopback port so
// that parallel test processes never meet (mini would otherwise move a busy
// default port to the next one, racing with the other process).
var portFlags = []string{
	"master.port", "master.port.grpc", "volume.port", "volume.port.grpc",
	"filer.port", "filer.port.grpc", "s3.port.grpc", "admin.port", "admin.port.grpc",
}

// Start runs weed mini on loopback with only the S3 API (no WebDAV, admin
// UI, Iceberg or Lance endpoints, no telemetry) and waits until every bucket
// of opts answers a signed HeadBucket.
func Start(ctx context.Context, opts Options) (*Server, error) {
	bin := opts.Binary
	if bin == "" {
		var err error
		if bin, err = Find(); err != nil {
			return nil, err
		}
	}
	s := &Server{AccessKey: opts.AccessKey, SecretKey: opts.SecretKey, Dir: opts.Dir, done: make(chan struct{})}
	if s.AccessKey == "" || s.SecretKey == "" {
		s.AccessKey, s.SecretKey = "s3local"+randomHex(4), randomHex(20)
	}
	if s.Dir == "" {
		dir, err := os.MkdirTemp("", "s3local-")
		if err != nil {
			return nil, fmt.Errorf("s3local: %w", err)
		}
		s.Dir, s.temp = dir, true
	}
	// Unix socket paths are short (108 bytes): a directory of their own in
	// the temporary directory, whatever Dir is.
	sockDir, err := os.MkdirTemp("", "s3l-")
	if err != nil {
		s.cleanup()
		return nil, fmt.Errorf("s3local: %w", err)
	}
	s.sockDir = sockDir
	ports, err := freePorts(len(portFlags) + 1)
	if err != nil {
		s.cleanup()
		return nil, err
	}
	s3Port := ports[0]
	s.URL = "http://127.0.0.1:" + strconv.Itoa(s3Port)
	filerPort := 0
	args := []string{"mini", "-dir=" + filepath.Join(s.Dir, "data"), "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
		"-s3.port=" + strconv.Itoa(s3Port), "-s3.port.iceberg=0", "-s3.port.lance=0",
		"-webdav=false", "-admin.ui=false", "-admin.port.legacy=0", "-master.telemetry=false",
		// As on AWS, an upload to a bucket that does not exist is refused
		// (mini's one identity is an admin, which it otherwise lets create
		// the bucket on the way).
		"-s3.autoCreateBucket=false",
		// Sockets of its own, not /tmp/seaweedfs-*-<port>.sock.
		"-filer.localSocket=" + filepath.Join(sockDir, "f.sock"), "-s3.localSocket=" + filepath.Join(sockDir, "s.sock")}
	for i, f := range portFlags {
		args = append(args, "-"+f+"="+strconv.Itoa(ports[i+1]))
		if f == "filer.port" {
			filerPort = ports[i+1]
		}
	}
	if len(opts.Buckets) > 0 {
		args = append(args, "-bucket="+strings.Join(opts.Buckets, ","))
	}
	if err := os.MkdirAll(filepath.Join(s.Dir, "data"), 0o750); err != nil {
		s.cleanup()
		return nil, fmt.Errorf("s3local: %w", err)
	}
	logFile, err := os.Create(filepath.Join(s.Dir, "weed.log"))
	if err != nil {
		s.cleanup()
		return nil, fmt.Errorf("s3local: %w", err)
	}
	// The server outlives Start's ctx (which bounds only the wait for it to
	// be ready): Close stops it, SIGTERM to its group first, never a context.
	cmd := exec.CommandContext(context.Background(), bin, args...) //nolint:gosec // the weed binary make tools built, with flags composed here
	cmd.Dir = s.Dir
	// mini makes its one identity from these and nothing else of ours.
	cmd.Env = append(minimalEnv(), "AWS_ACCESS_KEY_ID="+s.AccessKey, "AWS_SECRET_ACCESS_KEY="+s.SecretKey)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// Its own process group: a terminal's Ctrl-C reaches the test, which
	// then stops the server, rather than killing it mid-test.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		_ = logFile.Close()
		s.cleanup()
		return nil, fmt.Errorf("s3local: start %s: %w", bin, err)
	}
	s.cmd = cmd
	go func() {
		s.exitErr = cmd.Wait()
		_ = logFile.Close()
		close(s.done)
	}()
	timeout := opts.StartTimeout
	if timeout <= 0 {
		timeout = 60 * time.Second
	}
	if err := s.waitReady(ctx, timeout, filerPort, opts.Buckets); err != nil {
		_ = s.Close()
		return nil, err
	}
	return s, nil
}

// minimalEnv is what weed inherits: enough to run, and none of the
// caller's AWS settings, which would change the identity it creates.
func minimalEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "AWS_") || strings.HasPrefix(k, "WEED_") || k == "S3_BUCKET" {
			continue
		}
		env = append(env, kv)
	}
	return env
}

// waitReady polls until the S3 API answers a signed request for every
// bucket (or, with none, ListBuckets), the process dies, or timeout passes.
func (s *Server) waitReady(ctx context.Context, timeout time.Duration, filerPort int, buckets []string) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	client := s.Client()
	var last error
	for {
		last = s.probe(ctx, client, filerPort, buckets)
		if last == nil {
			return nil
		}
		select {
		case <-s.done:
			exit := s.exitErr
			if exit == nil {
				exit = errors.New("exit status 0")
			}
			return fmt.Errorf("s3local: weed exited before it was ready: %w\n%s", exit, s.LogTail(30))
		case <-ctx.Done():
			return fmt.Errorf("s3local: weed not ready after %s: %w\n%s", timeout, last, s.LogTail(30))
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func (s *Server) probe(ctx context.Context, client *s3.Client, filerPort int, buckets []string) error {
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if len(buckets) == 0 {
		_, err := client.ListBuckets(pctx, &s3.ListBucketsInput{})
		return err
	}
	for _, b := range buckets {
		// The filer lists a bucket's directory only once mini has made it
		// (compose's healthcheck); then S3 must answer for it.
		req, err := http.NewRequestWithContext(pctx, http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d/buckets/%s/", filerPort, b), nil)
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("filer lists /buckets/%s/ with %s", b, resp.Status)
		}
		if _, err := client.HeadBucket(pctx, &s3.HeadBucketInput{Bucket: aws.String(b)}); err != nil {
			return fmt.Errorf("head bucket %s: %w", b, err)
		}
	}
	return nil
}

// Client is an S3 client of the server, signed with its identity.
func (s *Server) Client() *s3.Client {
	return s3.New(s3.Options{
		Region:       Region,
		BaseEndpoint: aws.String(s.URL),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(s.AccessKey, s.SecretKey, ""),
		// As the service configures its client for S3-compatible servers.
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	})
}

// Env is the environment a process (the service) needs to use the server
// through the default AWS credential chain.
func (s *Server) Env() []string {
	return []string{"AWS_ENDPOINT_URL_S3=" + s.URL, "AWS_ACCESS_KEY_ID=" + s.AccessKey,
		"AWS_SECRET_ACCESS_KEY=" + s.SecretKey, "AWS_REGION=" + Region}
}

// LogTail returns the last n lines of the server's log.
func (s *Server) LogTail(n int) string {
	b, err := os.ReadFile(filepath.Join(s.Dir, "weed.log"))
	if err != nil {
		return ""
	}
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}

// Close stops the server (SIGTERM to its process group, SIGKILL after 10s)
// and removes its directory when Start made it.
func (s *Server) Close() error {
	s.once.Do(func() {
		if s.cmd != nil {
			pgid := -s.cmd.Process.Pid
			_ = syscall.Kill(pgid, syscall.SIGTERM)
			select {
			case <-s.done:
			case <-time.After(10 * time.Second):
				_ = syscall.Kill(pgid, syscall.SIGKILL)
				<-s.done
				s.stopErr = errors.New("s3local: weed ignored SIGTERM for 10s and was killed")
			}
		}
		s.cleanup()
	})
	return s.stopErr
}

func (s *Server) cleanup() {
	if s.sockDir != "" {
		_ = os.RemoveAll(s.sockDir)
	}
	if s.temp {
		_ = os.RemoveAll(s.Dir)
	}
}

// randomHex returns n random bytes in hex.
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// freePorts returns n distinct loopback ports free at the time of the call.
func freePorts(n int) ([]int, error) {
	var lc net.ListenConfig
	ports := make([]int, 0, n)
	listeners := make([]net.Listener, 0, n)
	defer func() {
		for _, l := range listeners {
			_ = l.Close()
		}
	}()
	for range n {
		l, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("s3local: free port: %w", err)
		}
		listeners = append(listeners, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
