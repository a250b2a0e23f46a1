package cli

import (
	"context"
	"fmt"
	"strings"
	"time"

	testingclock "k8s.io/utils/clock/testing"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/provider/sim"
	"github.com/agentops/progressive/rollout"
)

// simFlags script the simulated world a --sim run rehearses in.
type simFlags struct {
	fault   string
	faultAt float64
	seed    uint64
	pace    time.Duration
}

// Faults --sim-fault can inject into the new version.
var simFaults = map[string]string{
	"errors":       "5% of the new version's requests fail",
	"latency":      "the new version's latency is 5 times stable's",
	"cpu":          "the new version's pods use 95% CPU",
	"no-traffic":   "the new version receives no requests",
	"metrics-down": "the metric backend stops answering",
	"readiness":    "the new version's pods never become ready",
}

func addSimFlags(f *flags) *simFlags {
	s := &simFlags{}
	kinds := sortedKeys(simFaults)
	f.fs.StringVar(&s.fault, "sim-fault", "", "with --sim: inject a fault into the new version: "+strings.Join(kinds, ", "))
	f.fs.Float64Var(&s.faultAt, "sim-fault-at", 0, "with --sim: the canary weight or flag percentage from which the fault shows (0: from the start)")
	f.fs.Uint64Var(&s.seed, "sim-seed", 42, "with --sim: seed of the simulated metrics (same seed, same run)")
	f.fs.DurationVar(&s.pace, "sim-pace", 0, "with --sim: real time to wait after each progress line, for a demo (0: as fast as possible)")
	return s
}

func (s *simFlags) validate(sim bool) error {
	if s.fault != "" {
		if !sim {
			return invalidf("flag --sim-fault %q: only with --sim", s.fault)
		}
		if _, ok := simFaults[s.fault]; !ok {
			return invalidf("flag --sim-fault %q: want one of %s", s.fault, strings.Join(sortedKeys(simFaults), ", "))
		}
	}
	if s.faultAt < 0 || s.faultAt > 100 {
		return invalidf("flag --sim-fault-at %g: want a percentage between 0 and 100", s.faultAt)
	}
	if s.pace < 0 {
		return invalidf("flag --sim-pace %s: must not be negative", s.pace)
	}
	return nil
}

// simWorld is the simulator seeded for one plan: the target's service with
// its stable version, the flags the plan writes, and a fake clock that a
// driver advances whenever the runner waits.
type simWorld struct {
	env       *sim.Env
	clock     *testingclock.FakeClock
	providers rollout.Providers
	// observer injects the fault once the new version reaches its share.
	observer rollout.Observer
	stop     func()
	// rolling: the plan updates the workload in place (see wholeService).
	rolling bool
}

func isRolling(plan progressive.Plan) bool {
	for _, st := range plan.Steps {
		if st.Roll != nil {
			return true
		}
	}
	return false
}

// wholeService answers every query for the service as a whole. The
// simulator counts the pods a rolling update replaced in place as the
// stable Deployment's and has no canary side to measure, while the checks
// of an update in place ask for the new version (role canary): without this
// every measurement of a rolling rehearsal would be "no data" and end
// inconclusive.
type wholeService struct{ m *sim.Metrics }

func (w wholeService) Name() string { return w.m.Name() }

func (w wholeService) Query(ctx context.Context, q progressive.Query) (progressive.Result, error) {
	q.Role = progressive.Stable
	return w.m.Query(ctx, q)
}

// newSimWorld seeds the simulator for plan and rewrites the plan's webhooks
// into Go hooks that only say what they would have done: a rehearsal must
// never post to a real Slack channel.
func (a *App) newSimWorld(ctx context.Context, plan *progressive.Plan, sf *simFlags) (*simWorld, error) {
	if err := sf.validate(true); err != nil {
		return nil, err
	}
	fc := testingclock.NewFakeClock(a.Now())
	env := sim.New(sim.Options{Clock: fc, Seed: sf.seed})
	w := &simWorld{env: env, clock: fc}
	t := plan.Target
	rate := 1000.0
	if plan.Traffic != nil && plan.Traffic.RequestsPerSecond > 0 {
		rate = plan.Traffic.RequestsPerSecond
	}
	if err := env.Metrics.SetProfile(t, sim.Profile{RequestRate: rate}); err != nil {
		return nil, fmt.Errorf("sim: %w", err)
	}
	if err := env.Workload.AddService(t, sim.ServiceSpec{Replicas: simReplicas(*plan), Version: "stable", Image: t.Name + ":stable"}); err != nil {
		return nil, fmt.Errorf("sim: %w", err)
	}
	bound := false
	for _, st := range plan.Steps {
		if st.SetFlag == nil {
			continue
		}
		sf := st.SetFlag
		for _, seg := range sf.Segments {
			// A rehearsal has no users of its own: the segment exists, with a
			// few made-up members, so that the targeting stage can be written.
			env.Flags.AddSegment(seg, seg+"-user-1", seg+"-user-2")
		}
		if _, err := env.Flags.GetFlag(ctx, sf.Flag); err == nil {
			continue
		}
		flag := progressive.Flag{
			Ref: sf.Flag, On: true,
			Variations:   []progressive.Variation{{ID: sf.Variation, Name: sf.Variation}, {ID: sf.Fallback, Name: sf.Fallback}},
			OffVariation: sf.Fallback,
			Fallthrough:  progressive.PercentRollout(sf.Variation, sf.Fallback, 0),
		}
		if err := env.Flags.AddFlag(flag); err != nil {
			return nil, fmt.Errorf("sim: flag %s: %w", sf.Flag, err)
		}
		if !bound {
			// The users served the new variation are the canary the checks
			// measure.
			if err := env.Metrics.BindFlag(t, env.Flags, sf.Flag, sf.Variation); err != nil {
				return nil, fmt.Errorf("sim: %w", err)
			}
			bound = true
		}
	}
	hooks := map[string]rollout.Hook{}
	quiet := rollout.HookFunc(func(context.Context, rollout.HookRequest) error { return nil })
	for i := range plan.Hooks {
		plan.Hooks[i].URL = ""
		hooks[plan.Hooks[i].Name] = quiet
	}
	for i := range plan.Steps {
		if h := plan.Steps[i].Hook; h != nil {
			h.Hook.URL = ""
			hooks[h.Hook.Name] = quiet
		}
	}
	var metrics progressive.MetricSource = env.Metrics
	if isRolling(*plan) {
		w.rolling = true
		metrics = wholeService{env.Metrics}
	}
	w.providers = rollout.Providers{
		Routers:   []progressive.TrafficRouter{env.Router},
		Metrics:   []progressive.MetricSource{metrics},
		Workloads: []progressive.Workload{env.Workload},
		Flags:     []progressive.FlagStore{env.Flags},
		Hooks:     hooks,
		// A rehearsal has nobody to ask: every gate is approved, and the
		// decision record says by whom.
		Approver: rollout.ApproverFunc(func(context.Context, rollout.ApprovalRequest) (rollout.ApprovalStatus, string, error) {
			return rollout.ApprovalApproved, "approved by the --sim rehearsal", nil
		}),
	}
	// The plan names its providers by kind; the simulator's are all "sim".
	plan.Providers = progressive.ProviderNames{}
	for i := range plan.Checks {
		plan.Checks[i].Metrics = ""
	}
	if sf.fault != "" {
		w.observer = w.faultInjector(*plan, sf)
		if sf.faultAt == 0 {
			if err := w.inject(*plan, sf.fault); err != nil {
				return nil, err
			}
			w.observer = nil
		}
	}
	drive, cancel := context.WithCancel(ctx)
	stopDrive := sim.Drive(drive, fc, time.Second)
	w.stop = func() {
		stopDrive()
		cancel()
	}
	return w, nil
}

// simReplicas is the stable size the plan expects: blue-green's green and a
// rolling update's batches are sized after it.
func simReplicas(plan progressive.Plan) int {
	n := 0
	for _, st := range plan.Steps {
		if st.Deploy != nil && st.Deploy.Replicas > n {
			n = st.Deploy.Replicas
		}
		if st.Roll != nil && st.Roll.Updated > n {
			n = st.Roll.Updated
		}
	}
	if n == 0 {
		n = 10
	}
	return n
}

// faultInjector injects the fault the first time the new version's share
// reaches --sim-fault-at.
func (w *simWorld) faultInjector(plan progressive.Plan, sf *simFlags) rollout.Observer {
	done := false
	return rollout.ObserverFunc(func(_ context.Context, e rollout.Event) {
		if done {
			return
		}
		share := -1.0
		switch {
		case e.Type == rollout.EventRoutesChanged && e.Routes != nil:
			share = e.Routes.CanaryWeight
		case e.Type == rollout.EventStepStarted:
			if st, ok := stepAt(plan, e.Step); ok && st.SetFlag != nil {
				share = st.SetFlag.Percent
			} else if ok && st.Roll != nil {
				share = 100 * float64(st.Roll.Updated) / float64(simReplicas(plan))
			}
		}
		if share >= sf.faultAt {
			done = true
			_ = w.inject(plan, sf.fault) // validated before the run
		}
	})
}

func stepAt(plan progressive.Plan, i int) (progressive.Step, bool) {
	if i < 0 || i >= len(plan.Steps) {
		return progressive.Step{}, false
	}
	return plan.Steps[i], true
}

func (w *simWorld) inject(plan progressive.Plan, fault string) error {
	inc := sim.Incident{Target: plan.Target, Role: progressive.Canary, Start: w.clock.Now()}
	if w.rolling {
		inc.Role = "" // the whole service is measured (wholeService)
	}
	switch fault {
	case "errors":
		inc.Kind, inc.Value = sim.ErrorRateSet, 5
	case "latency":
		inc.Kind, inc.Value = sim.LatencyFactor, 5
	case "cpu":
		inc.Kind, inc.Value = sim.CPUSet, 95
	case "no-traffic":
		inc.Kind = sim.NoTraffic
	case "metrics-down":
		inc.Kind, inc.Role = sim.BackendDown, ""
	case "readiness":
		w.env.Workload.NeverReady(plan.Release.Image)
		return nil
	}
	if err := w.env.Metrics.Inject(inc); err != nil {
		return fmt.Errorf("sim: fault %s: %w", fault, err)
	}
	return nil
}
