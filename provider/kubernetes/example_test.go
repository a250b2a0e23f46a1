package kubernetes_test

import (
	"context"
	"fmt"
	"strings"
	"time"

	"k8s.io/client-go/tools/clientcmd"

	"github.com/agentops/progressive"
	k8s "github.com/agentops/progressive/provider/kubernetes"
	"github.com/agentops/progressive/rollout"
	"github.com/agentops/progressive/strategy"
)

// The Role the provider needs, rule by rule.
func ExampleRole() {
	role, err := k8s.Role("shop")
	if err != nil {
		panic(err)
	}
	fmt.Println(role.Kind, role.Namespace+"/"+role.Name)
	for _, r := range role.Rules {
		group := strings.Join(r.APIGroups, ",")
		if group == "" {
			group = "core"
		}
		fmt.Printf("%-19s %-15s %s\n", group, strings.Join(r.Resources, ","), strings.Join(r.Verbs, ","))
	}
	// Output:
	// Role shop/progressive
	// apps                deployments     get,list,watch,create,update,patch
	// apps                replicasets     list,watch
	// core                services        get,update
	// core                pods            list
	// discovery.k8s.io    endpointslices  list
	// core                configmaps      get,list,watch,create,update
	// coordination.k8s.io leases          get,list,watch,create,update
	// batch               jobs            get,create
	// core                events          create,patch
}

// A deploy command: a replica-ratio canary of checkout with its state in a
// ConfigMap, driven only while this process holds the target's Lease.
func Example_deployCommand() {
	ctx := context.Background()
	cfg, err := clientcmd.BuildConfigFromFlags("", clientcmd.RecommendedHomeFile)
	if err != nil {
		panic(err)
	}
	p, err := k8s.New(cfg, k8s.Options{})
	if err != nil {
		panic(err)
	}
	defer p.Close()
	store, err := p.Store("shop")
	if err != nil {
		panic(err)
	}
	var metrics progressive.MetricSource // provider/prometheus, say
	runner, err := rollout.New(rollout.Options{
		Providers: rollout.Providers{
			Routers:   []progressive.TrafficRouter{p.Router()},
			Workloads: []progressive.Workload{p.Workload()},
			Metrics:   []progressive.MetricSource{metrics},
		},
		Store: store,
	})
	if err != nil {
		panic(err)
	}
	target := progressive.Target{Namespace: "shop", Name: "checkout"}
	plan, err := strategy.Canary{
		Weights: []float64{10, 50}, Soak: 15 * time.Minute, Replicas: 2,
		Checks: []progressive.Check{{Name: "error-rate", Query: `sum(rate(http_requests_total{service="{{.Service}}",role="{{.Role}}",code=~"5.."}[1m])) / sum(rate(http_requests_total{service="{{.Service}}",role="{{.Role}}"}[1m])) * 100`, Max: progressive.Float(1)}},
	}.Plan(target, progressive.Release{Version: "v2.0.0", Image: "registry.example/checkout:v2.0.0"})
	if err != nil {
		panic(err)
	}
	if _, err := runner.Start(ctx, plan); err != nil {
		panic(err)
	}
	lease, err := p.Lease(target, k8s.LeaseOptions{Wait: true})
	if err != nil {
		panic(err)
	}
	st, err := k8s.RunWithLease(ctx, lease, runner, plan.Name)
	if err != nil {
		panic(err)
	}
	fmt.Println(st.Phase)
}
