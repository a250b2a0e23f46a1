package progress

import (
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/analysis"
	"github.com/agentops/progressive/rollout"
	"golang.org/x/term"
	"k8s.io/utils/clock"
)

// Mode chooses how progress is written.
type Mode string

const (
	// ModeAuto draws a live status line when Out is a terminal and writes
	// plain lines otherwise. It is the default.
	ModeAuto Mode = ""
	// ModeLines writes one line per thing worth telling, and never moves the
	// cursor: the mode for logs, CI output and pipes.
	ModeLines Mode = "lines"
	// ModeLive keeps a status line at the bottom, redrawn in place with each
	// measurement, and writes lines above it only for what a person should
	// see in the scrollback: steps, traffic changes, failures, verdicts and
	// the end.
	ModeLive Mode = "live"
)

// Options configure a Printer. The zero value prints plain or live progress
// to standard output, without colour.
type Options struct {
	// Out receives the progress. Default os.Stdout.
	Out io.Writer
	// Mode is ModeAuto (the default), ModeLines or ModeLive.
	Mode Mode
	// Colour marks failures red, passes green and warnings yellow with ANSI
	// escapes. Default false: output that ends up in a file stays plain text.
	Colour bool
	// Clock dates events that carry no time and paces the live line's
	// redraws. Default the real clock.
	Clock clock.PassiveClock
	// TimeFormat is the layout of each line's time stamp. Default "15:04:05".
	TimeFormat string
	// Relative stamps lines with the seconds since the rollout's first event
	// instead of the time of day: the stamp for demos where seconds matter.
	Relative bool
	// Stamp, when set, writes each line's time stamp instead of TimeFormat
	// and Relative: for a rehearsal in virtual time that reads better as
	// "day 3 14:00" than as a date.
	Stamp func(time.Time) string
	// Units are appended to a check's values, by check name ("%", "ms").
	Units map[string]string
	// Every prints one in Every passing measurements of a running analysis in
	// ModeLines (the first of each step included); failures, inconclusive
	// measurements and verdicts always print. Default 5; 1 prints them all.
	Every int
	// Width is the live line's width in columns. Default: the terminal's
	// width, or 120 when it cannot be read. A longer status is cut, as a line
	// that wraps cannot be redrawn in place.
	Width int
}

// Printer is a rollout.Observer that prints readable progress. It is safe for
// concurrent use and keeps the state of each rollout it sees apart.
type Printer struct {
	opts Options
	live bool

	mu       sync.Mutex
	rollouts map[string]*state
	status   string
	drawn    bool
	lastDraw time.Time
	err      error
}

// state is what the printer remembers of one rollout between events.
type state struct {
	start      time.Time
	weight     float64
	hasWeight  bool
	step       int
	stepStart  time.Time
	stepLength time.Duration
	ticks      int
	verdict    analysis.Verdict
	waiting    string
}

// minRedraw bounds how often the live line is redrawn: faster than a person
// reads only costs terminal time.
const minRedraw = 50 * time.Millisecond

// New returns a Printer, or an error wrapping progressive.ErrInvalid for
// options that make no sense.
func New(opts Options) (*Printer, error) {
	if opts.Out == nil {
		opts.Out = os.Stdout
	}
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	if opts.TimeFormat == "" {
		opts.TimeFormat = "15:04:05"
	}
	switch {
	case opts.Every == 0:
		opts.Every = 5
	case opts.Every < 0:
		return nil, fmt.Errorf("progress: Options.Every %d: must be 1 or more (0 for the default 5): %w", opts.Every, progressive.ErrInvalid)
	}
	if opts.Width < 0 || opts.Width > 0 && opts.Width < 20 {
		return nil, fmt.Errorf("progress: Options.Width %d: must be at least 20 columns (0 for the terminal's): %w", opts.Width, progressive.ErrInvalid)
	}
	p := &Printer{opts: opts, rollouts: map[string]*state{}}
	switch opts.Mode {
	case ModeAuto:
		p.live = isTerminal(opts.Out)
	case ModeLive:
		p.live = true
	case ModeLines:
	default:
		return nil, fmt.Errorf("progress: Options.Mode %q: must be %q, %q or empty for automatic: %w", opts.Mode, ModeLines, ModeLive, progressive.ErrInvalid)
	}
	if p.live && p.opts.Width == 0 {
		p.opts.Width = 120
		if f, ok := opts.Out.(*os.File); ok {
			if w, _, err := term.GetSize(int(f.Fd())); err == nil && w >= 20 {
				p.opts.Width = w
			}
		}
	}
	return p, nil
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// Live reports whether the printer redraws a status line in place.
func (p *Printer) Live() bool { return p.live }

// Err returns the first error writing to Out. An observer cannot fail the
// rollout it watches, so the printer keeps going and reports here.
func (p *Printer) Err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// Observe implements rollout.Observer.
func (p *Printer) Observe(_ context.Context, e rollout.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if e.Time.IsZero() {
		e.Time = p.opts.Clock.Now()
	}
	st := p.rollouts[e.Rollout]
	if st == nil {
		st = &state{start: e.Time, step: -1}
		p.rollouts[e.Rollout] = st
	}
	at := p.stamp(st, e.Time)

	switch e.Type {
	case rollout.EventStepStarted:
		st.step, st.stepStart, st.ticks, st.waiting, st.verdict = e.Step, e.Time, 0, "", ""
		st.stepLength = stepLength(e.Message)
		// The last step's measurements are stale now: the status line goes
		// until the new step measures something.
		p.status = ""
		p.line(at, fmt.Sprintf("step %d", e.Step+1), headline(e.Message), "")
	case rollout.EventRoutesChanged:
		if e.Routes != nil {
			st.weight, st.hasWeight = e.Routes.CanaryWeight, true
		}
		p.line(at, "traffic", fmt.Sprintf("canary %5.1f%%  %s", st.weight, e.Message), "")
	case rollout.EventFlagChanged:
		p.line(at, "flag", e.Message, "")
	case rollout.EventMeasured:
		p.measured(st, at, e)
	case rollout.EventWaiting:
		// A gate is polled; saying so once per wait is enough.
		if e.Message != st.waiting {
			st.waiting = e.Message
			p.line(at, "waiting", e.Message, yellow)
		}
	case rollout.EventHeld:
		p.line(at, "HELD", e.Message, yellow)
	case rollout.EventCommand:
		p.line(at, "command", e.Message, "")
	case rollout.EventError:
		p.line(at, "error", e.Message, yellow)
	case rollout.EventRollbackStarted:
		p.line(at, "ROLLBACK", e.Message, red)
	case rollout.EventRollbackCompleted, rollout.EventSucceeded:
		colour := red
		if e.Type == rollout.EventSucceeded {
			colour = green
		}
		p.line(at, strings.ToUpper(string(e.Phase)), e.Message, colour)
	}
	if e.Phase.Terminal() {
		// A finished rollout needs no status line, and its state no memory.
		delete(p.rollouts, e.Rollout)
		p.setStatus("", true)
	}
}

func (p *Printer) measured(st *state, at string, e rollout.Event) {
	st.ticks++
	interesting := e.Verdict != analysis.VerdictRunning || e.Verdict != st.verdict && st.verdict != ""
	st.verdict = e.Verdict
	parts := make([]string, 0, len(e.Measurements))
	for _, m := range e.Measurements {
		parts = append(parts, p.value(m))
		interesting = interesting || m.Outcome != analysis.OutcomePass
	}
	verdict := string(e.Verdict)
	if left, ok := st.left(e.Time); ok && e.Verdict == analysis.VerdictRunning {
		verdict += ", " + left + " left"
	}
	colour := ""
	switch e.Verdict {
	case analysis.VerdictFail:
		colour = red
	case analysis.VerdictInconclusive:
		colour = yellow
	case analysis.VerdictPass:
		colour = green
	}
	text := fmt.Sprintf("%s%s  -> %s", p.weightText(st), strings.Join(parts, "  "), p.paint(verdict, colour))
	if p.live {
		if e.Verdict != analysis.VerdictRunning {
			// The analysis is over: its line stays, its status goes.
			p.status = ""
		}
		if interesting {
			p.line(at, "analyze", text, "")
			return
		}
		p.setStatus(fmt.Sprintf("%s  step %d  analyze   %s", at, st.step+1, text), false)
		return
	}
	if interesting || (st.ticks-1)%p.opts.Every == 0 {
		p.line(at, "analyze", text, "")
	}
}

func (p *Printer) weightText(st *state) string {
	if !st.hasWeight {
		return ""
	}
	return fmt.Sprintf("canary %5.1f%%  ", st.weight)
}

// left is the time left in a timed step (an analysis or a pause), when the
// step said how long it lasts.
func (st *state) left(now time.Time) (string, bool) {
	if st.stepLength <= 0 || st.stepStart.IsZero() {
		return "", false
	}
	left := st.stepStart.Add(st.stepLength).Sub(now)
	if left < 0 {
		left = 0
	}
	switch {
	case left >= time.Minute:
		left = left.Round(time.Second)
	case left >= time.Second:
		left = left.Round(100 * time.Millisecond)
	default:
		left = left.Round(time.Millisecond)
	}
	return shortDuration(left), true
}

// shortDuration writes 14m rather than 14m0s, and 1h rather than 1h0m0s.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// The runner describes timed steps as "analyze for 15m (...)" or "wait 15m",
// possibly after the step's name; the printer reads the length back so it can
// say how long is left.
var timedStep = regexp.MustCompile(`(?:^|: )(?:analyze for|wait) ([0-9][0-9hmsuµn.]*)`)

func stepLength(msg string) time.Duration {
	sub := timedStep.FindStringSubmatch(msg)
	if sub == nil {
		return 0
	}
	d, err := time.ParseDuration(sub[1])
	if err != nil {
		return 0
	}
	return d
}

// headline shortens a step's description to its first clause: the full plan
// was explained before the rollout began.
func headline(msg string) string {
	if strings.Contains(msg, "analyze for ") {
		if i := strings.Index(msg, " ("); i > 0 {
			return msg[:i]
		}
	}
	if i := strings.Index(msg, ", "); i > 0 {
		return msg[:i]
	}
	return msg
}

// bound reads the threshold a measurement was judged against from its reason
// ("error-rate 0.2 <= max 1", "latency 900 > max 500", "x 3 within [1, 5]").
var bound = regexp.MustCompile(`(<=|>=|<|>) (?:max|min) (\S+)|within (\[[^\]]*\])`)

// value is one check's latest value against its threshold.
func (p *Printer) value(m analysis.Measurement) string {
	unit := p.opts.Units[m.Check]
	v := m.Value
	what := ""
	if m.Compared != nil {
		v, unit, what = *m.Compared, "", " canary/stable"
	}
	switch {
	case m.Outcome == analysis.OutcomeWaiting:
		return m.Check + " " + p.paint("waiting", yellow)
	case m.Outcome == analysis.OutcomeInconclusive || math.IsNaN(v):
		return m.Check + " " + p.paint("? ("+m.Reason+")", yellow)
	}
	s := m.Check + what + " " + number(v) + unit
	if sub := bound.FindStringSubmatch(m.Reason); sub != nil {
		if sub[3] != "" {
			s += " in " + sub[3]
		} else {
			s += " " + sub[1] + " " + sub[2]
		}
	}
	if m.Outcome == analysis.OutcomeFail {
		if m.Severity == progressive.SeverityWarn {
			return p.paint(s+" (warning)", yellow)
		}
		return p.paint(s+" FAIL", red)
	}
	return s
}

func number(v float64) string {
	switch a := math.Abs(v); {
	case math.IsInf(v, 0):
		return strconv.FormatFloat(v, 'g', -1, 64)
	case a >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case a >= 0.01:
		// Two decimals keep a column of rates aligned and readable.
		return strconv.FormatFloat(v, 'f', 2, 64)
	case a == 0:
		return "0"
	}
	return strconv.FormatFloat(v, 'g', 3, 64)
}

func (p *Printer) stamp(st *state, t time.Time) string {
	if p.opts.Stamp != nil {
		return p.opts.Stamp(t)
	}
	if p.opts.Relative {
		return fmt.Sprintf("%7.2fs", t.Sub(st.start).Seconds())
	}
	return t.Format(p.opts.TimeFormat)
}

const (
	red    = "31"
	green  = "32"
	yellow = "33"
)

func (p *Printer) paint(s, colour string) string {
	if !p.opts.Colour || colour == "" {
		return s
	}
	return "\x1b[" + colour + "m" + s + "\x1b[0m"
}

// line writes a line that stays: in live mode it goes above the status line,
// which is drawn again below it.
func (p *Printer) line(at, label, text, colour string) {
	var b strings.Builder
	if p.live && p.drawn {
		b.WriteString("\r\x1b[2K")
	}
	fmt.Fprintf(&b, "%s  %s %s\n", at, p.paint(fmt.Sprintf("%-9s", label), colour), text)
	if p.live && p.status != "" {
		b.WriteString(p.status)
		p.drawn = true
	} else {
		p.drawn = false
	}
	p.write(b.String())
}

// setStatus replaces the live status line. Redraws closer together than
// minRedraw are skipped unless forced; the next one shows the latest state.
func (p *Printer) setStatus(s string, force bool) {
	if !p.live {
		return
	}
	s = cut(s, p.opts.Width-1)
	p.status = s
	now := p.opts.Clock.Now()
	if !force && p.drawn && now.Sub(p.lastDraw) < minRedraw {
		return
	}
	p.lastDraw = now
	if !p.drawn && s == "" {
		return
	}
	p.write("\r\x1b[2K" + s)
	p.drawn = s != ""
}

// cut shortens s to n visible columns, leaving colour escapes whole.
func cut(s string, n int) string {
	var b strings.Builder
	cols := 0
	escaped := false
	for _, r := range s {
		switch {
		case r == '\x1b':
			escaped = true
		case escaped:
			if r == 'm' {
				escaped = false
			}
		default:
			if cols == n {
				if strings.Contains(s, "\x1b[") {
					b.WriteString("\x1b[0m")
				}
				return b.String()
			}
			cols++
		}
		b.WriteRune(r)
	}
	return b.String()
}

func (p *Printer) write(s string) {
	if _, err := io.WriteString(p.opts.Out, s); err != nil && p.err == nil {
		p.err = err
	}
}
