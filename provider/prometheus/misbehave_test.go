package prometheus_test

import (
	"cmp"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/internal/badhttp"
	"github.com/agentops/progressive/provider/prometheus"
)

// Misbehaving servers never give a value: each query returns within its timeout
// (plus the client's grace), as an error the analysis counts as inconclusive,
// without a credential in it.
func TestMisbehavingServers(t *testing.T) {
	const timeout = 300 * time.Millisecond
	for name, tc := range map[string]struct {
		srv  *badhttp.Server
		want string
		// timeout overrides the short default: reading up to the size limit
		// takes a while under the race detector.
		timeout time.Duration
	}{
		"hang":     {srv: badhttp.Hang(t), want: "no answer"},
		"trickle":  {srv: badhttp.Trickle(t, 50*time.Millisecond, `{"status":"success","data":{"resultType":"scalar","result":[0,"1"]}}`), want: "no answer"},
		"reset":    {srv: badhttp.Reset(t), want: "unreachable"},
		"garbage":  {srv: badhttp.Garbage(t), want: "unreadable answer"},
		"empty":    {srv: badhttp.Empty(t), want: "unreadable answer"},
		"enormous": {srv: badhttp.Enormous(t), want: "larger than the 1 MiB limit", timeout: 10 * time.Second},
		"429":      {srv: badhttp.TooMany(t, "3600"), want: "HTTP 429"},
		// Queries are reads: a redirect is followed (without the credentials to
		// another host), and a login page is no answer.
		"302 to a login page": {srv: badhttp.Redirect(t, 302, badhttp.Serve(t, badhttp.Static(200, "text/html", "<html>Sign in</html>")).URL+"/login?token="+token), want: "unreadable answer"},
	} {
		t.Run(name, func(t *testing.T) {
			timeout := cmp.Or(tc.timeout, timeout)
			var logs logBuffer
			src := newSource(t, prometheus.Options{Address: tc.srv.URL, BearerToken: token, Timeout: timeout, MaxBody: 1 << 20, Logger: logs.logger()})
			for _, query := range []func() error{
				func() error {
					res, err := src.Query(t.Context(), progressive.Query{Name: "c", Expr: "value"})
					assert.NotEqual(t, progressive.StatusValue, res.Status)
					return err
				},
				func() error {
					s, err := src.QueryRange(t.Context(), progressive.Query{Expr: "value"}, time.Unix(0, 0), time.Unix(60, 0), time.Second)
					assert.Empty(t, s)
					return err
				},
			} {
				start := time.Now()
				err := query()
				assert.Less(t, time.Since(start), timeout+time.Second, "bounded by the query's timeout")
				require.Error(t, err)
				assert.ErrorIs(t, err, progressive.ErrTransient, "the backend, not the canary: inconclusive")
				assert.Contains(t, err.Error(), tc.want)
				assert.NotContains(t, err.Error(), token)
			}
			assert.NotContains(t, logs.String(), token)
		})
	}
}

// The default cap is 8 MiB, like the flag stores'.
func TestDefaultMaxBody(t *testing.T) {
	assert.EqualValues(t, 8<<20, prometheus.DefaultMaxBody)
	src := newSource(t, prometheus.Options{Address: badhttp.Enormous(t).URL, Timeout: 10 * time.Second})
	_, err := src.Query(t.Context(), progressive.Query{Expr: "value"})
	require.ErrorIs(t, err, progressive.ErrTransient)
	assert.Contains(t, err.Error(), "larger than the 8 MiB limit (Options.MaxBody)")
	var qe *prometheus.QueryError
	require.True(t, errors.As(err, &qe))
	assert.Equal(t, prometheus.TypeTooLarge, qe.Type)
}

// New's errors never echo a credential of the address: not its user info, not a
// query such as ?api_key=.
func TestNewNeverEchoesAddressSecrets(t *testing.T) {
	for _, address := range []string{
		"http://prom:9090/?api_key=" + apiKey,
		"http://prom:9090/#" + apiKey,
		"ftp://prom:9090/?api_key=" + apiKey,
		"ftp://alice:" + password + "@prom:9090/",
		"http:///?api_key=" + apiKey,
		"http://alice:" + password + "@prom:9090/?api_key=" + apiKey,
		"http://alice:" + password + "@prom:9090/%zz",
		"alice:" + password + "@prom:9090",
	} {
		_, err := prometheus.New(prometheus.Options{Address: address})
		require.Error(t, err, address)
		assert.ErrorIs(t, err, progressive.ErrInvalid)
		assert.NotContains(t, err.Error(), apiKey)
		assert.NotContains(t, err.Error(), password)
		assert.False(t, strings.Contains(err.Error(), "api_key="), err.Error())
	}
}
