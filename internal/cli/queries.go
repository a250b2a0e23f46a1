package cli

import (
	"errors"
	"time"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/analysis"
)

// A document names what it measures (error_rate, latency_p95) and the
// configuration says how this environment measures it, the way Flagger's
// MetricTemplate and Argo Rollouts' AnalysisTemplate separate the two: the
// same document then runs against the simulator, whose series carry those
// names, and against Prometheus, whose queries are the templates here.

// validateQueries checks every named query as the analysis engine will
// render it, so that a template that does not parse or names an unknown
// variable is a configuration error, not a failed rollout.
func validateQueries(add func(string, any, string), queries map[string]string) {
	for _, name := range sortedKeys(queries) {
		q := queries[name]
		field := "queries." + name
		if name == "" {
			add("queries", "", "a query needs a name")
			continue
		}
		if q == "" {
			add(field, "", "must be a query template such as sum(rate(http_requests_total{service=\"{{.Service}}\"}[{{.Interval}}]))")
			continue
		}
		err := analysis.ValidateTemplates([]progressive.Check{{Name: name, Query: q, Interval: time.Minute}})
		var ve *progressive.ValidationError
		if errors.As(err, &ve) {
			for _, p := range ve.Problems {
				add(field, q, p.Reason)
			}
		} else if err != nil {
			add(field, q, err.Error())
		}
	}
}

// resolveQueries replaces each check query that names a configured query
// with its template; the engine renders it with the rollout's variables (and
// escapes them) as it would a template written in the document. A query that
// names nothing configured is the query itself.
func resolveQueries(plan *progressive.Plan, queries map[string]string) {
	if len(queries) == 0 {
		return
	}
	resolve := func(checks []progressive.Check) {
		for i := range checks {
			c := &checks[i]
			if q, ok := queries[c.Query]; ok {
				c.Query = q
			}
			if c.Samples != nil {
				if q, ok := queries[c.Samples.Query]; ok {
					s := *c.Samples
					s.Query = q
					c.Samples = &s
				}
			}
		}
	}
	resolve(plan.Checks)
	for _, st := range plan.Steps {
		if st.Analyze != nil {
			resolve(st.Analyze.Checks)
		}
	}
}
