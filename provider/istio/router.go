package istio

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/retry"

	"github.com/agentops/progressive"
)

// Name is the provider name plans refer to.
const Name = "istio"

const (
	// RoleLabel is the pod label the DestinationRule subsets select by default:
	// "stable" on the stable pods, "canary" on the canary's (the label the
	// kubernetes provider puts on them).
	RoleLabel = "progressive.agentops.io/role"
	// RoutesAnnotation lists, comma-separated, the HTTP routes of a
	// VirtualService that routers own. A route named like a router's but not
	// listed is the user's, and the router refuses to touch it.
	RoutesAnnotation = "progressive.agentops.io/routes"
	// ManagedByLabel marks the VirtualServices and DestinationRules the router
	// created (Options.Create).
	ManagedByLabel = "app.kubernetes.io/managed-by"
	managedBy      = "progressive"
	fieldManager   = "progressive"
)

// Group and versions of the Istio API the router uses.
var (
	vsGVR = schema.GroupVersionResource{Group: "networking.istio.io", Version: "v1", Resource: "virtualservices"}
	drGVR = schema.GroupVersionResource{Group: "networking.istio.io", Version: "v1", Resource: "destinationrules"}
)

// Options configure a Router. Names left empty are derived from the target.
type Options struct {
	// VirtualService names the VirtualService holding the route; default the
	// target's name. Several routers (targets) may share one.
	VirtualService string
	// DestinationRule names the DestinationRule with the subsets; default the
	// target's name.
	DestinationRule string
	// Host is the destination host of the routes; default the target's name
	// (the Service in the target's namespace).
	Host string
	// RouteName names the HTTP route the router owns; default
	// "progressive-<target name>". The A/B route is RouteName + "-ab".
	RouteName string
	// URIPrefix, when set, restricts the router's routes to requests whose path
	// starts with it: needed when the VirtualService routes other paths to other
	// services (two routers in one VirtualService).
	URIPrefix string
	// StableSubset and CanarySubset name the DestinationRule subsets; default
	// "stable" and "canary".
	StableSubset, CanarySubset string
	// SubsetLabel is the pod label of the subsets the router creates; default
	// RoleLabel, with the subset names as values.
	SubsetLabel string
	// Create makes the router create the VirtualService and DestinationRule when
	// they do not exist. Without it they must exist (they are adopted).
	Create bool
}

func (o Options) withDefaults() Options {
	if o.StableSubset == "" {
		o.StableSubset = string(progressive.Stable)
	}
	if o.CanarySubset == "" {
		o.CanarySubset = string(progressive.Canary)
	}
	if o.SubsetLabel == "" {
		o.SubsetLabel = RoleLabel
	}
	return o
}

// Router is the Istio progressive.TrafficRouter: see the package documentation.
type Router struct {
	dyn   dynamic.Interface
	disc  discovery.DiscoveryInterface
	opts  Options
	crdOK atomic.Bool
}

var (
	_ progressive.TrafficRouter     = (*Router)(nil)
	_ progressive.RouterInitializer = (*Router)(nil)
)

// New returns a Router talking to the cluster of cfg.
func New(cfg *rest.Config, opts Options) (*Router, error) {
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("istio router: %w: %w", err, progressive.ErrInvalid)
	}
	disc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("istio router: %w: %w", err, progressive.ErrInvalid)
	}
	return NewForClients(dyn, disc, opts), nil
}

// NewForClients returns a Router using the given clients (fakes in unit tests).
func NewForClients(dyn dynamic.Interface, disc discovery.DiscoveryInterface, opts Options) *Router {
	return &Router{dyn: dyn, disc: disc, opts: opts.withDefaults()}
}

// Name returns "istio".
func (r *Router) Name() string { return Name }

// names are the objects and routes of one target.
type names struct {
	ns, vs, dr, host, route, abRoute string
}

func (r *Router) names(t progressive.Target) (names, error) {
	if err := t.Validate(); err != nil {
		return names{}, fmt.Errorf("istio router: target %q: %w", t.String(), err)
	}
	n := names{ns: t.Namespace, vs: r.opts.VirtualService, dr: r.opts.DestinationRule, host: r.opts.Host, route: r.opts.RouteName}
	if n.ns == "" {
		n.ns = metav1.NamespaceDefault
	}
	if n.vs == "" {
		n.vs = t.Name
	}
	if n.dr == "" {
		n.dr = t.Name
	}
	if n.host == "" {
		n.host = t.Name
	}
	if n.route == "" {
		n.route = "progressive-" + t.Name
	}
	n.abRoute = n.route + "-ab"
	return n, nil
}

// checkCRDs makes sure the cluster serves VirtualServices and DestinationRules.
func (r *Router) checkCRDs() error {
	if r.crdOK.Load() {
		return nil
	}
	gv := vsGVR.GroupVersion().String()
	list, err := r.disc.ServerResourcesForGroupVersion(gv)
	if err != nil && !apierrors.IsNotFound(err) {
		return classify(err, "istio router: discover %s", gv)
	}
	for _, res := range []string{vsGVR.Resource, drGVR.Resource} {
		found := false
		if list != nil {
			for _, a := range list.APIResources {
				found = found || a.Name == res
			}
		}
		if !found {
			return fmt.Errorf("istio router: the CRD %s.%s (version %s) is not installed in the cluster: install Istio "+
				"(istioctl install, or the istio/base Helm chart) or just its CRDs "+
				"(kubectl apply -f kubernetes/customresourcedefinitions.gen.yaml of the istio.io/api module): %w",
				res, vsGVR.Group, vsGVR.Version, progressive.ErrNotFound)
		}
	}
	r.crdOK.Store(true)
	return nil
}

// Initialize checks the CRDs, creates (Options.Create) or adopts the
// DestinationRule and the VirtualService, and checks that the subsets exist and
// that no user route carries the router's route names. It writes no route.
func (r *Router) Initialize(ctx context.Context, t progressive.Target) error {
	_, _, err := r.prepare(ctx, t)
	return err
}

func (r *Router) prepare(ctx context.Context, t progressive.Target) (names, *unstructured.Unstructured, error) {
	n, err := r.names(t)
	if err != nil {
		return n, nil, err
	}
	if err := r.checkCRDs(); err != nil {
		return n, nil, err
	}
	if err := r.ensureDestinationRule(ctx, n); err != nil {
		return n, nil, err
	}
	vs, err := r.ensureVirtualService(ctx, n)
	if err != nil {
		return n, nil, err
	}
	return n, vs, checkCollision(n, vs)
}

func (r *Router) ensureDestinationRule(ctx context.Context, n names) error {
	client := r.dyn.Resource(drGVR).Namespace(n.ns)
	dr, err := client.Get(ctx, n.dr, metav1.GetOptions{})
	if apierrors.IsNotFound(err) && r.opts.Create {
		dr = &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": drGVR.GroupVersion().String(),
			"kind":       "DestinationRule",
			"metadata": map[string]any{
				"name": n.dr, "namespace": n.ns,
				"labels": map[string]any{ManagedByLabel: managedBy},
			},
			"spec": map[string]any{
				"host": n.host,
				"subsets": []any{
					map[string]any{"name": r.opts.StableSubset, "labels": map[string]any{r.opts.SubsetLabel: r.opts.StableSubset}},
					map[string]any{"name": r.opts.CanarySubset, "labels": map[string]any{r.opts.SubsetLabel: r.opts.CanarySubset}},
				},
			},
		}}
		dr, err = client.Create(ctx, dr, metav1.CreateOptions{FieldManager: fieldManager})
		if apierrors.IsAlreadyExists(err) {
			dr, err = client.Get(ctx, n.dr, metav1.GetOptions{})
		}
	}
	if err != nil {
		return classify(err, "istio router: DestinationRule %s/%s (holding the %q and %q subsets; set Options.Create to create it)",
			n.ns, n.dr, r.opts.StableSubset, r.opts.CanarySubset)
	}
	subsets, _, _ := unstructured.NestedSlice(dr.Object, "spec", "subsets")
	var have []string
	for _, s := range subsets {
		if m, ok := s.(map[string]any); ok {
			if name, ok := m["name"].(string); ok {
				have = append(have, name)
			}
		}
	}
	for _, want := range []string{r.opts.StableSubset, r.opts.CanarySubset} {
		if !slices.Contains(have, want) {
			return fmt.Errorf("istio router: DestinationRule %s/%s has no subset %q (it has %q): %w", n.ns, n.dr, want, have, progressive.ErrInvalid)
		}
	}
	return nil
}

func (r *Router) ensureVirtualService(ctx context.Context, n names) (*unstructured.Unstructured, error) {
	client := r.dyn.Resource(vsGVR).Namespace(n.ns)
	vs, err := client.Get(ctx, n.vs, metav1.GetOptions{})
	if apierrors.IsNotFound(err) && r.opts.Create {
		vs = &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": vsGVR.GroupVersion().String(),
			"kind":       "VirtualService",
			"metadata": map[string]any{
				"name": n.vs, "namespace": n.ns,
				"labels":      map[string]any{ManagedByLabel: managedBy},
				"annotations": map[string]any{RoutesAnnotation: n.route},
			},
			"spec": map[string]any{
				"hosts": []any{n.host},
				"http":  []any{r.weightedRoute(n, progressive.AllStable())},
			},
		}}
		vs, err = client.Create(ctx, vs, metav1.CreateOptions{FieldManager: fieldManager})
		if apierrors.IsAlreadyExists(err) {
			vs, err = client.Get(ctx, n.vs, metav1.GetOptions{})
		}
	}
	if err != nil {
		return nil, classify(err, "istio router: VirtualService %s/%s (create it, or set Options.Create)", n.ns, n.vs)
	}
	return vs, nil
}

// owned returns the route names the RoutesAnnotation of vs lists.
func owned(vs *unstructured.Unstructured) []string {
	v := vs.GetAnnotations()[RoutesAnnotation]
	if v == "" {
		return nil
	}
	return strings.Split(v, ",")
}

func routeName(route any) string {
	m, _ := route.(map[string]any)
	s, _ := m["name"].(string)
	return s
}

func httpRoutes(vs *unstructured.Unstructured) []any {
	routes, _, _ := unstructured.NestedSlice(vs.Object, "spec", "http")
	return routes
}

// checkCollision refuses a VirtualService whose user routes carry the router's names.
func checkCollision(n names, vs *unstructured.Unstructured) error {
	own := owned(vs)
	for _, route := range httpRoutes(vs) {
		name := routeName(route)
		if (name == n.route || name == n.abRoute) && !slices.Contains(own, name) {
			return fmt.Errorf("istio router: VirtualService %s/%s already has a route %q that the router did not add (it is not listed in its %s annotation); "+
				"rename it or choose another Options.RouteName: %w", n.ns, n.vs, name, RoutesAnnotation, progressive.ErrInvalid)
		}
	}
	return nil
}

func (r *Router) destination(n names, subset string) map[string]any {
	return map[string]any{"host": n.host, "subset": subset}
}

func (r *Router) uriMatch() map[string]any {
	if r.opts.URIPrefix == "" {
		return nil
	}
	return map[string]any{"uri": map[string]any{"prefix": r.opts.URIPrefix}}
}

// weight is the integer percentage Istio applies for a weight.
func weight(w float64) int64 { return int64(math.Round(w)) }

func (r *Router) weightedRoute(n names, routes progressive.Routes) map[string]any {
	canary := weight(routes.CanaryWeight)
	route := map[string]any{
		"name": n.route,
		"route": []any{
			map[string]any{"destination": r.destination(n, r.opts.StableSubset), "weight": 100 - canary},
			map[string]any{"destination": r.destination(n, r.opts.CanarySubset), "weight": canary},
		},
	}
	if m := r.uriMatch(); m != nil {
		route["match"] = []any{m}
	}
	if routes.MirrorPercent > 0 {
		route["mirror"] = r.destination(n, r.opts.CanarySubset)
		route["mirrorPercentage"] = map[string]any{"value": routes.MirrorPercent}
	}
	return route
}

func (r *Router) abRoute(n names, matches []progressive.Match) map[string]any {
	var ms []any
	for _, m := range matches {
		req := r.uriMatch()
		if req == nil {
			req = map[string]any{}
		}
		var header string
		var value map[string]any
		switch m.Kind {
		case progressive.MatchCookie:
			header, value = "cookie", map[string]any{"regex": cookieRegex(m)}
		default:
			header = strings.ToLower(m.Name)
			if m.Regex {
				value = map[string]any{"regex": m.Value}
			} else {
				value = map[string]any{"exact": m.Value}
			}
		}
		req["headers"] = map[string]any{header: value}
		ms = append(ms, req)
	}
	return map[string]any{
		"name":  n.abRoute,
		"match": ms,
		"route": []any{map[string]any{"destination": r.destination(n, r.opts.CanarySubset), "weight": int64(100)}},
	}
}

const (
	cookiePrefix = `^(.*;\s*)?`
	cookieSuffix = `(;.*)?$`
)

// cookieRegex matches the Cookie header carrying the cookie of m.
func cookieRegex(m progressive.Match) string {
	v := regexp.QuoteMeta(m.Value)
	if m.Regex {
		v = "(?:" + m.Value + ")"
	}
	return cookiePrefix + regexp.QuoteMeta(m.Name) + "=" + v + cookieSuffix
}

func unquoteMeta(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// parseCookie inverts cookieRegex.
func parseCookie(re string) (progressive.Match, bool) {
	body, ok := strings.CutPrefix(re, cookiePrefix)
	if !ok {
		return progressive.Match{}, false
	}
	if body, ok = strings.CutSuffix(body, cookieSuffix); !ok {
		return progressive.Match{}, false
	}
	name, value, ok := strings.Cut(body, "=")
	if !ok {
		return progressive.Match{}, false
	}
	m := progressive.Match{Kind: progressive.MatchCookie, Name: unquoteMeta(name)}
	if inner, ok := strings.CutPrefix(value, "(?:"); ok && strings.HasSuffix(inner, ")") {
		m.Value, m.Regex = strings.TrimSuffix(inner, ")"), true
	} else {
		m.Value = unquoteMeta(value)
	}
	return m, true
}

// SetRoutes writes the router's routes in one resourceVersion-checked Update of
// the VirtualService (retried on conflicts), then reads them back.
func (r *Router) SetRoutes(ctx context.Context, t progressive.Target, routes progressive.Routes) error {
	if err := routes.Validate(); err != nil {
		return fmt.Errorf("istio router: routes of %s: %w", t, err)
	}
	for i, m := range routes.Matches {
		if m.Kind == progressive.MatchCookie && strings.ContainsAny(m.Name, "=; ") {
			return fmt.Errorf("istio router: routes of %s: matches[%d]: cookie name %q must not contain '=', ';' or spaces: %w", t, i, m.Name, progressive.ErrInvalid)
		}
		if m.Regex {
			if _, err := regexp.Compile(m.Value); err != nil {
				return fmt.Errorf("istio router: routes of %s: matches[%d]: %v: %w", t, i, err, progressive.ErrInvalid)
			}
		}
	}
	n, _, err := r.prepare(ctx, t)
	if err != nil {
		return err
	}
	var want []any
	if len(routes.Matches) > 0 {
		want = append(want, r.abRoute(n, routes.Matches))
	}
	want = append(want, r.weightedRoute(n, routes))
	return r.writeRoutes(ctx, n, want)
}

// conflictBackoff paces the retries of an Update that lost a race: routers
// sharing a VirtualService may write it at the same moment, so the retries are
// more patient than client-go's DefaultRetry and jittered out of lock-step.
var conflictBackoff = wait.Backoff{Steps: 10, Duration: 10 * time.Millisecond, Factor: 2, Jitter: 0.5, Cap: 2 * time.Second}

// writeRoutes replaces the router's routes by want (none: removes them) in one
// Update and reads them back.
func (r *Router) writeRoutes(ctx context.Context, n names, want []any) error {
	client := r.dyn.Resource(vsGVR).Namespace(n.ns)
	mine := []string{n.route, n.abRoute}
	err := retry.RetryOnConflict(conflictBackoff, func() error {
		vs, err := client.Get(ctx, n.vs, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if err := checkCollision(n, vs); err != nil {
			return err
		}
		var kept []any
		at := -1 // where the router's routes are now: they stay there
		for _, route := range httpRoutes(vs) {
			if !slices.Contains(mine, routeName(route)) {
				kept = append(kept, route)
			} else if at < 0 {
				at = len(kept)
			}
		}
		if at < 0 {
			// New routes go ahead of the first catch-all route (one without a
			// match), which would otherwise take their traffic; else at the end.
			at = len(kept)
			for i, route := range kept {
				if m, _ := route.(map[string]any); len(asSlice(m["match"])) == 0 {
					at = i
					break
				}
			}
		}
		next := slices.Concat(kept[:at:at], want, kept[at:])
		own := slices.DeleteFunc(owned(vs), func(s string) bool { return slices.Contains(mine, s) })
		for _, route := range want {
			own = append(own, routeName(route))
		}
		slices.Sort(own)
		if jsonEqual(httpRoutes(vs), next) && slices.Equal(owned(vs), own) {
			return nil // already so: no write
		}
		ann := vs.GetAnnotations()
		if ann == nil {
			ann = map[string]string{}
		}
		if len(own) == 0 {
			delete(ann, RoutesAnnotation)
		} else {
			ann[RoutesAnnotation] = strings.Join(own, ",")
		}
		vs.SetAnnotations(ann)
		if next == nil {
			next = []any{}
		}
		if err := unstructured.SetNestedSlice(vs.Object, next, "spec", "http"); err != nil {
			return err
		}
		_, err = client.Update(ctx, vs, metav1.UpdateOptions{FieldManager: fieldManager})
		return err
	})
	if err != nil {
		if _, ok := err.(apierrors.APIStatus); !ok {
			return err
		}
		return classify(err, "istio router: update VirtualService %s/%s", n.ns, n.vs)
	}
	back, err := client.Get(ctx, n.vs, metav1.GetOptions{})
	if err != nil {
		return classify(err, "istio router: read VirtualService %s/%s back", n.ns, n.vs)
	}
	var got []any
	for _, route := range httpRoutes(back) {
		if slices.Contains(mine, routeName(route)) {
			got = append(got, route)
		}
	}
	if !jsonEqual(got, want) {
		return fmt.Errorf("istio router: VirtualService %s/%s read back with routes %s after writing %s; someone else changed them: %w",
			n.ns, n.vs, toJSON(got), toJSON(want), progressive.ErrConflict)
	}
	return nil
}

func asSlice(v any) []any { s, _ := v.([]any); return s }

func toJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

func jsonEqual(a, b []any) bool {
	if len(a) == 0 && len(b) == 0 {
		return true
	}
	return toJSON(a) == toJSON(b)
}

// GetRoutes reads the router's routes back from the VirtualService. Without
// them (before the first SetRoutes, after Finalize) the router sends nothing to
// the canary: AllStable.
func (r *Router) GetRoutes(ctx context.Context, t progressive.Target) (progressive.Routes, error) {
	n, err := r.names(t)
	if err != nil {
		return progressive.Routes{}, err
	}
	if err := r.checkCRDs(); err != nil {
		return progressive.Routes{}, err
	}
	vs, err := r.dyn.Resource(vsGVR).Namespace(n.ns).Get(ctx, n.vs, metav1.GetOptions{})
	if err != nil {
		return progressive.Routes{}, classify(err, "istio router: VirtualService %s/%s", n.ns, n.vs)
	}
	own := owned(vs)
	out := progressive.AllStable()
	for _, route := range httpRoutes(vs) {
		m, _ := route.(map[string]any)
		name := routeName(route)
		if !slices.Contains(own, name) {
			continue
		}
		switch name {
		case n.route:
			var stable, canary float64
			for _, d := range asSlice(m["route"]) {
				dm, _ := d.(map[string]any)
				dest, _ := dm["destination"].(map[string]any)
				w := toFloat(dm["weight"])
				switch dest["subset"] {
				case r.opts.StableSubset:
					stable += w
				case r.opts.CanarySubset:
					canary += w
				}
			}
			out.StableWeight, out.CanaryWeight = stable, canary
			if mp, ok := m["mirrorPercentage"].(map[string]any); ok && m["mirror"] != nil {
				out.MirrorPercent = toFloat(mp["value"])
			}
		case n.abRoute:
			for _, req := range asSlice(m["match"]) {
				rm, _ := req.(map[string]any)
				headers, _ := rm["headers"].(map[string]any)
				for h, v := range headers {
					vm, _ := v.(map[string]any)
					if re, ok := vm["regex"].(string); ok {
						if c, ok := parseCookie(re); ok && h == "cookie" {
							out.Matches = append(out.Matches, c)
							continue
						}
						out.Matches = append(out.Matches, progressive.Match{Kind: progressive.MatchHeader, Name: h, Value: re, Regex: true})
					} else if ex, ok := vm["exact"].(string); ok {
						out.Matches = append(out.Matches, progressive.Match{Kind: progressive.MatchHeader, Name: h, Value: ex})
					}
				}
			}
		}
	}
	return out, nil
}

func toFloat(v any) float64 {
	switch x := v.(type) {
	case int64:
		return float64(x)
	case int:
		return float64(x)
	case float64:
		return x
	case json.Number:
		f, _ := x.Float64()
		return f
	}
	return 0
}

// Finalize removes the router's routes from an adopted VirtualService, in one
// Update, leaving the user's routes as they were before the rollout. In a
// VirtualService the router created (Options.Create) it leaves its route with
// all traffic on stable instead: removing it would send the traffic to the
// whole Service, canary pods included. A missing VirtualService is nothing to
// finalize.
func (r *Router) Finalize(ctx context.Context, t progressive.Target) error {
	n, err := r.names(t)
	if err != nil {
		return err
	}
	if err := r.checkCRDs(); err != nil {
		return err
	}
	vs, err := r.dyn.Resource(vsGVR).Namespace(n.ns).Get(ctx, n.vs, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return classify(err, "istio router: VirtualService %s/%s", n.ns, n.vs)
	}
	if vs.GetLabels()[ManagedByLabel] == managedBy {
		return r.writeRoutes(ctx, n, []any{r.weightedRoute(n, progressive.AllStable())})
	}
	return r.writeRoutes(ctx, n, nil)
}
