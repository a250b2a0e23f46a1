package analysis

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/agentops/progressive"
)

// Outcome is the result of one measurement. There are three, and only one of them
// lets a rollout advance: missing data, NaN and an unreachable backend are never a
// pass.
type Outcome string

const (
	// OutcomePass means the value was within the check's bounds (or the judge found
	// no significant regression).
	OutcomePass Outcome = "pass"
	// OutcomeFail means the value was outside the bounds, or there was no data and
	// the check's NoData policy is fail.
	OutcomeFail Outcome = "fail"
	// OutcomeInconclusive means the measurement could not tell: no data or NaN under
	// the default NoData policy, or a transient error from the metric source.
	OutcomeInconclusive Outcome = "inconclusive"
	// OutcomeWaiting means there was not enough data yet to judge, during the
	// check's warm-up: no series at all (a fresh canary's error counter exists
	// only after its first error) or fewer samples than Check.Samples.Min. It is
	// not a pass (the step cannot pass on it) and does not count toward the
	// inconclusive limit; after the warm-up the same answer is inconclusive.
	OutcomeWaiting Outcome = "waiting"
)

// Measurement is one observation of one check, as it goes into the decision record.
//
// Value, Baseline, Compared and Details may hold NaN or ±Inf (a ratio x/0 is +Inf).
// encoding/json refuses those, so Measurement has its own JSON methods: finite
// numbers are written as JSON numbers, NaN, +Inf and -Inf as the strings "NaN",
// "+Inf" and "-Inf" (the convention of the Prometheus HTTP API), and read back the
// same way. Marshaling a Measurement never fails because of a number.
type Measurement struct {
	// Check is the name of the check measured.
	Check string
	// Time is the evaluation instant (the now given to Tick).
	Time time.Time
	// Query is the rendered canary expression. Queries carry no credentials: those
	// belong to the MetricSource.
	Query string
	// Status is the status of the canary result; empty when the query failed.
	Status progressive.ResultStatus
	// Value is the canary value; NaN when there is none (no data, NaN, an error).
	Value float64
	// Samples is the sample count behind the value, for checks with
	// Check.Samples.
	Samples *float64
	// Baseline is the stable value, for baseline checks.
	Baseline *float64
	// Compared is the ratio or difference of canary and stable, for baseline
	// checks; it is what the thresholds judged.
	Compared *float64
	// Outcome of the measurement.
	Outcome Outcome
	// Severity of the check: a failing warn measurement never fails the analysis.
	Severity progressive.Severity
	// Reason is a sentence for people: "error-rate 2.31 > max 1",
	// "no data (empty result)", "backend unreachable: ...".
	Reason string
	// Error is the text of the source's error, for transient errors.
	Error string
	// Details are extra numbers from judges (p-value, effect size, ...).
	Details map[string]float64
}

// measurementJSON is the wire shape of a Measurement.
type measurementJSON struct {
	Check    string                   `json:"check"`
	Time     time.Time                `json:"time"`
	Query    string                   `json:"query,omitempty"`
	Status   progressive.ResultStatus `json:"status,omitempty"`
	Value    jsonFloat                `json:"value"`
	Samples  *jsonFloat               `json:"samples,omitempty"`
	Baseline *jsonFloat               `json:"baseline,omitempty"`
	Compared *jsonFloat               `json:"compared,omitempty"`
	Outcome  Outcome                  `json:"outcome"`
	Severity progressive.Severity     `json:"severity,omitempty"`
	Reason   string                   `json:"reason,omitempty"`
	Error    string                   `json:"error,omitempty"`
	Details  map[string]jsonFloat     `json:"details,omitempty"`
}

// MarshalJSON writes the measurement with camelCase keys; non-finite numbers become
// the strings "NaN", "+Inf" and "-Inf".
func (m Measurement) MarshalJSON() ([]byte, error) {
	w := measurementJSON{
		Check:    m.Check,
		Time:     m.Time,
		Query:    m.Query,
		Status:   m.Status,
		Value:    jsonFloat(m.Value),
		Samples:  (*jsonFloat)(m.Samples),
		Baseline: (*jsonFloat)(m.Baseline),
		Compared: (*jsonFloat)(m.Compared),
		Outcome:  m.Outcome,
		Severity: m.Severity,
		Reason:   m.Reason,
		Error:    m.Error,
	}
	if m.Details != nil {
		w.Details = make(map[string]jsonFloat, len(m.Details))
		for k, v := range m.Details {
			w.Details[k] = jsonFloat(v)
		}
	}
	return json.Marshal(w)
}

// UnmarshalJSON reads what MarshalJSON wrote. A missing value reads as NaN.
func (m *Measurement) UnmarshalJSON(data []byte) error {
	w := measurementJSON{Value: jsonFloat(math.NaN())}
	if err := json.Unmarshal(data, &w); err != nil {
		return err
	}
	*m = Measurement{
		Check:    w.Check,
		Time:     w.Time,
		Query:    w.Query,
		Status:   w.Status,
		Value:    float64(w.Value),
		Samples:  (*float64)(w.Samples),
		Baseline: (*float64)(w.Baseline),
		Compared: (*float64)(w.Compared),
		Outcome:  w.Outcome,
		Severity: w.Severity,
		Reason:   w.Reason,
		Error:    w.Error,
	}
	if w.Details != nil {
		m.Details = make(map[string]float64, len(w.Details))
		for k, v := range w.Details {
			m.Details[k] = float64(v)
		}
	}
	return nil
}

// jsonFloat is a float64 whose JSON form survives NaN and ±Inf.
type jsonFloat float64

func (f jsonFloat) MarshalJSON() ([]byte, error) {
	v := float64(f)
	switch {
	case math.IsNaN(v):
		return []byte(`"NaN"`), nil
	case math.IsInf(v, 1):
		return []byte(`"+Inf"`), nil
	case math.IsInf(v, -1):
		return []byte(`"-Inf"`), nil
	}
	return json.Marshal(v)
}

func (f *jsonFloat) UnmarshalJSON(data []byte) error {
	if bytes.Equal(data, []byte("null")) {
		return nil
	}
	if len(data) > 0 && data[0] == '"' {
		var s string
		if err := json.Unmarshal(data, &s); err != nil {
			return err
		}
		switch s {
		case "NaN":
			*f = jsonFloat(math.NaN())
		case "+Inf", "Inf":
			*f = jsonFloat(math.Inf(1))
		case "-Inf":
			*f = jsonFloat(math.Inf(-1))
		default:
			v, err := strconv.ParseFloat(s, 64)
			if err != nil {
				return fmt.Errorf("analysis: %q is not a number", s)
			}
			*f = jsonFloat(v)
		}
		return nil
	}
	var v float64
	if err := json.Unmarshal(data, &v); err != nil {
		return err
	}
	*f = jsonFloat(v)
	return nil
}

// formatNumber writes a number the way reasons show it: 2.31, 1e-06, +Inf, NaN.
// Exact when short; floating-point noise (1.0999999999999999 for 0.22/0.2) is cut
// to ten significant digits.
func formatNumber(v float64) string {
	switch {
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	}
	if s := strconv.FormatFloat(v, 'g', -1, 64); len(s) <= 12 {
		return s
	}
	return strconv.FormatFloat(v, 'g', 10, 64)
}
