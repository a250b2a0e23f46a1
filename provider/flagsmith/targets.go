package flagsmith

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/Flagsmith/flagsmith-go-client/v4/flagengine/environments"
	"github.com/Flagsmith/flagsmith-go-client/v4/flagengine/features"
	"github.com/agentops/progressive"
	"github.com/agentops/progressive/flags"
)

// SetTargets makes the identities keys always receive variation, as identity
// overrides (Edge identities API): an override is created or updated for each key
// whose override differs, and removed for the identities of that variation not
// listed. Flagsmith has no bulk endpoint for this, so it is one request per changed
// identity (plus one to create an identity that does not exist yet); the variation
// and the feature are checked before the first one. If a request fails part-way the
// error says how many identities were done; calling again finishes the change.
//
// An identity override is enabled: a targeted identity gets the variation even
// while the environment's flag is disabled.
func (s *Store) SetTargets(ctx context.Context, ref progressive.FlagRef, variation string, keys []string) error {
	ref, e, err := s.normalize(ref)
	if err != nil {
		return err
	}
	if err := s.writable("set targets"); err != nil {
		return err
	}
	keys = dedupe(keys)
	// Plan from a fresh document, then apply one identity at a time.
	var plan []identityChange
	var doc *environments.EnvironmentModel
	var fs *features.FeatureStateModel
	err = s.http.Do(ctx, "read flag "+ref.String(), func(ctx context.Context) error {
		d, err := s.document(ctx, e, true)
		if err != nil {
			return err
		}
		doc = d
		fs, err = feature(ref, d)
		return err
	})
	if err != nil {
		return err
	}
	f := toFlag(ref, doc, fs)
	v, err := flags.Resolve(f, variation)
	if err != nil {
		return fmt.Errorf("flagsmith: %w", err)
	}
	want := map[string]bool{}
	for _, k := range keys {
		want[k] = true
	}
	overridden := map[string]identityOverride{}
	for _, id := range doc.IdentityOverrides {
		if id == nil {
			continue
		}
		for _, o := range id.IdentityFeatures {
			if o != nil && o.Feature != nil && o.Feature.ID == fs.Feature.ID {
				overridden[id.Identifier] = identityOverride{uuid: id.IdentityUUID, fsUUID: o.FeatureStateUUID, value: valueText(o.RawValue), enabled: o.Enabled}
			}
		}
	}
	for _, k := range keys {
		o, ok := overridden[k]
		switch {
		case !ok:
			plan = append(plan, identityChange{key: k, action: "create"})
		case o.value != v.Name || !o.enabled:
			plan = append(plan, identityChange{key: k, action: "update", o: o})
		}
	}
	for _, k := range slices.Sorted(maps.Keys(overridden)) {
		if o := overridden[k]; !want[k] && o.enabled && o.value == v.Name {
			plan = append(plan, identityChange{key: k, action: "delete", o: o})
		}
	}
	defer s.dropCache(e)
	for i, c := range plan {
		err := s.http.Do(ctx, c.action+" the override of identity "+c.key+" on "+ref.String(), func(ctx context.Context) error {
			return s.identityChange(ctx, doc.APIKey, fs.Feature.ID, v.Value, c)
		})
		if err != nil {
			return fmt.Errorf("flagsmith: set targets of %s: %d of %d identity change(s) done; calling again finishes: %w", ref, i, len(plan), err)
		}
	}
	if len(plan) > 0 {
		if uerr := e.client.UpdateEnvironment(ctx); uerr != nil {
			s.logger.Warn("the SDK client could not refresh after a write; it will at its next poll", "environment", e.name, "error", s.http.Redact(uerr.Error()))
		}
	}
	return nil
}

type identityOverride struct {
	uuid, fsUUID, value string
	enabled             bool
}

type identityChange struct {
	key    string
	action string // create, update, delete
	o      identityOverride
}

func (s *Store) identityChange(ctx context.Context, envKey string, featureID int, value any, c identityChange) error {
	body := map[string]any{"feature": featureID, "enabled": true, "feature_state_value": value}
	base := fmt.Sprintf("environments/%s/edge-identities/", envKey)
	enabled := true
	switch c.action {
	case "update":
		return s.overrideWrite(ctx, http.MethodPut, fmt.Sprintf("%s%s/edge-featurestates/%s/", base, c.o.uuid, c.o.fsUUID), body, featureID, &enabled)
	case "delete":
		// Answered 204 without a body: the status is the confirmation.
		return s.http.Send(ctx, s.admin(http.MethodDelete, fmt.Sprintf("%s%s/edge-featurestates/%s/", base, c.o.uuid, c.o.fsUUID), nil), nil)
	}
	uuid, err := s.identity(ctx, base, c.key)
	if err != nil {
		return err
	}
	return s.overrideWrite(ctx, http.MethodPost, fmt.Sprintf("%s%s/edge-featurestates/", base, uuid), body, featureID, &enabled)
}

// overrideWrite sends an identity override and checks that the answer is the
// override written: a state of the feature, enabled.
func (s *Store) overrideWrite(ctx context.Context, method, path string, body map[string]any, featureID int, enabled *bool) error {
	var got struct {
		Feature json.RawMessage `json:"feature"`
		Enabled *bool           `json:"enabled"`
	}
	if err := s.http.Send(ctx, s.admin(method, path, body), &got); err != nil {
		return err
	}
	what := method + " " + path
	if f, ok := refID(got.Feature); !ok || f != featureID {
		return unconfirmed(what, "it is not an override of feature %d", featureID)
	}
	if got.Enabled == nil || *got.Enabled != *enabled {
		return unconfirmed(what, "the override is not enabled")
	}
	return nil
}

// identity finds the Edge identity with identifier key, creating it if needed.
func (s *Store) identity(ctx context.Context, base, key string) (string, error) {
	var found struct {
		Results []struct {
			IdentityUUID string `json:"identity_uuid"`
			Identifier   string `json:"identifier"`
		} `json:"results"`
	}
	// A quoted query is an exact match.
	if err := s.http.Send(ctx, s.admin(http.MethodGet, base+"?q="+url.QueryEscape(`"`+key+`"`), nil), &found); err != nil {
		return "", err
	}
	for _, r := range found.Results {
		if r.Identifier == key {
			return r.IdentityUUID, nil
		}
	}
	var created struct {
		IdentityUUID string `json:"identity_uuid"`
	}
	if err := s.http.Send(ctx, s.admin(http.MethodPost, base, map[string]any{"identifier": key}), &created); err != nil {
		return "", err
	}
	if created.IdentityUUID == "" {
		return "", fmt.Errorf("flagsmith: creating identity %q: %w", key, unconfirmed("POST "+base, "it holds no identity_uuid"))
	}
	return created.IdentityUUID, nil
}

// SetRules replaces the segment overrides of ref in its environment. Each rule
// names a segment defined in Flagsmith (segments hold the conditions: a
// beta-testers list, a country, a tier); rules with attribute clauses are not
// supported (progressive.ErrUnsupported): define a segment with those conditions
// and name it. The order of the rules is the overrides' priority.
//
// Flagsmith keeps an override in two objects (a feature segment and a feature
// state) and has no endpoint that replaces them all, so this is several requests:
// overrides are created or updated first, then priorities set, then the overrides
// no longer wanted deleted. Everything is checked before the first request; if one
// fails part-way, calling again finishes the change.
func (s *Store) SetRules(ctx context.Context, ref progressive.FlagRef, rules []progressive.FlagRule) error {
	ref, e, err := s.normalize(ref)
	if err != nil {
		return err
	}
	if err := flags.CheckRules(rules); err != nil {
		return fmt.Errorf("flagsmith: flag %s: %w", ref, err)
	}
	for i, r := range rules {
		if len(r.Clauses) > 0 {
			return flags.Unsupported(Name, fmt.Sprintf("write rules[%d] with attribute clauses", i),
				"Flagsmith matches attributes (traits) through segments: define a segment with these conditions in Flagsmith and name it in the rule")
		}
	}
	return s.change(ctx, ref, e, "set rules", func(ctx context.Context, doc *environments.EnvironmentModel, fs *features.FeatureStateModel) error {
		f := toFlag(ref, doc, fs)
		segments := map[string]int{}
		var names []string
		for _, seg := range doc.Project.Segments {
			if seg != nil {
				segments[seg.Name] = seg.ID
				names = append(names, seg.Name)
			}
		}
		slices.Sort(names)
		type desired struct {
			segmentID int
			value     any
			mv        []map[string]any
		}
		var want []desired
		seen := map[int]bool{}
		for i, r := range rules {
			id, ok := segments[r.Segment]
			if !ok {
				return fmt.Errorf("rules[%d].segment: unknown segment %q (known: %s): %w", i, r.Segment, orNone(strings.Join(names, ", ")), progressive.ErrInvalid)
			}
			if seen[id] {
				return fmt.Errorf("rules[%d].segment: segment %q has two rules; Flagsmith keeps one override per segment: %w", i, r.Segment, progressive.ErrInvalid)
			}
			seen[id] = true
			d := desired{segmentID: id}
			if r.Rollout != nil {
				mv, err := allocations(f, fs, *r.Rollout)
				if err != nil {
					return fmt.Errorf("rules[%d]: %w", i, err)
				}
				d.value, d.mv = fs.RawValue, mv
			} else {
				v, err := flags.Resolve(f, r.Variation)
				if err != nil {
					return fmt.Errorf("rules[%d]: %w", i, err)
				}
				mv, _ := allocations(f, fs, progressive.Rollout{Weights: []progressive.VariationWeight{{Variation: controlID, Weight: 100}}})
				d.value, d.mv = v.Value, mv
			}
			want = append(want, d)
		}
		// The feature segments (ids and priorities) of the feature in this environment.
		var list struct {
			Results []struct {
				ID       int `json:"id"`
				Segment  int `json:"segment"`
				Priority int `json:"priority"`
			} `json:"results"`
		}
		if err := s.http.Send(ctx, s.admin(http.MethodGet, fmt.Sprintf("features/feature-segments/?environment=%d&feature=%d", doc.ID, fs.Feature.ID), nil), &list); err != nil {
			return err
		}
		featureSegment := map[int]int{}
		for _, r := range list.Results {
			featureSegment[r.Segment] = r.ID
		}
		existing := map[int]*features.FeatureStateModel{}
		for _, o := range segmentOverrides(doc, fs.Feature.ID) {
			existing[o.segment.ID] = o.fs
		}
		var priorities []map[string]any
		enabled := true
		for i, d := range want {
			body := map[string]any{"enabled": true, "feature_state_value": typedValue(d.value), "multivariate_feature_state_values": d.mv}
			if ofs, ok := existing[d.segmentID]; ok {
				path := fmt.Sprintf("features/featurestates/%d/", ofs.DjangoID)
				var got writtenState
				if err := s.http.Send(ctx, s.admin(http.MethodPatch, path, withIDs(body, ofs)), &got); err != nil {
					return err
				}
				if err := confirmState(stateWrite{what: "PATCH " + path, id: ofs.DjangoID, enabled: &enabled, mv: d.mv}, got); err != nil {
					return err
				}
			} else {
				var created struct {
					ID int `json:"id"`
				}
				if err := s.http.Send(ctx, s.admin(http.MethodPost, "features/feature-segments/",
					map[string]any{"feature": fs.Feature.ID, "segment": d.segmentID, "environment": doc.ID, "priority": i}), &created); err != nil {
					return err
				}
				if created.ID == 0 {
					return unconfirmed("POST features/feature-segments/", "it holds no feature segment id")
				}
				featureSegment[d.segmentID] = created.ID
				body["feature"], body["environment"], body["feature_segment"] = fs.Feature.ID, doc.ID, created.ID
				var got writtenState
				if err := s.http.Send(ctx, s.admin(http.MethodPost, "features/featurestates/", body), &got); err != nil {
					return err
				}
				if err := confirmState(stateWrite{what: "POST features/featurestates/", feature: fs.Feature.ID, enabled: &enabled, mv: d.mv}, got); err != nil {
					return err
				}
			}
			priorities = append(priorities, map[string]any{"id": featureSegment[d.segmentID], "priority": i})
		}
		if len(priorities) > 1 {
			var got []struct {
				ID       int `json:"id"`
				Priority int `json:"priority"`
			}
			if err := s.http.Send(ctx, s.admin(http.MethodPost, "features/feature-segments/update-priorities/", priorities), &got); err != nil {
				return err
			}
			set := map[int]int{}
			for _, g := range got {
				set[g.ID] = g.Priority
			}
			for _, p := range priorities {
				if prio, ok := set[p["id"].(int)]; !ok || prio != p["priority"].(int) {
					return unconfirmed("POST features/feature-segments/update-priorities/", "feature segment %v is not at priority %v", p["id"], p["priority"])
				}
			}
		}
		for segID, fsegID := range featureSegment {
			if !seen[segID] {
				if err := s.http.Send(ctx, s.admin(http.MethodDelete, fmt.Sprintf("features/feature-segments/%d/", fsegID), nil), nil); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// withIDs adds the ids of ofs's multivariate values to an update's allocations, so
// they are updated rather than replaced.
func withIDs(body map[string]any, ofs *features.FeatureStateModel) map[string]any {
	ids := map[int]int{}
	for _, m := range ofs.MultivariateFeatureStateValues {
		if m != nil && m.ID != nil && m.MultivariateFeatureOption != nil {
			ids[m.MultivariateFeatureOption.ID] = *m.ID
		}
	}
	mv, _ := body["multivariate_feature_state_values"].([]map[string]any)
	out := make([]map[string]any, 0, len(mv))
	for _, m := range mv {
		c := map[string]any{"multivariate_feature_option": m["multivariate_feature_option"], "percentage_allocation": m["percentage_allocation"]}
		if id, ok := ids[m["multivariate_feature_option"].(int)]; ok {
			c["id"] = id
		}
		out = append(out, c)
	}
	body["multivariate_feature_state_values"] = out
	return body
}

func dedupe(keys []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, k := range keys {
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	return out
}
