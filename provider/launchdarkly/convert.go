package launchdarkly

import (
	"slices"
	"strconv"

	"github.com/agentops/progressive"
	"github.com/launchdarkly/go-sdk-common/v3/ldvalue"
	"github.com/launchdarkly/go-server-sdk-evaluation/v3/ldmodel"
)

// toFlag converts the SDK's flag model. names, when known, come from the REST API.
func toFlag(ref progressive.FlagRef, ff *ldmodel.FeatureFlag, names []apiVariation, contextKind string) progressive.Flag {
	f := progressive.Flag{Ref: ref, On: ff.On, Version: int64(ff.Version)}
	for i, v := range ff.Variations {
		pv := progressive.Variation{ID: strconv.Itoa(i), Value: v.AsArbitraryValue()}
		if i < len(names) {
			pv.Name = variationName(names[i])
		} else {
			pv.Name = valueText(pv.Value)
		}
		f.Variations = append(f.Variations, pv)
	}
	if off, ok := ff.OffVariation.Get(); ok {
		f.OffVariation = strconv.Itoa(off)
	}
	f.Fallthrough = toRollout(ff.Fallthrough)
	byVariation := map[int][]string{}
	var order []int
	add := func(t ldmodel.Target) {
		if _, ok := byVariation[t.Variation]; !ok {
			order = append(order, t.Variation)
		}
		byVariation[t.Variation] = append(byVariation[t.Variation], t.Values...)
	}
	for _, t := range ff.Targets {
		add(t)
	}
	for _, t := range ff.ContextTargets {
		if string(t.ContextKind) == contextKind && len(t.Values) > 0 {
			add(t)
		}
	}
	slices.Sort(order)
	for _, v := range order {
		keys := slices.Clone(byVariation[v])
		slices.Sort(keys)
		keys = slices.Compact(keys)
		if len(keys) > 0 {
			f.Targets = append(f.Targets, progressive.FlagTarget{Variation: strconv.Itoa(v), Keys: keys})
		}
	}
	for _, r := range ff.Rules {
		rule := progressive.FlagRule{ID: r.ID}
		for _, c := range r.Clauses {
			if c.Op == ldmodel.OperatorSegmentMatch && rule.Segment == "" && len(c.Values) == 1 && !c.Negate {
				rule.Segment = c.Values[0].StringValue()
				continue
			}
			pc := progressive.Clause{Attribute: c.Attribute.String(), Op: string(c.Op), Negate: c.Negate}
			for _, v := range c.Values {
				pc.Values = append(pc.Values, valueString(v))
			}
			rule.Clauses = append(rule.Clauses, pc)
		}
		if v, ok := r.Variation.Get(); ok {
			rule.Variation = strconv.Itoa(v)
		} else {
			ro := toRollout(r.VariationOrRollout)
			rule.Rollout = &ro
		}
		f.Rules = append(f.Rules, rule)
	}
	return f
}

func toRollout(vr ldmodel.VariationOrRollout) progressive.Rollout {
	if v, ok := vr.Variation.Get(); ok {
		return progressive.Rollout{Weights: []progressive.VariationWeight{{Variation: strconv.Itoa(v), Weight: 100}}}
	}
	var r progressive.Rollout
	for _, wv := range vr.Rollout.Variations {
		r.Weights = append(r.Weights, progressive.VariationWeight{Variation: strconv.Itoa(wv.Variation), Weight: float64(wv.Weight) / 1000})
	}
	if vr.Rollout.BucketBy.IsDefined() && vr.Rollout.BucketBy.String() != "key" {
		r.BucketBy = vr.Rollout.BucketBy.String()
	}
	return r
}

func valueString(v ldvalue.Value) string {
	if v.IsString() {
		return v.StringValue()
	}
	return v.JSONString()
}
