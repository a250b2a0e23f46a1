package strategy

// Each strategy marshals its durations as strings ("15m") and reads both
// strings and the nanosecond integers earlier versions wrote; durationjson.go
// does the work. The local plain type has the fields but not these methods, so
// the helpers' encoding does not recurse into them.

// MarshalJSON writes Soak and ApprovalTimeout as duration strings.
func (c Canary) MarshalJSON() ([]byte, error) {
	type plain Canary
	return marshalDurations(plain(c))
}

// UnmarshalJSON reads Soak and ApprovalTimeout as strings or nanoseconds.
func (c *Canary) UnmarshalJSON(b []byte) error {
	type plain Canary
	return unmarshalDurations("canary", b, (*plain)(c))
}

// MarshalJSON writes ApprovalTimeout, Monitor and DecommissionDelay as
// duration strings.
func (b BlueGreen) MarshalJSON() ([]byte, error) {
	type plain BlueGreen
	return marshalDurations(plain(b))
}

// UnmarshalJSON reads ApprovalTimeout, Monitor and DecommissionDelay as
// strings or nanoseconds.
func (b *BlueGreen) UnmarshalJSON(data []byte) error {
	type plain BlueGreen
	return unmarshalDurations("blueGreen", data, (*plain)(b))
}

// MarshalJSON writes Pace and ReadyTimeout as duration strings.
func (r Rolling) MarshalJSON() ([]byte, error) {
	type plain Rolling
	return marshalDurations(plain(r))
}

// UnmarshalJSON reads Pace and ReadyTimeout as strings or nanoseconds.
func (r *Rolling) UnmarshalJSON(b []byte) error {
	type plain Rolling
	return unmarshalDurations("rolling", b, (*plain)(r))
}

// MarshalJSON writes Soak and TargetSoak as duration strings.
func (f FlagRollout) MarshalJSON() ([]byte, error) {
	type plain FlagRollout
	return marshalDurations(plain(f))
}

// UnmarshalJSON reads Soak and TargetSoak as strings or nanoseconds.
func (f *FlagRollout) UnmarshalJSON(b []byte) error {
	type plain FlagRollout
	return unmarshalDurations("flagRollout", b, (*plain)(f))
}

// MarshalJSON writes Duration as a duration string.
func (a ABTest) MarshalJSON() ([]byte, error) {
	type plain ABTest
	return marshalDurations(plain(a))
}

// UnmarshalJSON reads Duration as a string or nanoseconds.
func (a *ABTest) UnmarshalJSON(b []byte) error {
	type plain ABTest
	return unmarshalDurations("abTest", b, (*plain)(a))
}

// MarshalJSON writes Duration as a duration string.
func (m Mirror) MarshalJSON() ([]byte, error) {
	type plain Mirror
	return marshalDurations(plain(m))
}

// UnmarshalJSON reads Duration as a string or nanoseconds.
func (m *Mirror) UnmarshalJSON(b []byte) error {
	type plain Mirror
	return unmarshalDurations("mirror", b, (*plain)(m))
}
