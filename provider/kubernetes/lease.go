package kubernetes

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"

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
type LeaseOptions struct {
	// Namespace of the Lease object. Default: the target's namespace.
	Namespace string
	// Name of the Lease object. Default: progressive-<target name>.
	Name string
	// Identity of this holder. Default: <hostname>-<pid>-<random>.
	Identity string
	// LeaseDuration, RenewDeadline and RetryPeriod are client-go leader
	// election's: another candidate may take a lease that was not renewed for
	// LeaseDuration (15s); the holder gives up when it cannot renew within
	// RenewDeadline (10s); candidates retry every RetryPeriod (2s).
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration
	// Wait makes Run wait for a lease someone else holds, instead of failing at
	// once with progressive.ErrConflict.
	Wait bool
}

// Lease is a coordination.k8s.io Lease per target, taken with client-go's
// tools/leaderelection, so that exactly one runner drives a target's rollout at a
// time. A runner that dies without releasing it blocks others for at most
// LeaseDuration; one that stops normally releases it at once.
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
	sp := lease.Spec
	if sp.HolderIdentity == nil || *sp.HolderIdentity == "" || sp.RenewTime == nil || sp.LeaseDurationSeconds == nil {
		return "", time.Time{}, nil
	}
	until := sp.RenewTime.Add(time.Duration(*sp.LeaseDurationSeconds) * time.Second)
	if time.Now().After(until) {
		return "", time.Time{}, nil
	}
	return *sp.HolderIdentity, until, nil
}

// ErrLeaseLost is returned (wrapping progressive.ErrConflict) when the lease was
// lost while fn ran: another runner may be driving the target now.
var ErrLeaseLost = fmt.Errorf("lease lost: %w", progressive.ErrConflict)

// Run calls fn while holding the lease, and releases the lease when fn returns.
// fn's context is cancelled if the lease is lost (it could not be renewed), and
// Run then returns ErrLeaseLost. If someone else holds the lease, Run fails with
// progressive.ErrConflict naming the holder, or waits for it with
// LeaseOptions.Wait.
func (l *Lease) Run(ctx context.Context, fn func(ctx context.Context) error) error {
	if !l.opts.Wait {
		holder, until, err := l.Holder(ctx)
		if err != nil {
			return err
		}
		if holder != "" && holder != l.opts.Identity {
			return fmt.Errorf("kubernetes lease %s/%s: %s is held by %s until %s; another runner drives it: %w",
				l.opts.Namespace, l.opts.Name, l.target, holder, until.Format(time.RFC3339), errConflict)
		}
	}
	lock := &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Name: l.opts.Name, Namespace: l.opts.Namespace},
		Client:     l.p.cs.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: l.opts.Identity},
	}
	leCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu      sync.Mutex
		started bool
		fnErr   error
	)
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
				mu.Lock()
				started = true
				mu.Unlock()
				err := fn(c)
				mu.Lock()
				fnErr = err
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
	ran := started
	mu.Unlock()
	if !ran {
		if ctx.Err() != nil {
			return fmt.Errorf("kubernetes lease %s/%s: not acquired: %w", l.opts.Namespace, l.opts.Name, ctx.Err())
		}
		return fmt.Errorf("kubernetes lease %s/%s: not acquired: %w", l.opts.Namespace, l.opts.Name, errTransient)
	}
	// fn closes done before it cancels leCtx, so if done is still open, le.Run
	// returned because ctx ended or because the lease could not be renewed.
	finished := false
	select {
	case <-done:
		finished = true
	default:
	}
	<-done
	mu.Lock()
	defer mu.Unlock()
	if !finished && ctx.Err() == nil {
		if fnErr != nil && !errors.Is(fnErr, context.Canceled) {
			return fmt.Errorf("kubernetes lease %s/%s: %w (and then: %w)", l.opts.Namespace, l.opts.Name, ErrLeaseLost, fnErr)
		}
		return fmt.Errorf("kubernetes lease %s/%s: %w", l.opts.Namespace, l.opts.Name, ErrLeaseLost)
	}
	return fnErr
}

// RunWithLease drives rollout id with runner.Run only while holding lease, which
// is how a deploy command or a controller makes sure exactly one runner drives a
// rollout. A second runner started on the same target fails with
// progressive.ErrConflict (or waits, with LeaseOptions.Wait); a runner started
// after one was killed waits until the dead one's lease expires and then resumes
// the rollout from the StateStore.
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
