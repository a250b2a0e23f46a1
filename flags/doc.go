// Package flags holds the provider-neutral side of feature-flag rollouts: helpers
// over any progressive.FlagStore, the rules every store follows, and a plan for a
// flag's state per environment.
//
// # The contract
//
// A progressive.FlagStore reads a flag of one environment (GetFlag) and writes its
// fallthrough rollout (SetRollout) and its on/off state (SetOn); a store that also
// implements progressive.FlagTargeter writes individual targets and rules. The
// adapters (provider/sim, provider/launchdarkly, provider/flagsmith) follow the same
// rules, which package flagtest checks in a conformance suite:
//
//   - Variations are named by id or by name wherever a write takes one. Reads
//     return ids (LaunchDarkly: the variation's index, "0", "1"; Flagsmith: "control"
//     and the multivariate option ids) with the name alongside.
//   - An unknown flag is progressive.ErrNotFound. An unknown variation, segment or
//     operator is progressive.ErrInvalid, and the message names the known ones.
//   - A percentage outside 0-100, or weights that do not sum to 100, are rejected
//     with progressive.ErrInvalid before any request is sent.
//   - A rollout, an on/off switch, and a rollback to 0% are each one request, so a
//     fault never leaves one half-applied. Faults that may pass (a 5xx, a 429, no
//     answer) are retried a bounded number of times and then returned wrapping
//     progressive.ErrTransient, for the rollout to hold or roll back; a rejected
//     token (401, 403) is a clear error and is not retried.
//   - A store that cannot do something says so with progressive.ErrUnsupported and
//     the reason (Unsupported): a store without an API token is read-only.
//   - Targets set with SetTargets replace the keys targeted to that variation; a key
//     targeted to another variation moves. Rules set with SetRules replace all rules,
//     in order; the first that matches a context decides.
//   - API tokens and SDK keys never appear in errors, logs or rollout records.
//
// # Helpers
//
// Read returns a flag and the share of a variation in its rollout; SetPercent
// writes "variation to p%, fallback to the rest" after checking p; SetTargets and
// SetRules find the targeting side of a store or say it has none; SegmentRule and
// AttributeRule build the common rules (a beta-testers segment, a geography, a
// subscription tier).
//
// # Per-environment state
//
// Environments describes what each environment of a flag should serve, for example
// staging on for everyone while production ramps. Plan reads each environment and
// lists the writes that remain (nothing when all are in their state), Apply makes
// them in order and stops at the first failure, Sync does both. Each environment is
// written on its own; a rollout runner driving production never touches staging.
//
// # Subpackages
//
// flagtest is the conformance suite and a MetricSource whose canary follows a flag,
// for rehearsing flag rollouts in tests. The HTTP layer the LaunchDarkly and
// Flagsmith adapters share is internal (internal/flaghttp): it is not an API for
// users; its one error users test for is ErrAuth, here.
package flags
