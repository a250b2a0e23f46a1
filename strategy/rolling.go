package strategy

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/agentops/progressive"
)

// Rolling defaults.
const (
	// DefaultPace is the wait between batches: the design document's "1 pod every 30 seconds".
	DefaultPace = 30 * time.Second
	// DefaultReadinessBudget is the share of pods, in percent, allowed to fail
	// readiness: the design document's "rollback if > 5% pods fail readiness".
	DefaultReadinessBudget = 5.0
	// DefaultBatchPercent, DefaultMaxSurgePercent and DefaultMaxUnavailablePercent
	// are Kubernetes' 25%.
	DefaultBatchPercent          = 25.0
	DefaultMaxSurgePercent       = 25.0
	DefaultMaxUnavailablePercent = 25.0
)

// Rolling updates the pods of the workload in place, batch by batch, without a
// canary Deployment and without a traffic router (the workload must implement
// progressive.Roller). Each Roll step waits for its batch to pass readiness; more
// than ReadinessBudget percent of pods failing readiness undoes the update.
//
//	Roll{Updated: b} -> Analyze{Pace} (with checks) or Pause{Pace} (without)
//	  -> Roll{Updated: 2b} -> ... -> Roll{Updated: Replicas} [-> Analyze{Pace}]
//
// With checks, an analysis follows every batch, the last one included (a failing
// check undoes the update); without them a pause separates the batches and the plan
// ends with the last batch. There is no Promote and no Finalize step: the pods
// already run the new release and no router was touched, so both would be no-ops.
type Rolling struct {
	// Replicas is the workload's pod count (the design document's content-api runs 30). Required.
	Replicas int `json:"replicas"`
	// BatchSize is the number of pods updated per batch. Default: BatchPercent of
	// Replicas, rounded up.
	BatchSize int `json:"batchSize,omitempty"`
	// BatchPercent sizes batches as a share of Replicas, rounded up. Default 25.
	// Mutually exclusive with BatchSize.
	BatchPercent float64 `json:"batchPercent,omitempty"`
	// Pace is the wait (or analysis) after each batch is ready. Default 30s.
	Pace time.Duration `json:"pace,omitempty"`
	// ReadyTimeout bounds the wait for each batch's pods to pass readiness; when
	// it passes with more than ReadinessBudget percent of pods unready, the
	// update is undone. Default 10m (rollout.DefaultReadyTimeout, Kubernetes'
	// progressDeadlineSeconds). A rollback waits as long again for the previous
	// revision's pods to be ready before it reports the rollout rolled back.
	ReadyTimeout time.Duration `json:"readyTimeout,omitempty"`
	// MaxSurge is how many pods above Replicas may exist during a batch. Default
	// 25% of Replicas rounded up; NoPods (-1) for none. The plan clamps it to
	// the batch: a batch of 3 never starts more than 3 new pods at once.
	MaxSurge int `json:"maxSurge,omitempty"`
	// MaxUnavailable is how many pods may be unavailable during a batch. Default 25%
	// of Replicas rounded down; NoPods (-1) for none. Both cannot be none; when the
	// defaults resolve to 0 and 0, MaxUnavailable becomes 1 as in Kubernetes. The
	// plan clamps it to what the batch leaves after MaxSurge (surge first, so
	// capacity does not drop while a batch rolls), and never both to zero.
	MaxUnavailable int `json:"maxUnavailable,omitempty"`
	// ReadinessBudget is the share of pods, in percent, allowed to fail readiness
	// before the update is undone. Default 5; -1 (NoPods) tolerates none.
	ReadinessBudget float64 `json:"readinessBudget,omitempty"`
	// Checks are optional; when given, each batch is followed by an analysis.
	Checks []progressive.Check `json:"checks,omitempty"`
	// Hooks are lifecycle hooks.
	Hooks []progressive.HookSpec `json:"hooks,omitempty"`
	// OnInconclusive: rollback (default) or hold. Used only with checks.
	OnInconclusive progressive.InconclusivePolicy `json:"onInconclusive,omitempty"`
}

// Name returns "rolling".
func (r Rolling) Name() string { return NameRolling }

// WithDefaults returns the options with their documented defaults resolved into
// pods: BatchSize, MaxSurge and MaxUnavailable hold pod counts (NoPods becomes 0),
// ReadinessBudget a percentage (NoPods becomes 0). Invalid options stay as they are.
func (r Rolling) WithDefaults() Rolling {
	n := r.Replicas
	if n < 1 {
		return r
	}
	if r.BatchSize == 0 {
		p := r.BatchPercent
		if p == 0 {
			p = DefaultBatchPercent
		}
		r.BatchSize = clampInt(math.Ceil(p/100*float64(n)), 1, n)
	}
	r.BatchPercent = 0
	surgeDefault, unavailDefault := r.MaxSurge == 0, r.MaxUnavailable == 0
	r.MaxSurge = podsOr(r.MaxSurge, clampInt(math.Ceil(DefaultMaxSurgePercent/100*float64(n)), 0, n))
	r.MaxUnavailable = podsOr(r.MaxUnavailable, clampInt(math.Floor(DefaultMaxUnavailablePercent/100*float64(n)), 0, n))
	if r.MaxSurge == 0 && r.MaxUnavailable == 0 && (surgeDefault || unavailDefault) {
		r.MaxUnavailable = 1
	}
	switch r.ReadinessBudget {
	case 0:
		r.ReadinessBudget = DefaultReadinessBudget
	case NoPods:
		r.ReadinessBudget = 0
	}
	r.Pace = orDuration(r.Pace, DefaultPace)
	r.ReadyTimeout = orDuration(r.ReadyTimeout, DefaultRollReadyTimeout)
	return r
}

// DefaultRollReadyTimeout is Rolling.ReadyTimeout's default: Kubernetes'
// progressDeadlineSeconds, as rollout.DefaultReadyTimeout.
const DefaultRollReadyTimeout = 10 * time.Minute

// batchParams clamps surge and unavailability to a batch of batch pods, as a
// workload rolling in batches must (provider/kubernetes does the same): the
// surge first, then what the batch leaves for unavailable pods, never both 0.
// Without it a batch of 3 among 30 pods would be described, and could be run,
// with "max surge 8, max unavailable 7": 15 pods at once, not 3.
func batchParams(surge, unavailable, batch int) progressive.RollingParams {
	s := min(surge, batch)
	u := min(unavailable, batch-s)
	if s+u == 0 {
		if surge > 0 {
			s = 1
		} else {
			u = 1
		}
	}
	return progressive.RollingParams{MaxSurge: s, MaxUnavailable: u}
}

func podsOr(v, def int) int {
	switch v {
	case 0:
		return def
	case NoPods:
		return 0
	}
	return v
}

func clampInt(f float64, lo, hi int) int {
	switch {
	case math.IsNaN(f) || f < float64(lo):
		return lo
	case f >= float64(hi):
		return hi
	}
	return int(f)
}

// Validate reports every problem of the options, under field paths such as
// "rolling.replicas".
func (r Rolling) Validate() error {
	v := validator{prefix: "rolling"}
	r.validate(&v)
	return v.err()
}

func (r Rolling) validate(v *validator) {
	before := v.pr.Len()
	if r.Replicas < 1 {
		v.add("replicas", r.Replicas, "must be at least 1: a rolling update replaces the workload's pods in batches")
	}
	v.maxReplicas("replicas", r.Replicas)
	switch {
	case r.BatchSize != 0 && r.BatchPercent != 0:
		v.add("batchSize", r.BatchSize, "set either batchSize or batchPercent, not both")
	case r.BatchSize < 0:
		v.add("batchSize", r.BatchSize, "must not be negative (zero selects the default)")
	case r.Replicas >= 1 && r.BatchSize > r.Replicas:
		v.add("batchSize", r.BatchSize, "must not exceed replicas (%d)", r.Replicas)
	case math.IsNaN(r.BatchPercent) || r.BatchPercent < 0 || r.BatchPercent > 100:
		v.add("batchPercent", r.BatchPercent, "must be above 0 and at most 100 (zero selects the default, 25)")
	}
	v.duration("pace", r.Pace)
	v.duration("readyTimeout", r.ReadyTimeout)
	if r.MaxSurge < NoPods {
		v.add("maxSurge", r.MaxSurge, "must be positive, 0 (default: 25%% of replicas) or -1 (none)")
	}
	if r.MaxUnavailable < NoPods {
		v.add("maxUnavailable", r.MaxUnavailable, "must be positive, 0 (default: 25%% of replicas) or -1 (none)")
	}
	v.maxReplicas("maxSurge", r.MaxSurge)
	v.maxReplicas("maxUnavailable", r.MaxUnavailable)
	if r.MaxSurge == NoPods && r.MaxUnavailable == NoPods {
		v.add("maxSurge", r.MaxSurge, "maxSurge and maxUnavailable must not both be none: no pod could ever be replaced")
	}
	if b := r.ReadinessBudget; b != NoPods && (math.IsNaN(b) || b < 0 || b > 100) {
		v.add("readinessBudget", b, "must be between 0 and 100 (zero selects the default, 5) or -1 (none)")
	}
	v.policy(r.OnInconclusive)
	v.checks(r.Checks, r.Hooks, false, "a rolling update")
	if v.pr.Len() == before {
		d := r.WithDefaults()
		if n := (r.Replicas-1)/d.BatchSize + 1; n > MaxBatches {
			v.add("batchSize", d.BatchSize, "makes %d batches of %d replicas; at most %d", n, r.Replicas, MaxBatches)
		}
	}
}

// Plan builds the rolling plan for target and release.
func (r Rolling) Plan(target progressive.Target, release progressive.Release) (progressive.Plan, error) {
	v := validator{prefix: "rolling"}
	v.args(target, release, true)
	r.validate(&v)
	if err := v.err(); err != nil {
		return progressive.Plan{}, err
	}
	d := r.WithDefaults()
	p := newPlan(NameRolling, target, release, r.Checks, r.Hooks, r.OnInconclusive)
	params := batchParams(d.MaxSurge, d.MaxUnavailable, d.BatchSize)
	analyze := len(r.Checks) > 0
	for updated := 0; updated < d.Replicas; {
		if d.Replicas-updated <= d.BatchSize {
			updated = d.Replicas
		} else {
			updated += d.BatchSize
		}
		n := fmt.Sprint(updated)
		p.Steps = append(p.Steps, progressive.Step{Name: "roll-" + n, Roll: &progressive.RollStep{
			Updated: updated, Params: params, ReadinessBudget: d.ReadinessBudget, ReadyTimeout: d.ReadyTimeout,
		}})
		switch {
		case analyze:
			p.Steps = append(p.Steps, progressive.Step{Name: "analyze-" + n, Analyze: &progressive.AnalyzeStep{Duration: d.Pace}})
		case updated < d.Replicas:
			p.Steps = append(p.Steps, progressive.Step{Name: "wait-" + n, Pause: &progressive.PauseStep{Duration: d.Pace}})
		}
	}

	var s strings.Builder
	batches := (d.Replicas-1)/d.BatchSize + 1
	fmt.Fprintf(&s, "Rolling update: %d pods move to %s %d at a time (%d batches; within a batch %s), ",
		d.Replicas, release.Version, d.BatchSize, batches, describeBatch(params))
	if analyze {
		fmt.Fprintf(&s, "with %s of analysis after each batch is ready; ", dur(d.Pace))
	} else {
		fmt.Fprintf(&s, "waiting %s between batches once each is ready; ", dur(d.Pace))
	}
	fmt.Fprintf(&s, "more than %s%% of pods failing readiness %s after a batch started undoes the update (the rollback ends once the previous revision is ready again)", pct(d.ReadinessBudget), dur(d.ReadyTimeout))
	if analyze {
		fmt.Fprintf(&s, "; %s", rollbackClause(r.Checks, r.OnInconclusive, "undoes it as well"))
	}
	s.WriteString(". No router is involved, so there is no promote or finalize step: the update is complete when the last batch is ready.")
	p.Reason = s.String()
	return finish(p)
}

// describeBatch says how a batch replaces pods, in words.
func describeBatch(p progressive.RollingParams) string {
	switch {
	case p.MaxUnavailable == 0:
		return fmt.Sprintf("up to %d new pod(s) start before old ones stop, none unavailable", p.MaxSurge)
	case p.MaxSurge == 0:
		return fmt.Sprintf("up to %d old pod(s) stop before new ones start, no extra pods", p.MaxUnavailable)
	}
	return fmt.Sprintf("up to %d new pod(s) beside the old and %d unavailable", p.MaxSurge, p.MaxUnavailable)
}
