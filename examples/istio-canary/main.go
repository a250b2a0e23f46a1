// Command istio-canary runs the guide's payment-service canary with Istio:
//
//	Create canary deployment for payment-service:
//	- Traffic split: 10% → 50% → 100%
//	- Phase duration: 15 minutes each
//	- Rollback triggers: error rate >1%, latency p95 >500ms, CPU usage >80%
//
// payment-service runs 10 pods of v1.9.0 behind the Service payment-service,
// whose selector (app=payment-service) takes both versions' pods: with Istio
// the traffic split is the VirtualService's, between the subsets "stable" and
// "canary" of a DestinationRule (pods labelled progressive.agentops.io/role),
// not the Service's. The istio router creates both objects (istio.Options
// Create) and owns the VirtualService's one HTTP route. The canary, v2.0.0,
// comes up as a second Deployment of 10 pods (it carries all the traffic in the
// last phase), then takes 10%, 50% and 100% of the requests, each for
// --phase (the guide's 15 minutes by default), while three checks are measured
// on it: error rate at most 1%, p95 latency at most 500 ms and CPU at most 80%
// (from a small fixed metric source standing in for Prometheus). The old
// version keeps running through all three phases, so even at 100% a failed
// check sends everything back in one write of the VirtualService. Once the
// 100% phase passed the stable Deployment takes the canary's template, the
// route goes back to the stable subset (which runs v2.0.0 by then) and the
// canary is scaled away.
//
// With --bad=errors, --bad=latency or --bad=cpu the canary's error rate (2.5%),
// p95 latency (820 ms) or CPU (93%) goes over its limit as soon as it takes
// --bad-at percent of the traffic: the check fails, the VirtualService sends 0%
// to the canary again, the canary is scaled away and the decision record names
// the check.
//
// Run it against a cluster with Istio (--kubeconfig), or against a local
// throwaway control plane with the Istio CRDs and no data plane (--testenv,
// where --phase defaults to 5s):
//
//	go run ./examples/istio-canary --testenv
//	go run ./examples/istio-canary --testenv --bad=latency --bad-at=100
//	go run ./examples/istio-canary --kubeconfig ~/.kube/config --namespace payments-demo --phase 15m
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"regexp"
	"slices"
	"strings"
	"time"

	"istio.io/client-go/pkg/clientset/versioned"
	"k8s.io/client-go/rest"

	"github.com/agentops/progressive"
	istioshared "github.com/agentops/progressive/examples/istio-shared"
	shared "github.com/agentops/progressive/examples/k8s-shared"
	"github.com/agentops/progressive/provider/istio"
	k8s "github.com/agentops/progressive/provider/kubernetes"
	"github.com/agentops/progressive/rollout"
	"github.com/agentops/progressive/strategy"
)

// manifest is payment-service before the rollout: the guide's Deployment (with
// the stable release and the role label the DestinationRule's stable subset
// selects) and a Service selecting both versions' pods.
const manifest = `
apiVersion: apps/v1
kind: Deployment
metadata:
  name: payment-service
  labels:
    app: payment-service
spec:
  replicas: 10
  selector:
    matchLabels:
      app: payment-service
      progressive.agentops.io/role: stable
  template:
    metadata:
      labels:
        app: payment-service
        progressive.agentops.io/role: stable
    spec:
      containers:
        - name: payment-service
          image: registry.example.com/payment-service:v1.9.0
          ports:
            - containerPort: 8080
          resources:
            requests:
              cpu: 100m
              memory: 128Mi
            limits:
              cpu: 1000m
              memory: 512Mi
          readinessProbe:
            httpGet:
              path: /ready
              port: 8080
---
apiVersion: v1
kind: Service
metadata:
  name: payment-service
spec:
  selector:
    app: payment-service
  ports:
    - name: http
      port: 8080
      targetPort: 8080
`

// Faults --bad can inject: the series and the value the canary reports.
var faults = map[string]struct {
	Series string
	Value  float64
}{
	"errors":  {"error_rate", 2.5},
	"latency": {"latency_p95", 820},
	"cpu":     {"cpu_usage", 93},
}

// Names of the checks, as the decision record shows them.
const (
	checkErrors  = "error-rate"
	checkLatency = "latency-p95"
	checkCPU     = "cpu-usage"
)

type config struct {
	Namespace string
	// Phase is the analysis time at each weight.
	Phase time.Duration
	// Bad ("errors", "latency", "cpu" or "") makes the canary break that check
	// once it takes BadAt percent of the traffic.
	Bad   string
	BadAt float64
}

type result struct {
	State   rollout.State
	Record  rollout.DecisionRecord
	Changes []istioshared.Change
}

func main() {
	var f shared.Flags
	f.Register(flag.CommandLine, "payments-demo")
	phase := flag.Duration("phase", 15*time.Minute, "analysis time at each weight (the guide's 15 minutes)")
	bad := flag.String("bad", "", "make the canary break a rollback trigger: errors, latency or cpu")
	badAt := flag.Float64("bad-at", 50, "the canary weight (10, 50 or 100) from which --bad shows")
	flag.Parse()
	if err := istioshared.ShortWithTestenv(flag.CommandLine, &f, map[string]time.Duration{"phase": 5 * time.Second}, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "istio-canary:", err)
		os.Exit(1)
	}
	if _, ok := faults[*bad]; *bad != "" && !ok {
		fmt.Fprintf(os.Stderr, "istio-canary: --bad=%q: want errors, latency or cpu\n", *bad)
		os.Exit(1)
	}
	if !slices.Contains([]float64{10, 50, 100}, *badAt) {
		fmt.Fprintf(os.Stderr, "istio-canary: --bad-at=%g: want 10, 50 or 100, a weight of the plan\n", *badAt)
		os.Exit(1)
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt)
	defer cancel()
	cfg, stop, err := istioshared.Connect(ctx, &f, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "istio-canary:", err)
		os.Exit(1)
	}
	defer stop()
	res, err := run(ctx, cfg, config{Namespace: f.Namespace, Phase: *phase, Bad: *bad, BadAt: *badAt}, os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "istio-canary:", err)
		stop()
		os.Exit(1)
	}
	if res.State.Phase != rollout.PhaseSucceeded && *bad == "" {
		stop()
		os.Exit(2)
	}
}

func run(ctx context.Context, cfg *rest.Config, c config, out io.Writer) (result, error) {
	var res result
	target := progressive.Target{Namespace: c.Namespace, Name: "payment-service"}
	fmt.Fprintf(out, "== %s: 10 pods of v1.9.0 behind an Istio VirtualService ==\n", target)
	applied, err := istioshared.Apply(ctx, cfg, c.Namespace, manifest)
	if err != nil {
		return res, err
	}
	for _, a := range applied {
		fmt.Fprintf(out, "  %s %s (existed: %t)\n", a.Kind, a.Name, a.Existed)
	}

	// The kubernetes provider keeps the rollout's state in a ConfigMap and holds
	// a Lease so that only one runner drives it; its Workload is not used (it
	// would narrow the Service to the stable pods, see istioshared.Deployments).
	p, err := k8s.New(cfg, k8s.Options{PollInterval: 50 * time.Millisecond})
	if err != nil {
		return res, err
	}
	defer p.Close()
	routerCfg, writes := istioshared.CountWrites(cfg)
	ir, err := istio.New(routerCfg, istio.Options{Create: true})
	if err != nil {
		return res, err
	}
	ic, err := versioned.NewForConfig(cfg)
	if err != nil {
		return res, err
	}
	router := &istioshared.MeasuredRouter{TrafficRouter: ir, Counter: writes, Istio: ic, Out: out}
	workload := &istioshared.Deployments{Client: p.Clientset(), Label: istio.RoleLabel, StableValue: "stable", CanaryValue: "canary"}

	metrics := shared.NewMetrics(map[string]float64{"error_rate": 0.2, "latency_p95": 180, "cpu_usage": 45})
	progress := &shared.Progress{Out: out}
	observers := []rollout.Observer{progress}
	if f, ok := faults[c.Bad]; ok {
		// The regression shows only under enough production traffic.
		observers = append(observers, rollout.ObserverFunc(func(_ context.Context, e rollout.Event) {
			if e.Type == rollout.EventRoutesChanged && e.Routes != nil && e.Routes.CanaryWeight >= c.BadAt {
				metrics.Set(progressive.Canary, f.Series, f.Value)
			}
		}))
	}
	store, err := p.Store(c.Namespace)
	if err != nil {
		return res, err
	}
	runner, err := rollout.New(rollout.Options{
		Providers: rollout.Providers{
			Routers:   []progressive.TrafficRouter{router},
			Workloads: []progressive.Workload{workload},
			Metrics:   []progressive.MetricSource{metrics},
		},
		Store:        store,
		Observers:    observers,
		PollInterval: 200 * time.Millisecond,
		RetryBackoff: 500 * time.Millisecond,
		Logger:       shared.QuietLogger(),
	})
	if err != nil {
		return res, err
	}
	// With Prometheus the queries would be the guide's, for example
	// sum(rate(http_requests_total{app="payment-service",version="{{.Version}}",status=~"5.."}[1m]))
	// / sum(rate(http_requests_total{app="payment-service",version="{{.Version}}"}[1m])) * 100.
	interval := min(max(c.Phase/5, 100*time.Millisecond), time.Minute)
	plan, err := strategy.Canary{
		Weights: []float64{10, 50, 100},
		// Soak at 100% too, while the old version still runs beside the canary:
		// the guide's "15 minutes each" phase, with an instant rollback.
		FullSoak: true,
		Soak:     c.Phase,
		// The canary carries all the traffic in the last phase.
		Replicas: 10,
		Checks: []progressive.Check{
			{Name: checkErrors, Query: "error_rate", Max: progressive.Float(1), Interval: interval},
			{Name: checkLatency, Query: "latency_p95", Max: progressive.Float(500), Interval: interval},
			{Name: checkCPU, Query: "cpu_usage", Max: progressive.Float(80), Interval: interval},
		},
	}.Plan(target, progressive.Release{Version: "v2.0.0", Image: "registry.example.com/payment-service:v2.0.0"})
	if err != nil {
		return res, err
	}
	res.State, err = shared.RunPlan(ctx, p, runner, &plan, out)
	if err != nil {
		return res, err
	}
	if res.Record, err = runner.Record(ctx, plan.Name); err != nil {
		return res, err
	}
	res.Changes = router.Changes()
	shared.PrintRecord(out, res.Record)
	fmt.Fprintf(out, "\nThe VirtualService %s after each traffic change (read back with Istio's typed client):\n", target)
	for _, ch := range res.Changes {
		d := istioshared.Evaluate(ch.VS, istioshared.Request{Path: "/"})
		what := "set " + istioshared.Describe(ch.Asked)
		if ch.Finalize {
			what = "finalize"
		}
		fmt.Fprintf(out, "  %-40s -> %-26s %d write(s), generation %d -> %d, %s\n", what, d, ch.Writes, ch.GenerationBefore, ch.GenerationAfter, ch.Took.Round(time.Millisecond))
	}
	if failed := failedChecks(res.Record); len(failed) > 0 {
		fmt.Fprintf(out, "Rolled back by: %s\n", strings.Join(failed, ", "))
	}
	return res, nil
}

// failedCheck finds the names of failed checks in the rollback decisions'
// reasons ("check "cpu-usage" failed 1 of 1 measurements, ...").
var failedCheck = regexp.MustCompile(`check "([^"]+)" failed`)

// failedChecks names the checks the rollback decision of rec blames.
func failedChecks(rec rollout.DecisionRecord) []string {
	var out []string
	for _, d := range rec.Decisions {
		if d.Action != "rollback" {
			continue
		}
		for _, m := range failedCheck.FindAllStringSubmatch(d.Reason, -1) {
			if !slices.Contains(out, m[1]) {
				out = append(out, m[1])
			}
		}
	}
	return out
}
