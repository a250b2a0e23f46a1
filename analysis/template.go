package analysis

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"text/template"
	"time"

	"github.com/agentops/progressive"
)

// Vars are the template variables of check queries that come from the rollout.
// The check itself adds {{.Interval}}, and the role adds {{.Version}} and {{.Role}}.
type Vars struct {
	Namespace     string
	Service       string
	CanaryVersion string
	StableVersion string
}

// knownVariables lists the variables a query template may use, for messages.
const knownVariables = ".Namespace, .Service, .Version, .Role, .Interval"

// Render renders the check's query template for one role. The template is a
// text/template that may use:
//
//	{{.Namespace}}  the rollout's namespace
//	{{.Service}}    the target service (the stable workload's name)
//	{{.Version}}    CanaryVersion for the canary role, StableVersion for stable
//	{{.Role}}       "canary" or "stable"
//	{{.Interval}}   the check's interval as a Prometheus duration (1m, 30s, 90m)
//
// Any other variable is an error (missingkey=error), which wraps
// progressive.ErrInvalid.
func Render(check progressive.Check, vars Vars, role progressive.Role) (string, error) {
	t, err := parseQuery(check)
	if err != nil {
		return "", err
	}
	return execute(t, check, vars, role)
}

func parseQuery(check progressive.Check) (*template.Template, error) {
	t, err := template.New(check.Name).Option("missingkey=error").Parse(check.Query)
	if err != nil {
		return nil, fmt.Errorf("check %q: query does not parse: %s: %w", check.Name, trimTemplateError(err), progressive.ErrInvalid)
	}
	if err := guardTemplate(t.Root); err != nil {
		return nil, fmt.Errorf("check %q: %w: %w", check.Name, err, progressive.ErrInvalid)
	}
	return t, nil
}

func execute(t *template.Template, check progressive.Check, vars Vars, role progressive.Role) (string, error) {
	data, err := templateData(check, vars, role)
	if err != nil {
		return "", err
	}
	var b boundedWriter
	if err := t.Execute(&b, data); err != nil {
		return "", fmt.Errorf("check %q: query does not render: %s (known variables: %s): %w",
			check.Name, trimTemplateError(err), knownVariables, progressive.ErrInvalid)
	}
	return b.b.String(), nil
}

func templateData(check progressive.Check, vars Vars, role progressive.Role) (map[string]any, error) {
	var version string
	switch role {
	case progressive.Canary:
		version = vars.CanaryVersion
	case progressive.Stable:
		version = vars.StableVersion
	default:
		return nil, fmt.Errorf("check %q: role %q is neither %q nor %q: %w",
			check.Name, role, progressive.Canary, progressive.Stable, progressive.ErrInvalid)
	}
	// Values come from plans and releases and end up inside label matchers:
	// escaped, they can never close the matcher they stand in.
	return map[string]any{
		"Namespace": escapeQueryValue(vars.Namespace),
		"Service":   escapeQueryValue(vars.Service),
		"Version":   escapeQueryValue(version),
		"Role":      string(role),
		"Interval":  FormatDuration(check.WithDefaults().Interval),
	}, nil
}

// trimTemplateError drops the "template: name:" prefix text/template puts on its
// errors; the caller names the check itself.
func trimTemplateError(err error) string {
	s := err.Error()
	if rest, ok := strings.CutPrefix(s, "template: "); ok {
		s = rest
	}
	return s
}

// ValidateTemplates parses every check's query and renders it for both roles with
// sample variables, so that a template that does not parse or uses an unknown
// variable is reported before any traffic moves. The error is a
// *progressive.ValidationError whose problems name their field
// ("checks[1].query"); nil when every template is sound.
func ValidateTemplates(checks []progressive.Check) error {
	var p progressive.Problems
	for i, c := range checks {
		validateTemplate(&p, fmt.Sprintf("checks[%d].query", i), c)
		if c.Samples != nil && c.Samples.Query != "" {
			sc := progressive.Check{Name: c.Name, Query: c.Samples.Query, Interval: c.Interval}
			validateTemplate(&p, fmt.Sprintf("checks[%d].samples.query", i), sc)
		}
	}
	return p.Err()
}

func validateTemplate(p *progressive.Problems, field string, c progressive.Check) {
	t, err := template.New(c.Name).Option("missingkey=error").Parse(c.Query)
	if err != nil {
		p.Add(field, c.Query, "does not parse: %s", trimTemplateError(err))
		return
	}
	if err := guardTemplate(t.Root); err != nil {
		p.Add(field, c.Query, "%v", err)
		return
	}
	for _, role := range []progressive.Role{progressive.Canary, progressive.Stable} {
		data, _ := templateData(c, sampleVars(), role)
		var w boundedWriter
		if err := t.Execute(&w, data); err != nil {
			p.Add(field, c.Query, "does not render: %s (known variables: %s)", trimTemplateError(err), knownVariables)
			return
		}
	}
}

// FormatDuration writes d in the Prometheus duration syntax with a single unit:
// the largest of d, h, m, s and ms that divides it exactly (1m, 30s, 90m for
// 1h30m, 1d for 24h, 1500ms). A single unit is accepted by every PromQL version and
// by most other query languages. Prometheus has no unit below the millisecond, so
// a remainder below it is rounded up; zero and negative durations give "0s".
func FormatDuration(d time.Duration) string {
	if d <= 0 {
		return "0s"
	}
	ms := int64(d / time.Millisecond)
	if d%time.Millisecond != 0 {
		ms++
	}
	for _, u := range []struct {
		unit string
		ms   int64
	}{
		{"d", 24 * 60 * 60 * 1000},
		{"h", 60 * 60 * 1000},
		{"m", 60 * 1000},
		{"s", 1000},
	} {
		if ms%u.ms == 0 {
			return strconv.FormatInt(ms/u.ms, 10) + u.unit
		}
	}
	return strconv.FormatInt(ms, 10) + "ms"
}

// templateCache keeps parsed query templates of an Engine, keyed by check name and
// query text, so that a Tick does not parse them again. It is bounded: when full it
// starts over.
type templateCache struct {
	mu sync.Mutex
	m  map[[2]string]*template.Template
}

const templateCacheSize = 512

func (c *templateCache) render(check progressive.Check, vars Vars, role progressive.Role) (string, error) {
	key := [2]string{check.Name, check.Query}
	c.mu.Lock()
	t := c.m[key]
	c.mu.Unlock()
	if t == nil {
		var err error
		if t, err = parseQuery(check); err != nil {
			return "", err
		}
		c.mu.Lock()
		if c.m == nil || len(c.m) >= templateCacheSize {
			c.m = make(map[[2]string]*template.Template)
		}
		c.m[key] = t
		c.mu.Unlock()
	}
	return execute(t, check, vars, role)
}
