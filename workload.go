package progressive

import "context"

// VersionStatus counts the pods of one side of a rollout.
type VersionStatus struct {
	Version  string `json:"version,omitempty"`
	Replicas int    `json:"replicas"`
	Ready    int    `json:"ready"`
	// Updated counts pods already running the desired template.
	Updated int `json:"updated"`
}

// WorkloadStatus is what a Workload reports about both sides.
type WorkloadStatus struct {
	Stable VersionStatus `json:"stable"`
	Canary VersionStatus `json:"canary"`
	// ProgressDeadlineExceeded is set when the platform gave up waiting for the
	// canary (Kubernetes' ProgressDeadlineExceeded condition).
	ProgressDeadlineExceeded bool `json:"progressDeadlineExceeded,omitempty"`
}

// Workload is what gets deployed: the stable version and a canary beside it.
type Workload interface {
	Name() string
	// DeployCanary creates or updates the canary from the stable version with the
	// release applied, at replicas pods.
	DeployCanary(ctx context.Context, target Target, release Release, replicas int) error
	// ScaleCanary sets the canary's pod count.
	ScaleCanary(ctx context.Context, target Target, replicas int) error
	// Status reads both sides.
	Status(ctx context.Context, target Target) (WorkloadStatus, error)
	// Promote makes the stable version take the canary's release and waits for
	// nothing: the runner polls Status until the stable side is updated and ready.
	Promote(ctx context.Context, target Target) error
	// RollbackCanary scales the canary to zero and leaves stable untouched.
	RollbackCanary(ctx context.Context, target Target) error
}

// RollingParams bound an in-place rolling update (Kubernetes' RollingUpdate fields,
// in pods).
type RollingParams struct {
	MaxSurge       int `json:"maxSurge"`
	MaxUnavailable int `json:"maxUnavailable"`
}

// RollStatus describes an in-place rolling update.
type RollStatus struct {
	Desired int `json:"desired"`
	// Updated pods run the new release; UpdatedReady of them pass readiness.
	Updated      int `json:"updated"`
	UpdatedReady int `json:"updatedReady"`
	// Unready counts pods of any version failing readiness.
	Unready  int   `json:"unready"`
	Revision int64 `json:"revision"`
}

// Roller is implemented by workloads that update in place, batch by batch, and can
// undo to an earlier revision (kubectl rollout undo [--to-revision]).
type Roller interface {
	// RollTo brings the number of pods running release up to updated.
	RollTo(ctx context.Context, target Target, release Release, updated int, params RollingParams) error
	RollStatus(ctx context.Context, target Target) (RollStatus, error)
	// Undo returns to revision, or to the previous one when revision is 0.
	Undo(ctx context.Context, target Target, revision int64) error
}

// Strategy turns a target and a release into a Plan.
type Strategy interface {
	Name() string
	Plan(target Target, release Release) (Plan, error)
}
