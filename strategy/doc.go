// Package strategy turns what a person wants from a rollout into a
// progressive.Plan: a list of steps a runner executes and a person reads before
// approving.
//
// # The strategies
//
// Each strategy is a struct of options whose zero values select documented
// defaults, and implements progressive.Strategy:
//
//   - Canary: Deploy -> (SetWeight -> Analyze) per weight -> [Approval] -> Promote
//     -> Finalize. The design document's "10% -> monitor 15 min -> 50% -> monitor 15 min ->
//     100%" is Canary{Weights: []float64{10, 50, 100}, Checks: checks}; Flagger's
//     stepWeight/maxWeight is Canary{StepWeight: 10, MaxWeight: 50}.
//   - BlueGreen: [migration hook] -> Deploy green -> validation hooks -> [Approval]
//     -> Switch -> Analyze (monitor) -> Pause (blue kept for switch-back) -> Promote
//     -> Finalize.
//   - Rolling: Roll batch -> Pause or Analyze -> ... -> Roll all pods, in place and
//     without a router.
//   - ABTest: a header or cookie segment routed to the new version, analyzed, then
//     promoted.
//   - Mirror: a copy of production traffic sent to the new version, analyzed, then
//     promoted.
//   - FlagRollout: (SetFlag p% -> Analyze) per percentage, releasing code already
//     deployed behind a flag.
//
// Every plan records its Strategy and a Reason (what the shape is and what triggers a
// rollback: the context of the decision record), its Checks and lifecycle Hooks, and
// is named by PlanName (production-payment-service-v2-0-0). A plan is a value: set its Providers
// or rename it before handing it to the runner. Plan always returns either a plan
// that passes progressive.Plan.Validate or an error; it never panics.
//
// Rollback is not part of any plan: it is the runner's job, the cheapest action the
// provider allows (all traffic to stable, a switch back to blue, a flag to 0%, a
// rollout undo) in one write.
//
// # Errors
//
// Bad options are reported all at once in a *progressive.ValidationError (which
// wraps progressive.ErrInvalid), each problem under a field path that starts with
// the strategy ("canary.weights[1]", "blueGreen.replicas", "rolling.batchSize",
// "abTest.matches[0].name", "mirror.percent", "flagRollout.flag.key") with the
// offending value; problems of the arguments are under "target" and
// "release.version". Every strategy but Rolling requires at least one check that
// can fail (severity fail): without one nothing could trigger a rollback. Each
// strategy also has a Validate method for its options alone and a WithDefaults
// method showing the defaults it would apply.
//
// Strategies need options, so there is no constructor by name; Names lists the
// known names and Lookup rejects an unknown one with an error listing them. Nothing
// falls back silently to a default strategy.
//
// # JSON
//
// The strategies marshal their durations as Go duration strings ("15m",
// "1h30m") rather than nanoseconds, and decode both those strings and the
// nanosecond integers earlier versions wrote, so stored files keep loading. A
// bad duration is an error wrapping progressive.ErrInvalid that names the field.
//
// # Patterns
//
// The design document's common patterns are ready-made, with the caller's checks:
// StagedConservative (canary 5/25/50/100, 30 minutes each), Fast (canary 10/100, 10
// minutes), BlueGreenManualApproval (approval before the switch, 1 hour monitor) and
// FlagGradual (1/10/50/100% of users, 24 hours each).
//
// # Choosing
//
// Recommend applies the design document's rules to a Profile of the service and the change and
// explains its choice in full sentences: canary for high traffic (more than 1000
// requests per second) or business-critical services, blue-green for database
// migrations, long-running requests and instant rollback, a flag rollout to decouple
// release from deploy or to target users, rolling for low-risk changes that tolerate
// version mixing. Its documentation gives the precedence when rules conflict.
package strategy
