package document

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"time"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/analysis"
	"github.com/agentops/progressive/strategy"
)

// FromPlan writes a plan that a strategy built as the document that builds it
// again: the strategy's parameters are read back from the plan's steps, and
// the result is checked by building the plan from it and comparing the two. A
// plan that no document describes (one built by hand, or a strategy's plan
// edited afterwards) is refused with an error wrapping progressive.ErrInvalid.
//
// Webhook URLs are written as they are in the plan. Review the document before
// it goes into Git, and move secret URLs to urlFrom.
func FromPlan(p progressive.Plan) (*Rollout, error) {
	r := &Rollout{
		APIVersion: APIVersion,
		Kind:       KindRollout,
		Metadata:   Metadata{Name: p.Name},
		Spec: Spec{
			Target:         Target{Namespace: p.Target.Namespace, Name: p.Target.Name},
			Release:        Release{Version: p.Release.Version, Image: p.Release.Image, Container: p.Release.Container},
			Providers:      Providers{Router: p.Providers.Router, Metrics: p.Providers.Metrics, Flags: p.Providers.Flags, Workload: p.Providers.Workload},
			OnInconclusive: string(p.OnInconclusive),
			Hooks:          hooksOf(p.Hooks),
		},
	}
	if p.Traffic != nil {
		r.Spec.Traffic = &Traffic{RequestsPerSecond: p.Traffic.RequestsPerSecond}
	}
	checks, err := checksOf(p.Checks)
	if err != nil {
		return nil, err
	}
	r.Spec.Checks = checks
	steps := stepReader{steps: p.Steps}
	switch p.Strategy {
	case progressive.StrategyCanary:
		r.Spec.Strategy.Canary = steps.canary()
	case progressive.StrategyBlueGreen:
		r.Spec.Strategy.BlueGreen = steps.blueGreen()
	case progressive.StrategyRolling:
		r.Spec.Strategy.Rolling = steps.rolling()
	case progressive.StrategyABTest:
		r.Spec.Strategy.ABTest = steps.abTest()
	case progressive.StrategyMirror:
		r.Spec.Strategy.Mirror = steps.mirror()
	case progressive.StrategyFlagRollout:
		r.Spec.Strategy.Flag = steps.flag()
	case "":
		return nil, fmt.Errorf("document: plan %q was built by hand (it names no strategy), and a document describes a strategy's plan: %w", p.Name, progressive.ErrInvalid)
	default:
		return nil, fmt.Errorf("document: plan %q: unknown strategy %q: %w", p.Name, p.Strategy, progressive.ErrInvalid)
	}
	again, err := r.plan(context.Background(), options{resolver: ResolverFunc(func(context.Context, ValueFrom) (string, error) {
		return "", errors.New("a document made from a plan has no references")
	})})
	if err != nil {
		return nil, fmt.Errorf("document: plan %q does not have the shape of a %s plan: %w", p.Name, p.Strategy, err)
	}
	if !samePlan(again, p) {
		return nil, fmt.Errorf("document: plan %q differs from the %s plan its parameters build (were its steps edited?): %w", p.Name, p.Strategy, progressive.ErrInvalid)
	}
	return r, nil
}

// samePlan compares plans, an empty list equal to none.
func samePlan(a, b progressive.Plan) bool {
	norm := func(p progressive.Plan) progressive.Plan {
		if len(p.Checks) == 0 {
			p.Checks = nil
		}
		if len(p.Hooks) == 0 {
			p.Hooks = nil
		}
		return p
	}
	return reflect.DeepEqual(norm(a), norm(b))
}

func hooksOf(hs []progressive.HookSpec) []Hook {
	if len(hs) == 0 {
		return nil
	}
	out := make([]Hook, len(hs))
	for i, h := range hs {
		out[i] = hookOf(h)
	}
	return out
}

func hookOf(h progressive.HookSpec) Hook {
	return Hook{Name: h.Name, Phase: string(h.Phase), URL: h.URL, Timeout: D(h.Timeout), Retries: h.Retries, Metadata: h.Metadata}
}

func checksOf(cs []progressive.Check) ([]Check, error) {
	if len(cs) == 0 {
		return nil, nil
	}
	out := make([]Check, len(cs))
	for i, c := range cs {
		dc := Check{
			Name: c.Name, Query: c.Query, Metrics: c.Metrics, Min: cloneFloat(c.Min), Max: cloneFloat(c.Max),
			Interval: D(c.Interval), InitialDelay: D(c.InitialDelay), Window: D(c.Window), WarmUp: D(c.WarmUp),
			FailureLimit: c.FailureLimit, ConsecutiveFailureLimit: c.ConsecutiveFailureLimit, InconclusiveLimit: c.InconclusiveLimit,
			Severity: string(c.Severity), NoData: string(c.NoData),
		}
		if c.Baseline != nil {
			dc.Baseline = string(c.Baseline.Mode)
		}
		if c.Samples != nil {
			dc.Samples = &Samples{Query: c.Samples.Query, Min: c.Samples.Min}
		}
		if c.Judge != nil {
			j, err := judgeOf(*c.Judge)
			if err != nil {
				return nil, fmt.Errorf("document: check %q: %w", c.Name, err)
			}
			dc.Judge = j
		}
		out[i] = dc
	}
	return out, nil
}

// judgeOf types a judge's parameters; a parameter the judge does not know has
// no field to go to and is refused rather than dropped.
func judgeOf(j progressive.JudgeSpec) (*Judge, error) {
	p := maps(j.Params)
	var out Judge
	switch j.Kind {
	case analysis.KindMannWhitney:
		m := &MannWhitney{
			Confidence: p.take(analysis.MWConfidence), AllowedIncrease: p.take(analysis.MWAllowedIncrease),
			AllowedDecrease: p.take(analysis.MWAllowedDecrease), IQRFactor: p.take(analysis.MWIQRFactor),
			TrimLower: p.take(analysis.MWTrimLower), TrimUpper: p.take(analysis.MWTrimUpper),
			Window: p.seconds(analysis.MWWindow), Step: p.seconds(analysis.MWStep),
			Direction: p.enum(analysis.MWDirection, directions), NonFinite: p.enum(analysis.MWNonFinite, nonFinite),
			Outliers: p.enum(analysis.MWOutliers, outliers), JudgeScore: p.score(),
		}
		if v := p.take(analysis.MWMinSamples); v != nil {
			m.MinSamples = int(*v)
			if float64(m.MinSamples) != *v {
				p.bad = append(p.bad, analysis.MWMinSamples)
			}
		}
		out.MannWhitney = m
	case analysis.KindSPRT:
		s := &SPRT{
			Alpha: p.take(analysis.SPRTAlpha), MinRatio: p.take(analysis.SPRTMinRatio), FastRatio: p.take(analysis.SPRTFastRatio),
			Beta: p.take(analysis.SPRTBeta), Scale: p.take(analysis.SPRTScale), Ratio: p.take(analysis.SPRTRatio),
			Step: p.seconds(analysis.SPRTStep), Lookback: p.seconds(analysis.SPRTLookback), JudgeScore: p.score(),
		}
		s.Accept = p.flag(analysis.SPRTAccept)
		out.SPRT = s
	default:
		out.Custom = &CustomJudge{Kind: j.Kind, Params: j.Params}
		return &out, nil
	}
	if len(p.m) > 0 || len(p.bad) > 0 {
		names := slices.Sorted(func(yield func(string) bool) {
			for k := range p.m {
				if !yield(k) {
					return
				}
			}
		})
		return nil, fmt.Errorf("judge %s: parameters %v are not ones it knows, or hold values a document cannot write: %w", j.Kind, append(names, p.bad...), progressive.ErrInvalid)
	}
	return &out, nil
}

// params hands out a judge's parameters one by one; what is left was unknown.
type params struct {
	m   map[string]float64
	bad []string
}

func maps(m map[string]float64) *params {
	c := make(map[string]float64, len(m))
	for k, v := range m {
		c[k] = v
	}
	return &params{m: c}
}

func (p *params) take(k string) *float64 {
	v, ok := p.m[k]
	if !ok {
		return nil
	}
	delete(p.m, k)
	return &v
}

func (p *params) seconds(k string) Duration {
	v := p.take(k)
	if v == nil {
		return 0
	}
	d := Duration(time.Duration(*v * float64(time.Second)))
	if d.Std().Seconds() != *v || d == 0 {
		p.bad = append(p.bad, k) // not a whole number of nanoseconds, or an explicit 0
	}
	return d
}

func (p *params) flag(k string) bool {
	v := p.take(k)
	if v == nil {
		return false
	}
	if *v != 1 {
		p.bad = append(p.bad, k) // 0 is the default: written as absent
	}
	return true
}

func (p *params) enum(k string, vals []enumValue) string {
	v := p.take(k)
	if v == nil {
		return ""
	}
	for _, e := range vals {
		if e.v == *v {
			return e.name
		}
	}
	p.bad = append(p.bad, k)
	return ""
}

func (p *params) score() JudgeScore {
	return JudgeScore{Weight: p.take(analysis.ParamWeight), Critical: p.flag(analysis.ParamCritical)}
}

// stepReader reads a strategy's parameters back from its plan's steps. What it
// cannot find stays zero (the default); FromPlan's final comparison catches a
// plan of another shape.
type stepReader struct{ steps []progressive.Step }

func (s stepReader) each(f func(i int, st progressive.Step)) {
	for i, st := range s.steps {
		f(i, st)
	}
}

func (s stepReader) canary() *Canary {
	c := &Canary{}
	var phases []float64
	s.each(func(_ int, st progressive.Step) {
		switch {
		case st.Deploy != nil:
			c.Replicas = st.Deploy.Replicas
		case st.SetWeight != nil:
			phases = append(phases, st.SetWeight.Weight)
		case st.Analyze != nil && c.Soak == 0:
			c.Soak = D(st.Analyze.Duration)
		case st.Approval != nil:
			c.PromotionApproval, c.ApprovalTimeout = st.Approval.Gate, D(st.Approval.Timeout)
		}
	})
	if n := len(phases); n > 0 && phases[n-1] == 100 {
		c.FullSoak = true
	} else {
		phases = append(phases, 100)
	}
	c.Weights = phases
	return c
}

func (s stepReader) blueGreen() *BlueGreen {
	b := &BlueGreen{}
	s.each(func(i int, st progressive.Step) {
		switch {
		case st.Hook != nil && i == 0:
			h := hookOf(st.Hook.Hook)
			b.Migration = &h
		case st.Hook != nil:
			b.Validation = append(b.Validation, hookOf(st.Hook.Hook))
		case st.Deploy != nil:
			b.Replicas = st.Deploy.Replicas
		case st.Approval != nil:
			b.ManualApproval, b.ApprovalTimeout = st.Approval.Gate, D(st.Approval.Timeout)
		case st.Analyze != nil:
			b.Monitor = D(st.Analyze.Duration)
		case st.Pause != nil:
			b.DecommissionDelay = D(st.Pause.Duration)
		}
	})
	return b
}

func (s stepReader) rolling() *Rolling {
	r := &Rolling{}
	s.each(func(_ int, st progressive.Step) {
		switch {
		case st.Roll != nil:
			if r.BatchSize == 0 {
				r.BatchSize = st.Roll.Updated
				r.MaxSurge = podsOrNone(st.Roll.Params.MaxSurge)
				r.MaxUnavailable = podsOrNone(st.Roll.Params.MaxUnavailable)
				r.ReadinessBudget = st.Roll.ReadinessBudget
				if r.ReadinessBudget == 0 {
					r.ReadinessBudget = -1 // none tolerated; 0 would select the default
				}
				if st.Roll.ReadyTimeout != strategy.DefaultRollReadyTimeout {
					r.ReadyTimeout = D(st.Roll.ReadyTimeout)
				}
			}
			r.Replicas = st.Roll.Updated
		case st.Analyze != nil && r.Pace == 0:
			r.Pace = D(st.Analyze.Duration)
		case st.Pause != nil && r.Pace == 0:
			r.Pace = D(st.Pause.Duration)
		}
	})
	return r
}

// podsOrNone writes a resolved pod count: 0 pods is "none" (-1), since 0
// selects the default.
func podsOrNone(n int) int {
	if n == 0 {
		return -1
	}
	return n
}

func (s stepReader) abTest() *ABTest {
	a := &ABTest{}
	s.each(func(_ int, st progressive.Step) {
		switch {
		case st.Deploy != nil:
			a.Replicas = st.Deploy.Replicas
		case st.SetRoutes != nil:
			for _, m := range st.SetRoutes.Routes.Matches {
				a.Matches = append(a.Matches, Match{Kind: string(m.Kind), Name: m.Name, Value: m.Value, Regex: m.Regex})
			}
		case st.Analyze != nil:
			a.Duration = D(st.Analyze.Duration)
		}
	})
	return a
}

func (s stepReader) mirror() *Mirror {
	m := &Mirror{}
	s.each(func(_ int, st progressive.Step) {
		switch {
		case st.Deploy != nil:
			m.Replicas = st.Deploy.Replicas
		case st.SetRoutes != nil:
			m.Percent = st.SetRoutes.Routes.MirrorPercent
		case st.Analyze != nil:
			m.Duration = D(st.Analyze.Duration)
		}
	})
	return m
}

func (s stepReader) flag() *Flag {
	f := &Flag{}
	last := 0.0
	s.each(func(_ int, st progressive.Step) {
		switch {
		case st.SetFlag != nil && (len(st.SetFlag.Targets) > 0 || len(st.SetFlag.Segments) > 0):
			// The targeted users' stage, at 0% of everyone else.
			f.Targets, f.Segments = slices.Clone(st.SetFlag.Targets), slices.Clone(st.SetFlag.Segments)
		case st.SetFlag != nil:
			sf := st.SetFlag
			f.Flag = FlagRef{Project: sf.Flag.Project, Environment: sf.Flag.Environment, Key: sf.Flag.Key}
			f.Variation, f.Fallback = sf.Variation, sf.Fallback
			f.Percentages = append(f.Percentages, sf.Percent)
			last = sf.Percent
		case st.Pause != nil:
			f.TargetSoak = D(st.Pause.Duration)
		case st.Approval != nil:
			f.TargetGate = st.Approval.Gate
		case st.Analyze != nil:
			if f.Soak == 0 {
				f.Soak = D(st.Analyze.Duration)
			}
			if last == 100 {
				f.FullSoak = true
			}
		}
	})
	return f
}
