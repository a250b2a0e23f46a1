package gatewayapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/retry"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
	"sigs.k8s.io/gateway-api/pkg/client/clientset/versioned"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/internal/kubeclient"
)

// Name is the provider name plans refer to.
const Name = "gatewayapi"

// CRDName is the CustomResourceDefinition the router needs.
const CRDName = "httproutes.gateway.networking.k8s.io"

// InstallHint says how to install the CRD.
const InstallHint = "install the Gateway API standard CRDs: kubectl apply --server-side -f https://github.com/kubernetes-sigs/gateway-api/releases/download/v1.6.3/standard-install.yaml"

// OriginalWeightsAnnotation keeps, as a JSON object from stable Service name
// to weight ("" for none), each stable backendRef's weight as it was before the
// router first changed it; Finalize restores it and drops the entry.
const OriginalWeightsAnnotation = "progressive.agentops.io/gatewayapi-stable-weights"

func originalWeights(hr *gatewayv1.HTTPRoute) map[string]string {
	m := map[string]string{}
	if v, ok := hr.Annotations[OriginalWeightsAnnotation]; ok {
		_ = json.Unmarshal([]byte(v), &m)
	}
	return m
}

func setOriginalWeights(hr *gatewayv1.HTTPRoute, m map[string]string) {
	if len(m) == 0 {
		delete(hr.Annotations, OriginalWeightsAnnotation)
		return
	}
	if hr.Annotations == nil {
		hr.Annotations = map[string]string{}
	}
	b, _ := json.Marshal(m)
	hr.Annotations[OriginalWeightsAnnotation] = string(b)
}

// CreatedByAnnotation marks an HTTPRoute the router created (Options.NewRoute);
// Finalize deletes such a route.
const CreatedByAnnotation = "progressive.agentops.io/created-by"

// DefaultConflictBackoff paces the re-reads after a write lost a
// resourceVersion race (another router or a user writing the same HTTPRoute):
// up to 12 attempts with jittered exponential back-off, a few seconds in all.
// It returns a copy: what one router uses cannot change another's, which a
// package variable allowed. Options.ConflictBackoff overrides it per router.
func DefaultConflictBackoff() wait.Backoff {
	return wait.Backoff{Steps: 12, Duration: 10 * time.Millisecond, Factor: 1.6, Jitter: 0.5, Cap: 2 * time.Second}
}

// totalWeight is 100% in backendRef weights.
const totalWeight = 1000000

// Options configure a Router. The zero value is ready to use.
type Options struct {
	// RouteName names the HTTPRoute; default the target's name.
	RouteName string
	// CanarySuffix makes the canary Service's name; default "-canary".
	CanarySuffix string
	// Port of both Services in backendRefs; default the port of the existing
	// stable backendRef.
	Port int32
	// NewRoute, when set, builds the HTTPRoute to create when it is missing
	// (the route then carries CreatedByAnnotation and Finalize deletes it).
	// Without it a missing route is progressive.ErrNotFound.
	NewRoute func(ctx context.Context, t progressive.Target) (*gatewayv1.HTTPRoute, error)
	// ProviderName overrides Name() (for routers built on this one).
	ProviderName string
	// ConflictBackoff paces the retries of a write that lost a
	// resourceVersion race. Default (Steps 0): DefaultConflictBackoff().
	ConflictBackoff wait.Backoff
}

// conflictBackoff is the router's Options.ConflictBackoff or the default.
func (r *Router) conflictBackoff() wait.Backoff {
	if r.opts.ConflictBackoff.Steps > 0 {
		return r.opts.ConflictBackoff
	}
	return DefaultConflictBackoff()
}

// Router is a progressive.TrafficRouter on an HTTPRoute.
type Router struct {
	cs   versioned.Interface
	opts Options
}

var (
	_ progressive.TrafficRouter     = (*Router)(nil)
	_ progressive.RouterInitializer = (*Router)(nil)
)

// New returns a Router using cfg.
//
// A cfg without a rate limit (QPS 0 and no RateLimiter) gets 200 requests per
// second with bursts of 400 instead of client-go's 5 and 10: the router's
// client is shared by every rollout it drives, and client-go's default
// throttles a process driving many of them. A caller that sets QPS or a
// RateLimiter keeps theirs; cfg itself is not modified.
func New(cfg *rest.Config, opts Options) (*Router, error) {
	if cfg == nil {
		return nil, fmt.Errorf("gatewayapi: rest.Config must not be nil: %w", progressive.ErrInvalid)
	}
	cfg = kubeclient.WithDefaultRateLimit(cfg)
	cs, err := versioned.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("gatewayapi: %w: %w", err, progressive.ErrInvalid)
	}
	return NewForClientset(cs, opts), nil
}

// NewForClientset returns a Router using cs.
func NewForClientset(cs versioned.Interface, opts Options) *Router {
	if opts.CanarySuffix == "" {
		opts.CanarySuffix = "-canary"
	}
	return &Router{cs: cs, opts: opts}
}

// Name returns "gatewayapi" unless Options.ProviderName says otherwise.
func (r *Router) Name() string {
	if r.opts.ProviderName != "" {
		return r.opts.ProviderName
	}
	return Name
}

func (r *Router) routeName(t progressive.Target) string {
	if r.opts.RouteName != "" {
		return r.opts.RouteName
	}
	return t.Name
}

func (r *Router) canaryName(t progressive.Target) string { return t.Name + r.opts.CanarySuffix }

// MatchRuleName is the name of the rule holding the A/B matches of t.
func MatchRuleName(t progressive.Target) string { return "progressive-" + t.Name + "-match" }

func (r *Router) ref(t progressive.Target) string {
	return fmt.Sprintf("HTTPRoute %s/%s", t.Namespace, r.routeName(t))
}

// classify turns an API error into one wrapping a progressive sentinel.
func (r *Router) classify(ctx context.Context, t progressive.Target, err error, what string) error {
	if err == nil {
		return nil
	}
	switch {
	case apierrors.IsNotFound(err):
		if !r.crdInstalled(ctx) {
			return fmt.Errorf("gatewayapi: %s: CRD %s is not installed (%s): %w: %w", what, CRDName, InstallHint, err, progressive.ErrInvalid)
		}
		return fmt.Errorf("gatewayapi: %s: %s not found: %w: %w", what, r.ref(t), err, progressive.ErrNotFound)
	case apierrors.IsConflict(err):
		return fmt.Errorf("gatewayapi: %s: %w: %w", what, err, progressive.ErrConflict)
	case apierrors.IsInvalid(err), apierrors.IsBadRequest(err), apierrors.IsForbidden(err), apierrors.IsUnauthorized(err):
		return fmt.Errorf("gatewayapi: %s: %w: %w", what, err, progressive.ErrInvalid)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("gatewayapi: %s: %w", what, err)
	default:
		return fmt.Errorf("gatewayapi: %s: %w: %w", what, err, progressive.ErrTransient)
	}
}

func (r *Router) crdInstalled(ctx context.Context) bool {
	list, err := r.cs.Discovery().ServerResourcesForGroupVersion(gatewayv1.GroupVersion.String())
	if err != nil {
		return false
	}
	for _, res := range list.APIResources {
		if res.Name == "httproutes" {
			return true
		}
	}
	return false
}

func (r *Router) get(ctx context.Context, t progressive.Target) (*gatewayv1.HTTPRoute, error) {
	if err := t.Validate(); err != nil {
		return nil, fmt.Errorf("gatewayapi: target: %w", err)
	}
	hr, err := r.cs.GatewayV1().HTTPRoutes(t.Namespace).Get(ctx, r.routeName(t), metav1.GetOptions{})
	if err != nil {
		return nil, r.classify(ctx, t, err, "reading "+r.ref(t))
	}
	return hr, nil
}

// Initialize checks that the HTTPRoute exists and sends to the stable
// Service, creating it with Options.NewRoute when that is set.
func (r *Router) Initialize(ctx context.Context, t progressive.Target) error {
	hr, err := r.get(ctx, t)
	if errors.Is(err, progressive.ErrNotFound) && r.opts.NewRoute != nil {
		if hr, err = r.opts.NewRoute(ctx, t); err != nil {
			return err
		}
		hr.Namespace, hr.Name = t.Namespace, r.routeName(t)
		if hr.Annotations == nil {
			hr.Annotations = map[string]string{}
		}
		hr.Annotations[CreatedByAnnotation] = r.Name()
		_, err = r.cs.GatewayV1().HTTPRoutes(t.Namespace).Create(ctx, hr, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			err = nil
		}
		return r.classify(ctx, t, err, "creating "+r.ref(t))
	}
	if err != nil {
		return err
	}
	if len(r.stableRules(t, hr)) == 0 {
		return fmt.Errorf("gatewayapi: no rule of %s has a backendRef to Service %s: %w", r.ref(t), t.Name, progressive.ErrNotFound)
	}
	return nil
}

func isService(ref gatewayv1.BackendObjectReference, ns, name string) bool {
	if ref.Group != nil && *ref.Group != "" && *ref.Group != "core" {
		return false
	}
	if ref.Kind != nil && *ref.Kind != "Service" {
		return false
	}
	if ref.Namespace != nil && string(*ref.Namespace) != ns {
		return false
	}
	return string(ref.Name) == name
}

// stableRules are the indexes of the rules (other than the match rule) with a
// backendRef to the stable Service.
func (r *Router) stableRules(t progressive.Target, hr *gatewayv1.HTTPRoute) []int {
	var out []int
	for i, rule := range hr.Spec.Rules {
		if rule.Name != nil && string(*rule.Name) == MatchRuleName(t) {
			continue
		}
		for _, b := range rule.BackendRefs {
			if isService(b.BackendObjectReference, t.Namespace, t.Name) {
				out = append(out, i)
				break
			}
		}
	}
	return out
}

func (r *Router) backendRef(name string, port int32, weight int32) gatewayv1.HTTPBackendRef {
	p := gatewayv1.PortNumber(port)
	w := weight
	return gatewayv1.HTTPBackendRef{BackendRef: gatewayv1.BackendRef{
		BackendObjectReference: gatewayv1.BackendObjectReference{Name: gatewayv1.ObjectName(name), Port: &p},
		Weight:                 &w,
	}}
}

func (r *Router) port(t progressive.Target, hr *gatewayv1.HTTPRoute) int32 {
	if r.opts.Port != 0 {
		return r.opts.Port
	}
	for _, i := range r.stableRules(t, hr) {
		for _, b := range hr.Spec.Rules[i].BackendRefs {
			if isService(b.BackendObjectReference, t.Namespace, t.Name) && b.Port != nil {
				return int32(*b.Port)
			}
		}
	}
	return 0
}

// SetRoutes writes routes into the HTTPRoute in one Update and reads them back.
func (r *Router) SetRoutes(ctx context.Context, t progressive.Target, routes progressive.Routes) error {
	if err := routes.Validate(); err != nil {
		return fmt.Errorf("gatewayapi: routes: %w", err)
	}
	err := retry.RetryOnConflict(r.conflictBackoff(), func() error {
		hr, err := r.get(ctx, t)
		if err != nil {
			return err
		}
		if err := r.apply(t, hr, routes); err != nil {
			return err
		}
		_, err = r.cs.GatewayV1().HTTPRoutes(t.Namespace).Update(ctx, hr, metav1.UpdateOptions{})
		if apierrors.IsConflict(err) {
			return err
		}
		return r.classify(ctx, t, err, "updating "+r.ref(t))
	})
	if apierrors.IsConflict(err) {
		return r.classify(ctx, t, err, "updating "+r.ref(t))
	}
	if err != nil {
		return err
	}
	got, err := r.GetRoutes(ctx, t)
	if err != nil {
		return err
	}
	if math.Abs(got.CanaryWeight-routes.CanaryWeight) > 0.0001 || math.Abs(got.MirrorPercent-routes.MirrorPercent) > 0.0001 || len(got.Matches) != len(routes.Matches) {
		return fmt.Errorf("gatewayapi: %s reads back %+v, want %+v (another writer?): %w", r.ref(t), got, routes, progressive.ErrConflict)
	}
	return nil
}

// apply changes hr in memory.
func (r *Router) apply(t progressive.Target, hr *gatewayv1.HTTPRoute, routes progressive.Routes) error {
	idx := r.stableRules(t, hr)
	if len(idx) == 0 {
		return fmt.Errorf("gatewayapi: no rule of %s has a backendRef to Service %s: %w", r.ref(t), t.Name, progressive.ErrNotFound)
	}
	port := r.port(t, hr)
	if port == 0 {
		return fmt.Errorf("gatewayapi: no port for Service %s in %s: set Options.Port: %w", t.Name, r.ref(t), progressive.ErrInvalid)
	}
	canary := r.canaryName(t)
	cw := int32(math.Round(routes.CanaryWeight * totalWeight / 100))
	sw := totalWeight - cw
	origs := originalWeights(hr)
	if _, ok := origs[t.Name]; !ok {
		orig := ""
		for _, b := range hr.Spec.Rules[idx[0]].BackendRefs {
			if isService(b.BackendObjectReference, t.Namespace, t.Name) && b.Weight != nil {
				orig = strconv.Itoa(int(*b.Weight))
			}
		}
		origs[t.Name] = orig
		setOriginalWeights(hr, origs)
	}
	for _, i := range idx {
		rule := &hr.Spec.Rules[i]
		var refs []gatewayv1.HTTPBackendRef
		for _, b := range rule.BackendRefs {
			switch {
			case isService(b.BackendObjectReference, t.Namespace, canary):
				continue
			case isService(b.BackendObjectReference, t.Namespace, t.Name):
				w := sw
				b.Weight = &w
			}
			refs = append(refs, b)
		}
		refs = append(refs, r.backendRef(canary, port, cw))
		rule.BackendRefs = refs
		rule.Filters = withoutMirror(rule.Filters, t.Namespace, canary)
		if routes.MirrorPercent > 0 {
			p := gatewayv1.PortNumber(port)
			m := &gatewayv1.HTTPRequestMirrorFilter{BackendRef: gatewayv1.BackendObjectReference{Name: gatewayv1.ObjectName(canary), Port: &p}}
			if pc := routes.MirrorPercent; pc == math.Trunc(pc) {
				v := int32(pc)
				m.Percent = &v
			} else {
				m.Fraction = &gatewayv1.Fraction{Numerator: int32(math.Round(pc * 10000)), Denominator: ptr(int32(totalWeight))}
			}
			rule.Filters = append(rule.Filters, gatewayv1.HTTPRouteFilter{Type: gatewayv1.HTTPRouteFilterRequestMirror, RequestMirror: m})
		}
	}
	// The match rule: removed, then added again when there are matches.
	var rules []gatewayv1.HTTPRouteRule
	for _, rule := range hr.Spec.Rules {
		if rule.Name != nil && string(*rule.Name) == MatchRuleName(t) {
			continue
		}
		rules = append(rules, rule)
	}
	if len(routes.Matches) > 0 {
		name := gatewayv1.SectionName(MatchRuleName(t))
		rule := gatewayv1.HTTPRouteRule{Name: &name, BackendRefs: []gatewayv1.HTTPBackendRef{r.backendRef(canary, port, 1)}}
		var path *gatewayv1.HTTPPathMatch
		if ms := hr.Spec.Rules[idx[0]].Matches; len(ms) > 0 && ms[0].Path != nil {
			path = ms[0].Path.DeepCopy()
		}
		for _, m := range routes.Matches {
			rule.Matches = append(rule.Matches, gatewayv1.HTTPRouteMatch{Path: path, Headers: []gatewayv1.HTTPHeaderMatch{headerMatch(m)}})
		}
		rules = append(rules, rule)
	}
	hr.Spec.Rules = rules
	return nil
}

func ptr[T any](v T) *T { return &v }

func withoutMirror(fs []gatewayv1.HTTPRouteFilter, ns, canary string) []gatewayv1.HTTPRouteFilter {
	var out []gatewayv1.HTTPRouteFilter
	for _, f := range fs {
		if f.Type == gatewayv1.HTTPRouteFilterRequestMirror && f.RequestMirror != nil && isService(f.RequestMirror.BackendRef, ns, canary) {
			continue
		}
		out = append(out, f)
	}
	return out
}

// GetRoutes reads the weights, mirror share and matches back from the HTTPRoute.
func (r *Router) GetRoutes(ctx context.Context, t progressive.Target) (progressive.Routes, error) {
	hr, err := r.get(ctx, t)
	if err != nil {
		return progressive.Routes{}, err
	}
	idx := r.stableRules(t, hr)
	if len(idx) == 0 {
		return progressive.Routes{}, fmt.Errorf("gatewayapi: no rule of %s has a backendRef to Service %s: %w", r.ref(t), t.Name, progressive.ErrNotFound)
	}
	canary := r.canaryName(t)
	rule := hr.Spec.Rules[idx[0]]
	var sw, cw float64
	for _, b := range rule.BackendRefs {
		w := 1.0
		if b.Weight != nil {
			w = float64(*b.Weight)
		}
		switch {
		case isService(b.BackendObjectReference, t.Namespace, t.Name):
			sw += w
		case isService(b.BackendObjectReference, t.Namespace, canary):
			cw += w
		}
	}
	out := progressive.AllStable()
	if sw+cw > 0 {
		out.CanaryWeight = math.Round(cw/(sw+cw)*100*10000) / 10000
		out.StableWeight = 100 - out.CanaryWeight
	}
	for _, f := range rule.Filters {
		if f.Type != gatewayv1.HTTPRouteFilterRequestMirror || f.RequestMirror == nil || !isService(f.RequestMirror.BackendRef, t.Namespace, canary) {
			continue
		}
		switch m := f.RequestMirror; {
		case m.Percent != nil:
			out.MirrorPercent = float64(*m.Percent)
		case m.Fraction != nil:
			d := 100.0
			if m.Fraction.Denominator != nil {
				d = float64(*m.Fraction.Denominator)
			}
			out.MirrorPercent = math.Round(float64(m.Fraction.Numerator)/d*100*10000) / 10000
		default:
			out.MirrorPercent = 100
		}
	}
	for _, rule := range hr.Spec.Rules {
		if rule.Name == nil || string(*rule.Name) != MatchRuleName(t) {
			continue
		}
		for _, m := range rule.Matches {
			for _, h := range m.Headers {
				out.Matches = append(out.Matches, fromHeaderMatch(h))
			}
		}
	}
	return out, nil
}

// Finalize removes the canary backendRefs, the mirror filter and the match
// rule, restores the stable weight, in one Update; a route the router created
// is deleted.
func (r *Router) Finalize(ctx context.Context, t progressive.Target) error {
	return retry.RetryOnConflict(r.conflictBackoff(), func() error {
		hr, err := r.get(ctx, t)
		if err != nil {
			return err
		}
		if hr.Annotations[CreatedByAnnotation] == r.Name() {
			err := r.cs.GatewayV1().HTTPRoutes(t.Namespace).Delete(ctx, hr.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{ResourceVersion: &hr.ResourceVersion}})
			if apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
				return err
			}
			return r.classify(ctx, t, err, "deleting "+r.ref(t))
		}
		canary := r.canaryName(t)
		origs := originalWeights(hr)
		orig, had := origs[t.Name]
		var rules []gatewayv1.HTTPRouteRule
		for _, rule := range hr.Spec.Rules {
			if rule.Name != nil && string(*rule.Name) == MatchRuleName(t) {
				continue
			}
			var refs []gatewayv1.HTTPBackendRef
			touched := false
			for _, b := range rule.BackendRefs {
				if isService(b.BackendObjectReference, t.Namespace, canary) {
					touched = true
					continue
				}
				refs = append(refs, b)
			}
			if touched {
				for j := range refs {
					if had && isService(refs[j].BackendObjectReference, t.Namespace, t.Name) {
						refs[j].Weight = nil
						if n, err := strconv.Atoi(orig); err == nil {
							w := int32(n)
							refs[j].Weight = &w
						}
					}
				}
				rule.BackendRefs = refs
			}
			rule.Filters = withoutMirror(rule.Filters, t.Namespace, canary)
			rules = append(rules, rule)
		}
		hr.Spec.Rules = rules
		delete(origs, t.Name)
		setOriginalWeights(hr, origs)
		_, err = r.cs.GatewayV1().HTTPRoutes(t.Namespace).Update(ctx, hr, metav1.UpdateOptions{})
		if apierrors.IsConflict(err) {
			return err
		}
		return r.classify(ctx, t, err, "updating "+r.ref(t))
	})
}

// A cookie match is a regular-expression match of the Cookie header:
// cookiePrefix + QuoteMeta(name) + "=" + value + cookieSuffix, where value is
// QuoteMeta(value), or (?:value) for a regex match.
const (
	cookiePrefix = `(^|;\s*)`
	cookieSuffix = `(;|$)`
)

func headerMatch(m progressive.Match) gatewayv1.HTTPHeaderMatch {
	typ := gatewayv1.HeaderMatchExact
	if m.Regex {
		typ = gatewayv1.HeaderMatchRegularExpression
	}
	if m.Kind != progressive.MatchCookie {
		return gatewayv1.HTTPHeaderMatch{Type: &typ, Name: gatewayv1.HTTPHeaderName(m.Name), Value: m.Value}
	}
	typ = gatewayv1.HeaderMatchRegularExpression
	v := regexp.QuoteMeta(m.Value)
	if m.Regex {
		v = "(?:" + m.Value + ")"
	}
	return gatewayv1.HTTPHeaderMatch{Type: &typ, Name: "Cookie", Value: cookiePrefix + regexp.QuoteMeta(m.Name) + "=" + v + cookieSuffix}
}

func fromHeaderMatch(h gatewayv1.HTTPHeaderMatch) progressive.Match {
	regex := h.Type != nil && *h.Type == gatewayv1.HeaderMatchRegularExpression
	if regex && strings.EqualFold(string(h.Name), "cookie") && strings.HasPrefix(h.Value, cookiePrefix) && strings.HasSuffix(h.Value, cookieSuffix) {
		body := strings.TrimSuffix(strings.TrimPrefix(h.Value, cookiePrefix), cookieSuffix)
		if name, value, ok := strings.Cut(body, "="); ok {
			m := progressive.Match{Kind: progressive.MatchCookie, Name: unquoteMeta(name)}
			if strings.HasPrefix(value, "(?:") && strings.HasSuffix(value, ")") {
				m.Value, m.Regex = value[3:len(value)-1], true
			} else {
				m.Value = unquoteMeta(value)
			}
			return m
		}
	}
	return progressive.Match{Kind: progressive.MatchHeader, Name: string(h.Name), Value: h.Value, Regex: regex}
}

// unquoteMeta undoes regexp.QuoteMeta.
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
