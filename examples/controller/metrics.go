package main

import (
	"context"
	"errors"
	"time"

	prom "github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/agentops/progressive/controller"
	v1alpha1 "github.com/agentops/progressive/examples/controller/api/v1alpha1"
	"github.com/agentops/progressive/rollout"
)

// rolloutMetrics are the operator's own series, beside controller-runtime's
// (reconcile counts and durations, workqueue depth):
//
//	progressive_rollouts{phase}                 gauge: ProgressiveRollouts by status phase
//	progressive_rollout_decisions_total{decision}  counter: the runner's decisions
//
// The gauge is computed at each scrape from the manager's informer cache, so
// it is right on every replica, leader or not, and never drifts; the counter
// counts what this replica decided (start, route, analysis_pass,
// analysis_fail, analysis_inconclusive, hold, rollback, promoted,
// rolled_back, aborted, command).
type rolloutMetrics struct {
	reader    client.Reader
	phases    *prom.Desc
	decisions *prom.CounterVec
}

// phases are the values of the phase label, all reported (zeros too), so a
// dashboard's series do not come and go.
var phases = []controller.Phase{
	controller.PhasePending, controller.PhaseProgressing, controller.PhaseHeld, controller.PhaseRollingBack,
	controller.PhaseSucceeded, controller.PhaseRolledBack, controller.PhaseAborted, controller.PhaseInvalid,
}

func newMetrics(reader client.Reader) *rolloutMetrics {
	return &rolloutMetrics{
		reader: reader,
		phases: prom.NewDesc("progressive_rollouts", "ProgressiveRollouts by status phase.", []string{"phase"}, nil),
		decisions: prom.NewCounterVec(prom.CounterOpts{
			Name: "progressive_rollout_decisions_total",
			Help: "Decisions the rollout runner made, by decision.",
		}, []string{"decision"}),
	}
}

func (m *rolloutMetrics) register(r prom.Registerer) error {
	return errors.Join(r.Register(m), r.Register(m.decisions))
}

// Describe implements prometheus.Collector (the phase gauge).
func (m *rolloutMetrics) Describe(ch chan<- *prom.Desc) { ch <- m.phases }

// Collect implements prometheus.Collector: it counts the cached objects. A
// cache that has not synced yet (a scrape during startup) yields nothing.
func (m *rolloutMetrics) Collect(ch chan<- prom.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var list v1alpha1.ProgressiveRolloutList
	if err := m.reader.List(ctx, &list); err != nil {
		return
	}
	counts := map[string]float64{}
	for _, r := range list.Items {
		counts[r.Status.Phase]++
	}
	for _, p := range phases {
		ch <- prom.MustNewConstMetric(m.phases, prom.GaugeValue, counts[string(p)], string(p))
	}
}

// Observe implements rollout.Observer (the decisions counter).
func (m *rolloutMetrics) Observe(_ context.Context, e rollout.Event) {
	if d := decision(e); d != "" {
		m.decisions.WithLabelValues(d).Inc()
	}
}

func decision(e rollout.Event) string {
	switch e.Type {
	case rollout.EventStarted:
		return "start"
	case rollout.EventRoutesChanged:
		return "route"
	case rollout.EventMeasured:
		if e.Verdict.Done() {
			return "analysis_" + string(e.Verdict)
		}
	case rollout.EventHeld:
		return "hold"
	case rollout.EventRollbackStarted:
		return "rollback"
	case rollout.EventRollbackCompleted:
		if e.Phase == rollout.PhaseAborted {
			return "aborted"
		}
		return "rolled_back"
	case rollout.EventSucceeded:
		return "promoted"
	case rollout.EventCommand:
		return "command"
	}
	return ""
}
