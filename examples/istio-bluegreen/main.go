// Command istio-bluegreen runs the guide's blue-green release of api with
// Istio ("Strategy 2: Blue-Green with Istio"): the Deployments api-blue (10
// pods of v1.5.0, label version=blue) and api-green (10 pods, version=green),
// the Service api, and the user's own VirtualService api and DestinationRule
// api with the subsets blue and green, as the guide writes them. The user's
// VirtualService keeps its two routes: requests with the header
// x-version: green go to green (how the team tries green before the switch),
// everything else takes the catch-all route to blue.
//
// The istio router adopts these objects (istio.Options StableSubset "blue",
// CanarySubset "green", SubsetLabel "version") and adds one route of its own,
// progressive-api, ahead of the catch-all, without touching the user's. The
// guide's scripts/switch-blue-green.sh becomes Switch: all traffic to "green" or
// back to "blue" in one resourceVersion-checked write of that route, read back.
// (The script patched /spec/http/0/route/{0,1}/weight, which in the guide's
// VirtualService is the header route with a single destination, so the patch
// fails; and a patch by position overwrites whatever route is there now.)
//
// The release runs as a blue-green plan (strategy.BlueGreen): green gets
// v2.0.0 on 10 pods; a smoke test validates it through the user's header
// route; Switch sends all traffic to green; the checks (error rate at most 1%,
// p95 latency at most 500 ms, from a small fixed metric source standing in for
// Prometheus) monitor it for --monitor (the guide's 15 minutes); blue stays up
// for --decommission-delay for an instant switch-back; then api-blue takes
// green's template, green is scaled away, and the router removes its route:
// the user's VirtualService is exactly as it was, its catch-all sending
// everything to blue, which runs v2.0.0 by then.
//
// With --fail-after-switch green's error rate jumps to 7% once it takes the
// traffic: the monitor fails and Switch sends everything back to blue, still
// running v1.5.0, in one write.
//
// The Service selects app=api only. The guide's also selects version=blue, but
// an Istio subset only picks among the Service's endpoints, so green's subset
// would have none and every switched request would fail.
//
// Run it against a cluster with Istio (--kubeconfig), or against a local
// throwaway control plane with the Istio CRDs and no data plane (--testenv,
// where --monitor defaults to 5s and --decommission-delay to 2s):
//
//	go run ./examples/istio-bluegreen --testenv
//	go run ./examples/istio-bluegreen --testenv --fail-after-switch
//	go run ./examples/istio-bluegreen --kubeconfig ~/.kube/config --namespace production --switch blue
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"time"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	"istio.io/client-go/pkg/clientset/versioned"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	"github.com/agentops/progressive"
	istioshared "github.com/agentops/progressive/examples/istio-shared"
	shared "github.com/agentops/progressive/examples/k8s-shared"
	"github.com/agentops/progressive/provider/istio"
	k8s "github.com/agentops/progressive/provider/kubernetes"
	"github.com/agentops/progressive/rollout"
	"github.com/agentops/progressive/strategy"
)

// manifest is the guide's blue-green-deployment.yaml (the Service selecting
// both colours, and the VirtualService also serving the in-mesh host api).
const manifest = `
apiVersion: apps/v1
kind: Deployment
metadata:
  name: api-blue
spec:
  replicas: 10
  selector:
    matchLabels:
      app: api
      version: blue
  template:
    metadata:
      labels:
        app: api
        version: blue
    spec:
      containers:
        - name: api
          image: registry.example.com/api:v1.5.0
          ports:
            - containerPort: 8080
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: api-green
spec:
  replicas: 10
  selector:
    matchLabels:
      app: api
      version: green
  template:
    metadata:
      labels:
        app: api
        version: green
    spec:
      containers:
        - name: api
          image: registry.example.com/api:v2.0.0
          ports:
            - containerPort: 8080
---
apiVersion: v1
kind: Service
metadata:
  name: api
spec:
  selector:
    app: api
  ports:
    - port: 80
      targetPort: 8080
---
apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata:
  name: api
spec:
  hosts:
    - api.example.com
    - api
  http:
    - match:
        - headers:
            x-version:
              exact: green
      route:
        - destination:
            host: api
            subset: green
    - route:
        - destination:
            host: api
            subset: blue
          weight: 100
        - destination:
            host: api
            subset: green
          weight: 0
---
apiVersion: networking.istio.io/v1beta1
kind: DestinationRule
metadata:
  name: api
spec:
  host: api
  subsets:
    - name: blue
      labels:
        version: blue
    - name: green
      labels:
        version: green
`

// target is the Service (and VirtualService, DestinationRule) the release
// goes through.
func target(ns string) progressive.Target { return progressive.Target{Namespace: ns, Name: "api"} }

// routerOptions adopt the user's VirtualService and DestinationRule api.
var routerOptions = istio.Options{StableSubset: "blue", CanarySubset: "green", SubsetLabel: "version"}

// routeName is the route the router owns in the VirtualService.
const routeName = "progressive-api"

// Switch is scripts/switch-blue-green.sh: it sends all of target's traffic to
// to ("green" or "blue") in one write of the router's route, then reads the
// routes back and checks that they are what was asked. Any other value is an
// error naming it, and nothing is written.
func Switch(ctx context.Context, router progressive.TrafficRouter, target progressive.Target, to string) error {
	routes, err := switchRoutes(to)
	if err != nil {
		return fmt.Errorf("switch %s: %w", target, err)
	}
	if err := router.SetRoutes(ctx, target, routes); err != nil {
		return fmt.Errorf("switch %s to %s: %w", target, to, err)
	}
	got, err := router.GetRoutes(ctx, target)
	if err != nil {
		return fmt.Errorf("switch %s to %s: read back: %w", target, to, err)
	}
	if got.CanaryWeight != routes.CanaryWeight || got.StableWeight != routes.StableWeight {
		return fmt.Errorf("switch %s to %s: read back %s: %w", target, to, istioshared.Describe(got), progressive.ErrConflict)
	}
	return nil
}

// switchRoutes are the routes that send all traffic to "green" or "blue".
func switchRoutes(to string) (progressive.Routes, error) {
	switch to {
	case "green":
		return progressive.Routes{CanaryWeight: 100}, nil
	case "blue":
		return progressive.AllStable(), nil
	}
	return progressive.Routes{}, fmt.Errorf("unknown version %q: want blue or green: %w", to, progressive.ErrInvalid)
}

// switchRouter makes the plan's switch and switch-back go through Switch: a
// SetRoutes of all traffic to one side is Switch; anything else passes on.
type switchRouter struct{ *istio.Router }

func (s switchRouter) SetRoutes(ctx context.Context, t progressive.Target, r progressive.Routes) error {
	if len(r.Matches) == 0 && r.MirrorPercent == 0 {
		switch r.CanaryWeight {
		case 100:
			return Switch(ctx, s.Router, t, "green")
		case 0:
			return Switch(ctx, s.Router, t, "blue")
		}
	}
	return s.Router.SetRoutes(ctx, t, r)
}

type config struct {
	Namespace string
	// FailAfterSwitch makes green's error rate 7% once it takes the traffic.
	FailAfterSwitch bool
	// Monitor is the analysis after the switch; Decommission the time blue stays
	// up after it.
	Monitor, Decommission time.Duration
}

type result struct {
	State  rollout.State
	Record rollout.DecisionRecord
	// Before is the user's VirtualService before the rollout, After after it
	// (and after the router's route was removed).
	Before, After *networkingv1.VirtualService
	Changes       []istioshared.Change
}

func main() {
	var f shared.Flags
	f.Register(flag.CommandLine, "production")
	failAfter := flag.Bool("fail-after-switch", false, "green's error rate jumps to 7% once it takes the traffic: switch back to blue")
	monitor := flag.Duration("monitor", 15*time.Minute, "analysis time after the switch (the guide's 15 minutes)")
	decommission := flag.Duration("decommission-delay", 5*time.Minute, "how long blue stays up after a healthy monitor")
	to := flag.String("switch", "", "only switch the traffic, like scripts/switch-blue-green.sh: blue or green")
	flag.Parse()
	short := map[string]time.Duration{"monitor": 5 * time.Second, "decommission-delay": 2 * time.Second}
	if err := istioshared.ShortWithTestenv(flag.CommandLine, &f, short, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "istio-bluegreen:", err)
		os.Exit(1)
	}
	if _, err := switchRoutes(*to); *to != "" && err != nil {
		fmt.Fprintln(os.Stderr, "istio-bluegreen: --switch:", err)
		os.Exit(1)
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt)
	defer cancel()
	cfg, stop, err := istioshared.Connect(ctx, &f, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "istio-bluegreen:", err)
		os.Exit(1)
	}
	defer stop()
	if *to != "" {
		err = switchOnly(ctx, cfg, f.Namespace, *to, os.Stdout)
	} else {
		var res result
		res, err = run(ctx, cfg, config{Namespace: f.Namespace, FailAfterSwitch: *failAfter, Monitor: *monitor, Decommission: *decommission}, os.Stdout)
		if err == nil && res.State.Phase != rollout.PhaseSucceeded && !*failAfter {
			stop()
			os.Exit(2)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "istio-bluegreen:", err)
		stop()
		os.Exit(1)
	}
}

// setup creates the guide's objects that are missing and returns the
// VirtualService as it is then.
func setup(ctx context.Context, cfg *rest.Config, ns string, out io.Writer) (*networkingv1.VirtualService, error) {
	fmt.Fprintf(out, "== %s: blue-green with Istio ==\n", target(ns))
	applied, err := istioshared.Apply(ctx, cfg, ns, manifest)
	if err != nil {
		return nil, err
	}
	for _, a := range applied {
		fmt.Fprintf(out, "  %s %s (existed: %t)\n", a.Kind, a.Name, a.Existed)
	}
	ic, err := versioned.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	return ic.NetworkingV1().VirtualServices(ns).Get(ctx, "api", metav1.GetOptions{})
}

// switchOnly is the script: set up what is missing, then Switch.
func switchOnly(ctx context.Context, cfg *rest.Config, ns, to string, out io.Writer) error {
	if _, err := setup(ctx, cfg, ns, out); err != nil {
		return err
	}
	r, err := istio.New(cfg, routerOptions)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "Switching traffic to %s...\n", to)
	if err := Switch(ctx, r, target(ns), to); err != nil {
		return err
	}
	fmt.Fprintf(out, "Traffic switched to %s (VirtualService %s/api, route %s). Monitor the metrics before decommissioning the other version.\n", to, ns, routeName)
	return nil
}

func run(ctx context.Context, cfg *rest.Config, c config, out io.Writer) (result, error) {
	var res result
	t := target(c.Namespace)
	before, err := setup(ctx, cfg, c.Namespace, out)
	if err != nil {
		return res, err
	}
	res.Before = before.DeepCopy()

	// The kubernetes provider keeps the rollout's state in a ConfigMap and holds
	// a Lease so that only one runner drives it.
	p, err := k8s.New(cfg, k8s.Options{PollInterval: 50 * time.Millisecond})
	if err != nil {
		return res, err
	}
	defer p.Close()
	routerCfg, writes := istioshared.CountWrites(cfg)
	ir, err := istio.New(routerCfg, routerOptions)
	if err != nil {
		return res, err
	}
	ic, err := versioned.NewForConfig(cfg)
	if err != nil {
		return res, err
	}
	router := &istioshared.MeasuredRouter{TrafficRouter: switchRouter{ir}, Counter: writes, Istio: ic, Out: out}
	workload := &istioshared.Deployments{Client: p.Clientset(), Stable: "api-blue", Canary: "api-green", Label: "version", StableValue: "blue", CanaryValue: "green"}

	metrics := shared.NewMetrics(map[string]float64{"error_rate": 0.2, "latency_p95": 240})
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
	smoke := rollout.HookFunc(func(ctx context.Context, req rollout.HookRequest) error {
		// Stands in for requests with x-version: green: the user's header route
		// must take them to green, and every green pod must run the release.
		vs, err := ic.NetworkingV1().VirtualServices(req.Target.Namespace).Get(ctx, "api", metav1.GetOptions{})
		if err != nil {
			return err
		}
		d := istioshared.Evaluate(vs, istioshared.Request{Path: "/", Headers: map[string]string{"x-version": "green"}})
		if d.Weights["green"] != 100 {
			return fmt.Errorf("smoke test: a request with x-version: green goes to %s, not to green", d)
		}
		st, err := workload.Status(ctx, req.Target)
		if err != nil {
			return err
		}
		if st.Canary.Ready < st.Canary.Replicas || st.Canary.Version != req.Release.Version {
			return fmt.Errorf("smoke test: green has %d of %d pods ready running %s", st.Canary.Ready, st.Canary.Replicas, st.Canary.Version)
		}
		fmt.Fprintf(out, "           smoke test: x-version: green reaches green (by %s); %d/%d green pods run %s\n", d.Name(), st.Canary.Ready, st.Canary.Replicas, st.Canary.Version)
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
			Hooks:     map[string]rollout.Hook{"smoke-test": smoke},
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
	interval := min(max(c.Monitor/5, 100*time.Millisecond), time.Minute)
	plan, err := strategy.BlueGreen{
		Replicas:          10,
		Validation:        []progressive.HookSpec{{Name: "smoke-test"}},
		Monitor:           c.Monitor,
		DecommissionDelay: c.Decommission,
		Checks: []progressive.Check{
			{Name: "error-rate", Query: "error_rate", Max: progressive.Float(1), Interval: interval},
			{Name: "latency-p95", Query: "latency_p95", Max: progressive.Float(500), Interval: interval},
		},
	}.Plan(t, progressive.Release{Version: "v2.0.0", Image: "registry.example.com/api:v2.0.0"})
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
	if res.State.Phase != rollout.PhaseSucceeded {
		// A rollback leaves the router's route in place, at all-blue. Remove it
		// so that the user's VirtualService is theirs again (and a later edit of
		// their catch-all route is not shadowed by it).
		fmt.Fprintf(out, "Removing the router's route %s from the VirtualService:\n", routeName)
		if err := router.Finalize(ctx, t); err != nil {
			return res, err
		}
	}
	res.Changes = router.Changes()
	if res.After, err = ic.NetworkingV1().VirtualServices(c.Namespace).Get(ctx, "api", metav1.GetOptions{}); err != nil {
		return res, err
	}
	shared.PrintRecord(out, res.Record)
	fmt.Fprintf(out, "\nThe VirtualService %s after each traffic change (read back with Istio's typed client):\n", t)
	for _, ch := range res.Changes {
		d := istioshared.Evaluate(ch.VS, istioshared.Request{Path: "/"})
		what := "switch to " + map[bool]string{true: "green", false: "blue"}[ch.Asked.CanaryWeight == 100]
		if ch.Finalize {
			what = "finalize (remove the router's route)"
		}
		fmt.Fprintf(out, "  %-38s -> %-19s %-22s %d write(s), generation %d -> %d, %s\n", what, d.Name(), d.String(), ch.Writes, ch.GenerationBefore, ch.GenerationAfter, ch.Took.Round(time.Millisecond))
	}
	same := istioshared.SameRoutes(res.Before.Spec.GetHttp(), res.After.Spec.GetHttp())
	fmt.Fprintf(out, "The user's routes are as before the rollout: %t (routes now: %q)\n", same, istioshared.RouteNames(res.After))
	if !same {
		return res, errors.New("the user's VirtualService routes changed")
	}
	return res, nil
}
