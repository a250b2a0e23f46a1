package progress_test

import (
	"bytes"
	"context"
	"io"
	"math"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/analysis"
	"github.com/agentops/progressive/rollout"
	"github.com/agentops/progressive/rollout/progress"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	testingclock "k8s.io/utils/clock/testing"
)

var t0 = time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)

func at(d time.Duration) time.Time { return t0.Add(d) }

func pass(check string, v float64, max string) analysis.Measurement {
	return analysis.Measurement{Check: check, Value: v, Outcome: analysis.OutcomePass, Reason: check + " x <= max " + max}
}

// canaryEvents is a canary at 10% soaking 15 minutes with six passing ticks,
// then a failing error rate and the rollback.
func canaryEvents() []rollout.Event {
	ev := []rollout.Event{
		{Time: at(0), Type: rollout.EventStepStarted, Step: 0, Phase: rollout.PhaseProgressing, Message: "deploy v2 as the canary with 2 pod(s), wait until ready (up to 10m)"},
		{Time: at(0), Type: rollout.EventRoutesChanged, Step: 1, Phase: rollout.PhaseProgressing, Message: "routes set: 90% stable / 10% canary", Routes: &progressive.Routes{StableWeight: 90, CanaryWeight: 10}},
		{Time: at(0), Type: rollout.EventStepStarted, Step: 2, Phase: rollout.PhaseProgressing, Message: "analyze for 15m (first measurement at +1m, ...): error-rate <= 1 every 1m"},
	}
	for i := 1; i <= 6; i++ {
		ev = append(ev, rollout.Event{Time: at(time.Duration(i) * time.Minute), Type: rollout.EventMeasured, Step: 2, Phase: rollout.PhaseProgressing,
			Measurements: []analysis.Measurement{pass("error-rate", 0.25, "1"), pass("latency-p95", 120, "500")}, Verdict: analysis.VerdictRunning})
	}
	return append(ev,
		rollout.Event{Time: at(7 * time.Minute), Type: rollout.EventMeasured, Step: 2, Phase: rollout.PhaseProgressing, Verdict: analysis.VerdictFail, Measurements: []analysis.Measurement{
			{Check: "error-rate", Value: 5.1336, Outcome: analysis.OutcomeFail, Reason: "error-rate 5.1336 > max 1"},
			{Check: "latency-p95", Value: math.NaN(), Outcome: analysis.OutcomeInconclusive, Reason: "no data (empty result)"},
		}},
		rollout.Event{Time: at(7 * time.Minute), Type: rollout.EventRollbackStarted, Step: 2, Phase: rollout.PhaseRollingBack, Message: `analysis failed: check "error-rate" failed`},
		rollout.Event{Time: at(7 * time.Minute), Type: rollout.EventRoutesChanged, Step: 2, Phase: rollout.PhaseRollingBack, Message: "all traffic back on stable", Routes: &progressive.Routes{StableWeight: 100}},
		rollout.Event{Time: at(7 * time.Minute), Type: rollout.EventRollbackCompleted, Step: 2, Phase: rollout.PhaseRolledBack, Message: "back on stable"},
	)
}

func feed(p *progress.Printer, events []rollout.Event) {
	for _, e := range events {
		e.Rollout = "r1"
		p.Observe(context.Background(), e)
	}
}

func TestLinesTellTheStoryPlainly(t *testing.T) {
	var out bytes.Buffer
	p, err := progress.New(progress.Options{Out: &out, Mode: progress.ModeLines, TimeFormat: "15:04", Units: map[string]string{"error-rate": "%", "latency-p95": "ms"}})
	require.NoError(t, err)
	assert.False(t, p.Live())
	feed(p, canaryEvents())
	require.NoError(t, p.Err())

	want := `09:00  step 1    deploy v2 as the canary with 2 pod(s)
09:00  traffic   canary  10.0%  routes set: 90% stable / 10% canary
09:00  step 3    analyze for 15m
09:01  analyze   canary  10.0%  error-rate 0.25% <= 1  latency-p95 120ms <= 500  -> running, 14m left
09:06  analyze   canary  10.0%  error-rate 0.25% <= 1  latency-p95 120ms <= 500  -> running, 9m left
09:07  analyze   canary  10.0%  error-rate 5.13% > 1 FAIL  latency-p95 ? (no data (empty result))  -> fail
09:07  ROLLBACK  analysis failed: check "error-rate" failed
09:07  traffic   canary   0.0%  all traffic back on stable
09:07  ROLLED-BACK back on stable
`
	assert.Equal(t, want, out.String(), "one passing tick in five, every failure, the threshold beside each value, colour off")
}

func TestEveryOnePrintsEachMeasurement(t *testing.T) {
	var out bytes.Buffer
	p, err := progress.New(progress.Options{Out: &out, Mode: progress.ModeLines, Every: 1})
	require.NoError(t, err)
	feed(p, canaryEvents())
	assert.Equal(t, 7, strings.Count(out.String(), "  analyze   canary"))
	assert.Contains(t, out.String(), "09:01:00  analyze", "the default stamp has seconds")
}

func TestRelativeStamps(t *testing.T) {
	var out bytes.Buffer
	p, err := progress.New(progress.Options{Out: &out, Mode: progress.ModeLines, Relative: true})
	require.NoError(t, err)
	feed(p, canaryEvents())
	lines := strings.Split(strings.TrimRight(out.String(), "\n"), "\n")
	assert.True(t, strings.HasPrefix(lines[0], "   0.00s  step"), lines[0])
	assert.True(t, strings.HasPrefix(lines[len(lines)-1], " 420.00s  ROLLED-BACK"), lines[len(lines)-1])
}

func TestColourIsOptIn(t *testing.T) {
	var plain, coloured bytes.Buffer
	p, err := progress.New(progress.Options{Out: &plain, Mode: progress.ModeLines})
	require.NoError(t, err)
	feed(p, canaryEvents())
	assert.NotContains(t, plain.String(), "\x1b")

	p, err = progress.New(progress.Options{Out: &coloured, Mode: progress.ModeLines, Colour: true})
	require.NoError(t, err)
	feed(p, canaryEvents())
	assert.Contains(t, coloured.String(), "\x1b[31merror-rate 5.13 > 1 FAIL\x1b[0m")
	assert.Contains(t, coloured.String(), "\x1b[31mROLLBACK ")
}

func TestLiveRedrawsAStatusLine(t *testing.T) {
	var out bytes.Buffer
	clk := testingclock.NewFakePassiveClock(t0)
	p, err := progress.New(progress.Options{Out: &out, Mode: progress.ModeLive, Clock: clk, TimeFormat: "15:04", Width: 140})
	require.NoError(t, err)
	assert.True(t, p.Live())

	events := canaryEvents()
	feed(p, events[:4]) // up to the first measurement
	text := out.String()
	assert.True(t, strings.HasSuffix(text, "\r\x1b[2K09:01  step 3  analyze   canary  10.0%  error-rate 0.25 <= 1  latency-p95 120 <= 500  -> running, 14m left"),
		"a passing tick only redraws the status line: %q", text)
	assert.Equal(t, 3, strings.Count(text, "\n"), "and adds no line")

	// A second tick within the redraw interval is not drawn; the next one is.
	feed(p, events[4:5])
	assert.Equal(t, text, out.String())
	clk.SetTime(t0.Add(time.Second))
	feed(p, events[5:6])
	assert.True(t, strings.HasSuffix(out.String(), "09:03  step 3  analyze   canary  10.0%  error-rate 0.25 <= 1  latency-p95 120 <= 500  -> running, 12m left"))

	// The failure, the rollback and the end become lines; the status line is
	// cleared at the end.
	before := out.Len()
	feed(p, events[9:])
	rest := out.String()[before:]
	assert.Contains(t, rest, "\r\x1b[2K09:07  analyze   canary  10.0%  error-rate 5.13 > 1 FAIL")
	assert.Contains(t, rest, "09:07  ROLLED-BACK back on stable\n")
	assert.True(t, strings.HasSuffix(rest, "09:07  ROLLED-BACK back on stable\n"), "nothing is left on the status line: %q", rest)
}

func TestLiveStatusNeverWraps(t *testing.T) {
	var out bytes.Buffer
	p, err := progress.New(progress.Options{Out: &out, Mode: progress.ModeLive, Width: 40, Colour: true})
	require.NoError(t, err)
	feed(p, canaryEvents()[:4])
	status := out.String()[strings.LastIndex(out.String(), "\r\x1b[2K")+len("\r\x1b[2K"):]
	assert.Equal(t, "09:01:00  step 3  analyze   canary  10.", status, "cut to 39 columns, as a wrapped line cannot be redrawn")
}

func TestAutoModePicksLinesOffATerminal(t *testing.T) {
	p, err := progress.New(progress.Options{Out: io.Discard})
	require.NoError(t, err)
	assert.False(t, p.Live(), "a plain writer is not a terminal")

	f, err := os.CreateTemp(t.TempDir(), "progress")
	require.NoError(t, err)
	defer f.Close()
	p, err = progress.New(progress.Options{Out: f})
	require.NoError(t, err)
	assert.False(t, p.Live(), "a regular file is not a terminal")
	feed(p, canaryEvents())
	b, err := os.ReadFile(f.Name())
	require.NoError(t, err)
	assert.NotContains(t, string(b), "\r", "a log file gets no cursor movement")
}

func TestOptionsAreValidated(t *testing.T) {
	for _, tc := range []struct {
		opts progress.Options
		want string
	}{
		{progress.Options{Every: -1}, "Options.Every -1"},
		{progress.Options{Mode: "fancy"}, `Options.Mode "fancy"`},
		{progress.Options{Width: 5}, "Options.Width 5"},
		{progress.Options{Width: -1}, "Options.Width -1"},
	} {
		_, err := progress.New(tc.opts)
		require.ErrorIs(t, err, progressive.ErrInvalid, tc.want)
		assert.ErrorContains(t, err, tc.want)
	}
}

type brokenWriter struct{ n int }

func (w *brokenWriter) Write(b []byte) (int, error) {
	w.n++
	return 0, io.ErrClosedPipe
}

func TestWriteErrorsAreKeptNotFatal(t *testing.T) {
	w := &brokenWriter{}
	p, err := progress.New(progress.Options{Out: w, Mode: progress.ModeLines})
	require.NoError(t, err)
	feed(p, canaryEvents())
	assert.ErrorIs(t, p.Err(), io.ErrClosedPipe)
	assert.Greater(t, w.n, 1, "the printer keeps trying: the rollout goes on")
}

func TestRolloutsAreKeptApart(t *testing.T) {
	var out bytes.Buffer
	p, err := progress.New(progress.Options{Out: &out, Mode: progress.ModeLines, TimeFormat: "15:04"})
	require.NoError(t, err)
	ctx := context.Background()
	p.Observe(ctx, rollout.Event{Rollout: "a", Time: at(0), Type: rollout.EventRoutesChanged, Message: "a", Routes: &progressive.Routes{CanaryWeight: 30}})
	p.Observe(ctx, rollout.Event{Rollout: "b", Time: at(0), Type: rollout.EventRoutesChanged, Message: "b", Routes: &progressive.Routes{CanaryWeight: 5}})
	p.Observe(ctx, rollout.Event{Rollout: "a", Time: at(time.Minute), Type: rollout.EventMeasured, Verdict: analysis.VerdictRunning, Measurements: []analysis.Measurement{pass("x", 1, "2")}})
	assert.Contains(t, out.String(), "09:01  analyze   canary  30.0%  x 1.00 <= 2")
}

func TestEventsWithoutTimeUseTheClock(t *testing.T) {
	var out bytes.Buffer
	clk := testingclock.NewFakePassiveClock(at(42 * time.Minute))
	p, err := progress.New(progress.Options{Out: &out, Mode: progress.ModeLines, Clock: clk, TimeFormat: "15:04"})
	require.NoError(t, err)
	p.Observe(context.Background(), rollout.Event{Type: rollout.EventHeld, Message: "waiting for a person"})
	assert.Equal(t, "09:42  HELD      waiting for a person\n", out.String())
}

func TestStampOverridesTheTimeFormat(t *testing.T) {
	var out bytes.Buffer
	p, err := progress.New(progress.Options{Out: &out, Mode: progress.ModeLines, Relative: true,
		Stamp: func(ts time.Time) string { return "day 1 " + ts.Format("15h") }})
	require.NoError(t, err)
	feed(p, canaryEvents()[:1])
	assert.Equal(t, "day 1 09h  step 1    deploy v2 as the canary with 2 pod(s)\n", out.String())
}

func TestLiveStatusIsDroppedWhenTheStepChanges(t *testing.T) {
	var out bytes.Buffer
	p, err := progress.New(progress.Options{Out: &out, Mode: progress.ModeLive, TimeFormat: "15:04", Width: 200})
	require.NoError(t, err)
	events := canaryEvents()
	feed(p, events[:4]) // a running analysis on the status line
	before := out.Len()
	feed(p, []rollout.Event{{Time: at(15 * time.Minute), Type: rollout.EventStepStarted, Step: 3, Phase: rollout.PhaseProgressing, Message: "weight-50: send 50% of traffic to the canary, verified by reading the routes back"}})
	assert.Equal(t, "\r\x1b[2K09:15  step 4    weight-50: send 50% of traffic to the canary\n", out.String()[before:],
		"the old step's measurements are not drawn again under the new step")
}
