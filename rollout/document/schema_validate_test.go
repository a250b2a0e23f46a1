package document

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

func compiledSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(Schema()))
	require.NoError(t, err)
	c := jsonschema.NewCompiler()
	require.NoError(t, c.AddResource(SchemaID, doc))
	s, err := c.Compile(SchemaID)
	require.NoError(t, err, "the checked-in schema is a valid draft 2020-12 schema")
	return s
}

// asJSONValue reads a YAML (or JSON) document as the value the validator takes.
func asJSONValue(t *testing.T, text string) any {
	t.Helper()
	var v any
	require.NoError(t, yaml.Unmarshal([]byte(text), &v))
	b, err := json.Marshal(v)
	require.NoError(t, err)
	out, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	require.NoError(t, err)
	return out
}

// accepted reports whether Decode and Validate both take the document.
func accepted(text string) (bool, error) {
	r, err := Decode([]byte(text))
	if err != nil {
		return false, err
	}
	if err := r.Validate(); err != nil {
		return false, err
	}
	return true, nil
}

// TestSchemaAgreesWithDecoder: the schema accepts the documents Decode and
// Validate accept, and refuses the mistakes they refuse that a schema can see
// (the shape of a document: fields, types, durations, alternatives), so an
// editor flags what the command line would.
func TestSchemaAgreesWithDecoder(t *testing.T) {
	s := compiledSchema(t)
	good := map[string]string{"canaryDoc": canaryDoc}
	files, err := filepath.Glob("../../examples/documents/*.yaml")
	require.NoError(t, err)
	require.Len(t, files, 4)
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		good[filepath.Base(f)] = string(b)
	}
	for _, name := range Patterns() {
		tpl, err := Pattern(name)
		require.NoError(t, err)
		values := map[string]string{"service": "api", "version": "v2", "replicas": "3", "flag": "f"}
		for k := range values { // each pattern asks for some of them
			if !slices.ContainsFunc(tpl.Parameters, func(q Parameter) bool { return q.Name == k }) {
				delete(values, k)
			}
		}
		r, err := tpl.Render(values)
		require.NoError(t, err)
		text, err := Marshal(r, YAML)
		require.NoError(t, err)
		good["pattern "+name] = string(text)
	}
	for name, text := range good {
		ok, err := accepted(text)
		require.True(t, ok, "%s: %v", name, err)
		assert.NoError(t, s.Validate(asJSONValue(t, text)), name)
	}

	bad := map[string]string{
		"unknown field":         strings.Replace(canaryDoc, "      max: 1\n", "      maximum: 1\n", 1),
		"duration without unit": strings.Replace(canaryDoc, "soak: 15m", "soak: 900", 1),
		"duration in words":     strings.Replace(canaryDoc, "soak: 15m", "soak: 15 minutes", 1),
		"two strategies":        strings.Replace(canaryDoc, "  strategy:\n", "  strategy:\n    mirror: {}\n", 1),
		"no strategy":           strings.Replace(canaryDoc, "    canary:\n      weights: [10, 50, 100]\n      soak: 15m\n      replicas: 2\n", "    {}\n", 1),
		"number as string":      strings.Replace(canaryDoc, "replicas: 2", `replicas: "2"`, 1),
		"version as number":     strings.Replace(canaryDoc, "version: v2.0.0", "version: 1.10", 1),
		"wrong apiVersion":      strings.Replace(canaryDoc, "v1alpha1", "v1", 1),
		"wrong kind":            strings.Replace(canaryDoc, "kind: Rollout", "kind: Canary", 1),
		"unknown severity":      strings.Replace(canaryDoc, "severity: warn", "severity: loud", 1),
		"no target name":        strings.Replace(canaryDoc, "    name: payment-service\n", "", 1),
		"no check query":        strings.Replace(canaryDoc, "      query: cpu\n", "", 1),
		"url and urlFrom":       canaryDoc + "  hooks:\n    - {name: h, phase: on-rollback, url: 'https://x.example', urlFrom: {env: X}}\n",
		"env and file":          canaryDoc + "  hooks:\n    - {name: h, phase: on-rollback, urlFrom: {env: X, file: y}}\n",
		"two judges":            strings.Replace(canaryDoc, "      max: 1\n", "      judge: {sprt: {}, mannWhitney: {}}\n", 1),
		"unknown judge param":   strings.Replace(canaryDoc, "      max: 1\n", "      judge: {sprt: {confidance: 0.9}}\n", 1),
		"replicas too large":    strings.Replace(canaryDoc, "replicas: 2", "replicas: 99999999999", 1),
	}
	for name, text := range bad {
		ok, derr := accepted(text)
		assert.False(t, ok, "%s: the decoder accepted it", name)
		serr := s.Validate(asJSONValue(t, text))
		assert.Error(t, serr, "%s: the schema accepted it (decoder: %v)", name, derr)
	}
}
