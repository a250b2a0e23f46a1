// Command k8s-canary runs the guide's user-authentication-api canary on Kubernetes
// with the native provider (no service mesh): 20 stable replicas and a canary
// Deployment of 2. The plan asks for 10% of the traffic; the Service selects both
// Deployments' pods, so the canary gets what 2 of 22 pods get, 9.09%, and the
// router reports exactly that. The checks (error rate at most 1%, p95 latency at
// most 500 ms, from a small fixed metric source standing in for Prometheus) are
// measured during the soak; when they pass, the release is promoted
// automatically: the stable Deployment takes the canary's template and the
// canary is scaled away. With --bad the canary's error rate is 5%: the analysis
// fails and all traffic goes back to stable in one write.
//
// The rollout's state lives in a ConfigMap and a Lease makes sure only one runner
// drives it. Run it against any cluster with --kubeconfig, or against a local
// throwaway control plane (etcd, kube-apiserver, kube-controller-manager,
// kube-scheduler and kwok, built from Go modules) with --testenv:
//
//	go run ./examples/k8s-canary --testenv
//	go run ./examples/k8s-canary --testenv --bad
//	go run ./examples/k8s-canary --kubeconfig ~/.kube/config --namespace auth-demo
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"time"

	"k8s.io/client-go/rest"

	"github.com/agentops/progressive"
	shared "github.com/agentops/progressive/examples/k8s-shared"
	k8s "github.com/agentops/progressive/provider/kubernetes"
	"github.com/agentops/progressive/rollout"
	"github.com/agentops/progressive/strategy"
)

type config struct {
	Namespace string
	// Bad gives the canary a 5% error rate.
	Bad bool
	// Soak is the analysis time at 10%.
	Soak time.Duration
}

type result struct {
	State           rollout.State
	Record          rollout.DecisionRecord
	Changes         []shared.Change
	RollbackLatency time.Duration
}

func main() {
	var f shared.Flags
	f.Register(flag.CommandLine, "auth-demo")
	bad := flag.Bool("bad", false, "give the canary a 5% error rate, so the analysis fails and the rollout rolls back")
	soak := flag.Duration("soak", 10*time.Second, "analysis time at 10%")
	flag.Parse()
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt)
	defer cancel()
	cfg, stop, err := f.Connect(ctx, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "k8s-canary:", err)
		os.Exit(1)
	}
	defer stop()
	res, err := run(ctx, cfg, config{Namespace: f.Namespace, Bad: *bad, Soak: *soak}, os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "k8s-canary:", err)
		stop()
		os.Exit(1)
	}
	if res.State.Phase != rollout.PhaseSucceeded && !*bad {
		stop()
		os.Exit(2)
	}
}

func run(ctx context.Context, cfg *rest.Config, c config, out io.Writer) (result, error) {
	var res result
	p, err := k8s.New(cfg, k8s.Options{PollInterval: 50 * time.Millisecond})
	if err != nil {
		return res, err
	}
	defer p.Close()
	svc := shared.Service{Namespace: c.Namespace, Name: "user-authentication-api", Replicas: 20, Image: "registry.example/user-authentication-api:v1.4.0"}
	fmt.Fprintf(out, "== %s: %d replicas of %s ==\n", svc.Target(), svc.Replicas, svc.Image)
	if err := shared.Ensure(ctx, p.Clientset(), svc); err != nil {
		return res, err
	}
	metrics := shared.NewMetrics(map[string]float64{"error_rate": 0.3, "latency_p95": 180})
	if c.Bad {
		metrics.Set(progressive.Canary, "error_rate", 5)
	}
	router := &shared.MeasuredRouter{Router: p.Router(), Provider: p, Out: out}
	store, err := p.Store(c.Namespace)
	if err != nil {
		return res, err
	}
	progress := &shared.Progress{Out: out}
	runner, err := rollout.New(rollout.Options{
		Providers: rollout.Providers{
			Routers:   []progressive.TrafficRouter{router},
			Workloads: []progressive.Workload{p.Workload()},
			Metrics:   []progressive.MetricSource{metrics},
		},
		Store:        store,
		Observers:    []rollout.Observer{progress},
		PollInterval: 200 * time.Millisecond,
		RetryBackoff: 500 * time.Millisecond,
		Logger:       shared.QuietLogger(),
	})
	if err != nil {
		return res, err
	}
	interval := max(c.Soak/5, 100*time.Millisecond)
	plan, err := strategy.Canary{
		Weights:  []float64{10},
		Soak:     c.Soak,
		Replicas: 2,
		Checks: []progressive.Check{
			{Name: "error-rate", Query: "error_rate", Max: progressive.Float(1), Interval: interval},
			{Name: "latency-p95", Query: "latency_p95", Max: progressive.Float(500), Interval: interval},
		},
	}.Plan(svc.Target(), progressive.Release{Version: "v1.5.0", Image: "registry.example/user-authentication-api:v1.5.0"})
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
	res.RollbackLatency = progress.RollbackLatency()
	shared.PrintRecord(out, res.Record)
	fmt.Fprintf(out, "\nTraffic changes (API writes each, time until the EndpointSlices showed it):\n")
	for _, ch := range res.Changes {
		fmt.Fprintf(out, "  canary %5.4g%% asked, %6.4g%% achieved: %d write(s), %s\n", ch.Asked.CanaryWeight, ch.Achieved.CanaryWeight, ch.Writes, ch.Took.Round(time.Millisecond))
	}
	if res.RollbackLatency > 0 {
		fmt.Fprintf(out, "Rollback decision to all traffic back on stable: %s\n", res.RollbackLatency.Round(time.Millisecond))
	}
	st := p.Stats()
	fmt.Fprintf(out, "Provider API requests: %d reads, %d writes\n", st.Reads, st.Writes)
	return res, nil
}
