package anchors

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"istio.io/client-go/pkg/clientset/versioned"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"

	shared "github.com/agentops/progressive/examples/k8s-shared"
	"github.com/agentops/progressive/internal/livecanary"
	"github.com/agentops/progressive/internal/promtest"
)

// canaryGVR is Flagger's Canary.
var canaryGVR = schema.GroupVersionResource{Group: "flagger.app", Version: "v1beta1", Resource: "canaries"}

// FlaggerUserAgent begins the user agent of Flagger's API requests
// (client-go's default: the program's name).
const FlaggerUserAgent = "flagger/"

// FlaggerSettings are a Canary's analysis settings.
type FlaggerSettings struct {
	// Name is the table's settings column.
	Name string
	// Interval is analysis.interval: Flagger runs one analysis per interval
	// (at least 10 s) and moves one step after each passing one.
	Interval time.Duration
	// StepWeight and MaxWeight: 10, 20, ... up to MaxWeight, then promotion.
	StepWeight, MaxWeight int
	// Threshold is analysis.threshold, the failed checks (in all, not in a
	// row: Flagger resets them only for a new revision) before rollback.
	Threshold int
	// MinSuccessRate is the built-in request-success-rate metric's
	// thresholdRange.min, in percent: 98 is an error rate of at most 2%,
	// progressive's check.
	MinSuccessRate float64
	// MetricInterval is the metric's window (its interval).
	MetricInterval string
}

// FlaggerDefaults are the documented settings for progressive's plan: 10 s
// analyses (progressive's soak and check interval), steps of 10 up to 50,
// request-success-rate at least 98% over 10 s, and threshold 5. The
// Canary CRD requires a threshold (Flagger's code would take 1 if it were
// 0); every Canary in Flagger's documentation and tutorials (the Istio
// progressive-delivery tutorial among them) sets 5, so 5 is the default a
// user meets.
func FlaggerDefaults() FlaggerSettings {
	return FlaggerSettings{
		Name:     "defaults (threshold 5)",
		Interval: 10 * time.Second, StepWeight: 10, MaxWeight: 50,
		Threshold: 5, MinSuccessRate: 98, MetricInterval: "10s",
	}
}

// FlaggerTuned rolls back on the second failed check (threshold 2), the
// documented way to make Flagger react sooner at the cost of rolling back on
// two noisy measurements.
func FlaggerTuned() FlaggerSettings {
	s := FlaggerDefaults()
	s.Name = "tuned: threshold 2"
	s.Threshold = 2
	return s
}

// FlaggerContender runs the real Flagger controller (one process per run, watching
// the run's namespace) with a Canary per rollout.
type FlaggerContender struct {
	a   *Anchors
	bin string
	s   FlaggerSettings
	// Bound is how long a rollout may take after the image change before
	// it counts as Held. Default 6 minutes.
	Bound time.Duration
}

// NewFlagger returns the contender; bin is the flagger binary (Build).
func NewFlagger(a *Anchors, bin string, s FlaggerSettings) *FlaggerContender {
	return &FlaggerContender{a: a, bin: bin, s: s, Bound: 6 * time.Minute}
}

// Tool names the row.
func (f *FlaggerContender) Tool() string { return "Flagger " + Flagger().Version }

// Settings names the row's settings.
func (f *FlaggerContender) Settings() string { return f.s.Name }

// flaggerCanary is one rollout under Flagger.
type flaggerCanary struct {
	name    string
	weights *Weights
	service *promtest.Service

	mu          sync.Mutex
	regressedAt time.Time
	phase       string
	endedAt     time.Time
}

// Run seeds a Deployment and a Canary per rollout in ns, starts Flagger,
// waits for the Canaries to be Initialized, changes every Deployment's image
// (Flagger's trigger) and waits until each Canary is Succeeded or Failed.
func (f *FlaggerContender) Run(ctx context.Context, st *livecanary.Stack, ns string, sc Scenario) (Run, error) {
	run := Run{Tool: f.Tool(), Settings: f.Settings(), Scenario: sc.Name}
	log := st.Log.With(slog.String("tool", "flagger"), slog.String("namespace", ns), slog.String("scenario", sc.Name))
	n := max(sc.Rollouts, 1)
	ic, err := versioned.NewForConfig(st.Env.Config())
	if err != nil {
		return run, fmt.Errorf("flagger: %w", err)
	}
	wctx, stopWatches := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWatches()

	canaries := make([]*flaggerCanary, n)
	for i := range canaries {
		name := "podinfo"
		if n > 1 {
			name = fmt.Sprintf("podinfo-%d", i)
		}
		c := &flaggerCanary{name: name}
		canaries[i] = c
		if err := seedDeployment(ctx, st, ns, name, nil); err != nil {
			return run, err
		}
		if err := f.createCanary(ctx, st, ns, name); err != nil {
			return run, err
		}
		c.weights = WatchWeights(wctx, ic, VirtualServiceRoute{Namespace: ns, VirtualService: name, CanaryHost: name + "-canary"}, log)
		c.service = st.App.Service(promtest.ServiceSpec{
			Namespace: ns, Name: name, CanaryVersion: livecanary.CanaryVersion,
			CanaryShare: c.weights.Canary, Canary: sc.Canary,
			Istio: &promtest.IstioNames{
				StableWorkload: name + "-primary", CanaryWorkload: name,
				StableService: name + "-primary." + ns + ".svc.cluster.local",
				CanaryService: name + "-canary." + ns + ".svc.cluster.local",
			},
		})
		defer func() {
			c.service.SetCanary(promtest.Behavior{NoTraffic: true})
			c.service.SetStable(promtest.Behavior{NoTraffic: true})
		}()
		if sc.RegressAt > 0 {
			c.weights.OnChange(func(w float64, _ time.Time) {
				c.mu.Lock()
				defer c.mu.Unlock()
				if w == sc.RegressAt && c.regressedAt.IsZero() {
					c.regressedAt = c.service.SetCanary(sc.Regression)
				}
			})
		}
	}

	logDir, err := f.a.LogDir("flagger-" + ns)
	if err != nil {
		return run, err
	}
	ctl := &controllers{}
	defer ctl.stop()
	start := func() error {
		p, err := f.start(ctx, st, ns, logDir)
		if err == nil {
			ctl.add(p)
		}
		return err
	}
	if err := start(); err != nil {
		return run, err
	}

	phases := watchCanaries(wctx, st, ns, log)
	initCtx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	for _, c := range canaries {
		if _, err := phases.waitFor(initCtx, c.name, "Initialized"); err != nil {
			return run, fmt.Errorf("flagger: canary %s/%s not initialized: %w\n%s", ns, c.name, err, ctl.logTail(40))
		}
	}
	// Prometheus has the primary's series before the analysis begins, as it
	// would in a cluster where the service already served.
	if err := st.Prom.WaitFor(ctx, fmt.Sprintf(`istio_requests_total{destination_workload_namespace=%q,destination_workload=%q}`, ns, canaries[0].name+"-primary"), time.Minute); err != nil {
		return run, fmt.Errorf("flagger: %w", err)
	}

	// The trigger: a new image in the pod template, as a Flagger user ships.
	run.StartedAt = time.Now()
	cpuBefore := ctl.usage().CPUSeconds
	for _, c := range canaries {
		patch := fmt.Sprintf(`{"spec":{"template":{"spec":{"containers":[{"name":"app","image":"registry.example/%s:%s"}]}}}}`, c.name, livecanary.CanaryVersion)
		if _, err := st.Env.Clientset().AppsV1().Deployments(ns).Patch(ctx, c.name, types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
			return run, fmt.Errorf("flagger: new image for %s/%s: %w", ns, c.name, err)
		}
	}

	if sc.RestartAfter > 0 {
		go func() {
			began, err := canaries[0].weights.WaitFor(wctx, func(w float64) bool { return w > 0 })
			if err != nil {
				return
			}
			sleep(wctx, time.Until(began.Add(sc.RestartAfter)))
			if wctx.Err() != nil {
				return
			}
			killed := ctl.kill()
			ctl.setKilledAt(killed)
			if err := start(); err != nil {
				log.Error("flagger: restart", slog.String("error", err.Error()))
			}
		}()
	}

	endCtx, cancelEnd := context.WithDeadline(ctx, run.StartedAt.Add(f.Bound))
	defer cancelEnd()
	run.Outcome = Promoted
	var held []string
	for _, c := range canaries {
		phase, err := phases.waitFor(endCtx, c.name, "Succeeded", "Failed")
		switch {
		case err != nil && ctx.Err() != nil:
			return run, ctx.Err()
		case err != nil:
			held = append(held, c.name)
			if run.Outcome == Promoted {
				run.Outcome = Held
			}
		case phase.phase == "Failed":
			run.Outcome = RolledBack
		}
		c.mu.Lock()
		c.phase, c.endedAt = phase.phase, phase.at
		c.mu.Unlock()
	}
	run.EndedAt = latestEnd(canaries)
	if len(held) > 0 {
		run.EndedAt = run.StartedAt.Add(f.Bound)
	}
	// The last write of a rollback (or the promotion's return to primary)
	// reaches the watch a moment later.
	for _, c := range canaries {
		wc, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, _ = c.weights.WaitFor(wc, func(w float64) bool { return w == 0 })
		cancel()
	}

	u := ctl.usage()
	run.RSSBytes = ctl.peakRSS()
	run.CPUSeconds = u.CPUSeconds - cpuBefore
	c0 := canaries[0]
	run.Weights = c0.weights.Changes()
	c0.mu.Lock()
	run.RegressedAt = c0.regressedAt
	c0.mu.Unlock()
	run.KilledAt = ctl.killedAt()
	if !run.KilledAt.IsZero() {
		if q, ok := f.a.Queries.First(run.KilledAt, strconv.Quote(ns)); ok {
			run.NextCheckAt = q.At
		}
	}
	f.a.Measure(&run, Requests{UserAgent: FlaggerUserAgent, Namespace: ns, Interval: f.s.Interval}, sc)
	run.Notes = append(run.Notes, summarize(canaries, held)...)
	run.Notes = append(run.Notes, f.failureReasons(ctx, st, ns, canaries)...)
	if run.Outcome == Held && sc.Canary.NoTraffic {
		run.Notes = append(run.Notes, fmt.Sprintf("held at %g%% for %s", MaxWeight(run.Weights), f.Bound))
	}
	return run, nil
}

func latestEnd(cs []*flaggerCanary) time.Time {
	var t time.Time
	for _, c := range cs {
		c.mu.Lock()
		if c.endedAt.After(t) {
			t = c.endedAt
		}
		c.mu.Unlock()
	}
	return t
}

// summarize notes, for several rollouts, how many ended how.
func summarize(cs []*flaggerCanary, held []string) []string {
	if len(cs) < 2 {
		return nil
	}
	count := map[string]int{}
	for _, c := range cs {
		c.mu.Lock()
		count[c.phase]++
		c.mu.Unlock()
	}
	return []string{fmt.Sprintf("%d/%d promoted, %d rolled back, %d held", count["Succeeded"], len(cs), count["Failed"], len(held))}
}

// start starts a Flagger process for ns.
func (f *FlaggerContender) start(ctx context.Context, st *livecanary.Stack, ns, logDir string) (*Process, error) {
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	return StartProcess(ctx, ProcessSpec{
		Path: f.bin,
		Args: []string{
			"-kubeconfig=" + st.Env.Kubeconfig(),
			"-mesh-provider=istio",
			"-metrics-server=" + f.a.PromURL,
			"-namespace=" + ns,
			"-log-level=info",
			"-port=" + strconv.Itoa(port),
		},
		Argv0:   "flagger",
		LogPath: filepath.Join(logDir, "flagger.log"),
	})
}

// createCanary creates the Canary of the Deployment name.
func (f *FlaggerContender) createCanary(ctx context.Context, st *livecanary.Stack, ns, name string) error {
	c := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "flagger.app/v1beta1",
		"kind":       "Canary",
		"metadata":   map[string]any{"name": name, "namespace": ns},
		"spec": map[string]any{
			"targetRef":               map[string]any{"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
			"progressDeadlineSeconds": int64(60),
			"service":                 map[string]any{"port": int64(80), "targetPort": int64(8080)},
			"analysis": map[string]any{
				"interval":   f.s.Interval.String(),
				"threshold":  int64(f.s.Threshold),
				"maxWeight":  int64(f.s.MaxWeight),
				"stepWeight": int64(f.s.StepWeight),
				"metrics": []any{map[string]any{
					"name":           "request-success-rate",
					"thresholdRange": map[string]any{"min": f.s.MinSuccessRate},
					"interval":       f.s.MetricInterval,
				}},
			},
		},
	}}
	if _, err := st.Env.Dynamic().Resource(canaryGVR).Namespace(ns).Create(ctx, c, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("flagger: create Canary %s/%s: %w", ns, name, err)
	}
	return nil
}

// seedDeployment creates Deployment name (2 replicas of image v1, pods
// labelled app=<name> plus podLabels) and waits until it rolled out.
func seedDeployment(ctx context.Context, st *livecanary.Stack, ns, name string, podLabels map[string]string) error {
	replicas := int32(2)
	labels := map[string]string{"app": name}
	pod := map[string]string{"app": name}
	for k, v := range podLabels {
		pod[k] = v
	}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: pod},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: "app", Image: "registry.example/" + name + ":v1",
					Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}},
				}}},
			},
		},
	}
	if _, err := st.Env.Clientset().AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("seed Deployment %s/%s: %w", ns, name, err)
	}
	return shared.WaitRolledOut(ctx, st.Env.Clientset(), ns, name, 2*time.Minute)
}

// controllers are the processes of one run's controller: the first and
// those started after each kill.
type controllers struct {
	mu     sync.Mutex
	procs  []*Process
	killed time.Time
	closed bool // stopped: a process added later is killed at once
}

func (c *controllers) add(p *Process) {
	c.mu.Lock()
	closed := c.closed
	c.procs = append(c.procs, p)
	c.mu.Unlock()
	if closed {
		p.Kill()
	}
}

func (c *controllers) current() *Process {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.procs) == 0 {
		return nil
	}
	return c.procs[len(c.procs)-1]
}

// kill SIGKILLs the current process and returns when.
func (c *controllers) kill() time.Time {
	if p := c.current(); p != nil {
		return p.Kill()
	}
	return time.Now()
}

func (c *controllers) setKilledAt(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.killed = t
}

func (c *controllers) killedAt() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.killed
}

// usage is the CPU of all the processes and the peak RSS of any one.
func (c *controllers) usage() Usage {
	c.mu.Lock()
	procs := append([]*Process(nil), c.procs...)
	c.mu.Unlock()
	var u Usage
	for _, p := range procs {
		pu := p.Usage()
		u.CPUSeconds += pu.CPUSeconds
		u.PeakRSSBytes = max(u.PeakRSSBytes, pu.PeakRSSBytes)
	}
	return u
}

func (c *controllers) peakRSS() int64 { return c.usage().PeakRSSBytes }

func (c *controllers) stop() {
	c.mu.Lock()
	c.closed = true
	procs := append([]*Process(nil), c.procs...)
	c.mu.Unlock()
	for _, p := range procs {
		p.Stop(5 * time.Second)
	}
}

func (c *controllers) logTail(n int) string {
	if p := c.current(); p != nil {
		return p.LogTail(n)
	}
	return ""
}

// canaryPhase is a Canary's status.phase and when the watch saw it.
type canaryPhase struct {
	phase  string
	weight int64
	at     time.Time
}

// canaryPhases follows the Canaries of a namespace with a watch.
type canaryPhases struct {
	mu      sync.Mutex
	last    map[string]canaryPhase
	changed chan struct{}
}

// watchCanaries follows the status of ns's Canaries until ctx ends.
func watchCanaries(ctx context.Context, st *livecanary.Stack, ns string, log *slog.Logger) *canaryPhases {
	p := &canaryPhases{last: map[string]canaryPhase{}, changed: make(chan struct{})}
	go func() {
		client := st.Env.Dynamic().Resource(canaryGVR).Namespace(ns)
		for ctx.Err() == nil {
			w, err := client.Watch(ctx, metav1.ListOptions{})
			if err != nil {
				log.Debug("Canary watch", slog.String("error", err.Error()))
				sleep(ctx, 100*time.Millisecond)
				continue
			}
			for ev := range w.ResultChan() {
				if ev.Type != watch.Added && ev.Type != watch.Modified {
					continue
				}
				u, ok := ev.Object.(*unstructured.Unstructured)
				if !ok {
					continue
				}
				phase, _, _ := unstructured.NestedString(u.Object, "status", "phase")
				weight, _, _ := unstructured.NestedInt64(u.Object, "status", "canaryWeight")
				p.set(u.GetName(), phase, weight)
			}
			w.Stop()
		}
	}()
	return p
}

func (p *canaryPhases) set(name, phase string, weight int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if cur, ok := p.last[name]; ok && cur.phase == phase && cur.weight == weight {
		return
	}
	p.last[name] = canaryPhase{phase: phase, weight: weight, at: time.Now()}
	close(p.changed)
	p.changed = make(chan struct{})
}

// waitFor waits until Canary name's phase is one of phases.
func (p *canaryPhases) waitFor(ctx context.Context, name string, phases ...string) (canaryPhase, error) {
	for {
		p.mu.Lock()
		cur, ch := p.last[name], p.changed
		p.mu.Unlock()
		for _, ph := range phases {
			if cur.phase == ph {
				return cur, nil
			}
		}
		select {
		case <-ctx.Done():
			return cur, fmt.Errorf("canary %s in phase %q, waiting for %v: %w", name, cur.phase, phases, ctx.Err())
		case <-ch:
		}
	}
}

// canaryNumber is the number in the names of several rollouts' objects.
var canaryNumber = regexp.MustCompile(`podinfo-[0-9]+`)

// failureReasons are Flagger's last Warning events of the failed Canaries
// (why it rolled back: "failed checks threshold reached", "progress
// deadline exceeded", ...), each distinct message once, with how many
// Canaries it was the last word of.
func (f *FlaggerContender) failureReasons(ctx context.Context, st *livecanary.Stack, ns string, cs []*flaggerCanary) []string {
	count := map[string]int{}
	var order []string
	for _, c := range cs {
		c.mu.Lock()
		failed := c.phase == "Failed"
		c.mu.Unlock()
		if !failed {
			continue
		}
		evs, err := st.Env.Clientset().CoreV1().Events(ns).List(ctx, metav1.ListOptions{
			FieldSelector: "involvedObject.name=" + c.name + ",involvedObject.kind=Canary,type=Warning",
		})
		if err != nil || len(evs.Items) == 0 {
			continue
		}
		// The reason is the warning before "Canary failed! Scaling down".
		var msgs []string
		last := time.Time{}
		for _, e := range evs.Items {
			t := e.LastTimestamp.Time
			if t.IsZero() {
				t = e.EventTime.Time
			}
			if strings.HasPrefix(e.Message, "Canary failed!") {
				continue
			}
			if !t.Before(last) {
				last = t
				msgs = append(msgs[:0], e.Message)
			}
		}
		for _, m := range msgs {
			// One line for every Canary that failed alike.
			m = strings.ReplaceAll(m, "."+ns, "")
			m = canaryNumber.ReplaceAllString(m, "podinfo-N")
			if count[m] == 0 {
				order = append(order, m)
			}
			count[m]++
		}
	}
	var out []string
	for _, m := range order {
		out = append(out, fmt.Sprintf("Flagger's last warning (%d canaries): %s", count[m], m))
	}
	return out
}
