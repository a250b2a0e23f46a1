package flagsmith_test

import (
	"cmp"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/flags"
	"github.com/agentops/progressive/internal/badhttp"
	"github.com/agentops/progressive/provider/flagsmith"
)

// Admin API writes are confirmed by the object the API returns for them, never
// assumed: a redirect, an empty, foreign, undecodable or endless answer, a server
// that never answers or rate-limits beyond MaxWait all fail the write in bounded
// time, without a secret in the error, and the flag stays as it was.
func TestWritesAreConfirmedByTheirAnswer(t *testing.T) {
	const timeout = 300 * time.Millisecond
	ctx := context.Background()
	for name, tc := range map[string]struct {
		bad       http.Handler
		invalid   bool
		transient bool
		want      string
		// timeout overrides the short default: reading up to the 8 MiB limit
		// takes a while under the race detector.
		timeout time.Duration
	}{
		"302 to a login page":        {bad: badhttp.RedirectHandler(http.StatusFound, "https://sso.example.com/login?key="+adminToken), invalid: true, want: "sso.example.com/login"},
		"308 elsewhere":              {bad: badhttp.RedirectHandler(http.StatusPermanentRedirect, "/api/v1/environment-document/"), invalid: true, want: "308"},
		"200 with an empty object":   {bad: badhttp.Static(200, "application/json", `{}`), transient: true, want: "does not confirm"},
		"200 with another state":     {bad: badhttp.Static(200, "application/json", `{"id":999999,"enabled":false,"feature":1,"multivariate_feature_state_values":[]}`), transient: true, want: "does not confirm"},
		"200 without a body":         {bad: badhttp.Static(200, "application/json", ""), transient: true, want: "empty answer"},
		"200 with garbage":           {bad: badhttp.GarbageHandler(), transient: true, want: "undecodable"},
		"200 without end":            {bad: badhttp.EnormousHandler(), transient: true, want: "limit", timeout: 20 * time.Second},
		"no answer":                  {bad: badhttp.HangHandler(), transient: true},
		"reset":                      {bad: badhttp.ResetHandler(), transient: true},
		"429 for an hour":            {bad: badhttp.TooManyHandler("3600"), transient: true, want: "not waiting"},
		"trickled answer":            {bad: badhttp.TrickleHandler(50*time.Millisecond, strings.Repeat(" ", 50)+"{}"), transient: true},
		"200 with an HTML page body": {bad: badhttp.Static(200, "text/html", "<html>Sign in</html>"), transient: true, want: "undecodable"},
	} {
		t.Run(name, func(t *testing.T) {
			timeout := cmp.Or(tc.timeout, timeout)
			w := newWorld(t, func(o *flagsmith.Options) {
				o.AdminURL = badhttp.WritesAnsweredBy(t, o.AdminURL, tc.bad)
				o.Attempts = 2
				o.HTTPClient = &http.Client{Timeout: timeout}
			})
			for op, write := range map[string]func() error{
				"set rollout": func() error {
					return w.store.SetRollout(ctx, ref("production"), progressive.PercentRollout("on", "off", 50))
				},
				"set on":      func() error { return w.store.SetOn(ctx, ref("production"), true) },
				"set targets": func() error { return flags.SetTargets(ctx, w.store, ref("production"), "on", []string{"alice"}) },
			} {
				start := time.Now()
				err := write()
				assert.Less(t, time.Since(start), 3*timeout+time.Second, "%s: bounded by the client's timeout per attempt", op)
				require.Error(t, err, "%s: not a confirmed write", op)
				assert.Equal(t, tc.invalid, progressive.IsInvalid(err), "%s: %v", op, err)
				assert.Equal(t, tc.transient, progressive.IsTransient(err), "%s: %v", op, err)
				assert.Contains(t, err.Error(), tc.want, op)
				for _, secret := range []string{adminToken, serverKeys["production"]} {
					assert.NotContains(t, err.Error(), secret, op)
				}
			}
			assert.NotContains(t, w.logs.String(), adminToken)
			assert.Zero(t, w.fake.Writes(), "nothing was written")
			f, err := w.store.GetFlag(ctx, ref("production"))
			require.NoError(t, err)
			assert.False(t, f.On)
			assert.Empty(t, f.Targets)
		})
	}
}
