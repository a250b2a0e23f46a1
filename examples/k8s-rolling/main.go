// Command k8s-rolling runs the guide's content-api rolling update on Kubernetes with
// the native provider: 30 replicas of v2.0.0 move to v2.1.0 in place, 3 pods at a
// time (maxSurge 3, maxUnavailable 0), pausing the Deployment between batches;
// more than 5% of the pods failing readiness undoes the update, as kubectl rollout
// undo does, from the Deployment's ReplicaSet history.
//
// By default the new image never becomes Ready (on the local control plane an
// image containing "never-ready" stays unready): the first batch leaves 3 of 30
// pods (10%) failing readiness, over the 5% budget, and the Deployment goes back
// to its previous revision. With --healthy the release is good and all ten batches
// complete.
//
//	go run ./examples/k8s-rolling --testenv
//	go run ./examples/k8s-rolling --testenv --healthy
//	go run ./examples/k8s-rolling --kubeconfig ~/.kube/config --namespace content-demo --image registry.example/content-api:v2.1.0
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

const (
	goodImage = "registry.example/content-api:v2.1.0"
	// badImage never becomes Ready on the local control plane (internal/testenv).
	badImage = "registry.example/content-api:v2.1.0-never-ready"
)

type config struct {
	Namespace string
	Image     string
	// Pace between batches; ReadyTimeout is how long a batch may take to pass
	// readiness before the budget is checked.
	Pace, ReadyTimeout time.Duration
}

type result struct {
	State  rollout.State
	Record rollout.DecisionRecord
	// Batches are the roll statuses seen when each batch passed.
	Batches []progressive.RollStatus
	// Recovered is how long after the rollback decision all pods ran the old
	// release and were ready again (zero without a rollback).
	Recovered time.Duration
	Final     progressive.RollStatus
}

func main() {
	var f shared.Flags
	f.Register(flag.CommandLine, "content-demo")
	healthy := flag.Bool("healthy", false, "roll out a release whose pods become ready")
	image := flag.String("image", "", "image of the new release (default: a never-ready image, or a good one with --healthy)")
	pace := flag.Duration("pace", 2*time.Second, "wait between batches")
	readyTimeout := flag.Duration("ready-timeout", 15*time.Second, "how long a batch may take to pass readiness")
	flag.Parse()
	img := *image
	if img == "" {
		img = badImage
		if *healthy {
			img = goodImage
		}
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt)
	defer cancel()
	cfg, stop, err := f.Connect(ctx, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "k8s-rolling:", err)
		os.Exit(1)
	}
	defer stop()
	if _, err := run(ctx, cfg, config{Namespace: f.Namespace, Image: img, Pace: *pace, ReadyTimeout: *readyTimeout}, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "k8s-rolling:", err)
		stop()
		os.Exit(1)
	}
}

func run(ctx context.Context, cfg *rest.Config, c config, out io.Writer) (result, error) {
	var res result
	p, err := k8s.New(cfg, k8s.Options{PollInterval: 50 * time.Millisecond})
	if err != nil {
		return res, err
	}
	defer p.Close()
	svc := shared.Service{Namespace: c.Namespace, Name: "content-api", Replicas: 30, Image: "registry.example/content-api:v2.0.0"}
	fmt.Fprintf(out, "== %s: %d replicas of %s ==\n", svc.Target(), svc.Replicas, svc.Image)
	if err := shared.Ensure(ctx, p.Clientset(), svc); err != nil {
		return res, err
	}
	workload := p.Workload()
	progress := &shared.Progress{Out: out}
	batches := rollout.ObserverFunc(func(ctx context.Context, e rollout.Event) {
		if e.Type == rollout.EventStepCompleted && e.StepKind == progressive.KindRoll {
			if st, err := workload.RollStatus(ctx, svc.Target()); err == nil {
				res.Batches = append(res.Batches, st)
				fmt.Fprintf(out, "           batch: %d of %d pods updated, %d ready, revision %d\n", st.Updated, st.Desired, st.UpdatedReady, st.Revision)
			}
		}
	})
	store, err := p.Store(c.Namespace)
	if err != nil {
		return res, err
	}
	runner, err := rollout.New(rollout.Options{
		Providers:    rollout.Providers{Workloads: []progressive.Workload{workload}},
		Store:        store,
		Observers:    []rollout.Observer{progress, batches},
		PollInterval: 200 * time.Millisecond,
		RetryBackoff: 500 * time.Millisecond,
		Logger:       shared.QuietLogger(),
	})
	if err != nil {
		return res, err
	}
	plan, err := strategy.Rolling{
		Replicas:        30,
		BatchSize:       3,
		MaxSurge:        3,
		MaxUnavailable:  strategy.NoPods,
		ReadinessBudget: 5,
		Pace:            c.Pace,
	}.Plan(svc.Target(), progressive.Release{Version: "v2.1.0", Image: c.Image})
	if err != nil {
		return res, err
	}
	for i := range plan.Steps {
		if r := plan.Steps[i].Roll; r != nil {
			r.ReadyTimeout = c.ReadyTimeout
		}
	}
	res.State, err = shared.RunPlan(ctx, p, runner, &plan, out)
	if err != nil {
		return res, err
	}
	if res.State.Phase == rollout.PhaseRolledBack {
		// Undo was one write; the Deployment controller then brings the old pods back.
		if err := shared.WaitRolledOut(ctx, p.Clientset(), c.Namespace, svc.Name, 2*time.Minute); err != nil {
			return res, err
		}
		res.Recovered = time.Since(res.State.Rollback.DecidedAt)
	}
	if res.Final, err = workload.RollStatus(ctx, svc.Target()); err != nil {
		return res, err
	}
	if res.Record, err = runner.Record(ctx, plan.Name); err != nil {
		return res, err
	}
	shared.PrintRecord(out, res.Record)
	fmt.Fprintf(out, "\nFinal: %d of %d pods on the current template, %d ready, %d unready, revision %d\n", res.Final.Updated, res.Final.Desired, res.Final.UpdatedReady, res.Final.Unready, res.Final.Revision)
	if res.Recovered > 0 {
		fmt.Fprintf(out, "Rollback decision to every pod back on the previous revision and ready: %s\n", res.Recovered.Round(time.Millisecond))
	}
	st := p.Stats()
	fmt.Fprintf(out, "Provider API requests: %d reads, %d writes\n", st.Reads, st.Writes)
	return res, nil
}
