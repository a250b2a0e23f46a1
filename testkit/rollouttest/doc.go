// Package rollouttest drives a rollout to its end in virtual time and asserts
// how it ended, for tests of rollout plans, checks and providers.
//
// A Harness wires a rollout.Runner to the provider/sim simulator (router,
// workload, flags, metrics) on a k8s.io/utils/clock/testing FakeClock, and
// Run calls Reconcile and steps the clock by what each call asks, so an
// hour-long canary ends in milliseconds and the same way every time. Any
// provider can replace the simulator's: a scripted MetricSource from this
// package, say, or a real router.
//
//	h := rollouttest.New(t, rollouttest.Options{}) // or Options{Clock: fc, Metrics: rollouttest.Fixed(fc, values)}
//	h.Sim.Metrics.Inject(sim.Incident{Target: h.Target, Role: progressive.Canary,
//		Kind: sim.ErrorRateSet, Value: 5, Start: h.Start.Add(20 * time.Minute)})
//	out := h.Run(t, plan)
//	rollouttest.RolledBackWithin(t, out, h.Start.Add(20*time.Minute), 3, time.Minute)
//	rollouttest.NeverPromoted(t, out)
//	rollouttest.FinalRoutes(t, out, progressive.AllStable())
//
// # Scripted metrics
//
// Metrics is a progressive.MetricSource whose answers a test sets per query
// expression and role: a fixed value (Set, Fixed), a script of answers over
// virtual time (Script: from minute 0 a value, from minute 20 another), or a
// sequence per call (Sequence: two transient errors, then values). An Answer
// is a value, no data, NaN, a transient error (progressive.ErrTransient) or an
// invalid query (progressive.ErrInvalid): the answers an analysis must tell
// apart. A query nobody scripted is an invalid query, so a typo in a check
// fails fast instead of passing.
package rollouttest
