// Package launchdarkly is a progressive.FlagStore and progressive.FlagTargeter for
// LaunchDarkly: a flag rollout's percentages, on/off switch, individual targets and
// rules, per environment.
//
// # Reads through the SDK
//
// The store runs one server-side SDK client (github.com/launchdarkly/go-server-sdk/v7)
// per environment and reads flags from the SDK's own data store: GetFlag returns the
// configuration the SDK evaluates, so what a rollout reads is what applications are
// served. Variation ids are the SDK's variation indexes ("0", "1"); their names come
// from the REST API when the store has a token (cached per flag), otherwise from the
// values ("true", "false"). Client gives the SDK client of an environment for
// evaluations, Evaluate serves a flag to one context.
//
// # Writes through the REST API
//
// Each write is one semantic patch (PATCH /api/v2/flags/{projectKey}/{flagKey},
// Content-Type "application/json; domain-model=launchdarkly.semanticpatch", the API
// access token in the Authorization header, body {"environmentKey", "comment",
// "instructions"}), preceded by a GET of the flag for its variation ids (_id) and
// current targeting:
//
//	SetRollout  updateFallthroughVariationOrRollout with rolloutWeights, keyed by
//	            variation id, in thousandths of a percent (100000 = 100%)
//	SetOn       turnFlagOn or turnFlagOff
//	SetTargets  removeTargets (keys moving away) and addTargets, one patch
//	SetRules    removeRule for each current rule, then addRule per rule, one patch;
//	            a rule naming a segment matches with a segmentMatch clause
//
// A semantic patch applies all its instructions or none, so no change is ever
// half-applied. The GET and the PATCH are retried together on transient failures
// (5xx, no answer, 429 after its Retry-After), a bounded number of times on the
// injected clock; a retry recomputes the instructions from a fresh read. 401 and
// 403 are clear errors (flags.ErrAuth) and are not retried. After a write the
// store waits (Options.SyncTimeout, real time) until its SDK client holds the new
// flag version, so a read right after a write sees it.
//
// Without Options.APIToken the store is read-only: writes fail with
// progressive.ErrUnsupported saying so. The API token and the SDK keys never appear
// in errors or logs.
//
// # Tests
//
// Package ldfake is a local LaunchDarkly for tests: it checks each request against
// the documented API shape, applies accepted patches, and pushes the result into
// ldtestdata sources the store's SDK clients read, so writes make a real round
// trip through the SDK.
package launchdarkly
