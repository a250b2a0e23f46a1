package anchors

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/agentops/progressive/internal/decisionbench"
	"github.com/agentops/progressive/internal/promtest"
)

// This file holds the helpers of the models' validation (validate_test.go):
// the decisionbench models configured as the contenders configure the live
// objects, the scripted metric stream a scenario produces, and the part of a
// run both sides define unambiguously (the canary weights set, the outcome).

// FlaggerModel is the decisionbench model of the Canary createCanary seeds
// with s: its interval, threshold, stepWeight and maxWeight, and the built-in
// request-success-rate metric with thresholdRange.min.
func FlaggerModel(s FlaggerSettings) decisionbench.FlaggerConfig {
	return decisionbench.FlaggerConfig{
		Interval:   s.Interval,
		Threshold:  s.Threshold,
		StepWeight: s.StepWeight,
		MaxWeight:  s.MaxWeight,
		Metrics: []decisionbench.FlaggerMetric{{
			Name: "request-success-rate", Min: decisionbench.Float(s.MinSuccessRate),
		}},
	}
}

// ArgoModel is the decisionbench model of the Rollout and AnalysisTemplate
// the Argo contender seeds with s: argoSteps (a setWeight and the pause after
// it are one model step), the background analysis from argoStartingStep, and
// the template's one metric with its interval, success condition and limits
// (unset: Argo's defaults, which are the model's zero values).
func ArgoModel(s ArgoSettings) (decisionbench.ArgoConfig, error) {
	var cfg decisionbench.ArgoConfig
	cfg.StartingStep = -1
	for i, st := range argoSteps() {
		m := st.(map[string]any)
		if w, ok := m["setWeight"]; ok {
			cfg.Steps = append(cfg.Steps, decisionbench.ArgoStep{SetWeight: float64(w.(int64))})
		} else {
			if len(cfg.Steps) == 0 {
				return cfg, fmt.Errorf("argo model: a pause before any setWeight")
			}
			d, err := time.ParseDuration(m["pause"].(map[string]any)["duration"].(string))
			if err != nil {
				return cfg, fmt.Errorf("argo model: pause: %w", err)
			}
			cfg.Steps[len(cfg.Steps)-1].Pause += d
		}
		// A setWeight takes no time: the live step index, setWeight or the
		// pause after it, begins when the model's step does.
		if i == argoStartingStep {
			cfg.StartingStep = len(cfg.Steps) - 1
		}
	}
	if cfg.StartingStep < 0 {
		cfg.StartingStep = len(cfg.Steps)
	}
	a := s.Analysis
	cond, err := parseArgoCondition(a.SuccessCondition)
	if err != nil {
		return cfg, err
	}
	m := decisionbench.ArgoMetric{Name: a.Name, Interval: a.Interval, SuccessCondition: &cond, ConsecutiveErrorLimit: a.ConsecutiveErrorLimit}
	if a.FailureLimit != nil {
		m.FailureLimit = *a.FailureLimit
	}
	if a.InconclusiveLimit != nil {
		m.InconclusiveLimit = *a.InconclusiveLimit
	}
	cfg.Metrics = []decisionbench.ArgoMetric{m}
	return cfg, nil
}

// parseArgoCondition reads "result[0] <op> <value>".
func parseArgoCondition(s string) (decisionbench.Condition, error) {
	var c decisionbench.Condition
	f := strings.Fields(s)
	if len(f) != 3 || f[0] != "result[0]" {
		return c, fmt.Errorf("argo model: condition %q is not result[0] <op> <value>", s)
	}
	switch f[1] {
	case "<", "<=", ">", ">=":
		c.Op = f[1]
	default:
		return c, fmt.Errorf("argo model: condition %q: operator %q", s, f[1])
	}
	if _, err := fmt.Sscan(f[2], &c.Value); err != nil {
		return c, fmt.Errorf("argo model: condition %q: %w", s, err)
	}
	return c, nil
}

// errorPercent is the canary's error percentage under sc at weight w, the
// regression having begun when the weight reached sc.RegressAt (the plans
// only go up until the end, so at or above it).
func errorPercent(sc Scenario, w float64) float64 {
	if sc.RegressAt > 0 && w >= sc.RegressAt {
		return sc.Regression.ErrorPercent
	}
	return sc.Canary.ErrorPercent
}

// FlaggerStream is sc's metric stream as Flagger's request-success-rate reads
// it: the percentage of non-5xx canary requests over the analysis interval.
// Flagger changes the weight only at a tick, after its analysis, so the
// interval before a query was served at the query's weight (the regression
// beginning the moment its weight was set).
func FlaggerStream(sc Scenario) decisionbench.Stream {
	return func(q decisionbench.Query) decisionbench.Measurement {
		if sc.Canary.NoTraffic {
			return decisionbench.Measurement{NoData: true}
		}
		return decisionbench.Measurement{Value: 100 - errorPercent(sc, q.Weight)}
	}
}

// ArgoStream is sc's metric stream as ArgoErrorRateQuery reads it under the
// model's step schedule (cfg): the App of promtest simulated from the first
// step (100 req/s, the canary's share its weight, errors booked in whole
// requests as promtest.App books them, every 50 ms), the query's sum(rate(5xx))
// / sum(rate(all)) over window. A series needs two samples of the stack's 1 s
// scrape in the window: until the canary's first 5xx has been scraped twice
// the numerator is empty and so is the result (NoData); a window without
// canary requests is NaN.
func ArgoStream(sc Scenario, cfg decisionbench.ArgoConfig, window time.Duration) decisionbench.Stream {
	type change struct {
		at time.Duration
		w  float64
	}
	var changes []change
	var t time.Duration
	for _, s := range cfg.Steps {
		changes = append(changes, change{t, s.SetWeight})
		t += s.Pause
	}
	weight := func(at time.Duration) float64 {
		w := 0.0
		for _, c := range changes {
			if c.at <= at {
				w = c.w
			}
		}
		return w
	}
	return func(q decisionbench.Query) decisionbench.Measurement {
		return simulateWindow(sc, weight, q.At, window)
	}
}

// simulateWindow books the canary's requests from 0 to at and reads the
// error ratio over [at-window, at].
func simulateWindow(sc Scenario, weight func(time.Duration) float64, at, window time.Duration) decisionbench.Measurement {
	const (
		tick   = 50 * time.Millisecond
		scrape = time.Second
	)
	if sc.Canary.NoTraffic {
		return decisionbench.Measurement{NoData: true}
	}
	b := sc.Canary
	var (
		reqCarry, errCarry float64
		firstReq, firstErr = time.Duration(-1), time.Duration(-1)
		regressed          bool
		// cumulative requests and errors at the end of each tick
		reqs, errs     []float64
		totalR, totalE float64
	)
	for now := tick; now <= at; now += tick {
		w := weight(now - tick)
		if sc.RegressAt > 0 && !regressed && w == sc.RegressAt {
			regressed, b = true, sc.Regression
		}
		if !b.NoTraffic {
			reqCarry += promtest.DefaultRPS * tick.Seconds() * w / 100
			n := math.Floor(reqCarry)
			reqCarry -= n
			if n > 0 {
				errCarry += n * b.ErrorPercent / 100
				e := math.Min(math.Floor(errCarry), n)
				errCarry -= e
				totalR += n
				totalE += e
				if firstReq < 0 {
					firstReq = now
				}
				if e > 0 && firstErr < 0 {
					firstErr = now
				}
			}
		}
		reqs = append(reqs, totalR)
		errs = append(errs, totalE)
	}
	// cum returns the cumulative count at time t (from the tick ending at or
	// before it).
	cum := func(s []float64, t time.Duration) float64 {
		i := int(t/tick) - 1
		if i < 0 {
			return 0
		}
		return s[min(i, len(s)-1)]
	}
	if firstErr < 0 || at-firstErr < scrape || firstReq < 0 || at-firstReq < scrape {
		return decisionbench.Measurement{NoData: true}
	}
	from := at - window
	dr := cum(reqs, at) - cum(reqs, max(from, firstReq))
	de := cum(errs, at) - cum(errs, max(from, firstErr))
	if dr == 0 {
		return decisionbench.Measurement{Value: math.NaN()}
	}
	return decisionbench.Measurement{Value: de / dr}
}

// Decided is what a run and a model both define unambiguously: the canary
// weights set, in order, repeats collapsed (from 0 before the rollout), and
// how it ended.
type Decided struct {
	Weights []float64
	Outcome Outcome
}

func (d Decided) String() string {
	var b strings.Builder
	for i, w := range d.Weights {
		if i > 0 {
			b.WriteString(" → ")
		}
		fmt.Fprintf(&b, "%g", w)
	}
	return fmt.Sprintf("%s, %s", b.String(), d.Outcome)
}

func appendWeight(ws []float64, w float64) []float64 {
	if n := len(ws); n > 0 && ws[n-1] == w {
		return ws
	}
	return append(ws, w)
}

// ModelDecided is a replay's weights and outcome: promoted at a
// KindPromote (Argo) or KindSucceed (Flagger), rolled back at a
// KindRollback, held otherwise.
func ModelDecided(ds []decisionbench.Decision) Decided {
	d := Decided{Outcome: Held}
	for _, x := range ds {
		d.Weights = appendWeight(d.Weights, x.Weight)
		switch x.Kind {
		case decisionbench.KindSucceed:
			d.Outcome = Promoted
		case decisionbench.KindPromote:
			if x.Weight == 100 { // Argo: fully promoted
				d.Outcome = Promoted
			}
		case decisionbench.KindRollback:
			d.Outcome = RolledBack
		}
	}
	return d
}

// RunDecided is a live run's weights and outcome. Argo's promotion routes
// everything to the canary (100%) and then, once the stable Service has the
// new pods, back to the stable route (0%): that last 0 is no decision (the
// model ends at the full promotion) and is left out.
func RunDecided(r Run) Decided {
	d := Decided{Outcome: r.Outcome}
	for _, w := range r.Weights {
		d.Weights = appendWeight(d.Weights, w.Weight)
	}
	if n := len(d.Weights); n >= 2 && d.Weights[n-1] == 0 && d.Weights[n-2] == 100 {
		d.Weights = d.Weights[:n-1]
	}
	return d
}

// scriptString describes a Scenario's script, for the logs.
func scriptString(sc Scenario) string {
	s := fmt.Sprintf("canary %g%% errors", sc.Canary.ErrorPercent)
	if sc.RegressAt > 0 {
		s += fmt.Sprintf(", %g%% from the moment the VirtualService shows %g%%", sc.Regression.ErrorPercent, sc.RegressAt)
	}
	return s + fmt.Sprintf(" (%g req/s split by weight)", promtest.DefaultRPS)
}
