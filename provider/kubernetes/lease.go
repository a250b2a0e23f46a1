package kubernetes

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/go-logr/logr"
	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/klog/v2"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/rollout"
)

// Defaults of LeaseOptions (client-go's usual leader-election timings).
const (
	DefaultLeaseDuration = 15 * time.Second
	DefaultRenewDeadline = 10 * time.Second
	DefaultRetryPeriod   = 2 * time.Second
)

// LeaseOptions configure a Lease. Zero values select the documented defaults.
// All runners of one target should use the same durations: a runner judges
// another's record with its own RetryPeriod.
type LeaseOptions struct {
	// Namespace of the Lease object. Default: the target's namespace.
	Namespace string
	// Name of the Lease object. Default: progressive-<target name>.
	Name string
	// Identity of this holder. Default: <hostname>-<pid>-<random>, so a
	// restarted process is a new holder.
	Identity string
	// LeaseDuration is how long a record stays valid after its RenewTime
	// (whole seconds, at least 1s; default 15s): a runner that died without
	// releasing the lease is replaced at RenewTime + LeaseDuration.
	//
	// RenewDeadline is how long the holder keeps trying to renew before it
	// gives up the lease, cancels fn's context and makes Run return
	// ErrLeaseLost (default 10s).
	//
	// RetryPeriod is how often the holder renews (default 2s). A waiting
	// runner watches the record instead (see Run); it reads it every
	// RetryPeriod only when it may not watch Leases.
	//
	// They must satisfy LeaseDuration > RenewDeadline > 1.2 × RetryPeriod
	// (client-go's rule). The trade-off: a shorter LeaseDuration resumes a
	// rollout sooner after its runner died, but RenewDeadline must be shorter
	// still, and a runner stalled (paused, starved of CPU, cut off from the API
	// server) for longer than RenewDeadline loses the lease and stops its
	// rollout. Keep LeaseDuration − RenewDeadline − RetryPeriod well above the
	// clock skew between the runners' machines (see Lease).
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration
	// Wait makes Run wait for a lease another live runner holds, instead of
	// failing at once with progressive.ErrConflict. A lease whose holder looks
	// dead (not renewed for longer than 2 × RetryPeriod + 1s) is waited for
	// either way.
	Wait bool
}

// deadAfter is how long a record may go unrenewed before its holder is presumed
// dead: a live holder renews every RetryPeriod.
func (o LeaseOptions) deadAfter() time.Duration { return 2*o.RetryPeriod + time.Second }

// Lease is a coordination.k8s.io Lease per target, so that exactly one runner
// drives a target's rollout at a time. The holder renews it with client-go's
// tools/leaderelection every RetryPeriod and releases it when it stops normally
// (fn returned or ctx was cancelled), so a successor starts at once.
//
// A runner that died without releasing it blocks others until the record
// expires, at RenewTime + LeaseDuration: Run reads the record and claims an
// expired (or free) lease itself with one resourceVersion-guarded write, at the
// record's expiry, rather than leaving it to client-go, which trusts a lease as
// expired only a whole LeaseDuration after it first observed it unchanged (a
// restarted runner resumed 11 to 12 s late with the default 15 s).
//
// Clocks: RenewTime is written with the holder's clock and compared with the
// reader's, so the runners' clocks are assumed to agree (NTP; trivially on one
// machine). A reader whose clock runs s ahead takes over s early; that is safe
// only while s stays well below LeaseDuration − RenewDeadline − RetryPeriod (3 s
// with the defaults), the margin by which a stalled holder gives up before its
// record expires.
type Lease struct {
	p      *Provider
	target progressive.Target
	opts   LeaseOptions
}

// Lease returns the Lease guarding target.
func (p *Provider) Lease(target progressive.Target, opts LeaseOptions) (*Lease, error) {
	if err := target.Validate(); err != nil {
		return nil, fmt.Errorf("kubernetes lease: target: %w", err)
	}
	if opts.Namespace == "" {
		opts.Namespace = target.Namespace
	}
	if opts.Namespace == "" {
		return nil, fmt.Errorf("kubernetes lease: the target has no namespace and LeaseOptions.Namespace is empty: %w", errInvalid)
	}
	if err := (progressive.Target{Name: "lease", Namespace: opts.Namespace}).Validate(); err != nil {
		return nil, fmt.Errorf("kubernetes lease: LeaseOptions.Namespace %q must be a DNS-1123 label: %w", opts.Namespace, errInvalid)
	}
	if opts.Name != "" && !progressive.IsDNSSubdomain(opts.Name) {
		return nil, fmt.Errorf("kubernetes lease: LeaseOptions.Name %q must be a DNS-1123 subdomain: %w", opts.Name, errInvalid)
	}
	if opts.Name == "" {
		opts.Name = dnsName(63, "progressive", target.Name)
	}
	if opts.Identity == "" {
		host, _ := os.Hostname()
		b := make([]byte, 4)
		_, _ = rand.Read(b)
		opts.Identity = fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b))
	}
	if opts.LeaseDuration <= 0 {
		opts.LeaseDuration = DefaultLeaseDuration
	}
	if opts.RenewDeadline <= 0 {
		opts.RenewDeadline = DefaultRenewDeadline
	}
	if opts.RetryPeriod <= 0 {
		opts.RetryPeriod = DefaultRetryPeriod
	}
	if opts.LeaseDuration < time.Second {
		return nil, fmt.Errorf("kubernetes lease: leaseDuration (%s) is under a second (a Lease counts whole seconds): %w", opts.LeaseDuration, errInvalid)
	}
	if opts.LeaseDuration <= opts.RenewDeadline || float64(opts.RenewDeadline) <= leaderelection.JitterFactor*float64(opts.RetryPeriod) {
		return nil, fmt.Errorf("kubernetes lease: need leaseDuration (%s) > renewDeadline (%s) > %g × retryPeriod (%s): %w",
			opts.LeaseDuration, opts.RenewDeadline, leaderelection.JitterFactor, opts.RetryPeriod, errInvalid)
	}
	return &Lease{p: p, target: target, opts: opts}, nil
}

// Identity is this holder's identity.
func (l *Lease) Identity() string { return l.opts.Identity }

// Holder reads the Lease: who holds it and until when (zero when nobody does).
func (l *Lease) Holder(ctx context.Context) (string, time.Time, error) {
	lease, err := l.p.cs.CoordinationV1().Leases(l.opts.Namespace).Get(ctx, l.opts.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return "", time.Time{}, nil
	}
	if err != nil {
		return "", time.Time{}, classify(err, "kubernetes lease %s/%s", l.opts.Namespace, l.opts.Name)
	}
	holder, _, until := leaseRecord(lease)
	if holder == "" || !time.Now().Before(until) {
		return "", time.Time{}, nil
	}
	return holder, until, nil
}

// ErrLeaseLost is returned (wrapping progressive.ErrConflict) when the lease was
// lost while fn ran: another runner may be driving the target now.
var ErrLeaseLost = fmt.Errorf("lease lost: %w", progressive.ErrConflict)

// Run calls fn while holding the lease, and releases the lease when fn returns
// or ctx is cancelled. fn's context is cancelled if the lease is lost (it could
// not be renewed within RenewDeadline), and Run then returns ErrLeaseLost. The
// holder counts RenewDeadline from the RenewTime of its last record, as the
// waiting runners do, and not from when the API server answered: fn is
// stopped LeaseDuration − RenewDeadline − RetryPeriod before that record
// expires, however slow the renewals were.
//
// A free lease, one of ours, or one expired by its own record (RenewTime +
// LeaseDuration has passed) is taken at once. If another runner holds a valid
// lease and renewed it recently (within 2 × RetryPeriod + 1s), Run fails at once
// with progressive.ErrConflict naming the holder, or with LeaseOptions.Wait waits
// for it. If the holder has not renewed it for longer than that, it is presumed
// dead and Run waits for the record's expiry and takes over, with or without
// Wait (unless the holder renews in the meantime: then it is alive after all).
//
// While waiting, Run watches: one Lease informer per Provider and namespace,
// started by the first claim that has to wait, wakes a waiting Run when its
// record changes hands (released, taken, deleted), and Run reads the record
// from the informer's cache then and at the record's expiry, making no
// request until it claims. (Waiting runners used to read their record every
// RetryPeriod: with a thousand rollouts and three replicas, hundreds of reads
// a second, enough for the API server to time out the holders' renewals.) The
// claim itself is still one write guarded by the resourceVersion read, and a
// claim that lost that race reads the record directly. Without list and watch
// on leases (a Role that grants only get, create and update), Run reads the
// record every RetryPeriod and at its expiry, as before.
func (l *Lease) Run(ctx context.Context, fn func(ctx context.Context) error) error {
	if err := l.claim(ctx); err != nil {
		return err
	}
	lock := &fencedLock{Interface: &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Name: l.opts.Name, Namespace: l.opts.Namespace},
		Client:     l.p.cs.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: l.opts.Identity},
	}}
	// The elector releases the lease as soon as leCtx ends, so leCtx must outlive
	// fn: it ends when fn has returned, when the lease is lost, or when ctx
	// ends before fn started. Once fn runs, ctx's end cancels fn's context
	// instead, and the lease is released after fn returned.
	// client-go's elector logs through the context's klog logger; without one
	// its lease lines went to stderr beside the program's own logs. They go to
	// the provider's logger, at debug level.
	elector := logr.FromSlogHandler(debugHandler{l.p.opts.Logger.Handler()})
	leCtx, cancel := context.WithCancel(klog.NewContext(context.WithoutCancel(ctx), elector))
	defer cancel()
	var (
		mu      sync.Mutex
		started bool // fn was called
		stopped bool // le.Run returned: too late to call fn
		fenced  bool // fn was stopped because our record was about to expire
		fnErr   error
	)
	stopAcquiring := context.AfterFunc(ctx, func() {
		mu.Lock()
		defer mu.Unlock()
		if !started {
			cancel()
		}
	})
	defer stopAcquiring()
	done := make(chan struct{})
	le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock:            lock,
		Name:            l.opts.Name,
		LeaseDuration:   l.opts.LeaseDuration,
		RenewDeadline:   l.opts.RenewDeadline,
		RetryPeriod:     l.opts.RetryPeriod,
		ReleaseOnCancel: true,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(c context.Context) {
				// client-go calls this in a goroutine, which may run only after
				// le.Run returned (ctx was cancelled at once).
				mu.Lock()
				if stopped || c.Err() != nil {
					mu.Unlock()
					return
				}
				started = true
				mu.Unlock()
				fnCtx, fnCancel := context.WithCancel(c)
				stop := context.AfterFunc(ctx, fnCancel)
				disarm := lock.fence(l.opts.RenewDeadline+l.opts.RetryPeriod, fnCancel)
				err := fn(fnCtx)
				stop()
				fnCancel()
				expired := disarm()
				mu.Lock()
				fnErr, fenced = err, expired
				mu.Unlock()
				close(done)
				cancel()
			},
			OnStoppedLeading: func() {},
		},
	})
	if err != nil {
		return fmt.Errorf("kubernetes lease: %w: %w", err, errInvalid)
	}
	le.Run(leCtx)
	mu.Lock()
	stopped = true
	ran := started
	mu.Unlock()
	if !ran {
		// Our claim is still in the record: give it back rather than block
		// others until it expires.
		l.release(ctx)
		if ctx.Err() != nil {
			return fmt.Errorf("kubernetes lease %s/%s: not acquired: %w", l.opts.Namespace, l.opts.Name, ctx.Err())
		}
		return fmt.Errorf("kubernetes lease %s/%s: not acquired: %w", l.opts.Namespace, l.opts.Name, errTransient)
	}
	// fn closes done before it cancels leCtx, so if done is still open, le.Run
	// returned because the lease could not be renewed.
	finished := false
	select {
	case <-done:
		finished = true
	default:
	}
	<-done
	mu.Lock()
	defer mu.Unlock()
	if (fenced || !finished) && ctx.Err() == nil {
		if fnErr != nil && !errors.Is(fnErr, context.Canceled) {
			return fmt.Errorf("kubernetes lease %s/%s: %w (and then: %w)", l.opts.Namespace, l.opts.Name, ErrLeaseLost, fnErr)
		}
		return fmt.Errorf("kubernetes lease %s/%s: %w", l.opts.Namespace, l.opts.Name, ErrLeaseLost)
	}
	return fnErr
}

// RunWithLease drives rollout id with runner.Run only while holding lease, which
// is how a deploy command or a controller makes sure exactly one runner drives a
// rollout. A second runner started on the same target while the first is alive
// fails with progressive.ErrConflict (or waits, with LeaseOptions.Wait). A runner
// started after one was killed waits until the dead one's lease expires by its
// record (at most LeaseDuration after its last renewal) and then resumes the
// rollout from the StateStore; one started after a runner stopped normally
// starts at once, since a stopping runner releases its lease.
func RunWithLease(ctx context.Context, lease *Lease, runner *rollout.Runner, id string) (rollout.State, error) {
	var st rollout.State
	err := lease.Run(ctx, func(ctx context.Context) error {
		var err error
		st, err = runner.Run(ctx, id)
		return err
	})
	if err != nil && st.ID == "" {
		if got, gerr := runner.Get(context.WithoutCancel(ctx), id); gerr == nil {
			st = got
		}
	}
	return st, err
}

// leaseRecord is what Run needs of a Lease's spec: the holder ("" when free),
// its last renewal and when the record expires (zero when free).
func leaseRecord(lease *coordinationv1.Lease) (holder string, renewed, until time.Time) {
	if lease == nil {
		return "", time.Time{}, time.Time{}
	}
	sp := lease.Spec
	if sp.HolderIdentity == nil || *sp.HolderIdentity == "" || sp.RenewTime == nil || sp.LeaseDurationSeconds == nil {
		return "", time.Time{}, time.Time{}
	}
	renewed = sp.RenewTime.Time
	return *sp.HolderIdentity, renewed, renewed.Add(time.Duration(*sp.LeaseDurationSeconds) * time.Second)
}

// claim takes the lease for this holder before client-go's leader elector runs:
// the elector, finding its own identity in the record, renews it at once,
// whereas on its own it would wait a whole LeaseDuration after first seeing a
// dead runner's record. claim returns once the record names us, fails with
// progressive.ErrConflict when a live runner holds it and Wait is off, and
// otherwise waits (every RetryPeriod, and at the record's expiry).
func (l *Lease) claim(ctx context.Context) error {
	leases := l.p.cs.CoordinationV1().Leases(l.opts.Namespace)
	var presumedDead string // the holder and renewal already logged as dead
	var seen string         // the holder and renewal first seen, without Wait
	// Once the claim has to wait, it watches: the namespace's Lease informer
	// (shared by the provider's claims) wakes it when the record changes
	// hands, and it reads the record from the informer's cache instead of
	// the API server. The first read, and every read after a lost write, go
	// to the API server: the cache may lag it.
	var (
		watch       *leaseWatch
		wake        <-chan struct{}
		unsubscribe func()
		direct      = true
	)
	startWatch := func() {
		if unsubscribe != nil {
			return
		}
		unsubscribe = func() {}
		if watch = l.p.leases.get(l.p, l.opts.Namespace); watch != nil {
			wake, unsubscribe = watch.subscribe(l.opts.Name)
		}
	}
	defer func() {
		if unsubscribe != nil {
			unsubscribe()
		}
	}()
	for {
		var lease *coordinationv1.Lease
		if !direct && watch.usable() {
			lease = watch.read(l.opts.Name)
		} else {
			var err error
			lease, err = leases.Get(ctx, l.opts.Name, metav1.GetOptions{})
			switch {
			case apierrors.IsNotFound(err):
				lease = nil
			case err != nil:
				return classify(err, "kubernetes lease %s/%s", l.opts.Namespace, l.opts.Name)
			}
		}
		direct = false
		now := time.Now()
		holder, renewed, until := leaseRecord(lease)
		if holder == "" || holder == l.opts.Identity || !now.Before(until) {
			err := l.write(ctx, lease, holder, now)
			if err == nil {
				return nil
			}
			if !apierrors.IsConflict(err) && !apierrors.IsAlreadyExists(err) {
				return classify(err, "kubernetes lease %s/%s: claim", l.opts.Namespace, l.opts.Name)
			}
			// Someone else wrote the record since we read it (or the cache
			// lagged): read it again, from the API server.
			direct = true
			continue
		}
		silent := now.Sub(renewed)
		if !l.opts.Wait {
			// A holder is alive only if it renews while we watch: a driver
			// restarted right after its predecessor was killed sees a recent
			// renewal that will never come again, and must not give up on it.
			key := holder + "@" + renewed.String()
			switch {
			case seen != "" && seen != key && silent <= l.opts.deadAfter():
				return fmt.Errorf("kubernetes lease %s/%s: %s is held by %s until %s (renewed %s ago, again while we watched); another runner drives it: %w",
					l.opts.Namespace, l.opts.Name, l.target, holder, until.Format(time.RFC3339), silent.Round(time.Millisecond), errConflict)
			case seen == "" || seen != key:
				seen = key
			}
			if silent <= l.opts.deadAfter() {
				// Not yet presumed dead: look again within half a renewal period.
				wait := min(until.Sub(now), l.opts.RetryPeriod/2, renewed.Add(l.opts.deadAfter()+time.Millisecond).Sub(now))
				startWatch()
				if err := sleepWake(ctx, wait, wake); err != nil {
					return fmt.Errorf("kubernetes lease %s/%s: watching %s: not acquired: %w", l.opts.Namespace, l.opts.Name, holder, err)
				}
				continue
			}
			if key != presumedDead {
				presumedDead = key
				l.p.opts.Logger.InfoContext(ctx, "kubernetes lease: holder presumed dead; waiting for its lease to expire",
					slog.String("lease", l.opts.Namespace+"/"+l.opts.Name), slog.String("target", l.target.String()),
					slog.String("holder", holder), slog.Duration("notRenewedFor", silent.Round(time.Millisecond)),
					slog.Time("expires", until), slog.String("identity", l.opts.Identity))
			}
		}
		startWatch()
		at := until
		if next := now.Add(l.opts.RetryPeriod); next.Before(at) && !watch.usable() {
			// Without a synced watch, poll as before.
			at = next
		}
		if err := sleepWake(ctx, at.Sub(now), wake); err != nil {
			return fmt.Errorf("kubernetes lease %s/%s: waiting for %s (until %s): not acquired: %w",
				l.opts.Namespace, l.opts.Name, holder, until.Format(time.RFC3339), err)
		}
	}
}

// write makes the record name this holder, renewed and acquired now: a Create
// when cur is nil, else an Update guarded by cur's resourceVersion, so that of
// two runners claiming the same record one gets a conflict.
func (l *Lease) write(ctx context.Context, cur *coordinationv1.Lease, holder string, now time.Time) error {
	leases := l.p.cs.CoordinationV1().Leases(l.opts.Namespace)
	id := l.opts.Identity
	secs := int32(l.opts.LeaseDuration / time.Second)
	t := metav1.NewMicroTime(now)
	if cur == nil {
		var zero int32
		_, err := leases.Create(ctx, &coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{Name: l.opts.Name, Namespace: l.opts.Namespace},
			Spec: coordinationv1.LeaseSpec{
				HolderIdentity: &id, LeaseDurationSeconds: &secs,
				AcquireTime: &t, RenewTime: &t, LeaseTransitions: &zero,
			},
		}, metav1.CreateOptions{})
		return err
	}
	next := cur.DeepCopy()
	var transitions int32
	if cur.Spec.LeaseTransitions != nil {
		transitions = *cur.Spec.LeaseTransitions
	}
	if holder != id {
		transitions++
	}
	acquired := t
	if holder == id && cur.Spec.AcquireTime != nil {
		acquired = *cur.Spec.AcquireTime
	}
	next.Spec.HolderIdentity = &id
	next.Spec.LeaseDurationSeconds = &secs
	next.Spec.AcquireTime = &acquired
	next.Spec.RenewTime = &t
	next.Spec.LeaseTransitions = &transitions
	_, err := leases.Update(ctx, next, metav1.UpdateOptions{})
	return err
}

// release gives back a lease Run claimed but never ran fn under (ctx ended
// before the leader elector took over), as client-go does on a normal stop: an
// empty holder and a one-second duration. Best effort: if it fails, the claim
// expires after LeaseDuration.
func (l *Lease) release(ctx context.Context) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), l.opts.RenewDeadline)
	defer cancel()
	leases := l.p.cs.CoordinationV1().Leases(l.opts.Namespace)
	lease, err := leases.Get(ctx, l.opts.Name, metav1.GetOptions{})
	if err != nil {
		return
	}
	if holder, _, _ := leaseRecord(lease); holder != l.opts.Identity {
		return
	}
	empty, one, t := "", int32(1), metav1.NewMicroTime(time.Now())
	lease.Spec.HolderIdentity = &empty
	lease.Spec.LeaseDurationSeconds = &one
	lease.Spec.AcquireTime = &t
	lease.Spec.RenewTime = &t
	if _, err := leases.Update(ctx, lease, metav1.UpdateOptions{}); err != nil {
		l.p.opts.Logger.InfoContext(ctx, "kubernetes lease: could not release an unused claim; it expires after the lease duration",
			slog.String("lease", l.opts.Namespace+"/"+l.opts.Name), slog.String("error", err.Error()))
	}
}

// sleepWake sleeps for d, or until wake receives, or until ctx ends
// (returning its error).
func sleepWake(ctx context.Context, d time.Duration, wake <-chan struct{}) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	case <-wake:
		return nil
	}
}

// sleepCtx sleeps for d, or until ctx ends (returning its error).
func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// debugHandler hands every record to its Handler at debug level: the
// elector's lines are diagnostics, and it reports a normal release (its
// context ending) as an error that is not the program's.
type debugHandler struct{ slog.Handler }

func (d debugHandler) Enabled(ctx context.Context, _ slog.Level) bool {
	return d.Handler.Enabled(ctx, slog.LevelDebug)
}

func (d debugHandler) Handle(ctx context.Context, r slog.Record) error {
	r.Level = slog.LevelDebug
	return d.Handler.Handle(ctx, r)
}

func (d debugHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return debugHandler{d.Handler.WithAttrs(as)}
}

func (d debugHandler) WithGroup(name string) slog.Handler {
	return debugHandler{d.Handler.WithGroup(name)}
}
