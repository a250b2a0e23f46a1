package progressive

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// Plans and checks are configuration, and configuration is decoded strictly: a
// misspelled "maximum" for "max" silently removed the threshold, and a check
// without one then passed at 100% errors (Validate now also refuses a check with
// no bound, but a misspelled "failureLimit" would still vanish). Unknown fields
// are errors wrapping ErrInvalid that name the field, and so is trailing data.

// UnmarshalJSON decodes a plan strictly: unknown fields anywhere inside it are
// errors.
func (p *Plan) UnmarshalJSON(b []byte) error {
	type plain Plan
	var v plain
	if err := decodeStrict(b, &v); err != nil {
		return fmt.Errorf("plan: %w", err)
	}
	*p = Plan(v)
	return nil
}

// UnmarshalJSON decodes a check strictly: unknown fields are errors.
func (c *Check) UnmarshalJSON(b []byte) error {
	type plain Check
	var v plain
	if err := decodeStrict(b, &v); err != nil {
		return fmt.Errorf("check: %w", err)
	}
	*c = Check(v)
	return nil
}

func decodeStrict(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: %w", err, ErrInvalid)
	}
	if dec.More() {
		return fmt.Errorf("data after the JSON value: %w", ErrInvalid)
	}
	return nil
}
