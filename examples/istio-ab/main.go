// Command istio-ab runs an A/B test of api with Istio: the guide's
// "x-version: green" header route, owned by the rollout for the duration of
// the test instead of written by hand.
//
// api runs 10 pods of v1.5.0 (Deployment api-blue, label version=blue) behind
// the Service api and the user's own VirtualService api, which has two
// routes: /admin to blue, and a catch-all to blue (100) and green (0) with the
// user's timeout and retries. The DestinationRule api has the subsets blue and
// green (label version). The test (strategy.ABTest) deploys v2.0.0 as
// api-green (2 pods), and the istio router, adopting the user's objects, adds
// two routes ahead of the catch-all: progressive-api-ab sends requests with
// the header x-version: green (or, with --cookie, the cookie) to green, and
// progressive-api keeps everything else on blue. The user's /admin route
// stays ahead of them, so /admin is never part of the test. The checks (error
// rate at most 1%, p95 latency at most 500 ms, from a small fixed metric source
// standing in for Prometheus) are measured on green for --duration (default
// 1h); when they pass, api-blue takes green's template, green is scaled away
// and the router removes its routes: the user's VirtualService is exactly as
// it was.
//
// With --bad green's error rate is 4%: the check fails, the routes go back to
// all-blue (the header route is removed in the same write), green is scaled
// away, and the router's remaining route is removed too.
//
// Run it against a cluster with Istio (--kubeconfig), or against a local
// throwaway control plane with the Istio CRDs and no data plane (--testenv,
// where --duration defaults to 5s):
//
//	go run ./examples/istio-ab --testenv
//	go run ./examples/istio-ab --testenv --cookie ab-group=green --bad
//	go run ./examples/istio-ab --kubeconfig ~/.kube/config --namespace ab-demo --duration 24h
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
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

// manifest is api before the test, with the user's VirtualService.
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
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: api
spec:
  hosts:
    - api
  http:
    - name: admin
      match:
        - uri:
            prefix: /admin
      route:
        - destination:
            host: api
            subset: blue
    - name: default
      timeout: 10s
      retries:
        attempts: 3
        perTryTimeout: 2s
        retryOn: 5xx,reset
      route:
        - destination:
            host: api
            subset: blue
          weight: 100
        - destination:
            host: api
            subset: green
          weight: 0
---
apiVersion: networking.istio.io/v1
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

// The router's routes in the VirtualService api.
const (
	routeName   = "progressive-api"
	abRouteName = "progressive-api-ab"
)

type config struct {
	Namespace string
	// Cookie, "name=value", also selects the segment.
	Cookie string
	// Duration is the analysis time.
	Duration time.Duration
	// Bad gives green a 4% error rate.
	Bad bool
}

type result struct {
	State  rollout.State
	Record rollout.DecisionRecord
	// Before is the user's VirtualService before the test, After after it.
	Before, After *networkingv1.VirtualService
	Changes       []istioshared.Change
}

func main() {
	var f shared.Flags
	f.Register(flag.CommandLine, "ab-demo")
	cookie := flag.String("cookie", "", "also send requests with this cookie (name=value, e.g. ab-group=green) to green")
	duration := flag.Duration("duration", time.Hour, "analysis time of the test")
	bad := flag.Bool("bad", false, "give green a 4% error rate, so the test fails and rolls back")
	flag.Parse()
	if err := istioshared.ShortWithTestenv(flag.CommandLine, &f, map[string]time.Duration{"duration": 5 * time.Second}, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "istio-ab:", err)
		os.Exit(1)
	}
	if _, err := matches(*cookie); err != nil {
		fmt.Fprintln(os.Stderr, "istio-ab:", err)
		os.Exit(1)
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt)
	defer cancel()
	cfg, stop, err := istioshared.Connect(ctx, &f, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "istio-ab:", err)
		os.Exit(1)
	}
	defer stop()
	res, err := run(ctx, cfg, config{Namespace: f.Namespace, Cookie: *cookie, Duration: *duration, Bad: *bad}, os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "istio-ab:", err)
		stop()
		os.Exit(1)
	}
	if res.State.Phase != rollout.PhaseSucceeded && !*bad {
		stop()
		os.Exit(2)
	}
}

// matches selects the segment: the header x-version: green, and the cookie
// when one is given.
func matches(cookie string) ([]progressive.Match, error) {
	ms := []progressive.Match{{Kind: progressive.MatchHeader, Name: "x-version", Value: "green"}}
	if cookie == "" {
		return ms, nil
	}
	name, value, ok := strings.Cut(cookie, "=")
	if !ok || name == "" || value == "" || strings.ContainsAny(name, "; ") {
		return nil, fmt.Errorf("cookie %q: want name=value", cookie)
	}
	return append(ms, progressive.Match{Kind: progressive.MatchCookie, Name: name, Value: value}), nil
}

func run(ctx context.Context, cfg *rest.Config, c config, out io.Writer) (result, error) {
	var res result
	t := progressive.Target{Namespace: c.Namespace, Name: "api"}
	segment, err := matches(c.Cookie)
	if err != nil {
		return res, err
	}
	fmt.Fprintf(out, "== %s: A/B test with Istio ==\n", t)
	applied, err := istioshared.Apply(ctx, cfg, c.Namespace, manifest)
	if err != nil {
		return res, err
	}
	for _, a := range applied {
		fmt.Fprintf(out, "  %s %s (existed: %t)\n", a.Kind, a.Name, a.Existed)
	}
	ic, err := versioned.NewForConfig(cfg)
	if err != nil {
		return res, err
	}
	if res.Before, err = ic.NetworkingV1().VirtualServices(c.Namespace).Get(ctx, "api", metav1.GetOptions{}); err != nil {
		return res, err
	}

	// The kubernetes provider keeps the rollout's state in a ConfigMap and holds
	// a Lease so that only one runner drives it.
	p, err := k8s.New(cfg, k8s.Options{PollInterval: 50 * time.Millisecond})
	if err != nil {
		return res, err
	}
	defer p.Close()
	routerCfg, writes := istioshared.CountWrites(cfg)
	ir, err := istio.New(routerCfg, istio.Options{StableSubset: "blue", CanarySubset: "green", SubsetLabel: "version"})
	if err != nil {
		return res, err
	}
	router := &istioshared.MeasuredRouter{TrafficRouter: ir, Counter: writes, Istio: ic, Out: out}
	workload := &istioshared.Deployments{Client: p.Clientset(), Stable: "api-blue", Canary: "api-green", Label: "version", StableValue: "blue", CanaryValue: "green"}

	metrics := shared.NewMetrics(map[string]float64{"error_rate": 0.3, "latency_p95": 210})
	if c.Bad {
		metrics.Set(progressive.Canary, "error_rate", 4)
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
		Observers:    []rollout.Observer{&shared.Progress{Out: out}},
		PollInterval: 200 * time.Millisecond,
		RetryBackoff: 500 * time.Millisecond,
		Logger:       shared.QuietLogger(),
	})
	if err != nil {
		return res, err
	}
	interval := min(max(c.Duration/5, 100*time.Millisecond), time.Minute)
	plan, err := strategy.ABTest{
		Matches:  segment,
		Duration: c.Duration,
		Replicas: 2,
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
		// A rollback leaves the router's weighted route in place, at all-blue.
		// Remove it so that the user's VirtualService is theirs again.
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

	requests := []struct {
		what string
		req  istioshared.Request
	}{
		{"GET /orders", istioshared.Request{Path: "/orders"}},
		{"GET /orders, x-version: green", istioshared.Request{Path: "/orders", Headers: map[string]string{"x-version": "green"}}},
		{"GET /admin, x-version: green", istioshared.Request{Path: "/admin", Headers: map[string]string{"x-version": "green"}}},
	}
	for _, m := range segment {
		if m.Kind == progressive.MatchCookie {
			requests = append(requests, struct {
				what string
				req  istioshared.Request
			}{"GET /orders, cookie " + m.Name + "=" + m.Value, istioshared.Request{Path: "/orders", Headers: map[string]string{"cookie": "session=1f3a; " + m.Name + "=" + m.Value}}})
		}
	}
	fmt.Fprintf(out, "\nWhere requests go, by the VirtualService %s (read back with Istio's typed client):\n", t)
	for _, ch := range res.Changes {
		what := "during the test (" + istioshared.Describe(ch.Asked) + ")"
		switch {
		case ch.Finalize:
			what = "after the router's routes were removed"
		case len(ch.Asked.Matches) == 0:
			what = "after the rollback (all to blue)"
		}
		fmt.Fprintf(out, "  %s: %d write(s), routes %q\n", what, ch.Writes, istioshared.RouteNames(ch.VS))
		for _, r := range requests {
			d := istioshared.Evaluate(ch.VS, r.req)
			fmt.Fprintf(out, "    %-40s -> %-22s %s\n", r.what, d.Name(), d)
		}
	}
	same := istioshared.SameRoutes(res.Before.Spec.GetHttp(), res.After.Spec.GetHttp())
	fmt.Fprintf(out, "The user's routes are as before the test: %t (routes now: %q)\n", same, istioshared.RouteNames(res.After))
	if !same {
		return res, errors.New("the user's VirtualService routes changed")
	}
	return res, nil
}
