package prometheus_test

import (
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/analysis"
	"github.com/agentops/progressive/provider/prometheus"
	"github.com/agentops/progressive/rollout"
)

const (
	token    = "s3cr3t-bearer-token-0123456789"
	password = "hunter2-very-secret-password"
	apiKey   = "api-key-secret-9876543210"
)

func TestCredentialsAreSent(t *testing.T) {
	f := newFake(t, shapes)
	u, _ := url.Parse(f.URL)

	src := newSource(t, prometheus.Options{Address: f.URL, BearerToken: token,
		Headers: map[string]prometheus.Secret{"x-scope-orgid": "tenant-a", "X-Api-Key": apiKey}})
	_, err := src.Query(t.Context(), progressive.Query{Expr: "value"})
	require.NoError(t, err)
	r, _ := f.last()
	assert.Equal(t, "Bearer "+token, r.Header.Get("Authorization"))
	assert.Equal(t, "tenant-a", r.Header.Get("X-Scope-OrgID"))
	assert.Equal(t, apiKey, r.Header.Get("X-Api-Key"))

	src = newSource(t, prometheus.Options{Address: f.URL, BasicAuth: &prometheus.BasicAuth{Username: "alice", Password: password}})
	_, err = src.Query(t.Context(), progressive.Query{Expr: "value"})
	require.NoError(t, err)
	r, _ = f.last()
	user, pass, ok := r.BasicAuth()
	assert.True(t, ok)
	assert.Equal(t, "alice", user)
	assert.Equal(t, password, pass)

	// User info in the address becomes basic auth and leaves the address.
	src = newSource(t, prometheus.Options{Address: "http://bob:" + password + "@" + u.Host})
	assert.NotContains(t, src.Address(), password)
	_, err = src.Query(t.Context(), progressive.Query{Expr: "value"})
	require.NoError(t, err)
	r, _ = f.last()
	user, pass, _ = r.BasicAuth()
	assert.Equal(t, "bob", user)
	assert.Equal(t, password, pass)

	// A caller's client is used, and still gets the credentials.
	var used bool
	client := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		used = true
		return http.DefaultTransport.RoundTrip(r)
	})}
	src = newSource(t, prometheus.Options{Address: f.URL, BearerToken: token, HTTPClient: client})
	_, err = src.Query(t.Context(), progressive.Query{Expr: "value"})
	require.NoError(t, err)
	assert.True(t, used)
	r, _ = f.last()
	assert.Equal(t, "Bearer "+token, r.Header.Get("Authorization"))
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// A redirect to another server must not carry the credentials there.
func TestCredentialsStayWithTheirServer(t *testing.T) {
	var leaked []string
	other := newFake(t, func(w http.ResponseWriter, r *http.Request, form url.Values) {
		for _, h := range []string{"Authorization", "X-Api-Key"} {
			if v := r.Header.Get(h); v != "" {
				leaked = append(leaked, h+": "+v)
			}
		}
		shapes(w, r, form)
	})
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, form url.Values) {
		http.Redirect(w, r, other.URL+r.URL.Path+"?"+form.Encode(), http.StatusTemporaryRedirect)
	})
	src := newSource(t, prometheus.Options{Address: f.URL, BearerToken: token,
		Headers: map[string]prometheus.Secret{"X-Api-Key": apiKey}})
	res, err := src.Query(t.Context(), progressive.Query{Expr: "value"})
	require.NoError(t, err)
	assert.Equal(t, progressive.StatusValue, res.Status)
	assert.Empty(t, leaked)
}

// echo answers every query with an error whose body repeats the request's
// credentials, as a careless proxy might.
func echo(w http.ResponseWriter, r *http.Request, form url.Values) {
	body := fmt.Sprintf("auth=%q key=%q", r.Header.Get("Authorization"), r.Header.Get("X-Api-Key"))
	switch form.Get("query") {
	case "unauthorized":
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = io.WriteString(w, body)
	case "json":
		reply(w, http.StatusServiceUnavailable, fmt.Sprintf(`{"status":"error","errorType":"timeout","error":%q}`, body))
	case "warn":
		reply(w, http.StatusOK, fmt.Sprintf(`{"status":"success","data":{"resultType":"vector","result":[]},"warnings":[%q]}`, body))
	case "bad":
		reply(w, http.StatusBadRequest, fmt.Sprintf(`{"status":"error","errorType":"bad_data","error":%q}`, body))
	default:
		w.WriteHeader(http.StatusBadGateway)
		_, _ = io.WriteString(w, body)
	}
}

// Credentials never show in errors, logs, printed options or decision records,
// even when the server repeats them back.
func TestCredentialsNeverLeak(t *testing.T) {
	secrets := []string{token, password, apiKey}
	check := func(t *testing.T, what, text string) {
		t.Helper()
		for _, s := range secrets {
			assert.NotContains(t, text, s, "%s leaks a secret", what)
		}
	}
	f := newFake(t, echo)
	u, _ := url.Parse(f.URL)
	closed := newFake(t, echo)
	closedHost := strings.TrimPrefix(closed.URL, "http://")
	closed.Close()

	for name, opts := range map[string]prometheus.Options{
		"bearer":          {Address: f.URL, BearerToken: token, Headers: map[string]prometheus.Secret{"X-Api-Key": apiKey}},
		"basic":           {Address: f.URL, BasicAuth: &prometheus.BasicAuth{Username: "alice", Password: password}},
		"userinfo":        {Address: "http://alice:" + password + "@" + u.Host},
		"refused bearer":  {Address: "http://" + closedHost, BearerToken: token},
		"refused address": {Address: "http://alice:" + password + "@" + closedHost},
	} {
		t.Run(name, func(t *testing.T) {
			var logs logBuffer
			opts.Logger = logs.logger()
			opts.Timeout = 2 * time.Second
			src := newSource(t, opts)
			for _, expr := range []string{"unauthorized", "json", "warn", "bad", "gateway"} {
				_, err := src.Query(t.Context(), progressive.Query{Name: "c", Expr: expr})
				if err != nil {
					check(t, "error of "+expr, err.Error())
					check(t, "error of "+expr, fmt.Sprintf("%+v %#v", err, err))
				}
				_, err = src.QueryRange(t.Context(), progressive.Query{Expr: expr}, time.Unix(0, 0), time.Unix(60, 0), time.Second)
				if err != nil {
					check(t, "range error of "+expr, err.Error())
				}
			}
			check(t, "the log", logs.String())
			check(t, "printed options", fmt.Sprintf("%v %+v %#v %s", opts, opts, opts, opts.BearerToken))
			if opts.BasicAuth != nil {
				check(t, "printed basic auth", fmt.Sprintf("%v %+v %#v", *opts.BasicAuth, opts.BasicAuth, *opts.BasicAuth))
			}
			b, err := json.Marshal(opts)
			require.NoError(t, err)
			check(t, "options as JSON", string(b))
			var logged logBuffer
			logged.logger().Info("options", "opts", opts, "token", opts.BearerToken)
			check(t, "options logged", logged.String())
		})
	}

	// Through the engine and the runner: a failing measurement's error and reason
	// end up in the decision record.
	t.Run("decision record", func(t *testing.T) {
		var logs logBuffer
		src := newSource(t, prometheus.Options{Address: f.URL, BearerToken: token,
			Headers: map[string]prometheus.Secret{"X-Api-Key": apiKey}, Logger: logs.logger()})
		runner, err := rollout.New(rollout.Options{
			Providers: rollout.Providers{Metrics: []progressive.MetricSource{src}},
			Logger:    logs.logger(),
			Observers: []rollout.Observer{rollout.SlogObserver{Logger: logs.logger()}},
		})
		require.NoError(t, err)
		plan := progressive.Plan{
			Name: "leak-check", Strategy: "",
			Target:  progressive.Target{Namespace: "shop", Name: "checkout"},
			Release: progressive.Release{Version: "v2"},
			Checks: []progressive.Check{{
				Name: "gateway", Query: "gateway", Max: progressive.Float(1),
				Interval: progressive.MinCheckInterval, InconclusiveLimit: 2,
			}},
			Steps: []progressive.Step{{Analyze: &progressive.AnalyzeStep{Duration: time.Second}}},
		}
		// Preflight reports the 502 as a transient error, without secrets.
		_, err = runner.Start(t.Context(), plan)
		require.Error(t, err)
		assert.ErrorIs(t, err, progressive.ErrTransient)
		check(t, "preflight error", err.Error())

		// Past preflight (a healthy answer first), the 502s make the analysis
		// inconclusive and the record keeps their messages.
		var answered atomic.Bool
		f2 := newFake(t, func(w http.ResponseWriter, r *http.Request, form url.Values) {
			if !answered.Swap(true) {
				success(w, `{"resultType":"vector","result":[]}`)
				return
			}
			echo(w, r, form)
		})
		src2 := newSource(t, prometheus.Options{Address: f2.URL, BearerToken: token,
			Headers: map[string]prometheus.Secret{"X-Api-Key": apiKey}, Logger: logs.logger()})
		runner, err = rollout.New(rollout.Options{
			Providers: rollout.Providers{Metrics: []progressive.MetricSource{src2}},
			Logger:    logs.logger(),
			Observers: []rollout.Observer{rollout.SlogObserver{Logger: logs.logger()}},
		})
		require.NoError(t, err)
		st, err := runner.Execute(t.Context(), plan)
		require.NoError(t, err)
		assert.Equal(t, rollout.PhaseRolledBack, st.Phase)
		rec, err := runner.Record(t.Context(), st.ID)
		require.NoError(t, err)
		b, err := json.Marshal(rec)
		require.NoError(t, err)
		assert.Contains(t, string(b), "HTTP 502", "the record says what went wrong")
		assert.Contains(t, string(b), "[redacted]", "the echoed credentials were scrubbed")
		check(t, "decision record", string(b))
		check(t, "the logs", logs.String())
		require.NotEmpty(t, rec.Observations)
		assert.Equal(t, analysis.OutcomeInconclusive, rec.Observations[len(rec.Observations)-1].Outcome)
	})
}

func TestSecretFormatting(t *testing.T) {
	s := prometheus.Secret(token)
	for _, text := range []string{fmt.Sprint(s), fmt.Sprintf("%v %s %q %#v %+v", s, s, s, s, s)} {
		assert.NotContains(t, text, token)
	}
	assert.Equal(t, "", prometheus.Secret("").String())
	var b strings.Builder
	slog.New(slog.NewJSONHandler(&b, nil)).Info("x", "secret", s)
	assert.NotContains(t, b.String(), token)
}

func TestTLS(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		shapes(w, r, r.Form)
	}))
	t.Cleanup(srv.Close)
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	require.NoError(t, os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600))
	q := progressive.Query{Expr: "value"}

	// Unknown authority: a configuration error, not a passing fault.
	src := newSource(t, prometheus.Options{Address: srv.URL, BearerToken: token})
	_, err := src.Query(t.Context(), q)
	require.Error(t, err)
	assert.ErrorIs(t, err, progressive.ErrInvalid)
	assert.Contains(t, err.Error(), "TLS.CAFile")
	assert.NotContains(t, err.Error(), token)

	src = newSource(t, prometheus.Options{Address: srv.URL, TLS: prometheus.TLSOptions{CAFile: caFile}})
	res, err := src.Query(t.Context(), q)
	require.NoError(t, err)
	assert.Equal(t, 0.25, res.Value)

	notPEM := filepath.Join(t.TempDir(), "x.pem")
	require.NoError(t, os.WriteFile(notPEM, []byte("nothing"), 0o600))
	_, err = prometheus.New(prometheus.Options{Address: srv.URL, TLS: prometheus.TLSOptions{CAFile: notPEM}})
	assert.ErrorIs(t, err, progressive.ErrInvalid)

	var logs logBuffer
	src = newSource(t, prometheus.Options{Address: srv.URL, TLS: prometheus.TLSOptions{InsecureSkipVerify: true}, Logger: logs.logger()})
	_, err = src.Query(t.Context(), q)
	require.NoError(t, err)
	assert.Contains(t, logs.String(), "InsecureSkipVerify", "turning verification off is logged")
}
