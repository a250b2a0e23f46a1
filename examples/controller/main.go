// Command controller is a controller-runtime operator for a small
// ProgressiveRollout resource (group progressive.agentops.dev, version
// v1alpha1, CRD in config/crd): each ProgressiveRollout releases a version of
// a Deployment as a canary (stepWeight, 2×stepWeight, ... up to maxWeight,
// soaking at each while Prometheus checks are measured, then promotion), and
// reports the rollout in its status and in the columns of
// `kubectl get progressiverollouts`:
//
//	NAME          TARGET     VERSION   PHASE         WEIGHT   STEP   AGE
//	checkout-v2   checkout   v2        Progressing   25       3/7    6s
//
// It is the controller package's Reconciler on a real manager: the runner
// drives each rollout from the reconcile loop without ever blocking a worker,
// with provider/kubernetes (the Deployment's canary, traffic by replica
// ratio through the Service, state in ConfigMaps of --state-namespace) and
// provider/prometheus; leader election (a Lease in --state-namespace; a new
// leader resumes every rollout from its stored state); Events on each
// ProgressiveRollout; and progressive_rollouts{phase} and
// progressive_rollout_decisions_total{decision} on the manager's /metrics. A
// second ProgressiveRollout of a Deployment that one is releasing waits
// (Pending, reason TargetBusy, naming the holder) and starts when it ends;
// deleting a ProgressiveRollout aborts its rollout; the annotation
// progressive.agentops.dev/command ("abort: reason", "promote", "rollback",
// "resume") commands it, and so does a command stored by another program
// (a CLI's Runner.Abort on the state ConfigMap), at once: the operator
// watches the state ConfigMaps. The leader prunes the states of ended
// rollouts (--keep-per-target 10 of each Deployment, --max-age 720h by
// default); the ProgressiveRollouts keep their status.
//
// In a cluster it runs as the ServiceAccount of config/rbac.yaml, whose
// least-privilege ClusterRole and Role grant what it does and nothing more
// (the tests run it as that ServiceAccount):
//
//	kubectl apply -f examples/controller/config/crd/ -f examples/controller/config/rbac.yaml
//
// Against a cluster (the CRD installed with --install-crd or kubectl apply -f
// examples/controller/config/crd/):
//
//	go run ./examples/controller --kubeconfig ~/.kube/config --prometheus http://prometheus.monitoring:9090 --install-crd
//
// Or as a demo on a throwaway local control plane (internal/testenv) with a
// local Prometheus (Debian's prometheus package) scraping a test application
// whose traffic follows the Service's endpoints: a healthy release promoted,
// or with --bad one answering 20% errors, rolled back:
//
//	go run ./examples/controller --testenv
//	go run ./examples/controller --testenv --bad
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
	crlog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/controller"
	v1alpha1 "github.com/agentops/progressive/examples/controller/api/v1alpha1"
	"github.com/agentops/progressive/internal/promtest"
	"github.com/agentops/progressive/internal/testenv"
	k8s "github.com/agentops/progressive/provider/kubernetes"
	"github.com/agentops/progressive/rollout"
)

const usage = `controller: no cluster.

Run the operator against a cluster (in a pod it uses its service account):

  go run ./examples/controller --kubeconfig ~/.kube/config --prometheus http://prometheus:9090 --install-crd

or run the demo on a throwaway local control plane and a local Prometheus:

  go run ./examples/controller --testenv [--bad]

Flags:
`

func main() {
	var (
		kubeconfig  = flag.String("kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig of the cluster (default $KUBECONFIG; in a pod, its service account)")
		useTestenv  = flag.Bool("testenv", false, "run the demo: a local control plane (internal/testenv), a local Prometheus, one ProgressiveRollout")
		prometheus  = flag.String("prometheus", "", "address of the Prometheus HTTP API the checks query (required against a cluster)")
		stateNS     = flag.String("state-namespace", DefaultStateNamespace, "namespace of the rollouts' state ConfigMaps and the leader election Lease")
		namespace   = flag.String("namespace", "", "watch only this namespace's ProgressiveRollouts (default all); with --testenv, the demo's namespace (default shop)")
		leaderElect = flag.Bool("leader-elect", true, "elect one leader among the operator's replicas")
		metricsAddr = flag.String("metrics-bind-address", ":8080", `address of /metrics ("0" turns it off)`)
		install     = flag.Bool("install-crd", false, "create or update the ProgressiveRollout CRD before starting")
		bad         = flag.Bool("bad", false, "with --testenv: the canary answers 20% errors, and is rolled back")
		soak        = flag.Duration("soak", 5*time.Second, "with --testenv: the soak at each weight")
		keep        = flag.Int("keep-per-target", DefaultRetention.KeepPerTarget, "keep the states of this many ended rollouts of each Deployment (0: no limit)")
		maxAge      = flag.Duration("max-age", DefaultRetention.MaxAge, "delete the states of rollouts that ended longer ago (0: no limit); with --keep-per-target=0 nothing is pruned")
		pruneEvery  = flag.Duration("prune-every", controller.DefaultPruneEvery, "time between two prunes of ended rollouts' states")
	)
	flag.Usage = func() {
		fmt.Fprint(flag.CommandLine.Output(), usage)
		flag.PrintDefaults()
	}
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	// controller-runtime's own logger, for the parts that log outside a
	// manager; set once, here, as a program does.
	crlog.SetLogger(logr.FromSlogHandler(log.Handler()))
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()

	opts := Options{StateNamespace: *stateNS, Prometheus: *prometheus, LeaderElection: *leaderElect, MetricsAddr: *metricsAddr, Logger: log,
		Retention: rollout.Retention{KeepPerTarget: *keep, MaxAge: *maxAge}, PruneEvery: *pruneEvery}
	opts.NoPrune = opts.Retention == (rollout.Retention{})
	var err error
	switch {
	case *useTestenv:
		ns := *namespace
		if ns == "" {
			ns = "shop"
		}
		if !isSet("metrics-bind-address") {
			opts.MetricsAddr = "0" // a demo should not take :8080
		}
		var res demoResult
		res, err = demo(ctx, opts, demoConfig{Namespace: ns, Bad: *bad, Soak: *soak}, os.Stdout)
		if err == nil && res.Phase != res.Expected {
			err = fmt.Errorf("the rollout ended %s, not %s", res.Phase, res.Expected)
		}
	default:
		var cfg *rest.Config
		cfg, err = clusterConfig(*kubeconfig)
		if errors.Is(err, errNoCluster) {
			flag.Usage()
			os.Exit(2)
		}
		if err == nil {
			if *namespace != "" {
				opts.Namespaces = []string{*namespace}
			}
			err = serve(ctx, cfg, opts, *install)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "controller:", err)
		os.Exit(1)
	}
}

func isSet(name string) bool {
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

var errNoCluster = errors.New("no cluster")

// clusterConfig is the kubeconfig's cluster, or, in a pod, the in-cluster
// configuration.
func clusterConfig(kubeconfig string) (*rest.Config, error) {
	if kubeconfig != "" {
		cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
		if err != nil {
			return nil, fmt.Errorf("kubeconfig %s: %w", kubeconfig, err)
		}
		return cfg, nil
	}
	if os.Getenv("KUBERNETES_SERVICE_HOST") != "" {
		cfg, err := rest.InClusterConfig()
		if err != nil {
			return nil, fmt.Errorf("in-cluster configuration: %w", err)
		}
		return cfg, nil
	}
	return nil, errNoCluster
}

// serve runs the operator until ctx ends.
func serve(ctx context.Context, cfg *rest.Config, opts Options, install bool) error {
	if install {
		if err := installCRD(ctx, cfg); err != nil {
			return err
		}
	}
	op, err := NewOperator(cfg, opts)
	if err != nil {
		return err
	}
	opts.Logger.Info("operator starting", "name", op.opts.Name, "stateNamespace", op.opts.StateNamespace, "leaderElection", opts.LeaderElection, "prometheus", opts.Prometheus)
	return op.Start(ctx)
}

type demoConfig struct {
	Namespace string
	Bad       bool
	Soak      time.Duration
}

type demoResult struct {
	Phase, Expected string
}

// demo starts a local control plane with the CRD and a local Prometheus, and
// releases v2 of a Deployment through a ProgressiveRollout, printing its
// kubectl row at every change.
func demo(ctx context.Context, opts Options, c demoConfig, out io.Writer) (demoResult, error) {
	dir, err := os.MkdirTemp("", "progressive-controller-")
	if err != nil {
		return demoResult{}, err
	}
	defer os.RemoveAll(dir)
	crd, err := writeCRD(dir)
	if err != nil {
		return demoResult{}, err
	}
	start := time.Now()
	fmt.Fprintln(out, "starting a local control plane (internal/testenv) with the ProgressiveRollout CRD...")
	env, err := testenv.Start(ctx, testenv.Options{CRDs: []string{crd}})
	if err != nil {
		return demoResult{}, fmt.Errorf("control plane: %w", err)
	}
	defer func() { _ = env.Stop() }()
	fmt.Fprintf(out, "control plane ready in %s; watch it with\n  kubectl --kubeconfig %s get progressiverollouts -A -w\n", time.Since(start).Round(time.Millisecond), env.Kubeconfig())
	app := promtest.NewApp()
	defer app.Close()
	prom, err := promtest.New(promtest.Options{Targets: []string{app.Addr()}, ScrapeInterval: scrapeInterval})
	if err != nil {
		return demoResult{}, fmt.Errorf("prometheus (apt-get install prometheus, or set %s): %w", promtest.EnvPrometheus, err)
	}
	defer prom.Stop()
	opts.Prometheus = prom.URL
	opts.PollInterval = 200 * time.Millisecond
	opts.BusyRetry = time.Second
	return release(ctx, env.Config(), opts, c, app, out)
}

// release runs the demo's scenario on a cluster: seed, operator, one
// ProgressiveRollout to its end.
func release(ctx context.Context, cfg *rest.Config, opts Options, c demoConfig, app *promtest.App, out io.Writer) (demoResult, error) {
	res := demoResult{Expected: string(controller.PhaseSucceeded)}
	canary := promtest.Behavior{}
	if c.Bad {
		canary.ErrorPercent = 20
		res.Expected = string(controller.PhaseRolledBack)
	}
	reads, err := k8s.New(cfg, k8s.Options{NoEvents: true})
	if err != nil {
		return res, err
	}
	defer reads.Close()
	target := progressive.Target{Namespace: c.Namespace, Name: "checkout"}
	seedCtx, stopSeed := context.WithCancel(ctx)
	defer stopSeed()
	if _, err := seed(seedCtx, reads.Clientset(), reads.Router(), app, target, "v2", canary); err != nil {
		return res, err
	}
	fmt.Fprintf(out, "%s: %d pods of %s; Prometheus at %s\n", target, stableReplicas, image(target.Name, "v1"), opts.Prometheus)

	op, err := NewOperator(cfg, opts)
	if err != nil {
		return res, err
	}
	opCtx, stopOp := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- op.Start(opCtx) }()
	defer func() {
		stopOp()
		<-done
	}()
	select {
	case <-op.Elected():
		fmt.Fprintf(out, "operator elected leader (Lease %s/%s)\n", op.opts.StateNamespace, op.opts.Name)
	case err := <-done:
		return res, fmt.Errorf("operator: %w", err)
	case <-ctx.Done():
		return res, ctx.Err()
	}

	scheme, err := NewScheme()
	if err != nil {
		return res, err
	}
	cl, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return res, err
	}
	pr := newRollout(c.Namespace, "checkout-v2", target.Name, "v2", c.Soak)
	if err := cl.Create(ctx, pr); err != nil {
		return res, fmt.Errorf("create %s: %w", pr.Name, err)
	}
	fmt.Fprintf(out, "\ncreated ProgressiveRollout %s/%s; kubectl get progressiverollouts shows:\n", pr.Namespace, pr.Name)
	created := time.Now()
	last := ""
	var cols []metav1.TableColumnDefinition
	var rows []row
	for {
		cols, rows, err = getTable(ctx, reads.Clientset(), c.Namespace)
		if err != nil {
			return res, err
		}
		if len(rows) == 1 {
			if s := rows[0].String(); s != last {
				fmt.Fprintf(out, "  %6.2fs  %-12s %-12s weight %-5s step %s\n", time.Since(created).Seconds(), rows[0]["Phase"], rows[0]["Name"], rows[0]["Weight"], rows[0]["Step"])
				last = s
			}
			if controller.Phase(rows[0]["Phase"]).Terminal() {
				res.Phase = rows[0]["Phase"]
				break
			}
		}
		if time.Since(created) > 5*time.Minute {
			return res, fmt.Errorf("no end after 5 minutes: %s", last)
		}
		select {
		case <-ctx.Done():
			return res, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	fmt.Fprintln(out)
	printTable(out, cols, rows, true)
	var got v1alpha1.ProgressiveRollout
	if err := cl.Get(ctx, types.NamespacedName{Namespace: pr.Namespace, Name: pr.Name}, &got); err != nil {
		return res, err
	}
	fmt.Fprintf(out, "\nstatus.message: %s\n", got.Status.Message)
	if a := got.Status.LastAnalysis; a != nil {
		for _, ch := range a.Checks {
			fmt.Fprintf(out, "last analysis:  %s %s (%s)\n", ch.Name, ch.Outcome, ch.Message)
		}
	}
	for _, cond := range got.Status.Conditions {
		fmt.Fprintf(out, "condition:      %s=%s (%s)\n", cond.Type, cond.Status, cond.Reason)
	}
	evs, err := reads.Clientset().EventsV1().Events(pr.Namespace).List(ctx, metav1.ListOptions{FieldSelector: "regarding.name=" + pr.Name})
	if err == nil {
		fmt.Fprintln(out, "\nEvents:")
		for _, e := range sortedEvents(evs.Items) {
			fmt.Fprintf(out, "  %-7s %-15s %s\n", e.Type, e.Reason, e.Note)
		}
	}
	return res, nil
}

// sortedEvents orders Events by the time they were first seen.
func sortedEvents(evs []eventsv1.Event) []eventsv1.Event {
	out := append([]eventsv1.Event(nil), evs...)
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && eventTime(out[j]).Before(eventTime(out[j-1])); j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

func eventTime(e eventsv1.Event) time.Time {
	if !e.EventTime.IsZero() {
		return e.EventTime.Time
	}
	return e.CreationTimestamp.Time
}
