// Package testkit is the index of progressive's test kit, the packages a
// module that uses progressive imports to test its rollouts, providers and
// controllers against real components and in virtual time:
//
//   - testkit/controlplane: a real Kubernetes control plane (etcd,
//     kube-apiserver, kube-controller-manager, kube-scheduler, kwok) built
//     from pinned versions and cached (see its documentation for
//     $PROGRESSIVE_TESTENV_CACHE, $PROGRESSIVE_TESTENV_BIN and the defaults);
//   - testkit/promtest: a real Prometheus and an application for it to scrape
//     whose canary can be told to fail;
//   - testkit/rollouttest: a harness that drives a rollout to its end in
//     virtual time on provider/sim, assertions on how it ended, and a scripted
//     MetricSource;
//   - testkit/metrictest and testkit/workloadtest: conformance suites for
//     progressive.MetricSource and progressive.Workload/Roller, beside
//     provider/routertest and flags/flagtest;
//   - testkit/cmd/build-controlplane: builds the control plane binaries ahead
//     of the tests, for CI.
//
// Under CI=true (or PROGRESSIVE_TESTENV_REQUIRED=true) a control plane or
// Prometheus that cannot start fails the tests that need it; elsewhere they
// skip with a message.
package testkit
