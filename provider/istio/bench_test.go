package istio

import (
	"context"
	"fmt"
	"testing"

	networkingv1 "istio.io/api/networking/v1"

	"github.com/agentops/progressive"
)

// BenchmarkSetRoutes measures the router's own cost of one traffic change
// (merge, proto comparison, write, check of the stored routes) on the fake
// clientset, in a VirtualService that also holds 50 routes of the user's: what
// a controller driving many rollouts pays per step besides the apiserver round
// trips, which it reports as requests/op (the first SetRoutes, validating,
// excluded).
func BenchmarkSetRoutes(b *testing.B) {
	var extra []*networkingv1.HTTPRoute
	for i := range 50 {
		extra = append(extra, &networkingv1.HTTPRoute{
			Name:  fmt.Sprintf("user-%d", i),
			Match: []*networkingv1.HTTPMatchRequest{{Uri: &networkingv1.StringMatch{MatchType: &networkingv1.StringMatch_Prefix{Prefix: fmt.Sprintf("/u%d", i)}}}},
			Route: []*networkingv1.HTTPRouteDestination{{Destination: &networkingv1.Destination{Host: "users"}}},
		})
	}
	cs := fakeClientset(fakeDestinationRule("stable", "canary"), fakeVirtualService(extra...))
	r, err := NewForClients(cs, nil, Options{})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if err := r.SetRoutes(ctx, testTarget, progressive.AllStable()); err != nil {
		b.Fatal(err)
	}
	before := len(cs.Actions())
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		if err := r.SetRoutes(ctx, testTarget, progressive.WeightedRoutes(float64(i%99+1))); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(cs.Actions())-before)/float64(i), "requests/op")
}
