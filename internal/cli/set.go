package cli

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/agentops/progressive/rollout/document"
)

// override is one --set (or --set-string) flag: a field path of the document
// and the value to put there.
type override struct {
	flag  string // "set" or "set-string", for messages
	raw   string // path=value as given
	path  string
	steps []pathStep
	value string
	// str forces the value to be a string (--set-string): a version "1.10"
	// would otherwise be the number 1.1.
	str bool
}

// pathStep is one element of a --set path: a mapping key or a list index.
type pathStep struct {
	key   string
	index int // -1 for a key
}

// overrides collects the --set and --set-string flags in the order given: a
// later one wins over an earlier one on the same path.
type overrides struct {
	list []override
}

// setFlag is the flag.Value of --set or --set-string.
type setFlag struct {
	o   *overrides
	str bool
}

func (s setFlag) String() string {
	if s.o == nil {
		return ""
	}
	var out []string
	for _, o := range s.o.list {
		if o.str == s.str {
			out = append(out, o.raw)
		}
	}
	return strings.Join(out, " ")
}

// Set parses path=value; the flag package prefixes the error with the flag's
// name and the value, which is what a person needs to find the typo.
func (s setFlag) Set(v string) error {
	name := "set"
	if s.str {
		name = "set-string"
	}
	path, value, ok := strings.Cut(v, "=")
	if !ok {
		return errors.New("want path=value, such as spec.release.version=v2.0.1")
	}
	steps, err := parsePath(path)
	if err != nil {
		return err
	}
	s.o.list = append(s.o.list, override{flag: name, raw: v, path: path, steps: steps, value: value, str: s.str})
	return nil
}

// withSet adds --set and --set-string.
func (f *flags) withSet() *flags {
	f.sets = &overrides{}
	f.fs.Var(setFlag{o: f.sets}, "set", "set a field of the document before it is read: `path=value` (spec.release.version=v2.0.1, spec.checks[0].interval=30s); the value is a YAML scalar, or a flow list or map ([10, 50, 100]); repeatable")
	f.fs.Var(setFlag{o: f.sets, str: true}, "set-string", "like --set, the value always a string (`path=value`)")
	return f
}

// parsePath reads a.b[2].c: keys separated by dots (a dot inside a key is
// written \.), each followed by any number of [index].
func parsePath(p string) ([]pathStep, error) {
	if p == "" {
		return nil, errors.New("empty path before '='")
	}
	var steps []pathStep
	var key strings.Builder
	haveKey := false
	i := 0
	endKey := func() error {
		if !haveKey || key.Len() == 0 {
			return fmt.Errorf("path %q: empty key at offset %d", p, i)
		}
		steps = append(steps, pathStep{key: key.String(), index: -1})
		key.Reset()
		haveKey = false
		return nil
	}
	for i < len(p) {
		switch c := p[i]; {
		case c == '\\' && i+1 < len(p) && (p[i+1] == '.' || p[i+1] == '[' || p[i+1] == '\\'):
			key.WriteByte(p[i+1])
			haveKey = true
			i += 2
		case c == '.':
			if haveKey {
				if err := endKey(); err != nil {
					return nil, err
				}
			} else if len(steps) == 0 || steps[len(steps)-1].index < 0 {
				return nil, fmt.Errorf("path %q: empty key at offset %d", p, i)
			}
			i++
			if i == len(p) {
				return nil, fmt.Errorf("path %q: ends with a dot", p)
			}
		case c == '[':
			if haveKey {
				if err := endKey(); err != nil {
					return nil, err
				}
			} else if len(steps) == 0 {
				return nil, fmt.Errorf("path %q: an index needs a list before it", p)
			}
			end := strings.IndexByte(p[i:], ']')
			if end < 0 {
				return nil, fmt.Errorf("path %q: [ at offset %d is not closed", p, i)
			}
			n, err := strconv.Atoi(p[i+1 : i+end])
			if err != nil || n < 0 {
				return nil, fmt.Errorf("path %q: index %q is not a number from 0", p, p[i+1:i+end])
			}
			steps = append(steps, pathStep{index: n})
			i += end + 1
			if i < len(p) && p[i] != '.' && p[i] != '[' {
				return nil, fmt.Errorf("path %q: want . or [ after ] at offset %d", p, i)
			}
		default:
			key.WriteByte(c)
			haveKey = true
			i++
		}
	}
	if haveKey {
		if err := endKey(); err != nil {
			return nil, err
		}
	}
	return steps, nil
}

// valueNode is the YAML node an override puts in the document.
func (o override) valueNode() (*yaml.Node, error) {
	str := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: o.value, Style: yaml.DoubleQuotedStyle}
	if o.str || o.value == "" {
		return str, nil
	}
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(o.value), &doc); err != nil || len(doc.Content) != 1 {
		if strings.HasPrefix(o.value, "[") || strings.HasPrefix(o.value, "{") {
			return nil, fmt.Errorf("value %q is not a YAML flow list or map", o.value)
		}
		return str, nil
	}
	n := doc.Content[0]
	switch {
	case n.Kind == yaml.ScalarNode && n.Anchor == "":
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: n.ShortTag(), Value: n.Value, Style: n.Style}, nil
	case (n.Kind == yaml.SequenceNode || n.Kind == yaml.MappingNode) && (strings.HasPrefix(o.value, "[") || strings.HasPrefix(o.value, "{")):
		clearPositions(n)
		return n, nil
	}
	// "a: b" or "- x" without brackets reads as a string, as a person
	// typing it most likely meant.
	return str, nil
}

func clearPositions(n *yaml.Node) {
	n.Line, n.Column = 0, 0
	for _, c := range n.Content {
		clearPositions(c)
	}
}

// apply puts the value at the override's path in root (a mapping), creating
// the mappings on the way; a list index may append (index = length) but not
// leave a gap.
func (o override) apply(root *yaml.Node) error {
	val, err := o.valueNode()
	if err != nil {
		return err
	}
	n := root
	walked := ""
	for i, st := range o.steps {
		for n.Kind == yaml.AliasNode && n.Alias != nil {
			n = n.Alias
		}
		last := i == len(o.steps)-1
		fresh := func() *yaml.Node {
			if last {
				return val
			}
			if o.steps[i+1].index >= 0 {
				return &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
			}
			return &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
		}
		if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
			// "key:" with nothing after it is an empty mapping or list to fill.
			if st.index >= 0 {
				*n = yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Line: n.Line, Column: n.Column}
			} else {
				*n = yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: n.Line, Column: n.Column}
			}
		}
		var next *yaml.Node
		if st.index < 0 {
			if n.Kind != yaml.MappingNode {
				return fmt.Errorf("%s is %s, not a mapping with key %q", orRoot(walked), kindOf(n), st.key)
			}
			for j := 0; j+1 < len(n.Content); j += 2 {
				if n.Content[j].Value == st.key {
					next = n.Content[j+1]
					if last {
						n.Content[j+1] = val
					}
				}
			}
			if next == nil {
				next = fresh()
				n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: st.key}, next)
			}
			if walked != "" {
				walked += "."
			}
			walked += st.key
		} else {
			if n.Kind != yaml.SequenceNode {
				return fmt.Errorf("%s is %s, not a list", orRoot(walked), kindOf(n))
			}
			switch {
			case st.index < len(n.Content):
				next = n.Content[st.index]
				if last {
					n.Content[st.index] = val
				}
			case st.index == len(n.Content):
				next = fresh()
				n.Content = append(n.Content, next)
			default:
				return fmt.Errorf("%s has %d item(s): index %d leaves a gap (index %d appends)", walked, len(n.Content), st.index, len(n.Content))
			}
			walked += fmt.Sprintf("[%d]", st.index)
		}
		n = next
	}
	return nil
}

func orRoot(path string) string {
	if path == "" {
		return "the document"
	}
	return path
}

func kindOf(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return fmt.Sprintf("the value %q", n.Value)
	}
	return "not a mapping"
}

// overridden is a document with the overrides applied: the text the strict
// decoder reads, and where each of its nodes stood in the file, so that a
// problem still points at the line a person wrote (or says it came from a
// flag).
type overridden struct {
	text []byte
	// pos maps a node's position in text to its position in the file; a
	// node an override made maps to the zero Position.
	pos  map[document.Position]document.Position
	sets []override
}

// applyOverrides returns data with sets applied. Errors are input errors
// naming the flag and its value; a document that does not parse as YAML is
// left for the strict decoder to report, with its lines.
func applyOverrides(data []byte, sets []override) (*overridden, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil || len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, nil
	}
	for _, o := range sets {
		if err := o.apply(doc.Content[0]); err != nil {
			return nil, invalidf("flag --%s %q: %v", o.flag, o.raw, err)
		}
	}
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return nil, invalidf("flag --set: the document with the overrides does not encode: %v", err)
	}
	if err := enc.Close(); err != nil {
		return nil, invalidf("flag --set: the document with the overrides does not encode: %v", err)
	}
	var again yaml.Node
	if err := yaml.Unmarshal(b.Bytes(), &again); err != nil {
		return nil, invalidf("flag --set: the document with the overrides does not parse: %v", err)
	}
	out := &overridden{text: b.Bytes(), pos: map[document.Position]document.Position{}, sets: sets}
	pairPositions(out.pos, &again, &doc)
	return out, nil
}

// pairPositions walks the encoded tree and the edited one together (the same
// shape) and records where each encoded node came from.
func pairPositions(m map[document.Position]document.Position, enc, orig *yaml.Node) {
	k := document.Position{Line: enc.Line, Column: enc.Column}
	if prev, ok := m[k]; !ok || prev.Line == 0 {
		// A mapping shares its first key's position; both stood together in
		// the file as well.
		m[k] = document.Position{Line: orig.Line, Column: orig.Column}
	}
	if enc.Kind == yaml.AliasNode || len(enc.Content) != len(orig.Content) {
		return
	}
	for i := range enc.Content {
		pairPositions(m, enc.Content[i], orig.Content[i])
	}
}

// fix maps the positions of a document error back to the file and says
// which problems a flag caused. Other errors pass unchanged.
func (o *overridden) fix(err error) error {
	var de *document.Error
	if o == nil || !errors.As(err, &de) {
		return err
	}
	out := &document.Error{Problems: make([]document.Problem, len(de.Problems))}
	for i, p := range de.Problems {
		if p.Line != 0 {
			p.Position = o.pos[p.Position]
		}
		for j := len(o.sets) - 1; j >= 0; j-- {
			s := o.sets[j]
			if p.Field == s.path || strings.HasPrefix(p.Field, s.path+".") || strings.HasPrefix(p.Field, s.path+"[") {
				p.Reason += fmt.Sprintf(" (from --%s %s)", s.flag, s.raw)
				break
			}
		}
		out.Problems[i] = p
	}
	return out
}
