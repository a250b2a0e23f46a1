package rollouttest

import (
	"math"
	"testing"
	"time"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/rollout"
)

// The assertions report through t.Errorf, with the rollout's decisions, and
// return whether they held, as testify's assert functions do.

// Promoted asserts that the rollout succeeded and promoted its release.
func Promoted(t testing.TB, o Outcome) bool {
	t.Helper()
	if !o.Promoted() {
		t.Errorf("rollout %s: phase %s, promoted %t; want succeeded and promoted\n%s", o.State.ID, o.State.Phase, o.State.Applied.Promoted, decisions(o))
		return false
	}
	return true
}

// NeverPromoted asserts that the release never became stable: no promotion
// was applied and the rollout did not succeed.
func NeverPromoted(t testing.TB, o Outcome) bool {
	t.Helper()
	if o.State.Applied.Promoted || o.State.Phase == rollout.PhaseSucceeded {
		t.Errorf("rollout %s: phase %s, promoted %t; want it never promoted\n%s", o.State.ID, o.State.Phase, o.State.Applied.Promoted, decisions(o))
		return false
	}
	return true
}

// RolledBack asserts that the rollout ended rolled back.
func RolledBack(t testing.TB, o Outcome) bool {
	t.Helper()
	if o.State.Phase != rollout.PhaseRolledBack {
		t.Errorf("rollout %s: phase %s; want %s\n%s", o.State.ID, o.State.Phase, rollout.PhaseRolledBack, decisions(o))
		return false
	}
	return true
}

// RolledBackWithin asserts that the rollout rolled back, and that its
// rollback began no later than n intervals after since (when a regression
// started, typically): "detected within three measurements".
func RolledBackWithin(t testing.TB, o Outcome, since time.Time, n int, interval time.Duration) bool {
	t.Helper()
	if !RolledBack(t, o) {
		return false
	}
	at, ok := o.RollbackStarted()
	if !ok {
		t.Errorf("rollout %s: rolled back without a rollback-started event", o.State.ID)
		return false
	}
	limit := since.Add(time.Duration(n) * interval)
	if at.After(limit) {
		t.Errorf("rollout %s: rollback began %s after %s, later than %d intervals of %s (%s)\n%s",
			o.State.ID, at.Sub(since), since.Format(time.RFC3339), n, interval, time.Duration(n)*interval, decisions(o))
		return false
	}
	return true
}

// FinalRoutes asserts the routes the router reports at the end, weights to
// within a millionth of a percentage point.
func FinalRoutes(t testing.TB, o Outcome, want progressive.Routes) bool {
	t.Helper()
	got := o.Routes
	same := math.Abs(got.StableWeight-want.StableWeight) < 1e-6 && math.Abs(got.CanaryWeight-want.CanaryWeight) < 1e-6 &&
		math.Abs(got.MirrorPercent-want.MirrorPercent) < 1e-6 && len(got.Matches) == len(want.Matches)
	for i := 0; same && i < len(got.Matches); i++ {
		same = got.Matches[i] == want.Matches[i]
	}
	if !same {
		t.Errorf("rollout %s: final routes %+v; want %+v", o.State.ID, got, want)
		return false
	}
	return true
}

// MaxCanaryWeight asserts that the canary never received more than max
// percent of the traffic.
func MaxCanaryWeight(t testing.TB, o Outcome, max float64) bool {
	t.Helper()
	if got := o.State.Applied.MaxCanaryWeight; got > max {
		t.Errorf("rollout %s: the canary got up to %g%% of the traffic; want at most %g%%", o.State.ID, got, max)
		return false
	}
	return true
}

func decisions(o Outcome) string {
	var b []byte
	for _, d := range o.State.Record.Decisions {
		b = append(b, d.Time.Format("15:04:05")...)
		b = append(b, ' ')
		b = append(b, d.Action...)
		b = append(b, ": "...)
		b = append(b, d.Reason...)
		b = append(b, '\n')
	}
	return string(b)
}
