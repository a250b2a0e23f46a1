package analysis

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/agentops/progressive"
)

// Judge measures a statistical check: a comparison of canary and stable samples
// that thresholds cannot express (a Mann-Whitney U test, a sequential probability
// ratio test). A check selects its judge with progressive.JudgeSpec.Kind; the
// engine's Options.Judges maps kinds to judges.
//
// Measure takes one measurement. It returns the measurement (the engine fills in
// Check, Time and Severity, and Query when left empty), the judge's new state
// (stored in CheckState.Judge and handed back as JudgeInput.State next time; nil
// keeps none), and an error only when it could not measure at all. Errors follow
// the source's rules: one wrapping progressive.ErrInvalid stops the analysis as a
// configuration error; any other becomes an inconclusive measurement and leaves the
// judge's state as it was.
//
// A judge reports missing samples as OutcomeInconclusive with Status
// progressive.StatusNoData or progressive.StatusNaN; the engine then applies the
// check's NoData policy. Whatever the judge says, a measurement with such a status
// never counts as a pass.
//
// A Judge must be safe for concurrent use by several engines: keep per-analysis
// data in the returned state, not in the judge.
type Judge interface {
	Measure(ctx context.Context, in JudgeInput) (Measurement, json.RawMessage, error)
}

// JudgeFunc adapts a function to a Judge.
type JudgeFunc func(ctx context.Context, in JudgeInput) (Measurement, json.RawMessage, error)

// Measure calls f.
func (f JudgeFunc) Measure(ctx context.Context, in JudgeInput) (Measurement, json.RawMessage, error) {
	return f(ctx, in)
}

// ParamValidator is implemented by judges that check their JudgeSpec.Params before
// the analysis starts. The error should be a *progressive.ValidationError with
// fields relative to the params ("alpha"), or any error wrapping ErrInvalid.
type ParamValidator interface {
	ValidateParams(params map[string]float64) error
}

// JudgeInput is what a judge gets for one measurement.
type JudgeInput struct {
	// Check is the check being measured, with its defaults applied; Check.Judge
	// holds the judge's kind and parameters.
	Check progressive.Check
	// Canary and Stable are the check's query rendered for each role, evaluated at
	// Now.
	Canary progressive.Query
	Stable progressive.Query
	// Source is the check's metric source.
	Source progressive.MetricSource
	// Range is Source as a RangeQuerier, or nil when the source cannot return the
	// samples of a window.
	Range progressive.RangeQuerier
	// Now is the evaluation instant; StartedAt is when the analysis step began,
	// so a judge can compare the samples of [StartedAt, Now] or of the last
	// Check.Interval.
	Now       time.Time
	StartedAt time.Time
	// State is what the judge returned last time for this check in this analysis;
	// nil the first time.
	State json.RawMessage
}

// ValidateJudges checks that every check with a JudgeSpec names a judge kind of
// judges, and lets judges that implement ParamValidator check their parameters. The
// error is a *progressive.ValidationError whose problems name their field
// ("checks[2].judge.kind") and, for an unknown kind, the known ones.
func ValidateJudges(checks []progressive.Check, judges map[string]Judge) error {
	var p progressive.Problems
	for i, c := range checks {
		if c.Judge == nil || c.Judge.Kind == "" {
			continue // an empty kind is progressive.Check.Validate's to report
		}
		field := fmt.Sprintf("checks[%d].judge", i)
		j, ok := judges[c.Judge.Kind]
		if !ok || j == nil {
			p.Add(field+".kind", c.Judge.Kind, "unknown judge kind; %s", knownJudges(judges))
			continue
		}
		if v, ok := j.(ParamValidator); ok {
			p.Merge(field+".params", v.ValidateParams(c.Judge.Params))
		}
	}
	return p.Err()
}

func knownJudges(judges map[string]Judge) string {
	if len(judges) == 0 {
		return "no judges are configured (Options.Judges)"
	}
	return "known kinds: " + strings.Join(slices.Sorted(maps.Keys(judges)), ", ")
}
