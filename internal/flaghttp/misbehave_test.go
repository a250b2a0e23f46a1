package flaghttp_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/internal/badhttp"
	"github.com/agentops/progressive/internal/flaghttp"
)

// patch sends one PATCH with the token and decodes the answer into a map, as the
// stores' writes do.
func patch(c *flaghttp.Client, url string) (map[string]any, error) {
	var out map[string]any
	err := c.Do(context.Background(), "set rollout", func(ctx context.Context) error {
		return c.Send(ctx, flaghttp.Request{Method: http.MethodPatch, URL: url,
			Header: http.Header{"Authorization": {token}}, Body: map[string]any{"weight": 50}}, &out)
	})
	return out, err
}

// A write answered with a redirect is refused, never followed: followed, the PATCH
// would become a GET whose 200 (the flag, unchanged, or a login page) decodes as a
// successful write while the flag never changes.
func TestRedirectsAreRefused(t *testing.T) {
	var followed atomic.Int32
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		followed.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"key":"checkout","on":false}`))
	}))
	defer api.Close()
	for _, status := range []int{301, 302, 303, 307, 308} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			srv := badhttp.Redirect(t, status, api.URL+"/login?session=sso-s3cret&token="+token)
			caller := &http.Client{Timeout: 5 * time.Second}
			c := flaghttp.New(flaghttp.Options{Provider: "test", HTTPClient: caller, Secrets: []string{token}, Backoff: time.Millisecond})
			out, err := patch(c, srv.URL+"/api/flags/checkout")
			require.Error(t, err, "a redirect is not a write")
			assert.Nil(t, out)
			assert.ErrorIs(t, err, progressive.ErrInvalid, "a configuration error")
			assert.False(t, progressive.IsTransient(err), "not retried")
			assert.Equal(t, 1, srv.Requests())
			assert.Zero(t, followed.Load(), "never followed")
			assert.Contains(t, err.Error(), fmt.Sprint(status))
			assert.Contains(t, err.Error(), strings.TrimPrefix(api.URL, "http://")+"/login", "names the target")
			assert.NotContains(t, err.Error(), token)
			assert.NotContains(t, err.Error(), "sso-s3cret")
			assert.Nil(t, caller.CheckRedirect, "the caller's client is left alone")
		})
	}
}

// A 2xx whose body is empty or not JSON is not a confirmed write; neither is an
// answer larger than MaxBody, read no further than the limit.
func TestAnswersThatConfirmNothing(t *testing.T) {
	for name, tc := range map[string]struct {
		srv  *badhttp.Server
		want string
	}{
		"empty":    {srv: badhttp.Empty(t), want: "empty answer"},
		"garbage":  {srv: badhttp.Garbage(t), want: "undecodable answer"},
		"enormous": {srv: badhttp.Enormous(t), want: "larger than the 1 MiB limit"},
	} {
		t.Run(name, func(t *testing.T) {
			c := flaghttp.New(flaghttp.Options{Provider: "test", Attempts: 2, Backoff: time.Millisecond, MaxBody: 1 << 20, Secrets: []string{token}})
			start := time.Now()
			out, err := patch(c, tc.srv.URL+"/api/flags/checkout")
			require.Error(t, err)
			assert.Nil(t, out)
			assert.ErrorIs(t, err, progressive.ErrTransient, "the answer may be a proxy's hiccup: retried, then held")
			assert.Contains(t, err.Error(), tc.want)
			assert.Equal(t, 2, tc.srv.Requests(), "retried as a whole")
			assert.Less(t, time.Since(start), 5*time.Second)
		})
	}
}

func TestDefaultMaxBody(t *testing.T) {
	assert.Equal(t, 8<<20, flaghttp.DefaultMaxBody)
	srv := badhttp.Enormous(t)
	c := flaghttp.New(flaghttp.Options{Provider: "test", Attempts: 1})
	_, err := patch(c, srv.URL)
	require.ErrorIs(t, err, progressive.ErrTransient)
	assert.Contains(t, err.Error(), "8 MiB")
}

// Servers that never answer, answer a byte at a time or reset the connection:
// each call returns within the client's timeout, transiently, without the token.
func TestSlowAndBrokenServers(t *testing.T) {
	const timeout = 300 * time.Millisecond
	for name, srv := range map[string]*badhttp.Server{
		"hang":    badhttp.Hang(t),
		"trickle": badhttp.Trickle(t, 50*time.Millisecond, `{"key":"checkout","on":true,"padding":"`+strings.Repeat("x", 100)+`"}`),
		"reset":   badhttp.Reset(t),
	} {
		t.Run(name, func(t *testing.T) {
			c := flaghttp.New(flaghttp.Options{Provider: "test", Attempts: 1, HTTPClient: &http.Client{Timeout: timeout}, Secrets: []string{token}})
			start := time.Now()
			out, err := patch(c, srv.URL+"/api/flags/checkout?token="+token)
			assert.Less(t, time.Since(start), timeout+time.Second)
			require.Error(t, err)
			assert.Nil(t, out)
			assert.ErrorIs(t, err, progressive.ErrTransient)
			assert.NotContains(t, err.Error(), token)
		})
	}
}

// A Retry-After too large to be a duration does not wrap into a negative wait that
// retries at once: it is beyond MaxWait, so not waited for.
func TestHugeRetryAfter(t *testing.T) {
	srv := badhttp.TooMany(t, "99999999999999999")
	c := flaghttp.New(flaghttp.Options{Provider: "test", Backoff: time.Millisecond})
	_, err := patch(c, srv.URL)
	require.ErrorIs(t, err, progressive.ErrTransient)
	assert.Equal(t, 1, srv.Requests(), "not retried against the server's wish")
	assert.Contains(t, err.Error(), "not waiting")
}

// A request that expects no body (a DELETE answered 204) still refuses a 2xx
// whose body is not JSON: a login page or a proxy's error page answered it, not
// the API.
func TestNoBodyExpectedStillRefusesAPage(t *testing.T) {
	srv := badhttp.Serve(t, badhttp.Static(200, "text/html", "<html>Sign in</html>"))
	c := flaghttp.New(flaghttp.Options{Provider: "test", Attempts: 1})
	err := c.Send(context.Background(), flaghttp.Request{Method: http.MethodDelete, URL: srv.URL + "/api/x/1/"}, nil)
	require.ErrorIs(t, err, progressive.ErrTransient)
	assert.Contains(t, err.Error(), "undecodable answer")
	ok := badhttp.Serve(t, badhttp.Static(204, "application/json", ""))
	require.NoError(t, c.Send(context.Background(), flaghttp.Request{Method: http.MethodDelete, URL: ok.URL + "/api/x/1/"}, nil))
}
