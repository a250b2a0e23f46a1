package fsfake

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
)

type mvIn struct {
	ID                        *int    `json:"id"`
	MultivariateFeatureOption int     `json:"multivariate_feature_option"`
	PercentageAllocation      float64 `json:"percentage_allocation"`
}

type typedValueIn struct {
	Type         string  `json:"type"`
	StringValue  *string `json:"string_value"`
	IntegerValue *int64  `json:"integer_value"`
	BooleanValue *bool   `json:"boolean_value"`
}

func (v typedValueIn) value() (any, error) {
	switch v.Type {
	case "unicode":
		if v.StringValue == nil {
			return nil, fmt.Errorf("string_value is required for type unicode")
		}
		return *v.StringValue, nil
	case "int":
		if v.IntegerValue == nil {
			return nil, fmt.Errorf("integer_value is required for type int")
		}
		return float64(*v.IntegerValue), nil
	case "bool":
		if v.BooleanValue == nil {
			return nil, fmt.Errorf("boolean_value is required for type bool")
		}
		return *v.BooleanValue, nil
	}
	return nil, fmt.Errorf("type %q is not one of unicode, int, bool", v.Type)
}

// setMV replaces the multivariate values of st, as a writable nested serializer
// does: listed ids are updated, entries without id created, the rest deleted.
func (s *Server) setMV(st *fstate, in []mvIn) error {
	f := s.feature(st.Feature)
	sum := 0.0
	var out []*mvValue
	for i, m := range in {
		if !slices.ContainsFunc(f.Options, func(o option) bool { return o.ID == m.MultivariateFeatureOption }) {
			return fmt.Errorf("multivariate_feature_state_values[%d]: %d is not an option of feature %s", i, m.MultivariateFeatureOption, f.Name)
		}
		if m.PercentageAllocation < 0 || m.PercentageAllocation > 100 {
			return fmt.Errorf("multivariate_feature_state_values[%d].percentage_allocation: must be between 0 and 100", i)
		}
		sum += m.PercentageAllocation
		v := &mvValue{Option: m.MultivariateFeatureOption, Pct: m.PercentageAllocation}
		if m.ID != nil {
			j := slices.IndexFunc(st.MV, func(x *mvValue) bool { return x.ID == *m.ID })
			if j < 0 {
				return fmt.Errorf("multivariate_feature_state_values[%d].id: %d is not a value of this feature state", i, *m.ID)
			}
			v.ID, v.UUID = st.MV[j].ID, st.MV[j].UUID
		} else {
			v.ID, v.UUID = s.id(), s.uuid()
		}
		out = append(out, v)
	}
	if sum > 100+1e-9 {
		return fmt.Errorf("Multivariate percentage values exceed 100%%.")
	}
	st.MV = out
	return nil
}

func (s *Server) environmentRoute(r *http.Request, e *env, parts []string, body []byte) (int, map[string]string, []byte) {
	switch {
	case parts[0] == "featurestates" && len(parts) == 2 && r.Method == http.MethodPatch:
		id := atoi(parts[1])
		var st *fstate
		for _, x := range e.states {
			if x.ID == id {
				st = x
			}
		}
		if st == nil {
			return detail(http.StatusNotFound, "Not found.")
		}
		var in struct {
			Enabled *bool   `json:"enabled"`
			MV      *[]mvIn `json:"multivariate_feature_state_values"`
		}
		if err := strict(body, &in); err != nil {
			return detail(http.StatusBadRequest, "%v", err)
		}
		next := *st
		next.MV = slices.Clone(st.MV)
		if in.MV != nil {
			if err := s.setMV(&next, *in.MV); err != nil {
				return detail(http.StatusBadRequest, "%v", err)
			}
		}
		if in.Enabled != nil {
			next.Enabled = *in.Enabled
		}
		*st = next
		s.tick(e)
		return ok(http.StatusOK, s.renderState(st, nil))
	case parts[0] == "edge-identities" && len(parts) == 1:
		switch r.Method {
		case http.MethodGet:
			q := r.URL.Query().Get("q")
			exact := strings.HasPrefix(q, `"`) && strings.HasSuffix(q, `"`) && len(q) >= 2
			q = strings.Trim(q, `"`)
			results := []map[string]any{}
			for _, id := range e.ids {
				if (exact && id.Identifier == q) || (!exact && strings.HasPrefix(id.Identifier, q)) {
					results = append(results, map[string]any{"identity_uuid": id.UUID, "identifier": id.Identifier, "environment_api_key": e.APIKey})
				}
			}
			return ok(http.StatusOK, map[string]any{"results": results})
		case http.MethodPost:
			var in struct {
				Identifier string `json:"identifier"`
			}
			if err := strict(body, &in); err != nil || in.Identifier == "" {
				return detail(http.StatusBadRequest, "identifier is required")
			}
			if slices.ContainsFunc(e.ids, func(x *identity) bool { return x.Identifier == in.Identifier }) {
				return detail(http.StatusBadRequest, "Identity with identifier %q already exists.", in.Identifier)
			}
			id := &identity{UUID: s.uuid(), Identifier: in.Identifier}
			e.ids = append(e.ids, id)
			return ok(http.StatusCreated, map[string]any{"identity_uuid": id.UUID, "identifier": id.Identifier, "environment_api_key": e.APIKey})
		}
	case parts[0] == "edge-identities" && len(parts) >= 3 && parts[2] == "edge-featurestates":
		i := slices.IndexFunc(e.ids, func(x *identity) bool { return x.UUID == parts[1] })
		if i < 0 {
			return detail(http.StatusNotFound, "Identity not found.")
		}
		id := e.ids[i]
		var in struct {
			Feature           int   `json:"feature"`
			Enabled           bool  `json:"enabled"`
			FeatureStateValue any   `json:"feature_state_value"`
			MV                []any `json:"multivariate_feature_state_values"`
		}
		switch {
		case len(parts) == 3 && r.Method == http.MethodPost:
			if err := strict(body, &in); err != nil {
				return detail(http.StatusBadRequest, "%v", err)
			}
			if _, ok := e.states[in.Feature]; !ok {
				return detail(http.StatusBadRequest, "feature %d does not exist in this environment", in.Feature)
			}
			if slices.ContainsFunc(id.Overrides, func(x *fstate) bool { return x.Feature == in.Feature }) {
				return detail(http.StatusBadRequest, "Feature state already exists for this identity and feature.")
			}
			st := &fstate{ID: s.id(), UUID: s.uuid(), Feature: in.Feature, Enabled: in.Enabled, Value: in.FeatureStateValue}
			id.Overrides = append(id.Overrides, st)
			s.tick(e)
			return ok(http.StatusCreated, s.renderState(st, nil))
		case len(parts) == 4:
			j := slices.IndexFunc(id.Overrides, func(x *fstate) bool { return x.UUID == parts[3] })
			if j < 0 {
				return detail(http.StatusNotFound, "Not found.")
			}
			switch r.Method {
			case http.MethodPut:
				if err := strict(body, &in); err != nil {
					return detail(http.StatusBadRequest, "%v", err)
				}
				if in.Feature != id.Overrides[j].Feature {
					return detail(http.StatusBadRequest, "feature cannot change")
				}
				id.Overrides[j].Enabled, id.Overrides[j].Value = in.Enabled, in.FeatureStateValue
				s.tick(e)
				return ok(http.StatusOK, s.renderState(id.Overrides[j], nil))
			case http.MethodDelete:
				id.Overrides = slices.Delete(id.Overrides, j, j+1)
				s.tick(e)
				return ok(http.StatusNoContent, nil)
			}
		}
	}
	return detail(http.StatusMethodNotAllowed, "Method %q not allowed.", r.Method)
}

func (s *Server) featuresRoute(r *http.Request, parts []string, body []byte) (int, map[string]string, []byte) {
	switch {
	case parts[0] == "feature-segments" && len(parts) == 1 && r.Method == http.MethodGet:
		q := r.URL.Query()
		e := s.envByID(atoi(q.Get("environment")))
		if e == nil {
			return detail(http.StatusBadRequest, "environment is required")
		}
		featureID := atoi(q.Get("feature"))
		results := []map[string]any{}
		for _, fs := range e.fsegs {
			if featureID < 0 || fs.Feature == featureID {
				results = append(results, map[string]any{"id": fs.ID, "feature": fs.Feature, "segment": fs.Segment, "environment": e.ID, "priority": fs.Priority})
			}
		}
		return ok(http.StatusOK, map[string]any{"count": len(results), "results": results})
	case parts[0] == "feature-segments" && len(parts) == 1 && r.Method == http.MethodPost:
		var in struct {
			Feature     int `json:"feature"`
			Segment     int `json:"segment"`
			Environment int `json:"environment"`
			Priority    int `json:"priority"`
		}
		if err := strict(body, &in); err != nil {
			return detail(http.StatusBadRequest, "%v", err)
		}
		e := s.envByID(in.Environment)
		if e == nil || s.feature(in.Feature) == nil || !slices.ContainsFunc(s.segments, func(x *segment) bool { return x.ID == in.Segment }) {
			return detail(http.StatusBadRequest, "feature, segment and environment must exist")
		}
		if slices.ContainsFunc(e.fsegs, func(x *fseg) bool { return x.Feature == in.Feature && x.Segment == in.Segment }) {
			return detail(http.StatusBadRequest, "The fields feature, environment, segment must make a unique set.")
		}
		fs := &fseg{ID: s.id(), Feature: in.Feature, Segment: in.Segment, Priority: in.Priority}
		e.fsegs = append(e.fsegs, fs)
		return ok(http.StatusCreated, map[string]any{"id": fs.ID, "feature": fs.Feature, "segment": fs.Segment, "environment": e.ID, "priority": fs.Priority})
	case parts[0] == "feature-segments" && len(parts) == 2 && parts[1] == "update-priorities" && r.Method == http.MethodPost:
		var in []struct {
			ID       int `json:"id"`
			Priority int `json:"priority"`
		}
		if err := strict(body, &in); err != nil {
			return detail(http.StatusBadRequest, "%v", err)
		}
		for _, p := range in {
			fs, e := s.fseg(p.ID)
			if fs == nil {
				return detail(http.StatusBadRequest, "feature segment %d does not exist", p.ID)
			}
			fs.Priority = p.Priority
			s.tick(e)
		}
		return ok(http.StatusOK, in)
	case parts[0] == "feature-segments" && len(parts) == 2 && r.Method == http.MethodDelete:
		fs, e := s.fseg(atoi(parts[1]))
		if fs == nil {
			return detail(http.StatusNotFound, "Not found.")
		}
		e.fsegs = slices.DeleteFunc(e.fsegs, func(x *fseg) bool { return x == fs })
		s.tick(e)
		return ok(http.StatusNoContent, nil)
	case parts[0] == "featurestates" && len(parts) == 1 && r.Method == http.MethodPost:
		var in struct {
			Feature        int           `json:"feature"`
			Environment    int           `json:"environment"`
			FeatureSegment *int          `json:"feature_segment"`
			Enabled        bool          `json:"enabled"`
			Value          *typedValueIn `json:"feature_state_value"`
			MV             []mvIn        `json:"multivariate_feature_state_values"`
		}
		if err := strict(body, &in); err != nil {
			return detail(http.StatusBadRequest, "%v", err)
		}
		if in.FeatureSegment == nil {
			return detail(http.StatusBadRequest, "this fake only creates segment overrides: feature_segment is required")
		}
		fs, e := s.fseg(*in.FeatureSegment)
		if fs == nil || e.ID != in.Environment || fs.Feature != in.Feature {
			return detail(http.StatusBadRequest, "Feature Segment does not belong to environment.")
		}
		if fs.State != nil {
			return detail(http.StatusBadRequest, "the feature segment already has a feature state")
		}
		st := &fstate{ID: s.id(), UUID: s.uuid(), Feature: in.Feature, Enabled: in.Enabled, Value: s.feature(in.Feature).Control}
		if in.Value != nil {
			v, err := in.Value.value()
			if err != nil {
				return detail(http.StatusBadRequest, "feature_state_value: %v", err)
			}
			st.Value = v
		}
		if err := s.setMV(st, in.MV); err != nil {
			return detail(http.StatusBadRequest, "%v", err)
		}
		fs.State = st
		s.tick(e)
		return ok(http.StatusCreated, s.renderState(st, fs))
	case parts[0] == "featurestates" && len(parts) == 2 && r.Method == http.MethodPatch:
		id := atoi(parts[1])
		var fs *fseg
		var e *env
		for _, x := range s.envs {
			for _, y := range x.fsegs {
				if y.State != nil && y.State.ID == id {
					fs, e = y, x
				}
			}
		}
		if fs == nil {
			return detail(http.StatusNotFound, "Not found (this fake updates segment overrides here).")
		}
		var in struct {
			Enabled *bool         `json:"enabled"`
			Value   *typedValueIn `json:"feature_state_value"`
			MV      *[]mvIn       `json:"multivariate_feature_state_values"`
		}
		if err := strict(body, &in); err != nil {
			return detail(http.StatusBadRequest, "%v", err)
		}
		next := *fs.State
		next.MV = slices.Clone(fs.State.MV)
		if in.Value != nil {
			v, err := in.Value.value()
			if err != nil {
				return detail(http.StatusBadRequest, "feature_state_value: %v", err)
			}
			next.Value = v
		}
		if in.MV != nil {
			if err := s.setMV(&next, *in.MV); err != nil {
				return detail(http.StatusBadRequest, "%v", err)
			}
		}
		if in.Enabled != nil {
			next.Enabled = *in.Enabled
		}
		*fs.State = next
		s.tick(e)
		return ok(http.StatusOK, s.renderState(fs.State, fs))
	}
	return detail(http.StatusMethodNotAllowed, "Method %q not allowed.", r.Method)
}

func (s *Server) fseg(id int) (*fseg, *env) {
	for _, e := range s.envs {
		for _, fs := range e.fsegs {
			if fs.ID == id {
				return fs, e
			}
		}
	}
	return nil, nil
}

// renderState is a feature state in the environment document's shape.
func (s *Server) renderState(st *fstate, fs *fseg) map[string]any {
	f := s.feature(st.Feature)
	mv := []map[string]any{}
	for _, m := range st.MV {
		var value any
		for _, o := range f.Options {
			if o.ID == m.Option {
				value = o.Value
			}
		}
		mv = append(mv, map[string]any{"id": m.ID, "multivariate_feature_option": map[string]any{"id": m.Option, "value": value},
			"percentage_allocation": m.Pct, "mv_fs_value_uuid": m.UUID})
	}
	typ := "STANDARD"
	if len(f.Options) > 0 {
		typ = "MULTIVARIATE"
	}
	out := map[string]any{
		"feature":                           map[string]any{"id": f.ID, "name": f.Name, "type": typ},
		"enabled":                           st.Enabled,
		"django_id":                         st.ID,
		"featurestate_uuid":                 st.UUID,
		"feature_state_value":               st.Value,
		"multivariate_feature_state_values": mv,
		"feature_segment":                   nil,
	}
	if fs != nil {
		out["feature_segment"] = map[string]any{"priority": fs.Priority}
	}
	return out
}

// document renders the environment document of e.
func (s *Server) document(e *env) map[string]any {
	var states []map[string]any
	for _, f := range s.features {
		states = append(states, s.renderState(e.states[f.ID], nil))
	}
	var segs []map[string]any
	for _, seg := range s.segments {
		var conds []map[string]any
		for _, c := range seg.Conditions {
			conds = append(conds, map[string]any{"operator": c.Operator, "property_": c.Property, "value": c.Value})
		}
		var overrides []map[string]any
		for _, fs := range e.fsegs {
			if fs.Segment == seg.ID && fs.State != nil {
				overrides = append(overrides, s.renderState(fs.State, fs))
			}
		}
		segs = append(segs, map[string]any{
			"id": seg.ID, "name": seg.Name, "feature_states": overrides,
			"rules": []map[string]any{{"type": "ALL", "conditions": []any{}, "rules": []map[string]any{{"type": "ALL", "rules": []any{}, "conditions": conds}}}},
		})
	}
	var ids []map[string]any
	for _, id := range e.ids {
		if len(id.Overrides) == 0 {
			continue
		}
		var fss []map[string]any
		for _, o := range id.Overrides {
			fss = append(fss, s.renderState(o, nil))
		}
		ids = append(ids, map[string]any{"identifier": id.Identifier, "identity_uuid": id.UUID, "environment_api_key": e.APIKey, "identity_features": fss, "identity_traits": []any{}})
	}
	return map[string]any{
		"id":      e.ID,
		"api_key": e.APIKey,
		"project": map[string]any{
			"id": 1, "name": "Payments", "hide_disabled_flags": false, "segments": segs,
			"organisation": map[string]any{"id": 1, "name": "Acme", "feature_analytics": false, "stop_serving_flags": false, "persist_trait_data": true},
		},
		"feature_states":     states,
		"identity_overrides": ids,
		"updated_at":         e.updatedAt.Format(time.RFC3339Nano),
	}
}

// Document returns the environment document a server key receives, as JSON.
func (s *Server) Document(serverKey string) (json.RawMessage, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range s.envs {
		if e.ServerKey == serverKey {
			b, _ := json.Marshal(s.document(e))
			return b, true
		}
	}
	return nil, false
}
