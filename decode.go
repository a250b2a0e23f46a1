package progressive

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"
)

// Plans and checks are configuration, and configuration is decoded strictly: a
// misspelled "maximum" for "max" silently removed the threshold, and a check
// without one then passed at 100% errors (Validate now also refuses a check with
// no bound, but a misspelled "failureLimit" would still vanish). Unknown fields
// are errors wrapping ErrInvalid that name the field, and so is trailing data.
//
// Read configuration with DecodePlan and DecodeCheck: json.Unmarshal checks the
// syntax of a document before it calls UnmarshalJSON, so its syntax errors (a
// truncated file, a NaN literal, data after the value) are *json.SyntaxError
// values that do not wrap ErrInvalid; DecodePlan and DecodeCheck wrap every
// error.

// DecodePlan reads a plan from a JSON document: the way to read a plan from
// configuration. It decodes strictly (unknown fields anywhere in the plan are
// errors) and every error it returns wraps ErrInvalid: a syntax error, a value of
// the wrong type, an unknown field, a document that is not an object (null
// included) and data after the plan. It does not validate the plan: call
// Plan.Validate.
func DecodePlan(data []byte) (Plan, error) {
	var p Plan
	if err := decodeDocument(data, &p); err != nil {
		return Plan{}, wrapInvalid("plan", err)
	}
	return p, nil
}

// DecodeCheck reads one check from a JSON document, like DecodePlan: strictly,
// and every error wraps ErrInvalid. It does not validate the check: call
// Check.Validate.
func DecodeCheck(data []byte) (Check, error) {
	var c Check
	if err := decodeDocument(data, &c); err != nil {
		return Check{}, wrapInvalid("check", err)
	}
	return c, nil
}

// decodeDocument decodes the single JSON object of data into v, whose
// UnmarshalJSON decodes strictly.
func decodeDocument(data []byte, v any) error {
	switch doc := bytes.TrimSpace(data); {
	case len(doc) == 0:
		return errors.New("empty document")
	case bytes.Equal(doc, []byte("null")):
		return errors.New("null is not an object")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			// The decoder's own words for a truncated document are bare.
			return fmt.Errorf("unexpected end of JSON input at offset %d: %w", len(data), err)
		}
		return err
	}
	return atEOF(dec)
}

// atEOF reports data left in dec after the value it decoded.
func atEOF(dec *json.Decoder) error {
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("data after top-level value at offset %d", dec.InputOffset())
	}
	return nil
}

// wrapInvalid names what was decoded (unless the error does already) and makes
// err a configuration error.
func wrapInvalid(what string, err error) error {
	if errors.Is(err, ErrInvalid) {
		return err // UnmarshalJSON's, which begins with what
	}
	return fmt.Errorf("%s: %w: %w", what, err, ErrInvalid)
}

// UnmarshalJSON decodes a plan strictly: unknown fields anywhere inside it are
// errors. Read configuration with DecodePlan, whose syntax errors wrap ErrInvalid
// too.
func (p *Plan) UnmarshalJSON(b []byte) error {
	type plain Plan
	var v plain
	if err := decodeStrict(b, &v); err != nil {
		return fmt.Errorf("plan: %w", err)
	}
	*p = Plan(v)
	return nil
}

// UnmarshalJSON decodes a check strictly: unknown fields are errors. Its
// durations may be strings ("1m0s") or integers of nanoseconds (what earlier
// versions wrote). Read configuration with DecodeCheck, whose syntax errors
// wrap ErrInvalid too.
func (c *Check) UnmarshalJSON(b []byte) error {
	type plain Check
	var v struct {
		*plain
		Interval     json.RawMessage `json:"interval,omitempty"`
		InitialDelay json.RawMessage `json:"initialDelay,omitempty"`
		Window       json.RawMessage `json:"window,omitempty"`
		WarmUp       json.RawMessage `json:"warmUp,omitempty"`
	}
	var got Check
	v.plain = (*plain)(&got)
	if err := decodeStrict(b, &v); err != nil {
		return fmt.Errorf("check: %w", err)
	}
	for _, d := range []struct {
		field string
		raw   json.RawMessage
		dst   *time.Duration
	}{{"interval", v.Interval, &got.Interval}, {"initialDelay", v.InitialDelay, &got.InitialDelay}, {"window", v.Window, &got.Window}, {"warmUp", v.WarmUp, &got.WarmUp}} {
		if err := readDuration("check: "+d.field, d.raw, d.dst); err != nil {
			return err
		}
	}
	*c = got
	return nil
}

func decodeStrict(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, ErrInvalid) {
			return err // a nested UnmarshalJSON's, which says what it decoded
		}
		return fmt.Errorf("%w: %w", err, ErrInvalid)
	}
	if err := atEOF(dec); err != nil {
		return fmt.Errorf("%w: %w", err, ErrInvalid)
	}
	return nil
}
