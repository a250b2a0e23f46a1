package rollout

import (
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/analysis"
)

// Outcome is how a rollout ended, as the decision record tells it.
type Outcome string

const (
	OutcomeInProgress Outcome = "in-progress"
	OutcomePromoted   Outcome = "promoted"
	OutcomeRolledBack Outcome = "rolled-back"
	OutcomeAborted    Outcome = "aborted"
)

// RecordContext says why the rollout was done this way (the guide's Law 3: context).
type RecordContext struct {
	Service  string              `json:"service"`
	Strategy string              `json:"strategy"`
	Reason   string              `json:"reason,omitempty"`
	Release  progressive.Release `json:"release"`
}

// Solution is what was applied: the plan, explained, and the providers that ran it.
type Solution struct {
	Steps     []string                  `json:"steps"`
	Providers progressive.ProviderNames `json:"providers"`
	// Checks describe the plan's checks in sentences, for people.
	Checks []string `json:"checks,omitempty"`
	// CheckSpecs are the checks as values, for programs (a timeline draws
	// their bounds): the plan's checks, then those only an analysis step
	// names, each once by name (the first wins), with the defaults that applied
	// filled in. Records written before they existed have none.
	CheckSpecs []progressive.Check `json:"checkSpecs,omitempty"`
}

// Decision is one choice the runner made, with its reason.
type Decision struct {
	Time   time.Time `json:"time"`
	Step   int       `json:"step"`
	Kind   string    `json:"kind,omitempty"`
	Action string    `json:"action"`
	Reason string    `json:"reason"`
	// CanaryWeight is the percentage of requests (0-100) the router sends to
	// the canary once this decision took effect, as the router reported it; nil
	// when the decision left the weight as it was. Zero after a finalize or a
	// rollback.
	CanaryWeight *float64 `json:"canaryWeight,omitempty"`
	// FlagPercent is the percentage of users (0-100) the flag this decision
	// changed serves the new variation, not counting targeted users and
	// segments; nil when the decision changed no flag's percentage. Zero after a
	// rollback.
	FlagPercent *float64 `json:"flagPercent,omitempty"`
}

// Duration marshals as a Go duration string ("1m30s") so records stay readable.
type Duration time.Duration

// MarshalJSON implements json.Marshaler.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// Readable is the duration rounded for a person: a measured 2.675121872s
// reads 2.68s, 11m51.6s reads 11m52s. Records keep the exact value.
func (d Duration) Readable() string {
	v := time.Duration(d)
	a := v.Abs()
	switch {
	case a >= time.Minute:
		v = v.Round(time.Second)
	case a >= 10*time.Second:
		v = v.Round(100 * time.Millisecond)
	case a >= time.Second:
		v = v.Round(10 * time.Millisecond)
	default:
		v = v.Round(time.Millisecond)
	}
	return formatDuration(v)
}

// UnmarshalJSON implements json.Unmarshaler.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("duration %q: %w", s, err)
	}
	*d = Duration(v)
	return nil
}

// Impact measures the rollout (the guide's Law 2: quantify).
type Impact struct {
	Outcome    Outcome   `json:"outcome"`
	StartedAt  time.Time `json:"startedAt"`
	FinishedAt time.Time `json:"finishedAt,omitzero"`
	Duration   Duration  `json:"duration"`
	RolledBack bool      `json:"rolledBack"`
	// LastGoodAt is the last passing measurement of the check that caused the
	// rollback (or the start of its step): the earliest the problem can have begun.
	LastGoodAt time.Time `json:"lastGoodAt,omitzero"`
	// DetectedAt is when the rollback was decided.
	DetectedAt time.Time `json:"detectedAt,omitzero"`
	// RecoveredAt is when traffic, flags and workloads were verified back on stable.
	RecoveredAt time.Time `json:"recoveredAt,omitzero"`
	// TimeToDetect is DetectedAt - LastGoodAt: an upper bound on detection latency.
	TimeToDetect *Duration `json:"timeToDetect,omitempty"`
	// TimeToRecover is RecoveredAt - LastGoodAt: how long users could have been hurt.
	TimeToRecover *Duration `json:"timeToRecover,omitempty"`
	// RollbackDuration is RecoveredAt - DetectedAt: how fast the undo was.
	RollbackDuration *Duration `json:"rollbackDuration,omitempty"`
	MaxCanaryWeight  float64   `json:"maxCanaryWeight"`
	MaxFlagPercent   float64   `json:"maxFlagPercent,omitempty"`
	StepsCompleted   int       `json:"stepsCompleted"`
	Measurements     int       `json:"measurements"`
}

// DecisionRecord is what every rollout leaves behind: context, solution,
// observations, decisions, learning and impact. It is JSON, and Aggregate folds many
// of them into rollback rate and mean times to detect and recover.
type DecisionRecord struct {
	ID           string                 `json:"id"`
	Context      RecordContext          `json:"context"`
	Solution     Solution               `json:"solution"`
	Observations []analysis.Measurement `json:"observations"`
	Decisions    []Decision             `json:"decisions"`
	Learning     []string               `json:"learning"`
	Impact       Impact                 `json:"impact"`
}

func newRecord(id string, plan progressive.Plan, started time.Time) DecisionRecord {
	checks := make([]string, 0, len(plan.Checks))
	for _, c := range plan.Checks {
		checks = append(checks, describeCheck(c))
	}
	return DecisionRecord{
		ID: id,
		Context: RecordContext{
			Service:  plan.Target.String(),
			Strategy: plan.Strategy,
			Reason:   plan.Reason,
			Release:  plan.Release,
		},
		Solution: Solution{
			Steps:      explainSteps(plan),
			Providers:  plan.Providers,
			Checks:     checks,
			CheckSpecs: checkSpecs(plan),
		},
		Observations: []analysis.Measurement{},
		Decisions:    []Decision{},
		Learning:     []string{},
		Impact:       Impact{Outcome: OutcomeInProgress, StartedAt: started},
	}
}

// Summary aggregates decision records of one service and strategy.
type Summary struct {
	Service      string  `json:"service"`
	Strategy     string  `json:"strategy"`
	Rollouts     int     `json:"rollouts"`
	Promoted     int     `json:"promoted"`
	RolledBack   int     `json:"rolledBack"`
	Aborted      int     `json:"aborted"`
	InProgress   int     `json:"inProgress"`
	RollbackRate float64 `json:"rollbackRate"`
	// MeanTimeToDetect and MeanTimeToRecover average over rolled-back rollouts
	// that measured them; zero when none did.
	MeanTimeToDetect  Duration `json:"meanTimeToDetect"`
	MeanTimeToRecover Duration `json:"meanTimeToRecover"`
	MeanDuration      Duration `json:"meanDuration"`
}

// Aggregate folds records into one Summary per service and strategy, plus a final
// Summary with Service "*" and Strategy "*" over all of them. The rollback rate
// counts rollbacks and aborts over finished rollouts.
func Aggregate(records []DecisionRecord) []Summary {
	type key struct{ service, strategy string }
	type acc struct {
		s                Summary
		ttd, ttr, dur    time.Duration
		nTTD, nTTR, nDur int
	}
	groups := map[key]*acc{}
	all := &acc{s: Summary{Service: "*", Strategy: "*"}}
	for _, r := range records {
		k := key{r.Context.Service, r.Context.Strategy}
		g := groups[k]
		if g == nil {
			g = &acc{s: Summary{Service: k.service, Strategy: k.strategy}}
			groups[k] = g
		}
		for _, a := range []*acc{g, all} {
			a.s.Rollouts++
			switch r.Impact.Outcome {
			case OutcomePromoted:
				a.s.Promoted++
			case OutcomeRolledBack:
				a.s.RolledBack++
			case OutcomeAborted:
				a.s.Aborted++
			default:
				a.s.InProgress++
			}
			if r.Impact.TimeToDetect != nil {
				a.ttd += time.Duration(*r.Impact.TimeToDetect)
				a.nTTD++
			}
			if r.Impact.TimeToRecover != nil {
				a.ttr += time.Duration(*r.Impact.TimeToRecover)
				a.nTTR++
			}
			if r.Impact.Outcome != OutcomeInProgress {
				a.dur += time.Duration(r.Impact.Duration)
				a.nDur++
			}
		}
	}
	finish := func(a *acc) Summary {
		s := a.s
		if finished := s.Rollouts - s.InProgress; finished > 0 {
			s.RollbackRate = float64(s.RolledBack+s.Aborted) / float64(finished)
		}
		if a.nTTD > 0 {
			s.MeanTimeToDetect = Duration(a.ttd / time.Duration(a.nTTD))
		}
		if a.nTTR > 0 {
			s.MeanTimeToRecover = Duration(a.ttr / time.Duration(a.nTTR))
		}
		if a.nDur > 0 {
			s.MeanDuration = Duration(a.dur / time.Duration(a.nDur))
		}
		return s
	}
	out := make([]Summary, 0, len(groups)+1)
	for _, g := range groups {
		out = append(out, finish(g))
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Service != out[j].Service {
			return out[i].Service < out[j].Service
		}
		return out[i].Strategy < out[j].Strategy
	})
	return append(out, finish(all))
}
