// Command monitor runs the guide's canary monitor against a real Prometheus: an
// error rate above 1% or a p95 latency above 500 ms rolls back, CPU above 80% of
// the limit only warns, and missing data is never a pass.
//
// Watch a canary that is already deployed and receiving traffic (a plan of one
// analysis step; nothing is changed, the program only decides):
//
//	go run ./examples/monitor -prometheus http://prometheus.monitoring:9090 \
//		-namespace production -service payment-service -version v2.0.0
//
// It prints every measurement against its threshold (rollout/progress: a line
// each, or a live status line on a terminal) and the decision record, and exits with status
// 0 when every check passed by the end of -duration (default 15m, the guide's
// "Monitor 15 min"), 1 when the analysis failed or could not conclude (the
// rollout runner's rollback: recommend a rollback), and 2 on a configuration error
// (a bad flag, a PromQL error found by the preflight, unreachable Prometheus).
//
// The queries are package metrics' templates. -metrics app (the default) reads
// the application's own http_requests_total and http_request_duration_seconds
// with namespace, service, version and code labels; the stable side is the
// series labelled version="stable" (what the runner renders {{.Version}} as for
// stable), or, with -role-label role, the series whose role label says "stable"
// or "canary". -metrics istio reads istio_requests_total and
// istio_request_duration_milliseconds for the workloads <service> and
// <service>-canary. CPU comes from cAdvisor and kube-state-metrics. See the
// metrics package for the label conventions.
//
// Credentials: -bearer-token-file (or $PROMETHEUS_TOKEN), -basic-user with
// -basic-password-file, -ca-file for a private CA, -header Name=Value (repeatable).
// They never appear in the output.
//
// Without a Prometheus at hand, -demo starts Debian's prometheus binary (apt-get
// install -y prometheus) on a free loopback port, scraping an in-process
// application, and rehearses two canary rollouts with strategy.Canary, the
// simulated router and workload and the real runner on the real clock: a healthy
// release is promoted, a release whose error rate climbs to 20% at 50% of the
// traffic is rolled back. It takes about a minute:
//
//	go run ./examples/monitor -demo
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/analysis"
	"github.com/agentops/progressive/metrics"
	"github.com/agentops/progressive/provider/prometheus"
	"github.com/agentops/progressive/rollout"
	"github.com/agentops/progressive/rollout/progress"
)

// config is what the flags say.
type config struct {
	prometheus                 string
	namespace, service         string
	version                    string
	mesh                       string
	roleLabel                  string
	window                     string
	duration, interval         time.Duration
	initialDelay               time.Duration
	timeout                    time.Duration
	tokenFile                  string
	basicUser, basicPassFile   string
	caFile                     string
	insecure                   bool
	headers                    headerFlag
	recordFile                 string
	demo                       bool
	demoSoak, demoInterval     time.Duration
	demoScrape                 time.Duration
	inconclusiveLimit, failMax int
}

type headerFlag map[string]prometheus.Secret

func (h headerFlag) String() string { return fmt.Sprintf("%d header(s)", len(h)) }

func (h headerFlag) Set(v string) error {
	name, value, ok := strings.Cut(v, "=")
	if !ok || name == "" {
		return errors.New("want Name=Value")
	}
	h[name] = prometheus.Secret(value)
	return nil
}

func main() {
	cfg := config{headers: headerFlag{}}
	flag.StringVar(&cfg.prometheus, "prometheus", "", "address of the Prometheus HTTP API, such as http://prometheus.monitoring:9090 (required unless -demo)")
	flag.StringVar(&cfg.namespace, "namespace", "production", "namespace of the service ({{.Namespace}})")
	flag.StringVar(&cfg.service, "service", "payment-service", "the service ({{.Service}})")
	flag.StringVar(&cfg.version, "version", "", "the canary's release version, as its metrics label it ({{.Version}}; required unless -demo)")
	flag.StringVar(&cfg.mesh, "metrics", "app", "which metrics to read: app (the application's own) or istio")
	flag.StringVar(&cfg.roleLabel, "role-label", "", "with -metrics app, tell stable and canary apart by this label (holding stable or canary) instead of by version")
	flag.StringVar(&cfg.window, "window", "", "rate() window, a Prometheus duration (default: the interval)")
	flag.DurationVar(&cfg.duration, "duration", 15*time.Minute, "how long to watch")
	flag.DurationVar(&cfg.interval, "interval", time.Minute, "time between measurements")
	flag.DurationVar(&cfg.initialDelay, "initial-delay", 0, "wait before the first measurement")
	flag.IntVar(&cfg.inconclusiveLimit, "inconclusive-limit", 3, "measurements in a row without data (or without Prometheus) that end the watch as inconclusive")
	flag.IntVar(&cfg.failMax, "failure-limit", 0, "failed measurements a check tolerates (0: the first one fails it)")
	flag.DurationVar(&cfg.timeout, "timeout", prometheus.DefaultTimeout, "timeout of one query")
	flag.StringVar(&cfg.tokenFile, "bearer-token-file", "", "file holding a bearer token (default: $PROMETHEUS_TOKEN)")
	flag.StringVar(&cfg.basicUser, "basic-user", "", "basic auth user name")
	flag.StringVar(&cfg.basicPassFile, "basic-password-file", "", "file holding the basic auth password")
	flag.StringVar(&cfg.caFile, "ca-file", "", "PEM file of the certificate authorities to verify an https Prometheus with")
	flag.BoolVar(&cfg.insecure, "insecure-skip-verify", false, "accept any certificate (tests only)")
	flag.Var(cfg.headers, "header", "extra request header Name=Value, such as X-Scope-OrgID=tenant (repeatable)")
	flag.StringVar(&cfg.recordFile, "record", "", "write the decision record(s) to this JSON file")
	flag.BoolVar(&cfg.demo, "demo", false, "start a local Prometheus and a test application and rehearse two canary rollouts")
	flag.DurationVar(&cfg.demoSoak, "demo-soak", 12*time.Second, "with -demo, the soak at each canary weight")
	flag.DurationVar(&cfg.demoInterval, "demo-interval", 2*time.Second, "with -demo, the time between measurements")
	flag.DurationVar(&cfg.demoScrape, "demo-scrape", time.Second, "with -demo, Prometheus' scrape interval")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	var code int
	if cfg.demo {
		code = demo(ctx, os.Stdout, cfg)
	} else {
		code = monitor(ctx, os.Stdout, cfg)
	}
	os.Exit(code)
}

// Exit statuses.
const (
	exitPassed   = 0
	exitRollback = 1
	exitConfig   = 2
)

// seedChecks are the guide's monitor for the chosen metrics, with the flags' timing.
func seedChecks(cfg config) ([]progressive.Check, error) {
	var requests metrics.Requests
	switch cfg.mesh {
	case "app":
		requests = metrics.App{RoleLabel: cfg.roleLabel, Window: cfg.window}
	case "istio":
		requests = metrics.Istio{Window: cfg.window}
	default:
		return nil, fmt.Errorf("-metrics %q: want app or istio", cfg.mesh)
	}
	checks := metrics.Monitor(requests, metrics.Kubernetes{Window: cfg.window})
	for i := range checks {
		checks[i].Interval = cfg.interval
		checks[i].InitialDelay = cfg.initialDelay
		checks[i].InconclusiveLimit = cfg.inconclusiveLimit
		checks[i].FailureLimit = cfg.failMax
	}
	return checks, nil
}

// source builds the Prometheus source from the flags.
func source(cfg config, address string) (*prometheus.Source, error) {
	opts := prometheus.Options{Address: address, Timeout: cfg.timeout, Headers: cfg.headers,
		TLS: prometheus.TLSOptions{CAFile: cfg.caFile, InsecureSkipVerify: cfg.insecure}}
	if cfg.tokenFile != "" {
		b, err := os.ReadFile(cfg.tokenFile)
		if err != nil {
			return nil, fmt.Errorf("-bearer-token-file: %w", err)
		}
		opts.BearerToken = prometheus.Secret(strings.TrimSpace(string(b)))
	} else if tok := os.Getenv("PROMETHEUS_TOKEN"); tok != "" {
		opts.BearerToken = prometheus.Secret(tok)
	}
	if cfg.basicUser != "" {
		b, err := os.ReadFile(cfg.basicPassFile)
		if err != nil {
			return nil, fmt.Errorf("-basic-password-file: %w", err)
		}
		opts.BasicAuth = &prometheus.BasicAuth{Username: cfg.basicUser, Password: prometheus.Secret(strings.TrimSpace(string(b)))}
	}
	return prometheus.New(opts)
}

// monitorPlan is the guide's monitor as a plan: one analysis step of the given
// duration, which moves no traffic and so needs no router or workload.
func monitorPlan(target progressive.Target, version string, checks []progressive.Check, d time.Duration) progressive.Plan {
	return progressive.Plan{
		Name:     fmt.Sprintf("monitor-%s-%s-%s", target.Namespace, target.Name, version),
		Strategy: progressive.StrategyCanary, // it watches a deployed canary
		Reason:   "watch the deployed canary for " + d.String() + " with the guide's rollback triggers; decide, change nothing",
		Target:   target,
		Release:  progressive.Release{Version: version},
		Checks:   checks,
		Steps:    []progressive.Step{{Name: "monitor", Analyze: &progressive.AnalyzeStep{Duration: d}}},
	}
}

func monitor(ctx context.Context, out io.Writer, cfg config) int {
	fail := func(err error) int {
		fmt.Fprintln(out, "monitor:", err)
		return exitConfig
	}
	if cfg.prometheus == "" || cfg.version == "" {
		return fail(errors.New("-prometheus and -version are required (or try -demo)"))
	}
	checks, err := seedChecks(cfg)
	if err != nil {
		return fail(err)
	}
	src, err := source(cfg, cfg.prometheus)
	if err != nil {
		return fail(err)
	}
	printer, err := newPrinter(out)
	if err != nil {
		return fail(err)
	}
	runner, err := rollout.New(rollout.Options{
		Providers: rollout.Providers{Metrics: []progressive.MetricSource{src}},
		Observers: []rollout.Observer{printer},
		Logger:    slog.New(slog.DiscardHandler),
	})
	if err != nil {
		return fail(err)
	}
	target := progressive.Target{Namespace: cfg.namespace, Name: cfg.service}
	plan := monitorPlan(target, cfg.version, checks, cfg.duration)
	fmt.Fprintf(out, "Monitoring %s %s on %s for %s, a measurement every %s\n", target, cfg.version, src.Address(), cfg.duration, cfg.interval)
	for _, c := range checks {
		expr, _ := analysis.Render(c, analysis.Vars{Namespace: target.Namespace, Service: target.Name, CanaryVersion: cfg.version, StableVersion: string(progressive.Stable)}, progressive.Canary)
		fmt.Fprintf(out, "  %-12s %s\n", c.Name+":", expr)
	}
	st, err := runner.Execute(ctx, plan)
	if err != nil {
		return fail(err)
	}
	rec, err := runner.Record(ctx, st.ID)
	if err != nil {
		return fail(err)
	}
	printRecord(out, rec)
	if err := writeRecords(cfg.recordFile, []rollout.DecisionRecord{rec}); err != nil {
		return fail(err)
	}
	if st.Phase == rollout.PhaseSucceeded {
		fmt.Fprintln(out, "All checks within thresholds: safe to promote.")
		return exitPassed
	}
	fmt.Fprintln(out, "Recommend: ROLLBACK.")
	return exitRollback
}

// newPrinter is the library's progress printer, set to print every
// measurement: a monitor's output is read as evidence for its recommendation.
func newPrinter(out io.Writer) (*progress.Printer, error) {
	return progress.New(progress.Options{
		Out:   out,
		Every: 1,
		Units: map[string]string{metrics.NameErrorRate: "%", metrics.NameCPU: "%", metrics.NameLatencyP95: "ms"},
	})
}

func printRecord(out io.Writer, rec rollout.DecisionRecord) {
	im := rec.Impact
	fmt.Fprintf(out, "\nDecision record %s\n", rec.ID)
	fmt.Fprintf(out, "  context:   %s, %s: %s\n", rec.Context.Service, rec.Context.Strategy, rec.Context.Reason)
	fmt.Fprintf(out, "  observed:  %d measurements\n", len(rec.Observations))
	for _, d := range rec.Decisions {
		switch d.Action {
		case "advance", "rollback", "promoted", "rolled-back":
			fmt.Fprintf(out, "  decision:  %s at %s: %s\n", d.Action, d.Time.Format("15:04:05"), d.Reason)
		}
	}
	fmt.Fprintf(out, "  impact:    %s after %s", im.Outcome, time.Duration(im.Duration).Round(time.Millisecond))
	if im.TimeToDetect != nil {
		fmt.Fprintf(out, ", detected within %s of the last good measurement", time.Duration(*im.TimeToDetect).Round(time.Millisecond))
	}
	fmt.Fprintln(out)
}

func writeRecords(path string, recs []rollout.DecisionRecord) error {
	if path == "" {
		return nil
	}
	b, err := json.MarshalIndent(recs, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}
