package analysis_test

import (
	"testing"
	"time"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/analysis"
)

// maxRendered mirrors the renderer's bound on one rendered query.
const maxRendered = 64 << 10

// within fails t when fn does not return in d: a template must never loop.
func within(t *testing.T, d time.Duration, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn()
	}()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("did not return within %s", d)
	}
}

// FuzzRender: any query template and any variables either render, within the
// bound, or fail with ErrInvalid; never a panic, never an endless execution.
// A variable never closes the label matcher it stands in.
func FuzzRender(f *testing.F) {
	f.Add(`sum(rate(http_requests_total{namespace="{{.Namespace}}",service="{{.Service}}",version="{{.Version}}",code=~"5.."}[{{.Interval}}]))`, "production", "payment-service", `v2"} or vector(1) #`, "v1", true, int64(time.Minute))
	f.Add(`{{if eq .Role "canary"}}a{{else}}b{{end}}`, "", "", "", "", false, int64(0))
	f.Add(`{{range .}}{{end}}`, "a\nb", "a'b", "a`b", `a\b`, true, int64(-1))
	f.Add(`{{.Service}}{{.Service}}{{.Service}}{{.Service}}`, "", "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "", "", true, int64(time.Hour))
	f.Add(`{{template "x"}}{{define "x"}}{{template "x"}}{{end}}`, "", "", "", "", true, int64(1))
	f.Add(`{{and (eq .Role "canary") (ne .Version "") (lt 1 2) (not false) (or 0 1)}}`, "", "", "", "", true, int64(1))
	f.Fuzz(func(t *testing.T, query, ns, svc, canaryV, stableV string, canary bool, interval int64) {
		c := progressive.Check{Name: "fuzz", Query: query, Max: progressive.Float(1), Interval: time.Duration(interval)}
		vars := analysis.Vars{Namespace: ns, Service: svc, CanaryVersion: canaryV, StableVersion: stableV}
		role := progressive.Stable
		if canary {
			role = progressive.Canary
		}
		within(t, 5*time.Second, func() {
			out, err := analysis.Render(c, vars, role)
			if err != nil {
				if !progressive.IsInvalid(err) {
					t.Errorf("Render error does not wrap ErrInvalid: %v", err)
				}
				return
			}
			if len(out) > maxRendered {
				t.Errorf("rendered %d bytes", len(out))
			}
			_, _ = analysis.QueryWindow(out)
		})
	})
}

// FuzzValidateTemplates: checks with any query and samples query are judged
// without a panic, in bounded time, with every problem under its field; a
// template it accepts renders for both roles with any variables.
func FuzzValidateTemplates(f *testing.F) {
	f.Add(`rate(x[{{.Interval}}])`, `sum(increase(y[{{.Interval}}]))`, "ns", "svc", "v2")
	f.Add(`{{.Unknown}}`, `{{`, "", "", "")
	f.Add(`{{printf "%s" .Service}}`, `{{with .}}{{end}}`, "", "", "")
	f.Add(`{{/* c */}}{{- .Role -}}`, ``, "a\"b", "c\\d", "e\nf")
	f.Fuzz(func(t *testing.T, query, samples, ns, svc, version string) {
		c := progressive.Check{Name: "fuzz", Query: query, Max: progressive.Float(1)}
		if samples != "" {
			c.Samples = &progressive.SampleSize{Query: samples, Min: 101}
		}
		within(t, 5*time.Second, func() {
			err := analysis.ValidateTemplates([]progressive.Check{c})
			if err != nil {
				var ve *progressive.ValidationError
				if !progressive.IsInvalid(err) || !asValidation(err, &ve) {
					t.Errorf("not a ValidationError: %v", err)
					return
				}
				for _, p := range ve.Problems {
					if p.Field != "checks[0].query" && p.Field != "checks[0].samples.query" {
						t.Errorf("problem under %q", p.Field)
					}
				}
				return
			}
			vars := analysis.Vars{Namespace: ns, Service: svc, CanaryVersion: version, StableVersion: version}
			for _, role := range []progressive.Role{progressive.Canary, progressive.Stable} {
				out, err := analysis.Render(c, vars, role)
				// Only the length bound may refuse a template that validated (long variables).
				if err != nil && len(ns)+len(svc)+len(version) < 1024 {
					t.Errorf("validated template %q does not render with %+v: %v", query, vars, err)
				}
				if len(out) > maxRendered {
					t.Errorf("rendered %d bytes", len(out))
				}
			}
		})
	})
}

func asValidation(err error, ve **progressive.ValidationError) bool {
	for e := err; e != nil; {
		if v, ok := e.(*progressive.ValidationError); ok {
			*ve = v
			return true
		}
		u, ok := e.(interface{ Unwrap() error })
		if !ok {
			return false
		}
		e = u.Unwrap()
	}
	return false
}

// FuzzQueryWindow: any expression gives a window that is not negative, and zero
// when it has no range selector ([0s] is a selector: zero, ok).
func FuzzQueryWindow(f *testing.F) {
	for _, s := range []string{
		`rate(x[5m])`, `rate(x[1m] offset 1h)`, `max_over_time(rate(x[30s])[10m:1m])`, `x offset -5m`,
		`rate(x[99999999999999999999y])`, `rate(x[1h30m15s500ms])`, `x[`, `]`, `rate(x[0s])`, `"[5m]"`, `x[1d] offset 2w`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, expr string) {
		within(t, 5*time.Second, func() {
			d, ok := analysis.QueryWindow(expr)
			if d < 0 || (!ok && d != 0) {
				t.Errorf("QueryWindow(%q) = %v, %v", expr, d, ok)
			}
		})
	})
}
