package document

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/agentops/progressive/internal/shortdur"
)

// Duration is a length of time written the way people write it: "15m", "90s",
// "1h30m" (time.ParseDuration's syntax). Documents never hold nanosecond
// integers: "900000000000" says nothing to the person approving a rollout.
type Duration time.Duration

// D converts a time.Duration.
func D(d time.Duration) Duration { return Duration(d) }

// Std returns the time.Duration.
func (d Duration) Std() time.Duration { return time.Duration(d) }

// String writes d in its shortest form: 15m rather than 15m0s, 24h rather than
// 24h0m0s, 0s for zero.
func (d Duration) String() string { return shortdur.String(time.Duration(d)) }

// parseDuration reads a duration string; a bare number is refused because its
// unit would be a guess (seconds? nanoseconds?).
func parseDuration(s string) (Duration, error) {
	d, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("must be a duration such as 90s, 15m or 1h30m")
	}
	return Duration(d), nil
}

// MarshalJSON writes the short string form.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// UnmarshalJSON reads a duration string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration: must be a string such as 15m: %w", err)
	}
	v, err := parseDuration(s)
	if err != nil {
		return fmt.Errorf("duration %q: %w", s, err)
	}
	*d = v
	return nil
}
