package launchdarkly

import (
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"strconv"
	"strings"

	"github.com/agentops/progressive"
)

// semanticPatch is the Content-Type of a semantic patch request.
const semanticPatch = "application/json; domain-model=launchdarkly.semanticpatch"

// apiFlag is the part of GET /api/v2/flags/{projectKey}/{flagKey} the store uses.
type apiFlag struct {
	Key          string            `json:"key"`
	Version      int               `json:"_version"`
	Variations   []apiVariation    `json:"variations"`
	Environments map[string]apiEnv `json:"environments"`
}

type apiVariation struct {
	ID    string `json:"_id"`
	Value any    `json:"value"`
	Name  string `json:"name,omitempty"`
}

type apiEnv struct {
	On             bool        `json:"on"`
	Version        int         `json:"version"`
	Targets        []apiTarget `json:"targets"`
	ContextTargets []apiTarget `json:"contextTargets"`
	Rules          []apiRule   `json:"rules"`
}

type apiTarget struct {
	Values      []string `json:"values"`
	Variation   int      `json:"variation"`
	ContextKind string   `json:"contextKind,omitempty"`
}

type apiRule struct {
	ID          string `json:"_id"`
	Description string `json:"description,omitempty"`
}

// instruction is one semantic patch instruction: {"kind": ..., parameters...}.
type instruction map[string]any

// patchBody is the body of a semantic patch.
type patchBody struct {
	EnvironmentKey string        `json:"environmentKey"`
	Comment        string        `json:"comment,omitempty"`
	Instructions   []instruction `json:"instructions"`
}

// thousandths converts percentages to LaunchDarkly's weights (100000 = 100%),
// rejecting weights with more than three decimals. Validated weights summing to
// 100 give integers summing to 100000.
func thousandths(ws []progressive.VariationWeight) ([]int, error) {
	out := make([]int, len(ws))
	sum := 0
	for i, w := range ws {
		v := w.Weight * 1000
		r := math.Round(v)
		if math.Abs(v-r) > 1e-6 {
			return nil, progressive.FieldError{Field: fmt.Sprintf("weights[%d].weight", i), Value: w.Weight,
				Reason: "LaunchDarkly weights have at most three decimals (thousandths of a percent)"}
		}
		out[i] = int(r)
		sum += out[i]
	}
	if len(out) > 0 && sum != 100000 {
		out[len(out)-1] += 100000 - sum
	}
	return out, nil
}

// valueText renders a variation value as a name: strings as they are, the rest as
// JSON.
func valueText(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// variationName is the name the store reports for a variation.
func variationName(v apiVariation) string {
	if v.Name != "" {
		return v.Name
	}
	return valueText(v.Value)
}

// resolveVariation finds a variation of f by index ("0"), name, value text or id.
func resolveVariation(ref progressive.FlagRef, f apiFlag, idOrName string) (int, error) {
	if i, err := strconv.Atoi(idOrName); err == nil && i >= 0 && i < len(f.Variations) && strconv.Itoa(i) == idOrName {
		return i, nil
	}
	for i, v := range f.Variations {
		if v.ID == idOrName || v.Name == idOrName {
			return i, nil
		}
	}
	for i, v := range f.Variations {
		if v.Name == "" && valueText(v.Value) == idOrName {
			return i, nil
		}
	}
	known := make([]string, len(f.Variations))
	for i := range f.Variations {
		known[i] = label(f, i)
	}
	return 0, fmt.Errorf("flag %s has no variation %q (known: %s): %w", ref, idOrName, strings.Join(known, ", "), progressive.ErrInvalid)
}

// label names variation i of f: "1 (on)".
func label(f apiFlag, i int) string {
	return fmt.Sprintf("%d (%s)", i, variationName(f.Variations[i]))
}

func describeRollout(f apiFlag, r progressive.Rollout) string {
	parts := make([]string, 0, len(r.Weights))
	for _, w := range r.Weights {
		parts = append(parts, fmt.Sprintf("%g%% %s", w.Weight, w.Variation))
	}
	return strings.Join(parts, ", ")
}

func pathEscape(s string) string { return url.PathEscape(s) }
