package anchors

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"istio.io/client-go/pkg/clientset/versioned"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/util/retry"

	"github.com/agentops/progressive/internal/livecanary"
	"github.com/agentops/progressive/internal/promtest"
)

// ArgoUserAgent begins the user agent of the controller's API requests:
// client-go's default, named after the binary.
const ArgoUserAgent = "rollouts-controller/"

// ArgoSettings are the AnalysisTemplate's metric and the row's name.
type ArgoSettings struct {
	// Name is the table's settings column: what the row runs with and why.
	Name string
	// Analysis is the AnalysisTemplate's metric.
	Analysis ArgoAnalysis
}

// ArgoDefaults are Argo Rollouts' documented defaults for progressive's
// plan: the error ratio written as Argo's docs write it, "at most 2%" as
// result[0] <= 0.02, measured every 10 s, and failureLimit,
// inconclusiveLimit, consecutiveErrorLimit and count unset (0, 0, 4; a
// background analysis measures until the rollout ends).
func ArgoDefaults() ArgoSettings {
	return ArgoSettings{
		Name: "defaults (failureLimit 0, consecutiveErrorLimit 4, inconclusiveLimit 0; error ratio <= 2% every 10s)",
		Analysis: ArgoAnalysis{
			Name:             "error-rate",
			Query:            ArgoErrorRateQuery(livecanary.Interval),
			SuccessCondition: fmt.Sprintf("result[0] <= %g", livecanary.MaxErrorPercent/100),
			Interval:         livecanary.Interval,
		},
	}
}

// ArgoTuned is Argo Rollouts tuned, with documented fields only, to roll
// back sooner when the canary has no data. failureLimit is already 0 by
// default (the first failed measurement aborts), so what is slow is an
// errored measurement: an empty result is an Error, retried after 10 s, and
// the default consecutiveErrorLimit 4 aborts at the fifth in a row, about
// 40 s in, with the canary at 40-50% meanwhile. consecutiveErrorLimit 1
// aborts at the second, about 10 s in. The error ratio's numerator is empty
// until the canary's first 5xx, which a healthy canary may not answer for
// 20 s, so with that limit the query is the docs' success ratio
// (result[0] >= 0.98, the same 2% threshold), whose numerator exists as soon
// as the canary answers anything.
func ArgoTuned() ArgoSettings {
	one := 1
	return ArgoSettings{
		Name: "tuned: consecutiveErrorLimit 1 and the success-ratio query (no data aborts at the 2nd empty measurement, ~10 s, not the 5th, ~40 s)",
		Analysis: ArgoAnalysis{
			Name:                  "success-rate",
			Query:                 ArgoSuccessRateQuery(livecanary.Interval),
			SuccessCondition:      fmt.Sprintf("result[0] >= %g", 1-livecanary.MaxErrorPercent/100),
			Interval:              livecanary.Interval,
			ConsecutiveErrorLimit: &one,
		},
	}
}

// ArgoContender runs the real Argo Rollouts controller (rollouts-controller,
// one process per run) against the stack's control plane, seeded the way an
// Argo user with Istio seeds it: a stable and a canary Service, a
// VirtualService whose named route splits between them (host-level
// splitting), an AnalysisTemplate with the Prometheus provider and a
// Rollout whose canary strategy steps 10% to 50%, pausing 10 s at each, with
// the analysis in the background from the first pause. The update is an
// image change of the Rollout's pod template.
//
// The controller is namespace-scoped (--namespaced) to the run's namespace
// unless ClusterWide, with its other flags at their defaults: leader election on (its Lease in
// the run's namespace, through POD_NAMESPACE as in the controller's
// Deployment), 40 QPS, the default resync.
type ArgoContender struct {
	a   *Anchors
	bin string
	s   ArgoSettings
	// Bound is how long a rollout may take after the image change before
	// it counts as Held. Default 4 minutes (the plan takes 50 s).
	Bound time.Duration
	// LogLevel is the controller's --loglevel. Default info.
	LogLevel string
	// ClusterWide runs the controller over every namespace, as its default
	// install does, instead of --namespaced to the run's. Only for a run
	// alone on the control plane: another run's Rollouts would be
	// reconciled by both controllers. The audit log still counts only the
	// requests in the run's namespace (its cluster-wide lists and watches
	// have none).
	ClusterWide bool
}

// NewArgo returns the contender; bin is the rollouts-controller binary
// (Build(ctx, ArgoRollouts(), log)).
func NewArgo(a *Anchors, bin string, s ArgoSettings) *ArgoContender {
	return &ArgoContender{a: a, bin: bin, s: s, Bound: 4 * time.Minute, LogLevel: "info"}
}

// Tool names the row.
func (c *ArgoContender) Tool() string { return "Argo Rollouts " + ArgoRollouts().Version }

// Settings names the row's settings.
func (c *ArgoContender) Settings() string { return c.s.Name }

// Manifest describes the controller's flags and the seeded objects' key
// settings, printed under the table.
func (c *ArgoContender) Manifest() string {
	m := c.s.Analysis
	limit := func(p *int, def string) string {
		if p == nil {
			return def + " (unset)"
		}
		return strconv.Itoa(*p)
	}
	scope := "--namespaced --namespace=<run's>"
	if c.ClusterWide {
		scope = "cluster-wide"
	}
	return fmt.Sprintf("rollouts-controller %s, POD_NAMESPACE=<run's> (one controller per run, other flags at their defaults: leader election on, Lease 15s/10s/2s, QPS 40, burst 80); "+
		"Services <name>-stable and <name>-canary, VirtualService route %q with both as destinations (host-level split); "+
		"Rollout: replicas 2, canary {canaryService, stableService, trafficRouting.istio.virtualService {routes [%s]}, steps [%s], analysis {startingStep %d, args service-name=<canary host>}}; "+
		"AnalysisTemplate metric %s: interval %s, successCondition %q, failureLimit %s, consecutiveErrorLimit %s, inconclusiveLimit %s, count unset, prometheus query %s",
		scope, argoRoute, argoRoute, describeArgoSteps(), argoStartingStep, m.Name, argoDur(m.Interval), m.SuccessCondition,
		limit(m.FailureLimit, "0"), limit(m.ConsecutiveErrorLimit, "4"), limit(m.InconclusiveLimit, "0"), m.Query)
}

// GVRs of the plain resources the contender seeds.
var (
	argoServiceGVR        = schema.GroupVersionResource{Version: "v1", Resource: "services"}
	argoVirtualServiceGVR = schema.GroupVersionResource{Group: "networking.istio.io", Version: "v1", Resource: "virtualservices"}
)

// argoCanary is one Rollout of a run and what it did.
type argoCanary struct {
	names    argoNames
	weights  *Weights
	svc      *promtest.Service
	fromHash string // the stable ReplicaSet before the update

	mu          sync.Mutex
	regressedAt time.Time

	startedAt, endedAt time.Time
	outcome            Outcome
	final              argoStatus
}

func (c *argoCanary) regressed() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.regressedAt
}

// Run seeds one Rollout per rollout of sc in ns, starts the controller,
// waits for the first version to be Healthy, changes every Rollout's image
// and follows each to its end: promoted (Healthy on the new ReplicaSet) or
// rolled back (aborted: Argo routes everything back to stable), or Held at
// Bound.
func (c *ArgoContender) Run(ctx context.Context, st *livecanary.Stack, ns string, sc Scenario) (Run, error) {
	run := Run{Tool: c.Tool(), Settings: c.Settings(), Scenario: sc.Name}
	log := st.Log.With(slog.String("tool", "argo-rollouts"), slog.String("namespace", ns), slog.String("scenario", sc.Name))
	dyn := st.Env.Dynamic()
	ic, err := versioned.NewForConfig(st.Env.Config())
	if err != nil {
		return run, fmt.Errorf("argo: istio client: %w", err)
	}
	// The watches outlive ctx's end by the cleanup's reads.
	wctx, stopWatches := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWatches()
	rollouts := followArgoRollouts(wctx, dyn, ns, log)

	n := max(sc.Rollouts, 1)
	canaries := make([]*argoCanary, 0, n)
	defer func() {
		// Take the services off the App's traffic: later runs share it.
		for _, ac := range canaries {
			ac.svc.SetCanary(promtest.Behavior{NoTraffic: true})
			ac.svc.SetStable(promtest.Behavior{NoTraffic: true})
		}
	}()
	for i := range n {
		name := sc.Name
		if n > 1 {
			name = fmt.Sprintf("%s-%d", sc.Name, i)
		}
		ac := c.follow(wctx, st, ic, newArgoNames(ns, name), sc, log)
		canaries = append(canaries, ac)
		if err := c.seed(ctx, dyn, ac.names); err != nil {
			return run, err
		}
	}

	logDir, err := c.a.LogDir("argo-" + ns)
	if err != nil {
		return run, err
	}
	ctl := &controllers{}
	defer ctl.stop()
	started := 0
	start := func() error {
		started++
		p, err := c.start(ctx, st, ns, filepath.Join(logDir, fmt.Sprintf("rollouts-controller-%d.log", started)))
		if err == nil {
			ctl.add(p)
		}
		return err
	}
	if err := start(); err != nil {
		return run, err
	}
	exited := func() error {
		p := ctl.current()
		return fmt.Errorf("argo: rollouts-controller exited (%v); its log (%s):\n%s", p.Err(), p.Spec.LogPath, p.LogTail(40))
	}

	// A Rollout's first revision is deployed at once, without steps: the
	// update starts from a Healthy rollout whose stable Service already
	// served, as in a cluster.
	initCtx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	for _, ac := range canaries {
		s, err := rollouts.WaitFor(initCtx, ac.names.Name, func(s argoStatus) bool {
			return s.Phase == "Healthy" && s.StableRS != "" && s.StableRS == s.CurrentPodHash
		})
		if err != nil {
			select {
			case <-ctl.current().Done():
				return run, exited()
			default:
			}
			return run, fmt.Errorf("argo: first revision: %w\n%s", err, ctl.logTail(40))
		}
		ac.fromHash = s.CurrentPodHash
		expr := fmt.Sprintf(`istio_requests_total{destination_service=%q}`, ac.names.host(ac.names.Stable))
		if err := st.Prom.WaitFor(ctx, expr, time.Minute); err != nil {
			return run, fmt.Errorf("argo: the stable series of %s: %w", ac.names.Name, err)
		}
	}

	// The trigger: a new image in the Rollout's pod template.
	run.StartedAt = time.Now()
	cpuBefore := ctl.usage().CPUSeconds
	for _, ac := range canaries {
		ac.startedAt = time.Now()
		if err := setArgoImage(ctx, dyn, ac.names, ac.names.image(livecanary.CanaryVersion)); err != nil {
			return run, err
		}
	}

	// Follow the rollouts to their ends; in a restart scenario, SIGKILL the
	// controller RestartAfter after the canary first took traffic (the
	// background analysis starts then, at the first pause) and start
	// another at once, as every contender does.
	canaryHost := canaries[0].names.host(canaries[0].names.Canary)
	var killAt <-chan time.Time
	if sc.RestartAfter > 0 {
		due := make(chan time.Time, 1)
		killAt = due
		go func() {
			began, err := canaries[0].weights.WaitFor(wctx, func(w float64) bool { return w > 0 })
			if err != nil {
				return
			}
			sleep(wctx, time.Until(began.Add(sc.RestartAfter)))
			if wctx.Err() == nil {
				due <- time.Now()
			}
		}()
	}
	bound := time.NewTimer(c.Bound)
	defer bound.Stop()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	pending := n
follow:
	for pending > 0 {
		select {
		case <-ctx.Done():
			return run, ctx.Err()
		case <-ctl.current().Done():
			return run, exited()
		case <-bound.C:
			break follow
		case <-killAt:
			killAt = nil
			ctl.setKilledAt(ctl.kill())
			if err := start(); err != nil {
				return run, err
			}
			log.Info("controller killed and restarted")
		case <-tick.C:
			for _, ac := range canaries {
				if ac.outcome != "" {
					continue
				}
				s := rollouts.Last(ac.names.Name)
				switch {
				case s.Abort:
					ac.outcome = RolledBack
				case s.promoted(ac.fromHash):
					ac.outcome = Promoted
				default:
					continue
				}
				ac.endedAt, ac.final = s.At, s
				pending--
				log.Info("rollout ended", slog.String("rollout", ac.names.Name), slog.String("outcome", string(ac.outcome)), slog.String("status", s.String()))
			}
		}
	}
	for _, ac := range canaries {
		if ac.outcome == "" {
			ac.outcome, ac.endedAt, ac.final = Held, run.StartedAt.Add(c.Bound), rollouts.Last(ac.names.Name)
			continue
		}
		// The weight's last write (back to the stable Service after an
		// abort; 100% then 0% at a promotion, when the stable Service takes
		// the new pods) may reach the watch after the status.
		wc, cancel := context.WithTimeout(ctx, 15*time.Second)
		_, _ = ac.weights.WaitFor(wc, func(w float64) bool { return w == 0 })
		cancel()
	}

	u := ctl.usage()
	run.RSSBytes = u.PeakRSSBytes
	run.CPUSeconds = u.CPUSeconds - cpuBefore
	ctl.stop()
	run.KilledAt = ctl.killedAt()
	if !run.KilledAt.IsZero() {
		if q, ok := c.a.Queries.First(run.KilledAt, canaryHost); ok {
			run.NextCheckAt = q.At
		}
	}
	c.summarise(ctx, &run, canaries, dyn, ns, log)
	c.a.Measure(&run, Requests{UserAgent: ArgoUserAgent, Namespace: ns, Interval: c.s.Analysis.Interval}, sc)
	if reqs, err := c.a.Audit.Requests(RequestFilter{UserAgent: ArgoUserAgent, Namespace: ns, From: run.StartedAt, To: run.EndedAt.Add(time.Second)}); err == nil {
		leases := 0
		for _, r := range reqs {
			if r.Resource == "leases" {
				leases++
			}
		}
		run.Notes = append(run.Notes, fmt.Sprintf("%d of %d API requests renewed the leader-election Lease (on by default, every 2 s)", leases, len(reqs)))
	}
	return run, nil
}

// start starts a controller watching ns.
func (c *ArgoContender) start(ctx context.Context, st *livecanary.Stack, ns, logPath string) (*Process, error) {
	metrics, err := FreePort()
	if err != nil {
		return nil, err
	}
	healthz, err := FreePort()
	if err != nil {
		return nil, err
	}
	level := c.LogLevel
	if level == "" {
		level = "info"
	}
	args := []string{
		"--kubeconfig", st.Env.Kubeconfig(), "--loglevel", level,
		"--metricsPort", strconv.Itoa(metrics), "--healthzPort", strconv.Itoa(healthz),
	}
	if !c.ClusterWide {
		args = append(args, "--namespaced", "--namespace", ns)
	}
	return StartProcess(ctx, ProcessSpec{
		Path:  c.bin,
		Args:  args,
		Argv0: "rollouts-controller",
		// The leader-election Lease and the notification settings live in
		// the controller's own namespace, POD_NAMESPACE in its Deployment.
		Env:     []string{"POD_NAMESPACE=" + ns},
		LogPath: logPath,
	})
}

// summarise fills in the run's outcome, end, weights and notes from its
// rollouts: the first rollout's weights and regression stand for the run.
func (c *ArgoContender) summarise(ctx context.Context, run *Run, canaries []*argoCanary, dyn dynamic.Interface, ns string, log *slog.Logger) {
	first := canaries[0]
	run.Outcome = first.outcome
	run.Weights = first.weights.Changes()
	run.RegressedAt = first.regressed()
	counts := map[Outcome]int{}
	for _, ac := range canaries {
		counts[ac.outcome]++
		if ac.endedAt.After(run.EndedAt) {
			run.EndedAt = ac.endedAt
		}
		// Mixed ends of several rollouts are not one outcome.
		if ac.outcome != first.outcome {
			run.Outcome = Held
		}
		if len(canaries) > 1 {
			continue
		}
		// Argo's promotion routes everything to the canary (100%) for a
		// moment before the stable Service takes the new pods: the steps'
		// weights are those below it.
		stepMax := 0.0
		for _, w := range ac.weights.Changes() {
			if w.Weight < 100 {
				stepMax = max(stepMax, w.Weight)
			}
		}
		note := fmt.Sprintf("%s %.1fs after the update, steps up to %g%%; Rollout %s",
			ac.outcome, ac.endedAt.Sub(ac.startedAt).Seconds(), stepMax, ac.final.brief())
		if r := ac.regressed(); !r.IsZero() {
			note += fmt.Sprintf("; regression began %.1fs after the update", r.Sub(ac.startedAt).Seconds())
		}
		report, err := argoAnalysisReport(ctx, dyn, ns, ac.names.Name)
		if err != nil {
			log.Warn("argo: analysis report", slog.String("error", err.Error()))
		}
		for _, r := range report {
			note += "; " + r
		}
		run.Notes = append(run.Notes, note)
	}
	if len(canaries) > 1 {
		run.Notes = append(run.Notes, fmt.Sprintf("%d/%d promoted, %d rolled back, %d held", counts[Promoted], len(canaries), counts[RolledBack], counts[Held]))
	}
	if !run.KilledAt.IsZero() {
		note := "controller SIGKILLed and restarted at once"
		if !run.NextCheckAt.IsZero() {
			// Argo's leader election is on by default: the new controller
			// waits until the dead one's Lease (15 s) has expired.
			note += fmt.Sprintf("; the new controller queried Prometheus %.1fs after the kill", run.NextCheckAt.Sub(run.KilledAt).Seconds())
		} else {
			note += "; no Prometheus query followed"
		}
		run.Notes = append(run.Notes, note)
	}
}

// follow watches one rollout's VirtualService and adds its service to the
// App, its canary share following the VirtualService's weight and the
// regression injected when the weight reaches sc.RegressAt.
func (c *ArgoContender) follow(ctx context.Context, st *livecanary.Stack, ic versioned.Interface, n argoNames, sc Scenario, log *slog.Logger) *argoCanary {
	ac := &argoCanary{names: n}
	ac.weights = WatchWeights(ctx, ic, VirtualServiceRoute{Namespace: n.NS, VirtualService: n.Name, Route: argoRoute, CanaryHost: n.Canary}, log)
	ac.svc = st.App.Service(promtest.ServiceSpec{
		Namespace: n.NS, Name: n.Name, CanaryVersion: livecanary.CanaryVersion,
		CanaryShare: ac.weights.Canary, Canary: sc.Canary,
		Istio: &promtest.IstioNames{
			// Istio names a Rollout's pods' workload after the Rollout (its
			// ReplicaSet's name without the hash), the same on both sides:
			// the Services tell them apart, and the query selects by Service.
			StableWorkload: n.Name, CanaryWorkload: n.Name,
			StableService: n.host(n.Stable), CanaryService: n.host(n.Canary),
		},
	})
	if sc.RegressAt > 0 {
		ac.weights.OnChange(func(w float64, _ time.Time) {
			ac.mu.Lock()
			defer ac.mu.Unlock()
			if w == sc.RegressAt && ac.regressedAt.IsZero() {
				ac.regressedAt = ac.svc.SetCanary(sc.Regression)
				log.Info("regression injected", slog.String("rollout", n.Name), slog.Float64("weight", w))
			}
		})
	}
	return ac
}

// seed creates one rollout's Services, VirtualService, AnalysisTemplate
// (querying the stack's Prometheus through its query log) and Rollout at v1.
func (c *ArgoContender) seed(ctx context.Context, dyn dynamic.Interface, n argoNames) error {
	objs := []struct {
		gvr schema.GroupVersionResource
		obj *unstructured.Unstructured
	}{
		{argoServiceGVR, argoService(n, n.Stable)},
		{argoServiceGVR, argoService(n, n.Canary)},
		{argoVirtualServiceGVR, argoVirtualService(n)},
		{argoAnalysisTemplateGVR, argoAnalysisTemplate(n, c.s.Analysis, c.a.PromURL)},
		{argoRolloutGVR, argoRollout(n, "v1")},
	}
	for _, o := range objs {
		if _, err := dyn.Resource(o.gvr).Namespace(n.NS).Create(ctx, o.obj, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("argo: seed %s %s/%s: %w", o.obj.GetKind(), n.NS, o.obj.GetName(), err)
		}
	}
	return nil
}

// setArgoImage changes the image of the Rollout's pod template: the update
// an Argo user makes.
func setArgoImage(ctx context.Context, dyn dynamic.Interface, n argoNames, image string) error {
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		r, err := dyn.Resource(argoRolloutGVR).Namespace(n.NS).Get(ctx, n.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		containers, _, err := unstructured.NestedSlice(r.Object, "spec", "template", "spec", "containers")
		if err != nil || len(containers) == 0 {
			return errors.Join(err, errors.New("no containers"))
		}
		containers[0].(map[string]any)["image"] = image
		if err := unstructured.SetNestedSlice(r.Object, containers, "spec", "template", "spec", "containers"); err != nil {
			return err
		}
		_, err = dyn.Resource(argoRolloutGVR).Namespace(n.NS).Update(ctx, r, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		return fmt.Errorf("argo: update Rollout %s/%s to %s: %w", n.NS, n.Name, image, err)
	}
	return nil
}
