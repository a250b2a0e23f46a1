package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/provider/sim"
	"github.com/agentops/progressive/rollout"
)

// result is one invocation as a person or a pipeline sees it.
type result struct {
	code           int
	stdout, stderr string
}

// cli is a test's command line: a home of its own (so the default config
// and state directories are the test's), an environment of its own, and
// Stdout that is not a terminal unless live is set.
type cli struct {
	t    *testing.T
	home string
	env  map[string]string
	live bool
}

func newCLI(t *testing.T) *cli {
	home := t.TempDir()
	return &cli{t: t, home: home, env: map[string]string{"HOME": home, "USER": "alice"}}
}

func (c *cli) run(args ...string) result {
	return c.runCtx(context.Background(), args...)
}

func (c *cli) runCtx(ctx context.Context, args ...string) result {
	c.t.Helper()
	var out, errb bytes.Buffer
	a := &App{Name: "progressive", Stdout: &out, Stderr: &errb,
		Getenv:   func(k string) string { return c.env[k] },
		Terminal: func() bool { return c.live }}
	code := a.Run(ctx, args)
	c.t.Logf("$ progressive %s  (exit %d)\n%s%s", strings.Join(args, " "), code, out.String(), errb.String())
	return result{code: code, stdout: out.String(), stderr: errb.String()}
}

// seedDocuments are the guide's scenario documents: examples/documents when
// they are there, completed by this package's testdata for the scenarios
// not written yet.
func seedDocuments(t *testing.T) map[string]string {
	docs := map[string]string{}
	for _, dir := range []string{"testdata", "../../examples/documents"} {
		files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
		require.NoError(t, err)
		for _, f := range files {
			if strings.HasPrefix(filepath.Base(f), "invalid") {
				continue
			}
			b, err := os.ReadFile(f)
			require.NoError(t, err)
			if !strings.Contains(string(b), "kind: Rollout\n") {
				continue
			}
			docs[scenarioOf(string(b))] = f
		}
	}
	for _, want := range []string{"payment-service", "order-management", "payment_gateway_v2", "content-api"} {
		require.Contains(t, docs, want, "a document for the guide's %s scenario", want)
	}
	return docs
}

// scenarioOf names a document by its flag key or target, so that a seed
// document in examples/documents replaces the testdata one of its scenario.
func scenarioOf(doc string) string {
	for _, key := range []string{"payment_gateway_v2", "order-management", "content-api", "payment-service"} {
		if strings.Contains(doc, key) {
			return key
		}
	}
	return doc
}

func TestValidateReportsEveryProblemWithLineAndField(t *testing.T) {
	c := newCLI(t)
	r := c.run("validate", "testdata/invalid.yaml", "testdata/order-management-bluegreen.yaml")
	assert.Equal(t, ExitInvalid, r.code)
	assert.Contains(t, r.stdout, "testdata/invalid.yaml: 2 problem(s)")
	assert.Contains(t, r.stdout, "line 11, column 13: spec.strategy.canary.soak")
	assert.Contains(t, r.stdout, `line 15, column 7: spec.checks[0].maximum: unknown field (did you mean "max"?)`)
	assert.Contains(t, r.stdout, "testdata/order-management-bluegreen.yaml: valid")
	assert.Contains(t, r.stderr, "1 of 2 document(s) invalid")

	r = c.run("validate", "-o", "json", "testdata/invalid.yaml")
	require.Equal(t, ExitInvalid, r.code)
	var got []struct {
		File     string `json:"file"`
		Valid    bool   `json:"valid"`
		Problems []struct {
			Field string `json:"field"`
			Line  int    `json:"line"`
		} `json:"problems"`
	}
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &got))
	require.Len(t, got, 1)
	assert.False(t, got[0].Valid)
	require.Len(t, got[0].Problems, 2)
	assert.Equal(t, "spec.strategy.canary.soak", got[0].Problems[0].Field)
	assert.Equal(t, 11, got[0].Problems[0].Line)

	// A plan-level problem (weights not increasing) comes back with its line too.
	doc := filepath.Join(t.TempDir(), "weights.yaml")
	require.NoError(t, os.WriteFile(doc, []byte(strings.Replace(mustRead(t, "testdata/content-api-rolling.yaml"), "batchSize: 2", "batchSize: 9", 1)), 0o644))
	r = c.run("validate", doc)
	assert.Equal(t, ExitInvalid, r.code)
	assert.Contains(t, r.stdout, "spec.strategy.rolling")

	for _, d := range seedDocuments(t) {
		assert.Equal(t, ExitOK, c.run("validate", d).code, d)
	}
}

func mustRead(t *testing.T, path string) string {
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return string(b)
}

func TestInputErrorsNameTheFlagOrFileAndExit2(t *testing.T) {
	c := newCLI(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"deploy"}, `unknown command "deploy"`},
		{[]string{"validate"}, "want at least one document"},
		{[]string{"status", "-o", "xml"}, `flag -o: unknown format "xml"`},
		{[]string{"run", "--sim", "--sim-fault", "meteor", "testdata/content-api-rolling.yaml"}, `flag --sim-fault "meteor": want one of cpu, errors`},
		{[]string{"run", "--sim-fault", "errors", "testdata/content-api-rolling.yaml"}, `flag --sim-fault "errors": only with --sim`},
		{[]string{"run", "--sim", "--sim-fault-at", "140", "testdata/content-api-rolling.yaml"}, "flag --sim-fault-at 140"},
		{[]string{"run", "--sim", "--timeout", "-1s", "testdata/content-api-rolling.yaml"}, "flag --timeout -1s"},
		{[]string{"run", "--sim", "testdata/invalid.yaml"}, "spec.checks[0].maximum"},
		{[]string{"status", "--config", "/nonexistent/config.yaml"}, "flag --config: open /nonexistent/config.yaml"},
		{[]string{"record", "--state-dir", "STATE", "no-such-rollout"}, `rollout "no-such-rollout": not in the state store`},
		{[]string{"abort", "--state-dir", "STATE", "no-such-rollout"}, `rollout "no-such-rollout": not in the state store`},
		{[]string{"status", "--bogus"}, "flag provided but not defined: -bogus"},
	} {
		for i, a := range tc.args {
			if a == "STATE" {
				tc.args[i] = t.TempDir()
			}
		}
		r := c.run(tc.args...)
		assert.Equal(t, ExitInvalid, r.code, tc.args)
		assert.Contains(t, r.stderr, tc.want, tc.args)
	}
	r := c.run("validate", "nowhere.yaml")
	assert.Equal(t, ExitInvalid, r.code)
	assert.Contains(t, r.stdout, "document nowhere.yaml: no such file or directory")

	// Help is not an error, and it documents the exit codes.
	r = c.run("run", "-h")
	assert.Equal(t, ExitOK, r.code)
	assert.Contains(t, r.stderr, "3  rolled back or aborted")
	assert.Contains(t, r.stderr, "-sim-fault")
	r = c.run("--help")
	assert.Equal(t, ExitOK, r.code)
	assert.Contains(t, r.stdout, "5  transient failure")
}

func TestExplainPrintsThePlan(t *testing.T) {
	c := newCLI(t)
	docs := seedDocuments(t)
	r := c.run("explain", docs["payment-service"])
	require.Equal(t, ExitOK, r.code)
	assert.Contains(t, r.stdout, "Rollout payment-service-v2-0-0: canary of production/payment-service to v2.0.0")
	assert.Contains(t, r.stdout, "send 10% of traffic to the canary")
	assert.Contains(t, r.stdout, "POST https://env-slack-webhook-url.invalid/", "the Slack URL is not read: explain says where it comes from")

	r = c.run("explain", "-o", "json", docs["order-management"])
	require.Equal(t, ExitOK, r.code)
	var plan progressive.Plan
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &plan))
	assert.Equal(t, "order-management-v3-1-0", plan.Name)
	assert.Equal(t, "blue-green", plan.Strategy)
}

func TestDryRunAgainstTheSimulator(t *testing.T) {
	c := newCLI(t)
	r := c.run("dry-run", "--sim", seedDocuments(t)["payment-service"])
	require.Equal(t, ExitOK, r.code)
	assert.Contains(t, r.stdout, "Queries now:")
	assert.Contains(t, r.stdout, "error-rate")
	assert.Contains(t, r.stdout, "dry run: OK")

	// A query the metric source does not know stops the rollout before it starts.
	doc := filepath.Join(t.TempDir(), "bad-query.yaml")
	require.NoError(t, os.WriteFile(doc, []byte(strings.Replace(mustRead(t, "testdata/content-api-rolling.yaml"), "query: error_rate", "query: error_ratio", 1)), 0o644))
	r = c.run("dry-run", "--sim", doc)
	assert.Equal(t, ExitNotStarted, r.code)
	assert.Contains(t, r.stdout, "dry run: FAILED")
	r = c.run("run", "--sim", "--state-dir", t.TempDir(), doc)
	assert.Equal(t, ExitNotStarted, r.code, "a failed preflight query is 'not started'")
	assert.Contains(t, r.stderr, "error_ratio")
}

// scenarioFaults is the regression each scenario is rehearsed with: the
// rolling update of the guide has no checks, so its pods failing readiness
// is what rolls it back.
var scenarioFaults = map[string]string{
	"payment-service":    "errors",
	"order-management":   "errors",
	"payment_gateway_v2": "errors",
	"content-api":        "readiness",
}

// TestSeedScenariosRunInTheSimulator runs each of the guide's documents
// through --sim twice, healthy (promoted, exit 0) and with the new version
// failing 5% of its requests (rolled back, exit 3), then reads the store
// back with status, history, record and stats.
func TestSeedScenariosRunInTheSimulator(t *testing.T) {
	c := newCLI(t)
	state := t.TempDir()
	docs := seedDocuments(t)
	ids := map[string]string{}
	for name, doc := range docs {
		t.Run(name, func(t *testing.T) {
			r := c.run("run", "--sim", "--state-dir", state, doc)
			require.Equal(t, ExitOK, r.code, r.stderr)
			assert.Contains(t, r.stdout, "promoted")
			assert.Contains(t, r.stdout, "SUCCEEDED")
			id := strings.TrimSpace(r.stdout[strings.LastIndex(r.stdout, "progressive record ")+len("progressive record "):])
			ids[name] = id

			// The same document again is refused, unless --rerun.
			r = c.run("run", "--sim", "--state-dir", state, doc)
			assert.Equal(t, ExitNotStarted, r.code)
			assert.Contains(t, r.stderr, "--rerun")

			r = c.run("run", "--sim", "--state-dir", state, "--rerun", "--sim-fault", scenarioFaults[name], doc)
			assert.Equal(t, ExitRolledBack, r.code)
			assert.Contains(t, r.stdout, "ROLLBACK")
			assert.Contains(t, r.stdout, id+"-run-2 rolled-back")
		})
	}

	r := c.run("status", "--state-dir", state)
	require.Equal(t, ExitOK, r.code)
	assert.Contains(t, r.stdout, "PHASE")
	assert.Contains(t, r.stdout, "succeeded")
	assert.Contains(t, r.stdout, "rolled-back")
	assert.Contains(t, r.stdout, "latency-p95=")

	r = c.run("status", "--state-dir", state, "-o", "json", ids["payment-service"])
	require.Equal(t, ExitOK, r.code)
	var rows []statusRow
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &rows))
	require.Len(t, rows, 1)
	assert.Equal(t, rollout.PhaseSucceeded, rows[0].Phase)
	assert.NotEmpty(t, rows[0].LastAnalysis)

	r = c.run("history", "--state-dir", state, "--service", "production/payment-service")
	require.Equal(t, ExitOK, r.code)
	assert.Contains(t, r.stdout, "promoted")
	assert.NotContains(t, r.stdout, "order-management")

	r = c.run("record", "--state-dir", state, ids["payment-service"]+"-run-2")
	require.Equal(t, ExitOK, r.code)
	assert.Contains(t, r.stdout, "Impact:    rolled-back")
	assert.Contains(t, r.stdout, "detected within")

	r = c.run("record", "--state-dir", state, "-o", "json", ids["payment-service"])
	require.Equal(t, ExitOK, r.code)
	var rec rollout.DecisionRecord
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &rec))
	assert.Equal(t, rollout.OutcomePromoted, rec.Impact.Outcome)
	assert.NotEmpty(t, rec.Observations, "record reads the observations kept apart from the state")

	dir := t.TempDir()
	r = c.run("record", "--state-dir", state, "--svg", filepath.Join(dir, "t.svg"), "--html", filepath.Join(dir, "t.html"), ids["payment-service"]+"-run-2")
	require.Equal(t, ExitOK, r.code)
	assert.True(t, strings.HasPrefix(mustRead(t, filepath.Join(dir, "t.svg")), "<svg"))
	assert.Contains(t, mustRead(t, filepath.Join(dir, "t.html")), "<html")

	r = c.run("stats", "--state-dir", state, "-o", "json")
	require.Equal(t, ExitOK, r.code)
	var sums []rollout.Summary
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &sums))
	all := sums[len(sums)-1]
	assert.Equal(t, "*", all.Service)
	assert.Equal(t, 2*len(docs), all.Rollouts)
	assert.Equal(t, len(docs), all.Promoted)
	assert.InDelta(t, 0.5, all.RollbackRate, 1e-9)
	assert.Positive(t, all.MeanTimeToRecover)
	r = c.run("stats", "--state-dir", state)
	require.Equal(t, ExitOK, r.code)
	assert.Contains(t, r.stdout, "ROLLBACK RATE")
	assert.Contains(t, r.stdout, "50%")
}

func TestSimRunsAreKeptApartFromTheConfiguredStore(t *testing.T) {
	c := newCLI(t)
	r := c.run("run", "--sim", seedDocuments(t)["content-api"])
	require.Equal(t, ExitOK, r.code)
	files, err := filepath.Glob(filepath.Join(c.home, ".local", "state", "progressive", "sim", "content-api-*.json"))
	require.NoError(t, err)
	assert.Len(t, files, 1, "a rehearsal is stored with the simulator's rollouts")
	r = c.run("status")
	assert.Equal(t, ExitOK, r.code)
	assert.Equal(t, "no rollouts\n", r.stdout, "and not in the default store")
	r = c.run("status", "--sim")
	assert.Contains(t, r.stdout, "production/content-api")
}

// startStored starts a rollout of doc in a file store with the simulator and
// leaves it at its first step, as a process that stopped would.
func startStored(t *testing.T, dir, doc string) string {
	c := newCLI(t)
	a := &App{Getenv: func(k string) string { return c.env[k] }}
	a.defaults()
	ctx := context.Background()
	src, err := readDocument(doc, nil)
	require.NoError(t, err)
	plan, err := a.plan(ctx, src, true)
	require.NoError(t, err)
	w, err := a.newSimWorld(ctx, &plan, &simFlags{seed: 1})
	require.NoError(t, err)
	defer w.stop()
	store, err := rollout.NewFileStore(dir)
	require.NoError(t, err)
	r, err := rollout.New(rollout.Options{Providers: w.providers, Store: store, Clock: w.clock, Logger: discard})
	require.NoError(t, err)
	st, err := r.Start(ctx, plan)
	require.NoError(t, err)
	return st.ID
}

// background runs a command line in a goroutine, as a second terminal
// would; the test reads its result before it ends.
func (c *cli) background(args ...string) <-chan result {
	done := make(chan result, 1)
	go func() { done <- c.run(args...) }()
	return done
}

// waitStep waits until rollout id is stored at step index (0-based).
func waitStep(t *testing.T, state, id string, index int) rollout.State {
	t.Helper()
	store, err := rollout.NewFileStore(state)
	require.NoError(t, err)
	var st rollout.State
	require.Eventually(t, func() bool {
		st, err = store.Get(context.Background(), id)
		return err == nil && st.Step.Index == index
	}, 20*time.Second, 5*time.Millisecond, "rollout %s never reached step %d", id, index+1)
	return st
}

// TestCommandsFromAnotherTerminal: while `run` drives the guide's canary, a
// person promotes the 10% analysis early and then aborts; the run carries
// out both and exits 3.
func TestCommandsFromAnotherTerminal(t *testing.T) {
	c := newCLI(t)
	state := t.TempDir()
	doc := seedDocuments(t)["payment-service"]
	running := c.background("run", "--sim", "--sim-pace", "15ms", "--state-dir", state, doc)
	id := "payment-service-v2-0-0"
	waitStep(t, state, id, 2) // analyze at 10%

	r := c.run("status", "--state-dir", state)
	require.Equal(t, ExitOK, r.code)
	assert.Contains(t, r.stdout, "progressing")
	assert.Contains(t, r.stdout, "3/7 analyze")
	assert.Contains(t, r.stdout, "10%")

	// A second rollout of the target is refused while this one runs.
	other := filepath.Join(t.TempDir(), "other.yaml")
	require.NoError(t, os.WriteFile(other, []byte(strings.Replace(mustRead(t, doc), "name: payment-service-v2-0-0", "name: payment-service-v2-0-1", 1)), 0o644))
	r = c.run("run", "--sim", "--state-dir", state, other)
	assert.Equal(t, ExitNotStarted, r.code)
	assert.Contains(t, r.stderr, "is held by rollout "+id)

	r = c.run("promote", "--state-dir", state, "--reason", "looks good", id)
	require.Equal(t, ExitOK, r.code)
	assert.Contains(t, r.stdout, id+": promote stored")
	waitStep(t, state, id, 4) // analyze at 50%, without waiting 15 minutes at 10%

	r = c.run("abort", "--state-dir", state, id)
	require.Equal(t, ExitOK, r.code)
	res := <-running
	assert.Equal(t, ExitRolledBack, res.code)
	assert.Contains(t, res.stdout, "aborted")

	r = c.run("record", "--state-dir", state, "-o", "json", id)
	require.Equal(t, ExitOK, r.code)
	var rec rollout.DecisionRecord
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &rec))
	assert.Equal(t, rollout.OutcomeAborted, rec.Impact.Outcome)
	assert.Equal(t, 50.0, rec.Impact.MaxCanaryWeight)
	var reasons []string
	for _, d := range rec.Decisions {
		reasons = append(reasons, d.Reason)
	}
	assert.Contains(t, strings.Join(reasons, "\n"), "looks good")
	assert.Contains(t, strings.Join(reasons, "\n"), "aborted by alice with progressive")

	// An ended rollout takes no more commands.
	for _, cmd := range []string{"promote", "abort", "rollback", "continue"} {
		r = c.run(cmd, "--state-dir", state, id)
		assert.Equal(t, ExitInvalid, r.code, cmd)
		assert.Contains(t, r.stderr, "has ended (aborted)", cmd)
	}
}

func TestPromoteRefusesAnActionUnderWay(t *testing.T) {
	c := newCLI(t)
	state := t.TempDir()
	id := startStored(t, state, seedDocuments(t)["payment-service"])
	r := c.run("promote", "--state-dir", state, id)
	assert.Equal(t, ExitInvalid, r.code)
	assert.Contains(t, r.stderr, "step 1 (deploy) is an action under way")
}

func TestFullPromotionSkipsTheAnalysis(t *testing.T) {
	c := newCLI(t)
	state := t.TempDir()
	doc := seedDocuments(t)["payment-service"]
	running := c.background("run", "--sim", "--sim-pace", "15ms", "--state-dir", state, doc)
	id := "payment-service-v2-0-0"
	waitStep(t, state, id, 2)
	r := c.run("promote", "--full", "--state-dir", state, id)
	require.Equal(t, ExitOK, r.code)
	res := <-running
	require.Equal(t, ExitOK, res.code)
	r = c.run("record", "--state-dir", state, "-o", "json", id)
	require.Equal(t, ExitOK, r.code)
	var rec rollout.DecisionRecord
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &rec))
	assert.Equal(t, rollout.OutcomePromoted, rec.Impact.Outcome)
	assert.Less(t, time.Duration(rec.Impact.Duration), 15*time.Minute, "the soaks of 2 x 15 minutes were skipped")
	assert.Equal(t, 10.0, rec.Impact.MaxCanaryWeight)
}

func TestRunStopsDrivingOnInterruptAndLeavesTheRolloutStored(t *testing.T) {
	c := newCLI(t)
	state := t.TempDir()
	doc := seedDocuments(t)["payment_gateway_v2"]
	// --sim-pace makes the rehearsal slow enough to interrupt in real time.
	r := c.run("run", "--sim", "--sim-pace", "20ms", "--timeout", "300ms", "--state-dir", state, doc)
	assert.Equal(t, ExitInterrupted, r.code)
	assert.Contains(t, r.stdout, "it is stored: run the same document again to resume it")
	r = c.run("status", "--state-dir", state, "-o", "json")
	var rows []statusRow
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &rows))
	require.Len(t, rows, 1)
	assert.False(t, rows[0].Phase.Terminal())
}

func TestLiveViewOnATerminal(t *testing.T) {
	c := newCLI(t)
	c.live = true
	r := c.run("run", "--sim", "--state-dir", t.TempDir(), seedDocuments(t)["payment-service"])
	require.Equal(t, ExitOK, r.code)
	assert.Contains(t, r.stdout, "\r", "the status line is redrawn in place")
	assert.Contains(t, r.stdout, "error-rate")
}

func TestStatusWatchPrintsChangesUntilInterrupted(t *testing.T) {
	c := newCLI(t)
	state := t.TempDir()
	id := startStored(t, state, seedDocuments(t)["payment-service"])
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan result, 1)
	go func() { done <- c.runCtx(ctx, "status", "-w", "--interval", "20ms", "--state-dir", state) }()
	time.Sleep(150 * time.Millisecond)
	store, err := rollout.NewFileStore(state)
	require.NoError(t, err)
	r, err := rollout.New(rollout.Options{Store: store, Logger: discard})
	require.NoError(t, err)
	require.NoError(t, r.Abort(context.Background(), id, "test"))
	// The abort is stored as a command; the phase changes only when a runner
	// carries it out, so change the state the way one would.
	st, err := store.Get(context.Background(), id)
	require.NoError(t, err)
	st.Phase = rollout.PhaseHeld
	st.HeldReason = "held by the test"
	_, err = store.Update(context.Background(), st)
	require.NoError(t, err)
	time.Sleep(150 * time.Millisecond)
	cancel()
	res := <-done
	assert.Equal(t, ExitOK, res.code)
	assert.Equal(t, 2, strings.Count(res.stdout, "PHASE"), "printed once, then once more when the phase changed")
	assert.Contains(t, res.stdout, "held")
}

func TestSimFaultsOfEveryKind(t *testing.T) {
	docs := seedDocuments(t)
	for fault, want := range map[string]int{"latency": ExitRolledBack, "no-traffic": ExitRolledBack, "readiness": ExitRolledBack, "cpu": ExitOK,
		// Unreachable metrics at the start: nothing moves, and retrying may help.
		"metrics-down": ExitTransient} {
		t.Run(fault, func(t *testing.T) {
			c := newCLI(t)
			r := c.run("run", "--sim", "--state-dir", t.TempDir(), "--sim-fault", fault, docs["payment-service"])
			assert.Equal(t, want, r.code, "cpu is a warning only in the guide's canary")
		})
	}
	// The backend going away once the canary has 50%: the analysis is
	// inconclusive, which never promotes.
	c := newCLI(t)
	r := c.run("run", "--sim", "--state-dir", t.TempDir(), "--sim-fault", "metrics-down", "--sim-fault-at", "50", docs["payment-service"])
	assert.Equal(t, ExitRolledBack, r.code)
	assert.Contains(t, r.stdout, "inconclusive")
}

func TestSimHooksNeverLeaveTheProcess(t *testing.T) {
	// The guide's canary posts to Slack on rollback; in a rehearsal the hook is
	// a no-op Go hook and the URL is never read.
	plan := progressive.Plan{Hooks: []progressive.HookSpec{{Name: "slack", Phase: progressive.HookOnRollback, URL: "https://hooks.slack.example/x"}},
		Target: progressive.Target{Namespace: "a", Name: "b"}}
	a := &App{}
	a.defaults()
	w, err := a.newSimWorld(context.Background(), &plan, &simFlags{seed: 1})
	require.NoError(t, err)
	defer w.stop()
	assert.Empty(t, plan.Hooks[0].URL)
	assert.Contains(t, w.providers.Hooks, "slack")
	assert.IsType(t, &sim.Router{}, w.providers.Routers[0])
}

func TestTemplateExportOfAPromotedRollout(t *testing.T) {
	c := newCLI(t)
	state := t.TempDir()
	doc := seedDocuments(t)["payment-service"]
	require.Equal(t, ExitOK, c.run("run", "--sim", "--state-dir", state, doc).code)
	require.Equal(t, ExitRolledBack, c.run("run", "--sim", "--rerun", "--sim-fault", "errors", "--state-dir", state, doc).code)

	out := filepath.Join(t.TempDir(), "canary-template.yaml")
	r := c.run("template", "export", "--state-dir", state, "--out", out, "payment-service-v2-0-0")
	require.Equal(t, ExitOK, r.code)
	text := mustRead(t, out)
	assert.Contains(t, text, "kind: RolloutTemplate")
	assert.Contains(t, text, "name: errorRateMax")
	assert.Contains(t, text, "It held in rollout payment-service-v2-0-0")

	r = c.run("template", "export", "--state-dir", state, "payment-service-v2-0-0-run-2")
	assert.Equal(t, ExitInvalid, r.code)
	assert.Contains(t, r.stderr, "ended rolled-back, not promoted")
	r = c.run("template", "import")
	assert.Equal(t, ExitInvalid, r.code)
	assert.Contains(t, r.stderr, "want a subcommand: template export ID")
}

// TestHeldRolloutContinuedThenRolledBack: a canary whose analysis has no data
// is held (onInconclusive: hold) at its weight; a person continues it (a
// fresh analysis, held again while the traffic is still missing), then rolls
// it back, which the run carries out: exit 3.
func TestHeldRolloutContinuedThenRolledBack(t *testing.T) {
	c := newCLI(t)
	state := t.TempDir()
	doc := filepath.Join(t.TempDir(), "hold.yaml")
	require.NoError(t, os.WriteFile(doc, []byte(mustRead(t, seedDocuments(t)["payment-service"])+"  onInconclusive: hold\n"), 0o644))
	running := c.background("run", "--sim", "--sim-fault", "no-traffic", "--sim-fault-at", "50", "--state-dir", state, doc)
	id := "payment-service-v2-0-0"
	store, err := rollout.NewFileStore(state)
	require.NoError(t, err)
	held := func() bool {
		st, err := store.Get(context.Background(), id)
		return err == nil && st.Phase == rollout.PhaseHeld
	}
	require.Eventually(t, held, 20*time.Second, 5*time.Millisecond)
	r := c.run("status", "--state-dir", state)
	assert.Contains(t, r.stdout, "held")
	assert.Contains(t, r.stdout, "50%")

	r = c.run("continue", "--state-dir", state, "--reason", "traffic comes back after the maintenance", id)
	require.Equal(t, ExitOK, r.code)
	require.Eventually(t, func() bool {
		rec, err := rollout.New(rollout.Options{Store: store, Logger: discard})
		require.NoError(t, err)
		record, err := rec.Record(context.Background(), id)
		if err != nil {
			return false
		}
		resumed := 0
		for _, d := range record.Decisions {
			if strings.Contains(d.Reason, "traffic comes back after the maintenance") {
				resumed++
			}
		}
		return resumed > 0 && held()
	}, 20*time.Second, 5*time.Millisecond, "continued, then held again")

	r = c.run("rollback", "--state-dir", state, id)
	require.Equal(t, ExitOK, r.code)
	res := <-running
	assert.Equal(t, ExitRolledBack, res.code)
	assert.Contains(t, res.stdout, "rolled-back")
}
