package controller

import (
	"fmt"
	"math"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/agentops/progressive/analysis"
	"github.com/agentops/progressive/rollout"
)

// Phase is where a rollout stands, spelled the way Kubernetes resources spell
// phases (a status field and a printer column).
type Phase string

const (
	// PhasePending: the rollout has not started; Status.Reason says why
	// (ReasonTargetBusy: another rollout holds the target; ReasonStartFailed: a
	// store or metrics backend did not answer). Start is tried again.
	PhasePending Phase = "Pending"
	// PhaseInvalid: the plan was rejected (Binding.Plan or Runner.Start said
	// so); nothing changed, and nothing is tried until the object changes.
	PhaseInvalid Phase = "Invalid"
	// The phases of rollout.Phase.
	PhaseProgressing Phase = "Progressing"
	PhaseHeld        Phase = "Held"
	PhaseRollingBack Phase = "RollingBack"
	PhaseSucceeded   Phase = "Succeeded"
	PhaseRolledBack  Phase = "RolledBack"
	PhaseAborted     Phase = "Aborted"
)

// PhaseOf spells a runner phase as a resource's status does.
func PhaseOf(p rollout.Phase) Phase {
	switch p {
	case rollout.PhaseProgressing:
		return PhaseProgressing
	case rollout.PhaseHeld:
		return PhaseHeld
	case rollout.PhaseRollingBack:
		return PhaseRollingBack
	case rollout.PhaseSucceeded:
		return PhaseSucceeded
	case rollout.PhaseRolledBack:
		return PhaseRolledBack
	case rollout.PhaseAborted:
		return PhaseAborted
	}
	return Phase(p)
}

// Terminal reports whether the phase is an end: the rollout ended, or its plan
// is invalid.
func (p Phase) Terminal() bool {
	switch p {
	case PhaseSucceeded, PhaseRolledBack, PhaseAborted, PhaseInvalid:
		return true
	}
	return false
}

// Reasons of conditions besides the phases themselves.
const (
	// ReasonTargetBusy: an unfinished rollout holds the target (Pending).
	ReasonTargetBusy = "TargetBusy"
	// ReasonStartFailed: Start failed transiently (Pending).
	ReasonStartFailed = "StartFailed"
	// ReasonPlanRejected: the plan is invalid (Invalid).
	ReasonPlanRejected = "PlanRejected"
	// ReasonHealthy is Degraded=False's reason.
	ReasonHealthy = "Healthy"
)

// Condition types the Reconciler reports.
const (
	// ConditionReady is True once the release was promoted and serves all
	// traffic.
	ConditionReady = "Ready"
	// ConditionProgressing is True while the runner moves the rollout (steps
	// or the rollback).
	ConditionProgressing = "Progressing"
	// ConditionDegraded is True when the rollout is held, rolls back or
	// ended without a promotion, or its plan is invalid.
	ConditionDegraded = "Degraded"
)

// Status is a rollout as a resource's status reports it. StatusOf computes it
// from a stored state; the Reconciler hands it to Binding.SetStatus.
type Status struct {
	// RolloutID is the rollout's id in the runner's store.
	RolloutID string
	Phase     Phase
	// Reason is a CamelCase word for the phase: the phase itself, or
	// ReasonTargetBusy, ReasonStartFailed or ReasonPlanRejected.
	Reason string
	// Step is the 1-based index of the step in flight (the last step once the
	// rollout succeeded), Steps the plan's number of steps; both zero before
	// the start.
	Step, Steps int
	// StepName is the step's name in the plan ("weight-25", "promote").
	StepName string
	// CanaryWeight is the canary's share of traffic, in percent, as the
	// router reported it achieved (2 of 22 pods are 9.09%).
	CanaryWeight float64
	// Message says why, in a sentence: the last decision, the rollback's
	// reason, why the rollout holds, or why it did not start.
	Message string
	// Analysis is the latest measurement of each check; nil before the first.
	Analysis *Analysis
	// Conditions are Ready, Progressing and Degraded, without transition
	// times (SetConditions keeps or sets them).
	Conditions []metav1.Condition
	// StartedAt and UpdatedAt are the rollout's; zero before the start.
	StartedAt, UpdatedAt time.Time
	// ObservedGeneration is the generation of the object reconciled.
	ObservedGeneration int64
	// Command is the ID of a Command stored during this reconcile; empty
	// otherwise (keep the last non-empty one, so Commander does not return
	// it again).
	Command string
	// State is the rollout's stored state; nil before the start.
	State *rollout.State
}

// StepText is the step as a printer column shows it: "3/6", or "" before the
// start.
func (s Status) StepText() string {
	if s.Steps == 0 {
		return ""
	}
	return fmt.Sprintf("%d/%d", s.Step, s.Steps)
}

// Analysis is the latest measurement of each check of a rollout.
type Analysis struct {
	// Time of the newest measurement.
	Time   time.Time
	Checks []CheckResult
}

// CheckResult is one check's latest measurement.
type CheckResult struct {
	Name    string
	Outcome analysis.Outcome
	// Value is nil when there was none (no data, NaN, an error).
	Value *float64
	// Reason is the measurement's sentence ("error-rate 2.31 > max 1").
	Reason string
	Time   time.Time
}

// StatusOf is the status of a stored rollout.
func StatusOf(st rollout.State) Status {
	s := Status{
		RolloutID: st.ID,
		Phase:     PhaseOf(st.Phase),
		Steps:     len(st.Plan.Steps),
		StartedAt: st.StartedAt,
		UpdatedAt: st.UpdatedAt,
		State:     &st,
	}
	s.Reason = string(s.Phase)
	s.Step = min(st.Step.Index+1, s.Steps)
	if s.Step >= 1 {
		s.StepName = st.Plan.Steps[s.Step-1].Name
	}
	if st.Applied.Routes != nil {
		s.CanaryWeight = st.Applied.Routes.CanaryWeight
	}
	switch {
	case st.Phase == rollout.PhaseHeld && st.HeldReason != "":
		s.Message = st.HeldReason
	case st.Rollback != nil && st.Rollback.Reason != "":
		s.Message = st.Rollback.Reason
		if st.Phase == rollout.PhaseRollingBack && st.Rollback.LastError != "" {
			s.Message += " (retrying: " + st.Rollback.LastError + ")"
		}
	case st.Step.LastError != "":
		s.Message = st.Step.LastError
	case len(st.Record.Decisions) > 0:
		s.Message = st.Record.Decisions[len(st.Record.Decisions)-1].Reason
	}
	s.Analysis = analysisOf(st)
	s.Conditions = conditionsOf(s)
	return s
}

// analysisOf finds each check's latest measurement: in the observations the
// state keeps (the newest ones, for stores without an ObservationLog), else
// in the step's analysis counters, which have the outcome but not the value.
func analysisOf(st rollout.State) *Analysis {
	var a Analysis
	seen := map[string]bool{}
	obs := st.Record.Observations
	for i := len(obs) - 1; i >= 0; i-- {
		m := obs[i]
		if seen[m.Check] {
			continue
		}
		seen[m.Check] = true
		c := CheckResult{Name: m.Check, Outcome: m.Outcome, Reason: m.Reason, Time: m.Time}
		if !math.IsNaN(m.Value) && !math.IsInf(m.Value, 0) {
			v := m.Value
			c.Value = &v
		}
		a.Checks = append(a.Checks, c)
		if m.Time.After(a.Time) {
			a.Time = m.Time
		}
	}
	if len(a.Checks) == 0 && st.Step.Analysis != nil {
		for _, cs := range st.Step.Analysis.Checks {
			if cs.Last == "" {
				continue
			}
			a.Checks = append(a.Checks, CheckResult{Name: cs.Name, Outcome: cs.Last, Time: cs.LastAt})
			if cs.LastAt.After(a.Time) {
				a.Time = cs.LastAt
			}
		}
	}
	if len(a.Checks) == 0 {
		return nil
	}
	// In the order they were measured rather than newest first.
	for i, j := 0, len(a.Checks)-1; i < j; i, j = i+1, j-1 {
		a.Checks[i], a.Checks[j] = a.Checks[j], a.Checks[i]
	}
	return &a
}

// conditionsOf derives Ready, Progressing and Degraded from the phase.
func conditionsOf(s Status) []metav1.Condition {
	reason := s.Reason
	if reason == "" {
		reason = string(s.Phase)
	}
	cond := func(typ string, ok bool, why, msg string) metav1.Condition {
		st := metav1.ConditionFalse
		if ok {
			st = metav1.ConditionTrue
		}
		return metav1.Condition{Type: typ, Status: st, Reason: why, Message: msg, ObservedGeneration: s.ObservedGeneration}
	}
	msg := s.Message
	ready := cond(ConditionReady, s.Phase == PhaseSucceeded, reason, msg)
	progressing := cond(ConditionProgressing, s.Phase == PhaseProgressing || s.Phase == PhaseRollingBack, reason, msg)
	degraded := false
	switch s.Phase {
	case PhaseHeld, PhaseRollingBack, PhaseRolledBack, PhaseAborted, PhaseInvalid:
		degraded = true
	}
	degradedReason, degradedMsg := reason, msg
	if !degraded {
		degradedReason, degradedMsg = ReasonHealthy, ""
	}
	return []metav1.Condition{ready, progressing, cond(ConditionDegraded, degraded, degradedReason, degradedMsg)}
}

// SetConditions writes conds into *dst with meta.SetStatusCondition: a
// condition whose status did not change keeps its LastTransitionTime, so an
// unchanged rollout leaves the object's status unchanged and costs no write.
// It reports whether *dst changed.
func SetConditions(dst *[]metav1.Condition, conds []metav1.Condition) bool {
	changed := false
	for _, c := range conds {
		if meta.SetStatusCondition(dst, c) {
			changed = true
		}
	}
	return changed
}
