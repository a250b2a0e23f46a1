package strategy

import (
	"fmt"
	"slices"
	"strconv"
)

// HighTrafficRPS is the request rate above which the design document recommends a canary.
const HighTrafficRPS = 1000.0

// Profile describes a service and a change, for Recommend. Every boolean is a
// positive statement: false means "no" or "not stated", never "unknown, so assume
// the worst".
type Profile struct {
	// RequestsPerSecond the service serves; above 1000 calls for a canary.
	RequestsPerSecond float64 `json:"requestsPerSecond,omitempty"`
	// Critical marks a business-critical service.
	Critical bool `json:"critical,omitempty"`
	// DatabaseMigration marks a change that ships a schema migration.
	DatabaseMigration bool `json:"databaseMigration,omitempty"`
	// LongRunningRequests marks a service whose requests must not be cut mid-way.
	LongRunningRequests bool `json:"longRunningRequests,omitempty"`
	// NeedsInstantRollback asks for a rollback that is one switch, with the old
	// version still running.
	NeedsInstantRollback bool `json:"needsInstantRollback,omitempty"`
	// UserTargeting asks to choose which users see the change (A/B tests, beta testers).
	UserTargeting bool `json:"userTargeting,omitempty"`
	// DecoupleRelease asks to deploy the code dark and release it separately.
	DecoupleRelease bool `json:"decoupleRelease,omitempty"`
	// ToleratesVersionMixing says old and new pods may serve side by side.
	ToleratesVersionMixing bool `json:"toleratesVersionMixing,omitempty"`
	// LowRisk marks a standard, low-risk change.
	LowRisk bool `json:"lowRisk,omitempty"`
	// HasServiceMesh says a mesh (or Gateway API router) can split requests by
	// weight and match headers; without one, weights follow replica ratios.
	HasServiceMesh bool `json:"hasServiceMesh,omitempty"`
}

// Recommendation is Recommend's answer: a strategy name (one of Names), the reasons
// as full sentences citing the profile, and other strategies worth considering, best
// first.
type Recommendation struct {
	Strategy     string   `json:"strategy"`
	Reasons      []string `json:"reasons"`
	Alternatives []string `json:"alternatives,omitempty"`
}

// Recommend chooses a strategy for a profile with the design document's rules, in this order of
// precedence when several apply:
//
//  1. blue-green for a database migration, long-running requests or the need for an
//     instant rollback. These are constraints on how traffic may move at all, so
//     they win over traffic and criticality: a canary keeps both versions serving
//     for its whole duration. A canary is the alternative for high-traffic or
//     critical services once the migration is backwards compatible.
//  2. flag-rollout to decouple the deploy from the release or to target users: the
//     release happens in the flag store, whatever carries the deploy (an ab-test is
//     the alternative for user targeting when a mesh can match headers).
//  3. canary for more than 1000 requests per second or a business-critical service,
//     even when the change is also declared low-risk: the stakes decide.
//  4. rolling for a low-risk change that tolerates version mixing (both must be
//     stated).
//  5. otherwise canary, the metric-gated default when nothing says a simpler
//     strategy is safe.
//
// A canary without a service mesh still works by replica ratio; the reasons say so.
func Recommend(p Profile) Recommendation {
	rps := strconv.FormatFloat(p.RequestsPerSecond, 'f', -1, 64)
	highTraffic := p.RequestsPerSecond > HighTrafficRPS
	var r Recommendation
	reason := func(format string, args ...any) { r.Reasons = append(r.Reasons, fmt.Sprintf(format, args...)) }
	alt := func(names ...string) {
		for _, n := range names {
			if n != r.Strategy && !slices.Contains(r.Alternatives, n) {
				r.Alternatives = append(r.Alternatives, n)
			}
		}
	}
	stakes := func() {
		if highTraffic {
			reason("The service handles %s requests per second, above the %g at which a canary is recommended.", rps, HighTrafficRPS)
		}
		if p.Critical {
			reason("The service is business-critical (Critical=true), so the new version should meet real traffic on a small share first.")
		}
	}

	switch {
	case p.DatabaseMigration || p.LongRunningRequests || p.NeedsInstantRollback:
		r.Strategy = NameBlueGreen
		if p.DatabaseMigration {
			reason("The change ships a database migration (DatabaseMigration=true): blue-green runs it once as a hook before green is deployed, and traffic switches only after the schema is ready; keep the migration backwards compatible so blue can take the traffic back.")
		}
		if p.LongRunningRequests {
			reason("The service has long-running requests (LongRunningRequests=true): blue-green moves traffic in one switch and keeps blue running, so requests in flight finish on the version that started them instead of failing mid-request.")
		}
		if p.NeedsInstantRollback {
			reason("An instant rollback is required (NeedsInstantRollback=true): blue keeps running after the switch, so switching back is one write to the router.")
		}
		if highTraffic || p.Critical {
			stakes()
			reason("Those alone would call for a canary, but the constraints above take precedence because a canary keeps both versions serving for its whole duration; a canary remains the alternative once the change is safe to run side by side.")
		}
		alt(NameCanary)
		if p.DecoupleRelease || p.UserTargeting {
			reason("The feature itself can still be released behind a flag after the switch (DecoupleRelease=%t, UserTargeting=%t), which is the flag-rollout alternative.", p.DecoupleRelease, p.UserTargeting)
			alt(NameFlagRollout)
		}
		reason("Blue-green runs twice the replicas until blue is decommissioned; budget for it.")

	case p.DecoupleRelease || p.UserTargeting:
		r.Strategy = NameFlagRollout
		if p.DecoupleRelease {
			reason("The release is to be decoupled from the deploy (DecoupleRelease=true): the code ships with the flag off and a flag rollout enables it 1%% -> 10%% -> 50%% -> 100%% with analysis at each share, and a rollback is one flag write.")
		}
		if p.UserTargeting {
			reason("Users are to be targeted (UserTargeting=true): a flag chooses who sees the change by user, segment or attribute, not by request.")
			if p.HasServiceMesh {
				reason("With a service mesh (HasServiceMesh=true), an A/B test routing a header or cookie to the new version is the alternative that needs no flag store.")
				alt(NameABTest)
			} else {
				reason("Without a service mesh (HasServiceMesh=false) header or cookie routing is not available, which leaves the flag as the way to target users.")
			}
		}
		if highTraffic || p.Critical {
			stakes()
			reason("The deploy that ships the dark code can itself be a canary.")
			alt(NameCanary)
		} else if p.LowRisk && p.ToleratesVersionMixing {
			reason("The deploy that ships the dark code is low-risk and tolerates version mixing, so a rolling update can carry it.")
			alt(NameRolling)
		}
		alt(NameCanary)

	case highTraffic || p.Critical:
		r.Strategy = NameCanary
		stakes()
		reason("A canary shifts a growing share of requests to the new version and rolls back automatically when a check fails, so a regression reaches few users.")
		if p.LowRisk {
			reason("The change is declared low-risk (LowRisk=true), but the traffic or criticality of the service outweighs it, so a rolling update is only the alternative.")
			alt(NameRolling)
		}
		alt(NameBlueGreen)
		if p.HasServiceMesh {
			alt(NameMirror)
		}

	case p.LowRisk && p.ToleratesVersionMixing:
		r.Strategy = NameRolling
		reason("The change is low-risk (LowRisk=true) and old and new pods may serve side by side (ToleratesVersionMixing=true), so a rolling update, batch by batch with readiness checks, is the simplest safe choice.")
		reason("The service's traffic (RequestsPerSecond=%s) is not above %g requests per second and it is not business-critical (Critical=false), so nothing calls for a canary.", rps, HighTrafficRPS)
		alt(NameCanary)

	default:
		r.Strategy = NameCanary
		switch {
		case p.LowRisk:
			reason("The change is low-risk (LowRisk=true), but mixing versions is not declared tolerable (ToleratesVersionMixing=false), which a rolling update needs; a canary limits the mixing to a small, analyzed share.")
			alt(NameRolling)
		case p.ToleratesVersionMixing:
			reason("Old and new pods may serve side by side (ToleratesVersionMixing=true), but the change is not declared low-risk (LowRisk=false), which a rolling update needs.")
			alt(NameRolling)
		default:
			reason("No rule for a simpler strategy applies (a rolling update needs LowRisk and ToleratesVersionMixing), so the metric-gated canary is the safe default.")
		}
		reason("Like a rolling update, a canary runs both versions side by side for a while; if they must never serve together, choose blue-green.")
		alt(NameBlueGreen)
	}

	if r.Strategy == NameCanary {
		if p.HasServiceMesh {
			reason("With a service mesh (HasServiceMesh=true) the canary's weights are exact shares of requests.")
		} else {
			reason("Without a service mesh (HasServiceMesh=false) a canary still works by replica ratio: its share of requests follows its share of pods (1 canary pod beside 9 stable ones carries about 10%%), so weights are only as fine as the replica count allows.")
		}
	}
	return r
}
