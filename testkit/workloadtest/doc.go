// Package workloadtest is a conformance suite for progressive.Workload and
// progressive.Roller implementations, including third-party ones, beside
// provider/routertest for routers. Call Run from a test of the workload's
// package:
//
//	func TestConformance(t *testing.T) {
//		workloadtest.Run(t, func(t *testing.T) workloadtest.Setup {
//			ns := env.NewNamespace(t) // whatever the workload needs, fresh per behaviour
//			seed(t, ns, "checkout", 4) // a stable service of 4 ready replicas
//			return workloadtest.Setup{Workload: newWorkload(t), Target: progressive.Target{Namespace: ns, Name: "checkout"},
//				Release: progressive.Release{Version: "v2", Image: "registry.example/checkout:v2"}, Settle: time.Minute}
//		})
//	}
//
// Every behaviour runs as a subtest with its own Setup, so state does not leak
// from one to the next. The target must exist with a stable side whose pods
// are all ready, and no canary. The behaviours are the contract the rollout
// runner relies on: a deployed canary reaches its replicas and readiness
// beside an untouched stable side, scales, rolls back to zero pods (again and
// again, and before any canary exists), promotes its release to the stable
// side; a release whose pods never pass readiness never reads as ready;
// negative replicas are progressive.ErrInvalid; and, for a Roller, an
// in-place update in batches and an undo to the previous revision.
package workloadtest
