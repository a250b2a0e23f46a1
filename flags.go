package progressive

import (
	"context"
	"math"
)

// FlagRef names one flag in one environment. Project is used by stores that group
// flags by project (LaunchDarkly); others ignore it.
type FlagRef struct {
	Project     string `json:"project,omitempty"`
	Environment string `json:"environment,omitempty"`
	Key         string `json:"key"`
}

func (r FlagRef) String() string {
	s := r.Key
	if r.Environment != "" {
		s = r.Environment + "/" + s
	}
	if r.Project != "" {
		s = r.Project + "/" + s
	}
	return s
}

// Validate reports an empty key.
//
// Keys, projects and environments must be what flag services accept as keys
// (LaunchDarkly: a letter or digit, then letters, digits, '.', '_' or '-'), at
// most 256 characters: a key a store refuses would otherwise fail mid-rollout,
// after traffic moved.
func (r FlagRef) Validate() error {
	var p Problems
	if r.Key == "" {
		p.Add("key", nil, "must not be empty")
	} else if !isFlagKey(r.Key) {
		p.Add("key", r.Key, "must start with a letter or digit and hold only letters, digits, '.', '_' or '-' (at most 256)")
	}
	for _, f := range []struct{ field, v string }{{"project", r.Project}, {"environment", r.Environment}} {
		if f.v != "" && !isFlagKey(f.v) {
			p.Add(f.field, f.v, "must start with a letter or digit and hold only letters, digits, '.', '_' or '-' (at most 256)")
		}
	}
	return p.Err()
}

func isFlagKey(s string) bool {
	if len(s) == 0 || len(s) > 256 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		alnum := (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
		if !alnum && (i == 0 || (c != '.' && c != '_' && c != '-')) {
			return false
		}
	}
	return true
}

// Variation is one value a flag can serve.
type Variation struct {
	// ID is the store's identifier; Name is what people call it ("on", "v2").
	ID    string `json:"id"`
	Name  string `json:"name,omitempty"`
	Value any    `json:"value,omitempty"`
}

// VariationWeight gives one variation its share, in percent.
type VariationWeight struct {
	Variation string  `json:"variation"`
	Weight    float64 `json:"weight"`
}

// Rollout is a percentage split over variations; weights sum to 100.
type Rollout struct {
	Weights []VariationWeight `json:"weights"`
	// BucketBy is the context attribute users are hashed by; empty means the key.
	BucketBy string `json:"bucketBy,omitempty"`
}

// PercentRollout serves variation to percent of users and fallback to the rest.
func PercentRollout(variation, fallback string, percent float64) Rollout {
	return Rollout{Weights: []VariationWeight{
		{Variation: variation, Weight: percent},
		{Variation: fallback, Weight: 100 - percent},
	}}
}

// WeightOf returns the share of variation, zero when it is not listed.
func (r Rollout) WeightOf(variation string) float64 {
	var w float64
	for _, vw := range r.Weights {
		if vw.Variation == variation {
			w += vw.Weight
		}
	}
	return w
}

// Validate reports weights outside 0-100, weights that do not sum to 100 and empty
// variation names.
func (r Rollout) Validate() error {
	var p Problems
	if len(r.Weights) == 0 {
		p.Add("weights", nil, "must list at least one variation")
	}
	var sum float64
	for i, vw := range r.Weights {
		f := fieldIndex("weights", i)
		if vw.Variation == "" {
			p.Add(f+".variation", nil, "must not be empty")
		}
		checkPercent(&p, f+".weight", vw.Weight)
		sum += vw.Weight
	}
	if len(r.Weights) > 0 && math.Abs(sum-100) > weightTolerance {
		p.Add("weights", sum, "must sum to 100")
	}
	return p.Err()
}

// FlagTarget serves Variation to the listed context keys (individual targeting).
type FlagTarget struct {
	Variation string   `json:"variation"`
	Keys      []string `json:"keys"`
}

// Clause matches one context attribute: country in [DE, FR], tier in [gold].
type Clause struct {
	Attribute string `json:"attribute"`
	// Op is "in" (the default), "startsWith", "endsWith", "contains" or "matches".
	Op     string   `json:"op,omitempty"`
	Values []string `json:"values"`
	Negate bool     `json:"negate,omitempty"`
}

// FlagRule serves a variation, or a rollout, to contexts whose attributes match all
// clauses: a beta-testers segment, a geography, a subscription tier.
type FlagRule struct {
	ID          string   `json:"id,omitempty"`
	Description string   `json:"description,omitempty"`
	Clauses     []Clause `json:"clauses,omitempty"`
	// Segment matches members of a segment the store defines (beta-testers).
	Segment   string   `json:"segment,omitempty"`
	Variation string   `json:"variation,omitempty"`
	Rollout   *Rollout `json:"rollout,omitempty"`
}

// Flag is a store-neutral view of one flag in one environment.
type Flag struct {
	Ref        FlagRef     `json:"ref"`
	On         bool        `json:"on"`
	Variations []Variation `json:"variations"`
	// OffVariation is served to everyone while the flag is off.
	OffVariation string `json:"offVariation,omitempty"`
	// Fallthrough is the rollout for contexts no target or rule matched.
	Fallthrough Rollout      `json:"fallthrough"`
	Targets     []FlagTarget `json:"targets,omitempty"`
	Rules       []FlagRule   `json:"rules,omitempty"`
	// Version is the store's revision of the flag, for optimistic concurrency.
	Version int64 `json:"version,omitempty"`
}

// Variation finds a variation by id or name.
func (f Flag) Variation(idOrName string) (Variation, bool) {
	for _, v := range f.Variations {
		if v.ID == idOrName || (v.Name != "" && v.Name == idOrName) {
			return v, true
		}
	}
	return Variation{}, false
}

// FlagStore reads and writes feature-flag rollouts. Every write is one request to
// the store, so a rollback to 0% is one write. A store that cannot write returns
// errors wrapping ErrUnsupported.
type FlagStore interface {
	Name() string
	GetFlag(ctx context.Context, ref FlagRef) (Flag, error)
	// SetRollout replaces the fallthrough split of ref.
	SetRollout(ctx context.Context, ref FlagRef, rollout Rollout) error
	// SetOn turns ref on or off.
	SetOn(ctx context.Context, ref FlagRef, on bool) error
}

// FlagTargeter is implemented by stores that can write individual targets and rules.
type FlagTargeter interface {
	// SetTargets makes keys always receive variation.
	SetTargets(ctx context.Context, ref FlagRef, variation string, keys []string) error
	// SetRules replaces the rules of ref.
	SetRules(ctx context.Context, ref FlagRef, rules []FlagRule) error
}
