// Package flagsmith is a progressive.FlagStore and progressive.FlagTargeter for
// Flagsmith: a flag rollout's percentages, enabled state, identity overrides and
// segment overrides, per environment.
//
// # The model
//
// A flag is a feature in one environment. Percentage rollouts in Flagsmith split
// values, not booleans, so a flag rolled out this way is a multivariate feature:
// its control value (variation id "control", e.g. "off") and its multivariate
// options (id: the option id, e.g. "on"), each named by its value. The fallthrough
// rollout is the environment's percentage allocation per option, the control taking
// the rest. The flag is "on" when the feature is enabled in the environment.
// Targets are identity overrides; rules are segment overrides, in priority order.
//
// # Reads
//
// The store runs one SDK client (github.com/Flagsmith/flagsmith-go-client/v4) per
// environment with local evaluation: it polls the environment document with the
// environment's server-side key ("ser.…"; the SDK panics on another key when
// evaluating locally, so New checks it, and no offline handler is ever combined with
// local evaluation, which also panics). The SDK keeps its document to itself, so
// GetFlag reads the same document (GET environment-document/ with the server key)
// and decodes it with the SDK's own engine models; Evaluate serves a flag through
// the SDK client, and Client returns it. After each write the store refreshes the
// SDK client (UpdateEnvironment), so the SDK evaluates the change at once instead of
// at its next poll.
//
// # Writes through the Admin API
//
// With an Admin API key (sent as "Authorization: Api-Key <token>"):
//
//	SetRollout  PATCH environments/{key}/featurestates/{id}/ with every
//	            multivariate_feature_state_values entry: one request
//	SetOn       PATCH environments/{key}/featurestates/{id}/ {"enabled": ...}: one request
//	SetTargets  Edge identity overrides: per changed identity, find or create the
//	            identity and POST, PUT or DELETE its edge-featurestates
//	SetRules    per rule, a feature segment and its feature state (POST, or PATCH
//	            features/featurestates/{id}/ when the override exists), then
//	            update-priorities, then DELETE the feature segments no longer wanted
//
// Rollouts, rollbacks to 0% and on/off are one request each, so they are never
// half-applied. Targets and rules take several requests because Flagsmith keeps them
// in several objects; they are checked before the first request, and if one fails
// part-way the error says so and a second call finishes the change (it diffs
// against the current document). Rules must name a segment defined in Flagsmith
// (segments hold the conditions: a beta-testers list, a country, a tier); rules with
// attribute clauses fail with progressive.ErrUnsupported. An identity override is
// enabled, so a targeted identity gets its variation even while the flag is
// disabled, unlike LaunchDarkly where an off flag serves its off variation to all.
//
// Transient failures (5xx, no answer, 429 after its Retry-After) are retried a
// bounded number of times on the injected clock, re-reading the document each time;
// then the error wraps progressive.ErrTransient. 401 and 403 are clear errors
// (flags.ErrAuth), never retried. Without Options.APIToken the store is read-only
// (progressive.ErrUnsupported). Keys and tokens never appear in errors or logs.
//
// # Tests
//
// Package fsfake is a local Flagsmith for tests: it serves environment documents
// and accepts the Admin API writes above, checked against the documented shapes, so
// a write changes the document the SDK sees next.
package flagsmith
