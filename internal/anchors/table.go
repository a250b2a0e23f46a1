package anchors

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// Row is one contender's runs of one scenario.
type Row struct {
	Tool, Settings, Scenario string
	Runs                     []Run
	// Errors are runs that did not finish (the harness' error).
	Errors []string
}

// Rows groups runs by tool, settings and scenario, in the order first seen.
func Rows(runs []Run) []*Row {
	var rows []*Row
	index := map[string]*Row{}
	for _, r := range runs {
		k := r.Tool + "\x00" + r.Settings + "\x00" + r.Scenario
		row, ok := index[k]
		if !ok {
			row = &Row{Tool: r.Tool, Settings: r.Settings, Scenario: r.Scenario}
			index[k] = row
			rows = append(rows, row)
		}
		row.Runs = append(row.Runs, r)
	}
	return rows
}

// Stat is a median with its range over the runs that have the figure.
type Stat struct {
	N                int
	Median, Min, Max float64
}

// stat summarises the figures of the runs where ok.
func stat(runs []Run, f func(Run) (float64, bool)) Stat {
	var xs []float64
	for _, r := range runs {
		if x, ok := f(r); ok {
			xs = append(xs, x)
		}
	}
	if len(xs) == 0 {
		return Stat{}
	}
	slices.Sort(xs)
	m := xs[len(xs)/2]
	if len(xs)%2 == 0 {
		m = (xs[len(xs)/2-1] + xs[len(xs)/2]) / 2
	}
	return Stat{N: len(xs), Median: m, Min: xs[0], Max: xs[len(xs)-1]}
}

// format prints the median, and the range when it is one.
func (s Stat) format(unit string, prec int) string {
	if s.N == 0 {
		return "–"
	}
	f := func(x float64) string { return fmt.Sprintf("%.*f", prec, x) }
	out := f(s.Median) + unit
	if s.Min != s.Max {
		out += " (" + f(s.Min) + "–" + f(s.Max) + ")"
	}
	return out
}

func seconds(a, b time.Time) (float64, bool) {
	if a.IsZero() || b.IsZero() {
		return 0, false
	}
	return b.Sub(a).Seconds(), true
}

// Figures of a run, each with whether the run has it.
var (
	startToEnd = func(r Run) (float64, bool) { return seconds(r.StartedAt, r.EndedAt) }
	toStable   = func(r Run) (float64, bool) { return seconds(r.RegressedAt, r.BackOnStableAt) }
	toNextChk  = func(r Run) (float64, bool) { return seconds(r.KilledAt, r.NextCheckAt) }
	maxCanary  = func(r Run) (float64, bool) { return MaxWeight(r.Weights), len(r.Weights) > 0 }
	advancing  = func(r Run) (float64, bool) { return r.AdvancingTickRequests, r.AdvancingTickRequests > 0 }
	idle       = func(r Run) (float64, bool) { return r.IdleTickRequests, r.IdleTickRequests > 0 }
	perRollout = func(r Run) (float64, bool) { return r.RequestsPerRollout, r.RequestsPerRollout > 0 }
	rssMiB     = func(r Run) (float64, bool) { return float64(r.RSSBytes) / (1 << 20), r.RSSBytes > 0 }
	cpu        = func(r Run) (float64, bool) { return r.CPUSeconds, r.RSSBytes > 0 }
	// noDataEnd is how long a canary without data ran until it ended
	// (rolled back or, for a Held run, the bound).
	noDataEnd = func(r Run) (float64, bool) { return seconds(FirstAbove(r.Weights), r.EndedAt) }
)

// outcomes counts the runs' outcomes: "promoted 3/3", "rolled back 2/3, held 1/3".
func outcomes(row *Row) string {
	n := len(row.Runs) + len(row.Errors)
	count := map[Outcome]int{}
	for _, r := range row.Runs {
		count[r.Outcome]++
	}
	var parts []string
	for _, o := range []Outcome{Promoted, RolledBack, Held} {
		if count[o] > 0 {
			parts = append(parts, fmt.Sprintf("%s %d/%d", o, count[o], n))
		}
	}
	if len(row.Errors) > 0 {
		parts = append(parts, fmt.Sprintf("error %d/%d", len(row.Errors), n))
	}
	return strings.Join(parts, ", ")
}

// WriteTable prints the comparison as markdown: a summary per contender
// (the figures, one scenario each), the full table per contender
// and scenario, the settings of every row, and how each figure is measured.
// Every figure is the median over the runs, with the range in parentheses
// when the runs differ.
func WriteTable(w io.Writer, rows []*Row, manifests map[string]string) {
	type key struct{ tool, settings string }
	var order []key
	by := map[key]map[string]*Row{}
	for _, row := range rows {
		k := key{row.Tool, row.Settings}
		if by[k] == nil {
			by[k] = map[string]*Row{}
			order = append(order, k)
		}
		by[k][row.Scenario] = row
	}
	get := func(k key, sc string) []Run {
		if r := by[k][sc]; r != nil {
			return r.Runs
		}
		return nil
	}
	outcome := func(k key, sc string) string {
		if r := by[k][sc]; r != nil {
			return outcomes(r)
		}
		return "–"
	}

	fmt.Fprintln(w, "| tool | settings | healthy: start → promoted | regress-20: regression → 0% canary | regress-50: regression → 0% canary | no data: outcome, time, max canary % | restart → next check | API requests per advancing tick / idle tick / rollout | peak RSS (10 rollouts) | CPU per rollout |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|")
	for _, k := range order {
		nd := get(k, "no-data")
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s, %s, %s | %s | %s / %s / %s | %s | %s |\n",
			k.tool, k.settings,
			stat(get(k, "healthy"), startToEnd).format(" s", 1),
			stat(get(k, "regress-20"), toStable).format(" s", 1),
			stat(get(k, "regress-50"), toStable).format(" s", 1),
			outcome(k, "no-data"), stat(nd, noDataEnd).format(" s", 0), stat(nd, maxCanary).format("%", 0),
			stat(get(k, "restart"), toNextChk).format(" s", 1),
			stat(get(k, "healthy"), advancing).format("", 1), stat(nd, idle).format("", 1), stat(get(k, "healthy"), perRollout).format("", 0),
			stat(get(k, "concurrent-10"), rssMiB).format(" MiB", 0),
			stat(get(k, "healthy"), cpu).format(" s", 2))
	}

	fmt.Fprintln(w)
	fmt.Fprintln(w, "| tool | settings | scenario | outcome | start → end | regression → 0% | max canary % | kill → next check | req/advancing tick | req/idle tick | req/rollout | peak RSS | CPU | notes |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
	for _, row := range rows {
		var notes []string
		for _, r := range row.Runs {
			for _, n := range r.Notes {
				if !slices.Contains(notes, n) {
					notes = append(notes, n)
				}
			}
		}
		notes = append(notes, row.Errors...)
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
			row.Tool, row.Settings, row.Scenario, outcomes(row),
			stat(row.Runs, startToEnd).format(" s", 1), stat(row.Runs, toStable).format(" s", 1),
			stat(row.Runs, maxCanary).format("", 0), stat(row.Runs, toNextChk).format(" s", 1),
			stat(row.Runs, advancing).format("", 1), stat(row.Runs, idle).format("", 1), stat(row.Runs, perRollout).format("", 0),
			stat(row.Runs, rssMiB).format(" MiB", 0), stat(row.Runs, cpu).format(" s", 2),
			strings.ReplaceAll(strings.Join(notes, "; "), "|", `\|`))
	}

	fmt.Fprintln(w)
	fmt.Fprintln(w, "Settings:")
	for _, k := range order {
		m := manifests[k.tool+"\x00"+k.settings]
		if m == "" {
			continue
		}
		fmt.Fprintf(w, "- **%s, %s**: %s\n", k.tool, k.settings, strings.ReplaceAll(m, "\n", " "))
	}
	fmt.Fprintln(w)
	fmt.Fprint(w, tableNotes)
}

// tableNotes say how each figure is measured, the same way for every tool.
const tableNotes = `How each figure is measured (the same way for every tool):
- start: the new version handed to the tool (Flagger, Argo Rollouts: the pod template's image changed; progressive: rollout.Runner.Start). end: the tool reports the end (Canary phase Succeeded/Failed, Rollout Healthy/Degraded, the driver's return).
- regression → 0% canary: from the moment the VirtualService showed the regression's weight (the App's canary answers 10% errors from then on) to the VirtualService showing 0% canary (watched; the App's split follows it).
- no data: the canary gets no requests at all; time from the canary's first traffic share to the end.
- restart → next check: the controller SIGKILLed 15 s after the canary first took traffic and started again at once; time to its first Prometheus query naming the run's namespace (a logging proxy in front of Prometheus).
- API requests: the kube-apiserver's audit log, by the tool's user agent, in the run's namespace. Advancing tick: the requests between the first and the last weight increase of the healthy run, per increase (one step: what a tool does to hold a step and move to the next, lease renewals and events included). Idle tick: per analysis interval (10 s) while the no-data canary held its weight. Per rollout: from start to end (progressive's Runner.Start, made in the harness, counted by its client).
- peak RSS: VmHWM of the controller's processes, sampled every 200 ms; one controller for Flagger and Argo Rollouts, the sum over the 10 drivers for progressive. CPU: user + system time of the controller's processes during the healthy run.
`
