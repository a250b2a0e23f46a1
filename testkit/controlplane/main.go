package controlplane

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// RequiredEnv names an environment variable that, set to a true value,
// makes the control plane required even outside CI.
const RequiredEnv = "PROGRESSIVE_TESTENV_REQUIRED"

// Required reports whether failing to build or start the control plane must
// fail the tests (true under CI=true, or with
// PROGRESSIVE_TESTENV_REQUIRED=true) rather than skip them (a developer
// machine without the Go module proxy, for example).
func Required() bool {
	for _, name := range []string{"CI", RequiredEnv} {
		if v, err := strconv.ParseBool(os.Getenv(name)); err == nil && v {
			return true
		}
	}
	return false
}

// RunMain starts one control plane for the whole test binary, stores it in
// *env, runs the tests and stops it, and returns the exit code for
// os.Exit. Use it from TestMain and keep the env in a variable of the test
// package:
//
//	var env *controlplane.Env
//
//	func TestMain(m *testing.M) {
//		os.Exit(controlplane.RunMain(m, controlplane.Options{}, &env))
//	}
//
//	func TestSomething(t *testing.T) {
//		e := env.Require(t) // skips (or, under CI, fails) without a control plane
//		ns := e.NewNamespace(t)
//		...
//	}
//
// If the control plane cannot be built or started, RunMain returns 1 when
// Required() (CI); otherwise it prints why, leaves *env nil and runs the
// tests, which skip through Env.Require. If a test fails, the tails of the
// component logs are printed. SIGINT and SIGTERM stop the control plane
// before the process exits.
func RunMain(m *testing.M, opts Options, env **Env) int {
	if !flag.Parsed() {
		flag.Parse() // for testing.Verbose and -test.list
	}
	if f := flag.Lookup("test.list"); f != nil && f.Value.String() != "" {
		return m.Run() // only listing tests: no control plane needed
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute) // includes a cold build
	start := time.Now()
	e, err := Start(ctx, opts)
	cancel()
	if err != nil {
		if Required() {
			fmt.Fprintf(os.Stderr, "controlplane: FAIL: the control plane did not start (required because CI or %s is set): %v\n", RequiredEnv, err)
			return 1
		}
		fmt.Fprintf(os.Stderr, "controlplane: the control plane did not start; tests that need it will be skipped (set CI=true or %s=true to make this fail): %v\n", RequiredEnv, err)
		*env = nil
		return m.Run()
	}
	if testing.Verbose() {
		fmt.Fprintf(os.Stderr, "controlplane: control plane ready in %s (start %s) at %s, kubeconfig %s\n",
			time.Since(start).Round(time.Millisecond), e.StartDuration().Round(time.Millisecond), e.APIServerURL(), e.Kubeconfig())
	}
	*env = e

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		if s, ok := <-sigs; ok {
			fmt.Fprintf(os.Stderr, "controlplane: %v: stopping the control plane\n", s)
			_ = e.Stop()
			os.Exit(1)
		}
	}()

	code := m.Run()
	signal.Stop(sigs)
	if code != 0 {
		fmt.Fprintf(os.Stderr, "controlplane: tests failed; component logs (full logs in %s):\n%s", e.Dir(), e.LogTails(60))
	}
	if err := e.Stop(); err != nil {
		fmt.Fprintf(os.Stderr, "controlplane: stop: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	return code
}

// Require returns e for use in a test. If e is nil (RunMain could not start
// the control plane) it skips the test, or fails it when Required(). If a
// component has died it fails the test with the logs.
func (e *Env) Require(t testing.TB) *Env {
	t.Helper()
	if e == nil {
		if Required() {
			t.Fatal("controlplane: no control plane (it did not start; see the TestMain output)")
		}
		t.Skip("controlplane: no control plane on this machine (see the TestMain output); set CI=true to make this a failure")
	}
	if err := e.Check(); err != nil {
		t.Fatalf("controlplane: %v\n%s", err, e.LogTails(60))
	}
	return e
}

// StartForTest starts a control plane of its own for one test and stops it
// when the test ends, printing the component logs if the test failed. If
// it cannot start, the test is skipped, or fails when Required(). Prefer
// one env per test binary (RunMain): a start takes a few seconds.
func StartForTest(t testing.TB, opts Options) *Env {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	e, err := Start(ctx, opts)
	if err != nil {
		if Required() {
			t.Fatalf("controlplane: the control plane did not start: %v", err)
		}
		t.Skipf("controlplane: the control plane did not start (set CI=true to make this a failure): %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("controlplane: component logs (full logs in %s):\n%s", e.Dir(), e.LogTails(60))
		}
		if err := e.Stop(); err != nil {
			t.Errorf("controlplane: stop: %v", err)
		}
	})
	return e
}
