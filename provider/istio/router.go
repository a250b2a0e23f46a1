package istio

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"k8s.io/apimachinery/pkg/util/validation"
	"maps"
	"math"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/proto"
	networkingv1 "istio.io/api/networking/v1"
	istiov1 "istio.io/client-go/pkg/apis/networking/v1"
	"istio.io/client-go/pkg/clientset/versioned"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/retry"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/internal/kubeclient"
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

// The resources the router needs, as discovery names them.
const (
	vsResource = "virtualservices"
	drResource = "destinationrules"
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
	// "progressive-<target name>". The A/B route is RouteName + "-ab", the
	// session affinity route RouteName + "-sticky".
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
	// SessionAffinity, when set, keeps a user whom the weights once sent to the
	// canary on the canary while the canary weight is between 0 and 100
	// (exclusive): see the package documentation.
	SessionAffinity *SessionAffinity
}

// SessionAffinity configures sticky canary sessions with a cookie.
type SessionAffinity struct {
	// CookieName names the cookie the canary's responses set; an HTTP token
	// (letters, digits and !#$%&'*+-.^_`|~).
	CookieName string
	// MaxAge is how long a browser keeps the cookie: a whole number of
	// seconds, at least one, since Set-Cookie's Max-Age counts seconds.
	MaxAge time.Duration
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

// Validate reports options the router cannot write, before any rollout
// depends on them: object names Kubernetes refuses, subset names and a subset
// label Istio or Kubernetes refuse, a route name or URI prefix with spaces or
// control characters, a cookie name that is not an HTTP token (it would corrupt
// the Set-Cookie header) and a MaxAge that is not a positive whole number of
// seconds.
func (o Options) Validate() error {
	var p progressive.Problems
	for _, n := range []struct{ field, v string }{{"virtualService", o.VirtualService}, {"destinationRule", o.DestinationRule}} {
		if n.v != "" && !progressive.IsDNSSubdomain(n.v) {
			p.Add(n.field, n.v, "must be a DNS-1123 subdomain, as Kubernetes names objects")
		}
	}
	if o.Host != "" && !progressive.IsDNSSubdomain(strings.TrimPrefix(o.Host, "*.")) {
		p.Add("host", o.Host, "must be a host name (a DNS-1123 subdomain, optionally *.-prefixed)")
	}
	for _, n := range []struct{ field, v string }{{"stableSubset", o.StableSubset}, {"canarySubset", o.CanarySubset}} {
		if n.v != "" && len(validation.IsValidLabelValue(n.v)) > 0 {
			p.Add(n.field, n.v, "must be a subset name Istio accepts: letters, digits, '-', '_' or '.', at most 63")
		}
	}
	if o.SubsetLabel != "" && len(validation.IsQualifiedName(o.SubsetLabel)) > 0 {
		p.Add("subsetLabel", o.SubsetLabel, "must be a Kubernetes label key")
	}
	if o.RouteName != "" && (len(o.RouteName) > 253 || strings.ContainsFunc(o.RouteName, func(r rune) bool { return r <= ' ' || r == 0x7f })) {
		p.Add("routeName", o.RouteName, "must be at most 253 characters without spaces or control characters")
	}
	if o.URIPrefix != "" && (!strings.HasPrefix(o.URIPrefix, "/") || len(o.URIPrefix) > 2048 ||
		strings.ContainsFunc(o.URIPrefix, func(r rune) bool { return r <= ' ' || r == 0x7f })) {
		p.Add("uriPrefix", o.URIPrefix, "must be a path starting with / without spaces or control characters")
	}
	if sa := o.SessionAffinity; sa != nil {
		if !isToken(sa.CookieName) {
			p.Add("sessionAffinity.cookieName", sa.CookieName,
				"must be a cookie name: one or more letters, digits or !#$%%&'*+-.^_`|~")
		}
		if sa.MaxAge < time.Second || sa.MaxAge%time.Second != 0 {
			p.Add("sessionAffinity.maxAge", sa.MaxAge.String(), "must be a positive whole number of seconds")
		}
	}
	return p.Err()
}

// isToken reports whether s is an RFC 9110 token, what a cookie name must be.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// Router is the Istio progressive.TrafficRouter: see the package documentation.
type Router struct {
	cs    versioned.Interface
	kube  kubernetes.Interface // nil: destination hosts are not checked
	opts  Options
	crdOK atomic.Bool

	mu      sync.Mutex
	targets map[string]*memo // by targetKey; at most maxMemos entries
}

// memo is what the router remembers of a target between calls, so that a
// steady-state SetRoutes is one Update: prepare validated the destination
// host's Service, the DestinationRule's subsets and the VirtualService (no
// collision), and vs is the VirtualService as the router last wrote or read it.
// vs is only ever the base of a resourceVersion-guarded Update (a stale one
// conflicts, and the Update is retried from a fresh read), never trusted to
// skip a write: an Update it deems unneeded is confirmed by a fresh read first.
// The memo goes when Finalize runs and when a request answers NotFound or
// Conflict or finds a collision, so the next SetRoutes validates everything
// again.
type memo struct {
	vs *istiov1.VirtualService // never modified: writeRoutes works on a copy
	// written marks vs as the answer to this router's own Update, whose
	// routes writeRoutes checked: the GetRoutes that reads a write back (the
	// runner's, right after SetRoutes) is answered from it once, without a
	// request. Any later GetRoutes reads the VirtualService afresh.
	written bool
}

// maxMemos bounds the memory of a Router driving many targets that are never
// finalized: past it, an arbitrary memo is forgotten (that target's next
// SetRoutes validates again).
const maxMemos = 4096

func targetKey(n names, t progressive.Target) string { return n.ns + "/" + t.Name }

// remembered returns the memo of a target validated before, or nil.
func (r *Router) remembered(key string) *memo {
	r.mu.Lock()
	defer r.mu.Unlock()
	if m := r.targets[key]; m != nil {
		return &memo{vs: m.vs, written: m.written}
	}
	return nil
}

// wrote is refresh for the answer to the router's own Update (see
// memo.written).
func (r *Router) wrote(key string, vs *istiov1.VirtualService) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if m := r.targets[key]; m != nil {
		m.vs, m.written = vs, true
	}
}

// takeWritten returns the VirtualService of the router's last Update of key
// if no GetRoutes read it yet, and marks it read.
func (r *Router) takeWritten(key string) *istiov1.VirtualService {
	r.mu.Lock()
	defer r.mu.Unlock()
	if m := r.targets[key]; m != nil && m.written {
		m.written = false
		return m.vs
	}
	return nil
}

// remember records that a target was validated, with the VirtualService as
// the apiserver returned it.
func (r *Router) remember(key string, vs *istiov1.VirtualService) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.targets == nil {
		r.targets = map[string]*memo{}
	}
	if _, ok := r.targets[key]; !ok && len(r.targets) >= maxMemos {
		for k := range r.targets {
			delete(r.targets, k)
			break
		}
	}
	r.targets[key] = &memo{vs: vs}
}

// refresh replaces the VirtualService of a target the router remembers (a
// target it does not is left unknown: only prepare validates).
func (r *Router) refresh(key string, vs *istiov1.VirtualService) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if m := r.targets[key]; m != nil {
		// Concurrent calls may answer out of order, and resourceVersions are
		// opaque: the last one wins, and if older only costs a Conflict.
		m.vs, m.written = vs, false
	}
}

// forget drops what the router remembers of a target.
func (r *Router) forget(key string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.targets, key)
}

// forgets reports whether err makes the router forget a target: the
// VirtualService or another object is gone (NotFound), a write lost every
// retry or was stored other than sent (Conflict), or a user route collides.
func forgets(err error) bool {
	return errors.Is(err, progressive.ErrNotFound) || errors.Is(err, progressive.ErrConflict) || errors.Is(err, progressive.ErrInvalid)
}

var (
	_ progressive.TrafficRouter     = (*Router)(nil)
	_ progressive.RouterInitializer = (*Router)(nil)
)

// New returns a Router talking to the cluster of cfg with the typed Istio
// clientset.
//
// A cfg without a rate limit (QPS 0 and no RateLimiter) gets 200 requests per
// second with bursts of 400 instead of client-go's 5 and 10: the router's
// client is shared by every rollout it drives, and client-go's default
// throttles a process driving many of them (with 100 rollouts only 12 reached
// their first weight within 163 s). A caller that sets QPS or a RateLimiter
// keeps theirs; cfg itself is not modified.
func New(cfg *rest.Config, opts Options) (*Router, error) {
	if err := opts.Validate(); err != nil {
		return nil, fmt.Errorf("istio router: options: %w", err)
	}
	cfg = kubeclient.WithDefaultRateLimit(cfg)
	cs, err := versioned.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("istio router: %w: %w", err, progressive.ErrInvalid)
	}
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("istio router: %w: %w", err, progressive.ErrInvalid)
	}
	return NewForClients(cs, kube, opts)
}

// NewForClients returns a Router using cs (the fake clientset in unit tests);
// the CRD check uses cs.Discovery(). kube reads the Service a destination host
// names; with nil, hosts are not checked.
func NewForClients(cs versioned.Interface, kube kubernetes.Interface, opts Options) (*Router, error) {
	if err := opts.Validate(); err != nil {
		return nil, fmt.Errorf("istio router: options: %w", err)
	}
	return &Router{cs: cs, kube: kube, opts: opts.withDefaults()}, nil
}

// Name returns "istio".
func (r *Router) Name() string { return Name }

// names are the objects and routes of one target.
type names struct {
	ns, vs, dr, host, route, abRoute, stickyRoute string
}

// mine are the names of the routes the router may own.
func (n names) mine() []string { return []string{n.route, n.abRoute, n.stickyRoute} }

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
	n.stickyRoute = n.route + "-sticky"
	return n, nil
}

// checkCRDs makes sure the cluster serves VirtualServices and DestinationRules,
// so that a cluster without Istio gets an error saying so rather than a bare
// 404 on the first Get.
func (r *Router) checkCRDs(ctx context.Context) error {
	if r.crdOK.Load() {
		return nil
	}
	gv := istiov1.SchemeGroupVersion
	list, err := discovery.ToDiscoveryInterfaceWithContext(r.cs.Discovery()).ServerResourcesForGroupVersionWithContext(ctx, gv.String())
	if err != nil && !apierrors.IsNotFound(err) {
		return classify(err, "istio router: discover %s", gv)
	}
	for _, res := range []string{vsResource, drResource} {
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
				res, gv.Group, gv.Version, progressive.ErrNotFound)
		}
	}
	r.crdOK.Store(true)
	return nil
}

// serviceOf tells which Service of the cluster a destination host names: a
// short name is a Service of the target's namespace, <svc>.<ns>.svc.cluster.local
// one of ns. Other hosts (external names, wildcards) are not the cluster's to check.
func serviceOf(host, ns string) (svcNS, name string, ok bool) {
	if host == "" || strings.Contains(host, "*") {
		return "", "", false
	}
	if !strings.Contains(host, ".") {
		return ns, host, true
	}
	rest, ok := strings.CutSuffix(host, ".svc.cluster.local")
	if !ok {
		return "", "", false
	}
	name, svcNS, ok = strings.Cut(rest, ".")
	if !ok || name == "" || svcNS == "" || strings.Contains(svcNS, ".") {
		return "", "", false
	}
	return svcNS, name, true
}

// checkHost makes sure the Service the destination host names exists: Istio
// accepts routes to a host it does not know and then answers every request
// with a 503, which would fail the rollout's analysis for the wrong reason.
func (r *Router) checkHost(ctx context.Context, n names) error {
	ns, name, ok := serviceOf(n.host, n.ns)
	if !ok || r.kube == nil {
		return nil
	}
	if _, err := r.kube.CoreV1().Services(ns).Get(ctx, name, metav1.GetOptions{}); err != nil {
		return classify(err, "istio router: destination host %q: Service %s/%s (create it, or set Options.Host)", n.host, ns, name)
	}
	return nil
}

// Initialize checks the CRDs, creates (Options.Create) or adopts the
// DestinationRule and the VirtualService, and checks that the subsets exist and
// that no user route carries the router's route names. It writes no route.
//
// It always reads the objects (it does not rely on what the router remembers),
// and what it validated lets the target's SetRoutes skip those reads.
func (r *Router) Initialize(ctx context.Context, t progressive.Target) error {
	_, _, err := r.prepare(ctx, t)
	return err
}

// prepare validates everything for target t (CRDs, the destination host's
// Service, the DestinationRule and its subsets, the VirtualService and its
// route names), creating the objects with Options.Create, and remembers the
// target as validated, with the VirtualService read. On an error the target is
// forgotten.
func (r *Router) prepare(ctx context.Context, t progressive.Target) (names, *istiov1.VirtualService, error) {
	n, err := r.names(t)
	if err != nil {
		return n, nil, err
	}
	key := targetKey(n, t)
	r.forget(key)
	if err := r.checkCRDs(ctx); err != nil {
		return n, nil, err
	}
	if err := r.checkHost(ctx, n); err != nil {
		return n, nil, err
	}
	if err := r.ensureDestinationRule(ctx, n); err != nil {
		return n, nil, err
	}
	vs, err := r.ensureVirtualService(ctx, n)
	if err != nil {
		return n, nil, err
	}
	if err := checkCollision(n, vs); err != nil {
		return n, nil, err
	}
	r.remember(key, vs)
	return n, vs, nil
}

func (r *Router) ensureDestinationRule(ctx context.Context, n names) error {
	client := r.cs.NetworkingV1().DestinationRules(n.ns)
	dr, err := client.Get(ctx, n.dr, metav1.GetOptions{})
	if apierrors.IsNotFound(err) && r.opts.Create {
		dr = &istiov1.DestinationRule{
			ObjectMeta: metav1.ObjectMeta{Name: n.dr, Namespace: n.ns, Labels: map[string]string{ManagedByLabel: managedBy}},
			Spec: networkingv1.DestinationRule{
				Host: n.host,
				Subsets: []*networkingv1.Subset{
					{Name: r.opts.StableSubset, Labels: map[string]string{r.opts.SubsetLabel: r.opts.StableSubset}},
					{Name: r.opts.CanarySubset, Labels: map[string]string{r.opts.SubsetLabel: r.opts.CanarySubset}},
				},
			},
		}
		dr, err = client.Create(ctx, dr, metav1.CreateOptions{FieldManager: fieldManager})
		if apierrors.IsAlreadyExists(err) {
			dr, err = client.Get(ctx, n.dr, metav1.GetOptions{})
		}
	}
	if err != nil {
		return classify(err, "istio router: DestinationRule %s/%s (holding the %q and %q subsets; set Options.Create to create it)",
			n.ns, n.dr, r.opts.StableSubset, r.opts.CanarySubset)
	}
	var have []string
	for _, s := range dr.Spec.GetSubsets() {
		have = append(have, s.GetName())
	}
	for _, want := range []string{r.opts.StableSubset, r.opts.CanarySubset} {
		if !slices.Contains(have, want) {
			return fmt.Errorf("istio router: DestinationRule %s/%s has no subset %q (it has %q): %w", n.ns, n.dr, want, have, progressive.ErrInvalid)
		}
	}
	return nil
}

func (r *Router) ensureVirtualService(ctx context.Context, n names) (*istiov1.VirtualService, error) {
	client := r.cs.NetworkingV1().VirtualServices(n.ns)
	vs, err := client.Get(ctx, n.vs, metav1.GetOptions{})
	if apierrors.IsNotFound(err) && r.opts.Create {
		vs = &istiov1.VirtualService{
			ObjectMeta: metav1.ObjectMeta{
				Name: n.vs, Namespace: n.ns,
				Labels:      map[string]string{ManagedByLabel: managedBy},
				Annotations: map[string]string{RoutesAnnotation: n.route},
			},
			Spec: networkingv1.VirtualService{
				Hosts: []string{n.host},
				Http:  []*networkingv1.HTTPRoute{r.weightedRoute(n, progressive.AllStable(), "")},
			},
		}
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
func owned(vs *istiov1.VirtualService) []string {
	v := vs.GetAnnotations()[RoutesAnnotation]
	if v == "" {
		return nil
	}
	return strings.Split(v, ",")
}

// checkCollision refuses a VirtualService whose user routes carry the router's names.
func checkCollision(n names, vs *istiov1.VirtualService) error {
	own := owned(vs)
	for _, route := range vs.Spec.GetHttp() {
		name := route.GetName()
		if slices.Contains(n.mine(), name) && !slices.Contains(own, name) {
			return fmt.Errorf("istio router: VirtualService %s/%s already has a route %q that the router did not add (it is not listed in its %s annotation); "+
				"rename it or choose another Options.RouteName: %w", n.ns, n.vs, name, RoutesAnnotation, progressive.ErrInvalid)
		}
	}
	return nil
}

func destination(n names, subset string) *networkingv1.Destination {
	return &networkingv1.Destination{Host: n.host, Subset: subset}
}

// matchRequest starts an HTTPMatchRequest of the router: restricted to
// Options.URIPrefix when set.
func (r *Router) matchRequest() *networkingv1.HTTPMatchRequest {
	m := &networkingv1.HTTPMatchRequest{}
	if r.opts.URIPrefix != "" {
		m.Uri = &networkingv1.StringMatch{MatchType: &networkingv1.StringMatch_Prefix{Prefix: r.opts.URIPrefix}}
	}
	return m
}

// weight is the integer percentage Istio applies for a weight.
func weight(w float64) int32 { return int32(math.Round(w)) }

// weightedRoute is the route splitting traffic by weight; cookie, when not
// empty, is the session affinity cookie the canary's responses set.
func (r *Router) weightedRoute(n names, routes progressive.Routes, cookie string) *networkingv1.HTTPRoute {
	canary := weight(routes.CanaryWeight)
	canaryDest := &networkingv1.HTTPRouteDestination{Destination: destination(n, r.opts.CanarySubset), Weight: canary}
	if cookie != "" {
		canaryDest.Headers = &networkingv1.Headers{Response: &networkingv1.Headers_HeaderOperations{
			Add: map[string]string{setCookieHeader: r.setCookie(cookie)},
		}}
	}
	route := &networkingv1.HTTPRoute{
		Name: n.route,
		Route: []*networkingv1.HTTPRouteDestination{
			{Destination: destination(n, r.opts.StableSubset), Weight: 100 - canary},
			canaryDest,
		},
	}
	if r.opts.URIPrefix != "" {
		route.Match = []*networkingv1.HTTPMatchRequest{r.matchRequest()}
	}
	if routes.MirrorPercent > 0 {
		route.Mirror = destination(n, r.opts.CanarySubset)
		route.MirrorPercentage = &networkingv1.Percent{Value: routes.MirrorPercent}
	}
	return route
}

func (r *Router) abRoute(n names, matches []progressive.Match) *networkingv1.HTTPRoute {
	var ms []*networkingv1.HTTPMatchRequest
	for _, m := range matches {
		req := r.matchRequest()
		var header string
		value := &networkingv1.StringMatch{}
		switch m.Kind {
		case progressive.MatchCookie:
			header = cookieHeader
			value.MatchType = &networkingv1.StringMatch_Regex{Regex: cookieRegex(m)}
		default:
			header = strings.ToLower(m.Name)
			if m.Regex {
				value.MatchType = &networkingv1.StringMatch_Regex{Regex: m.Value}
			} else {
				value.MatchType = &networkingv1.StringMatch_Exact{Exact: m.Value}
			}
		}
		req.Headers = map[string]*networkingv1.StringMatch{header: value}
		ms = append(ms, req)
	}
	return &networkingv1.HTTPRoute{
		Name:  n.abRoute,
		Match: ms,
		Route: []*networkingv1.HTTPRouteDestination{{Destination: destination(n, r.opts.CanarySubset), Weight: 100}},
	}
}

const (
	cookieHeader    = "cookie"
	setCookieHeader = "Set-Cookie"
)

// stickyRoute sends the requests carrying the session affinity cookie to the
// canary, ahead of the weights.
func (r *Router) stickyRoute(n names, cookie string) *networkingv1.HTTPRoute {
	req := r.matchRequest()
	req.Headers = map[string]*networkingv1.StringMatch{cookieHeader: {
		MatchType: &networkingv1.StringMatch_Regex{Regex: cookieRegex(r.stickyMatch(cookie))},
	}}
	return &networkingv1.HTTPRoute{
		Name:  n.stickyRoute,
		Match: []*networkingv1.HTTPMatchRequest{req},
		Route: []*networkingv1.HTTPRouteDestination{{Destination: destination(n, r.opts.CanarySubset), Weight: 100}},
	}
}

func (r *Router) stickyMatch(cookie string) progressive.Match {
	return progressive.Match{Kind: progressive.MatchCookie, Name: r.opts.SessionAffinity.CookieName, Value: cookie}
}

// setCookie is the Set-Cookie value of the canary's responses. Path=/ makes
// the browser send the cookie on every path of the host, not only below the
// path of the response that set it, so that the user stays on the canary
// wherever they go next.
func (r *Router) setCookie(cookie string) string {
	sa := r.opts.SessionAffinity
	return fmt.Sprintf("%s=%s; Max-Age=%d; Path=/", sa.CookieName, cookie, int64(sa.MaxAge/time.Second))
}

// sticky reports whether routes get the session affinity route: only while
// both sides take weighted traffic; at 0 nobody should stick to the canary
// (a rollback), at 100 everybody is on it anyway.
func (r *Router) sticky(routes progressive.Routes) bool {
	c := weight(routes.CanaryWeight)
	return r.opts.SessionAffinity != nil && c > 0 && c < 100
}

// stickyCookie returns the cookie value of the sticky route vs already has, so
// that the users it holds keep matching as the weights change; else fresh. A
// new value per rollout keeps the cookies of an earlier, rolled-back canary
// from matching the next one.
func (r *Router) stickyCookie(n names, vs *istiov1.VirtualService, fresh string) string {
	if !slices.Contains(owned(vs), n.stickyRoute) {
		return fresh
	}
	for _, route := range vs.Spec.GetHttp() {
		if route.GetName() != n.stickyRoute {
			continue
		}
		for _, req := range route.GetMatch() {
			if m, ok := parseCookie(req.GetHeaders()[cookieHeader].GetRegex()); ok && !m.Regex && m.Name == r.opts.SessionAffinity.CookieName && m.Value != "" {
				return m.Value
			}
		}
	}
	return fresh
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
// the VirtualService (retried on conflicts from a fresh read), and checks the
// routes in the object the Update returns (what the apiserver stored). The
// first SetRoutes of a target (or the first after Finalize or an error that
// made the router forget it) validates everything first, as Initialize does;
// later ones start from the VirtualService the router last wrote or read, so
// a traffic change is one request.
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
	n, err := r.names(t)
	if err != nil {
		return err
	}
	key := targetKey(n, t)
	fresh := rand.Text()
	build := func(vs *istiov1.VirtualService) []*networkingv1.HTTPRoute {
		var want []*networkingv1.HTTPRoute
		if len(routes.Matches) > 0 {
			want = append(want, r.abRoute(n, routes.Matches))
		}
		cookie := ""
		if r.sticky(routes) {
			cookie = r.stickyCookie(n, vs, fresh)
			want = append(want, r.stickyRoute(n, cookie))
		}
		return append(want, r.weightedRoute(n, routes, cookie))
	}
	if m := r.remembered(key); m != nil {
		if err := r.checkCRDs(ctx); err != nil {
			return err
		}
		stored, err := r.writeRoutes(ctx, n, m.vs, false, build)
		if err == nil {
			r.wrote(key, stored)
			return nil
		}
		if !forgets(err) {
			return err // a transient failure: what the router remembers still holds
		}
		r.forget(key)
		if !errors.Is(err, progressive.ErrNotFound) {
			return err
		}
		// The VirtualService is gone: validate (and with Options.Create,
		// create) everything again, as the first SetRoutes does.
	}
	n, vs, err := r.prepare(ctx, t)
	if err != nil {
		return err
	}
	stored, err := r.writeRoutes(ctx, n, vs, true, build)
	if err != nil {
		if forgets(err) {
			r.forget(key)
		}
		return err
	}
	r.wrote(key, stored)
	return nil
}

// conflictBackoff paces the retries of an Update that lost a race: routers
// sharing a VirtualService may write it at the same moment, so the retries are
// more patient than client-go's DefaultRetry and jittered out of lock-step.
var conflictBackoff = wait.Backoff{Steps: 10, Duration: 10 * time.Millisecond, Factor: 2, Jitter: 0.5, Cap: 2 * time.Second}

// writeRoutes replaces the router's routes by those build returns for the
// VirtualService (none: removes them) in one Update guarded by its
// resourceVersion, and checks them in the object the Update returns, which it
// returns. The first attempt starts from base when not nil: read just now
// (fresh) or remembered from an earlier call; every retry after a conflict,
// and an attempt without base, reads the VirtualService first. A remembered
// base that needs no write is not trusted to say so: the VirtualService is
// read to confirm it. build runs again on every attempt, so that what it
// derives from the VirtualService (the sticky cookie) is never stale.
func (r *Router) writeRoutes(ctx context.Context, n names, base *istiov1.VirtualService, fresh bool,
	build func(*istiov1.VirtualService) []*networkingv1.HTTPRoute) (*istiov1.VirtualService, error) {
	client := r.cs.NetworkingV1().VirtualServices(n.ns)
	mine := n.mine()
	var want []*networkingv1.HTTPRoute
	var stored *istiov1.VirtualService
	var refused error // a collision: no retry helps, and it must reach the caller as written
	err := retry.RetryOnConflict(conflictBackoff, func() error {
		for {
			vs, trusted := base, fresh
			base = nil
			if vs == nil {
				got, err := client.Get(ctx, n.vs, metav1.GetOptions{})
				if err != nil {
					return err
				}
				vs, trusted = got, true
			}
			if refused = checkCollision(n, vs); refused != nil {
				return refused
			}
			want = build(vs)
			var kept []*networkingv1.HTTPRoute
			at := -1 // where the router's routes are now: they stay there
			for _, route := range vs.Spec.Http {
				if !slices.Contains(mine, route.GetName()) {
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
					if len(route.GetMatch()) == 0 {
						at = i
						break
					}
				}
			}
			next := slices.Concat(kept[:at:at], want, kept[at:])
			own := slices.DeleteFunc(owned(vs), func(s string) bool { return slices.Contains(mine, s) })
			for _, route := range want {
				own = append(own, route.GetName())
			}
			slices.Sort(own)
			if routesEqual(vs.Spec.Http, next) && slices.Equal(owned(vs), own) {
				if !trusted {
					// What the router remembers says there is nothing to write; the
					// apiserver may not agree (a user's edit since): read it.
					got, err := client.Get(ctx, n.vs, metav1.GetOptions{})
					if err != nil {
						return err
					}
					base, fresh = got, true
					continue
				}
				stored = vs
				return nil // already so: no write
			}
			vs = vs.DeepCopy() // base may be remembered: it is never modified
			if vs.Annotations == nil {
				vs.Annotations = map[string]string{}
			}
			if len(own) == 0 {
				delete(vs.Annotations, RoutesAnnotation)
			} else {
				vs.Annotations[RoutesAnnotation] = strings.Join(own, ",")
			}
			vs.Spec.Http = next
			var err error
			stored, err = client.Update(ctx, vs, metav1.UpdateOptions{FieldManager: fieldManager})
			return err
		}
	})
	if refused != nil {
		return nil, refused
	}
	if err != nil {
		return nil, classify(err, "istio router: update VirtualService %s/%s", n.ns, n.vs)
	}
	// The Update's response is what the apiserver stored (after any mutating
	// admission): the router's routes in it must be those written.
	var got []*networkingv1.HTTPRoute
	for _, route := range stored.Spec.Http {
		if slices.Contains(mine, route.GetName()) {
			got = append(got, route)
		}
	}
	if !routesEqual(got, want) {
		return nil, fmt.Errorf("istio router: VirtualService %s/%s read back (as stored by the Update) with routes %s after writing %s; someone else changed them: %w",
			n.ns, n.vs, routesString(got), routesString(want), progressive.ErrConflict)
	}
	return stored, nil
}

// routesEqual compares routes as protocol buffers: field by field, whatever
// the order of their maps.
func routesEqual(a, b []*networkingv1.HTTPRoute) bool {
	return slices.EqualFunc(a, b, func(x, y *networkingv1.HTTPRoute) bool { return proto.Equal(x, y) })
}

// routesString shows routes as the VirtualService's JSON does (the String of
// a proto message is deliberately unstable).
func routesString(routes []*networkingv1.HTTPRoute) string {
	b, err := json.Marshal(routes)
	if err != nil {
		return fmt.Sprint(routes)
	}
	return string(b)
}

// GetRoutes reads the router's routes back from the VirtualService. Without
// them (before the first SetRoutes, after Finalize) the router sends nothing to
// the canary: AllStable. The session affinity route is no A/B match (it only
// keeps the weights' choice), so it is not reported.
func (r *Router) GetRoutes(ctx context.Context, t progressive.Target) (progressive.Routes, error) {
	n, err := r.names(t)
	if err != nil {
		return progressive.Routes{}, err
	}
	if err := r.checkCRDs(ctx); err != nil {
		return progressive.Routes{}, err
	}
	key := targetKey(n, t)
	if vs := r.takeWritten(key); vs != nil {
		return r.routesOf(n, vs), nil
	}
	vs, err := r.cs.NetworkingV1().VirtualServices(n.ns).Get(ctx, n.vs, metav1.GetOptions{})
	if err != nil {
		if apierrors.IsNotFound(err) {
			r.forget(key)
		}
		return progressive.Routes{}, classify(err, "istio router: VirtualService %s/%s", n.ns, n.vs)
	}
	r.refresh(key, vs)
	return r.routesOf(n, vs), nil
}

// routesOf reads the router's routes out of vs.
func (r *Router) routesOf(n names, vs *istiov1.VirtualService) progressive.Routes {
	own := owned(vs)
	out := progressive.AllStable()
	for _, route := range vs.Spec.GetHttp() {
		name := route.GetName()
		if !slices.Contains(own, name) {
			continue
		}
		switch name {
		case n.route:
			var stable, canary float64
			for _, d := range route.GetRoute() {
				switch d.GetDestination().GetSubset() {
				case r.opts.StableSubset:
					stable += float64(d.GetWeight())
				case r.opts.CanarySubset:
					canary += float64(d.GetWeight())
				}
			}
			out.StableWeight, out.CanaryWeight = stable, canary
			if route.GetMirror() != nil && route.GetMirrorPercentage() != nil {
				out.MirrorPercent = route.GetMirrorPercentage().GetValue()
			}
		case n.abRoute:
			for _, req := range route.GetMatch() {
				headers := req.GetHeaders()
				// One header per match as written, but sorted all the same, so that
				// a hand-edited match reads back the same every time.
				for _, h := range slices.Sorted(maps.Keys(headers)) {
					v := headers[h]
					switch mt := v.GetMatchType().(type) {
					case *networkingv1.StringMatch_Regex:
						if c, ok := parseCookie(mt.Regex); ok && h == cookieHeader {
							out.Matches = append(out.Matches, c)
							continue
						}
						out.Matches = append(out.Matches, progressive.Match{Kind: progressive.MatchHeader, Name: h, Value: mt.Regex, Regex: true})
					case *networkingv1.StringMatch_Exact:
						out.Matches = append(out.Matches, progressive.Match{Kind: progressive.MatchHeader, Name: h, Value: mt.Exact})
					}
				}
			}
		}
	}
	return out
}

// Finalize removes the router's routes from an adopted VirtualService, in one
// Update, leaving the user's routes as they were before the rollout. In a
// VirtualService the router created (Options.Create) it leaves its route with
// all traffic on stable instead: removing it would send the traffic to the
// whole Service, canary pods included. Either way the session affinity route
// goes. A missing VirtualService is nothing to finalize. It reads the
// VirtualService afresh, and the router forgets the target: a later SetRoutes
// validates everything again.
func (r *Router) Finalize(ctx context.Context, t progressive.Target) error {
	n, err := r.names(t)
	if err != nil {
		return err
	}
	key := targetKey(n, t)
	r.forget(key)
	defer r.forget(key) // a SetRoutes running meanwhile may have remembered it
	if err := r.checkCRDs(ctx); err != nil {
		return err
	}
	vs, err := r.cs.NetworkingV1().VirtualServices(n.ns).Get(ctx, n.vs, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return classify(err, "istio router: VirtualService %s/%s", n.ns, n.vs)
	}
	build := func(*istiov1.VirtualService) []*networkingv1.HTTPRoute { return nil }
	if vs.GetLabels()[ManagedByLabel] == managedBy {
		build = func(*istiov1.VirtualService) []*networkingv1.HTTPRoute {
			return []*networkingv1.HTTPRoute{r.weightedRoute(n, progressive.AllStable(), "")}
		}
	}
	_, err = r.writeRoutes(ctx, n, vs, true, build)
	return err
}
