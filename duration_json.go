package progressive

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// Durations in plans and checks are time.Duration, which encoding/json writes as
// nanoseconds: a 15 minute soak read "900000000000" in a stored state, an
// event or a plan shown to the person approving it. The types that hold
// durations therefore marshal them as Go duration strings ("15m0s"), and read
// both those strings and the integers of everything stored before: the states
// in ConfigMaps and files of rollouts in flight must still load.
//
// Each such type marshals through a shadow struct whose duration fields are
// json.RawMessage (readDuration) or durationText (writing): the embedded plain
// type carries the other fields, and the outer field of the same JSON name
// takes precedence over the embedded one.

// durationText marshals a time.Duration as its string form.
type durationText time.Duration

// MarshalJSON writes the duration as "15m0s".
func (d durationText) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// marshalPlain marshals v without HTML escapes: the encoder that called
// MarshalJSON escapes the result when it was asked to (json.Marshal does), and
// leaves < > & as they are when it was not (an encoder with
// SetEscapeHTML(false), which writes queries as people read them).
func marshalPlain(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// readDuration parses a duration field: a string such as "15m0s" or "90s", or
// an integer of nanoseconds (what earlier versions wrote). Absent or null
// leaves dst alone. Errors name the field and wrap ErrInvalid.
func readDuration(field string, raw json.RawMessage, dst *time.Duration) error {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return fmt.Errorf("%s: %w: %w", field, err, ErrInvalid)
		}
		d, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("%s: %q is not a duration such as \"90s\" or \"15m0s\": %w", field, s, ErrInvalid)
		}
		*dst = d
		return nil
	}
	n, err := strconv.ParseInt(string(raw), 10, 64)
	if err != nil {
		return fmt.Errorf("%s: %s is neither a duration string such as \"15m0s\" nor a whole number of nanoseconds: %w", field, raw, ErrInvalid)
	}
	*dst = time.Duration(n)
	return nil
}

// MarshalJSON writes Timeout as a duration string.
func (h HookSpec) MarshalJSON() ([]byte, error) {
	type plain HookSpec
	return marshalPlain(struct {
		plain
		Timeout durationText `json:"timeout,omitempty"`
	}{plain(h), durationText(h.Timeout)})
}

// UnmarshalJSON reads a hook strictly; Timeout may be a string or nanoseconds.
func (h *HookSpec) UnmarshalJSON(b []byte) error {
	type plain HookSpec
	v := struct {
		*plain
		Timeout json.RawMessage `json:"timeout,omitempty"`
	}{plain: (*plain)(h)}
	if err := decodeStrict(b, &v); err != nil {
		return fmt.Errorf("hook: %w", err)
	}
	return readDuration("hook: timeout", v.Timeout, &h.Timeout)
}

// MarshalJSON writes ReadyTimeout as a duration string.
func (s DeployStep) MarshalJSON() ([]byte, error) {
	type plain DeployStep
	return marshalPlain(struct {
		plain
		ReadyTimeout durationText `json:"readyTimeout,omitempty"`
	}{plain(s), durationText(s.ReadyTimeout)})
}

// UnmarshalJSON reads a deploy step strictly; ReadyTimeout may be a string or nanoseconds.
func (s *DeployStep) UnmarshalJSON(b []byte) error {
	type plain DeployStep
	v := struct {
		*plain
		ReadyTimeout json.RawMessage `json:"readyTimeout,omitempty"`
	}{plain: (*plain)(s)}
	if err := decodeStrict(b, &v); err != nil {
		return fmt.Errorf("deploy: %w", err)
	}
	return readDuration("deploy: readyTimeout", v.ReadyTimeout, &s.ReadyTimeout)
}

// MarshalJSON writes Duration as a duration string.
func (s PauseStep) MarshalJSON() ([]byte, error) {
	type plain PauseStep
	return marshalPlain(struct {
		plain
		Duration durationText `json:"duration"`
	}{plain(s), durationText(s.Duration)})
}

// UnmarshalJSON reads a pause strictly; Duration may be a string or nanoseconds.
func (s *PauseStep) UnmarshalJSON(b []byte) error {
	type plain PauseStep
	v := struct {
		*plain
		Duration json.RawMessage `json:"duration"`
	}{plain: (*plain)(s)}
	if err := decodeStrict(b, &v); err != nil {
		return fmt.Errorf("pause: %w", err)
	}
	return readDuration("pause: duration", v.Duration, &s.Duration)
}

// MarshalJSON writes Duration as a duration string.
func (s AnalyzeStep) MarshalJSON() ([]byte, error) {
	type plain AnalyzeStep
	return marshalPlain(struct {
		plain
		Duration durationText `json:"duration"`
	}{plain(s), durationText(s.Duration)})
}

// UnmarshalJSON reads an analysis strictly; Duration may be a string or nanoseconds.
func (s *AnalyzeStep) UnmarshalJSON(b []byte) error {
	type plain AnalyzeStep
	v := struct {
		*plain
		Duration json.RawMessage `json:"duration"`
	}{plain: (*plain)(s)}
	if err := decodeStrict(b, &v); err != nil {
		return fmt.Errorf("analyze: %w", err)
	}
	return readDuration("analyze: duration", v.Duration, &s.Duration)
}

// MarshalJSON writes Timeout as a duration string.
func (s ApprovalStep) MarshalJSON() ([]byte, error) {
	type plain ApprovalStep
	return marshalPlain(struct {
		plain
		Timeout durationText `json:"timeout,omitempty"`
	}{plain(s), durationText(s.Timeout)})
}

// UnmarshalJSON reads an approval strictly; Timeout may be a string or nanoseconds.
func (s *ApprovalStep) UnmarshalJSON(b []byte) error {
	type plain ApprovalStep
	v := struct {
		*plain
		Timeout json.RawMessage `json:"timeout,omitempty"`
	}{plain: (*plain)(s)}
	if err := decodeStrict(b, &v); err != nil {
		return fmt.Errorf("approval: %w", err)
	}
	return readDuration("approval: timeout", v.Timeout, &s.Timeout)
}

// MarshalJSON writes ReadyTimeout as a duration string.
func (s RollStep) MarshalJSON() ([]byte, error) {
	type plain RollStep
	return marshalPlain(struct {
		plain
		ReadyTimeout durationText `json:"readyTimeout,omitempty"`
	}{plain(s), durationText(s.ReadyTimeout)})
}

// UnmarshalJSON reads a roll step strictly; ReadyTimeout may be a string or nanoseconds.
func (s *RollStep) UnmarshalJSON(b []byte) error {
	type plain RollStep
	v := struct {
		*plain
		ReadyTimeout json.RawMessage `json:"readyTimeout,omitempty"`
	}{plain: (*plain)(s)}
	if err := decodeStrict(b, &v); err != nil {
		return fmt.Errorf("roll: %w", err)
	}
	return readDuration("roll: readyTimeout", v.ReadyTimeout, &s.ReadyTimeout)
}

// MarshalJSON writes ReadyTimeout as a duration string.
func (s PromoteStep) MarshalJSON() ([]byte, error) {
	type plain PromoteStep
	return marshalPlain(struct {
		plain
		ReadyTimeout durationText `json:"readyTimeout,omitempty"`
	}{plain(s), durationText(s.ReadyTimeout)})
}

// UnmarshalJSON reads a promote step strictly; ReadyTimeout may be a string or nanoseconds.
func (s *PromoteStep) UnmarshalJSON(b []byte) error {
	type plain PromoteStep
	v := struct {
		*plain
		ReadyTimeout json.RawMessage `json:"readyTimeout,omitempty"`
	}{plain: (*plain)(s)}
	if err := decodeStrict(b, &v); err != nil {
		return fmt.Errorf("promote: %w", err)
	}
	return readDuration("promote: readyTimeout", v.ReadyTimeout, &s.ReadyTimeout)
}

// MarshalJSON writes the check's durations as duration strings.
func (c Check) MarshalJSON() ([]byte, error) {
	type plain Check
	return marshalPlain(struct {
		plain
		Interval     durationText `json:"interval,omitempty"`
		InitialDelay durationText `json:"initialDelay,omitempty"`
		Window       durationText `json:"window,omitempty"`
		WarmUp       durationText `json:"warmUp,omitempty"`
	}{plain(c), durationText(c.Interval), durationText(c.InitialDelay), durationText(c.Window), durationText(c.WarmUp)})
}
