package timeline

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/analysis"
	"github.com/agentops/progressive/rollout"
)

// Options shape the picture. The zero value is ready to use.
type Options struct {
	// Title heads the picture. Default: the record's service and release.
	Title string
	// Width is the picture's width in pixels, 320 to 20000. Default 960.
	Width int
	// PanelHeight is the height of each plot in pixels, 40 to 2000. Default 110.
	PanelHeight int
	// Location is the time zone of the time labels. Default UTC, so the same
	// record gives the same picture on every machine.
	Location *time.Location
	// Thresholds gives a check's bounds by check name. Without an entry the
	// bounds are the record's own (Solution.CheckSpecs, or for a record
	// written before those, the descriptions in Solution.Checks); a check
	// judged by a judge has none to draw.
	Thresholds map[string]Threshold
}

const (
	defaultWidth       = 960
	defaultPanelHeight = 110
	marginLeft         = 72
	marginRight        = 28
	panelGap           = 34
	rowHeight          = 18
	laneRow            = 12
	maxLaneRows        = 6
)

func (o Options) withDefaults() (Options, error) {
	if o.Width == 0 {
		o.Width = defaultWidth
	}
	if o.Width < 320 || o.Width > 20000 {
		return o, fmt.Errorf("timeline: Options.Width %d: must be between 320 and 20000 pixels: %w", o.Width, progressive.ErrInvalid)
	}
	if o.PanelHeight == 0 {
		o.PanelHeight = defaultPanelHeight
	}
	if o.PanelHeight < 40 || o.PanelHeight > 2000 {
		return o, fmt.Errorf("timeline: Options.PanelHeight %d: must be between 40 and 2000 pixels: %w", o.PanelHeight, progressive.ErrInvalid)
	}
	if o.Location == nil {
		o.Location = time.UTC
	}
	for name, t := range o.Thresholds {
		for _, b := range []struct {
			field string
			v     *float64
		}{{"Min", t.Min}, {"Max", t.Max}} {
			if b.v != nil && math.IsNaN(*b.v) {
				return o, fmt.Errorf("timeline: Options.Thresholds[%q].%s NaN: must be a number: %w", name, b.field, progressive.ErrInvalid)
			}
		}
		if t.Min != nil && t.Max != nil && *t.Min > *t.Max {
			return o, fmt.Errorf("timeline: Options.Thresholds[%q] min %s > max %s: %w", name, num(*t.Min), num(*t.Max), progressive.ErrInvalid)
		}
	}
	return o, nil
}

// SVG draws the record as a standalone SVG document: the canary weight as a
// step line, one panel per check with its threshold, shaded spans where a
// measurement could not tell, every decision as a marker with its reason, a
// time axis and a numbered list of the decisions. The output depends only on
// rec and opts, so equal records give equal bytes.
func SVG(w io.Writer, rec rollout.DecisionRecord, opts Options) error {
	opts, err := opts.withDefaults()
	if err != nil {
		return err
	}
	var b strings.Builder
	render(&b, build(rec, opts), opts)
	_, err = io.WriteString(w, b.String())
	return err
}

// canvas keeps the geometry shared by all panels.
type canvas struct {
	b      *strings.Builder
	opts   Options
	m      model
	left   float64
	right  float64
	width  float64
	labels []string
}

func (c *canvas) x(t time.Time) float64 {
	total := c.m.end.Sub(c.m.start)
	f := float64(t.Sub(c.m.start)) / float64(total)
	return c.left + math.Max(0, math.Min(1, f))*(c.right-c.left)
}

func (c *canvas) printf(format string, args ...any) { fmt.Fprintf(c.b, format, args...) }

func render(b *strings.Builder, m model, opts Options) {
	c := &canvas{b: b, opts: opts, m: m, left: marginLeft, right: float64(opts.Width - marginRight), width: float64(opts.Width)}
	ph := float64(opts.PanelHeight)

	panels := 1 + len(m.checks)
	for _, s := range m.checks {
		if s.baseline {
			panels++
		}
	}
	lane := laneLayout(c, m.decisions)
	laneHeight := float64(laneRow*(lane.rows+1)) + 8
	top := 84.0
	plotsBottom := top + float64(panels)*(ph+panelGap)
	axisY := plotsBottom + laneHeight
	legendTop := axisY + 46
	height := legendTop + float64(len(m.decisions))*rowHeight + 16

	c.printf(`<svg xmlns="http://www.w3.org/2000/svg" class="timeline" width="%d" height="%s" viewBox="0 0 %d %s" role="img" aria-labelledby="timeline-title timeline-desc" font-family="sans-serif" font-size="12">`+"\n",
		opts.Width, f1(height), opts.Width, f1(height))
	c.printf("<title id=\"timeline-title\">%s</title>\n", esc(m.title))
	c.printf("<desc id=\"timeline-desc\">%s</desc>\n", esc(describe(m)))
	c.printf(`<rect class="background" x="0" y="0" width="%d" height="%s" fill="#ffffff"/>`+"\n", opts.Width, f1(height))
	// A long title (a generated namespace, a long image reference) would run
	// off the picture: it is squeezed into the width instead (the <title>
	// above keeps it whole for a screen reader).
	fit := ""
	if avail := float64(opts.Width) - c.left - 16; headingWidth(m.title) > avail {
		fit = fmt.Sprintf(` textLength="%s" lengthAdjust="spacingAndGlyphs"`, f1(avail))
	}
	c.printf(`<text class="heading" x="%s" y="26" font-size="16" font-weight="bold" fill="#111"%s>%s</text>`+"\n", f1(c.left), fit, esc(m.title))
	if m.subtitle != "" {
		c.printf(`<text class="subheading" x="%s" y="46" fill="#444">%s</text>`+"\n", f1(c.left), esc(m.subtitle))
	}

	y := top
	exposurePanel(c, y, ph)
	y += ph + panelGap
	for _, s := range m.checks {
		checkPanel(c, s, y, ph)
		y += ph + panelGap
		if s.baseline {
			comparedPanel(c, s, y, ph)
			y += ph + panelGap
		}
	}
	decisionLines(c, top, plotsBottom)
	decisionLane(c, lane, plotsBottom)
	timeAxis(c, top, axisY)
	legend(c, legendTop)
	c.printf("</svg>\n")
}

func describe(m model) string {
	s := fmt.Sprintf("%s from %s to %s: %s over time", m.title, m.start.UTC().Format(time.RFC3339), m.end.UTC().Format(time.RFC3339), m.exposureLabel)
	if len(m.checks) > 0 {
		names := make([]string, 0, len(m.checks))
		for _, ch := range m.checks {
			names = append(names, ch.name)
		}
		s += ", checks " + strings.Join(names, ", ")
	}
	return s + fmt.Sprintf(", %d decision(s).", len(m.decisions))
}

// frame draws a panel's title, box and y axis with ticks over [lo, hi].
func frame(c *canvas, title string, y, ph, lo, hi float64) func(float64) float64 {
	scale := func(v float64) float64 {
		f := (v - lo) / (hi - lo)
		return y + ph - math.Max(0, math.Min(1, f))*ph
	}
	c.printf(`<text class="panel-title" x="%s" y="%s" font-weight="bold" fill="#222">%s</text>`+"\n", f1(c.left), f1(y-8), esc(title))
	c.printf(`<rect class="plot-area" x="%s" y="%s" width="%s" height="%s" fill="#fafafa" stroke="#ccc"/>`+"\n", f1(c.left), f1(y), f1(c.right-c.left), f1(ph))
	c.printf(`<g class="axis y-axis">` + "\n")
	for _, v := range niceTicks(lo, hi, 4) {
		ty := scale(v)
		c.printf(`<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="#e4e4e4"/>`, f1(c.left), f1(ty), f1(c.right), f1(ty))
		c.printf(`<text class="tick-label" x="%s" y="%s" text-anchor="end" fill="#555">%s</text>`+"\n", f1(c.left-6), f1(ty+4), esc(num(v)))
	}
	c.printf("</g>\n")
	return scale
}

func exposurePanel(c *canvas, y, ph float64) {
	hi := 100.0
	for _, l := range c.m.exposure {
		hi = math.Max(hi, l.value)
	}
	c.printf(`<g class="panel exposure" data-panel="exposure">` + "\n")
	scale := frame(c, c.m.exposureLabel, y, ph, 0, hi)
	if len(c.m.exposure) == 0 {
		c.printf(`<text class="empty" x="%s" y="%s" fill="#777">no traffic or flag change recorded</text>`+"\n", f1(c.left+8), f1(y+ph/2))
		c.printf("</g>\n")
		return
	}
	var d strings.Builder
	values := make([]string, 0, len(c.m.exposure))
	for i, l := range c.m.exposure {
		x, ly := c.x(l.at), scale(l.value)
		if i == 0 {
			fmt.Fprintf(&d, "M%s,%s", f1(x), f1(ly))
		} else {
			// A step line: the weight holds until the next change, then jumps.
			fmt.Fprintf(&d, " H%s V%s", f1(x), f1(ly))
		}
		// Full precision: the levels are data for tools and tests, the labels
		// are for people.
		values = append(values, l.at.UTC().Format(time.RFC3339Nano)+"="+strconv.FormatFloat(l.value, 'g', -1, 64))
	}
	fmt.Fprintf(&d, " H%s", f1(c.x(c.m.end)))
	c.printf(`<path class="series weight" data-levels="%s" d="%s" fill="none" stroke="#1f6fd1" stroke-width="2.5"/>`+"\n", esc(strings.Join(values, " ")), d.String())
	for _, l := range c.m.exposure {
		c.printf(`<circle class="weight-point" cx="%s" cy="%s" r="3" fill="#1f6fd1"><title>%s: %s%%</title></circle>`+"\n",
			f1(c.x(l.at)), f1(scale(l.value)), esc(c.clock(l.at)), esc(num(l.value)))
	}
	c.printf("</g>\n")
}

// domain is the value range a check panel shows: every finite value and
// bound, from zero when nothing is negative (a rate near its bound should
// look near it), with a little headroom.
func domain(values []float64, bounds ...*float64) (float64, float64) {
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, v := range values {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			continue
		}
		lo, hi = math.Min(lo, v), math.Max(hi, v)
	}
	for _, bnd := range bounds {
		if bnd != nil && !math.IsInf(*bnd, 0) {
			lo, hi = math.Min(lo, *bnd), math.Max(hi, *bnd)
		}
	}
	if math.IsInf(lo, 1) {
		return 0, 1
	}
	if lo >= 0 {
		lo = 0
	}
	if hi <= lo {
		hi = lo + 1
	}
	return lo, hi + (hi-lo)*0.08
}

func checkPanel(c *canvas, s checkSeries, y, ph float64) {
	var values []float64
	hasStable := false
	for _, p := range s.points {
		values = append(values, p.Value)
		if p.Baseline != nil {
			values = append(values, *p.Baseline)
			hasStable = true
		}
	}
	var lo, hi float64
	title := s.name
	if s.baseline {
		lo, hi = domain(values)
		title += " (canary and stable)"
	} else {
		lo, hi = domain(values, s.threshold.Min, s.threshold.Max)
		title += boundsText(s.threshold)
	}
	if s.warnOnly {
		title += ", warning only"
	}
	c.printf(`<g class="panel check" data-panel="check" data-check="%s">`+"\n", esc(s.name))
	scale := frame(c, title, y, ph, lo, hi)
	gaps(c, s, y, ph)
	if !s.baseline {
		thresholdLines(c, s, scale)
	}
	if hasStable {
		series(c, s, "stable", "#8a8a8a", scale, func(m analysis.Measurement) (float64, bool) {
			if m.Baseline == nil {
				return 0, false
			}
			return *m.Baseline, true
		})
	}
	series(c, s, "canary", "#d17a1f", scale, func(m analysis.Measurement) (float64, bool) { return m.Value, true })
	c.printf("</g>\n")
}

// comparedPanel draws what a baseline check's thresholds judged: the canary
// against stable as a ratio or difference.
func comparedPanel(c *canvas, s checkSeries, y, ph float64) {
	var values []float64
	for _, p := range s.points {
		if p.Compared != nil {
			values = append(values, *p.Compared)
		}
	}
	lo, hi := domain(values, s.threshold.Min, s.threshold.Max)
	c.printf(`<g class="panel compared" data-panel="compared" data-check="%s">`+"\n", esc(s.name))
	scale := frame(c, s.name+": canary against stable"+boundsText(s.threshold), y, ph, lo, hi)
	gaps(c, s, y, ph)
	thresholdLines(c, s, scale)
	series(c, s, "compared", "#7a3fd1", scale, func(m analysis.Measurement) (float64, bool) {
		if m.Compared == nil {
			return 0, false
		}
		return *m.Compared, true
	})
	c.printf("</g>\n")
}

func boundsText(t Threshold) string {
	var parts []string
	if t.Min != nil {
		parts = append(parts, "min "+num(*t.Min))
	}
	if t.Max != nil {
		parts = append(parts, "max "+num(*t.Max))
	}
	if len(parts) == 0 {
		return ""
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

func thresholdLines(c *canvas, s checkSeries, scale func(float64) float64) {
	for _, b := range []struct {
		kind string
		v    *float64
	}{{"min", s.threshold.Min}, {"max", s.threshold.Max}} {
		if b.v == nil || math.IsInf(*b.v, 0) {
			continue
		}
		ty := scale(*b.v)
		c.printf(`<line class="threshold" data-kind="%s" data-value="%s" x1="%s" y1="%s" x2="%s" y2="%s" stroke="#c62828" stroke-width="1.5" stroke-dasharray="6 4"><title>%s %s %s</title></line>`+"\n",
			b.kind, esc(num(*b.v)), f1(c.left), f1(ty), f1(c.right), f1(ty), esc(s.name), b.kind, esc(num(*b.v)))
	}
}

// gaps shades each span that ended in a measurement that could not tell (no
// data, NaN, an unreachable backend, a warm-up): from the check's previous
// measurement, when the window it covers began, to this one.
func gaps(c *canvas, s checkSeries, y, ph float64) {
	prev := c.m.start
	for _, p := range s.points {
		if unjudged(p) {
			x0, x1 := c.x(prev), c.x(p.Time)
			if x1-x0 < 3 {
				x0 = x1 - 3
			}
			c.printf(`<rect class="gap %s" x="%s" y="%s" width="%s" height="%s" fill="#9e9e9e" fill-opacity="0.25"><title>%s</title></rect>`+"\n",
				esc(string(p.Outcome)), f1(x0), f1(y), f1(x1-x0), f1(ph), esc(c.clock(p.Time)+" "+s.name+": "+reasonOf(p)))
		}
		prev = p.Time
	}
}

func reasonOf(m analysis.Measurement) string {
	if m.Reason != "" {
		return m.Reason
	}
	return string(m.Outcome)
}

// series draws one line through a check's values, broken where there is no
// value, and a dot per measurement carrying its reason as a tooltip.
func series(c *canvas, s checkSeries, class, colour string, scale func(float64) float64, value func(analysis.Measurement) (float64, bool)) {
	var d strings.Builder
	pen := false
	for _, p := range s.points {
		v, ok := value(p)
		if !ok || math.IsNaN(v) || unjudged(p) && class != "stable" {
			pen = false
			continue
		}
		cmd := "L"
		if !pen {
			cmd = "M"
			if d.Len() > 0 {
				d.WriteByte(' ')
			}
		} else {
			d.WriteByte(' ')
		}
		fmt.Fprintf(&d, "%s%s,%s", cmd, f1(c.x(p.Time)), f1(scale(v)))
		pen = true
	}
	c.printf(`<path class="series %s" data-check="%s" d="%s" fill="none" stroke="%s" stroke-width="1.8"/>`+"\n", class, esc(s.name), d.String(), colour)
	if class == "stable" {
		return
	}
	for _, p := range s.points {
		v, ok := value(p)
		if !ok || math.IsNaN(v) {
			continue
		}
		fill := colour
		r := "2"
		if p.Outcome == analysis.OutcomeFail {
			fill, r = "#c62828", "4"
		}
		c.printf(`<circle class="point %s" cx="%s" cy="%s" r="%s" fill="%s"><title>%s</title></circle>`+"\n",
			esc(string(p.Outcome)), f1(c.x(p.Time)), f1(scale(v)), r, fill, esc(c.clock(p.Time)+" "+reasonOf(p)))
	}
}

// important decisions also get a line across every panel, so the value that
// caused them sits right above.
func important(action string) bool {
	switch action {
	case "advance", "rollback", "promoted", string(rollout.OutcomeRolledBack), string(rollout.OutcomeAborted), "hold":
		return true
	}
	return false
}

func decisionColour(action string) string {
	switch action {
	case "rollback", string(rollout.OutcomeRolledBack), string(rollout.OutcomeAborted), "hook-failed", "rollback-retry", "hold":
		return "#c62828"
	case "advance", "promoted", "approved":
		return "#2e7d32"
	}
	return "#555555"
}

func decisionLines(c *canvas, top, bottom float64) {
	c.printf(`<g class="decision-lines">` + "\n")
	for i, d := range c.m.decisions {
		if !important(d.Action) {
			continue
		}
		x := c.x(d.Time)
		c.printf(`<line class="decision-line" data-index="%d" x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s" stroke-opacity="0.5" stroke-dasharray="2 3"/>`+"\n",
			i+1, f1(x), f1(top), f1(x), f1(bottom), decisionColour(d.Action))
	}
	c.printf("</g>\n")
}

type lane struct {
	rows int
	row  []int
}

// laneLayout stacks decisions made at nearly the same place so each marker can
// be seen and hovered; past maxLaneRows they overlap.
func laneLayout(c *canvas, ds []rollout.Decision) lane {
	l := lane{row: make([]int, len(ds))}
	var lastX float64
	stack := 0
	for i, d := range ds {
		x := c.x(d.Time)
		if i > 0 && x-lastX < 10 {
			stack++
		} else {
			stack = 0
			lastX = x
		}
		l.row[i] = min(stack, maxLaneRows-1)
		l.rows = max(l.rows, l.row[i]+1)
	}
	return l
}

func decisionLane(c *canvas, l lane, top float64) {
	c.printf(`<g class="decisions">` + "\n")
	c.printf(`<text class="panel-title" x="%s" y="%s" text-anchor="end" fill="#222">decisions</text>`+"\n", f1(c.left-6), f1(top+14))
	for i, d := range c.m.decisions {
		x := c.x(d.Time)
		y := top + 10 + float64(l.row[i]*laneRow)
		c.printf(`<g class="decision" data-index="%d" data-action="%s"><title>%s</title><path class="marker" d="M%s,%s l5,5 l-5,5 l-5,-5 z" fill="%s"/></g>`+"\n",
			i+1, esc(d.Action), esc(fmt.Sprintf("%d. %s %s: %s", i+1, c.clock(d.Time), d.Action, d.Reason)), f1(x), f1(y-5), decisionColour(d.Action))
	}
	c.printf("</g>\n")
}

func timeAxis(c *canvas, top, y float64) {
	span := c.m.end.Sub(c.m.start)
	step := tickStep(span)
	c.printf(`<g class="axis x-axis" data-step="%s">`+"\n", step)
	c.printf(`<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="#333"/>`+"\n", f1(c.left), f1(y), f1(c.right), f1(y))
	first := c.m.start.Truncate(step)
	if first.Before(c.m.start) {
		first = first.Add(step)
	}
	for t := first; !t.After(c.m.end); t = t.Add(step) {
		x := c.x(t)
		c.printf(`<g class="tick"><line x1="%s" y1="%s" x2="%s" y2="%s" stroke="#333"/><line x1="%s" y1="%s" x2="%s" y2="%s" stroke="#eee"/><text class="tick-label" x="%s" y="%s" text-anchor="middle" fill="#333">%s</text></g>`+"\n",
			f1(x), f1(y), f1(x), f1(y+5), f1(x), f1(top), f1(x), f1(y), f1(x), f1(y+18), esc(c.tickLabel(t, step, span)))
	}
	c.printf(`<text class="axis-label" x="%s" y="%s" text-anchor="end" fill="#555">time (%s)</text>`+"\n", f1(c.right), f1(y+34), esc(c.opts.Location.String()))
	c.printf("</g>\n")
}

func legend(c *canvas, top float64) {
	c.printf(`<g class="legend">` + "\n")
	// About 6.5 pixels per character at 12px: longer reasons are cut here and
	// stay whole in the marker's tooltip and the HTML page's list.
	room := int((c.width - c.left - 20) / 6.5)
	for i, d := range c.m.decisions {
		line := fmt.Sprintf("%d. %s  %s: %s", i+1, c.clock(d.Time), d.Action, d.Reason)
		c.printf(`<text class="legend-item" data-index="%d" x="%s" y="%s" fill="%s"><title>%s</title>%s</text>`+"\n",
			i+1, f1(c.left), f1(top+float64(i)*rowHeight), decisionColour(d.Action), esc(line), esc(cut(line, room)))
	}
	c.printf("</g>\n")
}

func cut(s string, n int) string {
	if n < 4 || utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

func (c *canvas) clock(t time.Time) string {
	t = t.In(c.opts.Location)
	if c.m.end.Sub(c.m.start) >= 24*time.Hour {
		return t.Format("Jan 2 15:04:05")
	}
	return t.Format("15:04:05")
}

func (c *canvas) tickLabel(t time.Time, step, span time.Duration) string {
	t = t.In(c.opts.Location)
	switch {
	case span >= 24*time.Hour:
		return t.Format("Jan 2 15:04")
	case step < time.Minute:
		return t.Format("15:04:05")
	}
	return t.Format("15:04")
}

// tickStep picks a round interval giving at most about eight labels.
func tickStep(span time.Duration) time.Duration {
	for _, s := range []time.Duration{
		time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second, 15 * time.Second, 30 * time.Second,
		time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute, 15 * time.Minute, 30 * time.Minute,
		time.Hour, 2 * time.Hour, 3 * time.Hour, 6 * time.Hour, 12 * time.Hour, 24 * time.Hour, 48 * time.Hour, 7 * 24 * time.Hour,
	} {
		if span/s <= 8 {
			return s
		}
	}
	return span / 8
}

// niceTicks returns round values between lo and hi, about n of them.
func niceTicks(lo, hi float64, n int) []float64 {
	if !(hi > lo) || math.IsInf(hi-lo, 0) {
		return []float64{lo}
	}
	raw := (hi - lo) / float64(n)
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	var out []float64
	for v := math.Ceil(lo/step) * step; v <= hi+step*1e-9 && len(out) < 50; v += step {
		// Rounding to the step's precision avoids labels like 0.30000000000000004.
		out = append(out, math.Round(v/step)*step)
	}
	return out
}

// f1 formats a coordinate with one decimal: enough for a screen, and stable
// across platforms.
func f1(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

// num formats a value for people: short, no exponent for everyday numbers.
func num(v float64) string { return strconv.FormatFloat(v, 'g', 4, 64) }

// esc escapes text for XML and HTML, in content and in attribute values alike,
// and replaces characters XML cannot carry at all (control characters, broken
// UTF-8), so a hostile check name or reason can neither break the document nor
// add markup to it.
func esc(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '&':
			b.WriteString("&amp;")
		case r == '<':
			b.WriteString("&lt;")
		case r == '>':
			b.WriteString("&gt;")
		case r == '"':
			b.WriteString("&#34;")
		case r == '\'':
			b.WriteString("&#39;")
		case !xmlChar(r):
			b.WriteRune('\uFFFD')
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// xmlChar is the Char production of XML 1.0; utf8.RuneError stands for broken
// UTF-8 here as well as for itself, and is kept as the visible replacement.
func xmlChar(r rune) bool {
	return r == 0x09 || r == 0x0A || r == 0x0D ||
		r >= 0x20 && r <= 0xD7FF ||
		r >= 0xE000 && r <= 0xFFFD ||
		r >= 0x10000 && r <= 0x10FFFF
}

// headingWidth estimates the width of s in the heading's 16px bold sans-serif:
// about 9.5 px a character, enough to tell when it would not fit.
func headingWidth(s string) float64 { return 9.5 * float64(utf8.RuneCountInString(s)) }
