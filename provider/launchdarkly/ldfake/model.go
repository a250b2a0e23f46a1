package ldfake

import (
	"encoding/json"
	"fmt"
	"slices"
)

// The REST representation of a flag, as GET /api/v2/flags/{projectKey}/{flagKey}
// returns it (the parts the fake keeps).
type flag struct {
	Key          string                `json:"key"`
	Version      int                   `json:"_version"`
	Variations   []variation           `json:"variations"`
	Environments map[string]*envConfig `json:"environments"`
}

type variation struct {
	ID    string `json:"_id"`
	Value any    `json:"value"`
	Name  string `json:"name,omitempty"`
}

type envConfig struct {
	On             bool     `json:"on"`
	Archived       bool     `json:"archived"`
	Salt           string   `json:"salt"`
	Version        int      `json:"version"`
	Targets        []target `json:"targets"`
	ContextTargets []target `json:"contextTargets"`
	Rules          []rule   `json:"rules"`
	Fallthrough    vor      `json:"fallthrough"`
	OffVariation   *int     `json:"offVariation,omitempty"`
}

type target struct {
	Values      []string `json:"values"`
	Variation   int      `json:"variation"`
	ContextKind string   `json:"contextKind,omitempty"`
}

type vor struct {
	Variation *int     `json:"variation,omitempty"`
	Rollout   *rollout `json:"rollout,omitempty"`
}

type rollout struct {
	Variations  []weighted `json:"variations"`
	BucketBy    string     `json:"bucketBy,omitempty"`
	ContextKind string     `json:"contextKind,omitempty"`
}

type weighted struct {
	Variation int `json:"variation"`
	Weight    int `json:"weight"`
}

type rule struct {
	ID          string   `json:"_id"`
	Description string   `json:"description,omitempty"`
	Clauses     []clause `json:"clauses"`
	Variation   *int     `json:"variation,omitempty"`
	Rollout     *rollout `json:"rollout,omitempty"`
	TrackEvents bool     `json:"trackEvents"`
}

type clause struct {
	ID          string `json:"_id,omitempty"`
	ContextKind string `json:"contextKind"`
	Attribute   string `json:"attribute"`
	Op          string `json:"op"`
	Values      []any  `json:"values"`
	Negate      bool   `json:"negate"`
}

// operators are LaunchDarkly's clause operators, spelled as the API wants them.
var operators = []string{"in", "endsWith", "startsWith", "matches", "contains", "lessThan", "lessThanOrEqual",
	"greaterThan", "greaterThanOrEqual", "before", "after", "segmentMatch", "semVerEqual", "semVerLessThan", "semVerGreaterThan"}

// Instruction parameters, decoded strictly: a parameter the documentation does not
// list for the kind is an error.
type (
	kindOnly struct {
		Kind string `json:"kind"`
	}
	fallthroughIn struct {
		Kind               string         `json:"kind"`
		VariationID        *string        `json:"variationId"`
		RolloutWeights     map[string]int `json:"rolloutWeights"`
		RolloutBucketBy    *string        `json:"rolloutBucketBy"`
		RolloutContextKind *string        `json:"rolloutContextKind"`
	}
	offVariationIn struct {
		Kind        string `json:"kind"`
		VariationID string `json:"variationId"`
	}
	targetsIn struct {
		Kind        string   `json:"kind"`
		Values      []string `json:"values"`
		ContextKind *string  `json:"contextKind"`
		VariationID string   `json:"variationId"`
	}
	userTargetsIn struct {
		Kind        string   `json:"kind"`
		Values      []string `json:"values"`
		VariationID string   `json:"variationId"`
	}
	clauseIn struct {
		ContextKind *string `json:"contextKind"`
		Attribute   string  `json:"attribute"`
		Op          string  `json:"op"`
		Negate      bool    `json:"negate"`
		Values      []any   `json:"values"`
	}
	addRuleIn struct {
		Kind               string         `json:"kind"`
		Clauses            []clauseIn     `json:"clauses"`
		BeforeRuleID       *string        `json:"beforeRuleId"`
		VariationID        *string        `json:"variationId"`
		RolloutWeights     map[string]int `json:"rolloutWeights"`
		RolloutBucketBy    *string        `json:"rolloutBucketBy"`
		RolloutContextKind *string        `json:"rolloutContextKind"`
		Description        *string        `json:"description"`
	}
	removeRuleIn struct {
		Kind   string `json:"kind"`
		RuleID string `json:"ruleId"`
	}
)

// apply runs a semantic patch on a copy of f, all or nothing. It returns the new
// flag and the environment it changed.
func (s *Server) apply(f *flag, body []byte) (*flag, string, error) {
	var req struct {
		EnvironmentKey string            `json:"environmentKey"`
		Comment        string            `json:"comment"`
		Instructions   []json.RawMessage `json:"instructions"`
	}
	if err := strict(body, &req); err != nil {
		return nil, "", fmt.Errorf("body: %v", err)
	}
	if len(req.Instructions) == 0 {
		return nil, "", fmt.Errorf("instructions: must list at least one instruction")
	}
	next := clone(f)
	env := next.Environments[req.EnvironmentKey]
	if env == nil {
		return nil, "", fmt.Errorf("environmentKey: %q is not an environment of the flag (known: %s)", req.EnvironmentKey, keys(next.Environments))
	}
	for i, raw := range req.Instructions {
		var k kindOnly
		if err := json.Unmarshal(raw, &k); err != nil {
			return nil, "", fmt.Errorf("instructions[%d]: %v", i, err)
		}
		if err := s.instruction(next, env, k.Kind, raw); err != nil {
			return nil, "", fmt.Errorf("instructions[%d] (%s): %v", i, k.Kind, err)
		}
	}
	env.Version++
	next.Version++
	return next, req.EnvironmentKey, nil
}

func (s *Server) instruction(f *flag, env *envConfig, kind string, raw json.RawMessage) error {
	switch kind {
	case "turnFlagOn", "turnFlagOff":
		var in kindOnly
		if err := strict(raw, &in); err != nil {
			return err
		}
		env.On = kind == "turnFlagOn"
	case "updateFallthroughVariationOrRollout":
		var in fallthroughIn
		if err := strict(raw, &in); err != nil {
			return err
		}
		v, err := f.vor(in.VariationID, in.RolloutWeights, in.RolloutBucketBy, in.RolloutContextKind)
		if err != nil {
			return err
		}
		env.Fallthrough = v
	case "updateOffVariation":
		var in offVariationIn
		if err := strict(raw, &in); err != nil {
			return err
		}
		i, err := f.index(in.VariationID)
		if err != nil {
			return err
		}
		env.OffVariation = &i
	case "addTargets", "removeTargets", "addUserTargets", "removeUserTargets":
		var values []string
		var variationID, kindOf string
		if kind == "addTargets" || kind == "removeTargets" {
			var in targetsIn
			if err := strict(raw, &in); err != nil {
				return err
			}
			values, variationID, kindOf = in.Values, in.VariationID, "user"
			if in.ContextKind != nil {
				kindOf = *in.ContextKind
			}
		} else {
			var in userTargetsIn
			if err := strict(raw, &in); err != nil {
				return err
			}
			values, variationID, kindOf = in.Values, in.VariationID, "user"
		}
		if len(values) == 0 {
			return fmt.Errorf("values: must list at least one context key")
		}
		i, err := f.index(variationID)
		if err != nil {
			return err
		}
		if kind == "addTargets" || kind == "addUserTargets" {
			return env.addTargets(kindOf, i, values)
		}
		env.removeTargets(kindOf, i, values)
	case "addRule":
		var in addRuleIn
		if err := strict(raw, &in); err != nil {
			return err
		}
		r := rule{ID: fmt.Sprintf("rule-%04d", s.id()), Clauses: []clause{}}
		if in.Description != nil {
			r.Description = *in.Description
		}
		if len(in.Clauses) == 0 {
			return fmt.Errorf("clauses: a rule needs at least one clause")
		}
		for j, c := range in.Clauses {
			if c.Attribute == "" || len(c.Values) == 0 {
				return fmt.Errorf("clauses[%d]: attribute and values are required", j)
			}
			if !slices.Contains(operators, c.Op) {
				return fmt.Errorf("clauses[%d].op: %q is not an operator (known: %v)", j, c.Op, operators)
			}
			ck := "user"
			if c.ContextKind != nil {
				ck = *c.ContextKind
			}
			r.Clauses = append(r.Clauses, clause{ID: fmt.Sprintf("clause-%04d", s.id()), ContextKind: ck, Attribute: c.Attribute, Op: c.Op, Values: c.Values, Negate: c.Negate})
		}
		v, err := f.vor(in.VariationID, in.RolloutWeights, in.RolloutBucketBy, in.RolloutContextKind)
		if err != nil {
			return err
		}
		r.Variation, r.Rollout = v.Variation, v.Rollout
		at := len(env.Rules)
		if in.BeforeRuleID != nil {
			at = slices.IndexFunc(env.Rules, func(x rule) bool { return x.ID == *in.BeforeRuleID })
			if at < 0 {
				return fmt.Errorf("beforeRuleId: no rule %q", *in.BeforeRuleID)
			}
		}
		env.Rules = slices.Insert(env.Rules, at, r)
	case "removeRule":
		var in removeRuleIn
		if err := strict(raw, &in); err != nil {
			return err
		}
		if in.RuleID == "" {
			return fmt.Errorf("ruleId: required")
		}
		env.Rules = slices.DeleteFunc(env.Rules, func(x rule) bool { return x.ID == in.RuleID })
	default:
		return fmt.Errorf("unknown or unsupported instruction kind %q", kind)
	}
	return nil
}

func (f *flag) index(variationID string) (int, error) {
	for i, v := range f.Variations {
		if v.ID == variationID {
			return i, nil
		}
	}
	return 0, fmt.Errorf("variationId: %q is not a variation _id of flag %s", variationID, f.Key)
}

// vor builds a variation-or-rollout from exactly one of variationId and
// rolloutWeights.
func (f *flag) vor(variationID *string, weights map[string]int, bucketBy, contextKind *string) (vor, error) {
	switch {
	case variationID != nil && weights != nil:
		return vor{}, fmt.Errorf("set variationId or rolloutWeights, not both")
	case variationID != nil:
		if bucketBy != nil || contextKind != nil {
			return vor{}, fmt.Errorf("rolloutBucketBy and rolloutContextKind go with rolloutWeights")
		}
		i, err := f.index(*variationID)
		if err != nil {
			return vor{}, err
		}
		return vor{Variation: &i}, nil
	case weights == nil:
		return vor{}, fmt.Errorf("set variationId or rolloutWeights")
	}
	r := &rollout{ContextKind: "user"}
	if contextKind != nil {
		r.ContextKind = *contextKind
	}
	if bucketBy != nil {
		r.BucketBy = *bucketBy
	}
	sum := 0
	byIndex := map[int]int{}
	for id, w := range weights {
		i, err := f.index(id)
		if err != nil {
			return vor{}, fmt.Errorf("rolloutWeights: %v", err)
		}
		if w < 0 || w > 100000 {
			return vor{}, fmt.Errorf("rolloutWeights[%s]: %d is outside 0-100000 (thousandths of a percent)", id, w)
		}
		byIndex[i] = w
		sum += w
	}
	if sum != 100000 {
		return vor{}, fmt.Errorf("rolloutWeights: the weights sum to %d, not 100000", sum)
	}
	for i := range f.Variations {
		if w, ok := byIndex[i]; ok {
			r.Variations = append(r.Variations, weighted{Variation: i, Weight: w})
		}
	}
	return vor{Rollout: r}, nil
}

func (e *envConfig) addTargets(kind string, variation int, values []string) error {
	for _, t := range e.Targets {
		if t.contextKind() != kind || t.Variation == variation {
			continue
		}
		for _, v := range values {
			if slices.Contains(t.Values, v) {
				return fmt.Errorf("context key %q is already targeted to variation %d", v, t.Variation)
			}
		}
	}
	for i, t := range e.Targets {
		if t.contextKind() == kind && t.Variation == variation {
			for _, v := range values {
				if !slices.Contains(t.Values, v) {
					e.Targets[i].Values = append(e.Targets[i].Values, v)
				}
			}
			return nil
		}
	}
	e.Targets = append(e.Targets, target{Values: slices.Clone(values), Variation: variation, ContextKind: kind})
	return nil
}

func (e *envConfig) removeTargets(kind string, variation int, values []string) {
	out := e.Targets[:0]
	for _, t := range e.Targets {
		if t.contextKind() == kind && t.Variation == variation {
			t.Values = slices.DeleteFunc(t.Values, func(v string) bool { return slices.Contains(values, v) })
		}
		if len(t.Values) > 0 {
			out = append(out, t)
		}
	}
	e.Targets = out
}

func (t target) contextKind() string {
	if t.ContextKind == "" {
		return "user"
	}
	return t.ContextKind
}
