package promtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// ErrNoBinary is returned when the prometheus (or promtool) binary cannot be
// found. Check skips a test on it outside CI and fails it under CI=true.
var ErrNoBinary = errors.New("promtest: binary not found")

// Environment variables that point at binaries elsewhere than $PATH.
const (
	EnvPrometheus = "PROMETHEUS_BIN"
	EnvPromtool   = "PROMTOOL_BIN"
)

// Defaults of Options.
const (
	DefaultScrapeInterval = time.Second
	DefaultReadyTimeout   = 30 * time.Second
)

// Options configure a Prometheus started for a test.
type Options struct {
	// Targets are host:port addresses scraped at /metrics (job "app",
	// honor_labels true, so the targets' own namespace/service/pod labels stay).
	Targets []string
	// ScrapeInterval (and evaluation interval). Default 1s.
	ScrapeInterval time.Duration
	// DataDir is the TSDB directory, for example one written by Backfill. Default:
	// a new temporary directory, removed by Stop.
	DataDir string
	// ReadyTimeout bounds the wait for /-/ready. Default 30s.
	ReadyTimeout time.Duration
}

// Server is a running Prometheus.
type Server struct {
	// URL is the HTTP API's base address, http://127.0.0.1:PORT.
	URL string
	// Dir holds the configuration, the log and (by default) the data.
	Dir string

	cmd     *exec.Cmd
	done    chan struct{}
	waitErr error
	logPath string
	ownDir  bool

	stopOnce sync.Once
}

// Binary returns the path of the named binary ("prometheus" or "promtool"):
// $PROMETHEUS_BIN or $PROMTOOL_BIN when set, else the first on $PATH. The error
// wraps ErrNoBinary.
func Binary(name string) (string, error) {
	env := EnvPrometheus
	if name == "promtool" {
		env = EnvPromtool
	}
	if p := os.Getenv(env); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("%w: $%s=%s: %v", ErrNoBinary, env, p, err)
		}
		return p, nil
	}
	p, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("%w: %s is not on $PATH (install Debian's prometheus package: apt-get install -y prometheus, or set $%s)", ErrNoBinary, name, env)
	}
	return p, nil
}

// RequiredEnv names an environment variable that, set to a true value, makes a
// missing binary fail tests even outside CI (the same variable as the control
// plane's, so one setting covers the whole kit).
const RequiredEnv = "PROGRESSIVE_TESTENV_REQUIRED"

// Required reports whether a missing binary must fail the tests: under CI=true
// (CI installs the package, and a test that needs Prometheus never passes by not
// running) or with $PROGRESSIVE_TESTENV_REQUIRED set to a true value.
func Required() bool {
	for _, name := range []string{"CI", RequiredEnv} {
		if v, err := strconv.ParseBool(os.Getenv(name)); err == nil && v {
			return true
		}
	}
	return false
}

// Check ends the test when err is not nil: it skips when the binary is missing
// (ErrNoBinary) unless Required(), and fails in every other case.
func Check(t testing.TB, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if errors.Is(err, ErrNoBinary) && !Required() {
		t.Skipf("needs Prometheus (set CI=true to make this a failure): %v", err)
	}
	t.Fatalf("Prometheus: %v", err)
}

// Start starts a Prometheus for the test and stops it when the test ends. It
// skips or fails the test as Check does.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	s, err := New(t.Context(), opts)
	Check(t, err)
	t.Cleanup(s.Stop)
	return s
}

// New starts a Prometheus on a free 127.0.0.1 port and waits until it is ready
// (or ctx ends). The caller stops it with Stop. (Tests usually call Start; New
// serves a TestMain that shares one server among tests.) ctx bounds only the
// start: the server runs until Stop.
func New(ctx context.Context, opts Options) (*Server, error) {
	bin, err := Binary("prometheus")
	if err != nil {
		return nil, err
	}
	if opts.ScrapeInterval <= 0 {
		opts.ScrapeInterval = DefaultScrapeInterval
	}
	if opts.ReadyTimeout <= 0 {
		opts.ReadyTimeout = DefaultReadyTimeout
	}
	dir, err := os.MkdirTemp("", "promtest-")
	if err != nil {
		return nil, err
	}
	cfg := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfg, []byte(config(opts)), 0o644); err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	data := opts.DataDir
	if data == "" {
		data = filepath.Join(dir, "data")
	}
	var lastErr error
	// The port is free when chosen and may be taken before Prometheus binds it:
	// try a few times.
	for range 3 {
		port, err := freePort()
		if err != nil {
			_ = os.RemoveAll(dir)
			return nil, err
		}
		s := &Server{URL: fmt.Sprintf("http://127.0.0.1:%d", port), Dir: dir, ownDir: true, logPath: filepath.Join(dir, "prometheus.log")}
		args := []string{
			"--config.file=" + cfg,
			"--storage.tsdb.path=" + data,
			fmt.Sprintf("--web.listen-address=127.0.0.1:%d", port),
			"--storage.tsdb.retention.time=100y",
			"--log.level=info",
		}
		if err := s.start(bin, args); err != nil {
			_ = os.RemoveAll(dir)
			return nil, err
		}
		if lastErr = s.waitReady(ctx, opts.ReadyTimeout); lastErr == nil {
			return s, nil
		}
		s.kill()
		if !strings.Contains(lastErr.Error(), "address already in use") {
			break
		}
	}
	_ = os.RemoveAll(dir)
	return nil, lastErr
}

// config writes the scrape configuration.
func config(opts Options) string {
	var b strings.Builder
	fmt.Fprintf(&b, "global:\n  scrape_interval: %s\n  evaluation_interval: %s\n", promDuration(opts.ScrapeInterval), promDuration(opts.ScrapeInterval))
	if len(opts.Targets) > 0 {
		b.WriteString("scrape_configs:\n  - job_name: app\n    honor_labels: true\n")
		fmt.Fprintf(&b, "    scrape_timeout: %s\n", promDuration(opts.ScrapeInterval))
		b.WriteString("    static_configs:\n      - targets:\n")
		for _, t := range opts.Targets {
			fmt.Fprintf(&b, "          - %q\n", t)
		}
	}
	return b.String()
}

// promDuration writes d in whole milliseconds, which Prometheus' parser accepts.
func promDuration(d time.Duration) string {
	return fmt.Sprintf("%dms", max(d.Milliseconds(), 1))
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("promtest: reserving a port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// start runs the binary in its own process group, so that a signal to the test's
// group does not reach it and Stop can end it and any child by group; the kernel
// kills it if the test process dies first.
func (s *Server) start(bin string, args []string) error {
	f, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	fmt.Fprintf(f, "# %s %s\n", bin, strings.Join(args, " "))
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		_ = f.Close()
		return fmt.Errorf("promtest: starting %s: %w", bin, err)
	}
	s.cmd = cmd
	s.done = make(chan struct{})
	go func() {
		s.waitErr = cmd.Wait()
		_ = f.Close()
		close(s.done)
	}()
	return nil
}

func (s *Server) waitReady(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	client := &http.Client{Timeout: time.Second}
	for {
		select {
		case <-s.done:
			return fmt.Errorf("promtest: prometheus exited before it was ready (%v):\n%s", s.waitErr, s.LogTail(20))
		case <-ctx.Done():
			return fmt.Errorf("promtest: waiting for prometheus to be ready: %w", ctx.Err())
		default:
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/-/ready", nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("promtest: prometheus not ready within %s:\n%s", timeout, s.LogTail(20))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stopped reports whether the process has exited.
func (s *Server) Stopped() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// Stop ends Prometheus (SIGTERM to its process group, SIGKILL after 5s) and
// removes its directory unless it holds a caller's DataDir. It may be called
// more than once, for example by a test that stops Prometheus mid-rollout and by
// the cleanup after it.
func (s *Server) Stop() {
	s.stopOnce.Do(func() {
		s.signal(syscall.SIGTERM, 5*time.Second)
		if s.ownDir {
			_ = os.RemoveAll(s.Dir)
		}
	})
}

func (s *Server) kill() { s.signal(syscall.SIGKILL, 5*time.Second) }

func (s *Server) signal(sig syscall.Signal, grace time.Duration) {
	pgid := s.cmd.Process.Pid
	select {
	case <-s.done:
	default:
		_ = syscall.Kill(-pgid, sig)
		select {
		case <-s.done:
		case <-time.After(grace):
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			<-s.done
		}
	}
	_ = syscall.Kill(-pgid, syscall.SIGKILL) // children that outlived the leader (none expected)
}

// LogTail returns the last n lines of Prometheus' log.
func (s *Server) LogTail(n int) string {
	data, err := os.ReadFile(s.logPath)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Query runs an instant query at ts (zero: now) with plain HTTP and returns the
// number of series in the answer and the first value, for waiting on data in
// tests without the provider under test.
func (s *Server) Query(ctx context.Context, expr string, ts time.Time) (series int, first string, err error) {
	form := url.Values{"query": {expr}}
	if !ts.IsZero() {
		form.Set("time", fmt.Sprintf("%d.%03d", ts.Unix(), ts.Nanosecond()/1e6))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL+"/api/v1/query", strings.NewReader(form.Encode()))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	var body struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			ResultType string            `json:"resultType"`
			Result     []json.RawMessage `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return 0, "", fmt.Errorf("promtest: query %q: %w", expr, err)
	}
	if body.Status != "success" {
		return 0, "", fmt.Errorf("promtest: query %q: %s", expr, body.Error)
	}
	if body.Data.ResultType != "vector" {
		return 0, "", fmt.Errorf("promtest: query %q: a %s, not a vector", expr, body.Data.ResultType)
	}
	if len(body.Data.Result) > 0 {
		var sample struct {
			Value [2]json.RawMessage `json:"value"`
		}
		if err := json.Unmarshal(body.Data.Result[0], &sample); err == nil {
			first = string(bytes.Trim(sample.Value[1], `"`))
		}
	}
	return len(body.Data.Result), first, nil
}

// WaitFor polls expr every 200ms until it returns at least one series, or
// timeout passes. Prometheus scrapes for the first time about 5s after it is
// ready, so tests wait on their first series before they rely on any.
func (s *Server) WaitFor(ctx context.Context, expr string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var lastErr error
	for {
		n, _, err := s.Query(ctx, expr, time.Time{})
		if err == nil && n > 0 {
			return nil
		}
		if err != nil {
			lastErr = err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("promtest: no series for %q within %s (last error: %v)", expr, timeout, lastErr)
		case <-time.After(200 * time.Millisecond):
		}
	}
}
