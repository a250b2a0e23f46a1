// Package prometheus is the Prometheus metric source: a progressive.MetricSource
// that answers the analysis engine's instant queries with one number each, and a
// progressive.RangeQuerier that returns the samples of a window for statistical
// judges. It speaks the Prometheus HTTP API through prometheus/client_golang, so
// it also works with what serves that API: Thanos, Cortex, Mimir, VictoriaMetrics.
//
//	src, err := prometheus.New(prometheus.Options{
//		Address:     "http://prometheus.monitoring:9090",
//		BearerToken: prometheus.Secret(os.Getenv("PROM_TOKEN")),
//	})
//	runner, err := rollout.New(rollout.Options{Providers: rollout.Providers{
//		Metrics: []progressive.MetricSource{src}, ...}})
//
// The checks' queries are PromQL templates ({{.Namespace}}, {{.Service}},
// {{.Version}}, {{.Role}}, {{.Interval}}) that the analysis engine renders before
// it calls Query; package metrics has ready-made ones. Templates are checked when
// the plan is validated, and rollout.Runner.Start runs every rendered query once
// (analysis.Engine.Preflight) before any traffic moves: a PromQL typo stops the
// rollout there.
//
// # Every answer has a meaning
//
// Missing data is never a pass, and a broken query is never mistaken for a bad
// canary. Query classifies each answer:
//
//	one sample (vector of one series, or scalar)  Result{Status: StatusValue}, ±Inf included
//	empty vector (no series: no traffic yet)       Result{Status: StatusNoData}
//	NaN (0/0: nothing served in the window)         Result{Status: StatusNaN}
//	several series                                  ErrInvalid, naming their labels
//	range vector, string, native histogram          ErrInvalid
//	bad_data (syntax), execution (422)              ErrInvalid: fail fast
//	401, 403, 404, untrusted certificate            ErrInvalid: fix the options
//	connection refused, DNS, reset                  ErrTransient
//	timeout on the server (a 503 saying "timeout")  ErrTransient
//	client deadline (Options.Timeout)               ErrTransient and context.DeadlineExceeded
//	other 5xx, 408, 429, unreadable answer          ErrTransient
//	answer longer than Options.MaxBody (8 MiB)      ErrTransient (TypeTooLarge), read no further
//
// The engine stops the analysis on ErrInvalid (the runner rolls back saying why)
// and counts ErrTransient as an inconclusive measurement: after the check's
// InconclusiveLimit in a row the analysis is inconclusive and the runner rolls
// back (or holds, if the plan says so). It never promotes on an unreachable
// Prometheus. Errors are *QueryError values with the Prometheus error type and
// HTTP status.
//
// # Timeouts
//
// Options.Timeout (default 30s; progressive.Query.Timeout per query) is sent to
// Prometheus as the query's timeout parameter, so the server abandons an
// expensive query at the same time instead of evaluating it for nobody, and the
// client waits a little longer (a tenth more, at least 100ms and at most 2s) to
// receive the server's own timeout answer, which says more than a client deadline.
// Prometheus caps the parameter at its --query.timeout (default 2m).
//
// # Credentials
//
// BearerToken, BasicAuth (or user info in Address) and Headers are added by the
// transport to requests for Address's scheme and host only, so a redirect to
// another host does not carry them. Their type, Secret, prints, logs and
// marshals as "[redacted]", as do Options as a whole (user info in Address
// included), and every message the package produces (errors, log records, which
// the engine copies into measurements and decision records) is scrubbed of them,
// even when a server or proxy repeats them in an error body. TLS verifies the
// server against TLS.CAFile or the system roots; InsecureSkipVerify is off unless
// set, and logs a warning when it is.
//
// # Testing against a real Prometheus
//
// The package's tests start Debian's prometheus binary (internal/promtest) on a
// free loopback port, scraping an in-process application whose canary can be told
// to fail, slow down or stop receiving traffic, and run rollouts through
// rollout.Runner against it. A replay test backfills a recorded incident with
// promtool and analyses it at fixed past instants, so its verdicts are
// deterministic.
package prometheus
