// Package metrictest is a conformance suite for progressive.MetricSource
// implementations, including third-party ones, beside provider/routertest for
// routers and testkit/workloadtest for workloads. Call Run from a test of the
// source's package, with queries in the source's own language that give each
// kind of answer:
//
//	func TestConformance(t *testing.T) {
//		metrictest.Run(t, func(t *testing.T) metrictest.Setup {
//			src := newSource(t)
//			return metrictest.Setup{
//				Source:  src,
//				Value:   progressive.Query{Expr: "vector(42)"}, Want: 42,
//				NoData:  progressive.Query{Expr: "no_such_series"},
//				NaN:     progressive.Query{Expr: "vector(0) / 0"},
//				Invalid: progressive.Query{Expr: "sum("},
//				Down:    func(t *testing.T) progressive.MetricSource { return newSourceAt(t, "http://127.0.0.1:1") },
//			}
//		})
//	}
//
// The behaviours are the contract an analysis relies on, above all that the
// answers that are not a number can never be mistaken for a pass: a value is
// StatusValue with the number; no data is StatusNoData, not a zero; NaN is
// StatusNaN, not an error and not a number; a query the backend rejects is an
// error wrapping progressive.ErrInvalid (not ErrTransient: it will not get
// better by retrying); an unreachable backend is an error wrapping
// progressive.ErrTransient (not ErrInvalid: the rollout must not fail fast on
// a blip); a cancelled context ends the query with an error; and, when the
// source can produce it, several series where one was expected is
// ErrInvalid.
package metrictest
