package istio_test

import (
	"context"
	"fmt"

	istiov1 "istio.io/client-go/pkg/apis/networking/v1"
	"istio.io/client-go/pkg/clientset/versioned/fake"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/provider/istio"
)

// The router on a fake Istio clientset: it creates the DestinationRule and
// VirtualService of checkout (Options.Create), moves 10% to the canary subset,
// then sends the guide's A/B segment (x-version: green) to the canary ahead of
// the weights. Against a cluster, use istio.New with its rest.Config.
func ExampleRouter_SetRoutes() {
	cs := fake.NewSimpleClientset()
	cs.Resources = []*metav1.APIResourceList{{ // what discovery reports once Istio's CRDs are installed
		GroupVersion: istiov1.SchemeGroupVersion.String(),
		APIResources: []metav1.APIResource{{Name: "virtualservices", Namespaced: true}, {Name: "destinationrules", Namespaced: true}},
	}}
	router, err := istio.NewForClients(cs, nil, istio.Options{Create: true})
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	ctx := context.Background()
	target := progressive.Target{Namespace: "shop", Name: "checkout"}

	show := func() {
		vs, err := cs.NetworkingV1().VirtualServices("shop").Get(ctx, "checkout", metav1.GetOptions{})
		if err != nil {
			fmt.Println("error:", err)
			return
		}
		for _, r := range vs.Spec.Http {
			fmt.Printf("  route %s:", r.Name)
			for _, m := range r.Match {
				for h, v := range m.Headers {
					fmt.Printf(" if %s=%s", h, v.GetExact())
				}
			}
			for _, d := range r.Route {
				fmt.Printf(" %s/%s %d%%", d.Destination.Host, d.Destination.Subset, d.Weight)
			}
			fmt.Println()
		}
	}
	if err := router.SetRoutes(ctx, target, progressive.WeightedRoutes(10)); err != nil {
		fmt.Println("error:", err)
		return
	}
	fmt.Println("canary at 10%:")
	show()
	ab := progressive.Routes{StableWeight: 100, Matches: []progressive.Match{{Kind: progressive.MatchHeader, Name: "x-version", Value: "green"}}}
	if err := router.SetRoutes(ctx, target, ab); err != nil {
		fmt.Println("error:", err)
		return
	}
	fmt.Println("A/B by header:")
	show()
	got, err := router.GetRoutes(ctx, target)
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	fmt.Printf("read back: stable %g%%, canary %g%%, %d match\n", got.StableWeight, got.CanaryWeight, len(got.Matches))
	// Output:
	// canary at 10%:
	//   route progressive-checkout: checkout/stable 90% checkout/canary 10%
	// A/B by header:
	//   route progressive-checkout-ab: if x-version=green checkout/canary 100%
	//   route progressive-checkout: checkout/stable 100% checkout/canary 0%
	// read back: stable 100%, canary 0%, 1 match
}
