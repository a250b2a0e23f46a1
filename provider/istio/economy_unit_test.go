package istio

import (
	"errors"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	networkingv1 "istio.io/api/networking/v1"
	istiov1 "istio.io/client-go/pkg/apis/networking/v1"
	"istio.io/client-go/pkg/clientset/versioned/fake"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	k8sfake "k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/agentops/progressive"
)

// The fake clientset's tracker ignores resourceVersions; guardVersions makes
// it behave as the apiserver does for VirtualServices: an Update carrying
// another resourceVersion than the stored one is a Conflict, and every write
// stores a new one. userEdit writes the VirtualService as a user would.
type versionGuard struct {
	cs *fake.Clientset
	mu sync.Mutex
	rv int
}

var vsGVR = istiov1.SchemeGroupVersion.WithResource(vsResource)

func guardVersions(cs *fake.Clientset) *versionGuard {
	g := &versionGuard{cs: cs, rv: 100}
	cs.PrependReactor("update", vsResource, func(a k8stesting.Action) (bool, runtime.Object, error) {
		vs := a.(k8stesting.UpdateAction).GetObject().(*istiov1.VirtualService)
		cur, err := cs.Tracker().Get(vsGVR, vs.Namespace, vs.Name)
		if err != nil {
			return true, nil, err
		}
		if have := cur.(*istiov1.VirtualService).ResourceVersion; have != vs.ResourceVersion {
			return true, nil, apierrors.NewConflict(istiov1.Resource(vsResource), vs.Name,
				errors.New("the object has been modified; please apply your changes to the latest version and try again"))
		}
		vs.ResourceVersion = g.next()
		return false, nil, nil // the tracker stores it and returns what it stored
	})
	return g
}

func (g *versionGuard) next() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.rv++
	return strconv.Itoa(g.rv)
}

// userEdit changes the stored VirtualService behind the router's back.
func (g *versionGuard) userEdit(t *testing.T, edit func(*istiov1.VirtualService)) {
	t.Helper()
	cur, err := g.cs.Tracker().Get(vsGVR, testNS, "checkout")
	require.NoError(t, err)
	vs := cur.(*istiov1.VirtualService).DeepCopy()
	edit(vs)
	vs.ResourceVersion = g.next()
	require.NoError(t, g.cs.Tracker().Update(vsGVR, vs, testNS))
}

// calls tallies the requests sent by verb and resource, discovery included.
func calls(actions ...[]k8stesting.Action) map[string]int {
	out := map[string]int{}
	for _, as := range actions {
		for _, a := range as {
			out[a.GetVerb()+" "+a.GetResource().Resource]++
		}
	}
	return out
}

func healthRoute() *networkingv1.HTTPRoute {
	return &networkingv1.HTTPRoute{
		Name:  "health",
		Match: []*networkingv1.HTTPMatchRequest{{Uri: &networkingv1.StringMatch{MatchType: &networkingv1.StringMatch_Exact{Exact: "/healthz"}}}},
		Route: []*networkingv1.HTTPRouteDestination{{Destination: &networkingv1.Destination{Host: "health"}}},
	}
}

// economyFixture is a router with the Service, DestinationRule and
// VirtualService of checkout, resourceVersion-guarded, after its first
// SetRoutes (at 10%), with the actions cleared.
func economyFixture(t *testing.T, opts Options) (*Router, *fake.Clientset, *k8sfake.Clientset, *versionGuard) {
	t.Helper()
	cs := fakeClientset(fakeDestinationRule("stable", "canary"), fakeVirtualService())
	kube := k8sfake.NewClientset(&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "checkout", Namespace: testNS}})
	g := guardVersions(cs)
	r, err := NewForClients(cs, kube, opts)
	require.NoError(t, err)
	require.NoError(t, r.SetRoutes(unitCtx(t), testTarget, progressive.WeightedRoutes(10)))
	first := calls(cs.Actions(), kube.Actions())
	t.Logf("first SetRoutes: %v", first)
	assert.Equal(t, 1, first["get services"], "the first SetRoutes checks the Service")
	assert.Equal(t, 1, first["get destinationrules"], "and the DestinationRule")
	assert.Equal(t, 1, first["update virtualservices"])
	cs.ClearActions()
	kube.ClearActions()
	return r, cs, kube, g
}

// TestUnitSteadyStateRequests: after the first SetRoutes, a traffic change is
// one Update and no read, GetRoutes one Get, and an unchanged SetRoutes one
// Get (confirming what the router remembers) and no write.
func TestUnitSteadyStateRequests(t *testing.T) {
	r, cs, kube, _ := economyFixture(t, Options{SessionAffinity: &SessionAffinity{CookieName: "canary", MaxAge: time.Hour}})
	ab := progressive.Routes{StableWeight: 80, CanaryWeight: 20,
		Matches: []progressive.Match{{Kind: progressive.MatchHeader, Name: "x-version", Value: "green"}}}
	for _, routes := range []progressive.Routes{progressive.WeightedRoutes(15), ab, progressive.WeightedRoutes(50), progressive.WeightedRoutes(100), progressive.AllStable()} {
		require.NoError(t, r.SetRoutes(unitCtx(t), testTarget, routes))
		assert.Equal(t, map[string]int{"update virtualservices": 1}, calls(cs.Actions(), kube.Actions()), "SetRoutes(%+v)", routes)
		cs.ClearActions()
		got, err := r.GetRoutes(unitCtx(t), testTarget)
		require.NoError(t, err)
		assert.Equal(t, routes, got)
		assert.Empty(t, calls(cs.Actions(), kube.Actions()), "GetRoutes right after SetRoutes: the Update's answer")
		got, err = r.GetRoutes(unitCtx(t), testTarget)
		require.NoError(t, err)
		assert.Equal(t, routes, got)
		assert.Equal(t, map[string]int{"get virtualservices": 1}, calls(cs.Actions(), kube.Actions()), "a later GetRoutes")
		cs.ClearActions()
	}
	require.NoError(t, r.SetRoutes(unitCtx(t), testTarget, progressive.AllStable()))
	assert.Equal(t, map[string]int{"get virtualservices": 1}, calls(cs.Actions(), kube.Actions()), "an unchanged SetRoutes")
	cs.ClearActions()

	// Without a GetRoutes in between (the Update's response is remembered).
	for _, w := range []float64{5, 6, 7} {
		require.NoError(t, r.SetRoutes(unitCtx(t), testTarget, progressive.WeightedRoutes(w)))
	}
	assert.Equal(t, map[string]int{"update virtualservices": 3}, calls(cs.Actions(), kube.Actions()))
	cs.ClearActions()

	require.NoError(t, r.Finalize(unitCtx(t), testTarget))
	assert.Equal(t, map[string]int{"get virtualservices": 1, "update virtualservices": 1}, calls(cs.Actions(), kube.Actions()), "Finalize")
	assert.Equal(t, []string{"admin", "default"}, httpRouteNames(getFakeVS(t, cs)))
}

// TestUnitSteadyStateConflict: a user's edit between two SetRoutes makes the
// Update from the remembered VirtualService conflict; the router reads it
// again and writes on top of the edit, and then remembers the result.
func TestUnitSteadyStateConflict(t *testing.T) {
	r, cs, kube, g := economyFixture(t, Options{})
	g.userEdit(t, func(vs *istiov1.VirtualService) { vs.Spec.Http = slices.Insert(vs.Spec.Http, 0, healthRoute()) })

	require.NoError(t, r.SetRoutes(unitCtx(t), testTarget, progressive.WeightedRoutes(30)))
	assert.Equal(t, map[string]int{"update virtualservices": 2, "get virtualservices": 1}, calls(cs.Actions(), kube.Actions()),
		"the Update conflicts, the VirtualService is read again, the Update retried")
	assert.Equal(t, []string{"health", "admin", "progressive-checkout", "default"}, httpRouteNames(getFakeVS(t, cs)), "the user's route is kept")
	cs.ClearActions()

	require.NoError(t, r.SetRoutes(unitCtx(t), testTarget, progressive.WeightedRoutes(40)))
	assert.Equal(t, map[string]int{"update virtualservices": 1}, calls(cs.Actions(), kube.Actions()), "back to one Update")
	got, err := r.GetRoutes(unitCtx(t), testTarget)
	require.NoError(t, err)
	assert.Equal(t, progressive.WeightedRoutes(40), got)
	assert.Equal(t, []string{"health", "admin", "progressive-checkout", "default"}, httpRouteNames(getFakeVS(t, cs)))

	// A user's route added with one of the router's names is a collision
	// found on the retry: refused, nothing written, and the router forgets the
	// target (its next SetRoutes validates everything again).
	g.userEdit(t, func(vs *istiov1.VirtualService) {
		h := healthRoute()
		h.Name = "progressive-checkout-ab"
		vs.Spec.Http = slices.Insert(vs.Spec.Http, 0, h)
	})
	before := getFakeVS(t, cs)
	cs.ClearActions()
	err = r.SetRoutes(unitCtx(t), testTarget, progressive.WeightedRoutes(50))
	require.ErrorIs(t, err, progressive.ErrInvalid)
	assert.Contains(t, err.Error(), `route "progressive-checkout-ab" that the router did not add`)
	assert.Equal(t, before, getFakeVS(t, cs))
	g.userEdit(t, func(vs *istiov1.VirtualService) { vs.Spec.Http = vs.Spec.Http[1:] })
	cs.ClearActions()
	kube.ClearActions()
	require.NoError(t, r.SetRoutes(unitCtx(t), testTarget, progressive.WeightedRoutes(50)))
	c := calls(cs.Actions(), kube.Actions())
	assert.Equal(t, 1, c["get services"], "validated again after a collision: %v", c)
	assert.Equal(t, 1, c["get destinationrules"], "validated again after a collision: %v", c)
}

// TestUnitStaleMemoryNoWriteIsConfirmed: what the router remembers says the
// routes are already as asked, but a user changed them meanwhile: the router
// reads the VirtualService before concluding, and writes.
func TestUnitStaleMemoryNoWriteIsConfirmed(t *testing.T) {
	r, cs, kube, g := economyFixture(t, Options{})
	g.userEdit(t, func(vs *istiov1.VirtualService) {
		route := findRoute(vs, "progressive-checkout")
		route.Route[0].Weight, route.Route[1].Weight = 100, 0
	})
	require.NoError(t, r.SetRoutes(unitCtx(t), testTarget, progressive.WeightedRoutes(10)))
	assert.Equal(t, map[string]int{"get virtualservices": 1, "update virtualservices": 1}, calls(cs.Actions(), kube.Actions()))
	got, err := r.GetRoutes(unitCtx(t), testTarget)
	require.NoError(t, err)
	assert.Equal(t, progressive.WeightedRoutes(10), got)
}

// TestUnitSteadyStateConflictReactor: Conflicts injected on the steady-state
// Update are retried from fresh reads, as on the first.
func TestUnitSteadyStateConflictReactor(t *testing.T) {
	r, cs, kube, _ := economyFixture(t, Options{})
	conflicts := 0
	cs.PrependReactor("update", vsResource, func(k8stesting.Action) (bool, runtime.Object, error) {
		if conflicts == 2 {
			return false, nil, nil
		}
		conflicts++
		return true, nil, apierrors.NewConflict(istiov1.Resource(vsResource), "checkout", errors.New("the object has been modified"))
	})
	require.NoError(t, r.SetRoutes(unitCtx(t), testTarget, progressive.WeightedRoutes(60)))
	assert.Equal(t, map[string]int{"update virtualservices": 3, "get virtualservices": 2}, calls(cs.Actions(), kube.Actions()))
	got, err := r.GetRoutes(unitCtx(t), testTarget)
	require.NoError(t, err)
	assert.Equal(t, progressive.WeightedRoutes(60), got)
}

// TestUnitSteadyStateMutated: an Update stored other than sent, in steady
// state, is progressive.ErrConflict from the Update's response alone (no Get),
// and the router forgets the target.
func TestUnitSteadyStateMutated(t *testing.T) {
	r, cs, kube, _ := economyFixture(t, Options{})
	cs.PrependReactor("update", vsResource, func(a k8stesting.Action) (bool, runtime.Object, error) {
		vs := a.(k8stesting.UpdateAction).GetObject().(*istiov1.VirtualService)
		if route := findRoute(vs, "progressive-checkout"); route != nil {
			route.Route[0].Weight, route.Route[1].Weight = 93, 7
		}
		return false, nil, nil
	})
	err := r.SetRoutes(unitCtx(t), testTarget, progressive.WeightedRoutes(20))
	require.ErrorIs(t, err, progressive.ErrConflict)
	assert.Contains(t, err.Error(), "read back")
	assert.Contains(t, err.Error(), `"weight":7`)
	assert.Equal(t, map[string]int{"update virtualservices": 1}, calls(cs.Actions(), kube.Actions()))
	cs.ReactionChain = cs.ReactionChain[1:]
	cs.ClearActions()
	require.NoError(t, r.SetRoutes(unitCtx(t), testTarget, progressive.WeightedRoutes(20)))
	assert.Equal(t, 1, calls(kube.Actions())["get services"], "validated again")
}

// TestUnitSteadyStateDeleted: a VirtualService deleted between two SetRoutes
// is created again (Options.Create) by the second, as before; without Create
// it is progressive.ErrNotFound.
func TestUnitSteadyStateDeleted(t *testing.T) {
	for _, create := range []bool{true, false} {
		r, cs, _, _ := economyFixture(t, Options{Create: create})
		require.NoError(t, cs.Tracker().Delete(vsGVR, testNS, "checkout"))
		err := r.SetRoutes(unitCtx(t), testTarget, progressive.WeightedRoutes(30))
		if !create {
			require.ErrorIs(t, err, progressive.ErrNotFound)
			assert.Contains(t, err.Error(), "VirtualService shop/checkout")
			continue
		}
		require.NoError(t, err)
		got, err := r.GetRoutes(unitCtx(t), testTarget)
		require.NoError(t, err)
		assert.Equal(t, progressive.WeightedRoutes(30), got)
	}
}

// TestUnitFinalizeForgets: after Finalize the next SetRoutes validates
// everything again (a DestinationRule that lost its canary subset meanwhile
// is refused, not written to).
func TestUnitFinalizeForgets(t *testing.T) {
	r, cs, _, _ := economyFixture(t, Options{})
	require.NoError(t, r.Finalize(unitCtx(t), testTarget))
	require.NoError(t, cs.Tracker().Update(istiov1.SchemeGroupVersion.WithResource(drResource), fakeDestinationRule("stable"), testNS))
	updates := countUpdates(cs)
	err := r.SetRoutes(unitCtx(t), testTarget, progressive.WeightedRoutes(10))
	require.ErrorIs(t, err, progressive.ErrInvalid)
	assert.Contains(t, err.Error(), `no subset "canary"`)
	assert.Equal(t, updates, countUpdates(cs))
}

// TestUnitMemoBounded: the router remembers at most maxMemos targets.
func TestUnitMemoBounded(t *testing.T) {
	r := newUnitRouter(t, fakeClientset(), Options{})
	for i := range maxMemos + 10 {
		r.remember(strconv.Itoa(i), nil)
	}
	assert.Len(t, r.targets, maxMemos)
}
