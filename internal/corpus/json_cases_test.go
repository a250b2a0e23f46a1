package corpus_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"

	"github.com/agentops/progressive"
)

// jsonCases: plans and checks are decoded strictly, so a misspelled field is an
// error naming it, never a threshold that silently vanished.
func jsonCases() []bad {
	// docs keeps each case's document, syntax the names of the cases that are
	// syntax errors: json.Unmarshal cannot make those wrap ErrInvalid.
	docs := map[string]string{}
	syntax := map[string]bool{"trailing-data": true, "truncated": true, "max-NaN-literal": true, "deeply-nested": true}
	plan := func(name, field, doc string) bad {
		docs["json.Unmarshal(Plan)/"+name] = doc
		return bad{entry: "json.Unmarshal(Plan)", name: name, field: field, run: func(context.Context) error {
			var p progressive.Plan
			return json.Unmarshal([]byte(doc), &p)
		}}
	}
	check := func(name, field, doc string) bad {
		docs["json.Unmarshal(Check)/"+name] = doc
		return bad{entry: "json.Unmarshal(Check)", name: name, field: field, run: func(context.Context) error {
			var c progressive.Check
			return json.Unmarshal([]byte(doc), &c)
		}}
	}
	decodePlan := func(name, field, doc string) bad {
		return bad{entry: "progressive.DecodePlan", name: name, field: field, run: func(context.Context) error {
			_, err := progressive.DecodePlan([]byte(doc))
			return err
		}}
	}
	decodeCheck := func(name, field, doc string) bad {
		return bad{entry: "progressive.DecodeCheck", name: name, field: field, run: func(context.Context) error {
			_, err := progressive.DecodeCheck([]byte(doc))
			return err
		}}
	}
	// decodeValidate decodes a plan that is well-formed JSON and must then fail
	// Validate at field.
	decodeValidate := func(name, field, doc string) bad {
		return bad{entry: "json.Unmarshal(Plan)+Validate", name: name, field: field, run: func(context.Context) error {
			var p progressive.Plan
			if err := json.Unmarshal([]byte(doc), &p); err != nil {
				return err
			}
			return p.Validate()
		}}
	}
	const okCheck = `{"name":"e","query":"q","max":1}`
	const head = `{"name":"p","target":{"name":"svc"},"release":{"version":"v2"},`
	out := []bad{
		plan("unknown-top", `unknown field "stepz"`, `{"name":"p","stepz":[]}`),
		plan("unknown-misspelled-checks", `unknown field "check"`, head+`"check":[`+okCheck+`],"steps":[]}`),
		plan("unknown-in-target", `unknown field "namespaces"`, `{"name":"p","target":{"name":"s","namespaces":"x"}}`),
		plan("unknown-in-release", `unknown field "tag"`, `{"name":"p","release":{"version":"v2","tag":"x"}}`),
		plan("unknown-in-step", `unknown field "setWeigth"`, `{"name":"p","steps":[{"setWeigth":{"weight":10}}]}`),
		plan("unknown-in-setWeight", `unknown field "percent"`, `{"name":"p","steps":[{"setWeight":{"percent":10}}]}`),
		plan("unknown-in-analyze", `unknown field "check"`, `{"name":"p","steps":[{"analyze":{"duration":1,"check":[]}}]}`),
		plan("unknown-in-step-check", `unknown field "failureLimt"`, `{"name":"p","steps":[{"analyze":{"duration":1,"checks":[{"name":"e","query":"q","max":1,"failureLimt":3}]}}]}`),
		plan("unknown-in-plan-check", `unknown field "maximum"`, `{"name":"p","checks":[{"name":"e","query":"q","maximum":1}]}`),
		plan("unknown-in-baseline", `unknown field "kind"`, `{"name":"p","checks":[{"name":"e","query":"q","max":1,"baseline":{"kind":"ratio"}}]}`),
		plan("unknown-in-samples", `unknown field "minimum"`, `{"name":"p","checks":[{"name":"e","query":"q","max":1,"samples":{"query":"q","minimum":100}}]}`),
		plan("unknown-in-judge", `unknown field "parameters"`, `{"name":"p","checks":[{"name":"e","query":"q","judge":{"kind":"mann-whitney","parameters":{}}}]}`),
		plan("unknown-in-hook", `unknown field "uri"`, `{"name":"p","hooks":[{"name":"h","uri":"https://x"}]}`),
		plan("unknown-in-routes", `unknown field "mirror"`, `{"name":"p","steps":[{"setRoutes":{"routes":{"stableWeight":100,"mirror":5}}}]}`),
		plan("unknown-in-match", `unknown field "header"`, `{"name":"p","steps":[{"setRoutes":{"routes":{"stableWeight":100,"matches":[{"header":"x"}]}}}]}`),
		plan("unknown-in-flag", `unknown field "flagKey"`, `{"name":"p","steps":[{"setFlag":{"flag":{"flagKey":"k"}}}]}`),
		plan("unknown-in-roll", `unknown field "surge"`, `{"name":"p","steps":[{"roll":{"updated":1,"params":{"surge":1}}}]}`),
		plan("unknown-in-providers", `unknown field "metric"`, `{"name":"p","providers":{"metric":"prom"}}`),
		plan("unknown-in-traffic", `unknown field "rps"`, `{"name":"p","traffic":{"rps":5}}`),
		// encoding/json matches keys case-insensitively ("Steps" fills steps), so a
		// case variant is not lost; a duplicate key overrides, and Validate sees
		// the result (see decodeValidate "duplicate-key-drops-max" below).
		plan("trailing-data", "after top-level value", `{"name":"p"} {"name":"q"}`),
		plan("type-name-number", "name", `{"name":1}`),
		plan("type-steps-object", "steps", `{"name":"p","steps":{}}`),
		plan("type-weight-string", "weight", `{"name":"p","steps":[{"setWeight":{"weight":"10"}}]}`),
		plan("type-weight-NaN-string", "weight", `{"name":"p","steps":[{"setWeight":{"weight":"NaN"}}]}`),
		plan("weight-overflow", "weight", `{"name":"p","steps":[{"setWeight":{"weight":1e400}}]}`),
		plan("duration-not-a-duration", "duration", `{"name":"p","steps":[{"pause":{"duration":"soon"}}]}`),
		plan("duration-overflow", "duration", `{"name":"p","steps":[{"pause":{"duration":99999999999999999999}}]}`),
		plan("duration-float", "duration", `{"name":"p","steps":[{"pause":{"duration":1.5}}]}`),
		plan("replicas-float", "replicas", `{"name":"p","steps":[{"deploy":{"replicas":1.5}}]}`),
		plan("replicas-overflow", "replicas", `{"name":"p","steps":[{"deploy":{"replicas":1e30}}]}`),
		plan("bool-as-string", "regex", `{"name":"p","steps":[{"setRoutes":{"routes":{"stableWeight":100,"matches":[{"kind":"header","name":"x","value":"1","regex":"true"}]}}}]}`),
		plan("metadata-not-strings", "metadata", `{"name":"p","hooks":[{"name":"h","metadata":{"a":1}}]}`),
		plan("params-not-numbers", "params", `{"name":"p","checks":[{"name":"e","query":"q","judge":{"kind":"k","params":{"a":"x"}}}]}`),
		plan("not-an-object", "plan:", `[]`),
		plan("truncated", "unexpected end", `{"name":"p","steps":[`),
		plan("invalid-utf8-key", `unknown field`, "{\"n\xffame\":\"p\"}"),
		check("unknown-maximum", `unknown field "maximum"`, `{"name":"e","query":"q","maximum":1}`),
		check("unknown-threshold", `unknown field "threshold"`, `{"name":"e","query":"q","threshold":1}`),
		check("unknown-failure-limit-snake", `unknown field "failure_limit"`, `{"name":"e","query":"q","max":1,"failure_limit":3}`),
		check("unknown-severity-typo", `unknown field "severtiy"`, `{"name":"e","query":"q","max":1,"severtiy":"warn"}`),
		check("unknown-nested", `unknown field "ratio"`, `{"name":"e","query":"q","max":1,"baseline":{"mode":"ratio","ratio":2}}`),
		check("max-string", "max", `{"name":"e","query":"q","max":"1"}`),
		check("max-NaN-literal", "invalid character", `{"name":"e","query":"q","max":NaN}`),
		check("max-overflow", "max", `{"name":"e","query":"q","max":-1e999}`),
		check("interval-not-a-duration", "interval", `{"name":"e","query":"q","max":1,"interval":"1 minute"}`),
		check("failureLimit-overflow", "failureLimit", `{"name":"e","query":"q","max":1,"failureLimit":99999999999999999999}`),
		check("null-array", "check:", `[null]`),
		check("deeply-nested", "exceeded max depth", strings.Repeat("[", 20000)+strings.Repeat("]", 20000)),
	}
	// encoding/json checks the syntax before it calls UnmarshalJSON: a syntax
	// error never reaches the strict decoder and does not wrap ErrInvalid, so
	// configuration is read with DecodePlan and DecodeCheck, which wrap every
	// error. Every document above goes through them too; the syntax errors
	// only through them.
	var decoded []bad
	for _, c := range out {
		d := c
		doc := docs[c.entry+"/"+c.name]
		switch c.entry {
		case "json.Unmarshal(Plan)":
			d.entry = "progressive.DecodePlan"
			d.run = func(context.Context) error { _, err := progressive.DecodePlan([]byte(doc)); return err }
		case "json.Unmarshal(Check)":
			d.entry = "progressive.DecodeCheck"
			d.run = func(context.Context) error { _, err := progressive.DecodeCheck([]byte(doc)); return err }
		}
		decoded = append(decoded, d)
	}
	out = slices.DeleteFunc(out, func(c bad) bool { return syntax[c.name] })
	out = append(out, decoded...)
	out = append(out,
		decodePlan("empty", "empty document", ""),
		decodePlan("null", "null", " null\n"),
		decodePlan("trailing-brace", "after top-level value", `{"name":"p"}}`),
		decodePlan("trailing-garbage", "after top-level value", `{"name":"p"} x`),
		decodeCheck("trailing-array", "after top-level value", okCheck+`[]`),
		decodeCheck("empty", "empty document", "  "),
		decodeCheck("truncated-string", "unexpected end", `{"name":"e`),
	)
	out = append(out,
		decodeValidate("duplicate-key-drops-max", "checks[0].max", head+`"checks":[{"name":"e","query":"q","max":1,"max":null}],"steps":[{"pause":{"duration":1000000000}}]}`),
		decodeValidate("case-variant-key-drops-max", "checks[0].max", head+`"checks":[{"name":"e","query":"q","max":1,"MAX":null}],"steps":[{"pause":{"duration":1000000000}}]}`),
		decodeValidate("null-max", "checks[0].max", head+`"checks":[{"name":"e","query":"q","max":null}],"steps":[{"pause":{"duration":1000000000}}]}`),
		decodeValidate("negative-interval", "checks[0].interval", head+`"checks":[`+`{"name":"e","query":"q","max":1,"interval":-1}`+`],"steps":[{"pause":{"duration":1000000000}}]}`),
		decodeValidate("huge-weight", "steps[0].setWeight.weight", head+`"steps":[{"setWeight":{"weight":1e308}}]}`),
		decodeValidate("negative-weight", "steps[0].setWeight.weight", head+`"steps":[{"setWeight":{"weight":-0.0001}}]}`),
		decodeValidate("two-actions", "steps[0]", head+`"steps":[{"pause":{"duration":1},"finalize":{}}]}`),
		decodeValidate("empty-step", "steps[0]", head+`"steps":[{}]}`),
		decodeValidate("null-step", "steps[0]", head+`"steps":[null]}`),
		decodeValidate("injection-version", "release.version", `{"name":"p","target":{"name":"svc"},"release":{"version":"v2\"} or vector(1) #"},"steps":[{"finalize":{}}]}`),
		decodeValidate("unicode-escape-name", "name", `{"name":"p\u0000","target":{"name":"svc"},"steps":[{"finalize":{}}]}`),
		decodeValidate("CRLF-target", "target.name", `{"name":"p","target":{"name":"svc\r\n"},"steps":[{"finalize":{}}]}`),
		decodeValidate("hook-secret", "hooks[0].url", `{"name":"p","target":{"name":"svc"},"hooks":[{"name":"h","phase":"pre-rollout","url":"ftp://u:`+secretPassword+`@h/`+secretPath+`"}],"steps":[{"finalize":{}}]}`),
	)
	out[len(out)-1].secrets = []string{secretPassword, secretPath}
	return out
}
