package progressive

import "time"

// Limits on what a plan may ask for. They keep arbitrary input from becoming a
// busy loop (a 1ns check interval measured and saved state without pause), an
// unbounded state (a million steps persisted after every transition) or a wait
// nobody meant (a hook timeout of a year). Validate rejects values beyond them,
// naming the field and the limit.
const (
	// MaxSteps bounds a plan's steps (a rolling update of 1,000 batches fits).
	MaxSteps = 5000
	// MaxChecks bounds the checks of a plan or of one analysis step.
	MaxChecks = 64
	// MaxHooks bounds a plan's lifecycle hooks.
	MaxHooks = 32
	// MaxReplicas bounds the pods a deploy, scale or roll step asks for.
	MaxReplicas = 100000
	// MinCheckInterval is the shortest interval between two measurements of a
	// check; Prometheus itself rarely scrapes faster than every second.
	MinCheckInterval = 100 * time.Millisecond
	// MaxCheckInterval, MaxWindow and MaxInitialDelay bound a check's timing.
	MaxCheckInterval = 24 * time.Hour
	MaxWindow        = 7 * 24 * time.Hour
	MaxInitialDelay  = 24 * time.Hour
	// MaxCountLimit bounds a check's failure, consecutive-failure and
	// inconclusive limits.
	MaxCountLimit = 10000
	// MaxStepDuration bounds a pause, a soak and an approval or readiness
	// timeout: time-based flag phases of weeks fit.
	MaxStepDuration = 90 * 24 * time.Hour
	// MaxHookTimeout and MaxHookRetries bound one hook's attempts.
	MaxHookTimeout = time.Hour
	MaxHookRetries = 10
)
