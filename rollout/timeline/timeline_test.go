package timeline_test

import (
	"bytes"
	"encoding/xml"
	"io"
	"math"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/analysis"
	"github.com/agentops/progressive/rollout"
	"github.com/agentops/progressive/rollout/timeline"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// node is a parsed XML element, enough to query the picture by class and
// attribute the way a reader's eye would look for things.
type node struct {
	Name     string
	Attrs    map[string]string
	Children []*node
	Text     string
}

func parse(t *testing.T, r io.Reader) *node {
	t.Helper()
	dec := xml.NewDecoder(r)
	dec.Strict = true
	var stack []*node
	var root *node
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		require.NoError(t, err, "the SVG must be well-formed XML")
		switch tok := tok.(type) {
		case xml.StartElement:
			n := &node{Name: tok.Name.Local, Attrs: map[string]string{}}
			for _, a := range tok.Attr {
				n.Attrs[a.Name.Local] = a.Value
			}
			if len(stack) > 0 {
				p := stack[len(stack)-1]
				p.Children = append(p.Children, n)
			} else {
				root = n
			}
			stack = append(stack, n)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) > 0 {
				stack[len(stack)-1].Text += string(tok)
			}
		}
	}
	require.NotNil(t, root)
	return root
}

func (n *node) hasClass(c string) bool {
	for _, f := range strings.Fields(n.Attrs["class"]) {
		if f == c {
			return true
		}
	}
	return false
}

// all returns every element below n (n included) with the element name and
// all the classes given.
func (n *node) all(name string, classes ...string) []*node {
	var out []*node
	var walk func(*node)
	walk = func(x *node) {
		ok := name == "" || x.Name == name
		for _, c := range classes {
			ok = ok && x.hasClass(c)
		}
		if ok {
			out = append(out, x)
		}
		for _, ch := range x.Children {
			walk(ch)
		}
	}
	walk(n)
	return out
}

func (n *node) title() string {
	for _, ch := range n.Children {
		if ch.Name == "title" {
			return ch.Text
		}
	}
	return ""
}

// text is all character data below n.
func (n *node) text() string {
	s := n.Text
	for _, ch := range n.Children {
		s += ch.text()
	}
	return s
}

var t0 = time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)

func at(min int) time.Time { return t0.Add(time.Duration(min) * time.Minute) }

func meas(check string, min int, v float64, o analysis.Outcome, reason string) analysis.Measurement {
	return analysis.Measurement{Check: check, Time: at(min), Value: v, Outcome: o, Reason: reason}
}

// rolledBack is a canary that took 10%, then 50%, failed its error rate and
// was rolled back, with one no-data measurement on the way and a baseline
// check comparing canary and stable latency.
func rolledBack() rollout.DecisionRecord {
	stable := func(v float64) *float64 { return &v }
	lat := func(min int, c, s float64) analysis.Measurement {
		m := meas("latency", min, c, analysis.OutcomePass, "latency ratio fine")
		m.Baseline, m.Compared = stable(s), stable(c/s)
		return m
	}
	return rollout.DecisionRecord{
		ID:      "production-payment-service-v2-1-0",
		Context: rollout.RecordContext{Service: "production/payment-service", Strategy: "canary", Release: progressive.Release{Version: "v2.1.0"}},
		Solution: rollout.Solution{Checks: []string{
			"error-rate <= 1 every 1m, fails after 1 failed measurement(s)",
			"latency (canary/stable ratio) <= 1.2 every 1m, fails after 1 failed measurement(s)",
		}},
		Observations: []analysis.Measurement{
			meas("error-rate", 1, 0.2, analysis.OutcomePass, "error-rate 0.2 <= max 1"),
			lat(1, 120, 118),
			meas("error-rate", 2, math.NaN(), analysis.OutcomeInconclusive, "no data (empty result)"),
			lat(2, 121, 119),
			meas("error-rate", 16, 0.3, analysis.OutcomePass, "error-rate 0.3 <= max 1"),
			lat(16, 119, 120),
			meas("error-rate", 20, 5.1, analysis.OutcomeFail, "error-rate 5.1 > max 1"),
			lat(20, 122, 121),
		},
		Decisions: []rollout.Decision{
			{Time: at(0), Action: "start", Reason: "plan validated"},
			{Time: at(0), Step: 1, Action: "route", Reason: "routes set: 90% stable / 10% canary"},
			{Time: at(15), Step: 2, Action: "advance", Reason: "analysis passed"},
			{Time: at(15), Step: 3, Action: "route", Reason: "routes set: 50% stable / 50% canary"},
			{Time: at(20), Step: 4, Action: "rollback", Reason: `analysis failed: check "error-rate" failed`},
			{Time: at(21), Step: 4, Action: "rolled-back", Reason: "everything is back on stable"},
		},
		Impact: rollout.Impact{Outcome: rollout.OutcomeRolledBack, StartedAt: at(0), FinishedAt: at(21), Duration: rollout.Duration(21 * time.Minute), MaxCanaryWeight: 50},
	}
}

func render(t *testing.T, rec rollout.DecisionRecord, opts timeline.Options) (*node, string) {
	t.Helper()
	var buf bytes.Buffer
	require.NoError(t, timeline.SVG(&buf, rec, opts))
	return parse(t, bytes.NewReader(buf.Bytes())), buf.String()
}

// pathPoints returns the vertices of an SVG path written with M, L, H and V
// commands in absolute coordinates.
func pathPoints(t *testing.T, d string) [][2]float64 {
	t.Helper()
	var pts [][2]float64
	var x, y float64
	for _, cmd := range regexp.MustCompile(`[MLHV][^MLHV]+`).FindAllString(d, -1) {
		args := strings.Split(strings.TrimSpace(cmd[1:]), ",")
		num := func(s string) float64 {
			v, err := strconv.ParseFloat(s, 64)
			require.NoError(t, err, cmd)
			return v
		}
		switch cmd[0] {
		case 'M', 'L':
			require.Len(t, args, 2, cmd)
			x, y = num(args[0]), num(args[1])
		case 'H':
			x = num(args[0])
		case 'V':
			y = num(args[0])
		}
		pts = append(pts, [2]float64{x, y})
	}
	return pts
}

func TestSVGDrawsWeightsChecksGapsAndDecisions(t *testing.T) {
	rec := rolledBack()
	svg, _ := render(t, rec, timeline.Options{})
	assert.Equal(t, "svg", svg.Name)
	assert.Equal(t, "http://www.w3.org/2000/svg", svg.Attrs["xmlns"])

	// Axes: a time axis with labelled ticks every few minutes, and a value axis
	// per panel.
	xAxis := svg.all("g", "x-axis")
	require.Len(t, xAxis, 1)
	var labels []string
	for _, l := range xAxis[0].all("text", "tick-label") {
		labels = append(labels, l.Text)
	}
	assert.Equal(t, []string{"09:00", "09:05", "09:10", "09:15", "09:20"}, labels)
	panels := svg.all("g", "panel")
	assert.Len(t, panels, 4, "exposure, error-rate, latency, and latency's canary/stable comparison")
	for _, p := range panels {
		assert.Len(t, p.all("g", "y-axis"), 1, p.Attrs["data-panel"])
		assert.NotEmpty(t, p.all("text", "tick-label"), p.Attrs["data-panel"])
	}

	// The weight: 0 until the first route, 10 from 09:00, 50 from 09:15, 0 once
	// rolled back at 09:21, as a step line.
	weight := svg.all("path", "series", "weight")
	require.Len(t, weight, 1)
	assert.Equal(t, "2026-11-26T09:00:00Z=10 2026-11-26T09:15:00Z=50 2026-11-26T09:21:00Z=0", weight[0].Attrs["data-levels"])
	pts := pathPoints(t, weight[0].Attrs["d"])
	// M(start,10) H(09:15) V(50) H(09:21) V(0) H(end)
	require.Len(t, pts, 6)
	y10, y50, y0 := pts[0][1], pts[2][1], pts[4][1]
	assert.Less(t, y50, y10, "50% is drawn above 10%")
	assert.Less(t, y10, y0, "10% is drawn above 0%")
	assert.InDelta(t, (y0-y10)*5, y0-y50, 0.5, "the weight axis is linear")
	assert.Equal(t, pts[1][0], pts[2][0], "a step: the jump to 50% is vertical")
	assert.Less(t, pts[0][0], pts[1][0])
	assert.Len(t, svg.all("circle", "weight-point"), 3)

	// One canary series per check, in the solution's order; stable beside
	// canary where the check measured both; the threshold drawn where it applies.
	var checks []string
	for _, s := range svg.all("path", "series", "canary") {
		checks = append(checks, s.Attrs["data-check"])
	}
	assert.Equal(t, []string{"error-rate", "latency"}, checks)
	stable := svg.all("path", "series", "stable")
	require.Len(t, stable, 1)
	assert.Equal(t, "latency", stable[0].Attrs["data-check"])
	thresholds := svg.all("line", "threshold")
	require.Len(t, thresholds, 2)
	assert.Equal(t, "max", thresholds[0].Attrs["data-kind"])
	assert.Equal(t, "1", thresholds[0].Attrs["data-value"], "error-rate's bound, from its description")
	assert.Equal(t, "1.2", thresholds[1].Attrs["data-value"], "latency's bound applies to canary/stable")
	compared := svg.all("path", "series", "compared")
	require.Len(t, compared, 1)

	// The error-rate line breaks at the no-data measurement, which is shaded.
	errSeries := svg.all("path", "series", "canary")[0]
	assert.Equal(t, 2, strings.Count(errSeries.Attrs["d"], "M"), "the line restarts after the gap")
	gaps := panels[1].all("rect", "gap")
	require.Len(t, gaps, 1)
	assert.Contains(t, gaps[0].title(), "no data (empty result)")
	assert.Len(t, panels[2].all("rect", "gap"), 0, "latency always measured")
	fails := svg.all("circle", "fail")
	require.Len(t, fails, 1)
	assert.Contains(t, fails[0].title(), "error-rate 5.1 > max 1")

	// A marker per decision with its reason as a tooltip, and the same in the
	// numbered list.
	markers := svg.all("g", "decision")
	require.Len(t, markers, len(rec.Decisions))
	items := svg.all("text", "legend-item")
	require.Len(t, items, len(rec.Decisions))
	for i, d := range rec.Decisions {
		assert.Equal(t, d.Action, markers[i].Attrs["data-action"])
		assert.Contains(t, markers[i].title(), d.Reason)
		assert.Len(t, markers[i].all("path", "marker"), 1)
		assert.Contains(t, items[i].text(), d.Reason)
	}
	assert.Len(t, svg.all("line", "decision-line"), 3, "advance, rollback and rolled-back are drawn across the panels")
}

func TestSVGIsDeterministic(t *testing.T) {
	_, a := render(t, rolledBack(), timeline.Options{})
	_, b := render(t, rolledBack(), timeline.Options{})
	assert.Equal(t, a, b)
	_, c := render(t, rolledBack(), timeline.Options{Location: time.FixedZone("CET", 3600)})
	assert.NotEqual(t, a, c, "labels follow the location")
	assert.Contains(t, c, ">10:00<")
}

func TestSVGOfEmptyAndMinimalRecords(t *testing.T) {
	svg, _ := render(t, rollout.DecisionRecord{}, timeline.Options{})
	assert.Len(t, svg.all("g", "x-axis"), 1, "an empty record still has a time axis")
	assert.Len(t, svg.all("g", "panel"), 1, "and an exposure panel saying it is empty")
	assert.Len(t, svg.all("text", "empty"), 1)
	assert.Empty(t, svg.all("g", "decision"))

	// Just started: one decision, no measurement, no end.
	started := rollout.DecisionRecord{
		ID:        "r",
		Decisions: []rollout.Decision{{Time: t0, Action: "start", Reason: "plan validated"}},
		Impact:    rollout.Impact{Outcome: rollout.OutcomeInProgress, StartedAt: t0},
	}
	svg, _ = render(t, started, timeline.Options{})
	assert.Len(t, svg.all("g", "decision"), 1)
	assert.NotEmpty(t, svg.all("text", "tick-label"))

	// A single measurement of a check judged by a judge (no bounds to draw),
	// holding an infinite value.
	single := started
	single.Observations = []analysis.Measurement{meas("judge-only", 0, math.Inf(1), analysis.OutcomeFail, "ratio +Inf")}
	svg, _ = render(t, single, timeline.Options{})
	assert.Len(t, svg.all("path", "series", "canary"), 1)
	assert.Empty(t, svg.all("line", "threshold"))
}

func TestSVGEscapesHostileText(t *testing.T) {
	hostile := `<script>alert("x")</script>' & "q"` + "\x00\x1b"
	rec := rolledBack()
	rec.Context.Service = hostile
	rec.Solution.Checks[0] = hostile + " <= 1 every 1m"
	for i := range rec.Observations {
		if rec.Observations[i].Check == "error-rate" {
			rec.Observations[i].Check = hostile
			rec.Observations[i].Reason = hostile
		}
	}
	rec.Decisions[4].Reason = hostile
	rec.Decisions[4].Action = `"><g onload="x`

	svg, raw := render(t, rec, timeline.Options{})
	assert.NotContains(t, raw, "<script")
	assert.NotContains(t, raw, `"><g onload`)
	assert.Empty(t, svg.all("script"))
	for _, g := range svg.all("g") {
		_, has := g.Attrs["onload"]
		assert.False(t, has)
	}
	// The text survives as text, with the unwritable control characters
	// replaced.
	want := `<script>alert("x")</script>' & "q"` + "\uFFFD\uFFFD"
	var names []string
	for _, s := range svg.all("path", "series", "canary") {
		names = append(names, s.Attrs["data-check"])
	}
	assert.Contains(t, names, want)
	assert.Contains(t, svg.all("g", "decision")[4].title(), want)
	assert.Equal(t, "1", svg.all("line", "threshold")[0].Attrs["data-value"], "the bound is still read from the hostile description")
}

func TestOptionsAreValidated(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts timeline.Options
		want string
	}{
		{"narrow", timeline.Options{Width: 100}, "Options.Width 100"},
		{"huge", timeline.Options{Width: 1 << 30}, "Options.Width 1073741824"},
		{"flat", timeline.Options{PanelHeight: -5}, "Options.PanelHeight -5"},
		{"NaN bound", timeline.Options{Thresholds: map[string]timeline.Threshold{"x": {Max: progressive.Float(math.NaN())}}}, `Options.Thresholds["x"].Max NaN`},
		{"crossed", timeline.Options{Thresholds: map[string]timeline.Threshold{"x": {Min: progressive.Float(2), Max: progressive.Float(1)}}}, `Options.Thresholds["x"] min 2 > max 1`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			err := timeline.SVG(&buf, rolledBack(), tc.opts)
			require.ErrorIs(t, err, progressive.ErrInvalid)
			assert.ErrorContains(t, err, tc.want)
			assert.Zero(t, buf.Len(), "nothing is written on bad options")
			require.ErrorIs(t, timeline.HTML(&buf, rolledBack(), tc.opts), progressive.ErrInvalid)
		})
	}
}

func TestExplicitThresholdsWin(t *testing.T) {
	svg, _ := render(t, rolledBack(), timeline.Options{Thresholds: map[string]timeline.Threshold{
		"error-rate": {Min: progressive.Float(0.01), Max: progressive.Float(2)},
	}})
	th := svg.all("g", "panel")[1].all("line", "threshold")
	require.Len(t, th, 2)
	assert.Equal(t, "0.01", th[0].Attrs["data-value"])
	assert.Equal(t, "2", th[1].Attrs["data-value"])
}

func TestFlagRolloutsShowTheirExposure(t *testing.T) {
	rec := rollout.DecisionRecord{
		Decisions: []rollout.Decision{
			{Time: at(0), Action: "flag", Reason: `flag ld/search serves "on" to 5% of users`},
			{Time: at(60), Action: "flag", Reason: `flag ld/search serves "on" to 25% of users`},
			{Time: at(90), Action: "aborted", Reason: "everything is back on stable: manual abort"},
		},
		Impact: rollout.Impact{StartedAt: at(0), FinishedAt: at(90)},
	}
	svg, _ := render(t, rec, timeline.Options{})
	w := svg.all("path", "series", "weight")
	require.Len(t, w, 1)
	assert.Equal(t, "2026-11-26T09:00:00Z=5 2026-11-26T10:00:00Z=25 2026-11-26T10:30:00Z=0", w[0].Attrs["data-levels"])
	assert.Contains(t, svg.all("g", "panel")[0].all("text", "panel-title")[0].Text, "flag exposure")
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, io.ErrClosedPipe }

func TestWriteErrorsAreReturned(t *testing.T) {
	assert.ErrorIs(t, timeline.SVG(failingWriter{}, rolledBack(), timeline.Options{}), io.ErrClosedPipe)
	assert.ErrorIs(t, timeline.HTML(failingWriter{}, rolledBack(), timeline.Options{}), io.ErrClosedPipe)
}

func TestHTMLIsSelfContained(t *testing.T) {
	rec := rolledBack()
	rec.Learning = []string{"<b>not bold</b>"}
	var buf bytes.Buffer
	require.NoError(t, timeline.HTML(&buf, rec, timeline.Options{}))
	page := buf.String()
	assert.True(t, strings.HasPrefix(page, "<!DOCTYPE html>"))
	assert.NotContains(t, page, "<script")
	assert.NotContains(t, page, "<link")
	assert.NotContains(t, page, " src=")
	assert.Equal(t, 1, strings.Count(page, "http://"), "the only URL is the SVG namespace")
	assert.NotContains(t, page, "https://")
	assert.Contains(t, page, "&lt;b&gt;not bold&lt;/b&gt;")

	start, end := strings.Index(page, "<svg"), strings.Index(page, "</svg>")
	require.True(t, start > 0 && end > start)
	svg := parse(t, strings.NewReader(page[start:end+len("</svg>")]))
	assert.Len(t, svg.all("g", "decision"), len(rec.Decisions))
	assert.Equal(t, len(rec.Decisions), strings.Count(page, `<li id="decision-`))
}

// TestLongTitlesFitThePicture: a title longer than the picture is wide (a
// generated namespace, a long image reference) is squeezed into it rather
// than cut off at the edge; a short one is drawn as it is.
func TestLongTitlesFitThePicture(t *testing.T) {
	heading := func(title string) *node {
		root, _ := render(t, rolledBack(), timeline.Options{Title: title, Width: 800})
		hs := root.all("text", "heading")
		require.Len(t, hs, 1)
		return hs[0]
	}
	long := heading(strings.Repeat("t-testguidescenarios-", 8) + "/payment-service to v2.0.2")
	require.Contains(t, long.Attrs, "textLength")
	fit, err := strconv.ParseFloat(long.Attrs["textLength"], 64)
	require.NoError(t, err)
	x, err := strconv.ParseFloat(long.Attrs["x"], 64)
	require.NoError(t, err)
	assert.LessOrEqual(t, x+fit, 800.0, "ends inside the picture")
	assert.Equal(t, "spacingAndGlyphs", long.Attrs["lengthAdjust"])

	short := heading("shop/checkout to v2")
	assert.NotContains(t, short.Attrs, "textLength")
	assert.Equal(t, "shop/checkout to v2", short.text())
}
