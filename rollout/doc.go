// Package rollout executes plans: it is the part of the SDK that changes things.
//
// A Runner takes a progressive.Plan (usually from the strategy package), checks it
// against its providers (Validate), runs every metric query once so that a bad
// query stops the rollout before any traffic moves (Start), and then carries out
// the steps one transition at a time (Reconcile), persisting a State to a
// StateStore after each one. Run is a loop around Reconcile that waits on the
// runner's clock; controllers call Reconcile themselves and requeue after
// Result.RequeueAfter. Because the state holds the step in flight with its timers,
// analysis counters and what has been applied, a process that restarts resumes
// exactly where the last one stopped: mid-pause, mid-analysis or mid-rollback.
//
// # Rollback
//
// Every step knows how it is undone, and the state records what was applied.
// When an analysis fails, ends inconclusive (missing data is never a pass), a
// readiness budget is exceeded, a hook or an approval says no, or a person calls
// Rollback or Abort, the runner undoes exactly that, in a fixed order: traffic back
// to stable first (one write, read back), flag splits to 0%, an in-place update
// undone to the previous revision, the canary scaled to zero, then the on-rollback
// hooks. Each action is recorded as done once it succeeded and is retried with a
// backoff for as long as it fails transiently: a rollback is never abandoned.
// The router's routes stay in place at all-stable after a rollback (as Flagger
// and Argo Rollouts leave theirs), so the next rollout starts from them; only
// a plan's Finalize step, after the promotion, calls TrafficRouter.Finalize.
// A program that wants an adopted VirtualService or HTTPRoute back exactly as
// the user wrote it calls Finalize itself once the rollout is rolled back
// (examples/istio-bluegreen does).
//
// # Decision records
//
// Every rollout leaves a DecisionRecord: the context (why this strategy), the
// solution (the plan, explained, and the providers), every observation, every
// decision with its reason, what was learnt, and the impact (duration, the largest
// canary share, time to detect, time to recover). Aggregate folds records into
// rollback rate and mean times per service and strategy. Stores that implement
// ObservationLog keep observations apart from the state, so that a rollout that
// measures for days does not rewrite them all at every tick.
//
// # People and other systems
//
// Approval steps ask an Approver (Gates is an in-memory one a chat bot or a CLI can
// answer). Hooks run at pre-rollout, pre-promotion, post-rollout and on-rollback,
// or as plan steps: Go hooks registered by name, or webhooks that receive a JSON
// HookRequest signed with HMAC-SHA256 (SignatureHeader, VerifySignature).
// Observers receive every Event; SlogObserver logs them.
package rollout
