package prometheus

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/agentops/progressive"
)

// Name is the provider name a Source reports unless Options.Name says otherwise.
const Name = "prometheus"

// Defaults of Options.
const (
	// DefaultTimeout bounds one query, on the server and in the client.
	DefaultTimeout = 30 * time.Second
	// MaxRangePoints is Prometheus' limit on the samples of one series in a range
	// query; QueryRange rejects larger ranges before sending them.
	MaxRangePoints = 11000
	// DefaultMaxBody bounds what is read of one answer, as the flag stores do.
	DefaultMaxBody = 8 << 20
)

// Options configure a Source. Only Address is required.
type Options struct {
	// Address of the Prometheus HTTP API, such as http://prometheus.monitoring:9090
	// or https://thanos.example.com/prometheus (a path prefix is kept). User info in
	// it (https://user:password@host) is used as BasicAuth and removed from the
	// address, so it never shows in messages.
	Address string `json:"address"`
	// Name is the provider name the Source reports, which plans select it by
	// (progressive.ProviderNames.Metrics, progressive.Check.Metrics). Default
	// "prometheus"; set it when a runner has several Prometheus servers.
	Name string `json:"name,omitempty"`
	// BearerToken is sent as "Authorization: Bearer <token>".
	BearerToken Secret `json:"bearerToken,omitempty"`
	// BasicAuth, when set, is sent as "Authorization: Basic ...". Mutually exclusive
	// with BearerToken.
	BasicAuth *BasicAuth `json:"basicAuth,omitempty"`
	// TLS configures https addresses. Certificates are verified unless
	// TLS.InsecureSkipVerify is explicitly set.
	TLS TLSOptions `json:"tls,omitempty"`
	// Headers are added to every request (X-Scope-OrgID for Cortex and Mimir, a
	// proxy's API key). Their values are treated as secrets. A "Host" entry sets the
	// request's Host.
	Headers map[string]Secret `json:"headers,omitempty"`
	// Timeout bounds one query; progressive.Query.Timeout overrides it per query.
	// The server is told to give up at the same time (its timeout parameter, capped
	// by its --query.timeout), so an expensive query does not keep running there
	// after the client stops waiting; the client waits a little longer to receive
	// the server's timeout answer. Default 30s.
	Timeout time.Duration `json:"timeout,omitempty"`
	// HTTPClient, when set, sends the requests (its Transport and Timeout apply).
	// The credentials and Headers above are still added, for Address only. TLS must
	// then be configured on the client instead of in TLS.
	HTTPClient *http.Client `json:"-"`
	// Logger receives a warning when InsecureSkipVerify is on and a debug record
	// for each warning Prometheus returns with an answer. It never receives
	// credentials. Default: discard.
	Logger *slog.Logger `json:"-"`
	// MaxBody bounds what is read of one answer, in bytes. A longer answer is not
	// read further: the query fails with a *QueryError of Type TypeTooLarge
	// wrapping progressive.ErrTransient that names the limit. An endless or
	// runaway answer (a proxy's loop, a query matching millions of series) must
	// not exhaust the memory of the process running the rollouts. Default 8 MiB
	// (DefaultMaxBody); a range query of MaxRangePoints samples needs well under
	// 1 MiB.
	MaxBody int64 `json:"maxBody,omitempty"`
}

// Source is a progressive.MetricSource and progressive.RangeQuerier backed by the
// Prometheus HTTP API. It is safe for concurrent use.
type Source struct {
	name    string
	api     v1.API
	address string // redacted
	timeout time.Duration
	log     *slog.Logger
	redact  redactor
}

var (
	_ progressive.MetricSource = (*Source)(nil)
	_ progressive.RangeQuerier = (*Source)(nil)
)

// New checks opts and returns a Source. It does not contact the server: the
// analysis engine's preflight (rollout.Runner.Start) runs every query once before
// traffic moves. Every problem of opts is reported at once in an error wrapping
// progressive.ErrInvalid.
func New(opts Options) (*Source, error) {
	var p progressive.Problems
	if opts.Timeout < 0 {
		p.Add("timeout", opts.Timeout.String(), "must not be negative")
	}
	if opts.MaxBody < 0 {
		p.Add("maxBody", opts.MaxBody, "must not be negative")
	}
	if err := p.Err(); err != nil {
		return nil, fmt.Errorf("prometheus: options: %w", err)
	}
	ep, err := parseAddress(opts.Address)
	if err != nil {
		return nil, err
	}
	tr, err := buildTransport(opts, ep)
	if err != nil {
		return nil, err
	}
	client, err := api.NewClient(api.Config{Address: ep.url.String(), Client: tr.client})
	if err != nil {
		return nil, fmt.Errorf("prometheus: client for %s: %w", ep.redacted, progressive.ErrInvalid)
	}
	s := &Source{
		name:    opts.Name,
		api:     v1.NewAPI(client),
		address: ep.redacted,
		timeout: opts.Timeout,
		log:     opts.Logger,
		redact:  newRedactor(tr.secrets...),
	}
	if s.name == "" {
		s.name = Name
	}
	if s.timeout == 0 {
		s.timeout = DefaultTimeout
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.log = s.log.With("provider", Name, "address", s.address)
	if opts.TLS.InsecureSkipVerify {
		s.log.Warn("TLS certificate verification is off (TLS.InsecureSkipVerify): anyone on the path can answer for Prometheus")
	}
	return s, nil
}

// Name returns the provider name, "prometheus" by default.
func (s *Source) Name() string { return s.name }

// Address returns the server's address without credentials.
func (s *Source) Address() string { return s.address }

// Query evaluates q.Expr at q.Time (zero: the server's now) and classifies the
// answer:
//
//   - one sample (of a one-series vector, or a scalar): StatusValue, ±Inf
//     included;
//   - an empty vector (no series matched, such as a canary without traffic):
//     StatusNoData;
//   - NaN (0/0 when nothing was served in the window): StatusNaN;
//   - several series: an error wrapping progressive.ErrInvalid that names their
//     labels (aggregate them with sum() or narrow the selector);
//   - a range vector, a string or a native histogram: progressive.ErrInvalid;
//   - a query the server rejects (bad_data, execution), refused credentials
//     (401, 403) or a wrong path (404): progressive.ErrInvalid;
//   - no answer (connection refused, DNS, reset), a timeout on either side, a
//     5xx or 429, an answer longer than Options.MaxBody:
//     progressive.ErrTransient.
//
// Error messages never contain the credentials of Options.
func (s *Source) Query(ctx context.Context, q progressive.Query) (progressive.Result, error) {
	expr := strings.TrimSpace(q.Expr)
	if expr == "" {
		return progressive.Result{}, s.invalid("result", "empty query", q)
	}
	timeout := s.queryTimeout(q)
	qctx, cancel := context.WithTimeout(ctx, clientDeadline(timeout))
	defer cancel()
	val, warnings, _, err := s.api.Query(qctx, expr, q.Time, v1.WithTimeout(serverTimeout(timeout)))
	if err != nil {
		return progressive.Result{}, s.classify(ctx, q, timeout, err)
	}
	s.warnings(ctx, q, warnings)
	return s.instant(q, val)
}

// QueryRange evaluates q.Expr at start, start+step, ... end and returns the
// samples of its one series, NaN samples included (a judge decides what they
// mean) and instants without data left out. No series at all gives no samples
// and no error. Several series, a step that is not positive, end before start or
// more than MaxRangePoints samples are errors wrapping progressive.ErrInvalid;
// the other errors are classified as for Query.
func (s *Source) QueryRange(ctx context.Context, q progressive.Query, start, end time.Time, step time.Duration) ([]progressive.Sample, error) {
	expr := strings.TrimSpace(q.Expr)
	switch {
	case expr == "":
		return nil, s.invalid("result", "empty query", q)
	case step <= 0:
		return nil, s.invalid("range", fmt.Sprintf("range step %s must be positive", step), q)
	case end.Before(start):
		return nil, s.invalid("range", fmt.Sprintf("range end %s is before start %s", end.Format(time.RFC3339), start.Format(time.RFC3339)), q)
	case end.Sub(start)/step >= MaxRangePoints:
		return nil, s.invalid("range", fmt.Sprintf("a range of %s at step %s exceeds %d points", end.Sub(start), step, MaxRangePoints), q)
	}
	timeout := s.queryTimeout(q)
	qctx, cancel := context.WithTimeout(ctx, clientDeadline(timeout))
	defer cancel()
	val, warnings, _, err := s.api.QueryRange(qctx, expr, v1.Range{Start: start, End: end, Step: step}, v1.WithTimeout(serverTimeout(timeout)))
	if err != nil {
		return nil, s.classify(ctx, q, timeout, err)
	}
	s.warnings(ctx, q, warnings)
	m, ok := val.(model.Matrix)
	if !ok {
		return nil, s.invalid("result", fmt.Sprintf("a range query returned a %s, not a matrix", typeName(val)), q)
	}
	switch len(m) {
	case 0:
		return nil, nil
	case 1:
	default:
		return nil, s.invalid("result", severalSeries(len(m), func(i int) model.Metric { return m[i].Metric }), q)
	}
	if len(m[0].Histograms) > 0 {
		return nil, s.invalid("result", "the series holds native histograms, not numbers; use histogram_quantile() or histogram_sum()", q)
	}
	out := make([]progressive.Sample, 0, len(m[0].Values))
	for _, p := range m[0].Values {
		out = append(out, progressive.Sample{Time: p.Timestamp.Time(), Value: float64(p.Value)})
	}
	return out, nil
}

func (s *Source) queryTimeout(q progressive.Query) time.Duration {
	if q.Timeout > 0 {
		return q.Timeout
	}
	return s.timeout
}

// clientDeadline leaves the server time to report its own timeout, which says
// more than a client deadline does.
func clientDeadline(timeout time.Duration) time.Duration {
	grace := min(max(timeout/10, 100*time.Millisecond), 2*time.Second)
	return timeout + grace
}

// serverTimeout is the timeout parameter sent to Prometheus. Its parser takes
// whole units only ("1.5s" is a bad_data error), so the value is rounded to
// milliseconds below a second and to seconds above.
func serverTimeout(d time.Duration) time.Duration {
	if d < time.Second {
		return max(d.Round(time.Millisecond), time.Millisecond)
	}
	return d.Round(time.Second)
}

// instant turns the value of an instant query into a Result.
func (s *Source) instant(q progressive.Query, val model.Value) (progressive.Result, error) {
	switch v := val.(type) {
	case model.Vector:
		switch len(v) {
		case 0:
			return progressive.Result{Status: progressive.StatusNoData, Time: q.Time}, nil
		case 1:
		default:
			return progressive.Result{}, s.invalid("result", severalSeries(len(v), func(i int) model.Metric { return v[i].Metric }), q)
		}
		if v[0].Histogram != nil {
			return progressive.Result{}, s.invalid("result", "the query returns a native histogram, not a number; use histogram_quantile() or histogram_sum()", q)
		}
		return number(float64(v[0].Value), v[0].Timestamp.Time()), nil
	case *model.Scalar:
		return number(float64(v.Value), v.Timestamp.Time()), nil
	case model.Matrix:
		return progressive.Result{}, s.invalid("result",
			"the query returns a range vector (a selector like x[5m] without a function); an instant check needs one number: wrap it in rate(), avg_over_time() or the like", q)
	case *model.String:
		return progressive.Result{}, s.invalid("result", "the query returns a string, not a number", q)
	}
	return progressive.Result{}, s.invalid("result", fmt.Sprintf("the query returns a %s, not a number", typeName(val)), q)
}

func number(v float64, t time.Time) progressive.Result {
	if math.IsNaN(v) {
		return progressive.Result{Status: progressive.StatusNaN, Value: v, Time: t}
	}
	return progressive.Result{Status: progressive.StatusValue, Value: v, Time: t}
}

func typeName(v model.Value) string {
	if v == nil {
		return "nothing"
	}
	return v.Type().String()
}

// maxListedSeries bounds the series an error message lists.
const maxListedSeries = 5

func severalSeries(n int, metric func(int) model.Metric) string {
	var b strings.Builder
	fmt.Fprintf(&b, "the query returns %d series where one was expected: ", n)
	for i := range min(n, maxListedSeries) {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(metric(i).String())
	}
	if n > maxListedSeries {
		fmt.Fprintf(&b, " and %d more", n-maxListedSeries)
	}
	b.WriteString("; aggregate them (sum, avg, max) or narrow the selector")
	return b.String()
}

// warnings logs what Prometheus said along with an answer (for example that a
// metric might not be a counter).
func (s *Source) warnings(ctx context.Context, q progressive.Query, ws v1.Warnings) {
	for _, w := range ws {
		s.log.LogAttrs(ctx, slog.LevelDebug, "prometheus warning",
			slog.String("check", q.Name), slog.String("warning", s.redact.clean(w)))
	}
}
