// Package shortdur writes durations the way people write them in rollout
// documents and messages: "15m" rather than time.Duration's "15m0s", "24h"
// rather than "24h0m0s". The result parses back with time.ParseDuration.
package shortdur

import (
	"strings"
	"time"
)

// String is d.String() without the zero units it appends.
func String(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}
