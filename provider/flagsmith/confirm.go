package flagsmith

import (
	"encoding/json"
	"fmt"
	"math"

	"github.com/agentops/progressive"
)

// A write is confirmed by what the Admin API returns for it, never assumed: a
// 2xx whose body is not the written object (an empty object, a login page that
// happens to be JSON, another feature state) means the change is not known to
// have happened. Each check below fails with progressive.ErrTransient, so the
// operation reads the environment afresh and tries again, then gives up and the
// rollout holds. Deletes are answered 204 without a body; flaghttp refuses a
// non-JSON body for them.

// writtenState is the answer to a feature state write. The Admin API names the
// id "id" and the feature and options by id; the environment document's shapes
// ("django_id", objects with an "id") are accepted too.
type writtenState struct {
	ID       int             `json:"id"`
	DjangoID int             `json:"django_id"`
	Feature  json.RawMessage `json:"feature"`
	Enabled  *bool           `json:"enabled"`
	MV       []struct {
		Option json.RawMessage `json:"multivariate_feature_option"`
		Pct    *float64        `json:"percentage_allocation"`
	} `json:"multivariate_feature_state_values"`
}

func (w writtenState) id() int {
	if w.ID != 0 {
		return w.ID
	}
	return w.DjangoID
}

// refID reads an id given as a number or as an object with an "id".
func refID(raw json.RawMessage) (int, bool) {
	var n int
	if json.Unmarshal(raw, &n) == nil {
		return n, true
	}
	var obj struct {
		ID *int `json:"id"`
	}
	if json.Unmarshal(raw, &obj) == nil && obj.ID != nil {
		return *obj.ID, true
	}
	return 0, false
}

func unconfirmed(what, format string, args ...any) error {
	return fmt.Errorf("the answer to %s does not confirm the write: %s: %w", what, fmt.Sprintf(format, args...), progressive.ErrTransient)
}

// stateWrite is what a feature state write asked for; zero fields are not checked.
type stateWrite struct {
	what    string // "PATCH featurestates/12/"
	id      int    // the state written (0: a new one)
	feature int
	enabled *bool
	mv      []map[string]any // multivariate_feature_option, percentage_allocation
}

// confirmState checks the answer to a feature state write against the write.
func confirmState(want stateWrite, got writtenState) error {
	switch {
	case got.id() == 0:
		return unconfirmed(want.what, "it holds no feature state id")
	case want.id != 0 && got.id() != want.id:
		return unconfirmed(want.what, "it is feature state %d, not %d", got.id(), want.id)
	case got.Enabled == nil:
		return unconfirmed(want.what, "it says nothing of enabled")
	case want.enabled != nil && *got.Enabled != *want.enabled:
		return unconfirmed(want.what, "enabled is %t, not %t", *got.Enabled, *want.enabled)
	}
	if want.feature != 0 {
		if f, ok := refID(got.Feature); !ok || f != want.feature {
			return unconfirmed(want.what, "it is not a state of feature %d", want.feature)
		}
	}
	if want.mv == nil {
		return nil
	}
	alloc := map[int]float64{}
	for _, m := range got.MV {
		opt, ok := refID(m.Option)
		if !ok || m.Pct == nil {
			return unconfirmed(want.what, "a multivariate value without option or allocation")
		}
		alloc[opt] = *m.Pct
	}
	for _, m := range want.mv {
		opt, _ := m["multivariate_feature_option"].(int)
		pct, _ := m["percentage_allocation"].(float64)
		have, ok := alloc[opt]
		if !ok || math.Abs(have-pct) > 1e-9 {
			return unconfirmed(want.what, "option %d is allocated %g%%, not %g%%", opt, have, pct)
		}
	}
	return nil
}
