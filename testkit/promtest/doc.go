// Package promtest runs a real Prometheus for tests: Debian's prometheus binary
// (2.42, apt-get install -y prometheus; $PROMETHEUS_BIN and $PROMTOOL_BIN point
// elsewhere), started on a free 127.0.0.1 port with a temporary configuration and
// data directory, and an in-process application (App) for it to scrape whose
// canary can be told to fail, slow down, burn CPU or lose its traffic.
//
//	app := promtest.NewApp()
//	defer app.Close()
//	svc := app.Service(promtest.ServiceSpec{Namespace: "shop", Name: "checkout", CanaryVersion: "v2",
//		CanaryShare: func() float64 { return 10 }})
//	prom := promtest.Start(t, promtest.Options{Targets: []string{app.Addr()}})
//	_ = prom.WaitFor(ctx, `http_requests_total{service="checkout"}`, 20*time.Second)
//	// ... point provider/prometheus at prom.URL ...
//	svc.SetCanary(promtest.Behavior{ErrorPercent: 20}) // the regression starts now
//
// # Lifecycle
//
// Start waits for /-/ready (about 0.15s) and stops the server when the test ends;
// New and Stop serve a TestMain that shares one server among tests. Prometheus
// runs in its own process group and is stopped by its PID (SIGTERM to the group,
// SIGKILL after 5s), and the kernel kills it should the test process die first.
// Stop may be called early, to take Prometheus away in the middle of a rollout.
//
// Prometheus scrapes for the first time about 5s after it is ready, whatever the
// scrape interval (1s by default here), so tests wait for their first series
// (WaitFor) before relying on data.
//
// # Skipping
//
// Outside CI a test skips with a message when the binary is missing. Under
// CI=true (or PROGRESSIVE_TESTENV_REQUIRED=true) it fails instead: CI installs
// the package, and a test that needs Prometheus never passes by not running.
//
// The package is importable from any module; it used to be internal/promtest,
// which now forwards here.
//
// # Replays
//
// Backfill turns OpenMetrics text into TSDB blocks with promtool tsdb
// create-blocks-from openmetrics (hours of history in about a second); a server
// started on that directory (Options.DataDir) answers queries at fixed instants
// in the past exactly the same way every time.
package promtest
