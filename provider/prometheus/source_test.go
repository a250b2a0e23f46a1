package prometheus_test

import (
	"context"
	"errors"
	"math"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/provider/prometheus"
)

var at = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// shapes answers each query with the shape its name asks for, the way Prometheus
// 2.42 writes it.
func shapes(w http.ResponseWriter, r *http.Request, form url.Values) {
	switch form.Get("query") {
	case "value":
		success(w, `{"resultType":"vector","result":[{"metric":{"version":"v2"},"value":[1772366400,"0.25"]}]}`)
	case "inf":
		success(w, `{"resultType":"vector","result":[{"metric":{},"value":[1772366400,"+Inf"]}]}`)
	case "empty":
		success(w, `{"resultType":"vector","result":[]}`)
	case "nan":
		success(w, `{"resultType":"vector","result":[{"metric":{},"value":[1772366400,"NaN"]}]}`)
	case "several":
		success(w, `{"resultType":"vector","result":[`+
			`{"metric":{"__name__":"up","job":"a"},"value":[1772366400,"1"]},`+
			`{"metric":{"__name__":"up","job":"b"},"value":[1772366400,"0"]}]}`)
	case "scalar":
		success(w, `{"resultType":"scalar","result":[1772366400,"42"]}`)
	case "scalar-nan":
		success(w, `{"resultType":"scalar","result":[1772366400,"NaN"]}`)
	case "matrix":
		success(w, `{"resultType":"matrix","result":[{"metric":{},"values":[[1772366398,"1"],[1772366399,"2"]]}]}`)
	case "string":
		success(w, `{"resultType":"string","result":[1772366400,"hello"]}`)
	case "histogram":
		success(w, `{"resultType":"vector","result":[{"metric":{},"histogram":[1772366400,{"count":"2","sum":"3","buckets":[[0,"0","1","2"]]}]}]}`)
	case "bad":
		reply(w, http.StatusBadRequest, `{"status":"error","errorType":"bad_data","error":"invalid parameter \"query\": 1:13: parse error: unclosed left parenthesis"}`)
	case "exec":
		reply(w, http.StatusUnprocessableEntity, `{"status":"error","errorType":"execution","error":"found duplicate series for the match group"}`)
	case "server-timeout":
		reply(w, http.StatusServiceUnavailable, `{"status":"error","errorType":"timeout","error":"query timed out in expression evaluation"}`)
	case "unavailable":
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("upstream connect error or disconnect/reset before headers\n"))
	case "internal":
		reply(w, http.StatusInternalServerError, `{"status":"error","errorType":"internal","error":"expanding series: context deadline exceeded"}`)
	case "unauthorized":
		w.WriteHeader(http.StatusUnauthorized)
	case "notfound":
		w.WriteHeader(http.StatusNotFound)
	case "ratelimited":
		w.WriteHeader(http.StatusTooManyRequests)
	case "html":
		w.Header().Set("Content-Type", "text/html")
		_, _ = w.Write([]byte("<html>login</html>"))
	case "slow":
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	default:
		reply(w, http.StatusBadRequest, `{"status":"error","errorType":"bad_data","error":"unknown test query"}`)
	}
}

func TestQueryShapes(t *testing.T) {
	f := newFake(t, shapes)
	src := newSource(t, prometheus.Options{Address: f.URL})
	ts := time.Unix(1772366400, 0)

	type want struct {
		status   progressive.ResultStatus
		value    float64
		kind     error  // ErrInvalid or ErrTransient when an error is expected
		typ      string // QueryError.Type
		contains []string
	}
	cases := map[string]want{
		"value":      {status: progressive.StatusValue, value: 0.25},
		"inf":        {status: progressive.StatusValue, value: math.Inf(1)},
		"empty":      {status: progressive.StatusNoData},
		"nan":        {status: progressive.StatusNaN},
		"scalar":     {status: progressive.StatusValue, value: 42},
		"scalar-nan": {status: progressive.StatusNaN},
		"several": {kind: progressive.ErrInvalid, typ: prometheus.TypeResult,
			contains: []string{"2 series where one was expected", `up{job="a"}`, `up{job="b"}`}},
		"matrix":    {kind: progressive.ErrInvalid, typ: prometheus.TypeResult, contains: []string{"range vector"}},
		"string":    {kind: progressive.ErrInvalid, typ: prometheus.TypeResult, contains: []string{"string"}},
		"histogram": {kind: progressive.ErrInvalid, typ: prometheus.TypeResult, contains: []string{"native histogram"}},
		"bad":       {kind: progressive.ErrInvalid, typ: "bad_data", contains: []string{"bad query", "unclosed left parenthesis", `query "bad"`}},
		"exec":      {kind: progressive.ErrInvalid, typ: "execution", contains: []string{"duplicate series"}},
		"server-timeout": {kind: progressive.ErrTransient, typ: "timeout",
			contains: []string{"timed out on the server", "HTTP 503", "query timed out in expression evaluation"}},
		"unavailable":  {kind: progressive.ErrTransient, typ: "server_error", contains: []string{"HTTP 503", "upstream connect error"}},
		"internal":     {kind: progressive.ErrTransient, typ: "internal", contains: []string{"HTTP 500", "expanding series"}},
		"unauthorized": {kind: progressive.ErrInvalid, typ: "client_error", contains: []string{"HTTP 401", "credentials"}},
		"notfound":     {kind: progressive.ErrInvalid, typ: "client_error", contains: []string{"HTTP 404", "path prefix"}},
		"ratelimited":  {kind: progressive.ErrTransient, typ: "client_error", contains: []string{"HTTP 429"}},
		"html":         {kind: progressive.ErrTransient, typ: "bad_response", contains: []string{"unreadable answer"}},
	}
	for expr, w := range cases {
		t.Run(expr, func(t *testing.T) {
			res, err := src.Query(t.Context(), progressive.Query{Name: "c", Expr: expr, Time: at})
			if w.kind != nil {
				require.Error(t, err)
				assert.ErrorIs(t, err, w.kind)
				other := progressive.ErrTransient
				if w.kind == progressive.ErrTransient {
					other = progressive.ErrInvalid
				}
				assert.NotErrorIs(t, err, other)
				var qe *prometheus.QueryError
				require.ErrorAs(t, err, &qe)
				assert.Equal(t, w.typ, qe.Type)
				for _, s := range w.contains {
					assert.Contains(t, err.Error(), s)
				}
				return
			}
			require.NoError(t, err)
			assert.Equal(t, w.status, res.Status)
			if w.status == progressive.StatusValue {
				assert.Equal(t, w.value, res.Value)
				assert.True(t, res.Time.Equal(ts), "the sample's time, got %s", res.Time)
			}
			if w.status == progressive.StatusNaN {
				assert.True(t, math.IsNaN(res.Value))
			}
		})
	}

	// The query is sent with its evaluation time and the server-side timeout.
	_, err := src.Query(t.Context(), progressive.Query{Expr: "value", Time: at})
	require.NoError(t, err)
	_, form := f.last()
	assert.Equal(t, "value", form.Get("query"))
	assert.Equal(t, "1772366400", form.Get("time"))
	assert.Equal(t, "30s", form.Get("timeout"))
}

func TestQueryEmptyExpr(t *testing.T) {
	src := newSource(t, prometheus.Options{Address: "http://127.0.0.1:1"})
	_, err := src.Query(t.Context(), progressive.Query{Expr: "  "})
	assert.ErrorIs(t, err, progressive.ErrInvalid)
}

func TestQueryConnectionRefused(t *testing.T) {
	f := newFake(t, shapes)
	addr := f.URL
	f.Close() // nothing listens there any more
	src := newSource(t, prometheus.Options{Address: addr})
	_, err := src.Query(t.Context(), progressive.Query{Expr: "value"})
	require.Error(t, err)
	assert.ErrorIs(t, err, progressive.ErrTransient)
	assert.NotErrorIs(t, err, progressive.ErrInvalid)
	assert.Contains(t, err.Error(), "unreachable")
	assert.Contains(t, err.Error(), "connection refused")
	var qe *prometheus.QueryError
	require.ErrorAs(t, err, &qe)
	assert.Equal(t, prometheus.TypeUnreachable, qe.Type)
}

func TestQueryClientDeadline(t *testing.T) {
	f := newFake(t, shapes)
	src := newSource(t, prometheus.Options{Address: f.URL, Timeout: time.Hour})
	start := time.Now()
	_, err := src.Query(t.Context(), progressive.Query{Expr: "slow", Timeout: 200 * time.Millisecond})
	elapsed := time.Since(start)
	require.Error(t, err)
	assert.ErrorIs(t, err, progressive.ErrTransient)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Contains(t, err.Error(), "within 300ms")
	assert.Less(t, elapsed, 2*time.Second, "Query.Timeout overrides Options.Timeout")
	_, form := f.last()
	assert.Equal(t, "200ms", form.Get("timeout"), "the server is told to stop the query too")
}

func TestQueryServerTimeoutRounding(t *testing.T) {
	f := newFake(t, shapes)
	src := newSource(t, prometheus.Options{Address: f.URL})
	for d, want := range map[time.Duration]string{
		1500 * time.Millisecond: "2s", // Prometheus refuses "1.5s"
		90 * time.Second:        "1m30s",
		250 * time.Microsecond:  "1ms",
		time.Hour:               "1h0m0s",
	} {
		_, err := src.Query(t.Context(), progressive.Query{Expr: "value", Timeout: d})
		require.NoError(t, err)
		_, form := f.last()
		assert.Equal(t, want, form.Get("timeout"), "timeout %s", d)
	}
}

func TestQueryCallerCanceled(t *testing.T) {
	f := newFake(t, shapes)
	src := newSource(t, prometheus.Options{Address: f.URL})
	ctx, cancel := context.WithCancel(t.Context())
	go func() { time.Sleep(100 * time.Millisecond); cancel() }()
	_, err := src.Query(ctx, progressive.Query{Expr: "slow"})
	require.Error(t, err)
	assert.ErrorIs(t, err, context.Canceled)
	assert.NotErrorIs(t, err, progressive.ErrTransient, "the end of the caller's context is not a measurement")
	assert.NotErrorIs(t, err, progressive.ErrInvalid)
}

func TestQueryRange(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, form url.Values) {
		switch form.Get("query") {
		case "ok":
			success(w, `{"resultType":"matrix","result":[{"metric":{},"values":[[1772366400,"1"],[1772366402,"NaN"],[1772366404,"3.5"]]}]}`)
		case "none":
			success(w, `{"resultType":"matrix","result":[]}`)
		case "several":
			success(w, `{"resultType":"matrix","result":[{"metric":{"pod":"a"},"values":[[1772366400,"1"]]},{"metric":{"pod":"b"},"values":[[1772366400,"1"]]}]}`)
		case "vector":
			success(w, `{"resultType":"vector","result":[]}`)
		default:
			shapes(w, r, form)
		}
	})
	src := newSource(t, prometheus.Options{Address: f.URL})
	ctx := t.Context()
	start := time.Unix(1772366400, 0)
	end := start.Add(4 * time.Second)

	samples, err := src.QueryRange(ctx, progressive.Query{Expr: "ok"}, start, end, 2*time.Second)
	require.NoError(t, err)
	require.Len(t, samples, 3)
	assert.Equal(t, progressive.Sample{Time: start, Value: 1}, samples[0])
	assert.True(t, math.IsNaN(samples[1].Value), "NaN samples are kept for the judge")
	assert.Equal(t, 3.5, samples[2].Value)
	_, form := f.last()
	assert.Equal(t, "1772366400", form.Get("start"))
	assert.Equal(t, "1772366404", form.Get("end"))
	assert.Equal(t, "2", form.Get("step"))

	samples, err = src.QueryRange(ctx, progressive.Query{Expr: "none"}, start, end, time.Second)
	require.NoError(t, err)
	assert.Empty(t, samples, "no series: no samples")

	_, err = src.QueryRange(ctx, progressive.Query{Expr: "several"}, start, end, time.Second)
	assert.ErrorIs(t, err, progressive.ErrInvalid)
	assert.ErrorContains(t, err, `{pod="a"}, {pod="b"}`)

	_, err = src.QueryRange(ctx, progressive.Query{Expr: "vector"}, start, end, time.Second)
	assert.ErrorIs(t, err, progressive.ErrInvalid)

	_, err = src.QueryRange(ctx, progressive.Query{Expr: "bad"}, start, end, time.Second)
	assert.ErrorIs(t, err, progressive.ErrInvalid)
	_, err = src.QueryRange(ctx, progressive.Query{Expr: "unavailable"}, start, end, time.Second)
	assert.ErrorIs(t, err, progressive.ErrTransient)

	n := f.count()
	for _, bad := range []struct {
		start, end time.Time
		step       time.Duration
	}{
		{start, end, 0},
		{end, start, time.Second},
		{start, start.Add(24 * time.Hour), time.Second},
	} {
		_, err := src.QueryRange(ctx, progressive.Query{Expr: "ok"}, bad.start, bad.end, bad.step)
		assert.ErrorIs(t, err, progressive.ErrInvalid)
	}
	assert.Equal(t, n, f.count(), "invalid ranges are not sent")
}

func TestNewOptions(t *testing.T) {
	for name, opts := range map[string]prometheus.Options{
		"no address":      {},
		"bad scheme":      {Address: "ftp://prom:9090"},
		"no host":         {Address: "http://"},
		"query":           {Address: "http://prom:9090/?x=1"},
		"negative":        {Address: "http://prom:9090", Timeout: -time.Second},
		"token and basic": {Address: "http://prom:9090", BearerToken: "tok-123", BasicAuth: &prometheus.BasicAuth{Username: "u", Password: "p"}},
		"userinfo and basic": {Address: "http://u:pass@prom:9090",
			BasicAuth: &prometheus.BasicAuth{Username: "u", Password: "p"}},
		"authorization header": {Address: "http://prom:9090", BearerToken: "tok-123", Headers: map[string]prometheus.Secret{"authorization": "x"}},
		"bad header":           {Address: "http://prom:9090", Headers: map[string]prometheus.Secret{"a b": "x"}},
		"tls on http":          {Address: "http://prom:9090", TLS: prometheus.TLSOptions{InsecureSkipVerify: true}},
		"tls with client":      {Address: "https://prom:9090", TLS: prometheus.TLSOptions{InsecureSkipVerify: true}, HTTPClient: &http.Client{}},
		"missing ca":           {Address: "https://prom:9090", TLS: prometheus.TLSOptions{CAFile: "/nonexistent/ca.pem"}},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := prometheus.New(opts)
			require.Error(t, err)
			assert.ErrorIs(t, err, progressive.ErrInvalid)
			assert.NotContains(t, err.Error(), "pass")
			assert.NotContains(t, err.Error(), "tok-123")
		})
	}

	src := newSource(t, prometheus.Options{Address: "http://prom:9090/prefix/"})
	assert.Equal(t, "prometheus", src.Name())
	src = newSource(t, prometheus.Options{Address: "http://prom:9090", Name: "thanos"})
	assert.Equal(t, "thanos", src.Name())
}

func TestPathPrefix(t *testing.T) {
	f := newFake(t, shapes)
	src := newSource(t, prometheus.Options{Address: f.URL + "/prom/"})
	_, err := src.Query(t.Context(), progressive.Query{Expr: "value"})
	require.NoError(t, err)
	r, _ := f.last()
	assert.Equal(t, "/prom/api/v1/query", r.URL.Path)
}

func TestErrorsAreComparable(t *testing.T) {
	// errors.Is on a QueryError works through its Kind, as the engine relies on.
	err := error(&prometheus.QueryError{Kind: progressive.ErrTransient, Msg: "x"})
	assert.True(t, errors.Is(err, progressive.ErrTransient))
	assert.True(t, progressive.IsTransient(err))
	assert.False(t, progressive.IsInvalid(err))
	assert.True(t, strings.HasPrefix(err.Error(), "prometheus: x"))
}
