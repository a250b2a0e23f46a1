package livecanary

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"testing"

	istioshared "github.com/agentops/progressive/examples/istio-shared"
	"github.com/agentops/progressive/internal/promtest"
	"github.com/agentops/progressive/internal/testenv"
)

// Stack is what every scenario runs on: one control plane with the Istio CRDs,
// one Prometheus scraping every second, and one App serving a service per
// scenario.
type Stack struct {
	Env  *testenv.Env
	Prom *promtest.Server
	App  *promtest.App
	// Log receives the harness' and the drivers' records.
	Log *slog.Logger

	promErr error // why Prometheus did not start (tests)
}

// StartStack starts the control plane, the App and Prometheus, for a
// program; Close stops them.
func StartStack(ctx context.Context, log *slog.Logger) (*Stack, error) {
	opts, err := istioshared.TestenvOptions()
	if err != nil {
		return nil, fmt.Errorf("istio CRDs: %w", err)
	}
	env, err := testenv.Start(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("control plane: %w", err)
	}
	app := promtest.NewApp()
	prom, err := promtest.New(promtest.Options{Targets: []string{app.Addr()}})
	if err != nil {
		app.Close()
		_ = env.Stop()
		return nil, fmt.Errorf("prometheus: %w", err)
	}
	return &Stack{Env: env, Prom: prom, App: app, Log: log}, nil
}

// Close stops Prometheus, the App and the control plane.
func (s *Stack) Close() {
	if s.Prom != nil {
		s.Prom.Stop()
	}
	if s.App != nil {
		s.App.Close()
	}
	if s.Env != nil {
		_ = s.Env.Stop()
	}
}

// testParallel is how many scenario tests run at once: they spend their time
// waiting for Prometheus windows, not on the CPU, and go test's default
// (GOMAXPROCS, 2 on CI) would run them two at a time.
const testParallel = "16"

// RunMain is TestMain for a package of scenarios: it starts the App and
// Prometheus, then the control plane with the Istio CRDs
// (istioshared.RunMain), runs the tests and stops everything. Under CI=true a
// component that does not start fails the run. Unless -test.parallel is
// given, up to 16 scenarios run at once.
func RunMain(m *testing.M, stack **Stack) int {
	if !flag.Parsed() {
		flag.Parse()
	}
	given := false
	flag.Visit(func(f *flag.Flag) { given = given || f.Name == "test.parallel" })
	if !given {
		_ = flag.Set("test.parallel", testParallel)
	}
	s := &Stack{App: promtest.NewApp(), Log: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))}
	defer s.App.Close()
	prom, err := promtest.New(promtest.Options{Targets: []string{s.App.Addr()}})
	if err != nil {
		fmt.Fprintf(os.Stderr, "livecanary: Prometheus did not start: %v\n", err)
		if os.Getenv("CI") == "true" || testenv.Required() {
			return 1
		}
		s.promErr = err
	} else {
		s.Prom = prom
		defer prom.Stop()
	}
	*stack = s
	return istioshared.RunMain(m, &s.Env)
}

// Require returns the stack for a test: it skips the test (fails it under
// CI=true) when the control plane or Prometheus did not start.
func (s *Stack) Require(t testing.TB) *Stack {
	t.Helper()
	if s == nil {
		t.Fatal("livecanary: no stack (RunMain did not run)")
	}
	s.Env.Require(t)
	if s.Prom == nil {
		err := s.promErr
		if err == nil {
			err = errors.New("not started")
		}
		promtest.Check(t, err)
	}
	if s.Prom.Stopped() {
		t.Fatalf("livecanary: Prometheus has stopped:\n%s", s.Prom.LogTail(40))
	}
	return s
}
