package analysis

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/agentops/progressive/analysis/stats"
)

// The SPRT judge's state is written and read at every tick of every analysis (and,
// in the decision benchmark, millions of times), so it has a hand-written JSON form:
// one flat object of numbers, strings and booleans, readable in a state store:
//
//	{"through":"2026-01-05T00:07:00Z","samples":7,"alpha":0.002,"beta":0.05,
//	 "minRatio":2,"oneSided":true,"llr":-1.25,"ticks":7,"canaryErrors":21,
//	 "canaryRequests":4200,"baselineErrors":190,"baselineRequests":37800,
//	 "decision":"continue","decidedAt":0,"fastRatio":5,"fastLLR":-3.5,
//	 "fastDecision":"continue","fastDecidedAt":0}
//
// The fast* keys are present only with a second test. Both tests share the counts.

// MarshalJSON writes the flat form.
func (st sprtState) MarshalJSON() ([]byte, error) {
	t := st.Test
	b := make([]byte, 0, 420)
	b = append(b, `{"through":`...)
	b = strconv.AppendQuote(b, st.Through.Format(time.RFC3339Nano))
	b = appendInt(b, "samples", int64(st.Samples))
	b = appendFloat(b, "alpha", t.Config.Alpha)
	b = appendFloat(b, "beta", t.Config.Beta)
	b = appendFloat(b, "minRatio", t.Config.MinRelativeIncrease)
	b = append(b, `,"oneSided":`...)
	b = strconv.AppendBool(b, t.Config.OneSided)
	b = appendFloat(b, "llr", t.LLR)
	b = appendInt(b, "ticks", t.Ticks)
	b = appendInt(b, "canaryErrors", t.CanaryErrors)
	b = appendInt(b, "canaryRequests", t.CanaryTotal)
	b = appendInt(b, "baselineErrors", t.BaselineErrors)
	b = appendInt(b, "baselineRequests", t.BaselineTotal)
	b = append(b, `,"decision":`...)
	b = strconv.AppendQuote(b, t.Decision.String())
	b = appendInt(b, "decidedAt", t.DecidedAtTick)
	if f := st.Fast; f != nil {
		b = appendFloat(b, "fastRatio", f.Config.MinRelativeIncrease)
		b = appendFloat(b, "fastLLR", f.LLR)
		b = append(b, `,"fastDecision":`...)
		b = strconv.AppendQuote(b, f.Decision.String())
		b = appendInt(b, "fastDecidedAt", f.DecidedAtTick)
	}
	for _, v := range []float64{t.Config.Alpha, t.Config.Beta, t.Config.MinRelativeIncrease, t.LLR} {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("sprt state: non-finite number %v", v)
		}
	}
	return append(b, '}'), nil
}

func appendFloat(b []byte, key string, v float64) []byte {
	b = append(b, ',', '"')
	b = append(b, key...)
	b = append(b, '"', ':')
	return strconv.AppendFloat(b, v, 'g', -1, 64)
}

func appendInt(b []byte, key string, v int64) []byte {
	b = append(b, ',', '"')
	b = append(b, key...)
	b = append(b, '"', ':')
	return strconv.AppendInt(b, v, 10)
}

// UnmarshalJSON reads the flat form. Unknown keys are ignored; a missing test
// parameter or a malformed value is an error.
func (st *sprtState) UnmarshalJSON(data []byte) error {
	fields, err := flatObject(data)
	if err != nil {
		return fmt.Errorf("sprt state: %w", err)
	}
	var p flatReader
	p.fields = fields
	var out sprtState
	if s := p.str("through"); s != "" {
		if out.Through, err = time.Parse(time.RFC3339Nano, s); err != nil {
			return fmt.Errorf("sprt state: through: %w", err)
		}
	}
	out.Samples = int(p.integer("samples"))
	cfg := stats.RateSPRTConfig{Alpha: p.num("alpha"), Beta: p.num("beta"), MinRelativeIncrease: p.num("minRatio"), OneSided: p.boolean("oneSided")}
	test := func(cfg stats.RateSPRTConfig, llr float64, decision string, decidedAt int64) stats.RateSPRT {
		t := stats.RateSPRT{Config: cfg, LLR: llr, Ticks: p.integer("ticks"), DecidedAtTick: decidedAt,
			CanaryErrors: p.integer("canaryErrors"), CanaryTotal: p.integer("canaryRequests"),
			BaselineErrors: p.integer("baselineErrors"), BaselineTotal: p.integer("baselineRequests")}
		t.LowerBound, t.UpperBound = cfg.Bounds()
		if err := t.Decision.UnmarshalText([]byte(decision)); err != nil && p.err == nil {
			p.err = err
		}
		return t
	}
	out.Test = test(cfg, p.num("llr"), p.str("decision"), p.integer("decidedAt"))
	if _, ok := fields["fastRatio"]; ok {
		fcfg := stats.RateSPRTConfig{Alpha: cfg.Alpha, MinRelativeIncrease: p.num("fastRatio"), OneSided: true}
		f := test(fcfg, p.num("fastLLR"), p.str("fastDecision"), p.integer("fastDecidedAt"))
		out.Fast = &f
	}
	if p.err != nil {
		return fmt.Errorf("sprt state: %w", p.err)
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("sprt state: %w", err)
	}
	*st = out
	return nil
}

// flatReader reads typed values of a flat object, keeping the first error.
type flatReader struct {
	fields map[string]string
	err    error
}

func (p *flatReader) raw(key string) (string, bool) {
	v, ok := p.fields[key]
	if !ok && p.err == nil {
		p.err = fmt.Errorf("missing %q", key)
	}
	return v, ok
}

func (p *flatReader) num(key string) float64 {
	v, ok := p.raw(key)
	if !ok {
		return 0
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil && p.err == nil {
		p.err = fmt.Errorf("%s: %q is not a number", key, v)
	}
	return f
}

func (p *flatReader) integer(key string) int64 {
	v, ok := p.raw(key)
	if !ok {
		return 0
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil && p.err == nil {
		p.err = fmt.Errorf("%s: %q is not a whole number", key, v)
	}
	return n
}

func (p *flatReader) boolean(key string) bool {
	v, ok := p.raw(key)
	if ok && v != "true" && v != "false" && p.err == nil {
		p.err = fmt.Errorf("%s: %q is not a boolean", key, v)
	}
	return v == "true"
}

func (p *flatReader) str(key string) string {
	v, ok := p.raw(key)
	if !ok {
		return ""
	}
	s, err := strconv.Unquote(v)
	if err != nil && p.err == nil {
		p.err = fmt.Errorf("%s: %s is not a string", key, v)
	}
	return s
}

// flatObject splits a JSON object whose values are numbers, strings, booleans or
// null into its keys and raw values (strings keep their quotes). Nested objects
// and arrays are an error.
func flatObject(data []byte) (map[string]string, error) {
	out := make(map[string]string, 20)
	i := skipSpace(data, 0)
	if i >= len(data) || data[i] != '{' {
		return nil, errors.New("not a JSON object")
	}
	i = skipSpace(data, i+1)
	if i < len(data) && data[i] == '}' {
		return out, trailing(data, i+1)
	}
	for {
		if i >= len(data) || data[i] != '"' {
			return nil, errors.New("expected a key")
		}
		end, err := stringEnd(data, i)
		if err != nil {
			return nil, err
		}
		key, err := strconv.Unquote(string(data[i:end]))
		if err != nil {
			return nil, fmt.Errorf("bad key %s", data[i:end])
		}
		i = skipSpace(data, end)
		if i >= len(data) || data[i] != ':' {
			return nil, fmt.Errorf("expected ':' after %q", key)
		}
		i = skipSpace(data, i+1)
		start := i
		if i < len(data) && data[i] == '"' {
			if i, err = stringEnd(data, i); err != nil {
				return nil, err
			}
		} else {
			for i < len(data) && data[i] != ',' && data[i] != '}' && !isSpace(data[i]) {
				if data[i] == '{' || data[i] == '[' {
					return nil, fmt.Errorf("%q: nested values are not expected", key)
				}
				i++
			}
		}
		if start == i {
			return nil, fmt.Errorf("%q: missing value", key)
		}
		out[key] = string(data[start:i])
		i = skipSpace(data, i)
		switch {
		case i < len(data) && data[i] == ',':
			i = skipSpace(data, i+1)
		case i < len(data) && data[i] == '}':
			return out, trailing(data, i+1)
		default:
			return nil, fmt.Errorf("after %q: expected ',' or '}'", key)
		}
	}
}

func stringEnd(data []byte, i int) (int, error) {
	for j := i + 1; j < len(data); j++ {
		switch data[j] {
		case '\\':
			j++
		case '"':
			return j + 1, nil
		}
	}
	return 0, errors.New("unterminated string")
}

func trailing(data []byte, i int) error {
	if skipSpace(data, i) != len(data) {
		return errors.New("data after the object")
	}
	return nil
}

func skipSpace(data []byte, i int) int {
	for i < len(data) && isSpace(data[i]) {
		i++
	}
	return i
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }
