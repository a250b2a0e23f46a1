package istio_test

import (
	"context"
	"net/http"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/provider/istio"
)

// requestLog counts the HTTP requests a router sends to the apiserver.
type requestLog struct {
	mu   sync.Mutex
	reqs []string
}

func (l *requestLog) RoundTrip(next http.RoundTripper) http.RoundTripper {
	return roundTripper(func(req *http.Request) (*http.Response, error) {
		l.mu.Lock()
		l.reqs = append(l.reqs, req.Method+" "+req.URL.Path)
		l.mu.Unlock()
		return next.RoundTrip(req)
	})
}

// take returns the requests logged since the last take.
func (l *requestLog) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.reqs
	l.reqs = nil
	return out
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }

// TestRequestsPerTrafficChange counts, on the real apiserver, what one traffic
// change of the runner costs (SetRoutes, then its GetRoutes read-back): after
// the first, which validates the Service, the DestinationRule and the
// VirtualService, a SetRoutes is one Update and a GetRoutes one Get.
func TestRequestsPerTrafficChange(t *testing.T) {
	e := env.Require(t)
	for _, adopt := range []bool{false, true} {
		name := map[bool]string{false: "Create", true: "Adopt"}[adopt]
		t.Run(name, func(t *testing.T) {
			ns := namespace(t, e)
			if adopt {
				create(t, e.Dynamic(), drGVR, ns, destinationRule("checkout", "checkout", "stable", "canary"))
				create(t, e.Dynamic(), vsGVR, ns, userVirtualService("checkout", "checkout"))
			}
			log := &requestLog{}
			cfg := e.Config()
			cfg.Wrap(log.RoundTrip)
			r, err := istio.New(cfg, istio.Options{Create: !adopt})
			require.NoError(t, err)
			tg := progressive.Target{Namespace: ns, Name: "checkout"}

			require.NoError(t, r.Initialize(ctx(t), tg))
			init := log.take()
			t.Logf("Initialize: %d requests %q", len(init), init)
			for i, w := range []float64{10, 20, 50, 80, 100} {
				require.NoError(t, r.SetRoutes(ctx(t), tg, progressive.WeightedRoutes(w)))
				set := log.take()
				got, err := r.GetRoutes(ctx(t), tg)
				require.NoError(t, err)
				assert.Equal(t, progressive.WeightedRoutes(w), got)
				read := log.take()
				t.Logf("step %d (weight %v): SetRoutes %d requests %q, GetRoutes %d requests %q", i, w, len(set), set, len(read), read)
				assert.Len(t, set, 1, "SetRoutes in steady state: the Update alone")
				assert.Empty(t, read, "GetRoutes right after SetRoutes: the Update's answer, checked when written")
				again, err := r.GetRoutes(ctx(t), tg)
				require.NoError(t, err)
				assert.Equal(t, progressive.WeightedRoutes(w), again)
				assert.Len(t, log.take(), 1, "any later GetRoutes: one Get")
			}
			require.NoError(t, r.SetRoutes(ctx(t), tg, progressive.WeightedRoutes(100)))
			same := log.take()
			t.Logf("unchanged SetRoutes: %d requests %q", len(same), same)
			assert.Len(t, same, 1, "an unchanged SetRoutes confirms with one Get and writes nothing")
			require.NoError(t, r.Finalize(ctx(t), tg))
			fin := log.take()
			t.Logf("Finalize: %d requests %q", len(fin), fin)
			assert.LessOrEqual(t, len(fin), 2)
		})
	}
}

// TestConcurrentEditNotLost: a user's edit of the VirtualService between two
// SetRoutes (here a route added ahead of the router's, and the router's weight
// changed by hand) is not overwritten by the router's next Update from what it
// remembers: the Update is guarded by the resourceVersion, conflicts, and is
// retried from a fresh read, keeping the user's route.
func TestConcurrentEditNotLost(t *testing.T) {
	e := env.Require(t)
	ns := namespace(t, e)
	create(t, e.Dynamic(), drGVR, ns, destinationRule("checkout", "checkout", "stable", "canary"))
	create(t, e.Dynamic(), vsGVR, ns, userVirtualService("checkout", "checkout"))
	r := newRouter(t, e, istio.Options{})
	tg := progressive.Target{Namespace: ns, Name: "checkout"}
	require.NoError(t, r.SetRoutes(ctx(t), tg, progressive.WeightedRoutes(10)))
	require.NoError(t, r.SetRoutes(ctx(t), tg, progressive.WeightedRoutes(20)))

	// The user adds a route, with kubectl say, behind the router's back.
	vs := getVS(t, e, ns, "checkout")
	routes, _, err := unstructured.NestedSlice(vs.Object, "spec", "http")
	require.NoError(t, err)
	routes = append([]any{map[string]any{
		"name":  "health",
		"match": []any{map[string]any{"uri": map[string]any{"exact": "/healthz"}}},
		"route": []any{map[string]any{"destination": map[string]any{"host": "health"}}},
	}}, routes...)
	require.NoError(t, unstructured.SetNestedSlice(vs.Object, routes, "spec", "http"))
	_, err = e.Dynamic().Resource(vsGVR).Namespace(ns).Update(context.Background(), vs, metav1.UpdateOptions{})
	require.NoError(t, err)

	require.NoError(t, r.SetRoutes(ctx(t), tg, progressive.WeightedRoutes(30)))
	assert.Equal(t, []string{"health", "admin", "progressive-checkout", "default"}, routeNames(getVS(t, e, ns, "checkout")),
		"the user's route must survive the router's next write")
	got, err := r.GetRoutes(ctx(t), tg)
	require.NoError(t, err)
	assert.Equal(t, progressive.WeightedRoutes(30), got)

	// The user sets the router's weight back by hand, then the router is asked
	// for that very weight again: what it remembers says nothing to do, but the
	// apiserver has other routes, so it must read and write.
	require.NoError(t, r.SetRoutes(ctx(t), tg, progressive.WeightedRoutes(40)))
	vs = getVS(t, e, ns, "checkout")
	routes, _, _ = unstructured.NestedSlice(vs.Object, "spec", "http")
	for _, rt := range routes {
		if rt.(map[string]any)["name"] == "progressive-checkout" {
			dests := rt.(map[string]any)["route"].([]any)
			dests[0].(map[string]any)["weight"] = int64(100)
			dests[1].(map[string]any)["weight"] = int64(0)
		}
	}
	require.NoError(t, unstructured.SetNestedSlice(vs.Object, routes, "spec", "http"))
	_, err = e.Dynamic().Resource(vsGVR).Namespace(ns).Update(context.Background(), vs, metav1.UpdateOptions{})
	require.NoError(t, err)
	require.NoError(t, r.SetRoutes(ctx(t), tg, progressive.WeightedRoutes(40)))
	got, err = r.GetRoutes(ctx(t), tg)
	require.NoError(t, err)
	assert.Equal(t, progressive.WeightedRoutes(40), got, "an unchanged SetRoutes on a stale memory must still reach the apiserver")
	assert.Equal(t, []string{"health", "admin", "progressive-checkout", "default"}, routeNames(getVS(t, e, ns, "checkout")))
}
