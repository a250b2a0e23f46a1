package document

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"reflect"
	"slices"
	"strings"
)

// The JSON Schema of rollout documents is generated from the Go types of this
// package, so that editors and CI check documents by the same rules Decode
// applies (unknown fields refused, durations as strings, exactly one strategy).
// Regenerate it after changing a type:
//
//go:generate go test -run ^TestSchemaUpToDate$ . -args -update

//go:embed schema/rollout.schema.json
var schemaJSON []byte

// SchemaID is the $id of the rollout document schema.
const SchemaID = "https://progressive.agentops.dev/schemas/v1alpha1/rollout.schema.json"

// Schema returns the JSON Schema (draft 2020-12) of rollout documents, as
// checked in at rollout/document/schema/rollout.schema.json.
func Schema() []byte { return bytes.Clone(schemaJSON) }

// durationPattern is time.ParseDuration's grammar: a sign, then one or more
// decimal numbers each with its unit, or a bare 0.
const durationPattern = `^([-+]?0|[-+]?(([0-9]+(\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h))+)$`

// exactlyOne lists the types whose members are alternatives: a document sets
// one of them.
var exactlyOne = []reflect.Type{reflect.TypeFor[Strategy](), reflect.TypeFor[Judge](), reflect.TypeFor[ValueFrom]()}

// schemaGen builds the schema of the types reachable from Rollout. comments
// maps "Type" and "Type.Field" to their Go doc comments, for descriptions.
type schemaGen struct {
	comments map[string]string
	defs     map[string]any
}

// generateSchema returns the schema text for the Go types, indented, keys sorted.
func generateSchema(comments map[string]string) ([]byte, error) {
	g := schemaGen{comments: comments, defs: map[string]any{}}
	root := g.ref(reflect.TypeFor[Rollout]())
	doc := map[string]any{
		"$schema":     "https://json-schema.org/draft/2020-12/schema",
		"$id":         SchemaID,
		"title":       "progressive Rollout " + APIVersion,
		"description": "A rollout document of github.com/agentops/progressive (package rollout/document).",
		"$ref":        root["$ref"],
		"$defs":       g.defs,
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// ref returns a $ref to the definition of struct type t, defining it first.
func (g *schemaGen) ref(t reflect.Type) map[string]any {
	name := t.Name()
	if _, ok := g.defs[name]; !ok {
		g.defs[name] = nil // reserves the name: recursion stops here
		g.defs[name] = g.object(t)
	}
	return map[string]any{"$ref": "#/$defs/" + name}
}

func (g *schemaGen) object(t reflect.Type) map[string]any {
	props := map[string]any{}
	var required []string
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
			if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
				walk(f.Type)
				continue
			}
			if name == "" || name == "-" {
				continue
			}
			s := g.schema(f.Type)
			if slices.Contains(exactlyOne, t) && f.Type.Kind() == reflect.Pointer && f.Type.Elem().Kind() == reflect.Struct {
				// A member left empty ("canary:") is chosen with its defaults.
				s = map[string]any{"anyOf": []any{s, map[string]any{"type": "null"}}}
			}
			if enum := f.Tag.Get("enum"); enum != "" {
				s["enum"] = strings.Split(enum, ",")
			}
			if c := g.comments[t.Name()+"."+f.Name]; c != "" {
				s["description"] = c
			}
			props[name] = s
			if !slices.Contains(strings.Split(opts, ","), "omitempty") && !slices.Contains(strings.Split(opts, ","), "omitzero") {
				required = append(required, name)
			}
		}
	}
	walk(t)
	o := map[string]any{"type": "object", "properties": props, "additionalProperties": false}
	if len(required) > 0 {
		o["required"] = required
	}
	if c := g.comments[t.Name()]; c != "" {
		o["description"] = c
	}
	if slices.Contains(exactlyOne, t) {
		o["minProperties"], o["maxProperties"] = 1, 1
	}
	if t == reflect.TypeFor[Hook]() {
		// url or urlFrom, not both.
		o["not"] = map[string]any{"required": []string{"url", "urlFrom"}}
	}
	return o
}

func (g *schemaGen) schema(t reflect.Type) map[string]any {
	if t == durationType {
		return map[string]any{"type": "string", "pattern": durationPattern}
	}
	switch t.Kind() {
	case reflect.Pointer:
		return g.schema(t.Elem())
	case reflect.Struct:
		return g.ref(t)
	case reflect.Slice:
		return map[string]any{"type": "array", "items": g.schema(t.Elem())}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": g.schema(t.Elem())}
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int:
		return map[string]any{"type": "integer", "minimum": -2147483648, "maximum": 2147483647}
	case reflect.Float64:
		return map[string]any{"type": "number"}
	}
	return map[string]any{}
}
