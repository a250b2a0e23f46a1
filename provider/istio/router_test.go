package istio_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/internal/testenv"
	"github.com/agentops/progressive/provider/istio"
	"github.com/agentops/progressive/provider/routertest"
)

var (
	vsGVR = schema.GroupVersionResource{Group: "networking.istio.io", Version: "v1", Resource: "virtualservices"}
	drGVR = schema.GroupVersionResource{Group: "networking.istio.io", Version: "v1", Resource: "destinationrules"}
)

// namespace makes a namespace holding the Services the tests route, checkout
// and cart: the router refuses a destination host whose Service does not exist.
func namespace(t *testing.T, e *testenv.Env) string {
	t.Helper()
	ns := e.NewNamespace(t)
	for _, name := range []string{"checkout", "cart"} {
		_, err := e.Clientset().CoreV1().Services(ns).Create(context.Background(), &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec:       corev1.ServiceSpec{Selector: map[string]string{"app": name}, Ports: []corev1.ServicePort{{Name: "http", Port: 80}}},
		}, metav1.CreateOptions{})
		require.NoError(t, err)
	}
	return ns
}

func newRouter(t *testing.T, e *testenv.Env, opts istio.Options) *istio.Router {
	t.Helper()
	r, err := istio.New(e.Config(), opts)
	require.NoError(t, err)
	return r
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return c
}

func create(t *testing.T, dyn dynamic.Interface, gvr schema.GroupVersionResource, ns string, obj map[string]any) {
	t.Helper()
	_, err := dyn.Resource(gvr).Namespace(ns).Create(context.Background(), &unstructured.Unstructured{Object: obj}, metav1.CreateOptions{})
	require.NoError(t, err)
}

func destinationRule(name, host string, subsets ...string) map[string]any {
	var ss []any
	for _, s := range subsets {
		ss = append(ss, map[string]any{"name": s, "labels": map[string]any{istio.RoleLabel: s}})
	}
	return map[string]any{
		"apiVersion": "networking.istio.io/v1", "kind": "DestinationRule",
		"metadata": map[string]any{"name": name},
		"spec":     map[string]any{"host": host, "subsets": ss},
	}
}

// userVirtualService holds the user's routes: /admin to an admin Service, and
// a catch-all to host.
func userVirtualService(name, host string) map[string]any {
	return map[string]any{
		"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
		"metadata": map[string]any{"name": name},
		"spec": map[string]any{
			"hosts": []any{host},
			"http": []any{
				map[string]any{
					"name":  "admin",
					"match": []any{map[string]any{"uri": map[string]any{"prefix": "/admin"}}},
					"route": []any{map[string]any{"destination": map[string]any{"host": "admin"}}},
				},
				map[string]any{
					"name":  "default",
					"route": []any{map[string]any{"destination": map[string]any{"host": host}}},
				},
			},
		},
	}
}

func getVS(t *testing.T, e *testenv.Env, ns, name string) *unstructured.Unstructured {
	t.Helper()
	vs, err := e.Dynamic().Resource(vsGVR).Namespace(ns).Get(context.Background(), name, metav1.GetOptions{})
	require.NoError(t, err)
	return vs
}

func routeNames(vs *unstructured.Unstructured) []string {
	routes, _, _ := unstructured.NestedSlice(vs.Object, "spec", "http")
	var out []string
	for _, r := range routes {
		out = append(out, r.(map[string]any)["name"].(string))
	}
	return out
}

// TestConformance runs the router conformance suite twice: with objects the
// router creates, and adopting a user's VirtualService and DestinationRule.
func TestConformance(t *testing.T) {
	e := env.Require(t)
	t.Run("Create", func(t *testing.T) {
		routertest.Run(t, func(t *testing.T) routertest.Setup {
			ns := namespace(t, e)
			return routertest.Setup{
				Router:  newRouter(t, e, istio.Options{Create: true}),
				Target:  progressive.Target{Namespace: ns, Name: "checkout"},
				Matches: true, Mirror: true,
			}
		})
	})
	t.Run("Adopt", func(t *testing.T) {
		routertest.Run(t, func(t *testing.T) routertest.Setup {
			ns := namespace(t, e)
			create(t, e.Dynamic(), drGVR, ns, destinationRule("checkout", "checkout", "stable", "canary"))
			create(t, e.Dynamic(), vsGVR, ns, userVirtualService("checkout", "checkout"))
			return routertest.Setup{
				Router:  newRouter(t, e, istio.Options{}),
				Target:  progressive.Target{Namespace: ns, Name: "checkout"},
				Matches: true, Mirror: true,
			}
		})
	})
	// With session affinity the sticky route and the Set-Cookie come and go
	// with the weights; what GetRoutes reports must not change.
	t.Run("SessionAffinity", func(t *testing.T) {
		routertest.Run(t, func(t *testing.T) routertest.Setup {
			ns := namespace(t, e)
			create(t, e.Dynamic(), drGVR, ns, destinationRule("checkout", "checkout", "stable", "canary"))
			create(t, e.Dynamic(), vsGVR, ns, userVirtualService("checkout", "checkout"))
			return routertest.Setup{
				Router:  newRouter(t, e, istio.Options{SessionAffinity: &istio.SessionAffinity{CookieName: "canary", MaxAge: time.Hour}}),
				Target:  progressive.Target{Namespace: ns, Name: "checkout"},
				Matches: true, Mirror: true,
			}
		})
	})
}

// TestFinalizeKeepsUserRoutes: the router's routes go ahead of the user's
// catch-all, and Finalize leaves the user's routes exactly as they were.
func TestFinalizeKeepsUserRoutes(t *testing.T) {
	e := env.Require(t)
	ns := namespace(t, e)
	create(t, e.Dynamic(), drGVR, ns, destinationRule("checkout", "checkout", "stable", "canary"))
	create(t, e.Dynamic(), vsGVR, ns, userVirtualService("checkout", "checkout"))
	before := getVS(t, e, ns, "checkout")
	r := newRouter(t, e, istio.Options{})
	tg := progressive.Target{Namespace: ns, Name: "checkout"}

	want := progressive.Routes{StableWeight: 90, CanaryWeight: 10, MirrorPercent: 5,
		Matches: []progressive.Match{{Kind: progressive.MatchHeader, Name: "x-version", Value: "green"}}}
	require.NoError(t, r.SetRoutes(ctx(t), tg, want))
	vs := getVS(t, e, ns, "checkout")
	assert.Equal(t, []string{"admin", "progressive-checkout-ab", "progressive-checkout", "default"}, routeNames(vs))
	assert.Equal(t, "progressive-checkout,progressive-checkout-ab", vs.GetAnnotations()[istio.RoutesAnnotation])
	got, err := r.GetRoutes(ctx(t), tg)
	require.NoError(t, err)
	assert.Equal(t, want, got)

	// The blue-green switch is one write of the weights.
	rv := vs.GetResourceVersion()
	require.NoError(t, r.SetRoutes(ctx(t), tg, progressive.WeightedRoutes(100)))
	require.NoError(t, r.SetRoutes(ctx(t), tg, progressive.WeightedRoutes(100)))
	vs = getVS(t, e, ns, "checkout")
	assert.NotEqual(t, rv, vs.GetResourceVersion())

	require.NoError(t, r.Finalize(ctx(t), tg))
	after := getVS(t, e, ns, "checkout")
	assert.Equal(t, before.Object["spec"], after.Object["spec"], "Finalize must leave the user's routes as they were")
	assert.NotContains(t, after.GetAnnotations(), istio.RoutesAnnotation)
}

// TestTwoRoutersOneVirtualService: routers of two services sharing one
// VirtualService (by path) do not disturb each other or the user's routes.
func TestTwoRoutersOneVirtualService(t *testing.T) {
	e := env.Require(t)
	ns := namespace(t, e)
	create(t, e.Dynamic(), drGVR, ns, destinationRule("cart", "cart", "stable", "canary"))
	create(t, e.Dynamic(), drGVR, ns, destinationRule("checkout", "checkout", "stable", "canary"))
	create(t, e.Dynamic(), vsGVR, ns, userVirtualService("shop", "shop.example.com"))
	before := getVS(t, e, ns, "shop")
	cart := newRouter(t, e, istio.Options{VirtualService: "shop", URIPrefix: "/cart"})
	checkout := newRouter(t, e, istio.Options{VirtualService: "shop", URIPrefix: "/checkout"})
	tc, tk := progressive.Target{Namespace: ns, Name: "cart"}, progressive.Target{Namespace: ns, Name: "checkout"}

	require.NoError(t, cart.SetRoutes(ctx(t), tc, progressive.WeightedRoutes(10)))
	require.NoError(t, checkout.SetRoutes(ctx(t), tk, progressive.WeightedRoutes(50)))
	require.NoError(t, cart.SetRoutes(ctx(t), tc, progressive.WeightedRoutes(20)))
	for tg, want := range map[progressive.Target]float64{tc: 20, tk: 50} {
		r := cart
		if tg == tk {
			r = checkout
		}
		got, err := r.GetRoutes(ctx(t), tg)
		require.NoError(t, err)
		assert.Equal(t, progressive.WeightedRoutes(want), got, tg.String())
	}
	assert.Equal(t, []string{"admin", "progressive-cart", "progressive-checkout", "default"}, routeNames(getVS(t, e, ns, "shop")))

	require.NoError(t, cart.Finalize(ctx(t), tc))
	got, err := checkout.GetRoutes(ctx(t), tk)
	require.NoError(t, err)
	assert.Equal(t, progressive.WeightedRoutes(50), got, "finalizing cart must not touch checkout")
	require.NoError(t, checkout.Finalize(ctx(t), tk))
	assert.Equal(t, before.Object["spec"], getVS(t, e, ns, "shop").Object["spec"])
}

// TestBadInput: a missing VirtualService, a colliding route name and an unknown
// subset are refused with errors naming them, and nothing is written.
func TestBadInput(t *testing.T) {
	e := env.Require(t)
	ns := namespace(t, e)
	tg := progressive.Target{Namespace: ns, Name: "checkout"}
	r := newRouter(t, e, istio.Options{})
	create(t, e.Dynamic(), drGVR, ns, destinationRule("checkout", "checkout", "stable", "canary"))

	err := r.SetRoutes(ctx(t), tg, progressive.WeightedRoutes(10))
	require.ErrorIs(t, err, progressive.ErrNotFound)
	assert.Contains(t, err.Error(), "VirtualService "+ns+"/checkout")

	vs := userVirtualService("checkout", "checkout")
	http := vs["spec"].(map[string]any)["http"].([]any)
	http[0].(map[string]any)["name"] = "progressive-checkout"
	create(t, e.Dynamic(), vsGVR, ns, vs)
	before := getVS(t, e, ns, "checkout")
	err = r.SetRoutes(ctx(t), tg, progressive.WeightedRoutes(10))
	require.ErrorIs(t, err, progressive.ErrInvalid)
	assert.Contains(t, err.Error(), `route "progressive-checkout" that the router did not add`)
	require.ErrorIs(t, r.Finalize(ctx(t), tg), progressive.ErrInvalid, "Finalize must not remove a user's route")
	assert.Equal(t, before.GetResourceVersion(), getVS(t, e, ns, "checkout").GetResourceVersion())

	other := progressive.Target{Namespace: ns, Name: "cart"}
	create(t, e.Dynamic(), drGVR, ns, destinationRule("cart", "cart", "stable"))
	create(t, e.Dynamic(), vsGVR, ns, userVirtualService("cart", "cart"))
	err = r.SetRoutes(ctx(t), other, progressive.WeightedRoutes(10))
	require.ErrorIs(t, err, progressive.ErrInvalid)
	assert.Contains(t, err.Error(), `no subset "canary"`)

	err = r.SetRoutes(ctx(t), tg, progressive.Routes{StableWeight: 50, CanaryWeight: 60})
	require.ErrorIs(t, err, progressive.ErrInvalid)

	// A host without a Service: refused before anything is created.
	ghost := progressive.Target{Namespace: ns, Name: "ghost"}
	err = newRouter(t, e, istio.Options{Create: true}).SetRoutes(ctx(t), ghost, progressive.WeightedRoutes(10))
	require.ErrorIs(t, err, progressive.ErrNotFound)
	assert.Contains(t, err.Error(), "Service "+ns+"/ghost")
	_, err = e.Dynamic().Resource(vsGVR).Namespace(ns).Get(context.Background(), "ghost", metav1.GetOptions{})
	assert.True(t, apierrors.IsNotFound(err), "no VirtualService for a missing host: %v", err)
}

// TestCRDMissing runs against a control plane of its own without the Istio CRDs.
func TestCRDMissing(t *testing.T) {
	env.Require(t)
	e := testenv.StartForTest(t, testenv.Options{Nodes: 1})
	r := newRouter(t, e, istio.Options{Create: true})
	tg := progressive.Target{Namespace: "default", Name: "checkout"}
	err := r.SetRoutes(ctx(t), tg, progressive.WeightedRoutes(10))
	require.Error(t, err)
	assert.True(t, errors.Is(err, progressive.ErrNotFound), "%v", err)
	assert.Contains(t, err.Error(), "virtualservices.networking.istio.io")
	assert.Contains(t, err.Error(), "customresourcedefinitions.gen.yaml")
	_, err = r.GetRoutes(ctx(t), tg)
	assert.ErrorIs(t, err, progressive.ErrNotFound)
}

// TestFailedUpdateChangesNothing: an Update the apiserver refuses (here, RBAC:
// a ServiceAccount that may only read) leaves the previous weights.
func TestFailedUpdateChangesNothing(t *testing.T) {
	e := env.Require(t)
	ns := namespace(t, e)
	tg := progressive.Target{Namespace: ns, Name: "checkout"}
	admin := newRouter(t, e, istio.Options{Create: true})
	require.NoError(t, admin.SetRoutes(ctx(t), tg, progressive.WeightedRoutes(20)))

	cs := e.Clientset()
	c := context.Background()
	_, err := cs.CoreV1().ServiceAccounts(ns).Create(c, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "reader"}}, metav1.CreateOptions{})
	require.NoError(t, err)
	_, err = cs.RbacV1().Roles(ns).Create(c, &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: "reader"},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{"networking.istio.io"},
			Resources: []string{"virtualservices", "destinationrules"}, Verbs: []string{"get", "list"}},
			{APIGroups: []string{""}, Resources: []string{"services"}, Verbs: []string{"get"}}},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	_, err = cs.RbacV1().RoleBindings(ns).Create(c, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "reader"},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "reader"},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: "reader", Namespace: ns}},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	cfg := e.Config()
	cfg.Impersonate.UserName = "system:serviceaccount:" + ns + ":reader"
	reader, err := istio.New(cfg, istio.Options{})
	require.NoError(t, err)

	var serr error
	for range 50 { // the RoleBinding takes a moment to reach the authorizer
		serr = reader.SetRoutes(ctx(t), tg, progressive.WeightedRoutes(50))
		if serr != nil && strings.Contains(serr.Error(), "update") {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("read-only SetRoutes: %v", serr)
	require.ErrorContains(t, serr, "update VirtualService")
	require.ErrorIs(t, serr, progressive.ErrInvalid, "a forbidden update is a configuration error")
	got, err := admin.GetRoutes(ctx(t), tg)
	require.NoError(t, err)
	assert.Equal(t, progressive.WeightedRoutes(20), got, "a failed update must leave the previous weights")
}

// TestConcurrentRouters: two routers writing one VirtualService at the same
// time lose no write (resourceVersion-checked Updates retried on conflict).
func TestConcurrentRouters(t *testing.T) {
	e := env.Require(t)
	ns := namespace(t, e)
	create(t, e.Dynamic(), drGVR, ns, destinationRule("cart", "cart", "stable", "canary"))
	create(t, e.Dynamic(), drGVR, ns, destinationRule("checkout", "checkout", "stable", "canary"))
	create(t, e.Dynamic(), vsGVR, ns, userVirtualService("shop", "shop.example.com"))
	routers := map[string]*istio.Router{
		"cart":     newRouter(t, e, istio.Options{VirtualService: "shop", URIPrefix: "/cart"}),
		"checkout": newRouter(t, e, istio.Options{VirtualService: "shop", URIPrefix: "/checkout"}),
	}
	errs := make(chan error, 2)
	for name, r := range routers {
		go func() {
			tg := progressive.Target{Namespace: ns, Name: name}
			for w := range 20 {
				if err := r.SetRoutes(ctx(t), tg, progressive.WeightedRoutes(float64(w*5))); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	require.NoError(t, <-errs)
	require.NoError(t, <-errs)
	for name, r := range routers {
		got, err := r.GetRoutes(ctx(t), progressive.Target{Namespace: ns, Name: name})
		require.NoError(t, err)
		assert.Equal(t, progressive.WeightedRoutes(95), got, name)
	}
	names := routeNames(getVS(t, e, ns, "shop"))
	require.Len(t, names, 4)
	assert.Equal(t, "admin", names[0])
	assert.Equal(t, "default", names[3], "the routers' routes go ahead of the user's catch-all, in whichever order they came")
	assert.ElementsMatch(t, []string{"progressive-cart", "progressive-checkout"}, names[1:3])
}

// stickyOf returns, from the VirtualService as the apiserver stores it, the
// Set-Cookie value the router's weighted route adds to the canary's responses
// and the Cookie header regex of its sticky route ("" when absent).
func stickyOf(t *testing.T, vs *unstructured.Unstructured) (setCookie, regex string) {
	t.Helper()
	routes, _, _ := unstructured.NestedSlice(vs.Object, "spec", "http")
	for _, r := range routes {
		route := r.(map[string]any)
		switch route["name"] {
		case "progressive-checkout":
			dests := route["route"].([]any)
			require.Len(t, dests, 2)
			assert.NotContains(t, dests[0].(map[string]any), "headers", "the stable destination sets no cookie")
			setCookie, _, _ = unstructured.NestedString(dests[1].(map[string]any), "headers", "response", "add", "Set-Cookie")
		case "progressive-checkout-sticky":
			matches := route["match"].([]any)
			require.Len(t, matches, 1)
			regex, _, _ = unstructured.NestedString(matches[0].(map[string]any), "headers", "cookie", "regex")
			dests := route["route"].([]any)
			require.Len(t, dests, 1)
			subset, _, _ := unstructured.NestedString(dests[0].(map[string]any), "destination", "subset")
			assert.Equal(t, "canary", subset)
		}
	}
	return setCookie, regex
}

// TestSessionAffinity: on a real apiserver, whose Istio CRD schemas would
// prune any field they do not know, the Set-Cookie header operation and the
// sticky route are stored as written; the sticky cookie keeps its value while
// the weights move and matches the Set-Cookie; AllStable and Finalize remove
// both; GetRoutes reports the A/B match and the weights as set.
func TestSessionAffinity(t *testing.T) {
	e := env.Require(t)
	opts := istio.Options{SessionAffinity: &istio.SessionAffinity{CookieName: "canary-session", MaxAge: 2 * time.Hour}}

	t.Run("Adopt", func(t *testing.T) {
		ns := namespace(t, e)
		create(t, e.Dynamic(), drGVR, ns, destinationRule("checkout", "checkout", "stable", "canary"))
		create(t, e.Dynamic(), vsGVR, ns, userVirtualService("checkout", "checkout"))
		before := getVS(t, e, ns, "checkout")
		r := newRouter(t, e, opts)
		tg := progressive.Target{Namespace: ns, Name: "checkout"}

		want := progressive.Routes{StableWeight: 80, CanaryWeight: 20, MirrorPercent: 10,
			Matches: []progressive.Match{{Kind: progressive.MatchHeader, Name: "x-version", Value: "green"}}}
		require.NoError(t, r.SetRoutes(ctx(t), tg, want))
		vs := getVS(t, e, ns, "checkout")
		assert.Equal(t, []string{"admin", "progressive-checkout-ab", "progressive-checkout-sticky", "progressive-checkout", "default"}, routeNames(vs))
		assert.Equal(t, "progressive-checkout,progressive-checkout-ab,progressive-checkout-sticky", vs.GetAnnotations()[istio.RoutesAnnotation])
		setCookie, regex := stickyOf(t, vs)
		require.Regexp(t, `^canary-session=[A-Z2-7]+; Max-Age=7200; Path=/$`, setCookie)
		require.NotEmpty(t, regex)
		cookie, _, _ := strings.Cut(setCookie, ";")
		assert.Regexp(t, regex, "theme=dark; "+cookie, "the sticky route must match the cookie the canary set")
		got, err := r.GetRoutes(ctx(t), tg)
		require.NoError(t, err)
		assert.Equal(t, want, got, "the sticky route is no A/B match")

		require.NoError(t, r.SetRoutes(ctx(t), tg, progressive.WeightedRoutes(60)))
		setCookie2, regex2 := stickyOf(t, getVS(t, e, ns, "checkout"))
		assert.Equal(t, setCookie, setCookie2, "users who got the cookie at 20% stay on the canary at 60%")
		assert.Equal(t, regex, regex2)
		got, err = r.GetRoutes(ctx(t), tg)
		require.NoError(t, err)
		assert.Equal(t, progressive.WeightedRoutes(60), got)

		require.NoError(t, r.SetRoutes(ctx(t), tg, progressive.AllStable())) // a rollback
		vs = getVS(t, e, ns, "checkout")
		setCookie, regex = stickyOf(t, vs)
		assert.Empty(t, setCookie)
		assert.Empty(t, regex)
		assert.Equal(t, []string{"admin", "progressive-checkout", "default"}, routeNames(vs))
		assert.Equal(t, "progressive-checkout", vs.GetAnnotations()[istio.RoutesAnnotation])

		require.NoError(t, r.SetRoutes(ctx(t), tg, progressive.WeightedRoutes(10)))
		_, regex = stickyOf(t, getVS(t, e, ns, "checkout"))
		assert.NotRegexp(t, regex, cookie, "the rolled-back canary's cookie must not stick to the next one")
		require.NoError(t, r.Finalize(ctx(t), tg))
		after := getVS(t, e, ns, "checkout")
		assert.Equal(t, before.Object["spec"], after.Object["spec"], "Finalize must leave the user's routes as they were")
		assert.NotContains(t, after.GetAnnotations(), istio.RoutesAnnotation)
	})

	t.Run("Create", func(t *testing.T) {
		ns := namespace(t, e)
		opts := opts
		opts.Create = true
		r := newRouter(t, e, opts)
		tg := progressive.Target{Namespace: ns, Name: "checkout"}
		require.NoError(t, r.SetRoutes(ctx(t), tg, progressive.WeightedRoutes(30)))
		setCookie, regex := stickyOf(t, getVS(t, e, ns, "checkout"))
		require.NotEmpty(t, setCookie)
		require.NotEmpty(t, regex)

		require.NoError(t, r.Finalize(ctx(t), tg))
		vs := getVS(t, e, ns, "checkout")
		assert.Equal(t, []string{"progressive-checkout"}, routeNames(vs), "Finalize keeps the created route at AllStable, without the sticky one")
		setCookie, regex = stickyOf(t, vs)
		assert.Empty(t, setCookie)
		assert.Empty(t, regex)
		got, err := r.GetRoutes(ctx(t), tg)
		require.NoError(t, err)
		assert.Equal(t, progressive.AllStable(), got)
	})
}
