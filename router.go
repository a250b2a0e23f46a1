package progressive

import (
	"context"
	"math"
	"regexp"
	"strings"
)

// MatchKind says which part of a request a Match inspects.
type MatchKind string

const (
	// MatchHeader matches an HTTP request header.
	MatchHeader MatchKind = "header"
	// MatchCookie matches one cookie of the Cookie header.
	MatchCookie MatchKind = "cookie"
)

// Match sends requests that carry a header or cookie to the canary regardless of the
// weights: the A/B segment (x-version: green, or a beta-tester cookie).
type Match struct {
	Kind  MatchKind `json:"kind"`
	Name  string    `json:"name"`
	Value string    `json:"value"`
	// Regex makes Value a regular expression (RE2) instead of an exact string.
	Regex bool `json:"regex,omitempty"`
}

// Routes is the traffic state a TrafficRouter establishes between the stable and the
// canary version. Weights are percentages; GetRoutes reports what was achieved, which
// may differ from what was asked (two canary pods of 22 carry 9.09%, not 10%).
type Routes struct {
	StableWeight float64 `json:"stableWeight"`
	CanaryWeight float64 `json:"canaryWeight"`
	// MirrorPercent copies that share of the stable traffic to the canary; the
	// canary's answers are discarded.
	MirrorPercent float64 `json:"mirrorPercent,omitempty"`
	// Matches route matching requests to the canary, ahead of the weights.
	Matches []Match `json:"matches,omitempty"`
}

// AllStable is the state before a rollout and after a rollback.
func AllStable() Routes { return Routes{StableWeight: 100} }

// WeightedRoutes splits traffic canary percent to the canary and the rest to stable.
func WeightedRoutes(canary float64) Routes {
	return Routes{StableWeight: 100 - canary, CanaryWeight: canary}
}

// weightTolerance absorbs float rounding when weights are checked to sum to 100.
const weightTolerance = 1e-6

// Validate reports weights outside 0-100, weights that do not sum to 100, a mirror
// share outside 0-100, and incomplete matches.
func (r Routes) Validate() error {
	var p Problems
	checkPercent(&p, "stableWeight", r.StableWeight)
	checkPercent(&p, "canaryWeight", r.CanaryWeight)
	if sum := r.StableWeight + r.CanaryWeight; math.Abs(sum-100) > weightTolerance && !math.IsNaN(sum) {
		p.Add("canaryWeight", r.CanaryWeight, "stableWeight + canaryWeight must be 100, is %g", sum)
	}
	checkPercent(&p, "mirrorPercent", r.MirrorPercent)
	for i, m := range r.Matches {
		p.Merge(fieldIndex("matches", i), m.Validate())
	}
	return p.Err()
}

// Validate reports an unknown kind, a name that is not an HTTP header name (or
// cookie name) token, an empty value or one with control characters, and a regex
// that does not compile as RE2: all of them would otherwise pass here and fail
// only when the router writes them, mid-rollout.
func (m Match) Validate() error {
	var p Problems
	if m.Kind != MatchHeader && m.Kind != MatchCookie {
		p.Add("kind", string(m.Kind), "must be %q or %q", MatchHeader, MatchCookie)
	}
	switch {
	case m.Name == "":
		p.Add("name", nil, "must not be empty")
	case len(m.Name) > 256 || !isHTTPToken(m.Name):
		p.Add("name", m.Name, "must be an HTTP token of at most 256 characters: letters, digits and !#$%%&'*+-.^_`|~, no spaces, colons or control characters")
	}
	switch {
	case m.Value == "":
		p.Add("value", nil, "must not be empty")
	case len(m.Value) > 4096 || strings.ContainsFunc(m.Value, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		p.Add("value", m.Value, "must be at most 4096 characters without control characters (CR, LF, ...)")
	case m.Regex:
		if _, err := regexp.Compile(m.Value); err != nil {
			p.Add("value", m.Value, "is not an RE2 regular expression: %v", err)
		}
	}
	return p.Err()
}

// isHTTPToken reports whether s is an RFC 9110 token, what a header field name
// (and a cookie name) is made of.
func isHTTPToken(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		ok := (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
		if !ok {
			return false
		}
	}
	return true
}

func checkPercent(p *Problems, field string, v float64) {
	if math.IsNaN(v) || v < 0 || v > 100 {
		p.Add(field, v, "must be between 0 and 100")
	}
}

// TrafficRouter shifts requests between the stable and the canary version.
//
// Implementations manage only what they own (one route of a VirtualService that may
// hold the user's other routes), make SetRoutes idempotent, and apply a change in one
// write so that nothing is ever half-switched.
type TrafficRouter interface {
	// Name is the provider name plans refer to ("istio", "kubernetes", ...).
	Name() string
	// SetRoutes establishes routes for target. A rollback is SetRoutes(AllStable()).
	SetRoutes(ctx context.Context, target Target, routes Routes) error
	// GetRoutes reads back what the data plane was told, as achieved.
	GetRoutes(ctx context.Context, target Target) (Routes, error)
	// Finalize removes what the router added and leaves all traffic on stable.
	Finalize(ctx context.Context, target Target) error
}

// RouterInitializer is implemented by routers that create or adopt the objects they
// need (DestinationRule subsets, a canary Service) before the first SetRoutes.
type RouterInitializer interface {
	Initialize(ctx context.Context, target Target) error
}
