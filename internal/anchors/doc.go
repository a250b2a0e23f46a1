// Package anchors runs the real Flagger and Argo Rollouts controllers beside
// progressive on the test control plane, so the comparison with them is
// measured on the tools themselves rather than on models of their rules.
//
// Each tool is built from its own module source at a pinned version (Build),
// as its project builds its release, and cached under .cache/anchors.
//
// # The live comparison
//
// StartStack starts what every contender runs on (Anchors): the livecanary
// stack with Flagger's and Argo Rollouts' CRDs and the kube-apiserver's audit
// log (AuditLog: every request with its user agent, so CountRequests counts
// each tool's requests the same way), and a proxy in front of Prometheus that
// logs every query (QueryLog: when each tool measured). A Contender runs a
// Scenario in a namespace of its own and returns a Run; Measure fills in the
// figures every contender measures alike from the VirtualService's weights
// (Weights) and the audit log, and StartProcess runs a controller whose RSS
// and CPU are read from /proc. Contenders lists the rows (each tool's
// defaults and one tuning), Scenarios the scenarios, and WriteTable prints
// the markdown table that cmd/compare produces:
//
//	go run ./internal/anchors/cmd/compare -runs 3
package anchors
