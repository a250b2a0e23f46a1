package sim

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"time"

	"github.com/agentops/progressive"
)

// Snapshot is a deep copy of an Env's state at one instant: every target's
// routes with their history and write counts, every service's pods, revisions
// and canary, the never-ready images and ready delay, the flags and segments,
// the metric profiles, incidents and flag bindings, and pending injected
// failures. Later changes to the Env do not show in it, and restoring it does
// not share memory with it, so one snapshot can be restored many times.
//
// It exists for resume tests: run a rollout up to a crash point once, take a
// Snapshot, and restore it into a fresh Env for every variant of what happens
// next, instead of rebuilding the platform from the rollout's State.Applied
// (which says what the rollout changed, not what the platform looked like).
//
// The clock is not part of the snapshot (it is the caller's); Time records its
// reading, so a test restores with a FakeClock set to it.
type Snapshot struct {
	// Time is the Env's clock reading when the snapshot was taken.
	Time time.Time

	routes       map[progressive.Target]*routeState
	routerFaults faults

	readyDelay time.Duration
	services   map[progressive.Target]*service
	neverReady map[string]bool

	flags      map[progressive.FlagRef]*flagState
	segments   map[string]map[string]bool
	regexps    map[string]*regexp.Regexp
	flagFaults faults

	profiles  map[progressive.Target]Profile
	incidents []Incident
	bindings  map[progressive.Target]snapBinding
}

// snapBinding is a flag binding whose store, when it was the Env's own, is
// re-pointed at the restoring Env's store.
type snapBinding struct {
	flagBinding
	own bool
}

// Snapshot copies the Env's state. Take it while nothing writes to the Env
// (between two Reconcile calls, say): each component is copied under its own
// lock, not all of them at once.
func (e *Env) Snapshot() *Snapshot {
	s := &Snapshot{}
	if e.Router != nil {
		r := e.Router
		r.mu.Lock()
		s.Time = r.clock.Now()
		s.routes = make(map[progressive.Target]*routeState, len(r.targets))
		for t, st := range r.targets {
			s.routes[t] = st.clone()
		}
		s.routerFaults = r.faults
		r.mu.Unlock()
	}
	if e.Workload != nil {
		w := e.Workload
		w.mu.Lock()
		if s.Time.IsZero() {
			s.Time = w.clock.Now()
		}
		s.readyDelay = w.readyDelay
		s.services = make(map[progressive.Target]*service, len(w.services))
		for t, svc := range w.services {
			s.services[t] = svc.clone()
		}
		s.neverReady = maps.Clone(w.neverReady)
		w.mu.Unlock()
	}
	if e.Flags != nil {
		f := e.Flags
		f.mu.RLock()
		s.flags = cloneFlagStates(f.flags)
		s.segments = cloneSegments(f.segments)
		s.regexps = maps.Clone(f.regexps)
		s.flagFaults = f.faults
		f.mu.RUnlock()
	}
	if e.Metrics != nil {
		m := e.Metrics
		m.mu.Lock()
		s.profiles = maps.Clone(m.profiles)
		s.incidents = slices.Clone(m.incidents)
		s.bindings = make(map[progressive.Target]snapBinding, len(m.flags))
		for t, b := range m.flags {
			s.bindings[t] = snapBinding{flagBinding: b, own: b.store == e.Flags}
		}
		m.mu.Unlock()
	}
	return s
}

// Restore replaces the Env's state with a copy of the snapshot's (taken from
// this Env or another). The Env keeps its own clock, seed and options: set its
// clock to s.Time first for the restored pods, incidents and history to mean
// what they meant. A flag binding to the snapshotted Env's own store binds to
// this Env's store. A nil snapshot is an error wrapping progressive.ErrInvalid.
func (e *Env) Restore(s *Snapshot) error {
	if s == nil {
		return fmt.Errorf("sim: restore: snapshot <nil>: %w", progressive.ErrInvalid)
	}
	if e.Router != nil {
		r := e.Router
		r.mu.Lock()
		r.targets = make(map[progressive.Target]*routeState, len(s.routes))
		for t, st := range s.routes {
			r.targets[t] = st.clone()
		}
		r.faults = s.routerFaults
		r.mu.Unlock()
	}
	if e.Workload != nil {
		w := e.Workload
		w.mu.Lock()
		w.readyDelay = s.readyDelay
		w.services = make(map[progressive.Target]*service, len(s.services))
		for t, svc := range s.services {
			w.services[t] = svc.clone()
		}
		w.neverReady = maps.Clone(s.neverReady)
		if w.neverReady == nil {
			w.neverReady = map[string]bool{}
		}
		w.mu.Unlock()
	}
	if e.Flags != nil {
		f := e.Flags
		f.mu.Lock()
		f.flags = cloneFlagStates(s.flags)
		f.segments = cloneSegments(s.segments)
		f.regexps = maps.Clone(s.regexps)
		if f.regexps == nil {
			f.regexps = map[string]*regexp.Regexp{}
		}
		f.faults = s.flagFaults
		f.mu.Unlock()
	}
	if e.Metrics != nil {
		m := e.Metrics
		m.mu.Lock()
		m.profiles = maps.Clone(s.profiles)
		if m.profiles == nil {
			m.profiles = map[progressive.Target]Profile{}
		}
		m.incidents = slices.Clone(s.incidents)
		m.flags = make(map[progressive.Target]flagBinding, len(s.bindings))
		for t, b := range s.bindings {
			fb := b.flagBinding
			if b.own {
				fb.store = e.Flags
			}
			m.flags[t] = fb
		}
		m.mu.Unlock()
	}
	return nil
}

func (st *routeState) clone() *routeState {
	out := &routeState{routes: copyRoutes(st.routes), writes: st.writes, history: make([]RouteWrite, len(st.history))}
	for i, w := range st.history {
		w.Routes = copyRoutes(w.Routes)
		out.history[i] = w
	}
	return out
}

func (s *service) clone() *service {
	out := *s
	out.pods = slices.Clone(s.pods)
	out.revisions = slices.Clone(s.revisions)
	if s.canary != nil {
		c := *s.canary
		c.pods = slices.Clone(s.canary.pods)
		out.canary = &c
	}
	return &out
}

func cloneFlagStates(in map[progressive.FlagRef]*flagState) map[progressive.FlagRef]*flagState {
	out := make(map[progressive.FlagRef]*flagState, len(in))
	for ref, st := range in {
		out[ref] = &flagState{flag: cloneFlag(st.flag), writes: st.writes}
	}
	return out
}

func cloneSegments(in map[string]map[string]bool) map[string]map[string]bool {
	out := make(map[string]map[string]bool, len(in))
	for name, keys := range in {
		out[name] = maps.Clone(keys)
	}
	return out
}
