// Command k8s-bluegreen runs the guide's order-management blue-green release on
// Kubernetes with the native provider: blue is the running Deployment (10
// replicas of v3.1.0). First a schema-migration Job runs and must complete (a
// failed migration stops the rollout before green even exists); then green, a
// second Deployment of 10 replicas of v3.2.0, comes up beside blue; a smoke test
// checks it; all traffic switches to green in one write of the Service's selector,
// verified by reading it back and through the EndpointSlices; the checks
// (error rate at most 1%, p95 latency at most 500 ms, from a small fixed metric
// source standing in for Prometheus) monitor green; blue stays up for a while for
// an instant switch-back and is then decommissioned (the blue Deployment takes
// green's template and green is scaled away).
//
// With --fail-after-switch green's error rate jumps to 7% as soon as it takes the
// traffic: the monitor fails and the Service switches back to blue, which is still
// running, in one write. With --fail-migration the migration Job fails.
//
//	go run ./examples/k8s-bluegreen --testenv
//	go run ./examples/k8s-bluegreen --testenv --fail-after-switch
//	go run ./examples/k8s-bluegreen --kubeconfig ~/.kube/config --namespace orders-demo --migration-image registry.example/order-migrations:v3.2.0
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	"github.com/agentops/progressive"
	shared "github.com/agentops/progressive/examples/k8s-shared"
	k8s "github.com/agentops/progressive/provider/kubernetes"
	"github.com/agentops/progressive/rollout"
	"github.com/agentops/progressive/strategy"
)

type config struct {
	Namespace string
	// FailAfterSwitch makes green's error rate 7% once it takes the traffic.
	FailAfterSwitch bool
	// MigrationImage runs the migration Job; MigrationLabels go on its pod (the
	// tests use them to make the Job fail on the local control plane).
	MigrationImage  string
	MigrationLabels map[string]string
	// Monitor is the analysis after the switch; Decommission the time blue stays up
	// after it.
	Monitor, Decommission time.Duration
}

type result struct {
	State           rollout.State
	Record          rollout.DecisionRecord
	Changes         []shared.Change
	RollbackLatency time.Duration
}

func main() {
	var f shared.Flags
	f.Register(flag.CommandLine, "orders-demo")
	failAfter := flag.Bool("fail-after-switch", false, "green's error rate jumps to 7% once it takes the traffic: switch back to blue")
	failMigration := flag.Bool("fail-migration", false, "with --testenv: make the migration Job fail (its pod is handed to a kwok stage of the local control plane that fails it)")
	image := flag.String("migration-image", "registry.example/order-management-migrations:v3.2.0", "image of the migration Job")
	monitor := flag.Duration("monitor", 10*time.Second, "analysis time after the switch")
	decommission := flag.Duration("decommission-delay", 5*time.Second, "how long blue stays up after a healthy monitor")
	flag.Parse()
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt)
	defer cancel()
	var labels map[string]string
	if *failMigration {
		if !f.Testenv {
			fmt.Fprintln(os.Stderr, "k8s-bluegreen: --fail-migration needs --testenv (it relies on a kwok stage of the local control plane)")
			os.Exit(1)
		}
		labels = map[string]string{shared.FailLabel: "fail"}
	}
	cfg, stop, err := f.Connect(ctx, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "k8s-bluegreen:", err)
		os.Exit(1)
	}
	defer stop()
	res, err := run(ctx, cfg, config{Namespace: f.Namespace, FailAfterSwitch: *failAfter, MigrationImage: *image, MigrationLabels: labels, Monitor: *monitor, Decommission: *decommission}, os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "k8s-bluegreen:", err)
		stop()
		os.Exit(1)
	}
	if res.State.Phase != rollout.PhaseSucceeded && !*failAfter && !*failMigration {
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
	svc := shared.Service{Namespace: c.Namespace, Name: "order-management", Replicas: 10, Image: "registry.example/order-management:v3.1.0"}
	fmt.Fprintf(out, "== %s: blue is %d replicas of %s ==\n", svc.Target(), svc.Replicas, svc.Image)
	if err := shared.Ensure(ctx, p.Clientset(), svc); err != nil {
		return res, err
	}
	metrics := shared.NewMetrics(map[string]float64{"error_rate": 0.2, "latency_p95": 240})
	router := &shared.MeasuredRouter{Router: p.Router(), Provider: p, Out: out}
	progress := &shared.Progress{Out: out}
	observers := []rollout.Observer{progress}
	if c.FailAfterSwitch {
		// The regression shows only under production traffic.
		observers = append(observers, rollout.ObserverFunc(func(_ context.Context, e rollout.Event) {
			if e.Type == rollout.EventRoutesChanged && e.Routes != nil && e.Routes.CanaryWeight == 100 {
				metrics.Set(progressive.Canary, "error_rate", 7)
			}
		}))
	}
	migration := p.JobHook(batchv1.JobSpec{Template: corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: c.MigrationLabels},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "migrate", Image: c.MigrationImage, Args: []string{"migrate", "up"},
		}}},
	}}, k8s.JobHookOptions{})
	workload := p.Workload()
	smoke := rollout.HookFunc(func(ctx context.Context, req rollout.HookRequest) error {
		// Stands in for requests against green's own endpoints: every green pod
		// must be running the release and ready before users reach it.
		st, err := workload.Status(ctx, req.Target)
		if err != nil {
			return err
		}
		if st.Canary.Ready < st.Canary.Replicas || st.Canary.Version != req.Release.Version {
			return fmt.Errorf("smoke test: green has %d of %d pods ready running %s", st.Canary.Ready, st.Canary.Replicas, st.Canary.Version)
		}
		return nil
	})
	store, err := p.Store(c.Namespace)
	if err != nil {
		return res, err
	}
	runner, err := rollout.New(rollout.Options{
		Providers: rollout.Providers{
			Routers:   []progressive.TrafficRouter{router},
			Workloads: []progressive.Workload{workload},
			Metrics:   []progressive.MetricSource{metrics},
			Hooks:     map[string]rollout.Hook{"schema-migration": migration, "smoke-test": smoke},
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
	interval := max(c.Monitor/5, 100*time.Millisecond)
	plan, err := strategy.BlueGreen{
		Replicas:          10,
		Migration:         &progressive.HookSpec{Name: "schema-migration", Timeout: 5 * time.Minute, Retries: -1},
		Validation:        []progressive.HookSpec{{Name: "smoke-test"}},
		Monitor:           c.Monitor,
		DecommissionDelay: c.Decommission,
		Checks: []progressive.Check{
			{Name: "error-rate", Query: "error_rate", Max: progressive.Float(1), Interval: interval},
			{Name: "latency-p95", Query: "latency_p95", Max: progressive.Float(500), Interval: interval},
		},
	}.Plan(svc.Target(), progressive.Release{Version: "v3.2.0", Image: "registry.example/order-management:v3.2.0"})
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
		fmt.Fprintf(out, "  green %5.4g%% asked, %6.4g%% achieved: %d write(s), %s\n", ch.Asked.CanaryWeight, ch.Achieved.CanaryWeight, ch.Writes, ch.Took.Round(time.Millisecond))
	}
	if res.RollbackLatency > 0 {
		fmt.Fprintf(out, "Rollback decision to all traffic back on blue: %s\n", res.RollbackLatency.Round(time.Millisecond))
	}
	st := p.Stats()
	fmt.Fprintf(out, "Provider API requests: %d reads, %d writes\n", st.Reads, st.Writes)
	return res, nil
}
