package telemetry

import (
	"context"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/utils/clock"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/analysis"
	"github.com/agentops/progressive/rollout"
)

// Defaults of MetricsOptions.
const (
	DefaultNamespace = "progressive"
	DefaultGrace     = 10 * time.Minute
)

// Default histogram buckets, in seconds. Steps range from an instant weight
// change to an hour of analysis; rollouts from minutes to a day-long flag
// rollout; detection from one measurement interval to an hour.
var (
	DefaultStepBuckets     = []float64{1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200}
	DefaultDurationBuckets = []float64{60, 300, 600, 1200, 1800, 3600, 7200, 14400, 28800, 86400}
	DefaultDetectBuckets   = []float64{10, 30, 60, 120, 300, 600, 1200, 1800, 3600}
)

// MetricsOptions configure Metrics. Zero values select the documented defaults.
type MetricsOptions struct {
	// Namespace prefixes every metric name. Default "progressive".
	Namespace string
	// Grace is how long the series of an ended rollout remain, so that the
	// scrapes after its end still see how it ended. Default 10m.
	Grace time.Duration
	// Clock tells when a rollout ended for the grace. It is this process's
	// clock, not the runner's: a rehearsal in virtual time still expires its
	// series in real time. Default clock.RealClock{}.
	Clock clock.PassiveClock
	// StepBuckets, DurationBuckets and DetectBuckets are the histograms'
	// buckets in seconds, strictly increasing. Defaults DefaultStepBuckets,
	// DefaultDurationBuckets and DefaultDetectBuckets (also for time to recover).
	StepBuckets     []float64
	DurationBuckets []float64
	DetectBuckets   []float64
}

var metricName = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

func (o MetricsOptions) withDefaults() (MetricsOptions, error) {
	var p progressive.Problems
	if o.Namespace == "" {
		o.Namespace = DefaultNamespace
	} else if !metricName.MatchString(o.Namespace) {
		p.Add("Namespace", o.Namespace, "must be a Prometheus metric name prefix ([a-zA-Z_][a-zA-Z0-9_]*)")
	}
	switch {
	case o.Grace < 0:
		p.Add("Grace", o.Grace.String(), "must not be negative (zero selects %s)", DefaultGrace)
	case o.Grace == 0:
		o.Grace = DefaultGrace
	}
	if o.Clock == nil {
		o.Clock = clock.RealClock{}
	}
	// client_golang panics on unsorted buckets; a user's slice must not get there.
	checkBuckets := func(field string, b []float64, def []float64) []float64 {
		if b == nil {
			return def
		}
		if len(b) == 0 {
			p.Add(field, b, "must not be empty (nil selects the defaults)")
		}
		for i, v := range b {
			if math.IsNaN(v) || (i > 0 && v <= b[i-1]) {
				p.Add(field, b, "must be strictly increasing numbers")
				break
			}
		}
		return b
	}
	o.StepBuckets = checkBuckets("StepBuckets", o.StepBuckets, DefaultStepBuckets)
	o.DurationBuckets = checkBuckets("DurationBuckets", o.DurationBuckets, DefaultDurationBuckets)
	o.DetectBuckets = checkBuckets("DetectBuckets", o.DetectBuckets, DefaultDetectBuckets)
	if err := p.Err(); err != nil {
		return o, fmt.Errorf("telemetry: metrics options: %w", err)
	}
	return o, nil
}

// Label names of the per-rollout series.
var (
	rolloutLabels   = []string{"rollout", "namespace", "target"}
	phaseLabels     = []string{"rollout", "namespace", "target", "phase"}
	infoLabels      = []string{"rollout", "namespace", "target", "release", "image"}
	checkLabels     = []string{"rollout", "namespace", "target", "check", "role"}
	thresholdLabels = []string{"rollout", "namespace", "target", "check", "role", "bound"}
)

// Roles of the check series: what a measurement's number is.
const (
	RoleCanary   = "canary"
	RoleStable   = "stable"
	RoleCompared = "compared"
)

// phases lists every phase, for the per-rollout phase gauge; active are those
// counted by the rollouts gauge.
var (
	phases = []rollout.Phase{rollout.PhaseProgressing, rollout.PhaseHeld, rollout.PhaseRollingBack,
		rollout.PhaseSucceeded, rollout.PhaseRolledBack, rollout.PhaseAborted}
	active = []rollout.Phase{rollout.PhaseProgressing, rollout.PhaseHeld, rollout.PhaseRollingBack}
)

// Metrics is a rollout.Observer and a prometheus.Collector: it keeps the
// series described in the package documentation up to date from the runner's
// events. Create it with NewMetrics and Register it; it is safe for the
// concurrent use a runner driving many rollouts makes of it.
type Metrics struct {
	opts MetricsOptions

	rollouts       *prometheus.GaugeVec
	phase          *prometheus.GaugeVec
	info           *prometheus.GaugeVec
	weight         *prometheus.GaugeVec
	checkValue     *prometheus.GaugeVec
	checkThreshold *prometheus.GaugeVec
	decisions      *prometheus.CounterVec
	stepDuration   *prometheus.HistogramVec
	duration       *prometheus.HistogramVec
	detect         prometheus.Histogram
	recover        prometheus.Histogram
	providerErrors *prometheus.CounterVec

	mu      sync.Mutex
	tracked map[string]*tracked
	// ended holds the ids of ended rollouts still tracked, so that expiry
	// looks at those only, not at every rollout in flight.
	ended map[string]time.Time
}

// tracked is what Metrics remembers of one rollout.
type tracked struct {
	labels []string // rollout, namespace, target
	phase  rollout.Phase
	// step and stepStart time the step in flight (runner clock); stepStart is
	// zero when its start was not seen (a process restarted mid-step).
	step      int
	stepStart time.Time
	started   time.Time
}

// NewMetrics checks opts and returns Metrics, not registered yet.
func NewMetrics(opts MetricsOptions) (*Metrics, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	ns := opts.Namespace
	gauge := func(name, help string, labels []string) *prometheus.GaugeVec {
		return prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Name: name, Help: help}, labels)
	}
	hist := func(name, help string, buckets []float64, labels []string) *prometheus.HistogramVec {
		return prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Name: name, Help: help, Buckets: buckets}, labels)
	}
	m := &Metrics{
		opts:     opts,
		rollouts: gauge("rollouts", "Rollouts in flight, by phase.", []string{"phase"}),
		phase:    gauge("rollout_phase", "1 for the phase a rollout is in, 0 for the others.", phaseLabels),
		info:     gauge("rollout_info", "A rollout's release; always 1.", infoLabels),
		weight:   gauge("rollout_canary_weight", "Percent of traffic on the canary, as the router read it back after the last change.", rolloutLabels),
		checkValue: gauge("rollout_check_value",
			"Latest measured value of a check: canary, stable (baseline) or compared (what a baseline check is judged on); NaN without data.", checkLabels),
		checkThreshold: gauge("rollout_check_threshold", "A check's min or max, on the role it judges.", thresholdLabels),
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "rollout_decisions_total",
			Help: "Decisions of the runner and commands of people, by decision."}, []string{"decision"}),
		stepDuration: hist("rollout_step_duration_seconds", "How long steps took, by step kind and result: completed, or rolled-back when a rollback (decided or asked for) ended the step.", opts.StepBuckets, []string{"kind", "result"}),
		duration:     hist("rollout_duration_seconds", "How long rollouts took from start to end, by outcome.", opts.DurationBuckets, []string{"outcome"}),
		detect: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Name: "rollout_time_to_detect_seconds",
			Help: "From the last good measurement to the rollback decision, of rolled-back rollouts.", Buckets: opts.DetectBuckets}),
		recover: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Name: "rollout_time_to_recover_seconds",
			Help: "From the last good measurement to traffic back on stable, of rolled-back rollouts.", Buckets: opts.DetectBuckets}),
		providerErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "rollout_provider_errors_total",
			Help: "Errors of providers met by the runner, by kind and step kind."}, []string{"kind", "step"}),
		tracked: map[string]*tracked{},
		ended:   map[string]time.Time{},
	}
	// Present from the start, at zero: "no rollout is held" is an answer, an
	// absent series is not.
	for _, p := range active {
		m.rollouts.WithLabelValues(string(p))
	}
	return m, nil
}

// Register registers m with reg (prometheus.DefaultRegisterer,
// controller-runtime's metrics.Registry, a registry of your own). A second
// registration with the same registry, or a registry already holding metrics of
// the same names, returns an error wrapping progressive.ErrInvalid; nothing
// panics. m may be registered with several registries.
func (m *Metrics) Register(reg prometheus.Registerer) error {
	if reg == nil {
		return fmt.Errorf("telemetry: Register: registerer must not be nil: %w", progressive.ErrInvalid)
	}
	if err := reg.Register(m); err != nil {
		var already prometheus.AlreadyRegisteredError
		if errors.As(err, &already) {
			return fmt.Errorf("telemetry: the metrics of namespace %q are already registered with this registry: %w: %w", m.opts.Namespace, progressive.ErrInvalid, err)
		}
		return fmt.Errorf("telemetry: register metrics of namespace %q (another collector uses the same names? set MetricsOptions.Namespace): %w: %w",
			m.opts.Namespace, progressive.ErrInvalid, err)
	}
	return nil
}

func (m *Metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.rollouts, m.phase, m.info, m.weight, m.checkValue, m.checkThreshold,
		m.decisions, m.stepDuration, m.duration, m.detect, m.recover, m.providerErrors}
}

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, c := range m.collectors() {
		c.Describe(ch)
	}
}

// Collect implements prometheus.Collector. It first drops the series of
// rollouts whose grace has passed, so that a process whose rollouts all ended
// long ago stops reporting them even when no event comes.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	m.mu.Lock()
	m.expireLocked(m.opts.Clock.Now())
	m.mu.Unlock()
	for _, c := range m.collectors() {
		c.Collect(ch)
	}
}

// Tracked reports how many rollouts have series now: those in flight and those
// that ended within the grace.
func (m *Metrics) Tracked() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.expireLocked(m.opts.Clock.Now())
	return len(m.tracked)
}

// Observe implements rollout.Observer.
func (m *Metrics) Observe(_ context.Context, e rollout.Event) {
	now := m.opts.Clock.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.expireLocked(now)
	t := m.tracked[e.Rollout]
	if t != nil && e.Type == rollout.EventStarted && t.phase.Terminal() {
		// The same id started again: its old series describe another release.
		m.forgetLocked(e.Rollout, t)
		t = nil
	}
	if t == nil {
		t = &tracked{labels: []string{e.Rollout, e.Target.Namespace, e.Target.Name}, step: -1}
		m.tracked[e.Rollout] = t
		m.info.WithLabelValues(e.Rollout, e.Target.Namespace, e.Target.Name, e.Release.Version, e.Release.Image).Set(1)
	}
	if t.started.IsZero() && e.Type == rollout.EventStarted {
		t.started = e.Time
	}
	m.setPhaseLocked(t, e.Phase)
	if e.Phase.Terminal() {
		if _, ok := m.ended[e.Rollout]; !ok {
			m.ended[e.Rollout] = now
		}
	}

	switch e.Type {
	case rollout.EventStepStarted:
		t.step, t.stepStart = e.Step, e.Time
	case rollout.EventStepCompleted:
		m.decisions.WithLabelValues("advance").Inc()
		m.endStepLocked(t, e, "completed")
	case rollout.EventRoutesChanged:
		if e.Routes != nil {
			m.weight.WithLabelValues(t.labels...).Set(e.Routes.CanaryWeight)
		}
	case rollout.EventMeasured:
		m.measuredLocked(t, e)
	case rollout.EventHeld:
		m.decisions.WithLabelValues("hold").Inc()
	case rollout.EventError:
		m.decisions.WithLabelValues("retry").Inc()
		m.providerErrorLocked(e)
	case rollout.EventRollbackStarted:
		m.decisions.WithLabelValues("rollback").Inc()
		if e.Err != nil {
			m.providerErrorLocked(e)
		}
		m.endStepLocked(t, e, "rolled-back")
	case rollout.EventCommand:
		if kind, ok := commandKind(e.Message); ok {
			m.decisions.WithLabelValues("manual-" + kind).Inc()
		}
	case rollout.EventSucceeded, rollout.EventRollbackCompleted:
		m.finishedLocked(t, e)
	}
}

func (m *Metrics) setPhaseLocked(t *tracked, p rollout.Phase) {
	if p == "" || p == t.phase {
		return
	}
	if isActive(t.phase) {
		m.rollouts.WithLabelValues(string(t.phase)).Dec()
	}
	if isActive(p) {
		m.rollouts.WithLabelValues(string(p)).Inc()
	}
	t.phase = p
	for _, q := range phases {
		v := 0.0
		if q == p {
			v = 1
		}
		m.phase.WithLabelValues(t.labels[0], t.labels[1], t.labels[2], string(q)).Set(v)
	}
}

func isActive(p rollout.Phase) bool {
	return p == rollout.PhaseProgressing || p == rollout.PhaseHeld || p == rollout.PhaseRollingBack
}

// endStepLocked observes the duration of the step in flight, if its start was
// seen: a process that took over mid-step cannot tell how long it ran.
func (m *Metrics) endStepLocked(t *tracked, e rollout.Event, result string) {
	if t.stepStart.IsZero() || t.step != e.Step {
		return
	}
	m.stepDuration.WithLabelValues(stepKind(e.StepKind), result).Observe(nonNegative(e.Time.Sub(t.stepStart)).Seconds())
	t.stepStart = time.Time{}
}

func (m *Metrics) measuredLocked(t *tracked, e rollout.Event) {
	for _, ms := range e.Measurements {
		role := RoleCanary
		m.checkValue.WithLabelValues(t.labels[0], t.labels[1], t.labels[2], ms.Check, RoleCanary).Set(ms.Value)
		if ms.Baseline != nil {
			m.checkValue.WithLabelValues(t.labels[0], t.labels[1], t.labels[2], ms.Check, RoleStable).Set(*ms.Baseline)
		}
		if ms.Compared != nil {
			role = RoleCompared
			m.checkValue.WithLabelValues(t.labels[0], t.labels[1], t.labels[2], ms.Check, RoleCompared).Set(*ms.Compared)
		}
		if c, ok := findCheck(e.Checks, ms.Check); ok {
			if c.Baseline != nil {
				role = RoleCompared
			}
			if c.Min != nil {
				m.checkThreshold.WithLabelValues(t.labels[0], t.labels[1], t.labels[2], ms.Check, role, "min").Set(*c.Min)
			}
			if c.Max != nil {
				m.checkThreshold.WithLabelValues(t.labels[0], t.labels[1], t.labels[2], ms.Check, role, "max").Set(*c.Max)
			}
		}
		if ms.Error != "" {
			// The metric source failed this measurement: a provider error
			// too, though the analysis absorbs it as inconclusive.
			m.providerErrors.WithLabelValues(KindTransient, string(progressive.KindAnalyze)).Inc()
		}
	}
}

func findCheck(checks []progressive.Check, name string) (progressive.Check, bool) {
	for _, c := range checks {
		if c.Name == name {
			return c, true
		}
	}
	return progressive.Check{}, false
}

func (m *Metrics) providerErrorLocked(e rollout.Event) {
	kind := ErrorKind(e.Err)
	if kind == "" {
		kind = KindOther
	}
	step := stepKind(e.StepKind)
	if e.Phase == rollout.PhaseRollingBack && e.Type == rollout.EventError {
		step = "rollback"
	}
	m.providerErrors.WithLabelValues(kind, step).Inc()
}

func (m *Metrics) finishedLocked(t *tracked, e rollout.Event) {
	outcome := outcomeOf(e)
	m.decisions.WithLabelValues(outcome).Inc()
	if e.Type == rollout.EventSucceeded {
		// The last step completed just before; nothing else is in flight.
		t.stepStart = time.Time{}
	}
	switch {
	case e.Impact != nil && e.Impact.Duration > 0:
		m.duration.WithLabelValues(outcome).Observe(time.Duration(e.Impact.Duration).Seconds())
	case !t.started.IsZero():
		m.duration.WithLabelValues(outcome).Observe(nonNegative(e.Time.Sub(t.started)).Seconds())
	}
	if e.Impact != nil {
		if d := e.Impact.TimeToDetect; d != nil {
			m.detect.Observe(nonNegative(time.Duration(*d)).Seconds())
		}
		if d := e.Impact.TimeToRecover; d != nil {
			m.recover.Observe(nonNegative(time.Duration(*d)).Seconds())
		}
	}
}

// outcomeOf names how a rollout ended, as the decision record does.
func outcomeOf(e rollout.Event) string {
	if e.Impact != nil && e.Impact.Outcome != "" && e.Impact.Outcome != rollout.OutcomeInProgress {
		return string(e.Impact.Outcome)
	}
	switch {
	case e.Type == rollout.EventSucceeded:
		return string(rollout.OutcomePromoted)
	case e.Phase == rollout.PhaseAborted:
		return string(rollout.OutcomeAborted)
	default:
		return string(rollout.OutcomeRolledBack)
	}
}

// expireLocked forgets the rollouts whose grace has passed.
func (m *Metrics) expireLocked(now time.Time) {
	for id, at := range m.ended {
		if now.Sub(at) < m.opts.Grace {
			continue
		}
		if t := m.tracked[id]; t != nil {
			m.forgetLocked(id, t)
		} else {
			delete(m.ended, id)
		}
	}
}

// forgetLocked deletes every series of rollout id.
func (m *Metrics) forgetLocked(id string, t *tracked) {
	if isActive(t.phase) {
		m.rollouts.WithLabelValues(string(t.phase)).Dec()
	}
	match := prometheus.Labels{"rollout": id}
	for _, v := range []*prometheus.GaugeVec{m.phase, m.info, m.weight, m.checkValue, m.checkThreshold} {
		v.DeletePartialMatch(match)
	}
	delete(m.tracked, id)
	delete(m.ended, id)
}

// stepKinds bounds the step label: an event made by hand with a kind of its
// own must not add a series per distinct string.
var stepKinds = map[progressive.StepKind]bool{
	progressive.KindDeploy: true, progressive.KindSetWeight: true, progressive.KindSetRoutes: true,
	progressive.KindSwitch: true, progressive.KindScale: true, progressive.KindSetFlag: true,
	progressive.KindPause: true, progressive.KindAnalyze: true, progressive.KindApproval: true,
	progressive.KindHook: true, progressive.KindRoll: true, progressive.KindPromote: true,
	progressive.KindFinalize: true,
}

func stepKind(k progressive.StepKind) string {
	switch {
	case k == "":
		return "none"
	case stepKinds[k]:
		return string(k)
	default:
		return "other"
	}
}

// commandKind reads the command's kind from a command event's message
// ("abort: reason"), and only the kinds the runner knows.
func commandKind(msg string) (string, bool) {
	kind, _, _ := strings.Cut(msg, ":")
	switch rollout.CommandKind(kind) {
	case rollout.CommandAbort, rollout.CommandRollback, rollout.CommandPromote, rollout.CommandResume:
		return kind, true
	}
	return "", false
}

func nonNegative(d time.Duration) time.Duration { return max(d, 0) }

// verdictDone reports whether an analysis verdict ends the analysis.
func verdictDone(v analysis.Verdict) bool {
	return v == analysis.VerdictPass || v == analysis.VerdictFail || v == analysis.VerdictInconclusive
}
