// Package routertest is a conformance suite for progressive.TrafficRouter
// implementations, including third-party ones. Call Run from a test of the
// router's package:
//
//	func TestConformance(t *testing.T) {
//		routertest.Run(t, func(t *testing.T) routertest.Setup {
//			ns := env.NewNamespace(t) // whatever the router needs, fresh per behaviour
//			return routertest.Setup{Router: newRouter(t, ns), Target: progressive.Target{Namespace: ns, Name: "checkout"}}
//		})
//	}
//
// Every behaviour runs as a subtest with its own Setup, so a router's state
// does not leak from one to the next. The behaviours are the contract of
// progressive.TrafficRouter: a whole canary walk (0, 10, 50, 100 and a rollback
// to AllStable) read back as set (or as honestly achieved, within
// Setup.Tolerance), the blue-green switch, idempotent SetRoutes, invalid routes
// rejected with progressive.ErrInvalid leaving the previous routes in place,
// header and cookie matches and mirroring when the router supports them (and
// progressive.ErrUnsupported, changing nothing, when it does not), and a
// Finalize that leaves AllStable and can be repeated.
package routertest

import (
	"context"
	"errors"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/agentops/progressive"
)

// Setup is what one behaviour needs: a router, the target it routes, and what
// the router can do.
type Setup struct {
	Router progressive.TrafficRouter
	Target progressive.Target
	// Matches says the router supports header and cookie matches (A/B).
	Matches bool
	// Mirror says the router supports mirroring.
	Mirror bool
	// Tolerance is how far (in percentage points) an achieved weight may be
	// from the one asked for; 0 means exactly, up to float rounding. A router
	// splitting by pod ratio needs more; a mesh with integer weights needs none
	// for integer percentages.
	Tolerance float64
	// Timeout bounds each behaviour; 0 means one minute.
	Timeout time.Duration
	// Settle is how long a router that reads its routes back from an eventually
	// consistent data plane (EndpointSlices, say) may take: the suite retries a
	// SetRoutes failing with progressive.ErrTransient and polls GetRoutes until
	// it shows what was set, for up to Settle. 0 means the read-back must be
	// right at once, which is what a router writing one object should achieve.
	Settle time.Duration
}

// Behaviour is one entry of the conformance table.
type Behaviour struct {
	Name string
	Run  func(t *testing.T, ctx context.Context, s Setup)
}

// Behaviours returns the table Run runs, in order: a new slice each call, so a
// suite that runs some of them (or adds its own) changes nobody else's table.
func Behaviours() []Behaviour { return slices.Clone(behaviours) }

// behaviours is the table itself, unexported so that no caller can change it.
var behaviours = []Behaviour{
	{"CanaryWalk", canaryWalk},
	{"BlueGreenSwitch", blueGreenSwitch},
	{"IdempotentSetRoutes", idempotent},
	{"InvalidRoutesRejected", invalidRejected},
	{"Matches", matches},
	{"Mirror", mirror},
	{"FinalizeLeavesAllStable", finalize},
}

// Run runs every behaviour of Behaviours() as a subtest, each with a fresh Setup
// from newSetup.
func Run(t *testing.T, newSetup func(t *testing.T) Setup) {
	t.Helper()
	for _, b := range behaviours {
		t.Run(b.Name, func(t *testing.T) {
			s := newSetup(t)
			if s.Router == nil {
				t.Fatal("routertest: Setup.Router is nil")
			}
			timeout := s.Timeout
			if timeout <= 0 {
				timeout = time.Minute
			}
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			if init, ok := s.Router.(progressive.RouterInitializer); ok {
				if err := init.Initialize(ctx, s.Target); err != nil {
					t.Fatalf("Initialize(%s): %v", s.Target, err)
				}
			}
			b.Run(t, ctx, s)
		})
	}
}

func set(t *testing.T, ctx context.Context, s Setup, r progressive.Routes) {
	t.Helper()
	deadline := time.Now().Add(s.Settle)
	for {
		err := s.Router.SetRoutes(ctx, s.Target, r)
		if err == nil {
			return
		}
		if !progressive.IsTransient(err) || time.Now().After(deadline) {
			t.Fatalf("SetRoutes(%s, %+v): %v", s.Target, r, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func get(t *testing.T, ctx context.Context, s Setup) progressive.Routes {
	t.Helper()
	got, err := s.Router.GetRoutes(ctx, s.Target)
	if err != nil {
		t.Fatalf("GetRoutes(%s): %v", s.Target, err)
	}
	return got
}

// expect reads the routes back and compares them with want: weights within the
// tolerance and summing to 100, the mirror share, and the matches in order.
func expect(t *testing.T, ctx context.Context, s Setup, want progressive.Routes, what string) {
	t.Helper()
	tol := max(s.Tolerance, 1e-6)
	deadline := time.Now().Add(s.Settle)
	var got progressive.Routes
	for {
		var err error
		got, err = s.Router.GetRoutes(ctx, s.Target)
		settling := time.Now().Before(deadline)
		if err != nil && (!progressive.IsTransient(err) || !settling) {
			t.Fatalf("%s: GetRoutes(%s): %v", what, s.Target, err)
		}
		if (err == nil && matchesRoutes(got, want, tol)) || (err == nil && !settling) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if math.Abs(got.CanaryWeight-want.CanaryWeight) > tol || math.Abs(got.StableWeight-want.StableWeight) > tol {
		t.Errorf("%s: GetRoutes weights stable %g / canary %g, want %g / %g (tolerance %g)",
			what, got.StableWeight, got.CanaryWeight, want.StableWeight, want.CanaryWeight, s.Tolerance)
	}
	if sum := got.StableWeight + got.CanaryWeight; math.Abs(sum-100) > 1e-6 {
		t.Errorf("%s: GetRoutes weights sum to %g, want 100", what, sum)
	}
	if math.Abs(got.MirrorPercent-want.MirrorPercent) > 1e-6 {
		t.Errorf("%s: GetRoutes mirror %g%%, want %g%%", what, got.MirrorPercent, want.MirrorPercent)
	}
	if !slices.Equal(got.Matches, want.Matches) {
		t.Errorf("%s: GetRoutes matches %+v, want %+v", what, got.Matches, want.Matches)
	}
}

func matchesRoutes(got, want progressive.Routes, tol float64) bool {
	return math.Abs(got.CanaryWeight-want.CanaryWeight) <= tol && math.Abs(got.StableWeight-want.StableWeight) <= tol &&
		math.Abs(got.StableWeight+got.CanaryWeight-100) <= 1e-6 && math.Abs(got.MirrorPercent-want.MirrorPercent) <= 1e-6 &&
		slices.Equal(got.Matches, want.Matches)
}

func canaryWalk(t *testing.T, ctx context.Context, s Setup) {
	for _, w := range []float64{0, 10, 50, 100} {
		set(t, ctx, s, progressive.WeightedRoutes(w))
		expect(t, ctx, s, progressive.WeightedRoutes(w), "canary walk")
	}
	set(t, ctx, s, progressive.AllStable())
	expect(t, ctx, s, progressive.AllStable(), "rollback")
}

func blueGreenSwitch(t *testing.T, ctx context.Context, s Setup) {
	set(t, ctx, s, progressive.AllStable())
	expect(t, ctx, s, progressive.AllStable(), "blue")
	set(t, ctx, s, progressive.WeightedRoutes(100))
	expect(t, ctx, s, progressive.WeightedRoutes(100), "switch to green")
	set(t, ctx, s, progressive.AllStable())
	expect(t, ctx, s, progressive.AllStable(), "switch back to blue")
}

func idempotent(t *testing.T, ctx context.Context, s Setup) {
	r := progressive.WeightedRoutes(30)
	for range 3 {
		set(t, ctx, s, r)
		expect(t, ctx, s, r, "repeated SetRoutes")
	}
}

func invalidRejected(t *testing.T, ctx context.Context, s Setup) {
	prev := progressive.WeightedRoutes(20)
	set(t, ctx, s, prev)
	bad := map[string]progressive.Routes{
		"sum above 100":      {StableWeight: 60, CanaryWeight: 60},
		"sum below 100":      {StableWeight: 40, CanaryWeight: 40},
		"negative canary":    {StableWeight: 110, CanaryWeight: -10},
		"canary above 100":   {StableWeight: -1, CanaryWeight: 101},
		"NaN":                {StableWeight: math.NaN(), CanaryWeight: math.NaN()},
		"mirror above 100":   {StableWeight: 100, MirrorPercent: 150},
		"match without name": {StableWeight: 100, Matches: []progressive.Match{{Kind: progressive.MatchHeader, Value: "green"}}},
	}
	for name, r := range bad {
		err := s.Router.SetRoutes(ctx, s.Target, r)
		if err == nil {
			t.Errorf("%s: SetRoutes(%+v) succeeded, want an error", name, r)
			continue
		}
		// A router may refuse an unsupported feature before validating it.
		if !errors.Is(err, progressive.ErrInvalid) && !errors.Is(err, progressive.ErrUnsupported) {
			t.Errorf("%s: SetRoutes error %v does not wrap progressive.ErrInvalid", name, err)
		}
		expect(t, ctx, s, prev, "after invalid routes ("+name+")")
	}
}

// abSegment is the design document's A/B segment: x-version: green, or a beta cookie.
var abSegment = []progressive.Match{
	{Kind: progressive.MatchHeader, Name: "x-version", Value: "green"},
	{Kind: progressive.MatchCookie, Name: "beta", Value: "true"},
}

func matches(t *testing.T, ctx context.Context, s Setup) {
	prev := progressive.WeightedRoutes(10)
	set(t, ctx, s, prev)
	r := progressive.Routes{StableWeight: 100, Matches: abSegment}
	err := s.Router.SetRoutes(ctx, s.Target, r)
	if !s.Matches {
		if !errors.Is(err, progressive.ErrUnsupported) {
			t.Fatalf("SetRoutes with matches on a router without them: %v, want progressive.ErrUnsupported", err)
		}
		expect(t, ctx, s, prev, "after unsupported matches")
		return
	}
	if err != nil {
		t.Fatalf("SetRoutes with matches: %v", err)
	}
	expect(t, ctx, s, r, "A/B matches")
	regex := progressive.Routes{StableWeight: 90, CanaryWeight: 10, Matches: []progressive.Match{
		{Kind: progressive.MatchHeader, Name: "x-version", Value: "green|blue", Regex: true},
	}}
	set(t, ctx, s, regex)
	expect(t, ctx, s, regex, "regex match beside weights")
	set(t, ctx, s, progressive.WeightedRoutes(10))
	expect(t, ctx, s, progressive.WeightedRoutes(10), "matches removed")
}

func mirror(t *testing.T, ctx context.Context, s Setup) {
	prev := progressive.WeightedRoutes(10)
	set(t, ctx, s, prev)
	r := progressive.Routes{StableWeight: 100, MirrorPercent: 25}
	err := s.Router.SetRoutes(ctx, s.Target, r)
	if !s.Mirror {
		if !errors.Is(err, progressive.ErrUnsupported) {
			t.Fatalf("SetRoutes with mirroring on a router without it: %v, want progressive.ErrUnsupported", err)
		}
		expect(t, ctx, s, prev, "after unsupported mirroring")
		return
	}
	if err != nil {
		t.Fatalf("SetRoutes with mirroring: %v", err)
	}
	expect(t, ctx, s, r, "mirroring")
	set(t, ctx, s, progressive.AllStable())
	expect(t, ctx, s, progressive.AllStable(), "mirroring removed")
}

func finalize(t *testing.T, ctx context.Context, s Setup) {
	r := progressive.WeightedRoutes(50)
	if s.Matches {
		r.Matches = abSegment
	}
	if s.Mirror {
		r.MirrorPercent = 10
	}
	set(t, ctx, s, r)
	for i := range 2 {
		if err := s.Router.Finalize(ctx, s.Target); err != nil {
			t.Fatalf("Finalize #%d: %v", i+1, err)
		}
		expect(t, ctx, s, progressive.AllStable(), "after Finalize")
	}
}
