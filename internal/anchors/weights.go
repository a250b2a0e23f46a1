package anchors

import (
	"context"
	"log/slog"
	"strings"
	"time"

	istiov1 "istio.io/client-go/pkg/apis/networking/v1"
	"istio.io/client-go/pkg/clientset/versioned"

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

// Weights follows a tool's VirtualService with a watch (livecanary.Weights).
type Weights = livecanary.Weights

// WatchWeights follows route's canary weight until ctx ends. Before the
// VirtualService exists the weight is 0.
func WatchWeights(ctx context.Context, ic versioned.Interface, route VirtualServiceRoute, log *slog.Logger) *Weights {
	return livecanary.WatchVirtualService(ctx, ic, route.Namespace, route.VirtualService, route.CanaryWeight, log)
}

// MaxWeight is the largest weight in changes.
func MaxWeight(changes []livecanary.WeightChange) float64 { return livecanary.HighestWeight(changes) }

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
