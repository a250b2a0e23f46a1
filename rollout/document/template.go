package document

import (
	"bytes"
	"embed"
	"fmt"
	"io/fs"
	"math"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/agentops/progressive"
	"go.yaml.in/yaml/v3"
)

// Template is a rollout document with parameters: a team's way of rolling out,
// written once and rendered per service and release. Its text is
//
//	apiVersion: progressive.agentops.dev/v1alpha1
//	kind: RolloutTemplate
//	metadata: {name: staged-conservative, description: ...}
//	parameters:
//	  - {name: service, type: name, required: true}
//	  - {name: errorRateMax, type: number, default: "1"}
//	template:
//	  apiVersion: progressive.agentops.dev/v1alpha1
//	  kind: Rollout
//	  spec:
//	    target: {name: "${service}"}
//	    checks:
//	      - {name: error-rate, query: error_rate, max: "${errorRateMax}"}
//
// Render replaces ${name} in the values of the template's YAML tree, never in
// its text: a value is set on one node and cannot open a new field, list or
// document, whatever characters it holds. A value that is a whole ${name}
// takes the parameter's type (max: "${errorRateMax}" becomes the number 1);
// inside other text it is text. $${ writes a literal ${.
type Template struct {
	Metadata   TemplateMetadata
	Parameters []Parameter

	body *yaml.Node // the template's Rollout document
}

// TemplateMetadata names a template and says what it is for.
type TemplateMetadata struct {
	Name        string            `json:"name"`
	Description string            `json:"description,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
}

// ParamType says what a parameter's value must be.
type ParamType string

// The parameter types. Values are checked before they are set.
const (
	// ParamString is text without control characters, at most 4096 bytes.
	ParamString ParamType = "string"
	// ParamName is a DNS-1123 label: a service, namespace or container (or
	// empty, for an optional one left unset).
	ParamName ParamType = "name"
	// ParamVersion is a Kubernetes label value: a release version.
	ParamVersion ParamType = "version"
	// ParamImage is a container image reference, or empty.
	ParamImage ParamType = "image"
	// ParamNumber is a finite number.
	ParamNumber ParamType = "number"
	// ParamInteger is a whole number.
	ParamInteger ParamType = "integer"
	// ParamDuration is a duration such as 15m.
	ParamDuration ParamType = "duration"
	// ParamBoolean is true or false.
	ParamBoolean ParamType = "boolean"
)

var paramTypes = []ParamType{ParamString, ParamName, ParamVersion, ParamImage, ParamNumber, ParamInteger, ParamDuration, ParamBoolean}

// Parameter is one value a template asks for.
type Parameter struct {
	// Name is referred to as ${name}: a letter, then letters, digits, '_' or '-'.
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	// Type defaults to string.
	Type ParamType `json:"type,omitempty" enum:"string,name,version,image,number,integer,duration,boolean"`
	// Required parameters have no default: Render refuses to go without them.
	Required bool `json:"required,omitempty"`
	// Default is used when Render is given no value; it is checked like one.
	Default *string `json:"default,omitempty"`
	// Enum, when set, lists the values allowed.
	Enum []string `json:"enum,omitempty"`
}

// templateFile is the text form of a Template, for decoding its header.
type templateFile struct {
	APIVersion string           `json:"apiVersion"`
	Kind       string           `json:"kind"`
	Metadata   TemplateMetadata `json:"metadata"`
	Parameters []Parameter      `json:"parameters,omitempty"`
}

var paramName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]{0,62}$`)

// reference finds ${name} (and $${ escapes) in a value.
var reference = regexp.MustCompile(`\$\$\{|\$\{([^}]*)\}`)

// DecodeTemplate reads a template strictly, like Decode: every problem of its
// header and parameters at once, and every ${...} of its body that names no
// parameter. The body itself is checked when it is rendered.
func DecodeTemplate(data []byte) (*Template, error) {
	root, err := parse(data)
	if err != nil {
		return nil, err
	}
	d := newDecoder()
	var head templateFile
	var body *yaml.Node
	for i := 0; i+1 < len(root.Content); i += 2 {
		if k := root.Content[i]; k.Kind == yaml.ScalarNode && k.Value == "template" {
			body = root.Content[i+1]
			d.pos["template"] = nodePosition(k)
		}
	}
	headNode := &yaml.Node{Kind: yaml.MappingNode, Line: root.Line, Column: root.Column}
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value != "template" {
			headNode.Content = append(headNode.Content, root.Content[i], root.Content[i+1])
		}
	}
	d.value(headNode, settable(&head), "")
	d.header(root, head.APIVersion, head.Kind, KindTemplate)
	t := &Template{Metadata: head.Metadata, Parameters: head.Parameters, body: body}
	t.check(&d.ps, d)
	if body == nil {
		d.ps.add(nodePosition(root), "template", nil, "is missing: a template needs the Rollout document it renders")
	} else if body.Kind != yaml.MappingNode {
		d.ps.add(nodePosition(body), "template", nil, "must be a mapping: the Rollout document it renders")
	}
	if err := d.ps.err(); err != nil {
		return nil, err
	}
	return t, nil
}

// check validates the parameters and the references of the body.
func (t *Template) check(ps *problems, d *decoder) {
	at := func(p string) Position {
		for ; p != ""; p = parent(p) {
			if pos, ok := d.pos[p]; ok {
				return pos
			}
		}
		return Position{}
	}
	if t.Metadata.Name == "" {
		ps.add(at("metadata"), "metadata.name", nil, "must not be empty")
	}
	seen := map[string]bool{}
	for i, p := range t.Parameters {
		f := fmt.Sprintf("parameters[%d]", i)
		switch {
		case !paramName.MatchString(p.Name):
			ps.add(at(f+".name"), f+".name", emptyNil(p.Name), "must be a letter followed by letters, digits, '_' or '-' (at most 63)")
		case seen[p.Name]:
			ps.add(at(f+".name"), f+".name", p.Name, "is declared twice")
		}
		seen[p.Name] = true
		if p.Type != "" && !slices.Contains(paramTypes, p.Type) {
			ps.add(at(f+".type"), f+".type", string(p.Type), "must be one of %v", paramTypes)
			continue
		}
		if p.Required && p.Default != nil {
			ps.add(at(f+".default"), f+".default", *p.Default, "a required parameter has no default")
		}
		for j, e := range p.Enum {
			if err := p.check(e, false); err != "" {
				ps.add(at(fmt.Sprintf("%s.enum[%d]", f, j)), fmt.Sprintf("%s.enum[%d]", f, j), e, "%s", err)
			}
		}
		if p.Default != nil {
			if err := p.check(*p.Default, false); err != "" {
				ps.add(at(f+".default"), f+".default", *p.Default, "%s", err)
			}
		}
	}
	if t.body != nil {
		walkScalars(t.body, func(n *yaml.Node) {
			for _, m := range reference.FindAllStringSubmatch(n.Value, -1) {
				if m[0] == "$${" {
					continue
				}
				if !seen[m[1]] {
					ps.add(nodePosition(n), "template", m[0], "names no declared parameter")
				}
			}
		})
	}
}

// check returns why value is not a value of p, or "". With enum set, value
// must also be one of p.Enum.
func (p Parameter) check(value string, enum bool) string {
	if enum && len(p.Enum) > 0 && !slices.Contains(p.Enum, value) {
		return fmt.Sprintf("must be one of %s", strings.Join(p.Enum, ", "))
	}
	switch p.Type {
	case ParamName:
		if value != "" && (progressive.Target{Name: value}).Validate() != nil {
			return "must be a DNS-1123 label (lower-case letters, digits and '-', at most 63)"
		}
	case ParamVersion:
		if value == "" || (progressive.Release{Version: value}).Validate() != nil {
			return "must be a Kubernetes label value (letters, digits, '-', '_', '.', at most 63)"
		}
	case ParamImage:
		if value != "" && (progressive.Release{Image: value}).Validate() != nil {
			return "must be an image reference (registry/name:tag or @digest)"
		}
	case ParamNumber:
		if f, err := strconv.ParseFloat(value, 64); err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return "must be a finite number"
		}
	case ParamInteger:
		if _, err := strconv.ParseInt(value, 10, 32); err != nil {
			return "must be a whole number"
		}
	case ParamDuration:
		if _, err := time.ParseDuration(value); err != nil {
			return "must be a duration such as 15m"
		}
	case ParamBoolean:
		if value != "true" && value != "false" {
			return "must be true or false"
		}
	default:
		if len(value) > 4096 || strings.ContainsFunc(value, func(r rune) bool { return r < 0x20 && r != '\t' || r == 0x7f }) {
			return "must be at most 4096 bytes of text without control characters"
		}
	}
	return ""
}

// tag is the YAML type a whole-value reference to p takes.
func (p Parameter) tag() string {
	switch p.Type {
	case ParamNumber:
		return "!!float"
	case ParamInteger:
		return "!!int"
	case ParamBoolean:
		return "!!bool"
	}
	return "!!str"
}

func walkScalars(n *yaml.Node, f func(*yaml.Node)) {
	if n.Kind == yaml.ScalarNode {
		f(n)
		return
	}
	if n.Kind == yaml.MappingNode {
		for i := 1; i < len(n.Content); i += 2 {
			walkScalars(n.Content[i], f) // values only: keys are never parameters
		}
		return
	}
	for _, c := range n.Content {
		walkScalars(c, f)
	}
}

// Render fills the template's parameters with values (defaults for those not
// given) and decodes the result as a rollout document. A required parameter
// without a value, a value for an undeclared parameter and a value that is not
// of its parameter's type are errors naming the parameter, all reported at
// once; then the rendered document is decoded like Decode, its problems at the
// template's lines. The error wraps progressive.ErrInvalid.
func (t *Template) Render(values map[string]string) (*Rollout, error) {
	if err := t.usable(); err != nil {
		return nil, err
	}
	var ps problems
	resolved := map[string]string{}
	declared := map[string]Parameter{}
	for _, p := range t.Parameters {
		declared[p.Name] = p
		v, ok := values[p.Name]
		switch {
		case ok && v == "" && p.Required:
			ps.add(Position{}, "parameters."+p.Name, nil, "is required and was given an empty value")
			continue
		case ok:
			if err := p.check(v, true); err != "" {
				ps.add(Position{}, "parameters."+p.Name, v, "%s", err)
				continue
			}
		case p.Default != nil:
			v = *p.Default
		case p.Required:
			ps.add(Position{}, "parameters."+p.Name, nil, "is required and was given no value")
			continue
		default:
			v = ""
		}
		resolved[p.Name] = v
	}
	for _, name := range sortedKeys(values) {
		if _, ok := declared[name]; !ok {
			ps.add(Position{}, "parameters."+name, values[name], "is not a parameter of template %s; its parameters are %s", t.Metadata.Name, t.paramNames())
		}
	}
	if err := ps.err(); err != nil {
		return nil, err
	}
	body := cloneNode(t.body)
	walkScalars(body, func(n *yaml.Node) {
		if !strings.Contains(n.Value, "$") {
			return
		}
		if m := reference.FindStringSubmatch(n.Value); m != nil && m[0] == n.Value && m[0] != "$${" {
			p := declared[m[1]]
			n.Value, n.Tag, n.Style = resolved[m[1]], p.tag(), 0
			if p.tag() != "!!str" && n.Value == "" {
				n.Value, n.Tag = "null", "!!null" // an optional number left unset
			}
			return
		}
		n.Value = reference.ReplaceAllStringFunc(n.Value, func(ref string) string {
			if ref == "$${" {
				return "${"
			}
			return resolved[ref[2:len(ref)-1]]
		})
		n.Tag = "!!str"
	})
	var r Rollout
	d := newDecoder()
	d.value(body, settable(&r), "")
	d.header(body, r.APIVersion, r.Kind, KindRollout)
	if err := d.ps.err(); err != nil {
		return nil, err
	}
	r.pos = d.pos
	return &r, nil
}

// usable refuses a Template that was not read by DecodeTemplate, Pattern or
// FromRecord: it has no document to render.
func (t *Template) usable() error {
	if t == nil || t.body == nil {
		return fmt.Errorf("document: the template has no body; read templates with DecodeTemplate or Pattern: %w", progressive.ErrInvalid)
	}
	return nil
}

func (t *Template) paramNames() string {
	names := make([]string, len(t.Parameters))
	for i, p := range t.Parameters {
		names[i] = p.Name
	}
	return strings.Join(names, ", ")
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// cloneNode copies a node tree. An alias points at the copy of its anchor,
// never at a copy of its own: copying each alias's target would multiply a
// tree of nested aliases exponentially.
func cloneNode(n *yaml.Node) *yaml.Node {
	return cloneWith(n, map[*yaml.Node]*yaml.Node{})
}

func cloneWith(n *yaml.Node, seen map[*yaml.Node]*yaml.Node) *yaml.Node {
	if n == nil {
		return nil
	}
	if c, ok := seen[n]; ok {
		return c
	}
	c := *n
	seen[n] = &c
	c.Content = make([]*yaml.Node, len(n.Content))
	for i, x := range n.Content {
		c.Content[i] = cloneWith(x, seen)
	}
	if n.Alias != nil {
		c.Alias = cloneWith(n.Alias, seen)
	}
	return &c
}

// Marshal writes the template as YAML or JSON; DecodeTemplate reads it back.
func (t *Template) Marshal(f Format) ([]byte, error) {
	if err := t.usable(); err != nil {
		return nil, err
	}
	head, err := Encode(templateFile{APIVersion: APIVersion, Kind: KindTemplate, Metadata: t.Metadata, Parameters: t.Parameters}, JSON)
	if err != nil {
		return nil, err
	}
	n, err := jsonToNode(head)
	if err != nil {
		return nil, err
	}
	n.Content = append(n.Content, strNode("template"), cloneNode(t.body))
	if f == JSON {
		var buf bytes.Buffer
		writeJSON(&buf, n, "")
		buf.WriteByte('\n')
		return buf.Bytes(), nil
	}
	var out bytes.Buffer
	ye := yaml.NewEncoder(&out)
	ye.SetIndent(2)
	if err := ye.Encode(n); err != nil {
		return nil, fmt.Errorf("document: encode template: %w", err)
	}
	if err := ye.Close(); err != nil {
		return nil, fmt.Errorf("document: encode template: %w", err)
	}
	return out.Bytes(), nil
}

// writeJSON writes a node tree as indented JSON.
func writeJSON(b *bytes.Buffer, n *yaml.Node, indent string) {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	in := indent + "  "
	switch n.Kind {
	case yaml.MappingNode:
		b.WriteString("{")
		for i := 0; i+1 < len(n.Content); i += 2 {
			if i > 0 {
				b.WriteString(",")
			}
			b.WriteString("\n" + in)
			b.Write(quoteJSON(n.Content[i].Value))
			b.WriteString(": ")
			writeJSON(b, n.Content[i+1], in)
		}
		if len(n.Content) > 0 {
			b.WriteString("\n" + indent)
		}
		b.WriteString("}")
	case yaml.SequenceNode:
		b.WriteString("[")
		for i, c := range n.Content {
			if i > 0 {
				b.WriteString(",")
			}
			b.WriteString("\n" + in)
			writeJSON(b, c, in)
		}
		if len(n.Content) > 0 {
			b.WriteString("\n" + indent)
		}
		b.WriteString("]")
	default:
		switch n.ShortTag() {
		case "!!int", "!!float":
			var f float64
			if n.Decode(&f) == nil && !math.IsNaN(f) && !math.IsInf(f, 0) {
				b.WriteString(strconv.FormatFloat(f, 'g', -1, 64))
				return
			}
		case "!!bool":
			var v bool
			if n.Decode(&v) == nil {
				b.WriteString(strconv.FormatBool(v))
				return
			}
		case "!!null":
			b.WriteString("null")
			return
		}
		b.Write(quoteJSON(n.Value))
	}
}

func quoteJSON(s string) []byte {
	b, _ := Encode(s, JSON)
	return bytes.TrimSpace(b)
}

//go:embed patterns/*.yaml
var patternFS embed.FS

// Patterns lists the names of the shipped templates: the guide's common
// patterns (staged-conservative, fast, blue-green-manual-approval,
// flag-gradual), as package strategy builds them.
func Patterns() []string {
	entries, _ := fs.ReadDir(patternFS, "patterns")
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, strings.TrimSuffix(e.Name(), path.Ext(e.Name())))
	}
	return names
}

// Pattern returns a shipped template by name; an unknown name is an error
// wrapping progressive.ErrInvalid that lists the known ones.
func Pattern(name string) (*Template, error) {
	if !slices.Contains(Patterns(), name) {
		return nil, fmt.Errorf("document: no pattern %q; the patterns are %s: %w", name, strings.Join(Patterns(), ", "), progressive.ErrInvalid)
	}
	b, err := patternFS.ReadFile("patterns/" + name + ".yaml")
	if err != nil {
		return nil, fmt.Errorf("document: pattern %s: %w", name, err)
	}
	return DecodeTemplate(b)
}
