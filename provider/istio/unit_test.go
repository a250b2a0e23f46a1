package istio

import (
	"context"
	"errors"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	networkingv1 "istio.io/api/networking/v1"
	istiov1 "istio.io/client-go/pkg/apis/networking/v1"
	"istio.io/client-go/pkg/clientset/versioned/fake"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	k8stesting "k8s.io/client-go/testing"

	"github.com/agentops/progressive"
)

// The unit layer runs the router on the fake Istio clientset, where faults the
// real apiserver will not produce on demand (a conflict at the right moment, a
// failing Update, a mutating admission) are injected with reactors.

const testNS = "shop"

var testTarget = progressive.Target{Namespace: testNS, Name: "checkout"}

func unitCtx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

// fakeClientset serves the Istio CRDs (for the discovery check) and holds objs.
func fakeClientset(objs ...runtime.Object) *fake.Clientset {
	cs := fake.NewSimpleClientset(objs...)
	cs.Resources = []*metav1.APIResourceList{{
		GroupVersion: istiov1.SchemeGroupVersion.String(),
		APIResources: []metav1.APIResource{{Name: vsResource, Namespaced: true}, {Name: drResource, Namespaced: true}},
	}}
	return cs
}

func fakeDestinationRule(subsets ...string) *istiov1.DestinationRule {
	dr := &istiov1.DestinationRule{ObjectMeta: metav1.ObjectMeta{Name: "checkout", Namespace: testNS}}
	dr.Spec.Host = "checkout"
	for _, s := range subsets {
		dr.Spec.Subsets = append(dr.Spec.Subsets, &networkingv1.Subset{Name: s, Labels: map[string]string{RoleLabel: s}})
	}
	return dr
}

// fakeVirtualService holds the user's routes: /admin to an admin Service and a
// catch-all to checkout, plus extra routes ahead of them.
func fakeVirtualService(extra ...*networkingv1.HTTPRoute) *istiov1.VirtualService {
	vs := &istiov1.VirtualService{ObjectMeta: metav1.ObjectMeta{Name: "checkout", Namespace: testNS}}
	vs.Spec.Hosts = []string{"checkout"}
	vs.Spec.Http = append(extra,
		&networkingv1.HTTPRoute{
			Name:  "admin",
			Match: []*networkingv1.HTTPMatchRequest{{Uri: &networkingv1.StringMatch{MatchType: &networkingv1.StringMatch_Prefix{Prefix: "/admin"}}}},
			Route: []*networkingv1.HTTPRouteDestination{{Destination: &networkingv1.Destination{Host: "admin"}}},
		},
		&networkingv1.HTTPRoute{
			Name:  "default",
			Route: []*networkingv1.HTTPRouteDestination{{Destination: &networkingv1.Destination{Host: "checkout"}}},
		})
	return vs
}

func newUnitRouter(t *testing.T, cs *fake.Clientset, opts Options) *Router {
	t.Helper()
	r, err := NewForClients(cs, nil, opts)
	require.NoError(t, err)
	return r
}

func getFakeVS(t *testing.T, cs *fake.Clientset) *istiov1.VirtualService {
	t.Helper()
	vs, err := cs.NetworkingV1().VirtualServices(testNS).Get(context.Background(), "checkout", metav1.GetOptions{})
	require.NoError(t, err)
	return vs
}

func httpRouteNames(vs *istiov1.VirtualService) []string {
	var out []string
	for _, r := range vs.Spec.Http {
		out = append(out, r.GetName())
	}
	return out
}

func findRoute(vs *istiov1.VirtualService, name string) *networkingv1.HTTPRoute {
	for _, r := range vs.Spec.Http {
		if r.GetName() == name {
			return r
		}
	}
	return nil
}

// countUpdates counts the Updates of VirtualServices the router sent.
func countUpdates(cs *fake.Clientset) int {
	n := 0
	for _, a := range cs.Actions() {
		if a.GetVerb() == "update" && a.GetResource().Resource == vsResource {
			n++
		}
	}
	return n
}

// fastConflicts shortens conflictBackoff for the test, so that exhausting it
// takes milliseconds.
func fastConflicts(t *testing.T) {
	saved := conflictBackoff
	conflictBackoff = wait.Backoff{Steps: saved.Steps, Duration: time.Millisecond, Factor: 1, Jitter: 0.5}
	t.Cleanup(func() { conflictBackoff = saved })
}

// TestUnitConflictRetry: an Update that loses a race is retried from a fresh
// read, so the concurrent writer's change (a user route added meanwhile) is
// kept and the router's routes are written.
func TestUnitConflictRetry(t *testing.T) {
	cs := fakeClientset(fakeDestinationRule("stable", "canary"), fakeVirtualService())
	r := newUnitRouter(t, cs, Options{})
	conflicts := 0
	cs.PrependReactor("update", vsResource, func(k8stesting.Action) (bool, runtime.Object, error) {
		if conflicts == 3 {
			return false, nil, nil
		}
		conflicts++
		if conflicts == 1 {
			// Someone else writes the VirtualService between the router's read
			// and its Update.
			vs, err := cs.Tracker().Get(istiov1.SchemeGroupVersion.WithResource(vsResource), testNS, "checkout")
			if err != nil {
				return true, nil, err
			}
			other := vs.(*istiov1.VirtualService).DeepCopy()
			other.Spec.Http = slices.Insert(other.Spec.Http, 0, &networkingv1.HTTPRoute{
				Name:  "health",
				Match: []*networkingv1.HTTPMatchRequest{{Uri: &networkingv1.StringMatch{MatchType: &networkingv1.StringMatch_Exact{Exact: "/healthz"}}}},
				Route: []*networkingv1.HTTPRouteDestination{{Destination: &networkingv1.Destination{Host: "health"}}},
			})
			if err := cs.Tracker().Update(istiov1.SchemeGroupVersion.WithResource(vsResource), other, testNS); err != nil {
				return true, nil, err
			}
		}
		return true, nil, apierrors.NewConflict(istiov1.Resource(vsResource), "checkout", errors.New("the object has been modified"))
	})

	require.NoError(t, r.SetRoutes(unitCtx(t), testTarget, progressive.WeightedRoutes(30)))
	assert.Equal(t, 3, conflicts)
	assert.Equal(t, 4, countUpdates(cs), "three lost Updates and the one that won")
	vs := getFakeVS(t, cs)
	assert.Equal(t, []string{"health", "admin", "progressive-checkout", "default"}, httpRouteNames(vs))
	got, err := r.GetRoutes(unitCtx(t), testTarget)
	require.NoError(t, err)
	assert.Equal(t, progressive.WeightedRoutes(30), got)
}

// TestUnitConflictsExhausted: when every Update loses, SetRoutes gives up with
// progressive.ErrConflict naming the VirtualService, and the routes are those
// before.
func TestUnitConflictsExhausted(t *testing.T) {
	fastConflicts(t)
	cs := fakeClientset(fakeDestinationRule("stable", "canary"), fakeVirtualService())
	r := newUnitRouter(t, cs, Options{})
	require.NoError(t, r.SetRoutes(unitCtx(t), testTarget, progressive.WeightedRoutes(10)))
	cs.PrependReactor("update", vsResource, func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewConflict(istiov1.Resource(vsResource), "checkout", errors.New("the object has been modified"))
	})
	before := countUpdates(cs)
	err := r.SetRoutes(unitCtx(t), testTarget, progressive.WeightedRoutes(40))
	require.ErrorIs(t, err, progressive.ErrConflict)
	assert.Contains(t, err.Error(), "update VirtualService shop/checkout")
	assert.Equal(t, conflictBackoff.Steps, countUpdates(cs)-before, "one Update per step of conflictBackoff")
	got, err := r.GetRoutes(unitCtx(t), testTarget)
	require.NoError(t, err)
	assert.Equal(t, progressive.WeightedRoutes(10), got)
}

// TestUnitFailedUpdateLeavesRoutes: an Update the apiserver refuses leaves the
// previous routes, sticky route and cookie included, and the error says what
// kind of failure it was.
func TestUnitFailedUpdateLeavesRoutes(t *testing.T) {
	cs := fakeClientset(fakeDestinationRule("stable", "canary"), fakeVirtualService())
	r := newUnitRouter(t, cs, Options{SessionAffinity: &SessionAffinity{CookieName: "canary", MaxAge: time.Hour}})
	require.NoError(t, r.SetRoutes(unitCtx(t), testTarget, progressive.WeightedRoutes(20)))
	before := getFakeVS(t, cs)

	for name, c := range map[string]struct {
		err      error
		sentinel error
	}{
		"internal":  {apierrors.NewInternalError(errors.New("etcd is down")), progressive.ErrTransient},
		"forbidden": {apierrors.NewForbidden(istiov1.Resource(vsResource), "checkout", errors.New("RBAC")), progressive.ErrInvalid},
	} {
		t.Run(name, func(t *testing.T) {
			cs.PrependReactor("update", vsResource, func(k8stesting.Action) (bool, runtime.Object, error) { return true, nil, c.err })
			t.Cleanup(func() { cs.ReactionChain = cs.ReactionChain[1:] })
			for _, routes := range []progressive.Routes{progressive.WeightedRoutes(60), progressive.AllStable()} {
				err := r.SetRoutes(unitCtx(t), testTarget, routes)
				require.ErrorIs(t, err, c.sentinel)
				assert.Contains(t, err.Error(), "update VirtualService shop/checkout")
			}
			require.ErrorIs(t, r.Finalize(unitCtx(t), testTarget), c.sentinel)
			got, err := r.GetRoutes(unitCtx(t), testTarget)
			require.NoError(t, err)
			assert.Equal(t, progressive.WeightedRoutes(20), got)
			after := getFakeVS(t, cs)
			assert.True(t, routesEqual(before.Spec.Http, after.Spec.Http), "routes changed by failed Updates:\n%s\n%s",
				routesString(before.Spec.Http), routesString(after.Spec.Http))
			assert.Equal(t, before.Annotations, after.Annotations)
		})
	}
}

// TestUnitReadBackMismatch: a write that the apiserver stores other than sent
// (a mutating admission webhook, say) is progressive.ErrConflict showing both.
func TestUnitReadBackMismatch(t *testing.T) {
	cs := fakeClientset(fakeDestinationRule("stable", "canary"), fakeVirtualService())
	r := newUnitRouter(t, cs, Options{})
	cs.PrependReactor("update", vsResource, func(a k8stesting.Action) (bool, runtime.Object, error) {
		vs := a.(k8stesting.UpdateAction).GetObject().(*istiov1.VirtualService)
		if route := findRoute(vs, "progressive-checkout"); route != nil {
			route.Route[1].Weight = 7
			route.Route[0].Weight = 93
		}
		return false, nil, nil // the tracker stores the mutated object
	})
	err := r.SetRoutes(unitCtx(t), testTarget, progressive.WeightedRoutes(10))
	require.ErrorIs(t, err, progressive.ErrConflict)
	assert.Contains(t, err.Error(), "read back")
	assert.Contains(t, err.Error(), `"weight":7`)
}

// TestUnitCollision: a user route carrying one of the router's names, the
// sticky one included, is refused, by Finalize too, and nothing is written.
func TestUnitCollision(t *testing.T) {
	for _, name := range []string{"progressive-checkout", "progressive-checkout-ab", "progressive-checkout-sticky"} {
		t.Run(name, func(t *testing.T) {
			user := &networkingv1.HTTPRoute{
				Name:  name,
				Match: []*networkingv1.HTTPMatchRequest{{Uri: &networkingv1.StringMatch{MatchType: &networkingv1.StringMatch_Prefix{Prefix: "/old"}}}},
				Route: []*networkingv1.HTTPRouteDestination{{Destination: &networkingv1.Destination{Host: "old"}}},
			}
			cs := fakeClientset(fakeDestinationRule("stable", "canary"), fakeVirtualService(user))
			r := newUnitRouter(t, cs, Options{})
			err := r.SetRoutes(unitCtx(t), testTarget, progressive.WeightedRoutes(10))
			require.ErrorIs(t, err, progressive.ErrInvalid)
			assert.Contains(t, err.Error(), `route "`+name+`" that the router did not add`)
			require.ErrorIs(t, r.Initialize(unitCtx(t), testTarget), progressive.ErrInvalid)
			require.ErrorIs(t, r.Finalize(unitCtx(t), testTarget), progressive.ErrInvalid)
			assert.Zero(t, countUpdates(cs))
		})
	}
}

// TestUnitMissingSubset: a DestinationRule without the canary subset is
// progressive.ErrInvalid naming the subset, before any write; a missing
// DestinationRule without Options.Create is progressive.ErrNotFound.
func TestUnitMissingSubset(t *testing.T) {
	cs := fakeClientset(fakeDestinationRule("stable", "v2"), fakeVirtualService())
	r := newUnitRouter(t, cs, Options{})
	err := r.SetRoutes(unitCtx(t), testTarget, progressive.WeightedRoutes(10))
	require.ErrorIs(t, err, progressive.ErrInvalid)
	assert.Contains(t, err.Error(), `DestinationRule shop/checkout has no subset "canary"`)
	assert.Zero(t, countUpdates(cs))

	// The subsets are configurable: the same DestinationRule is fine with v2.
	r = newUnitRouter(t, cs, Options{CanarySubset: "v2"})
	require.NoError(t, r.SetRoutes(unitCtx(t), testTarget, progressive.WeightedRoutes(10)))
	got, err := r.GetRoutes(unitCtx(t), testTarget)
	require.NoError(t, err)
	assert.Equal(t, progressive.WeightedRoutes(10), got)

	cs = fakeClientset(fakeVirtualService())
	err = newUnitRouter(t, cs, Options{}).SetRoutes(unitCtx(t), testTarget, progressive.WeightedRoutes(10))
	require.ErrorIs(t, err, progressive.ErrNotFound)
	assert.Contains(t, err.Error(), "DestinationRule shop/checkout")
}

// TestUnitCRDMissing: a cluster that does not serve the Istio resources gets
// progressive.ErrNotFound saying how to install them, from every call.
func TestUnitCRDMissing(t *testing.T) {
	cs := fake.NewSimpleClientset()
	r := newUnitRouter(t, cs, Options{Create: true})
	err := r.SetRoutes(unitCtx(t), testTarget, progressive.WeightedRoutes(10))
	require.ErrorIs(t, err, progressive.ErrNotFound)
	assert.Contains(t, err.Error(), "virtualservices.networking.istio.io")
	_, err = r.GetRoutes(unitCtx(t), testTarget)
	require.ErrorIs(t, err, progressive.ErrNotFound)
	require.ErrorIs(t, r.Finalize(unitCtx(t), testTarget), progressive.ErrNotFound)
	for _, a := range cs.Actions() {
		assert.NotContains(t, []string{vsResource, drResource}, a.GetResource().Resource, "only discovery, no %s", a.GetVerb())
	}
}

// TestUnitBadSessionAffinity: options the router could not write are refused
// by New and NewForClients, naming the field and the value.
func TestUnitBadSessionAffinity(t *testing.T) {
	cases := []struct {
		sa    SessionAffinity
		field string
		value string
	}{
		{SessionAffinity{CookieName: "", MaxAge: time.Hour}, "sessionAffinity.cookieName", `""`},
		{SessionAffinity{CookieName: "canary session", MaxAge: time.Hour}, "sessionAffinity.cookieName", `"canary session"`},
		{SessionAffinity{CookieName: "canary;", MaxAge: time.Hour}, "sessionAffinity.cookieName", `"canary;"`},
		{SessionAffinity{CookieName: "a=b", MaxAge: time.Hour}, "sessionAffinity.cookieName", `"a=b"`},
		{SessionAffinity{CookieName: "cañary", MaxAge: time.Hour}, "sessionAffinity.cookieName", `"cañary"`},
		{SessionAffinity{CookieName: "canary", MaxAge: 0}, "sessionAffinity.maxAge", `"0s"`},
		{SessionAffinity{CookieName: "canary", MaxAge: -time.Minute}, "sessionAffinity.maxAge", `"-1m0s"`},
		{SessionAffinity{CookieName: "canary", MaxAge: 1500 * time.Millisecond}, "sessionAffinity.maxAge", `"1.5s"`},
	}
	for _, c := range cases {
		opts := Options{SessionAffinity: &c.sa}
		_, err := NewForClients(fakeClientset(), nil, opts)
		require.ErrorIs(t, err, progressive.ErrInvalid, "%+v", c.sa)
		assert.Contains(t, err.Error(), c.field)
		assert.Contains(t, err.Error(), c.value)
		_, err = New(nil, opts)
		require.ErrorIs(t, err, progressive.ErrInvalid, "New must refuse %+v before it needs a config", c.sa)
	}
	for _, ok := range []SessionAffinity{{CookieName: "canary", MaxAge: time.Second}, {CookieName: "x-Canary_1.v~!", MaxAge: 24 * time.Hour}} {
		_, err := NewForClients(fakeClientset(), nil, Options{SessionAffinity: &ok})
		assert.NoError(t, err, "%+v", ok)
	}
}

// stickyState is what session affinity wrote into the VirtualService.
type stickyState struct {
	setCookie string // the Set-Cookie the weighted route's canary destination adds
	regex     string // the Cookie header regex of the sticky route
}

func readSticky(t *testing.T, vs *istiov1.VirtualService) (stickyState, bool) {
	t.Helper()
	weighted := findRoute(vs, "progressive-checkout")
	require.NotNil(t, weighted)
	require.Len(t, weighted.Route, 2)
	assert.Nil(t, weighted.Route[0].GetHeaders(), "the stable destination sets no cookie")
	sticky := findRoute(vs, "progressive-checkout-sticky")
	setCookie := weighted.Route[1].GetHeaders().GetResponse().GetAdd()[setCookieHeader]
	if sticky == nil {
		assert.Empty(t, setCookie, "no Set-Cookie without the sticky route")
		assert.NotContains(t, vs.Annotations[RoutesAnnotation], "sticky")
		return stickyState{}, false
	}
	assert.Contains(t, strings.Split(vs.Annotations[RoutesAnnotation], ","), "progressive-checkout-sticky")
	require.Len(t, sticky.Match, 1)
	require.Len(t, sticky.Route, 1)
	assert.Equal(t, "canary", sticky.Route[0].GetDestination().GetSubset())
	return stickyState{setCookie: setCookie, regex: sticky.Match[0].GetHeaders()[cookieHeader].GetRegex()}, true
}

// cookieOf is the name=value pair a browser sends back for a Set-Cookie.
func cookieOf(setCookie string) string { pair, _, _ := strings.Cut(setCookie, ";"); return pair }

// TestUnitSessionAffinity follows a rollout with sticky sessions: the canary's
// responses set the cookie, the sticky route (ahead of the weights, behind the
// A/B route) matches exactly that cookie, the cookie keeps its value while the
// weights move, goes at 100 and at a rollback, and a new rollout gets a new
// value, so an earlier canary's users do not stick to the next one. GetRoutes
// never reports the sticky route.
func TestUnitSessionAffinity(t *testing.T) {
	cs := fakeClientset(fakeDestinationRule("stable", "canary"), fakeVirtualService())
	r := newUnitRouter(t, cs, Options{SessionAffinity: &SessionAffinity{CookieName: "canary-session", MaxAge: 90 * time.Minute}})

	ab := progressive.Routes{StableWeight: 90, CanaryWeight: 10,
		Matches: []progressive.Match{{Kind: progressive.MatchCookie, Name: "beta", Value: "true"}}}
	require.NoError(t, r.SetRoutes(unitCtx(t), testTarget, ab))
	vs := getFakeVS(t, cs)
	assert.Equal(t, []string{"admin", "progressive-checkout-ab", "progressive-checkout-sticky", "progressive-checkout", "default"}, httpRouteNames(vs))
	first, ok := readSticky(t, vs)
	require.True(t, ok)
	assert.Regexp(t, `^canary-session=[A-Z2-7]{26}; Max-Age=5400; Path=/$`, first.setCookie)
	re := regexp.MustCompile(first.regex)
	cookie := cookieOf(first.setCookie)
	assert.True(t, re.MatchString(cookie), "%q must match %q", first.regex, cookie)
	assert.True(t, re.MatchString("beta=false; "+cookie+"; theme=dark"))
	assert.False(t, re.MatchString("canary-session=OTHER"))
	assert.False(t, re.MatchString("x"+cookie))
	got, err := r.GetRoutes(unitCtx(t), testTarget)
	require.NoError(t, err)
	assert.Equal(t, ab, got, "the sticky route is no A/B match")

	for _, w := range []float64{25, 50, 99} {
		require.NoError(t, r.SetRoutes(unitCtx(t), testTarget, progressive.WeightedRoutes(w)))
		st, ok := readSticky(t, getFakeVS(t, cs))
		require.True(t, ok, "weight %v", w)
		assert.Equal(t, first, st, "the cookie keeps its value while the weights move (weight %v)", w)
		got, err := r.GetRoutes(unitCtx(t), testTarget)
		require.NoError(t, err)
		assert.Equal(t, progressive.WeightedRoutes(w), got)
	}
	updates := countUpdates(cs)
	require.NoError(t, r.SetRoutes(unitCtx(t), testTarget, progressive.WeightedRoutes(99)))
	assert.Equal(t, updates, countUpdates(cs), "an unchanged SetRoutes writes nothing, sticky route included")

	for _, routes := range []progressive.Routes{progressive.WeightedRoutes(100), progressive.AllStable()} {
		require.NoError(t, r.SetRoutes(unitCtx(t), testTarget, routes))
		_, ok = readSticky(t, getFakeVS(t, cs))
		assert.False(t, ok, "no sticky route at %+v", routes)
		got, err = r.GetRoutes(unitCtx(t), testTarget)
		require.NoError(t, err)
		assert.Equal(t, routes, got)
	}

	require.NoError(t, r.SetRoutes(unitCtx(t), testTarget, progressive.WeightedRoutes(10)))
	second, ok := readSticky(t, getFakeVS(t, cs))
	require.True(t, ok)
	assert.NotEqual(t, first.setCookie, second.setCookie, "a new rollout gets a new cookie value")
	assert.False(t, regexp.MustCompile(second.regex).MatchString(cookie), "the last rollout's cookie must not stick to this canary")

	require.NoError(t, r.Finalize(unitCtx(t), testTarget))
	vs = getFakeVS(t, cs)
	assert.Equal(t, []string{"admin", "default"}, httpRouteNames(vs))
	assert.NotContains(t, vs.Annotations, RoutesAnnotation)
}

// TestUnitSessionAffinityURIPrefix: with Options.URIPrefix the sticky route is
// restricted to the prefix like the router's other routes, so a sticky user's
// requests to other paths of a shared VirtualService are not captured.
func TestUnitSessionAffinityURIPrefix(t *testing.T) {
	cs := fakeClientset(fakeDestinationRule("stable", "canary"), fakeVirtualService())
	r := newUnitRouter(t, cs, Options{URIPrefix: "/checkout", SessionAffinity: &SessionAffinity{CookieName: "c", MaxAge: time.Minute}})
	require.NoError(t, r.SetRoutes(unitCtx(t), testTarget, progressive.WeightedRoutes(10)))
	sticky := findRoute(getFakeVS(t, cs), "progressive-checkout-sticky")
	require.NotNil(t, sticky)
	require.Len(t, sticky.Match, 1)
	assert.Equal(t, "/checkout", sticky.Match[0].GetUri().GetPrefix())
	assert.NotEmpty(t, sticky.Match[0].GetHeaders()[cookieHeader].GetRegex())
}
