package anchors

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentops/progressive/internal/livecanary"
	"github.com/agentops/progressive/internal/testenv"
)

// stack is the control plane (Istio, Flagger and Argo Rollouts CRDs, audit
// log), Prometheus, the App and the query proxy shared by every test of the
// binary; each test runs in a namespace of its own. flaggerBin is the built
// Flagger. Both are set by TestMain; tests get them through requireStack and
// requireBinary.
var (
	stack      *Anchors
	stackErr   error
	flaggerBin string
	flaggerErr error
)

func TestMain(m *testing.M) {
	livecanary.MaybeRunDriver() // progressive's drivers are this binary's children
	os.Exit(runMain(m))
}

// runMain starts the stack and builds Flagger (each bounded by 30 minutes: a
// cold build takes minutes on two cores), runs the tests and stops the
// stack. Under CI=true (testenv.Required) a stack or a Flagger that cannot
// be had fails the run; elsewhere the tests that need them skip.
func runMain(m *testing.M) int {
	if !flag.Parsed() {
		flag.Parse()
	}
	// The runs wait on controllers' ticks, not on the CPU: go test's
	// default (GOMAXPROCS, 2 on CI) would run them two at a time.
	given := false
	flag.Visit(func(f *flag.Flag) { given = given || f.Name == "test.parallel" })
	if !given {
		_ = flag.Set("test.parallel", "8")
	}
	if f := flag.Lookup("test.list"); f != nil && f.Value.String() != "" {
		return m.Run()
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	bctx, bcancel := context.WithTimeout(ctx, 30*time.Minute)
	defer bcancel()
	flaggerBin, flaggerErr = Build(bctx, Flagger(), log)
	if flaggerErr != nil {
		fmt.Fprintf(os.Stderr, "anchors: Flagger did not build: %v\n", flaggerErr)
		if testenv.Required() {
			return 1
		}
	}
	stack, stackErr = StartStack(bctx, StackOptions{Log: log})
	if stackErr != nil {
		fmt.Fprintf(os.Stderr, "anchors: the stack did not start: %v\n", stackErr)
		if testenv.Required() {
			return 1
		}
		return m.Run()
	}
	code := m.Run()
	if code != 0 {
		fmt.Fprintf(os.Stderr, "anchors: tests failed; component logs:\n%s", stack.Env.LogTails(40))
	}
	stack.Close()
	return code
}

// requireStack returns the stack, skipping the test (failing it under
// CI=true) when it did not start or failing it when a component died.
func requireStack(t testing.TB) *Anchors {
	t.Helper()
	if stack == nil {
		if testenv.Required() {
			t.Fatalf("anchors: no stack: %v", stackErr)
		}
		t.Skipf("anchors: no stack (set CI=true to make this a failure): %v", stackErr)
	}
	if err := stack.Check(); err != nil {
		t.Fatalf("anchors: %v\n%s", err, stack.Env.LogTails(40))
	}
	return stack
}

// requireBinary returns bin, or skips (fails under CI=true) with err.
func requireBinary(t testing.TB, what, bin string, err error) string {
	t.Helper()
	if err != nil {
		if testenv.Required() {
			t.Fatalf("anchors: no %s: %v", what, err)
		}
		t.Skipf("anchors: no %s (set CI=true to make this a failure): %v", what, err)
	}
	return bin
}

// testRunTimeout bounds one run: Flagger's promotion takes about 2 minutes after
// its initialization.
const testRunTimeout = 10 * time.Minute

// runContender runs sc with c in a new namespace and logs what it measured.
func runContender(t *testing.T, a *Anchors, c Contender, sc Scenario) Run {
	t.Helper()
	ns := a.Env.NewNamespace(t)
	ctx, cancel := context.WithTimeout(context.Background(), testRunTimeout)
	defer cancel()
	run, err := c.Run(ctx, a.Stack, ns, sc)
	logRun(t, run)
	require.NoError(t, err)
	return run
}

func logRun(t *testing.T, r Run) {
	t.Helper()
	t.Logf("%s %s %s: %s after %s; weights %s", r.Tool, r.Settings, r.Scenario, r.Outcome, r.EndedAt.Sub(r.StartedAt).Round(time.Millisecond), weightsString(r))
	if !r.RegressedAt.IsZero() && !r.BackOnStableAt.IsZero() {
		t.Logf("  regression -> 0%%: %s", r.BackOnStableAt.Sub(r.RegressedAt).Round(time.Millisecond))
	}
	t.Logf("  requests: %.1f per advancing tick, %.1f per idle tick, %.1f per rollout; peak RSS %.1f MiB, CPU %.2f s; notes %v",
		r.AdvancingTickRequests, r.IdleTickRequests, r.RequestsPerRollout, float64(r.RSSBytes)/(1<<20), r.CPUSeconds, r.Notes)
}

// assertHealthy: a healthy canary is promoted, having gone up the steps.
func assertHealthy(t *testing.T, r Run, maxWeight float64) {
	t.Helper()
	assert.Equal(t, Promoted, r.Outcome)
	assert.Equal(t, maxWeight, MaxWeight(r.Weights), "the canary reached the plan's max weight before promotion")
	assert.Equal(t, 0.0, r.Weights[len(r.Weights)-1].Weight, "traffic back on the stable route (running the release) at the end")
}

// assertRolledBack: a regression is rolled back, the VirtualService back at
// 0% canary after it began, never promoted.
func assertRolledBack(t *testing.T, r Run) {
	t.Helper()
	assert.Equal(t, RolledBack, r.Outcome)
	require.False(t, r.RegressedAt.IsZero(), "the regression was injected")
	assert.False(t, r.BackOnStableAt.IsZero(), "the VirtualService showed 0%% canary after the regression")
	assert.Equal(t, 0.0, r.Weights[len(r.Weights)-1].Weight, "the VirtualService ends at 0% canary")
}

func weightsString(r Run) string {
	s := ""
	for i, w := range r.Weights {
		if i > 0 {
			s += " "
		}
		s += fmt.Sprintf("%g@%s", w.Weight, w.At.Sub(r.StartedAt).Round(100*time.Millisecond))
	}
	return s
}

// regressAt is the regression scenario at weight w.
func regressAt(w float64) Scenario {
	return Scenario{Name: fmt.Sprintf("regress-%g", w), Canary: livecanary.Healthy, RegressAt: w, Regression: livecanary.Regressed}
}

func TestFlaggerHealthyPromoted(t *testing.T) {
	t.Parallel()
	a := requireStack(t)
	bin := requireBinary(t, "flagger", flaggerBin, flaggerErr)
	r := runContender(t, a, NewFlagger(a, bin, FlaggerDefaults()), Scenario{Name: "healthy", Canary: livecanary.Healthy})
	assertHealthy(t, r, 50)
}

func TestFlaggerRegressionRolledBack(t *testing.T) {
	t.Parallel()
	a := requireStack(t)
	bin := requireBinary(t, "flagger", flaggerBin, flaggerErr)
	r := runContender(t, a, NewFlagger(a, bin, FlaggerDefaults()), regressAt(20))
	assertRolledBack(t, r)
}

func TestProgressiveHealthyPromoted(t *testing.T) {
	t.Parallel()
	a := requireStack(t)
	r := runContender(t, a, NewProgressive(a, ProgressiveDefaults()), Scenario{Name: "healthy", Canary: livecanary.Healthy})
	assertHealthy(t, r, 50)
}

func TestProgressiveRegressionRolledBack(t *testing.T) {
	t.Parallel()
	a := requireStack(t)
	r := runContender(t, a, NewProgressive(a, ProgressiveDefaults()), regressAt(20))
	assertRolledBack(t, r)
}
