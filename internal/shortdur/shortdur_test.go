package shortdur

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestString(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0:                                  "0s",
		90 * time.Second:                   "1m30s",
		15 * time.Minute:                   "15m",
		24 * time.Hour:                     "24h",
		time.Hour + 30*time.Minute:         "1h30m",
		-15 * time.Minute:                  "-15m",
		1500 * time.Millisecond:            "1.5s",
		2*time.Hour + 500*time.Millisecond: "2h0m0.5s",
	} {
		got := String(d)
		assert.Equal(t, want, got, "%d", d)
		back, err := time.ParseDuration(got)
		require.NoError(t, err)
		assert.Equal(t, d, back)
	}
}
