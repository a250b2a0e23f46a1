package livecanary

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	istiov1 "istio.io/client-go/pkg/apis/networking/v1"
	"istio.io/client-go/pkg/clientset/versioned"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/agentops/progressive"
)

// WeightChange is one canary weight the VirtualService showed, and when the
// watch saw it.
type WeightChange struct {
	At     time.Time
	Weight float64
}

// Weights follows the canary weight of a target's VirtualService with a watch,
// as Envoy follows istiod's pushes: the App's traffic split reads Canary, so
// the canary's share of requests changes when the VirtualService really
// changes, not when the runner decides to change it.
type Weights struct {
	ic       versioned.Interface
	ns, vs   string
	weightOf func(*istiov1.VirtualService) float64
	log      *slog.Logger

	bits atomic.Uint64 // math.Float64bits of the canary weight

	mu      sync.Mutex
	changes []WeightChange
	hooks   []func(w float64, at time.Time)
	changed chan struct{} // closed and replaced at every change
}

// WatchWeights starts following the VirtualService of target (named like the
// target, with the istio router's default route progressive-<name>) until ctx
// ends. Before the VirtualService exists the canary weight is 0.
func WatchWeights(ctx context.Context, ic versioned.Interface, target progressive.Target, log *slog.Logger) *Weights {
	route := "progressive-" + target.Name
	return WatchVirtualService(ctx, ic, target.Namespace, target.Name,
		func(vs *istiov1.VirtualService) float64 { return canaryWeight(vs, route) }, log)
}

// WatchVirtualService follows VirtualService ns/name until ctx ends, its
// canary weight read by weightOf: each tool (progressive, Flagger, Argo
// Rollouts) names its canary route and destination its own way. Before the
// VirtualService exists the canary weight is 0.
func WatchVirtualService(ctx context.Context, ic versioned.Interface, ns, name string, weightOf func(*istiov1.VirtualService) float64, log *slog.Logger) *Weights {
	w := &Weights{ic: ic, ns: ns, vs: name, weightOf: weightOf, log: log, changed: make(chan struct{})}
	w.set(0)
	go w.run(ctx)
	return w
}

// Canary is the canary weight the VirtualService shows now, in percent.
func (w *Weights) Canary() float64 { return math.Float64frombits(w.bits.Load()) }

// Changes returns every weight seen, in order.
func (w *Weights) Changes() []WeightChange {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]WeightChange(nil), w.changes...)
}

// OnChange registers f, called in the watch's goroutine right after the
// weight changed (after Canary returns the new weight). f must be quick.
func (w *Weights) OnChange(f func(weight float64, at time.Time)) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.hooks = append(w.hooks, f)
}

// Max is the largest canary weight seen.
func (w *Weights) Max() float64 { return HighestWeight(w.Changes()) }

// HighestWeight is the largest weight in changes.
func HighestWeight(changes []WeightChange) float64 {
	m := 0.0
	for _, c := range changes {
		m = math.Max(m, c.Weight)
	}
	return m
}

// WaitFor waits until the weight satisfies ok and returns when the watch saw
// it become so.
func (w *Weights) WaitFor(ctx context.Context, ok func(float64) bool) (time.Time, error) {
	for {
		w.mu.Lock()
		ch := w.changed
		var at time.Time
		found := false
		if n := len(w.changes); n > 0 && ok(w.changes[n-1].Weight) {
			at, found = w.changes[n-1].At, true
		}
		w.mu.Unlock()
		if found {
			return at, nil
		}
		select {
		case <-ctx.Done():
			return time.Time{}, fmt.Errorf("waiting for the canary weight of VirtualService %s/%s (now %g%%): %w", w.ns, w.vs, w.Canary(), ctx.Err())
		case <-ch:
		}
	}
}

func (w *Weights) set(weight float64) {
	if len(w.Changes()) > 0 && weight == w.Canary() {
		return
	}
	at := time.Now()
	w.bits.Store(math.Float64bits(weight))
	w.mu.Lock()
	w.changes = append(w.changes, WeightChange{At: at, Weight: weight})
	hooks := append([]func(float64, time.Time){}, w.hooks...)
	close(w.changed)
	w.changed = make(chan struct{})
	w.mu.Unlock()
	w.log.Debug("VirtualService canary weight", slog.String("namespace", w.ns), slog.String("virtualService", w.vs), slog.Float64("weight", weight))
	for _, f := range hooks {
		f(weight, at)
	}
}

// run watches the VirtualService, starting again (with the current state as
// the watch's first event) whenever the watch ends.
func (w *Weights) run(ctx context.Context) {
	for ctx.Err() == nil {
		wi, err := w.ic.NetworkingV1().VirtualServices(w.ns).Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=" + w.vs})
		if err != nil {
			w.log.Debug("VirtualService watch", slog.String("error", err.Error()))
			sleep(ctx, 100*time.Millisecond)
			continue
		}
		for ev := range wi.ResultChan() {
			switch ev.Type {
			case watch.Added, watch.Modified:
				if vs, ok := ev.Object.(*istiov1.VirtualService); ok {
					w.set(w.weightOf(vs))
				}
			case watch.Deleted:
				w.set(0)
			}
		}
		wi.Stop()
	}
}

// canaryWeight is the weight of the canary subset in the named HTTP route.
func canaryWeight(vs *istiov1.VirtualService, route string) float64 {
	total := 0.0
	for _, r := range vs.Spec.GetHttp() {
		if r.GetName() != route {
			continue
		}
		for _, d := range r.GetRoute() {
			if d.GetDestination().GetSubset() == string(progressive.Canary) {
				total += float64(d.GetWeight())
			}
		}
	}
	return total
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
