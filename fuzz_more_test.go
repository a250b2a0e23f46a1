package progressive_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/agentops/progressive"
)

// FuzzPlanDecodeRoundTrip: a plan decoded from any JSON either fails to decode
// with an error wrapping ErrInvalid, or Validate answers without panicking; a plan
// that validates marshals, decodes back equal and validates again.
// (FuzzPlanValidate checks the verdict only; this one checks the value.)
func FuzzPlanDecodeRoundTrip(f *testing.F) {
	seed, _ := json.Marshal(validPlan())
	f.Add(seed)
	f.Add([]byte(`{"name":"p","target":{"name":"s"},"steps":[{"setFlag":{"flag":{"key":"k"},"variation":"on","fallback":"off","percent":100}}]}`))
	f.Add([]byte(`{"name":"p","target":{"name":"s"},"checks":[],"hooks":[],"steps":[{"finalize":{}}],"traffic":{"requestsPerSecond":0}}`))
	f.Add([]byte(`{"name":"p","target":{"name":"s"},"steps":[{"hook":{"hook":{"name":"h","metadata":{}}}}]}`))
	f.Add([]byte(`{"name":"p","steps":[{"analyze":{"duration":1,"checks":[{"name":"e","query":"q","max":1,"judge":{"kind":"k","params":{}}}]}}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var p progressive.Plan
		if err := json.Unmarshal(data, &p); err != nil {
			// encoding/json reports syntax errors before UnmarshalJSON runs;
			// every other error must be a configuration error.
			var se *json.SyntaxError
			if !progressive.IsInvalid(err) && !errors.As(err, &se) {
				t.Fatalf("decode error neither invalid nor syntax: %v", err)
			}
			return
		}
		if p.Validate() != nil {
			return
		}
		b1, err := json.Marshal(p)
		if err != nil {
			t.Fatalf("a valid plan does not marshal: %v", err)
		}
		var back progressive.Plan
		if err := json.Unmarshal(b1, &back); err != nil {
			t.Fatalf("what we write does not read back: %v\n%s", err, b1)
		}
		if err := back.Validate(); err != nil {
			t.Fatalf("a valid plan is invalid after a round trip: %v\n%s", err, b1)
		}
		b2, _ := json.Marshal(back)
		if !bytes.Equal(b1, b2) {
			t.Fatalf("the round trip changed the plan:\n%s\n%s", b1, b2)
		}
		var again progressive.Plan
		_ = json.Unmarshal(b2, &again)
		if !reflect.DeepEqual(back, again) {
			t.Fatalf("decoding the same bytes twice gave different plans:\n%#v\n%#v", back, again)
		}
	})
}

// FuzzCheckDecode: the same for a check on its own.
func FuzzCheckDecode(f *testing.F) {
	seed, _ := json.Marshal(errorCheck())
	f.Add(seed)
	f.Add([]byte(`{"name":"e","query":"q","min":-1e308,"max":1e308,"baseline":{"mode":"ratio"},"samples":{"query":"s","min":101}}`))
	f.Add([]byte(`{"name":"e","query":"q","judge":{"kind":"sprt","params":{"alpha":0.05}},"severity":"warn","noData":"fail"}`))
	f.Add([]byte(`{"name":"e","query":"q","max":1,"interval":100000000,"window":-1,"warmUp":-5}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var c progressive.Check
		if json.Unmarshal(data, &c) != nil {
			return
		}
		if c.Validate() != nil {
			return
		}
		if c.Max != nil && (math.IsNaN(*c.Max) || math.IsInf(*c.Max, 0)) {
			t.Fatalf("a check with max %v validates", *c.Max)
		}
		if c.Judge == nil && c.Min == nil && c.Max == nil {
			t.Fatal("a check without a bound validates")
		}
		b, err := json.Marshal(c)
		if err != nil {
			t.Fatalf("a valid check does not marshal: %v", err)
		}
		var back progressive.Check
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("what we write does not read back: %v\n%s", err, b)
		}
		b2, _ := json.Marshal(back)
		if !bytes.Equal(b, b2) || back.Validate() != nil {
			t.Fatalf("the round trip changed the check:\n%s\n%s", b, b2)
		}
	})
}

// FuzzRoutesValidate: routes that validate can be written as they are: weights in
// range summing to 100, a mirror share in range, matches whose names are HTTP
// tokens, whose values carry no control character and whose regexes compile.
func FuzzRoutesValidate(f *testing.F) {
	f.Add(90.0, 10.0, 0.0, "header", "x-version", "green", false)
	f.Add(100.0, 0.0, 100.0, "cookie", "beta", "^(a|b)$", true)
	f.Add(math.NaN(), math.Inf(1), -0.0, "query", "x user", "a\nb", true)
	f.Add(50.0000001, 49.9999999, 1e-300, "header", "x-ünï", "(", true)
	f.Fuzz(func(t *testing.T, stable, canary, mirror float64, kind, name, value string, regex bool) {
		r := progressive.Routes{StableWeight: stable, CanaryWeight: canary, MirrorPercent: mirror}
		if kind != "" {
			r.Matches = []progressive.Match{{Kind: progressive.MatchKind(kind), Name: name, Value: value, Regex: regex}}
		}
		if err := r.Validate(); err != nil {
			if !progressive.IsInvalid(err) {
				t.Fatalf("not ErrInvalid: %v", err)
			}
			return
		}
		for _, w := range []float64{stable, canary, mirror} {
			if !(w >= 0 && w <= 100) {
				t.Fatalf("weight %v validates", w)
			}
		}
		if math.Abs(stable+canary-100) > 1e-6 {
			t.Fatalf("weights %v + %v validate", stable, canary)
		}
		for _, m := range r.Matches {
			if strings.ContainsAny(m.Name, " :\r\n\t\x00") || strings.ContainsFunc(m.Value, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
				t.Fatalf("match %+v validates", m)
			}
			if m.Regex {
				if _, err := regexp.Compile(m.Value); err != nil {
					t.Fatalf("regex %q validates: %v", m.Value, err)
				}
			}
		}
	})
}
