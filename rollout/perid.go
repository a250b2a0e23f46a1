package rollout

import "sync"

// perID holds what a Runner keeps for a rollout while something uses it: the
// lock that serialises its Reconciles, the wake channels of its Run loops and
// the analysis not stored yet (see unsaved). An entry goes when its last user
// leaves, so a runner that drives rollouts for months holds memory only for
// those in flight.
type perID struct {
	mu      sync.Mutex
	users   int // holders and waiters of mu, and Run loops
	wakes   map[chan struct{}]struct{}
	unsaved *unsaved
}

// unsaved is a rollout's state after a Reconcile whose only changes were
// passing measurements, which are not worth a write (see stepOutcome.keep):
// the next Reconcile continues from it as long as the store still holds the
// version it was derived from. A process that dies loses it and nothing else:
// its successor takes the missed measurements from the metric source's
// history at their due times (analysis.Engine.Tick catches up), so the record
// comes out the same.
type unsaved struct {
	base  int64 // the stored state's Version
	state State
	ticks int // Reconciles kept since the last write
}

// maxUnsavedTicks bounds the Reconciles whose passing measurements stay
// unsaved in a row: a restart re-measures them from history, and
// analysis.MaxCatchUp must cover them.
const maxUnsavedTicks = 100

func (r *Runner) entry(id string) *perID {
	e := r.ids[id]
	if e == nil {
		e = &perID{}
		r.ids[id] = e
	}
	return e
}

// release drops one use of id's entry and the entry with its last use.
func (r *Runner) release(id string, e *perID) {
	e.users--
	if e.users == 0 && r.ids[id] == e {
		delete(r.ids, id)
	}
}

// lock serialises the Reconciles of one rollout in this process.
func (r *Runner) lock(id string) (*perID, func()) {
	r.mu.Lock()
	e := r.entry(id)
	e.users++
	r.mu.Unlock()
	e.mu.Lock()
	return e, func() {
		e.mu.Unlock()
		r.mu.Lock()
		r.release(id, e)
		r.mu.Unlock()
	}
}

// subscribe registers a Run loop of id for wake-ups (a command stored by this
// process); the returned func unregisters it.
func (r *Runner) subscribe(id string) (<-chan struct{}, func()) {
	c := make(chan struct{}, 1)
	r.mu.Lock()
	e := r.entry(id)
	e.users++
	if e.wakes == nil {
		e.wakes = map[chan struct{}]struct{}{}
	}
	e.wakes[c] = struct{}{}
	r.mu.Unlock()
	return c, func() {
		r.mu.Lock()
		delete(e.wakes, c)
		r.release(id, e)
		r.mu.Unlock()
	}
}

// wakeUp wakes every Run loop of id in this process; a rollout driven
// elsewhere sees the stored command at its next Reconcile.
func (r *Runner) wakeUp(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if e := r.ids[id]; e != nil {
		for c := range e.wakes {
			select {
			case c <- struct{}{}:
			default:
			}
		}
	}
}

// keepUnsaved remembers st, derived from the stored st.Version without a
// write, for id's next Reconcile; the entry stays while it is kept.
func (r *Runner) keepUnsaved(e *perID, st State, ticks int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if e.unsaved == nil {
		e.users++
	}
	e.unsaved = &unsaved{base: st.Version, state: st, ticks: ticks}
}

// takeUnsaved returns and forgets what keepUnsaved kept for e. The caller
// holds a use of e (its lock), so the entry outlives the release here.
func (r *Runner) takeUnsaved(e *perID) *unsaved {
	r.mu.Lock()
	defer r.mu.Unlock()
	u := e.unsaved
	if u != nil {
		e.unsaved = nil
		e.users--
	}
	return u
}

// tracked is how many rollouts the runner holds memory for (tests).
func (r *Runner) tracked() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.ids)
}
