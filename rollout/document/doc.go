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
package document
