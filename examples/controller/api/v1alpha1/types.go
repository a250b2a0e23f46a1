// Package v1alpha1 is the ProgressiveRollout API of examples/controller
// (group progressive.agentops.dev, version v1alpha1): one resource per
// release of a Deployment, carrying the canary's parameters and reporting
// the rollout in its status. The types and their DeepCopy methods are written
// by hand; config/crd holds the matching CustomResourceDefinition.
package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Group and Version of the API.
const (
	Group   = "progressive.agentops.dev"
	Version = "v1alpha1"
	// Kind and Resource name the type.
	Kind     = "ProgressiveRollout"
	Resource = "progressiverollouts"
)

// GroupVersion is the API's group and version.
var GroupVersion = schema.GroupVersion{Group: Group, Version: Version}

// CommandAnnotation carries a command for the rollout: "abort", "rollback",
// "promote" or "resume", optionally followed by ": " and a reason:
//
//	kubectl annotate progressiverollout checkout-v2 progressive.agentops.dev/command="abort: error budget spent" --overwrite
//
// The operator stores it with the rollout at once and reports it in
// status.observedCommand; a different value is a new command.
const CommandAnnotation = Group + "/command"

// AddToScheme registers the types with s.
func AddToScheme(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion, &ProgressiveRollout{}, &ProgressiveRolloutList{})
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}

// ProgressiveRollout is a canary release of a Deployment: create one per
// release. Its spec cannot change once created (a new release is a new
// ProgressiveRollout); deleting it aborts an unfinished rollout.
type ProgressiveRollout struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   ProgressiveRolloutSpec   `json:"spec"`
	Status ProgressiveRolloutStatus `json:"status,omitempty"`
}

// ProgressiveRolloutSpec is what to release, where, and how carefully.
type ProgressiveRolloutSpec struct {
	// Target is the Deployment (and the Service of the same name) to release.
	Target Target `json:"target"`
	// Release is the new version.
	Release Release `json:"release"`
	// Canary are the strategy's parameters.
	Canary Canary `json:"canary"`
	// Checks are measured during every soak; at least one is required.
	Checks []Check `json:"checks"`
}

// Target names a Deployment.
type Target struct {
	// Namespace of the Deployment; default (and only allowed value) the
	// ProgressiveRollout's own namespace.
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
}

// Release is a version of the target.
type Release struct {
	// Version labels the canary's metrics ({{.Version}} in the queries).
	Version string `json:"version"`
	// Image is the container image of the new version.
	Image string `json:"image"`
}

// Canary are the parameters of strategy.Canary: StepWeight, 2×StepWeight,
// ... up to MaxWeight, soaking at each, then promotion.
type Canary struct {
	// StepWeight is the first weight and the increment, in percent.
	StepWeight int32 `json:"stepWeight"`
	// MaxWeight is the last weight before promotion. Default 50.
	MaxWeight int32 `json:"maxWeight,omitempty"`
	// Soak is the analysis time at each weight, a Go duration ("15m").
	// Default 15m.
	Soak string `json:"soak,omitempty"`
	// Replicas of the canary Deployment when it is deployed. Default 1.
	Replicas int32 `json:"replicas,omitempty"`
}

// Check is one metric the canary must satisfy.
type Check struct {
	Name string `json:"name"`
	// Query is a PromQL template: {{.Namespace}}, {{.Service}},
	// {{.Version}}, {{.Role}} and {{.Interval}}.
	Query string `json:"query"`
	// Min and Max bound the value; at least one is required.
	Min *float64 `json:"min,omitempty"`
	Max *float64 `json:"max,omitempty"`
	// Interval between measurements, a Go duration. Default 1m.
	Interval string `json:"interval,omitempty"`
	// Window is how far back one measurement looks, a Go duration. Default:
	// the query's longest range selector, or Interval.
	Window string `json:"window,omitempty"`
}

// ProgressiveRolloutStatus is the rollout as the operator last saw it.
type ProgressiveRolloutStatus struct {
	// ObservedGeneration is the generation the status describes.
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// RolloutID is the rollout's id in the operator's state store.
	RolloutID string `json:"rolloutID,omitempty"`
	// Phase: Pending, Progressing, Held, RollingBack, Succeeded, RolledBack,
	// Aborted or Invalid.
	Phase string `json:"phase,omitempty"`
	// Step in flight, as "3/7".
	Step string `json:"step,omitempty"`
	// StepName is the step's name in the plan ("weight-25", "promote").
	StepName string `json:"stepName,omitempty"`
	// CanaryWeight is the canary's share of traffic in percent, as the
	// router reports it achieved; absent before the rollout started.
	CanaryWeight *float64 `json:"canaryWeight,omitempty"`
	// Message says why: the last decision, the rollback's reason, the holder
	// of a busy target.
	Message string `json:"message,omitempty"`
	// LastAnalysis is the latest measurement of each check.
	LastAnalysis *Analysis `json:"lastAnalysis,omitempty"`
	// ObservedCommand is the last CommandAnnotation value stored.
	ObservedCommand string `json:"observedCommand,omitempty"`
	// StartedAt is when the rollout started.
	StartedAt *metav1.Time `json:"startedAt,omitempty"`
	// Conditions: Ready, Progressing, Degraded.
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// Analysis is the latest measurement of each check.
type Analysis struct {
	Time   metav1.Time   `json:"time"`
	Checks []CheckResult `json:"checks"`
}

// CheckResult is one check's latest measurement.
type CheckResult struct {
	Name string `json:"name"`
	// Outcome: pass, fail, inconclusive, waiting.
	Outcome string `json:"outcome"`
	// Value is absent when there was none (no data, NaN, an error).
	Value   *float64 `json:"value,omitempty"`
	Message string   `json:"message,omitempty"`
}

// ProgressiveRolloutList is a list of ProgressiveRollouts.
type ProgressiveRolloutList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ProgressiveRollout `json:"items"`
}
