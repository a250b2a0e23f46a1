package sim

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"k8s.io/utils/clock"

	"github.com/agentops/progressive"
)

// ServiceSpec describes a service registered with the Workload: its stable
// Deployment's replica count and release.
type ServiceSpec struct {
	Replicas int
	Version  string
	Image    string
}

// Revision is one pod template in a service's history, numbered like a Deployment's
// ReplicaSet revisions: every new template takes the next number, and a template
// brought back (Undo) moves to the next number too.
type Revision struct {
	Number  int64
	Release progressive.Release
}

// Workload is an in-memory progressive.Workload and progressive.Roller: a stable
// Deployment and a canary Deployment per target, made of pods that pass readiness
// ReadyDelay after they are created (on the clock), unless their image was marked
// NeverReady.
//
// Changes take effect at once: an in-place roll replaces pods immediately and the
// RollingParams (maxSurge, maxUnavailable) are validated but otherwise only a note.
type Workload struct {
	clock    clock.PassiveClock
	logger   *slog.Logger
	deadline time.Duration

	mu         sync.Mutex
	readyDelay time.Duration
	services   map[progressive.Target]*service
	neverReady map[string]bool
}

// pod is one replica; tmpl is the release its template runs.
type pod struct {
	tmpl    progressive.Release
	readyAt time.Time
}

type service struct {
	spec      ServiceSpec
	template  progressive.Release // the stable Deployment's current template
	pods      []pod
	revisions []Revision // ascending by Number; the last one is current
	changedAt time.Time  // last stable template change
	canary    *canarySet
}

type canarySet struct {
	release   progressive.Release
	pods      []pod
	changedAt time.Time
}

// NewWorkload returns a workload with no services. Most users get one from New.
func NewWorkload(opts Options) *Workload {
	opts = opts.withDefaults()
	return &Workload{
		clock:      opts.Clock,
		logger:     opts.Logger.With("provider", Name, "component", "workload"),
		deadline:   opts.ProgressDeadline,
		readyDelay: opts.ReadyDelay,
		services:   map[progressive.Target]*service{},
		neverReady: map[string]bool{},
	}
}

// Name returns "sim".
func (w *Workload) Name() string { return Name }

// AddService registers target with spec.Replicas stable pods running spec's release,
// as revision 1. The pods are ready at once (the service was running before the
// test began). Registering a target again replaces its state.
func (w *Workload) AddService(target progressive.Target, spec ServiceSpec) error {
	if err := invalidTarget(target); err != nil {
		return err
	}
	var p progressive.Problems
	if spec.Replicas < 0 {
		p.Add("replicas", spec.Replicas, "must not be negative")
	}
	if spec.Version == "" {
		p.Add("version", nil, "must not be empty")
	}
	if err := p.Err(); err != nil {
		return fmt.Errorf("sim workload: service %s: %w", target, err)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	now := w.clock.Now()
	tmpl := progressive.Release{Version: spec.Version, Image: spec.Image}
	s := &service{
		spec:      spec,
		template:  tmpl,
		revisions: []Revision{{Number: 1, Release: tmpl}},
		changedAt: now,
	}
	for range spec.Replicas {
		s.pods = append(s.pods, pod{tmpl: tmpl, readyAt: now})
	}
	w.services[target] = s
	return nil
}

// SetReadyDelay changes how long pods created from now on take to become ready.
func (w *Workload) SetReadyDelay(d time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.readyDelay = max(d, 0)
}

// NeverReady makes every pod running image fail readiness forever, existing pods
// included: the readiness failure of a broken release. A pod whose template has no
// image at all (the service was registered without one) is matched by its version.
func (w *Workload) NeverReady(image string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.neverReady[image] = true
}

// DeployCanary creates or updates the canary with the stable template and release
// applied (an empty release image keeps the stable image), at replicas pods. A
// changed release replaces every canary pod.
func (w *Workload) DeployCanary(ctx context.Context, target progressive.Target, release progressive.Release, replicas int) error {
	if err := ctxErr(ctx); err != nil {
		return err
	}
	if err := checkRelease(release); err != nil {
		return err
	}
	if replicas < 0 {
		return fmt.Errorf("sim workload: replicas %d: must not be negative: %w", replicas, progressive.ErrInvalid)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	s, err := w.service(target)
	if err != nil {
		return err
	}
	now := w.clock.Now()
	tmpl := s.apply(release)
	if s.canary == nil || s.canary.release != tmpl {
		s.canary = &canarySet{release: tmpl, changedAt: now}
	}
	w.scale(s.canary, replicas, now)
	w.logger.Debug("canary deployed", "target", target.String(), "release", tmpl.String(), "replicas", replicas)
	return nil
}

// ScaleCanary sets the canary's pod count; the canary must have been deployed.
func (w *Workload) ScaleCanary(ctx context.Context, target progressive.Target, replicas int) error {
	if err := ctxErr(ctx); err != nil {
		return err
	}
	if replicas < 0 {
		return fmt.Errorf("sim workload: replicas %d: must not be negative: %w", replicas, progressive.ErrInvalid)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	s, err := w.service(target)
	if err != nil {
		return err
	}
	if s.canary == nil {
		return fmt.Errorf("sim workload: no canary deployed for %s: %w", target, progressive.ErrNotFound)
	}
	w.scale(s.canary, replicas, w.clock.Now())
	return nil
}

// scale adds pods (ready after the ready delay) or removes the newest ones.
func (w *Workload) scale(c *canarySet, replicas int, now time.Time) {
	if replicas == len(c.pods) {
		return
	}
	c.changedAt = now
	if replicas < len(c.pods) {
		c.pods = c.pods[:replicas]
		return
	}
	for len(c.pods) < replicas {
		c.pods = append(c.pods, pod{tmpl: c.release, readyAt: now.Add(w.readyDelay)})
	}
}

// Status counts the pods of both sides at the clock's now.
func (w *Workload) Status(ctx context.Context, target progressive.Target) (progressive.WorkloadStatus, error) {
	if err := ctxErr(ctx); err != nil {
		return progressive.WorkloadStatus{}, err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	s, err := w.service(target)
	if err != nil {
		return progressive.WorkloadStatus{}, err
	}
	now := w.clock.Now()
	st := progressive.WorkloadStatus{
		Stable: progressive.VersionStatus{
			Version:  s.template.Version,
			Replicas: len(s.pods),
			Ready:    w.ready(s.pods, nil, now),
			Updated:  countTemplate(s.pods, s.template),
		},
	}
	if w.ready(s.pods, &s.template, now) < st.Stable.Updated && now.Sub(s.changedAt) > w.deadline {
		st.ProgressDeadlineExceeded = true
	}
	if c := s.canary; c != nil {
		st.Canary = progressive.VersionStatus{
			Version:  c.release.Version,
			Replicas: len(c.pods),
			Ready:    w.ready(c.pods, nil, now),
			Updated:  len(c.pods),
		}
		if st.Canary.Ready < st.Canary.Replicas && now.Sub(c.changedAt) > w.deadline {
			st.ProgressDeadlineExceeded = true
		}
	}
	return st, nil
}

// Promote makes the stable Deployment take the canary's release: a new revision
// whose pods replace the stable ones at once and pass readiness after the ready
// delay. The canary is left as it is (RollbackCanary scales it away).
func (w *Workload) Promote(ctx context.Context, target progressive.Target) error {
	if err := ctxErr(ctx); err != nil {
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	s, err := w.service(target)
	if err != nil {
		return err
	}
	if s.canary == nil {
		return fmt.Errorf("sim workload: no canary to promote for %s: %w", target, progressive.ErrNotFound)
	}
	now := w.clock.Now()
	w.switchTemplate(s, s.canary.release, now)
	w.replaceOld(s, len(s.pods), now)
	w.logger.Debug("promoted", "target", target.String(), "release", s.template.String())
	return nil
}

// RollbackCanary scales the canary to zero and leaves stable untouched. It is
// idempotent and succeeds when no canary was ever deployed.
func (w *Workload) RollbackCanary(ctx context.Context, target progressive.Target) error {
	if err := ctxErr(ctx); err != nil {
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	s, err := w.service(target)
	if err != nil {
		return err
	}
	if s.canary != nil {
		w.scale(s.canary, 0, w.clock.Now())
	}
	return nil
}

// RollTo makes release the stable template (a new revision unless it already is)
// and replaces the oldest pods of other templates until updated pods run it. It never
// takes pods back from the new template; updated must lie between 0 and the
// service's replicas.
func (w *Workload) RollTo(ctx context.Context, target progressive.Target, release progressive.Release, updated int, params progressive.RollingParams) error {
	if err := ctxErr(ctx); err != nil {
		return err
	}
	if err := checkRelease(release); err != nil {
		return err
	}
	var p progressive.Problems
	if params.MaxSurge < 0 {
		p.Add("maxSurge", params.MaxSurge, "must not be negative")
	}
	if params.MaxUnavailable < 0 {
		p.Add("maxUnavailable", params.MaxUnavailable, "must not be negative")
	}
	if err := p.Err(); err != nil {
		return fmt.Errorf("sim workload: rolling params: %w", err)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	s, err := w.service(target)
	if err != nil {
		return err
	}
	if updated < 0 || updated > len(s.pods) {
		return fmt.Errorf("sim workload: updated %d: must be between 0 and the %d replicas of %s: %w",
			updated, len(s.pods), target, progressive.ErrInvalid)
	}
	now := w.clock.Now()
	w.switchTemplate(s, s.apply(release), now)
	w.replaceOld(s, updated, now)
	return nil
}

// RollStatus describes the in-place update of the stable Deployment.
func (w *Workload) RollStatus(ctx context.Context, target progressive.Target) (progressive.RollStatus, error) {
	if err := ctxErr(ctx); err != nil {
		return progressive.RollStatus{}, err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	s, err := w.service(target)
	if err != nil {
		return progressive.RollStatus{}, err
	}
	now := w.clock.Now()
	return progressive.RollStatus{
		Desired:      s.spec.Replicas,
		Updated:      countTemplate(s.pods, s.template),
		UpdatedReady: w.ready(s.pods, &s.template, now),
		Unready:      len(s.pods) - w.ready(s.pods, nil, now),
		Revision:     s.current(),
	}, nil
}

// Undo brings back the template of revision (the previous one when revision is 0)
// as a new revision and replaces every pod of other templates. Undoing to the
// current revision changes nothing; an unknown revision is progressive.ErrNotFound.
func (w *Workload) Undo(ctx context.Context, target progressive.Target, revision int64) error {
	if err := ctxErr(ctx); err != nil {
		return err
	}
	if revision < 0 {
		return fmt.Errorf("sim workload: revision %d: must not be negative: %w", revision, progressive.ErrInvalid)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	s, err := w.service(target)
	if err != nil {
		return err
	}
	var to Revision
	switch {
	case revision == 0:
		if len(s.revisions) < 2 {
			return fmt.Errorf("sim workload: %s has no previous revision: %w", target, progressive.ErrNotFound)
		}
		to = s.revisions[len(s.revisions)-2]
	default:
		i := slices.IndexFunc(s.revisions, func(r Revision) bool { return r.Number == revision })
		if i < 0 {
			return fmt.Errorf("sim workload: revision %d of %s not found (known: %v): %w",
				revision, target, s.numbers(), progressive.ErrNotFound)
		}
		to = s.revisions[i]
		if to.Number == s.current() {
			return nil
		}
	}
	now := w.clock.Now()
	w.switchTemplate(s, to.Release, now)
	w.replaceOld(s, len(s.pods), now)
	w.logger.Debug("undone", "target", target.String(), "to", to.Number, "revision", s.current())
	return nil
}

// Revisions lists the target's revisions in ascending order; the last is current.
func (w *Workload) Revisions(target progressive.Target) ([]Revision, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	s, err := w.service(target)
	if err != nil {
		return nil, err
	}
	return slices.Clone(s.revisions), nil
}

// podCounts returns the ready and total pods of both sides, for the metrics.
func (w *Workload) podCounts(target progressive.Target) (stableReady, canaryReady, stablePods, canaryPods int, ok bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	s, found := w.services[target]
	if !found {
		return 0, 0, 0, 0, false
	}
	now := w.clock.Now()
	stableReady, stablePods = w.ready(s.pods, nil, now), len(s.pods)
	if s.canary != nil {
		canaryReady, canaryPods = w.ready(s.canary.pods, nil, now), len(s.canary.pods)
	}
	return stableReady, canaryReady, stablePods, canaryPods, true
}

func (w *Workload) service(target progressive.Target) (*service, error) {
	if err := invalidTarget(target); err != nil {
		return nil, err
	}
	s, ok := w.services[target]
	if !ok {
		return nil, fmt.Errorf("sim workload: service %s not registered (AddService): %w", target, progressive.ErrNotFound)
	}
	return s, nil
}

// ready counts the ready pods, only those of tmpl when it is set.
func (w *Workload) ready(pods []pod, tmpl *progressive.Release, now time.Time) int {
	n := 0
	for _, p := range pods {
		if tmpl != nil && p.tmpl != *tmpl {
			continue
		}
		if !w.neverReady[imageKey(p.tmpl)] && !now.Before(p.readyAt) {
			n++
		}
	}
	return n
}

// switchTemplate makes tmpl the stable template, numbered like ReplicaSet revisions.
func (w *Workload) switchTemplate(s *service, tmpl progressive.Release, now time.Time) {
	if tmpl == s.template {
		return
	}
	next := s.current() + 1
	s.revisions = slices.DeleteFunc(s.revisions, func(r Revision) bool { return r.Release == tmpl })
	s.revisions = append(s.revisions, Revision{Number: next, Release: tmpl})
	s.template = tmpl
	s.changedAt = now
}

// replaceOld replaces the oldest pods of other templates with new ones until
// updated pods run the current template.
func (w *Workload) replaceOld(s *service, updated int, now time.Time) {
	for have := countTemplate(s.pods, s.template); have < updated; have++ {
		i := slices.IndexFunc(s.pods, func(p pod) bool { return p.tmpl != s.template })
		if i < 0 {
			return
		}
		s.pods = slices.Delete(s.pods, i, i+1)
		s.pods = append(s.pods, pod{tmpl: s.template, readyAt: now.Add(w.readyDelay)})
		s.changedAt = now
	}
}

func (s *service) current() int64 { return s.revisions[len(s.revisions)-1].Number }

func (s *service) numbers() []int64 {
	out := make([]int64, len(s.revisions))
	for i, r := range s.revisions {
		out[i] = r.Number
	}
	return out
}

// apply returns the stable template with release applied.
func (s *service) apply(release progressive.Release) progressive.Release {
	img := release.Image
	if img == "" {
		img = s.template.Image
	}
	return progressive.Release{Version: release.Version, Image: img}
}

func countTemplate(pods []pod, tmpl progressive.Release) int {
	n := 0
	for _, p := range pods {
		if p.tmpl == tmpl {
			n++
		}
	}
	return n
}

func imageKey(r progressive.Release) string {
	if r.Image != "" {
		return r.Image
	}
	return r.Version
}

func checkRelease(r progressive.Release) error {
	if r.Version == "" {
		return fmt.Errorf("sim workload: release version must not be empty: %w", progressive.ErrInvalid)
	}
	return nil
}
