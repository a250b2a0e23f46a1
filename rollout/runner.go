package rollout

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/analysis"
	"k8s.io/utils/clock"
)

// Defaults of Options and of steps that leave a timeout unset.
const (
	DefaultPollInterval = 5 * time.Second
	DefaultReadyTimeout = 10 * time.Minute
	DefaultMaxAttempts  = 5
	DefaultRetryBackoff = 5 * time.Second
)

// Options configure a Runner. Zero values select the documented defaults.
type Options struct {
	Providers Providers
	// Store persists states. Default: a new MemoryStore (nothing survives the process).
	Store StateStore
	// Clock drives every timer. Default clock.RealClock{}; tests use a FakeClock.
	Clock clock.Clock
	// Observers receive events in order.
	Observers []Observer
	// Logger for the runner's own diagnostics. Default slog.Default().
	Logger *slog.Logger
	// PollInterval between readiness and approval polls. Default 5s.
	PollInterval time.Duration
	// MaxAttempts of an action that fails transiently before the rollout rolls
	// back. Default 5.
	MaxAttempts int
	// RetryBackoff before retrying a transient failure; it doubles per attempt up
	// to 8 times itself. Default 5s.
	RetryBackoff time.Duration
	// Judges are the statistical judges checks may name.
	Judges map[string]analysis.Judge
	// WebhookSecret signs webhook payloads (HMAC-SHA256). Empty sends them unsigned.
	WebhookSecret []byte
	// HTTPClient for webhooks. Default http.DefaultClient.
	HTTPClient *http.Client
	// Checklist gates Start for the plans it applies to (checklist.go).
	// Default: none.
	Checklist *Checklist
}

// Runner executes plans. One Runner serves many rollouts; each is driven by
// Reconcile (one transition at a time, for controllers) or Run (a loop until the
// rollout ends, for programs and tests).
type Runner struct {
	opts   Options
	engine *analysis.Engine
	// id tells this runner's hook claims from another's (State.HooksClaimed).
	id string

	mu  sync.Mutex
	ids map[string]*perID // rollouts in use in this process (perid.go)
	// startMu makes Start's last target check and its create one step.
	startMu sync.Mutex
}

// New checks the options and returns a runner.
func New(opts Options) (*Runner, error) {
	// Zero selects a default; a negative value is a mistake, not a default.
	var p progressive.Problems
	if opts.PollInterval < 0 {
		p.Add("PollInterval", opts.PollInterval.String(), "must not be negative (zero selects %s)", DefaultPollInterval)
	}
	if opts.MaxAttempts < 0 {
		p.Add("MaxAttempts", opts.MaxAttempts, "must not be negative (zero selects %d)", DefaultMaxAttempts)
	}
	if opts.RetryBackoff < 0 {
		p.Add("RetryBackoff", opts.RetryBackoff.String(), "must not be negative (zero selects %s)", DefaultRetryBackoff)
	}
	if opts.Checklist != nil {
		if err := opts.Checklist.Validate(); err != nil {
			return nil, fmt.Errorf("rollout: options: %w", err)
		}
	}
	if err := p.Err(); err != nil {
		return nil, fmt.Errorf("rollout: options: %w", err)
	}
	if opts.Store == nil {
		opts.Store = NewMemoryStore()
	}
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.PollInterval == 0 {
		opts.PollInterval = DefaultPollInterval
	}
	if opts.MaxAttempts == 0 {
		opts.MaxAttempts = DefaultMaxAttempts
	}
	if opts.RetryBackoff == 0 {
		opts.RetryBackoff = DefaultRetryBackoff
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = http.DefaultClient
	}
	r := &Runner{opts: opts, id: newRunnerID(), ids: map[string]*perID{}}
	engine, err := analysis.NewEngine(analysis.Options{
		Sources: r.sourceResolver,
		Judges:  opts.Judges,
		Logger:  opts.Logger,
	})
	if err != nil {
		return nil, fmt.Errorf("rollout: analysis engine: %w", err)
	}
	r.engine = engine
	return r, nil
}

// sourceResolver serves the engine; the plan-level default is applied by
// rendering each check with its source name filled in (see checksWithSource).
func (r *Runner) sourceResolver(name string) (progressive.MetricSource, error) {
	return pick("metric source", name, r.opts.Providers.Metrics)
}

// Validate reports every problem of plan against this runner's providers.
func (r *Runner) Validate(plan progressive.Plan) error {
	return r.opts.Providers.Validate(plan, r.opts.Judges)
}

// Result tells a caller of Reconcile what happened and when to call again.
type Result struct {
	Phase Phase
	Step  int
	// RequeueAfter is when the rollout has something to do next; zero once it ended.
	RequeueAfter time.Duration
}

// Start validates plan, runs every metric query once (a bad query stops the
// rollout here, before any traffic moves), and stores a new rollout with the
// plan's name as id. It changes nothing else; Run or Reconcile execute it.
func (r *Runner) Start(ctx context.Context, plan progressive.Plan) (State, error) {
	if err := r.Validate(plan); err != nil {
		return State{}, fmt.Errorf("rollout %s: plan rejected: %w", plan.Name, err)
	}
	plan = withPlanSources(plan)
	for _, w := range Lint(plan) {
		// Not a reason to refuse the plan, but nobody should meet it first in a
		// post-incident review.
		r.opts.Logger.LogAttrs(ctx, slog.LevelWarn, "rollout plan warning",
			slog.String("rollout", plan.Name), slog.String("field", w.Field), slog.String("warning", w.Message))
	}
	if err := r.checkFree(ctx, plan); err != nil {
		return State{}, err
	}
	now := r.opts.Clock.Now()
	stableVersion := r.stableVersion(ctx, plan)
	if err := r.preflight(ctx, plan, stableVersion, now); err != nil {
		return State{}, fmt.Errorf("rollout %s: preflight: %w", plan.Name, err)
	}
	checklist, err := r.gate(ctx, plan, now)
	if err != nil {
		return State{}, err
	}
	st := State{
		ID:            plan.Name,
		Plan:          plan,
		Phase:         PhaseProgressing,
		Step:          StepState{Index: 0, StartedAt: now},
		Record:        newRecord(plan.Name, plan, now),
		StableVersion: stableVersion,
		StartedAt:     now,
		UpdatedAt:     now,
	}
	for _, d := range checklist {
		st.decide(d.Time, d.Action, d.Reason)
	}
	st.decide(now, "start", fmt.Sprintf("plan validated and %d metric queries answered; starting %s", countChecks(plan), orDefault(plan.Strategy, "the plan")))
	// Checked again, with the create, under startMu: two Starts for one target
	// in this process would both pass the first check while their queries run.
	// (Across processes the target's Lease keeps their drivers apart.)
	r.startMu.Lock()
	err = r.checkFree(ctx, plan)
	var created State
	var release func()
	if err == nil {
		release, err = r.claimSubjects(ctx, plan.Name, subjects(plan))
	}
	if err == nil {
		created, err = r.opts.Store.Create(ctx, st)
		if err != nil {
			release()
		}
		if err != nil && errors.Is(err, progressive.ErrConflict) {
			err = r.alreadyRan(ctx, plan.Name, err)
		} else if err != nil {
			err = fmt.Errorf("rollout %s: %w", plan.Name, err)
		}
	}
	r.startMu.Unlock()
	if err != nil {
		return State{}, err
	}
	r.emit(ctx, &created, Event{Type: EventStarted, Message: "rollout started: " + releaseWords(created.Plan)})
	r.emit(ctx, &created, Event{Type: EventStepStarted, Message: describeStep(created.Plan, created.Plan.Steps[0])})
	return created, nil
}

// withPlanSources copies the plan's default metric source into checks that name
// none, so the engine resolves every check by its own name.
func withPlanSources(plan progressive.Plan) progressive.Plan {
	if plan.Providers.Metrics == "" {
		return plan
	}
	fill := func(in []progressive.Check) []progressive.Check {
		out := make([]progressive.Check, len(in))
		for i, c := range in {
			if c.Metrics == "" {
				c.Metrics = plan.Providers.Metrics
			}
			out[i] = c
		}
		return out
	}
	plan.Checks = fill(plan.Checks)
	steps := make([]progressive.Step, len(plan.Steps))
	for i, s := range plan.Steps {
		if s.Analyze != nil && len(s.Analyze.Checks) > 0 {
			a := *s.Analyze
			a.Checks = fill(a.Checks)
			s.Analyze = &a
		}
		steps[i] = s
	}
	plan.Steps = steps
	return plan
}

func countChecks(plan progressive.Plan) int { return len(allChecks(plan)) }

// allChecks lists every distinct check a plan measures.
func allChecks(plan progressive.Plan) []progressive.Check {
	var out []progressive.Check
	seen := map[string]bool{}
	for _, s := range plan.Steps {
		if s.Analyze == nil {
			continue
		}
		for _, c := range plan.ChecksFor(*s.Analyze) {
			if key := c.Name + "\x00" + c.Query; !seen[key] {
				seen[key] = true
				out = append(out, c)
			}
		}
	}
	return out
}

func (r *Runner) preflight(ctx context.Context, plan progressive.Plan, stableVersion string, now time.Time) error {
	checks := allChecks(plan)
	if len(checks) == 0 {
		return nil
	}
	return r.engine.Preflight(ctx, checks, vars(plan, stableVersion), now)
}

// stableVersion asks the plan's workload which version stable runs, so that
// {{.Version}} renders it for the stable side of baseline checks. Without a
// workload (a flag rollout) or an answer, it is the word "stable".
func (r *Runner) stableVersion(ctx context.Context, plan progressive.Plan) string {
	if !planNeeds(plan).workload {
		return string(progressive.Stable)
	}
	w, err := r.opts.Providers.workload(plan)
	if err != nil {
		return string(progressive.Stable)
	}
	status, err := w.Status(ctx, plan.Target)
	if err != nil || status.Stable.Version == "" {
		return string(progressive.Stable)
	}
	return status.Stable.Version
}

func vars(plan progressive.Plan, stableVersion string) analysis.Vars {
	return analysis.Vars{
		Namespace:     plan.Target.Namespace,
		Service:       plan.Target.Name,
		CanaryVersion: plan.Release.Version,
		StableVersion: orDefault(stableVersion, string(progressive.Stable)),
	}
}

// Execute starts plan and runs it to the end.
func (r *Runner) Execute(ctx context.Context, plan progressive.Plan) (State, error) {
	st, err := r.Start(ctx, plan)
	if err != nil {
		return st, err
	}
	return r.Run(ctx, st.ID)
}

// Run drives rollout id until it ends or ctx is done, waiting on the runner's
// clock between transitions. A held rollout keeps Run waiting for a command. Run
// is also how a restarted process resumes: it continues from the stored state,
// after reading the routes back: traffic that drifted from what the rollout
// applied while no process drove it is recorded (a "drift" decision and an
// event) and restored. When the store is a FreshReader, Run first reads the
// state from its backend (GetFresh), so that it never drives from a cached
// state older than another process's last write.
//
// When the plan's workload is a progressive.StatusWatcher, Run subscribes once
// and, while a step waits for pods (deploy, scale, roll, promote), reconciles as
// soon as the workload reports a change instead of at the next PollInterval: on
// a cluster whose pods are ready at once, such a step takes well under a second
// instead of a whole interval. It still polls, so a missed notification costs
// only time.
func (r *Runner) Run(ctx context.Context, id string) (State, error) {
	wake, unsubscribe := r.subscribe(id)
	defer unsubscribe()
	if err := r.readFresh(ctx, id); err != nil {
		st, _ := r.opts.Store.Get(context.WithoutCancel(ctx), id)
		return st, err
	}
	if err := r.verifyRoutes(ctx, id); err != nil {
		// Not a reason to stop driving: the next traffic step or check meets
		// the same router and decides.
		r.opts.Logger.WarnContext(ctx, "rollout: checking the applied routes at resume", slog.String("rollout", id), slog.String("error", err.Error()))
	}
	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	changed, plan := r.watchStatus(watchCtx, id)
	lost := 0          // state writes lost in a row to another writer
	storeFailures := 0 // state writes the store failed, in a row
	protected := ""    // why traffic was taken away without a stored rollback
	for {
		// Changes before this Reconcile are seen by its reads; only those during
		// and after it should end the next wait early.
		drain(changed)
		var res Result
		var err error
		if protected != "" {
			// Traffic was taken away while the store failed: record the
			// rollback before anything else runs, or a retried step would put
			// the canary's share back.
			err = r.recordProtection(ctx, id, protected)
			if err == nil {
				protected = ""
			}
			res = Result{RequeueAfter: r.opts.PollInterval}
		} else {
			res, err = r.Reconcile(ctx, id)
		}
		switch {
		case err != nil && errors.Is(err, ErrStateChanged) && lost < maxLostWrites:
			// Another process wrote the state (a command such as Abort, or
			// another runner): reload at once and carry on from what it says.
			lost++
			continue
		case err != nil && !progressive.IsTransient(err):
			st, _ := r.opts.Store.Get(ctx, id)
			return st, err
		case err == nil && res.Phase.Terminal():
			// Only a saved end is an end (Result reports the saved phase).
			return r.finalState(ctx, id)
		}
		if err == nil {
			lost = 0
		}
		switch {
		case err != nil && errors.Is(err, errStoreWrite):
			storeFailures++
			if storeFailures == maxStoreFailures && protected == "" {
				// Nothing this runner decides can be stored, but users can
				// still be protected: take the canary's traffic away.
				protected = r.protectTraffic(ctx, id, err)
			}
		case err == nil:
			storeFailures = 0
		}
		wait := res.RequeueAfter
		if err != nil || wait <= 0 {
			wait = r.opts.PollInterval
		}
		early := err == nil && waitsForPods(plan, res)
		timer := r.opts.Clock.NewTimer(wait)
	waiting:
		for {
			select {
			case <-ctx.Done():
				timer.Stop()
				st, _ := r.opts.Store.Get(context.WithoutCancel(ctx), id)
				return st, ctx.Err()
			case <-wake:
				timer.Stop()
				break waiting
			case _, ok := <-changed:
				switch {
				case !ok:
					// The watcher stopped (its provider closed): poll.
					changed = nil
				case early:
					timer.Stop()
					break waiting
				}
				// Otherwise the step waits for time or metrics, not pods.
			case <-timer.C():
				break waiting
			}
		}
	}
}

// watchStatus subscribes to the status changes of rollout id's workload, when
// it is a progressive.StatusWatcher, until ctx ends. It returns nil (Run polls)
// when the plan needs no workload or the subscription fails, and the plan, whose
// steps tell Run when a change matters.
func (r *Runner) watchStatus(ctx context.Context, id string) (<-chan struct{}, progressive.Plan) {
	st, err := r.opts.Store.Get(ctx, id)
	if err != nil || st.Phase.Terminal() || !planNeeds(st.Plan).workload {
		return nil, st.Plan
	}
	w, err := r.opts.Providers.workload(st.Plan)
	if err != nil {
		return nil, st.Plan
	}
	sw, ok := w.(progressive.StatusWatcher)
	if !ok {
		return nil, st.Plan
	}
	ch, err := sw.WatchStatus(ctx, st.Plan.Target)
	if err != nil {
		if ctx.Err() == nil {
			r.opts.Logger.Info("rollout: workload status notifications unavailable; polling",
				"rollout", id, "workload", w.Name(), "pollInterval", r.opts.PollInterval, "err", err)
		}
		return nil, st.Plan
	}
	return ch, st.Plan
}

// waitsForPods reports whether the rollout, as Reconcile left it, waits for its
// workload's pods: a progressing deploy, scale, roll or promote step. Only then
// does a status change end Run's wait early; during a soak or an analysis it
// would only cost a needless Reconcile.
func waitsForPods(plan progressive.Plan, res Result) bool {
	if res.Phase != PhaseProgressing || res.Step < 0 || res.Step >= len(plan.Steps) {
		return false
	}
	switch plan.Steps[res.Step].Kind() {
	case progressive.KindDeploy, progressive.KindScale, progressive.KindRoll, progressive.KindPromote:
		return true
	}
	return false
}

// drain empties a notification channel without blocking (nil: nothing to do).
func drain(c <-chan struct{}) {
	select {
	case <-c:
	default:
	}
}

// maxStoreFailures is how many state writes in a row the store may fail before
// Run takes the canary's traffic and flag share away without waiting for the
// store: a rollout that cannot record its decisions must not leave users on a
// canary nobody can judge.
const maxStoreFailures = 5

// protectTraffic sends all traffic back to stable and every flag it changed to
// 0%, as the first rollback actions do, without saving: the store is failing.
// It returns the rollback's reason, which Run then keeps trying to store (and
// runs nothing else until it is stored, so no retried step puts the canary's
// share back); "" when there was nothing to protect.
func (r *Runner) protectTraffic(ctx context.Context, id string, cause error) string {
	st, err := r.opts.Store.Get(ctx, id)
	if err != nil {
		r.opts.Logger.ErrorContext(ctx, "rollout: the state store fails; cannot read the rollout to protect its traffic",
			slog.String("rollout", id), slog.String("error", err.Error()))
		return ""
	}
	if st.Phase.Terminal() || st.Phase == PhaseRollingBack {
		return ""
	}
	x := &exec{r: r, st: &st, now: r.opts.Clock.Now(), saved: st.Phase}
	reason := fmt.Sprintf("the state store failed %d writes in a row (%v): traffic and flags back to stable without waiting for it", maxStoreFailures, cause)
	x.emit(ctx, Event{Type: EventRollbackStarted, Message: reason})
	for _, action := range []string{actionRoutes, actionFlags} {
		if err := x.rollbackAction(ctx, action); err != nil {
			r.opts.Logger.ErrorContext(ctx, "rollout: protecting traffic while the state store fails",
				slog.String("rollout", id), slog.String("action", action), slog.String("error", err.Error()))
		}
	}
	r.opts.Logger.WarnContext(ctx, "rollout: "+reason, slog.String("rollout", id))
	return reason
}

// recordProtection stores the rollback protectTraffic began; the rollback's
// own actions then run again from the state (idempotent) and complete it.
func (r *Runner) recordProtection(ctx context.Context, id, reason string) error {
	e, unlock := r.lock(id)
	defer unlock()
	r.takeUnsaved(e) // the write below supersedes it
	st, err := r.load(ctx, id)
	if err != nil {
		return err
	}
	if st.Phase.Terminal() || st.Phase == PhaseRollingBack {
		return nil
	}
	x := &exec{r: r, st: &st, now: r.opts.Clock.Now(), saved: st.Phase}
	x.startRollback(ctx, reason, rollbackInfo{})
	return x.save(ctx)
}

// maxLostWrites bounds how often in a row Run reloads after losing a state
// write to another writer before it gives up: two runners driving one rollout
// without a lease would otherwise take turns forever.
const maxLostWrites = 10

// finalState reads the ended rollout, retrying a transient failure of the read
// for as long as ctx allows: the end is stored, and the caller deserves it.
func (r *Runner) finalState(ctx context.Context, id string) (State, error) {
	for {
		st, err := r.opts.Store.Get(ctx, id)
		if err == nil || !progressive.IsTransient(err) || ctx.Err() != nil {
			return st, err
		}
		t := r.opts.Clock.NewTimer(r.opts.PollInterval)
		select {
		case <-ctx.Done():
			t.Stop()
			return st, err
		case <-t.C():
		}
	}
}

// Resume is Run under the name operators look for after a restart.
func (r *Runner) Resume(ctx context.Context, id string) (State, error) { return r.Run(ctx, id) }

// Get returns the stored state of a rollout.
func (r *Runner) Get(ctx context.Context, id string) (State, error) { return r.opts.Store.Get(ctx, id) }

// Record returns the decision record of a rollout, with every observation. (The
// record inside a stored State leaves out those kept in the store's ObservationLog.)
func (r *Runner) Record(ctx context.Context, id string) (DecisionRecord, error) {
	st, err := r.opts.Store.Get(ctx, id)
	if err != nil {
		return DecisionRecord{}, err
	}
	return r.fullRecord(ctx, st)
}

// Abort rolls the rollout back and marks it aborted.
func (r *Runner) Abort(ctx context.Context, id, reason string) error {
	return r.command(ctx, id, CommandAbort, reason)
}

// Rollback rolls the rollout back now, whatever the metrics say.
func (r *Runner) Rollback(ctx context.Context, id, reason string) error {
	return r.command(ctx, id, CommandRollback, reason)
}

// Promote skips the remaining analysis and pauses and goes straight to the
// promotion (or the final step of a plan without one).
func (r *Runner) Promote(ctx context.Context, id, reason string) error {
	return r.command(ctx, id, CommandPromote, reason)
}

// Continue resumes a held rollout at its current step, with fresh analysis.
func (r *Runner) Continue(ctx context.Context, id, reason string) error {
	return r.command(ctx, id, CommandResume, reason)
}

// command stores the instruction with the state, so it survives a restart and
// reaches whichever process drives the rollout, then wakes a local Run.
func (r *Runner) command(ctx context.Context, id string, kind CommandKind, reason string) error {
	for attempt := 0; ; attempt++ {
		st, err := r.opts.Store.Get(ctx, id)
		if err != nil {
			return fmt.Errorf("rollout %s: %s: %w", id, kind, err)
		}
		if st.Phase.Terminal() {
			return fmt.Errorf("rollout %s has ended (%s); %s is not possible: %w", id, st.Phase, kind, progressive.ErrInvalid)
		}
		st.Command = &Command{Kind: kind, Reason: reason, At: r.opts.Clock.Now()}
		if _, err = r.opts.Store.Update(ctx, st); err == nil {
			break
		}
		if !errors.Is(err, progressive.ErrConflict) || attempt >= 10 {
			return fmt.Errorf("rollout %s: %s: %w", id, kind, err)
		}
	}
	r.wakeUp(id)
	return nil
}

// emit stamps and delivers an event.
func (r *Runner) emit(ctx context.Context, st *State, e Event) {
	e.Time = r.opts.Clock.Now()
	e.Rollout = st.ID
	e.Phase = st.Phase
	if e.Step == 0 {
		e.Step = st.Step.Index
	}
	step, ok := st.CurrentStep()
	if ok && e.StepKind == "" {
		e.StepKind = step.Kind()
	}
	e.Target, e.Release = st.Plan.Target, st.Plan.Release
	if e.Type == EventMeasured && ok && step.Analyze != nil && e.Checks == nil {
		e.Checks = st.Plan.ChecksFor(*step.Analyze)
	}
	if st.Phase.Terminal() && (e.Type == EventSucceeded || e.Type == EventRollbackCompleted) {
		impact := st.Record.Impact
		e.Impact = &impact
	}
	for _, o := range r.opts.Observers {
		o.Observe(ctx, e)
	}
}

func (st *State) decide(now time.Time, action, reason string) {
	kind := ""
	if step, ok := st.CurrentStep(); ok {
		kind = string(step.Kind())
	}
	st.Record.Decisions = append(st.Record.Decisions, Decision{Time: now, Step: st.Step.Index, Kind: kind, Action: action, Reason: reason})
}
