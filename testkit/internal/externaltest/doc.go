// Package externaltest proves that the test kit works from a module other
// than github.com/agentops/progressive (issue 16): its test copies
// testdata/extmod, a small module that imports testkit/controlplane,
// testkit/promtest, testkit/rollouttest and testkit/metrictest, to a
// temporary directory outside the repository, points it at this checkout with
// a replace directive and runs go test there. The package has no API.
package externaltest
