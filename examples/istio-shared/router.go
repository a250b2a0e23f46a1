package istioshared

import (
	"context"
	"fmt"
	"io"
	"maps"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"
	apinetworking "istio.io/api/networking/v1"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	"istio.io/client-go/pkg/clientset/versioned"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/agentops/progressive"
)

// Change is one traffic change a MeasuredRouter made.
type Change struct {
	// Asked is what was asked (AllStable for a Finalize); Achieved what the
	// router read back.
	Asked, Achieved progressive.Routes
	Finalize        bool
	// Writes are the router's API writes for the change.
	Writes int64
	// GenerationBefore and GenerationAfter are the VirtualService's
	// metadata.generation around the change (0: it did not exist): the
	// apiserver adds one for each write that changed its spec.
	GenerationBefore, GenerationAfter int64
	Took                              time.Duration
	At                                time.Time
	// VS is the VirtualService as read back after the change with Istio's
	// typed client, independently of the router.
	VS *networkingv1.VirtualService
}

// MeasuredRouter wraps a TrafficRouter writing an Istio VirtualService and
// measures each SetRoutes and Finalize: the API writes (the Counter of the
// rest.Config the router was made with), the VirtualService's generation
// before and after, and the VirtualService read back with the typed client.
type MeasuredRouter struct {
	progressive.TrafficRouter
	Counter *Counter
	Istio   versioned.Interface
	// VirtualService names the VirtualService, in the target's namespace.
	VirtualService string
	Out            io.Writer

	mu      sync.Mutex
	changes []Change
}

var _ progressive.RouterInitializer = (*MeasuredRouter)(nil)

// Initialize passes on to the wrapped router (when it has an Initialize).
func (m *MeasuredRouter) Initialize(ctx context.Context, t progressive.Target) error {
	init, ok := m.TrafficRouter.(progressive.RouterInitializer)
	if !ok {
		return nil
	}
	before := m.Counter.Writes()
	err := init.Initialize(ctx, t)
	if err == nil {
		fmt.Fprintf(m.Out, "           router: initialized (DestinationRule and VirtualService checked or created): %d API write(s)\n", m.Counter.Writes()-before)
	}
	return err
}

// SetRoutes implements progressive.TrafficRouter.
func (m *MeasuredRouter) SetRoutes(ctx context.Context, t progressive.Target, routes progressive.Routes) error {
	return m.measure(ctx, t, routes, false, func() error { return m.TrafficRouter.SetRoutes(ctx, t, routes) })
}

// Finalize implements progressive.TrafficRouter.
func (m *MeasuredRouter) Finalize(ctx context.Context, t progressive.Target) error {
	return m.measure(ctx, t, progressive.AllStable(), true, func() error { return m.TrafficRouter.Finalize(ctx, t) })
}

func (m *MeasuredRouter) measure(ctx context.Context, t progressive.Target, routes progressive.Routes, finalize bool, call func() error) error {
	ch := Change{Asked: routes, Finalize: finalize, At: time.Now()}
	if vs, err := m.read(ctx, t); err == nil && vs != nil {
		ch.GenerationBefore = vs.Generation
	}
	before := m.Counter.Writes()
	err := call()
	ch.Took = time.Since(ch.At)
	ch.Writes = m.Counter.Writes() - before
	what := "set routes " + Describe(routes)
	if finalize {
		what = "finalize"
	}
	if err != nil {
		fmt.Fprintf(m.Out, "           router: %s failed after %s (%d writes): %v\n", what, ch.Took.Round(time.Millisecond), ch.Writes, err)
		return err
	}
	if ch.Achieved, err = m.TrafficRouter.GetRoutes(ctx, t); err != nil {
		return err
	}
	if ch.VS, err = m.read(ctx, t); err != nil {
		return err
	}
	if ch.VS != nil {
		ch.GenerationAfter = ch.VS.Generation
	}
	plain := Evaluate(ch.VS, Request{Path: "/"})
	fmt.Fprintf(m.Out, "           router: %s: %d API write(s) in %s; VirtualService generation %d -> %d; a request without headers now takes %s: %s\n",
		what, ch.Writes, ch.Took.Round(time.Millisecond), ch.GenerationBefore, ch.GenerationAfter, plain.Name(), plain)
	m.mu.Lock()
	m.changes = append(m.changes, ch)
	m.mu.Unlock()
	return nil
}

func (m *MeasuredRouter) read(ctx context.Context, t progressive.Target) (*networkingv1.VirtualService, error) {
	name := m.VirtualService
	if name == "" {
		name = t.Name
	}
	vs, err := m.Istio.NetworkingV1().VirtualServices(t.Namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	return vs, err
}

// Changes returns the traffic changes so far.
func (m *MeasuredRouter) Changes() []Change {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.changes)
}

// Describe prints routes in a few words.
func Describe(r progressive.Routes) string {
	s := fmt.Sprintf("stable %g%% / canary %g%%", r.StableWeight, r.CanaryWeight)
	for _, m := range r.Matches {
		s += fmt.Sprintf(", %s %s=%s to canary", m.Kind, m.Name, m.Value)
	}
	if r.MirrorPercent > 0 {
		s += fmt.Sprintf(", mirror %g%%", r.MirrorPercent)
	}
	return s
}

// Request is what Evaluate routes: a path and headers (names in lower case,
// the Cookie header as "cookie").
type Request struct {
	Path    string
	Headers map[string]string
}

// Destination is where a VirtualService sends a request: the route that takes
// it (its name, "" for none) and the weight of each destination subset (or
// host, for a destination without subset).
type Destination struct {
	Route   string
	Weights map[string]int32
}

// Name is the route's name in quotes, or "an unnamed route".
func (d Destination) Name() string {
	if d.Route == "" {
		return "an unnamed route"
	}
	return fmt.Sprintf("%q", d.Route)
}

func (d Destination) String() string {
	if d.Weights == nil {
		return "no route"
	}
	keys := slices.Collect(maps.Keys(d.Weights))
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d%%", k, d.Weights[k])
	}
	return strings.Join(parts, ", ")
}

// Evaluate routes req through vs the way Istio does: the first HTTP route with
// a matching match request (or none, a catch-all) takes it. It understands
// the conditions these examples use, uri and headers (exact, prefix, regex);
// a match request with any other condition is taken not to match. A single
// destination without a weight gets 100.
func Evaluate(vs *networkingv1.VirtualService, req Request) Destination {
	if vs == nil {
		return Destination{}
	}
	for _, r := range vs.Spec.GetHttp() {
		if !routeMatches(r, req) {
			continue
		}
		d := Destination{Route: r.GetName(), Weights: map[string]int32{}}
		for _, dst := range r.GetRoute() {
			key := dst.GetDestination().GetSubset()
			if key == "" {
				key = dst.GetDestination().GetHost()
			}
			w := dst.GetWeight()
			if len(r.GetRoute()) == 1 && w == 0 {
				w = 100
			}
			d.Weights[key] += w
		}
		return d
	}
	return Destination{}
}

func routeMatches(r *apinetworking.HTTPRoute, req Request) bool {
	if len(r.GetMatch()) == 0 {
		return true
	}
	for _, m := range r.GetMatch() {
		if matchRequest(m, req) {
			return true
		}
	}
	return false
}

func matchRequest(m *apinetworking.HTTPMatchRequest, req Request) bool {
	if m.GetScheme() != nil || m.GetMethod() != nil || m.GetAuthority() != nil || len(m.GetQueryParams()) > 0 ||
		len(m.GetWithoutHeaders()) > 0 || m.GetPort() != 0 || len(m.GetSourceLabels()) > 0 || len(m.GetGateways()) > 0 {
		return false
	}
	if u := m.GetUri(); u != nil && !stringMatches(u, req.Path) {
		return false
	}
	for name, sm := range m.GetHeaders() {
		v, ok := req.Headers[strings.ToLower(name)]
		if !ok || !stringMatches(sm, v) {
			return false
		}
	}
	return true
}

func stringMatches(sm *apinetworking.StringMatch, v string) bool {
	switch {
	case sm.GetExact() != "":
		return v == sm.GetExact()
	case sm.GetPrefix() != "":
		return strings.HasPrefix(v, sm.GetPrefix())
	case sm.GetRegex() != "":
		re, err := regexp.Compile(`^(?:` + sm.GetRegex() + `)$`)
		return err == nil && re.MatchString(v)
	}
	return true
}

// UserRoutes returns the HTTP routes of vs whose names are not among the given
// names of the router's routes.
func UserRoutes(vs *networkingv1.VirtualService, routerRoutes ...string) []*apinetworking.HTTPRoute {
	if vs == nil {
		return nil
	}
	var out []*apinetworking.HTTPRoute
	for _, r := range vs.Spec.GetHttp() {
		if !slices.Contains(routerRoutes, r.GetName()) {
			out = append(out, r)
		}
	}
	return out
}

// RouteNames returns the names of the HTTP routes of vs, in order.
func RouteNames(vs *networkingv1.VirtualService) []string {
	if vs == nil {
		return nil
	}
	var out []string
	for _, r := range vs.Spec.GetHttp() {
		out = append(out, r.GetName())
	}
	return out
}

// SameRoutes reports whether two lists of HTTP routes are equal, route by
// route (as protocol buffer messages).
func SameRoutes(a, b []*apinetworking.HTTPRoute) bool {
	return slices.EqualFunc(a, b, func(x, y *apinetworking.HTTPRoute) bool { return proto.Equal(x, y) })
}
