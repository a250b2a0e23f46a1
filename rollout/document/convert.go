package document

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/analysis"
	"github.com/agentops/progressive/strategy"
)

// Resolver reads the value a ValueFrom names: a webhook URL kept out of Git.
// Errors it returns must not quote the value.
type Resolver interface {
	Resolve(ctx context.Context, ref ValueFrom) (string, error)
}

// ResolverFunc adapts a function to Resolver.
type ResolverFunc func(ctx context.Context, ref ValueFrom) (string, error)

// Resolve implements Resolver.
func (f ResolverFunc) Resolve(ctx context.Context, ref ValueFrom) (string, error) { return f(ctx, ref) }

// EnvFileResolver reads env references from the process environment and file
// references from the file system (a mounted Kubernetes Secret), trailing
// newlines removed. Relative paths are relative to Dir, or to the working
// directory when Dir is empty.
type EnvFileResolver struct {
	Dir string
}

// maxSecretFile bounds a file reference: a URL is short, and reading /dev/zero
// by mistake must end.
const maxSecretFile = 64 << 10

// Resolve implements Resolver.
func (e EnvFileResolver) Resolve(ctx context.Context, ref ValueFrom) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	switch {
	case ref.Env != "":
		v, ok := os.LookupEnv(ref.Env)
		if !ok {
			return "", fmt.Errorf("environment variable %s is not set", ref.Env)
		}
		return v, nil
	case ref.File != "":
		path := ref.File
		if e.Dir != "" && !strings.HasPrefix(path, "/") {
			path = e.Dir + "/" + path
		}
		f, err := os.Open(path)
		if err != nil {
			return "", fmt.Errorf("file %s cannot be read: %w", ref.File, errors.Unwrap(err))
		}
		defer f.Close()
		b, err := io.ReadAll(io.LimitReader(f, maxSecretFile+1))
		switch {
		case err != nil:
			return "", fmt.Errorf("file %s cannot be read: %w", ref.File, errors.Unwrap(err))
		case len(b) > maxSecretFile:
			return "", fmt.Errorf("file %s is larger than %d bytes", ref.File, maxSecretFile)
		}
		return strings.TrimRight(string(b), "\r\n"), nil
	}
	return "", errors.New("names neither env nor file")
}

// Option changes how Plan and Strategy build.
type Option func(*options)

type options struct {
	resolver Resolver
	// placeholders stand in for urlFrom references instead of resolving them
	// (Validate: a document is checked in CI, where the secrets are not).
	placeholders bool
}

// WithResolver reads urlFrom references with res instead of EnvFileResolver{}.
func WithResolver(res Resolver) Option { return func(o *options) { o.resolver = res } }

var errNilRollout = fmt.Errorf("document: nil rollout: %w", progressive.ErrInvalid)

// placeholderURL stands in for a urlFrom reference that Validate does not read.
const placeholderURL = "https://secret.invalid/"

// Validate reports every problem of the document that Plan would report,
// without reading its urlFrom references: documents are checked where the
// secrets are not. The error is an *Error wrapping progressive.ErrInvalid.
func (r *Rollout) Validate() error {
	if r == nil {
		return errNilRollout
	}
	_, err := r.plan(context.Background(), options{placeholders: true})
	return err
}

// Strategy returns the document's strategy with its checks and hooks, urlFrom
// references resolved: the value package strategy would have built by hand.
// ctx bounds the resolution.
func (r *Rollout) Strategy(ctx context.Context, opts ...Option) (progressive.Strategy, error) {
	if r == nil {
		return nil, errNilRollout
	}
	c := r.converter(ctx, newOptions(opts))
	s := c.strategy()
	if err := c.ps.err(); err != nil {
		return nil, err
	}
	return s, nil
}

// Plan builds the plan the document describes and validates it: the strategy's
// plan for the target and release, named by metadata.name when set, with the
// document's providers and traffic estimate. Every problem, the strategy's and
// the plan's included, comes back in one *Error under the document's field
// paths, at the line and column of the offending value (or of its nearest
// enclosing one when the value is missing). ctx bounds the resolution of
// urlFrom references.
func (r *Rollout) Plan(ctx context.Context, opts ...Option) (progressive.Plan, error) {
	if r == nil {
		return progressive.Plan{}, errNilRollout
	}
	return r.plan(ctx, newOptions(opts))
}

func newOptions(opts []Option) options {
	o := options{resolver: EnvFileResolver{}}
	for _, f := range opts {
		f(&o)
	}
	return o
}

func (r *Rollout) plan(ctx context.Context, o options) (progressive.Plan, error) {
	c := r.converter(ctx, o)
	s := c.strategy()
	if r.APIVersion != APIVersion {
		c.add("apiVersion", emptyNil(r.APIVersion), "must be %s", APIVersion)
	}
	if r.Kind != KindRollout {
		c.add("kind", emptyNil(r.Kind), "must be %s", KindRollout)
	}
	if c.ps.err() != nil || s == nil {
		return progressive.Plan{}, c.sorted()
	}
	target := progressive.Target{Namespace: r.Spec.Target.Namespace, Name: r.Spec.Target.Name}
	release := progressive.Release{Version: r.Spec.Release.Version, Image: r.Spec.Release.Image, Container: r.Spec.Release.Container}
	p, err := s.Plan(target, release)
	if err != nil {
		c.remap(err, strategyPaths)
		return progressive.Plan{}, c.sorted()
	}
	if r.Metadata.Name != "" {
		p.Name = r.Metadata.Name
	}
	pv := r.Spec.Providers
	p.Providers = progressive.ProviderNames{Router: pv.Router, Metrics: pv.Metrics, Flags: pv.Flags, Workload: pv.Workload}
	if r.Spec.Traffic != nil {
		p.Traffic = &progressive.TrafficEstimate{RequestsPerSecond: r.Spec.Traffic.RequestsPerSecond}
	}
	if err := p.Validate(); err != nil {
		c.remap(err, planPaths)
		return progressive.Plan{}, c.sorted()
	}
	// What the runner would refuse only at Validate, a document can be told
	// now: a query template that does not render, a judge parameter out of range.
	if err := analysis.ValidateTemplates(p.Checks); err != nil {
		c.remap(err, planPaths)
	}
	c.judgeParams(p.Checks)
	if err := c.sorted(); err != nil {
		return progressive.Plan{}, err
	}
	return p, nil
}

// builtinJudges are the judges of package analysis, by kind, with the name of
// their member of Judge.
var builtinJudges = map[string]struct {
	field string
	v     analysis.ParamValidator
}{
	analysis.KindMannWhitney: {"mannWhitney", analysis.MannWhitneyJudge{}},
	analysis.KindSPRT:        {"sprt", analysis.SPRTJudge{}},
}

// judgeParams checks the parameters of the built-in judges, reported under the
// typed field that set them (their names are the parameters'). A custom
// judge's parameters are its own to check, at the runner.
func (c *converter) judgeParams(checks []progressive.Check) {
	for i, chk := range checks {
		if chk.Judge == nil {
			continue
		}
		j, ok := builtinJudges[chk.Judge.Kind]
		if !ok {
			continue
		}
		var ve *progressive.ValidationError
		if !errors.As(j.v.ValidateParams(chk.Judge.Params), &ve) {
			continue
		}
		for _, fe := range ve.Problems {
			if _, set := chk.Judge.Params[fe.Field]; !set {
				continue // the runner's configuration of the judge (SPRT's requests query), not the document's
			}
			c.add(fmt.Sprintf("spec.checks[%d].judge.%s.%s", i, j.field, fe.Field), fe.Value, "%s", fe.Reason)
		}
	}
}

// converter turns the document's parts into the SDK's values, collecting
// problems under the document's paths.
type converter struct {
	ctx context.Context
	r   *Rollout
	o   options
	ps  problems
}

func (r *Rollout) converter(ctx context.Context, o options) *converter {
	return &converter{ctx: ctx, r: r, o: o}
}

// add records a problem at path, positioned at path or its nearest ancestor
// that was in the text.
func (c *converter) add(path string, value any, reason string, args ...any) {
	c.ps.add(c.r.position(path), path, value, reason, args...)
}

// position returns where path, or its nearest ancestor, stands in the text.
func (r *Rollout) position(path string) Position {
	for p := path; p != ""; p = parent(p) {
		if pos, ok := r.pos[p]; ok {
			return pos
		}
	}
	return Position{}
}

// parent drops the last element of a path: a.b[2].c -> a.b[2] -> a.b -> a.
func parent(p string) string {
	i := strings.LastIndexAny(p, ".[")
	if i < 0 {
		return ""
	}
	return p[:i]
}

// sorted returns the problems in the order of the text; those with no position
// come last, in the order found.
func (c *converter) sorted() error {
	slices.SortStableFunc(c.ps.list, func(a, b Problem) int {
		if (a.Line == 0) != (b.Line == 0) {
			if a.Line == 0 {
				return 1
			}
			return -1
		}
		return cmp.Or(cmp.Compare(a.Line, b.Line), cmp.Compare(a.Column, b.Column))
	})
	return c.ps.err()
}

const strategyField = "spec.strategy"

func (c *converter) strategy() progressive.Strategy {
	sp := c.r.Spec
	checks := c.checks()
	hooks := c.hooks(sp.Hooks, "spec.hooks")
	policy := planPolicy(sp.OnInconclusive)
	st := sp.Strategy
	var set []string
	var s progressive.Strategy
	if x := st.Canary; x != nil {
		set = append(set, "canary")
		s = strategy.Canary{
			Weights: slices.Clone(x.Weights), StepWeight: x.StepWeight, MaxWeight: x.MaxWeight,
			Soak: x.Soak.Std(), FullSoak: x.FullSoak, Replicas: x.Replicas,
			PromotionApproval: x.PromotionApproval, ApprovalTimeout: x.ApprovalTimeout.Std(),
			Checks: checks, Hooks: hooks, OnInconclusive: policy,
		}
	}
	if x := st.BlueGreen; x != nil {
		set = append(set, "blueGreen")
		bg := strategy.BlueGreen{
			Replicas:       x.Replicas,
			Validation:     c.hooks(x.Validation, strategyField+".blueGreen.validation"),
			ManualApproval: x.ManualApproval, ApprovalTimeout: x.ApprovalTimeout.Std(),
			Monitor: x.Monitor.Std(), DecommissionDelay: x.DecommissionDelay.Std(),
			Checks: checks, Hooks: hooks, OnInconclusive: policy,
		}
		if x.Migration != nil {
			h := c.hook(*x.Migration, strategyField+".blueGreen.migration")
			bg.Migration = &h
		}
		s = bg
	}
	if x := st.Rolling; x != nil {
		set = append(set, "rolling")
		s = strategy.Rolling{
			Replicas: x.Replicas, BatchSize: x.BatchSize, BatchPercent: x.BatchPercent, Pace: x.Pace.Std(),
			MaxSurge: x.MaxSurge, MaxUnavailable: x.MaxUnavailable, ReadinessBudget: x.ReadinessBudget,
			ReadyTimeout: x.ReadyTimeout.Std(),
			Checks:       checks, Hooks: hooks, OnInconclusive: policy,
		}
	}
	if x := st.ABTest; x != nil {
		set = append(set, "abTest")
		ms := make([]progressive.Match, len(x.Matches))
		for i, m := range x.Matches {
			ms[i] = progressive.Match{Kind: progressive.MatchKind(m.Kind), Name: m.Name, Value: m.Value, Regex: m.Regex}
		}
		s = strategy.ABTest{Matches: ms, Duration: x.Duration.Std(), Replicas: x.Replicas, Checks: checks, Hooks: hooks, OnInconclusive: policy}
	}
	if x := st.Mirror; x != nil {
		set = append(set, "mirror")
		s = strategy.Mirror{Percent: x.Percent, Duration: x.Duration.Std(), Replicas: x.Replicas, Checks: checks, Hooks: hooks, OnInconclusive: policy}
	}
	if x := st.Flag; x != nil {
		set = append(set, "flag")
		s = strategy.FlagRollout{
			Flag:      progressive.FlagRef{Project: x.Flag.Project, Environment: x.Flag.Environment, Key: x.Flag.Key},
			Variation: x.Variation, Fallback: x.Fallback, Percentages: slices.Clone(x.Percentages),
			Soak: x.Soak.Std(), FullSoak: x.FullSoak,
			Targets: slices.Clone(x.Targets), Segments: slices.Clone(x.Segments),
			TargetSoak: x.TargetSoak.Std(), TargetGate: x.TargetGate,
			Checks: checks, Hooks: hooks, OnInconclusive: policy,
		}
	}
	switch len(set) {
	case 0:
		c.add(strategyField, nil, "set exactly one of canary, blueGreen, rolling, abTest, mirror, flag")
		return nil
	case 1:
		return s
	default:
		c.add(strategyField, strings.Join(set, ", "), "sets several strategies; set exactly one")
		return nil
	}
}

func (c *converter) checks() []progressive.Check {
	if len(c.r.Spec.Checks) == 0 {
		return nil
	}
	out := make([]progressive.Check, 0, len(c.r.Spec.Checks))
	for i, dc := range c.r.Spec.Checks {
		path := fmt.Sprintf("spec.checks[%d]", i)
		pc := progressive.Check{
			Name: dc.Name, Query: dc.Query, Metrics: dc.Metrics,
			Min: cloneFloat(dc.Min), Max: cloneFloat(dc.Max),
			Interval: dc.Interval.Std(), InitialDelay: dc.InitialDelay.Std(), Window: dc.Window.Std(), WarmUp: dc.WarmUp.Std(),
			FailureLimit: dc.FailureLimit, ConsecutiveFailureLimit: dc.ConsecutiveFailureLimit, InconclusiveLimit: dc.InconclusiveLimit,
			Severity: progressive.Severity(dc.Severity), NoData: progressive.NoDataPolicy(dc.NoData),
		}
		if dc.Baseline != "" {
			pc.Baseline = &progressive.Baseline{Mode: progressive.BaselineMode(dc.Baseline)}
		}
		if dc.Samples != nil {
			pc.Samples = &progressive.SampleSize{Query: dc.Samples.Query, Min: dc.Samples.Min}
		}
		if dc.Judge != nil {
			pc.Judge = c.judge(*dc.Judge, path+".judge")
		}
		out = append(out, pc)
	}
	return out
}

func cloneFloat(f *float64) *float64 {
	if f == nil {
		return nil
	}
	v := *f
	return &v
}

// judge turns the typed parameters into the JudgeSpec the analysis package reads.
func (c *converter) judge(j Judge, path string) *progressive.JudgeSpec {
	var set []string
	var spec *progressive.JudgeSpec
	if m := j.MannWhitney; m != nil {
		set = append(set, "mannWhitney")
		p := map[string]float64{}
		putF(p, analysis.MWConfidence, m.Confidence)
		putF(p, analysis.MWAllowedIncrease, m.AllowedIncrease)
		putF(p, analysis.MWAllowedDecrease, m.AllowedDecrease)
		putF(p, analysis.MWIQRFactor, m.IQRFactor)
		putF(p, analysis.MWTrimLower, m.TrimLower)
		putF(p, analysis.MWTrimUpper, m.TrimUpper)
		putSeconds(p, analysis.MWWindow, m.Window)
		putSeconds(p, analysis.MWStep, m.Step)
		if m.MinSamples != 0 {
			p[analysis.MWMinSamples] = float64(m.MinSamples)
		}
		c.enum(p, analysis.MWDirection, m.Direction, path+".mannWhitney.direction", directions)
		c.enum(p, analysis.MWNonFinite, m.NonFinite, path+".mannWhitney.nonFinite", nonFinite)
		c.enum(p, analysis.MWOutliers, m.Outliers, path+".mannWhitney.outliers", outliers)
		putScore(p, m.JudgeScore)
		spec = &progressive.JudgeSpec{Kind: analysis.KindMannWhitney, Params: p}
	}
	if s := j.SPRT; s != nil {
		set = append(set, "sprt")
		p := map[string]float64{}
		putF(p, analysis.SPRTAlpha, s.Alpha)
		putF(p, analysis.SPRTMinRatio, s.MinRatio)
		putF(p, analysis.SPRTFastRatio, s.FastRatio)
		putF(p, analysis.SPRTBeta, s.Beta)
		putF(p, analysis.SPRTScale, s.Scale)
		putF(p, analysis.SPRTRatio, s.Ratio)
		putSeconds(p, analysis.SPRTStep, s.Step)
		putSeconds(p, analysis.SPRTLookback, s.Lookback)
		if s.Accept {
			p[analysis.SPRTAccept] = 1
		}
		putScore(p, s.JudgeScore)
		spec = &progressive.JudgeSpec{Kind: analysis.KindSPRT, Params: p}
	}
	if cj := j.Custom; cj != nil {
		set = append(set, "custom")
		if cj.Kind == "" {
			c.add(path+".custom.kind", nil, "must not be empty: it names the judge registered with the runner")
		}
		spec = &progressive.JudgeSpec{Kind: cj.Kind, Params: cj.Params}
	}
	switch len(set) {
	case 0:
		c.add(path, nil, "set exactly one of mannWhitney, sprt, custom")
		return nil
	case 1:
		if spec.Params != nil && len(spec.Params) == 0 {
			spec.Params = nil
		}
		return spec
	default:
		c.add(path, strings.Join(set, ", "), "sets several judges; set exactly one")
		return nil
	}
}

type enumValue struct {
	name string
	v    float64
}

// The judges' numeric codes, by the names documents use.
var (
	directions = []enumValue{{"increase", analysis.DirectionIncrease}, {"decrease", analysis.DirectionDecrease}, {"either", analysis.DirectionEither}}
	nonFinite  = []enumValue{{"drop", 0}, {"noData", 1}}
	outliers   = []enumValue{{"keep", 0}, {"tukey", 1}, {"trim", 2}}
)

func (c *converter) enum(p map[string]float64, key, value, path string, vals []enumValue) {
	if value == "" {
		return
	}
	names := make([]string, len(vals))
	for i, e := range vals {
		if e.name == value {
			p[key] = e.v
			return
		}
		names[i] = e.name
	}
	c.add(path, value, "must be one of %s", strings.Join(names, ", "))
}

func putF(p map[string]float64, key string, v *float64) {
	if v != nil {
		p[key] = *v
	}
}

func putSeconds(p map[string]float64, key string, d Duration) {
	if d != 0 {
		p[key] = d.Std().Seconds()
	}
}

func putScore(p map[string]float64, s JudgeScore) {
	putF(p, analysis.ParamWeight, s.Weight)
	if s.Critical {
		p[analysis.ParamCritical] = 1
	}
}

func (c *converter) hooks(hs []Hook, path string) []progressive.HookSpec {
	if hs == nil {
		return nil
	}
	out := make([]progressive.HookSpec, len(hs))
	for i, h := range hs {
		out[i] = c.hook(h, fmt.Sprintf("%s[%d]", path, i))
	}
	return out
}

func (c *converter) hook(h Hook, path string) progressive.HookSpec {
	spec := progressive.HookSpec{
		Name: h.Name, Phase: progressive.HookPhase(h.Phase), URL: h.URL,
		Timeout: h.Timeout.Std(), Retries: h.Retries, Metadata: h.Metadata,
	}
	if h.URLFrom == nil {
		return spec
	}
	ref := *h.URLFrom
	switch {
	case h.URL != "":
		c.add(path+".urlFrom", nil, "set either url or urlFrom, not both")
	case (ref.Env == "") == (ref.File == ""):
		c.add(path+".urlFrom", nil, "set exactly one of env and file")
	case c.o.placeholders:
		spec.URL = placeholderURL
	default:
		v, err := c.o.resolver.Resolve(c.ctx, ref)
		switch {
		case err != nil:
			c.add(path+".urlFrom", nil, "cannot be read: %v", err)
		case v == "":
			c.add(path+".urlFrom", nil, "reads an empty URL")
		default:
			spec.URL = v
		}
	}
	return spec
}

// pathMap rewrites a path of the SDK's vocabulary into the document's.
type pathMap struct{ from, to string }

// strategyPaths map the problems of strategy.X.Plan: the options live under
// spec.strategy, the checks and hooks the strategies share under spec.
var strategyPaths = []pathMap{
	{"target", "spec.target"},
	{"release", "spec.release"},
	{"canary.checks", "spec.checks"}, {"canary.hooks", "spec.hooks"}, {"canary.onInconclusive", "spec.onInconclusive"},
	{"blueGreen.checks", "spec.checks"}, {"blueGreen.hooks", "spec.hooks"}, {"blueGreen.onInconclusive", "spec.onInconclusive"},
	{"rolling.checks", "spec.checks"}, {"rolling.hooks", "spec.hooks"}, {"rolling.onInconclusive", "spec.onInconclusive"},
	{"abTest.checks", "spec.checks"}, {"abTest.hooks", "spec.hooks"}, {"abTest.onInconclusive", "spec.onInconclusive"},
	{"mirror.checks", "spec.checks"}, {"mirror.hooks", "spec.hooks"}, {"mirror.onInconclusive", "spec.onInconclusive"},
	{"flagRollout.checks", "spec.checks"}, {"flagRollout.hooks", "spec.hooks"}, {"flagRollout.onInconclusive", "spec.onInconclusive"},
	{"canary", "spec.strategy.canary"},
	{"blueGreen", "spec.strategy.blueGreen"},
	{"rolling", "spec.strategy.rolling"},
	{"abTest", "spec.strategy.abTest"},
	{"mirror", "spec.strategy.mirror"},
	{"flagRollout", "spec.strategy.flag"},
}

// planPaths map the problems of progressive.Plan.Validate. A step has no place
// in the document: its problems point at the strategy that made it.
var planPaths = []pathMap{
	{"name", "metadata.name"},
	{"target", "spec.target"},
	{"release", "spec.release"},
	{"checks", "spec.checks"},
	{"hooks", "spec.hooks"},
	{"onInconclusive", "spec.onInconclusive"},
	{"traffic", "spec.traffic"},
	{"strategy", strategyField},
	{"steps", strategyField},
}

// checkPaths rename the fields whose shape differs between progressive.Check
// and the document's Check.
var checkPaths = []pathMap{{".baseline.mode", ".baseline"}, {".judge.kind", ".judge"}, {".judge.params", ".judge"}}

// remap records the problems of err under the document's paths.
func (c *converter) remap(err error, paths []pathMap) {
	var ve *progressive.ValidationError
	if !errors.As(err, &ve) {
		c.add("spec", nil, "%v", err)
		return
	}
	for _, fe := range ve.Problems {
		path, reason := mapPath(fe.Field, paths), fe.Reason
		if strings.HasPrefix(fe.Field, "steps") {
			// The plan's step paths mean nothing in the document; say which step.
			reason = fmt.Sprintf("the plan's %s: %s", fe.Field, reason)
		}
		c.add(path, fe.Value, "%s", reason)
	}
}

func mapPath(field string, paths []pathMap) string {
	for _, m := range paths {
		rest, ok := strings.CutPrefix(field, m.from)
		if !ok || (rest != "" && rest[0] != '.' && rest[0] != '[') {
			continue
		}
		if m.to == strategyField && strings.HasPrefix(m.from, "steps") {
			return m.to
		}
		out := m.to + rest
		if strings.HasPrefix(m.to, "spec.checks") {
			for _, cm := range checkPaths {
				if i := strings.Index(out, cm.from); i >= 0 {
					out = out[:i] + cm.to
					break
				}
			}
		}
		return out
	}
	return field
}
