package document

import (
	"github.com/agentops/progressive"
)

// APIVersion and Kind identify a rollout document. A document of another
// apiVersion is refused, never read as this one: fields change meaning between
// versions.
const (
	APIVersion   = "progressive.agentops.dev/v1alpha1"
	KindRollout  = "Rollout"
	KindTemplate = "RolloutTemplate"
)

// Rollout is one rollout as a document: what changes (target, release), how
// (strategy), what is watched (checks), who is told (hooks) and with which
// providers. Decode reads it from YAML or JSON; Plan turns it into the
// progressive.Plan a rollout.Runner runs.
type Rollout struct {
	// APIVersion must be progressive.agentops.dev/v1alpha1.
	APIVersion string `json:"apiVersion" enum:"progressive.agentops.dev/v1alpha1"`
	// Kind must be Rollout.
	Kind     string   `json:"kind" enum:"Rollout"`
	Metadata Metadata `json:"metadata,omitzero"`
	Spec     Spec     `json:"spec"`

	// pos maps the field paths of a decoded document to where they stand, so
	// that the problems Plan finds point at the text.
	pos map[string]Position
}

// Metadata names the rollout. Name is the rollout's id (state stores, events,
// decision records); empty lets the strategy derive one from namespace,
// service and version.
type Metadata struct {
	// Name is the rollout's id, a DNS-1123 subdomain.
	Name string `json:"name,omitempty"`
	// Labels are free-form and kept with the document; the plan does not use them.
	Labels map[string]string `json:"labels,omitempty"`
	// Annotations are free-form, like labels.
	Annotations map[string]string `json:"annotations,omitempty"`
}

// Spec is what the rollout does.
type Spec struct {
	Target  Target  `json:"target"`
	Release Release `json:"release,omitzero"`
	// Strategy sets exactly one of its members.
	Strategy Strategy `json:"strategy"`
	// Checks are measured during every analysis of the strategy.
	Checks []Check `json:"checks,omitempty"`
	// Hooks are lifecycle hooks (webhooks, or Go hooks registered by name).
	Hooks []Hook `json:"hooks,omitempty"`
	// Providers choose the runner's providers by name; empty means the runner's
	// only one of that kind.
	Providers Providers `json:"providers,omitzero"`
	// OnInconclusive is rollback (the default: missing data is never a pass) or hold.
	OnInconclusive string `json:"onInconclusive,omitempty" enum:"rollback,hold"`
	// Traffic is the request rate the service is expected to serve, so that
	// explanations can tell whether a weight supports a threshold.
	Traffic *Traffic `json:"traffic,omitempty"`
}

// Target names the service a rollout changes.
type Target struct {
	Namespace string `json:"namespace,omitempty"`
	// Name is the stable workload and the Service in front of it.
	Name string `json:"name"`
}

// Release describes the new version.
type Release struct {
	// Version labels the new version's pods and metrics (v2.0.0). A flag
	// rollout may leave it empty.
	Version string `json:"version,omitempty"`
	// Image replaces the image of Container.
	Image string `json:"image,omitempty"`
	// Container names the container whose image changes; empty means the first.
	Container string `json:"container,omitempty"`
}

// Providers name the runner's providers a rollout uses.
type Providers struct {
	Router   string `json:"router,omitempty"`
	Metrics  string `json:"metrics,omitempty"`
	Flags    string `json:"flags,omitempty"`
	Workload string `json:"workload,omitempty"`
}

// Traffic is the expected request rate.
type Traffic struct {
	RequestsPerSecond float64 `json:"requestsPerSecond"`
}

// Strategy holds exactly one strategy's parameters. Zero values select the
// strategy's documented defaults (package strategy).
type Strategy struct {
	Canary    *Canary    `json:"canary,omitempty"`
	BlueGreen *BlueGreen `json:"blueGreen,omitempty"`
	Rolling   *Rolling   `json:"rolling,omitempty"`
	ABTest    *ABTest    `json:"abTest,omitempty"`
	Mirror    *Mirror    `json:"mirror,omitempty"`
	Flag      *Flag      `json:"flag,omitempty"`
}

// Canary shifts a growing share of requests to the new version (strategy.Canary).
type Canary struct {
	// Weights are the canary's shares of requests in percent, strictly
	// increasing; a last 100 means promote. Default 10, 50, 100.
	Weights []float64 `json:"weights,omitempty"`
	// StepWeight and MaxWeight generate the weights Flagger's way instead.
	StepWeight float64 `json:"stepWeight,omitempty"`
	MaxWeight  float64 `json:"maxWeight,omitempty"`
	// Soak is the analysis time at each weight. Default 15m.
	Soak Duration `json:"soak,omitempty"`
	// FullSoak also soaks at 100% before promotion.
	FullSoak bool `json:"fullSoak,omitempty"`
	// Replicas is the canary's pod count. Default 1.
	Replicas int `json:"replicas,omitempty"`
	// PromotionApproval names an approval gate passed before promotion.
	PromotionApproval string `json:"promotionApproval,omitempty"`
	// ApprovalTimeout rolls back when the gate got no answer in time.
	ApprovalTimeout Duration `json:"approvalTimeout,omitempty"`
}

// BlueGreen deploys green beside blue, validates it and switches all traffic in
// one write (strategy.BlueGreen).
type BlueGreen struct {
	// Replicas is green's pod count: give it blue's. Required.
	Replicas int `json:"replicas"`
	// Migration runs first, before green exists; a step hook without phase.
	Migration *Hook `json:"migration,omitempty"`
	// Validation hooks (smoke tests) run against green before the switch.
	Validation []Hook `json:"validation,omitempty"`
	// ManualApproval names the approval gate passed before the switch.
	ManualApproval string `json:"manualApproval,omitempty"`
	// ApprovalTimeout rolls back when the gate got no answer in time.
	ApprovalTimeout Duration `json:"approvalTimeout,omitempty"`
	// Monitor is the analysis time after the switch. Default 15m.
	Monitor Duration `json:"monitor,omitempty"`
	// DecommissionDelay keeps blue up after the monitor. Default 5m.
	DecommissionDelay Duration `json:"decommissionDelay,omitempty"`
}

// Rolling updates the workload's pods in place, batch by batch (strategy.Rolling).
type Rolling struct {
	// Replicas is the workload's pod count. Required.
	Replicas int `json:"replicas"`
	// BatchSize is the pods updated per batch; or BatchPercent of Replicas.
	BatchSize    int     `json:"batchSize,omitempty"`
	BatchPercent float64 `json:"batchPercent,omitempty"`
	// Pace is the wait (or analysis, with checks) after each batch. Default 30s.
	Pace Duration `json:"pace,omitempty"`
	// MaxSurge and MaxUnavailable are pod counts; 0 selects 25% of replicas, -1 none.
	MaxSurge       int `json:"maxSurge,omitempty"`
	MaxUnavailable int `json:"maxUnavailable,omitempty"`
	// ReadinessBudget is the percent of pods allowed to fail readiness before the
	// update is undone. Default 5; -1 tolerates none.
	ReadinessBudget float64 `json:"readinessBudget,omitempty"`
	// ReadyTimeout bounds the wait for each batch to pass readiness. Default 10m.
	ReadyTimeout Duration `json:"readyTimeout,omitempty"`
}

// ABTest sends the requests that match to the new version (strategy.ABTest).
type ABTest struct {
	// Matches select the segment; at least one.
	Matches []Match `json:"matches"`
	// Duration is the analysis time. Default 1h.
	Duration Duration `json:"duration,omitempty"`
	// Replicas is the new version's pod count. Default 1.
	Replicas int `json:"replicas,omitempty"`
}

// Match selects requests by header or cookie.
type Match struct {
	// Kind is header or cookie.
	Kind  string `json:"kind" enum:"header,cookie"`
	Name  string `json:"name"`
	Value string `json:"value"`
	// Regex makes Value an RE2 regular expression.
	Regex bool `json:"regex,omitempty"`
}

// Mirror copies stable's requests to the new version (strategy.Mirror).
type Mirror struct {
	// Percent of stable's requests copied. Default 100.
	Percent float64 `json:"percent,omitempty"`
	// Duration is the analysis time. Default 15m.
	Duration Duration `json:"duration,omitempty"`
	// Replicas is the new version's pod count. Default 1.
	Replicas int `json:"replicas,omitempty"`
}

// Flag serves a flag variation to a growing share of users (strategy.FlagRollout).
type Flag struct {
	// Flag names the flag in its store.
	Flag FlagRef `json:"flag"`
	// Variation is served to the rolled-out share, Fallback to everyone else.
	Variation string `json:"variation"`
	Fallback  string `json:"fallback"`
	// Percentages are the shares of users. Default 1, 10, 50, 100.
	Percentages []float64 `json:"percentages,omitempty"`
	// Soak is the analysis time at each share. Default 24h.
	Soak Duration `json:"soak,omitempty"`
	// Targets are user keys that get Variation first, before the first share
	// (the guide's beta testers).
	Targets []string `json:"targets,omitempty"`
	// Segments are the flag store's segments whose members get Variation first.
	Segments []string `json:"segments,omitempty"`
	// TargetSoak is how long the targeted users alone have it, without analysis
	// (too few users to measure). Default: Soak.
	TargetSoak Duration `json:"targetSoak,omitempty"`
	// TargetGate names an approval gate after TargetSoak.
	TargetGate string `json:"targetGate,omitempty"`
	// FullSoak also soaks at 100%.
	FullSoak bool `json:"fullSoak,omitempty"`
}

// FlagRef names a flag.
type FlagRef struct {
	Project     string `json:"project,omitempty"`
	Environment string `json:"environment,omitempty"`
	Key         string `json:"key"`
}

// Check is one metric condition (progressive.Check), thresholds as numbers.
type Check struct {
	Name string `json:"name"`
	// Query is a template in the metric source's language; it may use
	// {{.Namespace}}, {{.Service}}, {{.Version}}, {{.Role}} and {{.Interval}}.
	Query string `json:"query"`
	// Metrics names the metric source; empty means the runner's only one.
	Metrics string `json:"metrics,omitempty"`
	// Min and Max bound the value.
	Min *float64 `json:"min,omitempty"`
	Max *float64 `json:"max,omitempty"`
	// Baseline compares the canary with stable: ratio or difference.
	Baseline string `json:"baseline,omitempty" enum:"ratio,difference"`
	// Interval between measurements. Default 1m.
	Interval     Duration `json:"interval,omitempty"`
	InitialDelay Duration `json:"initialDelay,omitempty"`
	Window       Duration `json:"window,omitempty"`
	WarmUp       Duration `json:"warmUp,omitempty"`
	// Samples names the request count behind a measurement and its least value.
	Samples                 *Samples `json:"samples,omitempty"`
	FailureLimit            int      `json:"failureLimit,omitempty"`
	ConsecutiveFailureLimit int      `json:"consecutiveFailureLimit,omitempty"`
	InconclusiveLimit       int      `json:"inconclusiveLimit,omitempty"`
	// Severity is fail (default) or warn.
	Severity string `json:"severity,omitempty" enum:"fail,warn"`
	// NoData is inconclusive (default) or fail.
	NoData string `json:"noData,omitempty" enum:"inconclusive,fail"`
	// Judge replaces the thresholds with a statistical comparison.
	Judge *Judge `json:"judge,omitempty"`
}

// Samples is a check's minimum sample size.
type Samples struct {
	Query string  `json:"query"`
	Min   float64 `json:"min"`
}

// Judge selects exactly one statistical judge with its typed parameters
// (package analysis). Unset parameters take the judge's defaults.
type Judge struct {
	MannWhitney *MannWhitney `json:"mannWhitney,omitempty"`
	SPRT        *SPRT        `json:"sprt,omitempty"`
	// Custom passes parameters through to a judge registered with the runner
	// under Kind (analysis.Options.Judges).
	Custom *CustomJudge `json:"custom,omitempty"`
}

// JudgeScore are the parameters every judge of package analysis accepts for
// its Score.
type JudgeScore struct {
	// Weight of the check in the score. Default 1.
	Weight *float64 `json:"weight,omitempty"`
	// Critical fails the whole judgement when this check fails.
	Critical bool `json:"critical,omitempty"`
}

// MannWhitney is the Kayenta-style comparison of canary and baseline samples
// (analysis.MannWhitneyJudge).
type MannWhitney struct {
	// Confidence of the test, in (0.5, 1). Default 0.98.
	Confidence *float64 `json:"confidence,omitempty"`
	// Direction is increase (default), decrease or either.
	Direction string `json:"direction,omitempty" enum:"increase,decrease,either"`
	// AllowedIncrease and AllowedDecrease are the tolerated relative shifts. Default 0.1.
	AllowedIncrease *float64 `json:"allowedIncrease,omitempty"`
	AllowedDecrease *float64 `json:"allowedDecrease,omitempty"`
	// Window compared; zero compares everything since the analysis started.
	Window Duration `json:"window,omitempty"`
	// Step is the spacing of the samples. Default 1m.
	Step Duration `json:"step,omitempty"`
	// MinSamples each side needs. Default 5.
	MinSamples int `json:"minSamples,omitempty"`
	// NonFinite is drop (default) or noData.
	NonFinite string `json:"nonFinite,omitempty" enum:"drop,noData"`
	// Outliers is keep (default), tukey or trim.
	Outliers  string   `json:"outliers,omitempty" enum:"keep,tukey,trim"`
	IQRFactor *float64 `json:"iqrFactor,omitempty"`
	TrimLower *float64 `json:"trimLower,omitempty"`
	TrimUpper *float64 `json:"trimUpper,omitempty"`
	JudgeScore
}

// SPRT is the sequential test of the canary's error rate against the
// baseline's (analysis.SPRTJudge).
type SPRT struct {
	// Alpha bounds false alarms per analysis. Default 0.01.
	Alpha *float64 `json:"alpha,omitempty"`
	// MinRatio is the ratio of error rates the test is tuned to detect. Default 2.
	MinRatio *float64 `json:"minRatio,omitempty"`
	// FastRatio adds a second test tuned to a larger ratio.
	FastRatio *float64 `json:"fastRatio,omitempty"`
	// Accept lets the test stop as healthy.
	Accept bool     `json:"accept,omitempty"`
	Beta   *float64 `json:"beta,omitempty"`
	// Step is the span one sample covers. Default 1m.
	Step Duration `json:"step,omitempty"`
	// Lookback starts the test that long before the analysis.
	Lookback Duration `json:"lookback,omitempty"`
	// Scale turns a query's value into a count. Default 1.
	Scale *float64 `json:"scale,omitempty"`
	// Ratio says the query returns an error ratio in units where this value is 100%.
	Ratio *float64 `json:"ratio,omitempty"`
	JudgeScore
}

// CustomJudge names a judge the runner was given and passes its parameters.
type CustomJudge struct {
	Kind   string             `json:"kind"`
	Params map[string]float64 `json:"params,omitempty"`
}

// Hook is a lifecycle hook (with a phase) or a step hook (blueGreen's
// migration and validation, without). With a URL, or URLFrom, the runner POSTs
// to it; with neither it calls the Go hook registered under Name.
type Hook struct {
	Name string `json:"name"`
	// Phase is pre-rollout, pre-promotion, post-rollout or on-rollback.
	Phase string `json:"phase,omitempty" enum:"pre-rollout,pre-promotion,post-rollout,on-rollback"`
	// URL of the webhook. Webhook URLs are often secrets: prefer URLFrom.
	URL string `json:"url,omitempty"`
	// URLFrom reads the URL when the plan is built, so that it is not in Git.
	URLFrom *ValueFrom `json:"urlFrom,omitempty"`
	// Timeout of one attempt. Default 10s.
	Timeout Duration `json:"timeout,omitempty"`
	// Retries after a failed attempt. Default 2; -1 for none.
	Retries  int               `json:"retries,omitempty"`
	Metadata map[string]string `json:"metadata,omitempty"`
}

// ValueFrom names where a secret value is read: exactly one of an environment
// variable or a file (a mounted Kubernetes Secret).
type ValueFrom struct {
	Env  string `json:"env,omitempty"`
	File string `json:"file,omitempty"`
}

// planPolicy converts the document's policy string.
func planPolicy(s string) progressive.InconclusivePolicy { return progressive.InconclusivePolicy(s) }
