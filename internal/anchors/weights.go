package anchors

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	istiov1 "istio.io/client-go/pkg/apis/networking/v1"
	"istio.io/client-go/pkg/clientset/versioned"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/agentops/progressive/internal/livecanary"
)

// VirtualServiceRoute names the route of a VirtualService whose canary weight
// a tool sets, by the canary's destination host: Flagger routes to the
// <name>-primary and <name>-canary Services, Argo Rollouts to the stable and
// canary Services its Rollout names.
type VirtualServiceRoute struct {
	Namespace, VirtualService string
	// Route is the HTTP route's name; empty: the first HTTP route.
	Route string
	// CanaryHost is the canary's destination host: a Service name
	// ("podinfo-canary") also matches its qualified forms
	// ("podinfo-canary.ns.svc.cluster.local").
	CanaryHost string
}

// CanaryWeight is the summed weight of the route's destinations on
// CanaryHost.
func (r VirtualServiceRoute) CanaryWeight(vs *istiov1.VirtualService) float64 {
	for i, h := range vs.Spec.GetHttp() {
		if (r.Route == "" && i > 0) || (r.Route != "" && h.GetName() != r.Route) {
			continue
		}
		total := 0.0
		for _, d := range h.GetRoute() {
			host := d.GetDestination().GetHost()
			if host == r.CanaryHost || strings.HasPrefix(host, r.CanaryHost+".") {
				total += float64(d.GetWeight())
			}
		}
		return total
	}
	return 0
}

// Weights follows a tool's VirtualService with a watch, as Envoy follows
// istiod's pushes: the App's traffic split reads Canary, so the canary's
// share of requests changes when the VirtualService really changes. It has
// livecanary.Weights' methods for a route chosen by destination host.
type Weights struct {
	route VirtualServiceRoute
	ic    versioned.Interface
	log   *slog.Logger

	bits atomic.Uint64 // math.Float64bits of the canary weight

	mu      sync.Mutex
	changes []livecanary.WeightChange
	hooks   []func(w float64, at time.Time)
	changed chan struct{} // closed and replaced at every change
}

// WatchWeights follows route's canary weight until ctx ends. Before the
// VirtualService exists the weight is 0.
func WatchWeights(ctx context.Context, ic versioned.Interface, route VirtualServiceRoute, log *slog.Logger) *Weights {
	w := &Weights{route: route, ic: ic, log: log, changed: make(chan struct{})}
	w.set(0)
	go w.run(ctx)
	return w
}

// Canary is the canary weight the VirtualService shows now, in percent.
func (w *Weights) Canary() float64 { return math.Float64frombits(w.bits.Load()) }

// Changes returns every weight seen, in order (the first is the 0 before
// the watch began).
func (w *Weights) Changes() []livecanary.WeightChange {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]livecanary.WeightChange(nil), w.changes...)
}

// OnChange registers f, called in the watch's goroutine right after the
// weight changed (after Canary returns the new weight). f must be quick.
func (w *Weights) OnChange(f func(weight float64, at time.Time)) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.hooks = append(w.hooks, f)
}

// Max is the largest canary weight seen.
func (w *Weights) Max() float64 { return MaxWeight(w.Changes()) }

// WaitFor waits until the weight satisfies ok and returns when the watch saw
// it become so.
func (w *Weights) WaitFor(ctx context.Context, ok func(float64) bool) (time.Time, error) {
	for {
		w.mu.Lock()
		ch := w.changed
		n := len(w.changes)
		last := w.changes[n-1]
		w.mu.Unlock()
		if ok(last.Weight) {
			return last.At, nil
		}
		select {
		case <-ctx.Done():
			return time.Time{}, fmt.Errorf("waiting for the canary weight of VirtualService %s/%s (now %g%%): %w",
				w.route.Namespace, w.route.VirtualService, w.Canary(), ctx.Err())
		case <-ch:
		}
	}
}

func (w *Weights) set(weight float64) {
	w.mu.Lock()
	if n := len(w.changes); n > 0 && w.changes[n-1].Weight == weight {
		w.mu.Unlock()
		return
	}
	at := time.Now()
	w.bits.Store(math.Float64bits(weight))
	w.changes = append(w.changes, livecanary.WeightChange{At: at, Weight: weight})
	hooks := append([]func(float64, time.Time){}, w.hooks...)
	close(w.changed)
	w.changed = make(chan struct{})
	w.mu.Unlock()
	w.log.Debug("VirtualService canary weight", slog.String("namespace", w.route.Namespace),
		slog.String("virtualService", w.route.VirtualService), slog.Float64("weight", weight))
	for _, f := range hooks {
		f(weight, at)
	}
}

// run watches the VirtualService, starting again (with the current state as
// the watch's first event) whenever the watch ends.
func (w *Weights) run(ctx context.Context) {
	for ctx.Err() == nil {
		wi, err := w.ic.NetworkingV1().VirtualServices(w.route.Namespace).Watch(ctx,
			metav1.ListOptions{FieldSelector: "metadata.name=" + w.route.VirtualService})
		if err != nil {
			w.log.Debug("VirtualService watch", slog.String("error", err.Error()))
			sleep(ctx, 100*time.Millisecond)
			continue
		}
		for ev := range wi.ResultChan() {
			switch ev.Type {
			case watch.Added, watch.Modified:
				if vs, ok := ev.Object.(*istiov1.VirtualService); ok {
					w.set(w.route.CanaryWeight(vs))
				}
			case watch.Deleted:
				w.set(0)
			}
		}
		wi.Stop()
	}
}

// MaxWeight is the largest weight in changes.
func MaxWeight(changes []livecanary.WeightChange) float64 {
	m := 0.0
	for _, c := range changes {
		m = math.Max(m, c.Weight)
	}
	return m
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
