package flags

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/agentops/progressive"
)

// Clause operators every store of this SDK understands. A store that cannot
// express one rejects it with an error wrapping progressive.ErrInvalid or
// progressive.ErrUnsupported.
const (
	OpIn         = "in"
	OpStartsWith = "startsWith"
	OpEndsWith   = "endsWith"
	OpContains   = "contains"
	OpMatches    = "matches"
)

// ops lists the clause operators, for messages. Unexported: a package-level
// slice others could append to would change what CheckRules accepts.
var ops = []string{OpIn, OpStartsWith, OpEndsWith, OpContains, OpMatches}

// ErrAuth marks a flag store's answer 401 or 403: the API token is wrong or
// lacks a permission. Errors wrapping it also wrap progressive.ErrInvalid; the
// LaunchDarkly and Flagsmith stores never retry them.
var ErrAuth = errors.New("not authorized")

// Unsupported returns the error a store gives for an operation it cannot perform,
// such as a write to a store configured without an API token. It wraps
// progressive.ErrUnsupported and says why, so the caller knows what to configure.
func Unsupported(store, op, why string) error {
	return fmt.Errorf("flag store %s cannot %s: %s: %w", store, op, why, progressive.ErrUnsupported)
}

// CheckPercent reports a percentage outside 0-100 (or NaN) as an error wrapping
// progressive.ErrInvalid. Stores call it before sending anything.
func CheckPercent(percent float64) error {
	if math.IsNaN(percent) || math.IsInf(percent, 0) || percent < 0 || percent > 100 {
		return progressive.FieldError{Field: "percent", Value: percent, Reason: "must be between 0 and 100"}
	}
	return nil
}

// Known lists the ids (and names, where they differ) of f's variations, for
// messages: "0 (off), 1 (on)".
func Known(f progressive.Flag) string {
	out := make([]string, 0, len(f.Variations))
	for _, v := range f.Variations {
		s := v.ID
		if v.Name != "" && v.Name != v.ID {
			s += " (" + v.Name + ")"
		}
		out = append(out, s)
	}
	if len(out) == 0 {
		return "none"
	}
	return strings.Join(out, ", ")
}

// Resolve finds the variation of f that idOrName names. An unknown one is an error
// wrapping progressive.ErrInvalid that names the flag's variations.
func Resolve(f progressive.Flag, idOrName string) (progressive.Variation, error) {
	if v, ok := f.Variation(idOrName); ok {
		return v, nil
	}
	return progressive.Variation{}, fmt.Errorf("flag %s has no variation %q (known: %s): %w",
		f.Ref, idOrName, Known(f), progressive.ErrInvalid)
}

// ResolveRollout validates r (weights in 0-100 summing to 100) and rewrites its
// variations, given by id or name, to ids of f. Weights naming the same variation
// twice are added up. Errors wrap progressive.ErrInvalid.
func ResolveRollout(f progressive.Flag, r progressive.Rollout) (progressive.Rollout, error) {
	if err := r.Validate(); err != nil {
		return progressive.Rollout{}, fmt.Errorf("flag %s: rollout: %w", f.Ref, err)
	}
	out := progressive.Rollout{BucketBy: r.BucketBy}
	for _, vw := range r.Weights {
		v, err := Resolve(f, vw.Variation)
		if err != nil {
			return progressive.Rollout{}, err
		}
		if i := slices.IndexFunc(out.Weights, func(w progressive.VariationWeight) bool { return w.Variation == v.ID }); i >= 0 {
			out.Weights[i].Weight += vw.Weight
			continue
		}
		out.Weights = append(out.Weights, progressive.VariationWeight{Variation: v.ID, Weight: vw.Weight})
	}
	return out, nil
}

// Percent returns the share, in percent, that f's fallthrough serves variation
// (an id or a name). A flag that is off serves it to nobody through the fallthrough.
func Percent(f progressive.Flag, variation string) (float64, error) {
	v, err := Resolve(f, variation)
	if err != nil {
		return 0, err
	}
	if !f.On {
		return 0, nil
	}
	return WeightOf(f, f.Fallthrough, v.ID), nil
}

// WeightOf returns the share r gives the variation of f that idOrName names,
// whether r lists variations by id or by name (stores keep what was written).
func WeightOf(f progressive.Flag, r progressive.Rollout, idOrName string) float64 {
	want, ok := f.Variation(idOrName)
	if !ok {
		return r.WeightOf(idOrName)
	}
	var w float64
	for _, vw := range r.Weights {
		if v, ok := f.Variation(vw.Variation); ok && v.ID == want.ID {
			w += vw.Weight
		}
	}
	return w
}

// State is what a flag serves now, seen from one variation.
type State struct {
	Flag progressive.Flag `json:"flag"`
	// Variation is the variation asked about.
	Variation progressive.Variation `json:"variation"`
	// Percent is the share of the fallthrough Variation has, whether or not the
	// flag is on; Serving is what users get: Percent when on, 0 when off.
	Percent float64 `json:"percent"`
	Serving float64 `json:"serving"`
}

// Read reads ref from store and the share of variation in its current rollout.
func Read(ctx context.Context, store progressive.FlagStore, ref progressive.FlagRef, variation string) (State, error) {
	f, err := store.GetFlag(ctx, ref)
	if err != nil {
		return State{}, err
	}
	v, err := Resolve(f, variation)
	if err != nil {
		return State{}, err
	}
	st := State{Flag: f, Variation: v, Percent: WeightOf(f, f.Fallthrough, v.ID)}
	if f.On {
		st.Serving = st.Percent
	}
	return st, nil
}

// SetPercent serves variation to percent of users of ref and fallback to the rest,
// in one write (progressive.PercentRollout, the growing variation first so users
// inside at 10% stay inside at 50%). A percentage outside 0-100 is rejected before
// the store is called.
func SetPercent(ctx context.Context, store progressive.FlagStore, ref progressive.FlagRef, variation, fallback string, percent float64) error {
	if err := CheckPercent(percent); err != nil {
		return fmt.Errorf("flag %s: %w", ref, err)
	}
	if variation == fallback {
		return fmt.Errorf("flag %s: variation and fallback are both %q: %w", ref, variation, progressive.ErrInvalid)
	}
	return store.SetRollout(ctx, ref, progressive.PercentRollout(variation, fallback, percent))
}

// targeter returns store as a FlagTargeter or an ErrUnsupported error.
func targeter(store progressive.FlagStore, op string) (progressive.FlagTargeter, error) {
	t, ok := store.(progressive.FlagTargeter)
	if !ok {
		return nil, Unsupported(store.Name(), op, "it does not implement progressive.FlagTargeter")
	}
	return t, nil
}

// SetTargets makes keys always receive variation of ref: they replace the keys
// targeted to that variation, and a key targeted to another variation moves here.
// An empty keys list removes the variation's targets. A store that cannot target
// individuals returns an error wrapping progressive.ErrUnsupported.
func SetTargets(ctx context.Context, store progressive.FlagStore, ref progressive.FlagRef, variation string, keys []string) error {
	t, err := targeter(store, "set targets")
	if err != nil {
		return err
	}
	return t.SetTargets(ctx, ref, variation, keys)
}

// SetRules replaces the rules of ref, after checking them (CheckRules). A store
// that cannot write rules returns an error wrapping progressive.ErrUnsupported.
func SetRules(ctx context.Context, store progressive.FlagStore, ref progressive.FlagRef, rules []progressive.FlagRule) error {
	if err := CheckRules(rules); err != nil {
		return fmt.Errorf("flag %s: %w", ref, err)
	}
	t, err := targeter(store, "set rules")
	if err != nil {
		return err
	}
	return t.SetRules(ctx, ref, rules)
}

// SegmentRule serves variation to the members of a segment the store defines
// (a beta-testers list).
func SegmentRule(segment, variation string) progressive.FlagRule {
	return progressive.FlagRule{Description: "members of " + segment, Segment: segment, Variation: variation}
}

// AttributeRule serves variation to contexts whose attribute is one of values: a
// geography (country in DE, FR) or a subscription tier (tier in gold).
func AttributeRule(attribute, variation string, values ...string) progressive.FlagRule {
	return progressive.FlagRule{
		Description: attribute + " in " + strings.Join(values, ", "),
		Clauses:     []progressive.Clause{{Attribute: attribute, Op: OpIn, Values: slices.Clone(values)}},
		Variation:   variation,
	}
}

// CheckRules reports, all at once, what no store can accept: a rule that serves
// neither a variation nor a rollout (or both), an invalid rollout, a rule that
// matches everyone (no clause and no segment), a clause without attribute or
// values, an unknown operator. Variation and segment names are the store's to
// check. The error wraps progressive.ErrInvalid.
func CheckRules(rules []progressive.FlagRule) error {
	var p progressive.Problems
	for i, r := range rules {
		field := fmt.Sprintf("rules[%d]", i)
		switch {
		case r.Rollout != nil && r.Variation != "":
			p.Add(field+".variation", r.Variation, "set either variation or rollout, not both")
		case r.Rollout != nil:
			p.Merge(field+".rollout", r.Rollout.Validate())
		case r.Variation == "":
			p.Add(field+".variation", nil, "set variation or rollout")
		}
		if r.Segment == "" && len(r.Clauses) == 0 {
			p.Add(field, nil, "needs a segment or at least one clause; the fallthrough serves everyone else")
		}
		for j, c := range r.Clauses {
			cf := fmt.Sprintf("%s.clauses[%d]", field, j)
			if c.Attribute == "" {
				p.Add(cf+".attribute", nil, "must not be empty")
			}
			if len(c.Values) == 0 {
				p.Add(cf+".values", nil, "must list at least one value")
			}
			if c.Op != "" && !slices.Contains(ops, c.Op) {
				p.Add(cf+".op", c.Op, "unknown operator (known: %s)", strings.Join(ops, ", "))
			}
		}
	}
	return p.Err()
}

// IsUnsupported reports whether err says the store cannot do what was asked.
func IsUnsupported(err error) bool { return errors.Is(err, progressive.ErrUnsupported) }
