package corpus_test

import (
	"context"
	"fmt"
	"strings"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/analysis"
)

// badTemplates are query templates that must not render.
var badTemplates = []string{
	`{{.Unknown}}`,
	`{{.namespace}}`,
	`{{`,
	`{{.Service`,
	`{{end}}`,
	`{{if .Service}}x`,
	`{{if}}x{{end}}`,
	`{{range .}}x{{end}}`,
	`{{with .Service}}{{.}}{{end}}`,
	`{{define "x"}}y{{end}}{{template "x"}}`,
	`{{template "x"}}`,
	`{{block "x" .}}y{{end}}`,
	`{{printf "%s" .Service}}`,
	`{{.Service | printf "%q"}}`,
	`{{call .Service}}`,
	`{{index . "Service"}}`,
	`{{len .Service}}`,
	`{{html .Service}}`,
	`{{js .Service}}`,
	`{{urlquery .Service}}`,
	`{{print .}}`,
	`{{println .Service}}`,
	`{{slice .Service 0 1}}`,
	`{{$x}}`,
	`{{break}}`,
	`{{continue}}`,
	`{{.Service.Name}}`,
	`{{/* unclosed comment`,
	`{{"unterminated}}`,
	`{{.Service}` + "\x00",
	`{{nil}}`,
	`rate(x[{{.Interval}}]) {{.Version.X}}`,
	strings.Repeat("x", 65<<10),
	strings.Repeat("{{.Namespace}}", 5000) + strings.Repeat("y", 64<<10),
}

func analysisCases() []bad {
	var out []bad
	for i, q := range badTemplates {
		out = append(out, bad{entry: "analysis.ValidateTemplates", name: fmt.Sprintf("query#%d:%s", i, label(q)), field: "checks[1].query", run: func(context.Context) error {
			return analysis.ValidateTemplates([]progressive.Check{errorCheck(), {Name: "bad", Query: q, Max: progressive.Float(1)}})
		}})
		if i%2 == 0 {
			out = append(out, bad{entry: "analysis.ValidateTemplates", name: fmt.Sprintf("samples.query#%d:%s", i, label(q)), field: "checks[0].samples.query", run: func(context.Context) error {
				c := errorCheck()
				c.Samples = &progressive.SampleSize{Query: q, Min: 101}
				return analysis.ValidateTemplates([]progressive.Check{c})
			}})
		}
		out = append(out, bad{entry: "analysis.Render", name: fmt.Sprintf("query#%d:%s", i, label(q)), field: "query", run: func(context.Context) error {
			_, err := analysis.Render(progressive.Check{Name: "bad", Query: q}, goodVars, progressive.Canary)
			return err
		}})
	}
	for i, role := range []progressive.Role{"", "blue", "Canary", "canary\n"} {
		out = append(out, bad{entry: "analysis.Render", name: fmt.Sprintf("role#%d", i), field: "role", run: func(context.Context) error {
			_, err := analysis.Render(errorCheck(), goodVars, role)
			return err
		}})
	}
	// Variables never close the matcher they stand in, however long: a huge
	// value is refused instead of rendered without bound.
	out = append(out, bad{entry: "analysis.Render", name: "huge-vars", field: "rendered query exceeds", run: func(context.Context) error {
		v := goodVars
		v.Service = strings.Repeat(`"`, 40<<10)
		_, err := analysis.Render(errorCheck(), v, progressive.Canary)
		return err
	}})

	engine := func() *analysis.Engine {
		e, err := analysis.NewEngine(analysis.Options{
			Sources: func(name string) (progressive.MetricSource, error) {
				if name == "" {
					return nil, nil
				}
				return nil, fmt.Errorf("unknown metric source %q; known: (default): %w", name, progressive.ErrInvalid)
			},
			Judges: map[string]analysis.Judge{analysis.KindMannWhitney: analysis.MannWhitneyJudge{}, analysis.KindSPRT: analysis.SPRTJudge{}},
		})
		if err != nil {
			panic(err)
		}
		return e
	}()
	ev := func(name, field string, mutate func(c *progressive.Check)) {
		out = append(out, bad{entry: "analysis.Engine.Validate", name: name, field: field, run: func(context.Context) error {
			c := errorCheck()
			mutate(&c)
			return engine.Validate([]progressive.Check{errorCheck2(), c})
		}})
	}
	for _, m := range checkMutations() {
		ev(m.name, "checks[1]."+m.field, m.mutate)
	}
	ev("duplicate-name", "checks[1].name", func(c *progressive.Check) { c.Name = "latency" })
	ev("unknown-source", "checks[1].metrics", func(c *progressive.Check) { c.Metrics = "prometheus-eu" })
	ev("source-CRLF", "checks[1].metrics", func(c *progressive.Check) { c.Metrics = "prom\r\n" })
	ev("bad-template", "checks[1].query", func(c *progressive.Check) { c.Query = "{{.Nope}}" })
	ev("unknown-judge", "checks[1].judge.kind", func(c *progressive.Check) { c.Judge = &progressive.JudgeSpec{Kind: "t-test"} })
	judge := func(kind string, params map[string]float64) func(c *progressive.Check) {
		return func(c *progressive.Check) {
			c.Max, c.Judge = nil, &progressive.JudgeSpec{Kind: kind, Params: params}
		}
	}
	for _, p := range []struct {
		kind, param string
		v           float64
	}{
		{analysis.KindSPRT, analysis.SPRTAlpha, nan}, {analysis.KindSPRT, analysis.SPRTAlpha, -0.1}, {analysis.KindSPRT, analysis.SPRTAlpha, 1.5}, {analysis.KindSPRT, analysis.SPRTAlpha, posInf},
		{analysis.KindSPRT, analysis.SPRTBeta, nan}, {analysis.KindSPRT, analysis.SPRTBeta, 2},
		{analysis.KindSPRT, analysis.ParamWeight, -1}, {analysis.KindSPRT, "unknown-param", 1},
		{analysis.KindMannWhitney, analysis.MWConfidence, nan}, {analysis.KindMannWhitney, analysis.MWConfidence, 1}, {analysis.KindMannWhitney, analysis.MWConfidence, -1},
		{analysis.KindMannWhitney, analysis.MWWindow, -60}, {analysis.KindMannWhitney, analysis.MWStep, 0}, {analysis.KindMannWhitney, analysis.MWStep, nan},
		{analysis.KindMannWhitney, analysis.ParamWeight, nan}, {analysis.KindMannWhitney, "confidenc", 0.95},
	} {
		ev(fmt.Sprintf("judge-%s-%s=%g", p.kind, p.param, p.v), "checks[1].judge.params."+p.param, judge(p.kind, map[string]float64{p.param: p.v}))
	}
	out = append(out,
		bad{entry: "analysis.NewEngine", name: "no-sources", field: "Sources", run: func(context.Context) error {
			_, err := analysis.NewEngine(analysis.Options{})
			return err
		}},
		bad{entry: "analysis.NewEngine", name: "nil-judge", field: "Judges", run: func(context.Context) error {
			_, err := analysis.NewEngine(analysis.Options{Sources: func(string) (progressive.MetricSource, error) { return nil, nil }, Judges: map[string]analysis.Judge{"x": nil}})
			return err
		}},
	)
	return out
}

var goodVars = analysis.Vars{Namespace: "production", Service: "payment-service", CanaryVersion: "v2.0.0", StableVersion: "v1.5.0"}

func errorCheck2() progressive.Check {
	return progressive.Check{Name: "latency", Query: "latency_p95", Max: progressive.Float(500)}
}
