package flagsmith

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"

	"github.com/Flagsmith/flagsmith-go-client/v4/flagengine/environments"
	"github.com/Flagsmith/flagsmith-go-client/v4/flagengine/features"
	"github.com/agentops/progressive"
)

// controlID is the id of a feature's control value (its environment value).
const controlID = "control"

// valueText renders a Flagsmith value as a variation name.
func valueText(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1e15 {
			return strconv.FormatInt(int64(x), 10)
		}
		return strconv.FormatFloat(x, 'g', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// typedValue is a value as the Admin API's feature states take it.
func typedValue(v any) map[string]any {
	switch x := v.(type) {
	case bool:
		return map[string]any{"type": "bool", "boolean_value": x}
	case float64:
		if x == math.Trunc(x) {
			return map[string]any{"type": "int", "integer_value": int64(x)}
		}
	case nil:
		return map[string]any{"type": "unicode", "string_value": ""}
	}
	return map[string]any{"type": "unicode", "string_value": valueText(v)}
}

// sortedMV lists the multivariate values of fs by option id.
func sortedMV(fs *features.FeatureStateModel) []*features.MultivariateFeatureStateValueModel {
	out := slices.Clone(fs.MultivariateFeatureStateValues)
	out = slices.DeleteFunc(out, func(m *features.MultivariateFeatureStateValueModel) bool {
		return m == nil || m.MultivariateFeatureOption == nil
	})
	slices.SortFunc(out, func(a, b *features.MultivariateFeatureStateValueModel) int {
		return a.MultivariateFeatureOption.ID - b.MultivariateFeatureOption.ID
	})
	return out
}

func optionID(m *features.MultivariateFeatureStateValueModel) string {
	return strconv.Itoa(m.MultivariateFeatureOption.ID)
}

// toFlag converts the environment default feature state fs, with the identity
// and segment overrides of its feature.
func toFlag(ref progressive.FlagRef, doc *environments.EnvironmentModel, fs *features.FeatureStateModel) progressive.Flag {
	f := progressive.Flag{Ref: ref, On: fs.Enabled, Version: int64(doc.UpdatedAt.UnixMilli())}
	f.Variations = append(f.Variations, progressive.Variation{ID: controlID, Name: valueText(fs.RawValue), Value: fs.RawValue})
	f.Fallthrough = rolloutOf(fs)
	for _, m := range sortedMV(fs) {
		f.Variations = append(f.Variations, progressive.Variation{ID: optionID(m), Name: valueText(m.MultivariateFeatureOption.Value), Value: m.MultivariateFeatureOption.Value})
	}
	byValue := func(v any) string {
		for _, pv := range f.Variations {
			if pv.Name == valueText(v) {
				return pv.ID
			}
		}
		return ""
	}
	targets := map[string][]string{}
	for _, id := range doc.IdentityOverrides {
		if id == nil {
			continue
		}
		for _, o := range id.IdentityFeatures {
			if o == nil || o.Feature == nil || o.Feature.ID != fs.Feature.ID || !o.Enabled {
				continue
			}
			if v := byValue(o.RawValue); v != "" {
				targets[v] = append(targets[v], id.Identifier)
			}
		}
	}
	for _, v := range f.Variations {
		if keys := targets[v.ID]; len(keys) > 0 {
			slices.Sort(keys)
			f.Targets = append(f.Targets, progressive.FlagTarget{Variation: v.ID, Keys: keys})
		}
	}
	for _, o := range segmentOverrides(doc, fs.Feature.ID) {
		rule := progressive.FlagRule{ID: strconv.Itoa(o.segment.ID), Segment: o.segment.Name}
		if !allZero(o.fs) {
			// A split: the override's own value takes what its options leave.
			ro := rolloutOfWithControl(f, o.fs)
			rule.Rollout = &ro
		} else {
			rule.Variation = byValue(o.fs.RawValue)
		}
		f.Rules = append(f.Rules, rule)
	}
	return f
}

func allZero(fs *features.FeatureStateModel) bool {
	for _, m := range fs.MultivariateFeatureStateValues {
		if m.PercentageAllocation != 0 {
			return false
		}
	}
	return true
}

// rolloutOf reads the allocations of fs: each option's share, the control taking
// the rest.
func rolloutOf(fs *features.FeatureStateModel) progressive.Rollout {
	var r progressive.Rollout
	sum := 0.0
	for _, m := range sortedMV(fs) {
		r.Weights = append(r.Weights, progressive.VariationWeight{Variation: optionID(m), Weight: m.PercentageAllocation})
		sum += m.PercentageAllocation
	}
	r.Weights = append(r.Weights, progressive.VariationWeight{Variation: controlID, Weight: math.Max(0, 100-sum)})
	return r
}

// rolloutOfWithControl reads a segment override's split in terms of the flag's
// variations: its control value is the variation with that value.
func rolloutOfWithControl(f progressive.Flag, fs *features.FeatureStateModel) progressive.Rollout {
	r := rolloutOf(fs)
	ctl := r.Weights[len(r.Weights)-1]
	r.Weights = r.Weights[:len(r.Weights)-1]
	for _, v := range f.Variations {
		if v.Name == valueText(fs.RawValue) {
			for i := range r.Weights {
				if r.Weights[i].Variation == v.ID {
					r.Weights[i].Weight += ctl.Weight
					return r
				}
			}
			return progressive.Rollout{Weights: append(r.Weights, progressive.VariationWeight{Variation: v.ID, Weight: ctl.Weight})}
		}
	}
	return rolloutOf(fs)
}

type segmentOverride struct {
	segment  segmentRef
	fs       *features.FeatureStateModel
	priority int
}

type segmentRef struct {
	ID   int
	Name string
}

// segmentOverrides lists the overrides of a feature in the document, by priority.
func segmentOverrides(doc *environments.EnvironmentModel, featureID int) []segmentOverride {
	var out []segmentOverride
	for _, seg := range doc.Project.Segments {
		if seg == nil {
			continue
		}
		for _, fs := range seg.FeatureStates {
			if fs == nil || fs.Feature == nil || fs.Feature.ID != featureID {
				continue
			}
			p := 0
			if fs.FeatureSegment != nil {
				p = fs.FeatureSegment.Priority
			}
			out = append(out, segmentOverride{segment: segmentRef{ID: seg.ID, Name: seg.Name}, fs: fs, priority: p})
		}
	}
	slices.SortStableFunc(out, func(a, b segmentOverride) int { return a.priority - b.priority })
	return out
}
