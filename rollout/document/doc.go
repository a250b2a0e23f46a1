// Package document reads and writes rollouts as versioned documents, the way
// Kubernetes objects are written: a file in Git that a person reviews, that CI
// checks, and that a command line or a controller turns into a
// progressive.Plan.
//
//	apiVersion: progressive.agentops.dev/v1alpha1
//	kind: Rollout
//	metadata:
//	  name: payment-service-v2-0-0
//	spec:
//	  target: {namespace: production, name: payment-service}
//	  release: {version: v2.0.0, image: registry.example.com/payment-service:v2.0.0}
//	  strategy:
//	    canary: {weights: [10, 50, 100], soak: 15m}
//	  checks:
//	    - {name: error-rate, query: error_rate, max: 1}
//	  hooks:
//	    - name: slack
//	      phase: on-rollback
//	      urlFrom: {env: SLACK_WEBHOOK_URL}
//
// # Reading
//
// Decode reads YAML or JSON strictly. A misspelled field is the most dangerous
// mistake a rollout file can hold: "maximum: 1" for "max: 1" drops a
// threshold, and a check without one can never fail. So unknown fields are
// errors, and so are values of the wrong type (version: 1.10 is a number, not
// the string "1.10"), durations without a unit, and duplicate keys. Every
// problem is reported at once, with its line, column and field path, in an
// *Error that wraps progressive.ErrInvalid.
//
// Rollout.Plan then builds the plan with package strategy and validates it;
// the problems strategy and progressive.Plan.Validate find are mapped back to
// the document's fields and lines (the plan's "canary.weights[1]" becomes the
// document's spec.strategy.canary.weights[1], line 19). Validate does the same
// without reading urlFrom references, for CI, where the secrets are not.
//
// # Secrets
//
// A webhook URL is often a credential (Slack's is). A hook may name it with
// urlFrom (an environment variable or a file, such as a mounted Kubernetes
// Secret) instead of writing it down; Plan resolves it through a Resolver,
// EnvFileResolver by default.
//
// # Writing
//
// Marshal writes a Rollout back, and FromPlan recovers the document of a plan
// that a strategy built: document -> plan -> document round-trips. Encode
// writes plans and decision records for people: durations as "15m0s" rather
// than nanoseconds, no \u003c escapes, fields in the order of the types.
//
// Durations are strings everywhere in a document ("15m", "90s"), and judge
// parameters are typed, one struct per judge kind.
//
// # Schema
//
// Schema returns the JSON Schema of rollout documents, generated from this
// package's types and checked in at schema/rollout.schema.json for editors and
// CI (go generate rewrites it; a test fails when it is stale, and another
// checks that the schema and the decoder agree on good and bad documents).
//
// # Templates and shared patterns
//
// A Template is a document with declared parameters (service, version,
// thresholds...), each typed, required or with a default. Render sets the
// values on the nodes of the template's YAML tree, never into its text, so a
// value cannot add a field or a document; missing, unknown and ill-typed
// parameters are all reported at once. Pattern returns the guide's shared
// patterns, shipped in the package: staged-conservative, fast,
// blue-green-manual-approval and flag-gradual, the same plans as package
// strategy's StagedConservative, Fast, BlueGreenManualApproval and FlagGradual.
//
// FromRecord goes the other way (the guide's "share patterns"): a promoted
// rollout's decision record and plan become a template for other services,
// its thresholds parameters whose defaults are the values that held. A
// rolled-back rollout is refused.
//
// The guide's scenarios are in examples/documents: the payment-service canary,
// the order-management blue-green, the payment_gateway_v2 flag rollout and the
// content-api rolling update; a test runs each to its end on the simulator.
package document
