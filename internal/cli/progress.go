package cli

import (
	"context"
	"fmt"
	"io"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/analysis"
	"github.com/agentops/progressive/rollout"
)

// progressView shows a rollout as it runs. On a terminal it redraws one block
// (step, weight, each check's latest value against its threshold, time left,
// the last events); otherwise it writes one plain line per event worth
// reading, which is what a CI log or a pipe wants.
type progressView struct {
	out  io.Writer
	live bool
	// pace is real time waited after each line (--sim-pace), so that a
	// simulated hour can be watched.
	pace time.Duration

	mu         sync.Mutex
	plan       progressive.Plan
	thresholds map[string]string
	step       int
	stepStart  time.Time
	now        time.Time
	weight     float64
	flagShare  float64
	hasFlag    bool
	phase      rollout.Phase
	verdict    analysis.Verdict
	latest     map[string]analysis.Measurement
	order      []string
	events     []string
	drawn      int
}

func newProgressView(out io.Writer, live bool, plan progressive.Plan, pace time.Duration) *progressView {
	v := &progressView{out: out, live: live, pace: pace, plan: plan, thresholds: map[string]string{}, latest: map[string]analysis.Measurement{}}
	add := func(cs []progressive.Check) {
		for _, c := range cs {
			if _, ok := v.thresholds[c.Name]; !ok {
				v.order = append(v.order, c.Name)
			}
			v.thresholds[c.Name] = threshold(c)
		}
	}
	add(plan.Checks)
	for _, s := range plan.Steps {
		if s.Analyze != nil {
			add(s.Analyze.Checks)
		}
	}
	return v
}

// threshold says what a check must stay within, as the view prints it.
func threshold(c progressive.Check) string {
	var parts []string
	if c.Min != nil {
		parts = append(parts, fmt.Sprintf(">= %g", *c.Min))
	}
	if c.Max != nil {
		parts = append(parts, fmt.Sprintf("<= %g", *c.Max))
	}
	s := strings.Join(parts, ", ")
	if c.Baseline != nil {
		s = strings.TrimSpace(s + " (" + string(c.Baseline.Mode) + " to stable)")
	}
	if c.Judge != nil {
		s = "judge " + c.Judge.Kind
	}
	if c.Severity == progressive.SeverityWarn {
		s += " warn only"
	}
	if s == "" {
		return "-"
	}
	return s
}

// Observe implements rollout.Observer.
func (v *progressView) Observe(_ context.Context, e rollout.Event) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.now, v.phase = e.Time, e.Phase
	line := ""
	switch e.Type {
	case rollout.EventStarted:
		line = "started: " + e.Message
	case rollout.EventStepStarted:
		if v.step != e.Step || v.stepStart.IsZero() {
			v.step, v.stepStart = e.Step, e.Time
			v.verdict = ""
		}
		line = fmt.Sprintf("step %d/%d %s", e.Step+1, len(v.plan.Steps), short(e.Message))
	case rollout.EventRoutesChanged:
		if e.Routes != nil {
			v.weight = e.Routes.CanaryWeight
		}
		line = fmt.Sprintf("traffic: new version %g%%", v.weight)
	case rollout.EventFlagChanged:
		if st, ok := stepAt(v.plan, e.Step); ok && st.SetFlag != nil {
			v.flagShare, v.hasFlag = st.SetFlag.Percent, true
		}
		line = "flag: " + e.Message
	case rollout.EventMeasured:
		for _, m := range e.Measurements {
			if _, ok := v.thresholds[m.Check]; !ok {
				v.thresholds[m.Check] = "-"
				v.order = append(v.order, m.Check)
			}
			v.latest[m.Check] = m
		}
		v.verdict = e.Verdict
		if v.live {
			break
		}
		parts := make([]string, 0, len(e.Measurements))
		for _, m := range e.Measurements {
			parts = append(parts, fmt.Sprintf("%s %s %s %s", m.Check, value(m), v.thresholds[m.Check], m.Outcome))
		}
		line = fmt.Sprintf("analysis at %s: %s -> %s; %s left", v.share(), strings.Join(parts, ", "), e.Verdict, round(v.timeLeft()))
	case rollout.EventHeld, rollout.EventRollbackStarted, rollout.EventRollbackCompleted, rollout.EventSucceeded, rollout.EventCommand, rollout.EventError:
		line = fmt.Sprintf("%s: %s", strings.ToUpper(string(e.Type)), e.Message)
	}
	if line == "" && !v.live {
		return
	}
	if line != "" {
		line = e.Time.Format("15:04:05") + "  " + line
	}
	if v.live {
		if line != "" {
			v.events = append(v.events, line)
			if len(v.events) > 5 {
				v.events = v.events[len(v.events)-5:]
			}
		}
		v.draw()
	} else {
		fmt.Fprintln(v.out, line)
	}
	if v.pace > 0 {
		time.Sleep(v.pace)
	}
}

// share is the new version's share as a person says it.
func (v *progressView) share() string {
	if v.hasFlag {
		return fmt.Sprintf("flag %g%%", v.flagShare)
	}
	return fmt.Sprintf("weight %g%%", v.weight)
}

// timeLeft is what the plan's timed steps still take: the rest of the step
// in flight and every later pause and analysis. Waits for pods are not
// timed, so it is a lower bound.
func (v *progressView) timeLeft() time.Duration {
	var left time.Duration
	for i, s := range v.plan.Steps {
		if i < v.step {
			continue
		}
		d := stepDuration(s)
		if i == v.step && !v.stepStart.IsZero() {
			d -= v.now.Sub(v.stepStart)
			if d < 0 {
				d = 0
			}
		}
		left += d
	}
	return left
}

func stepDuration(s progressive.Step) time.Duration {
	switch {
	case s.Analyze != nil:
		return s.Analyze.Duration
	case s.Pause != nil:
		return s.Pause.Duration
	}
	return 0
}

// short cuts a step's description before its details: the analysis steps
// list every check, which the measurement lines show anyway.
func short(msg string) string {
	if i := strings.Index(msg, " ("); i > 0 {
		return msg[:i]
	}
	return msg
}

func round(d time.Duration) time.Duration { return d.Round(time.Second) }

func value(m analysis.Measurement) string {
	switch {
	case m.Error != "":
		return "error"
	case math.IsNaN(m.Value):
		return "no data"
	}
	return fmt.Sprintf("%.4g", m.Value)
}

// draw redraws the block in place: the cursor goes back up over the lines
// drawn last time and clears to the end of the screen.
func (v *progressView) draw() {
	var b strings.Builder
	if v.drawn > 0 {
		fmt.Fprintf(&b, "\x1b[%dA\x1b[J", v.drawn)
	}
	step := "-"
	if st, ok := stepAt(v.plan, v.step); ok {
		step = fmt.Sprintf("%d/%d %s", v.step+1, len(v.plan.Steps), st.Kind())
	}
	lines := []string{
		fmt.Sprintf("rollout %s  %s of %s to %s", v.plan.Name, v.plan.Strategy, v.plan.Target, v.plan.Release),
		fmt.Sprintf("phase %-12s step %-22s %-14s time left >= %s", v.phase, step, v.share(), round(v.timeLeft())),
	}
	if len(v.order) > 0 {
		lines = append(lines, fmt.Sprintf("  %-16s %-10s %-22s %s", "CHECK", "LATEST", "THRESHOLD", "OUTCOME"))
		for _, name := range v.order {
			val, outcome := "-", "-"
			if m, ok := v.latest[name]; ok {
				val, outcome = value(m), string(m.Outcome)
			}
			lines = append(lines, fmt.Sprintf("  %-16s %-10s %-22s %s", name, val, v.thresholds[name], outcome))
		}
	}
	lines = append(lines, v.events...)
	for _, l := range lines {
		b.WriteString(l)
		b.WriteString("\x1b[K\n")
	}
	v.drawn = len(lines)
	fmt.Fprint(v.out, b.String())
}
