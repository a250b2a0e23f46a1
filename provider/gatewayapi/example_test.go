package gatewayapi_test

import (
	"context"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
	"sigs.k8s.io/gateway-api/pkg/client/clientset/versioned/fake"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/provider/gatewayapi"
)

// The router on a fake Gateway API clientset, holding the user's HTTPRoute
// shop whose rule sends /checkout to the Service checkout: 25% goes to
// checkout-canary with backendRef weights (in millionths), then a mirror of
// 10% of the requests. Against a cluster, use gatewayapi.New with its
// rest.Config.
func ExampleRouter_SetRoutes() {
	port := gatewayv1.PortNumber(8080)
	prefix, path := gatewayv1.PathMatchPathPrefix, "/checkout"
	cs := fake.NewSimpleClientset(&gatewayv1.HTTPRoute{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "shop"},
		Spec: gatewayv1.HTTPRouteSpec{
			CommonRouteSpec: gatewayv1.CommonRouteSpec{ParentRefs: []gatewayv1.ParentReference{{Name: "public"}}},
			Rules: []gatewayv1.HTTPRouteRule{{
				Matches:     []gatewayv1.HTTPRouteMatch{{Path: &gatewayv1.HTTPPathMatch{Type: &prefix, Value: &path}}},
				BackendRefs: []gatewayv1.HTTPBackendRef{{BackendRef: gatewayv1.BackendRef{BackendObjectReference: gatewayv1.BackendObjectReference{Name: "checkout", Port: &port}}}},
			}},
		},
	})
	cs.Resources = []*metav1.APIResourceList{{ // what discovery reports once the Gateway API CRDs are installed
		GroupVersion: gatewayv1.GroupVersion.String(),
		APIResources: []metav1.APIResource{{Name: "httproutes", Namespaced: true}},
	}}
	router := gatewayapi.NewForClientset(cs, gatewayapi.Options{RouteName: "shop"})
	ctx := context.Background()
	target := progressive.Target{Namespace: "shop", Name: "checkout"}

	for _, routes := range []progressive.Routes{progressive.WeightedRoutes(25), {StableWeight: 100, MirrorPercent: 10}} {
		if err := router.SetRoutes(ctx, target, routes); err != nil {
			fmt.Println("error:", err)
			return
		}
		hr, err := cs.GatewayV1().HTTPRoutes("shop").Get(ctx, "shop", metav1.GetOptions{})
		if err != nil {
			fmt.Println("error:", err)
			return
		}
		for _, b := range hr.Spec.Rules[0].BackendRefs {
			fmt.Printf("%s weight %d; ", b.Name, *b.Weight)
		}
		for _, f := range hr.Spec.Rules[0].Filters {
			if f.RequestMirror != nil {
				fmt.Printf("mirror to %s; ", f.RequestMirror.BackendRef.Name)
			}
		}
		got, err := router.GetRoutes(ctx, target)
		if err != nil {
			fmt.Println("error:", err)
			return
		}
		fmt.Printf("read back: canary %g%%, mirror %g%%\n", got.CanaryWeight, got.MirrorPercent)
	}
	// Output:
	// checkout weight 750000; checkout-canary weight 250000; read back: canary 25%, mirror 0%
	// checkout weight 1000000; checkout-canary weight 0; mirror to checkout-canary; read back: canary 0%, mirror 10%
}
