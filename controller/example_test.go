package controller_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/types"
	testingclock "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	crcontroller "sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/controller"
	"github.com/agentops/progressive/provider/sim"
	"github.com/agentops/progressive/rollout"
)

// A Reconciler of a small Release resource (its type and its Binding are in
// this package's helpers_test.go), on controller-runtime's fake client,
// driving a canary of 10% then 50% in the simulator in virtual time. Each
// Reconcile carries out everything that is due (the first one deploys the
// canary and sets 10%), returns at once and says when to come back: at the
// next measurement of the 10-minute soaks. The status follows the rollout
// (steps: deploy, weight-10, analyze, weight-50, analyze, promote, finalize).
func ExampleReconciler() {
	ctx := context.Background()
	clk := testingclock.NewFakeClock(time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC))
	env := sim.New(sim.Options{Clock: clk, Seed: 1})
	target := progressive.Target{Namespace: "shop", Name: "checkout"}
	_ = env.Metrics.SetProfile(target, sim.Profile{RequestRate: 1000})
	_ = env.Workload.AddService(target, sim.ServiceSpec{Replicas: 10, Version: "v1", Image: "checkout:v1"})
	runner, err := rollout.New(rollout.Options{
		Providers: rollout.Providers{
			Routers:   []progressive.TrafficRouter{env.Router},
			Metrics:   []progressive.MetricSource{env.Metrics},
			Workloads: []progressive.Workload{env.Workload},
		},
		Clock:  clk,
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		panic(err)
	}
	c := fake.NewClientBuilder().WithScheme(newScheme()).WithStatusSubresource(&Release{}).Build()
	r, err := controller.NewReconciler(c, runner, controller.Binding[*Release](releaseBinding{namespace: "shop"}), controller.Options[*Release]{})
	if err != nil {
		panic(err)
	}
	key := types.NamespacedName{Namespace: "shop", Name: "checkout-v2"}
	_ = c.Create(ctx, &Release{ObjectMeta: objectMeta(key), Spec: ReleaseSpec{Service: "checkout", Version: "v2"}})

	last := ""
	for {
		res, err := r.Reconcile(ctx, reconcile.Request{NamespacedName: key})
		if err != nil {
			panic(err)
		}
		var rel Release
		_ = c.Get(ctx, key, &rel)
		if line := fmt.Sprintf("%-11s step %-3s weight %g%%", rel.Status.Phase, rel.Status.Step, rel.Status.Weight); line != last {
			fmt.Println(line)
			last = line
		}
		if res.RequeueAfter == 0 {
			break
		}
		clk.Step(res.RequeueAfter)
	}
	// Output:
	// Progressing step 3/7 weight 10%
	// Progressing step 5/7 weight 50%
	// Succeeded   step 7/7 weight 0%
}

// The wiring in a program's main: the runner logs through the manager's
// logger and records its events on the objects; the controller reconciles up
// to 8 rollouts at the same instant.
func ExampleReconciler_SetupWithManager() {
	var mgr manager.Manager // ctrl.NewManager(cfg, manager.Options{LeaderElection: true, ...})
	var providers rollout.Providers
	var store rollout.StateStore // provider/kubernetes: p.Store(namespace)
	if mgr == nil {
		return // a sketch: no cluster here
	}
	recorder := mgr.GetEventRecorder("progressive")
	runner, err := rollout.New(rollout.Options{
		Providers: providers,
		Store:     store,
		Observers: []rollout.Observer{controller.Events(recorder)},
		Logger:    controller.Logger(mgr.GetLogger()),
	})
	if err != nil {
		panic(err)
	}
	r, err := controller.NewReconciler(mgr.GetClient(), runner, controller.Binding[*Release](releaseBinding{namespace: "shop"}),
		controller.Options[*Release]{Recorder: recorder})
	if err != nil {
		panic(err)
	}
	if err := r.SetupWithManager(mgr, "release", crcontroller.Options{MaxConcurrentReconciles: 8}); err != nil {
		panic(err)
	}
}

// Result is what a hand-written Reconcile returns after Runner.Reconcile.
func ExampleResult() {
	fmt.Println(controller.Result(rollout.Result{Phase: rollout.PhaseProgressing, Step: 2, RequeueAfter: 30 * time.Second}).RequeueAfter)
	done := controller.Result(rollout.Result{Phase: rollout.PhaseSucceeded})
	fmt.Println(done.IsZero())
	// Output:
	// 30s
	// true
}

// A program logs through slog; the manager logs through it too
// (logr.FromSlogHandler), and so does the runner, through the manager's
// logger. A record made with a reconcile's context carries that reconcile's
// keys.
func ExampleLogger() {
	h := slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey {
			return slog.Attr{} // stable output
		}
		return a
	}})
	mgrLog := logr.FromSlogHandler(h) // manager.Options{Logger: mgrLog}
	runnerLog := controller.Logger(mgrLog)

	runnerLog.Info("resumed", "rollout", "shop-checkout-v2")
	ctx := logr.NewContext(context.Background(), mgrLog.WithValues("controller", "release", "name", "checkout-v2"))
	runnerLog.WarnContext(ctx, "analysis inconclusive", "check", "error-rate")
	// Output:
	// level=INFO msg=resumed rollout=shop-checkout-v2
	// level=WARN msg="analysis inconclusive" controller=release name=checkout-v2 check=error-rate
}

// A rollout.Manager in a controller-runtime manager resumes every unfinished
// rollout of the store when this replica becomes the leader.
func ExampleNewRunnable() {
	var mgr manager.Manager // ctrl.NewManager(cfg, manager.Options{LeaderElection: true, ...})
	var runner *rollout.Runner
	if mgr == nil || runner == nil {
		return // a sketch: no cluster here
	}
	m, err := rollout.NewManager(runner, rollout.ManagerOptions{Retention: rollout.Retention{KeepPerTarget: 20}})
	if err != nil {
		panic(err)
	}
	run, err := controller.NewRunnable(m, controller.RunnableOptions{})
	if err != nil {
		panic(err)
	}
	if err := mgr.Add(run); err != nil {
		panic(err)
	}
	// Elsewhere (an HTTP handler): run.Manager().Start(ctx, plan) drives the
	// plan at once on the leader.
}
