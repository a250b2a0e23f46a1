package decisionbench

import (
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"
	"time"
)

// table is a titled grid the writers print as aligned text or Markdown.
type table struct {
	title  string
	note   string
	header []string
	rows   [][]string
	// footer lines follow the grid.
	footer []string
}

func (t table) text(w io.Writer) error {
	fmt.Fprintf(w, "\n== %s ==\n", t.title)
	if t.note != "" {
		fmt.Fprintln(w, t.note)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, strings.Join(t.header, "\t")+"\t")
	for _, r := range t.rows {
		fmt.Fprintln(tw, strings.Join(r, "\t")+"\t")
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, f := range t.footer {
		if _, err := fmt.Fprintf(w, "  - %s\n", f); err != nil {
			return err
		}
	}
	return nil
}

func (t table) markdown(w io.Writer) error {
	fmt.Fprintf(w, "\n#### %s\n\n", t.title)
	if t.note != "" {
		fmt.Fprintf(w, "%s\n\n", t.note)
	}
	fmt.Fprintf(w, "| %s |\n", strings.Join(t.header, " | "))
	seps := make([]string, len(t.header))
	for i := range seps {
		seps[i] = "---:"
		if i == 0 {
			seps[i] = "---"
		}
	}
	fmt.Fprintf(w, "|%s|\n", strings.Join(seps, "|"))
	for _, r := range t.rows {
		_, err := fmt.Fprintf(w, "| %s |\n", strings.Join(r, " | "))
		if err != nil {
			return err
		}
	}
	if len(t.footer) > 0 {
		fmt.Fprintln(w)
	}
	for _, f := range t.footer {
		if _, err := fmt.Fprintf(w, "- %s\n", f); err != nil {
			return err
		}
	}
	return nil
}

// conditions are the result's (error rate, request rate) pairs in table order.
func (r Result) conditions() []Regime {
	var out []Regime
	for _, e := range r.Config.ErrorRates {
		for _, rate := range r.Config.Rates {
			out = append(out, Regime{e, rate})
		}
	}
	return out
}

func (r Result) conditionHeader(first string) []string {
	h := []string{first}
	for _, c := range r.conditions() {
		h = append(h, fmt.Sprintf("%s·%s", pct(c.ErrorRate), fmtRate(c.Rate)))
	}
	return h
}

func (r Result) ruleNames() []string {
	var out []string
	for _, rule := range r.Config.Rules {
		out = append(out, rule.Name())
	}
	return out
}

// pooled sums the cells of rule under cond whose scenario passes keep.
func (r Result) pooled(rule string, cond Regime, keep func(Cell) bool) (runs, promoted, held, rolledBack int, asked bool) {
	asked = true
	for _, c := range r.Cells {
		if c.Rule != rule || c.ErrorRate != cond.ErrorRate || c.Rate != cond.Rate || !keep(c) {
			continue
		}
		runs += c.Runs
		promoted += c.Promoted
		held += c.Held
		rolledBack += c.RolledBack
		asked = asked && (c.Asked || !c.Scenario.Bad)
	}
	return runs, promoted, held, rolledBack, asked
}

// SummaryTables are the headline figures, one column per error rate and
// request rate, one row per rule.
func (r Result) summaryTables() []table {
	header := r.conditionHeader("rule")
	byRule := func(title, note string, cell func(rule string, cond Regime) string) table {
		t := table{title: title, note: note, header: header}
		for _, rule := range r.ruleNames() {
			row := []string{rule}
			for _, cond := range r.conditions() {
				row = append(row, cell(rule, cond))
			}
			t.rows = append(t.rows, row)
		}
		return t
	}
	share := func(keep func(Cell) bool, what func(runs, promoted, held, rolledBack int) int) func(string, Regime) string {
		return func(rule string, cond Regime) string {
			runs, p, h, rb, asked := r.pooled(rule, cond, keep)
			if runs == 0 {
				return "-"
			}
			s := pct(ratio(what(runs, p, h, rb), runs))
			if !asked {
				s = "(" + s + ")"
			}
			return s
		}
	}
	healthy := func(c Cell) bool { return c.Scenario.Name == "healthy" }
	absolute := func(c Cell) bool { return c.Kind == Absolute }
	relative := func(c Cell) bool { return c.Kind == RelativeOnly }
	promoted := func(_, p, _, _ int) int { return p }
	return []table{
		byRule("False rollbacks: healthy canaries rolled back", "Columns: healthy error rate · total request rate (req/s).",
			share(healthy, func(_, _, _, rb int) int { return rb })),
		byRule("Held: runs neither promoted nor rolled back by the end (paused for a person, or undecided after 2h), all scenarios", "",
			func(rule string, cond Regime) string {
				runs, _, h, _, _ := r.pooled(rule, cond, func(Cell) bool { return true })
				return pct(ratio(h, runs))
			}),
		byRule("Missed regressions that cross the absolute thresholds (errors x5, x10 where they cross, no canary traffic): promoted", "",
			share(absolute, promoted)),
		byRule("Missed relative-only regressions (worse than stable, under the thresholds): promoted",
			"In parentheses: rules with only absolute thresholds, which were not asked to stop these canaries; not counted as misses.",
			share(relative, promoted)),
		byRule("Backend outage from minute 5 to 10 (a good canary): rolled back / held", "",
			func(rule string, cond Regime) string {
				c, ok := r.Cell(cond.ErrorRate, "backend outage 5m", cond.Rate, rule)
				if !ok {
					return "-"
				}
				return pct(c.RollbackRate()) + " / " + pct(c.HeldRate())
			}),
		byRule("Noisy spike in minute 7, shared with stable (a good canary): rolled back", "",
			share(func(c Cell) bool { return c.Scenario.Name == "noisy spike" }, func(_, _, _, rb int) int { return rb })),
		byRule("Time to detect errors x5: median from the canary's first traffic to the rollback", "'-': fewer than half the runs rolled back.",
			func(rule string, cond Regime) string {
				c, ok := r.Cell(cond.ErrorRate, "errors x5", cond.Rate, rule)
				if !ok {
					return "-"
				}
				return fmtQ(c.TTD(0.5))
			}),
		byRule("Time to promote a healthy canary: median over promoted runs", "",
			func(rule string, cond Regime) string {
				c, ok := r.Cell(cond.ErrorRate, "healthy", cond.Rate, rule)
				if !ok {
					return "-"
				}
				return fmtQ(c.PromoteQuantile(0.5))
			}),
	}
}

// goalTables are the goals of the given rules, one row per goal, one column per
// condition.
func (r Result) goalTables(rules []string) []table {
	var out []table
	for _, rule := range rules {
		t := table{title: fmt.Sprintf("Goals of %q", rule), header: r.conditionHeader("goal"),
			note: "'met*' marks the condition the goals were stated for; every seed must meet a goal too. Below: that condition and every miss."}
		goals := r.Goals(rule)
		for _, name := range []string{GoalDetect, GoalFalse, GoalNoPromote} {
			row := []string{name}
			for _, cond := range r.conditions() {
				mark := "-"
				for _, g := range goals {
					if g.Name != name || g.Regime != cond {
						continue
					}
					switch {
					case !g.Measured:
						mark = "-"
					case g.Met:
						mark = "met"
					default:
						mark = "NOT MET"
					}
					if g.Target && g.Measured {
						mark += "*"
					}
					if g.Measured && (!g.Met || g.Target) {
						t.footer = append(t.footer, fmt.Sprintf("%s, %s: %s: %s", cond, mark, name, g.Detail))
					}
				}
				row = append(row, mark)
			}
			t.rows = append(t.rows, row)
		}
		out = append(out, t)
	}
	return out
}

// detailTables are the per-scenario tables, one per condition.
func (r Result) detailTables() []table {
	var out []table
	for _, cond := range r.conditions() {
		plan := r.Config.Plan.For(cond.ErrorRate)
		t := table{
			title: fmt.Sprintf("%s healthy errors, %s req/s (canary %s); thresholds error rate > %g%%, p95 > %g ms",
				pct(cond.ErrorRate), fmtRate(cond.Rate), describeShares(plan, cond.Rate), plan.MaxErrorRate, plan.MaxLatencyP95),
			header: []string{"scenario", "kind", "rule", "rolled back", "promoted", "held", "TTD p50", "TTD p90", "time p50"},
		}
		prev := ""
		for _, c := range r.Cells {
			if c.ErrorRate != cond.ErrorRate || c.Rate != cond.Rate {
				continue
			}
			name, kind := c.Scenario.Name, string(c.Kind)
			if name == prev {
				name, kind = "", ""
			}
			prev = c.Scenario.Name
			promoted := pct(c.PromoteRate())
			if c.Scenario.Bad && !c.Asked {
				promoted = "(" + promoted + ")"
			}
			t.rows = append(t.rows, []string{name, kind, c.Rule, pct(c.RollbackRate()), promoted, pct(c.HeldRate()),
				fmtQ(c.TTD(0.5)), fmtQ(c.TTD(0.9)), fmtQ(c.PromoteQuantile(0.5))})
		}
		out = append(out, t)
	}
	return out
}

// Report selects what the writers print.
type Report struct {
	// Details adds the per-scenario tables of every condition.
	Details bool
	// GoalRules are the rules whose goals are printed.
	GoalRules []string
}

func (r Result) header() string {
	cfg := r.Config
	var b strings.Builder
	seeds := make([]string, len(cfg.Seeds))
	for i, s := range cfg.Seeds {
		seeds[i] = fmt.Sprint(s)
	}
	rates := make([]string, len(cfg.ErrorRates))
	for i, e := range cfg.ErrorRates {
		rates[i] = fmt.Sprintf("%s (threshold %g%%)", pct(e), cfg.Plan.For(e).MaxErrorRate)
	}
	fmt.Fprintf(&b, "Decision benchmark: %s.\n", describePlan(cfg.Plan, cfg.Traffic))
	fmt.Fprintf(&b, "Healthy error rates %s; request rates %s req/s; seeds %s; %d runs per healthy cell, %d per other cell (over all seeds); took %s.\n",
		strings.Join(rates, ", "), joinRates(cfg.Rates), strings.Join(seeds, ", "), cfg.HealthyRuns, cfg.Runs, r.Elapsed.Round(time.Second))
	fmt.Fprintln(&b, "Rules (every threshold rule has the same thresholds):")
	plan := cfg.Plan.For(DefaultTraffic().ErrorRate)
	for _, rule := range cfg.Rules {
		fmt.Fprintf(&b, "  - %s: %s\n", rule.Name(), rule.Settings(plan))
	}
	fmt.Fprint(&b, "Flagger advances one step per passing 1m analysis and promotes after one at the last weight; Argo and the engine hold each weight for the phase.\n")
	fmt.Fprint(&b, "Kinds: good canary (rolled back = false rollback); absolute (crosses the thresholds, or no canary traffic: every rule is asked);\n")
	fmt.Fprint(&b, "relative only (worse than stable, under the thresholds: only rules that compare with stable are asked; parentheses mark the others).\n")
	return b.String()
}

func (r Result) tables(rep Report) []table {
	ts := r.summaryTables()
	ts = append(ts, r.goalTables(rep.GoalRules)...)
	if rep.Details {
		ts = append(ts, r.detailTables()...)
	}
	return ts
}

// WriteText writes the comparison as aligned text.
func (r Result) WriteText(w io.Writer, rep Report) error {
	if _, err := io.WriteString(w, r.header()); err != nil {
		return err
	}
	for _, t := range r.tables(rep) {
		if err := t.text(w); err != nil {
			return err
		}
	}
	return nil
}

// WriteMarkdown writes the comparison as Markdown tables.
func (r Result) WriteMarkdown(w io.Writer, rep Report) error {
	for _, line := range strings.Split(strings.TrimSuffix(r.header(), "\n"), "\n") {
		if _, err := fmt.Fprintln(w, line+"  "); err != nil {
			return err
		}
	}
	for _, t := range r.tables(rep) {
		if err := t.markdown(w); err != nil {
			return err
		}
	}
	return nil
}

func describePlan(p Plan, t Traffic) string {
	ws := make([]string, len(p.Weights))
	for i, w := range p.Weights {
		ws[i] = fmt.Sprintf("%g%%", w)
	}
	return fmt.Sprintf("canary %s -> 100%%, %s per phase; p95 %g ms, diurnal swing ±%g%%; thresholds error rate > %gx the healthy rate, p95 > %g ms",
		strings.Join(ws, " -> "), short(p.Phase), t.LatencyP95Ms, 100*t.Diurnal, p.ErrorThresholdFactor, p.MaxLatencyP95)
}

func describeShares(p Plan, rate float64) string {
	parts := make([]string, len(p.Weights))
	for i, w := range p.Weights {
		parts[i] = fmt.Sprintf("%s req/min at %g%%", fmtRate(rate*w/100*60), w)
	}
	return strings.Join(parts, ", ")
}

func pct(v float64) string {
	switch {
	case math.IsNaN(v):
		return "-"
	case v == 0:
		return "0%"
	case v < 0.001:
		return fmt.Sprintf("%.2f%%", 100*v)
	case v < 0.1:
		return fmt.Sprintf("%.1f%%", 100*v)
	}
	return fmt.Sprintf("%.0f%%", 100*v)
}

func fmtQ(d time.Duration, ok bool) string { return fmtDur(d, ok) }

func fmtDur(d time.Duration, ok bool) string {
	if !ok {
		return "-"
	}
	if d%time.Minute == 0 {
		return fmt.Sprintf("%dm", int(d/time.Minute))
	}
	if d < time.Minute {
		return fmt.Sprintf("%ds", int(d/time.Second))
	}
	return fmt.Sprintf("%.1fm", d.Minutes())
}

func fmtRate(r float64) string {
	if r == math.Trunc(r) && r >= 1000 {
		s := fmt.Sprintf("%d", int64(r))
		var b strings.Builder
		for i, ch := range s {
			if i > 0 && (len(s)-i)%3 == 0 {
				b.WriteByte(',')
			}
			b.WriteRune(ch)
		}
		return b.String()
	}
	return fmt.Sprintf("%g", r)
}

func joinRates(rs []float64) string {
	s := make([]string, len(rs))
	for i, r := range rs {
		s[i] = fmtRate(r)
	}
	return strings.Join(s, ", ")
}
