package launchdarkly_test

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
	"github.com/agentops/progressive/provider/launchdarkly"
)

// A semantic patch is confirmed by the flag the API returns for it, never
// assumed: a redirect, an empty, foreign, undecodable or endless answer, a server
// that never answers or rate-limits beyond MaxWait all fail the write, in bounded
// time, without the token in the error, and the flag stays as it was.
func TestWritesAreConfirmedByTheirAnswer(t *testing.T) {
	const timeout = 300 * time.Millisecond
	ctx := context.Background()
	for name, tc := range map[string]struct {
		bad       func(fake string) http.Handler
		invalid   bool
		transient bool
		want      string
		// timeout overrides the short default: reading up to the 8 MiB limit
		// takes a while under the race detector.
		timeout time.Duration
	}{
		// Followed, the PATCH would become a GET of the unchanged flag, decoded
		// as the written one.
		"307 to the flag": {bad: func(fake string) http.Handler {
			return badhttp.RedirectHandler(http.StatusTemporaryRedirect, fake+"/api/v2/flags/"+project+"/"+flagKey+"?token="+apiToken)
		}, invalid: true, want: "307"},
		"302 to a login page": {bad: func(string) http.Handler {
			return badhttp.RedirectHandler(http.StatusFound, "https://sso.example.com/login?next=x")
		}, invalid: true, want: "sso.example.com/login"},
		"200 with an empty object": {bad: func(string) http.Handler {
			return badhttp.Static(200, "application/json", `{}`)
		}, transient: true, want: "does not confirm"},
		"200 with another flag": {bad: func(string) http.Handler {
			return badhttp.Static(200, "application/json", `{"key":"other","_version":3,"environments":{"production":{"version":9}}}`)
		}, transient: true, want: "does not confirm"},
		"200 without a body": {bad: func(string) http.Handler { return badhttp.Static(200, "application/json", "") }, transient: true, want: "empty answer"},
		"200 with garbage":   {bad: func(string) http.Handler { return badhttp.GarbageHandler() }, transient: true, want: "undecodable"},
		"200 without end":    {bad: func(string) http.Handler { return badhttp.EnormousHandler() }, transient: true, want: "limit", timeout: 20 * time.Second},
		"no answer":          {bad: func(string) http.Handler { return badhttp.HangHandler() }, transient: true},
		"reset":              {bad: func(string) http.Handler { return badhttp.ResetHandler() }, transient: true},
		"429 for an hour":    {bad: func(string) http.Handler { return badhttp.TooManyHandler("3600") }, transient: true, want: "not waiting"},
		"trickled flag answer": {bad: func(string) http.Handler {
			return badhttp.TrickleHandler(50*time.Millisecond, strings.Repeat(" ", 50)+"{}")
		}, transient: true},
	} {
		t.Run(name, func(t *testing.T) {
			timeout := cmp.Or(tc.timeout, timeout)
			w := newWorld(t, func(o *launchdarkly.Options) {
				o.BaseURL = badhttp.WritesAnsweredBy(t, o.BaseURL, tc.bad(o.BaseURL))
				o.Attempts = 2
				o.HTTPClient = &http.Client{Timeout: timeout}
			})
			store := w.store
			start := time.Now()
			err := store.SetRollout(ctx, ref("production"), progressive.PercentRollout("on", "off", 50))
			assert.Less(t, time.Since(start), 2*timeout+time.Second, "bounded by the client's timeout per attempt")
			require.Error(t, err, "not a confirmed write")
			assert.Equal(t, tc.invalid, progressive.IsInvalid(err), "%v", err)
			assert.Equal(t, tc.transient, progressive.IsTransient(err), "%v", err)
			assert.Contains(t, err.Error(), tc.want)
			assert.NotContains(t, err.Error(), apiToken)
			assert.NotContains(t, w.logs.String(), apiToken)
			assert.Zero(t, w.fake.Writes(), "nothing was written")
			st, err := flags.Read(ctx, store, ref("production"), "on")
			require.NoError(t, err)
			assert.Zero(t, st.Percent)
		})
	}
}
