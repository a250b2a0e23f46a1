package document

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// MaxDocumentSize bounds the bytes Decode reads: a rollout document is a page of
// text, and a bound keeps a hostile file from costing more than a page does.
const MaxDocumentSize = 1 << 20

// maxNodes bounds the YAML nodes one decode visits, aliases expanded: a few
// lines of anchors and aliases can otherwise name billions of nodes.
const maxNodes = 100000

// Decode reads one rollout document, YAML or JSON (JSON is YAML). It decodes
// strictly and reports every problem it finds at once, each with its line,
// column and field path: unknown fields (a misspelled "maximum" would otherwise
// drop a threshold silently), values of the wrong type, durations that do not
// parse, duplicate keys, a wrong apiVersion or kind, and a second document in
// the same stream. The error is an *Error wrapping progressive.ErrInvalid.
//
// Decode does not check what the values mean together: Plan (or Validate)
// does, and maps those problems back to the document's lines too.
func Decode(data []byte) (*Rollout, error) {
	root, err := parse(data)
	if err != nil {
		return nil, err
	}
	var r Rollout
	d := newDecoder()
	d.value(root, reflect.ValueOf(&r).Elem(), "")
	d.header(root, r.APIVersion, r.Kind, KindRollout)
	if err := d.ps.err(); err != nil {
		return nil, err
	}
	r.pos = d.pos
	return &r, nil
}

// parse reads the single YAML document of data.
func parse(data []byte) (*yaml.Node, error) {
	var ps problems
	if len(data) > MaxDocumentSize {
		ps.add(Position{}, "", len(data), "the document is larger than %d bytes", MaxDocumentSize)
		return nil, ps.err()
	}
	if len(bytes.TrimSpace(data)) == 0 {
		ps.add(Position{}, "", nil, "the document is empty")
		return nil, ps.err()
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		ps.add(yamlErrorPosition(err), "", nil, "%s", yamlErrorText(err))
		return nil, ps.err()
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case errors.Is(err, io.EOF):
	case err != nil:
		ps.add(yamlErrorPosition(err), "", nil, "%s", yamlErrorText(err))
	default:
		ps.add(nodePosition(&next), "", nil, "the stream holds more than one document; give one rollout per document")
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	if root.Kind != yaml.MappingNode {
		ps.add(nodePosition(root), "", nil, "the document must be a mapping with apiVersion, kind, metadata and spec")
	}
	if err := ps.err(); err != nil {
		return nil, err
	}
	return root, nil
}

var yamlLine = regexp.MustCompile(`line (\d+)`)

func yamlErrorPosition(err error) Position {
	if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
		if n, err := strconv.Atoi(m[1]); err == nil {
			return Position{Line: n}
		}
	}
	return Position{}
}

// yamlErrorText drops the parser's "yaml: line N: " prefix, which the
// Problem's position already says.
func yamlErrorText(err error) string {
	s := strings.TrimPrefix(err.Error(), "yaml: ")
	if loc := yamlLine.FindStringIndex(s); loc != nil && loc[0] == 0 {
		s = strings.TrimPrefix(s[loc[1]:], ": ")
	}
	return "not valid YAML or JSON: " + s
}

func nodePosition(n *yaml.Node) Position { return Position{Line: n.Line, Column: n.Column} }

// decoder walks a YAML node tree into Go values by their json tags, recording a
// problem for everything it cannot take and carrying on, so that one pass finds
// them all.
type decoder struct {
	ps    problems
	pos   map[string]Position
	nodes int
}

func newDecoder() *decoder { return &decoder{pos: map[string]Position{}} }

// header checks apiVersion and kind.
func (d *decoder) header(root *yaml.Node, apiVersion, kind, want string) {
	if apiVersion != APIVersion {
		d.ps.add(d.at("apiVersion", root), "apiVersion", emptyNil(apiVersion), "must be %s", APIVersion)
	}
	if kind != want {
		d.ps.add(d.at("kind", root), "kind", emptyNil(kind), "must be %s", want)
	}
}

// at returns the position of path, or of n when path was not in the text.
func (d *decoder) at(path string, n *yaml.Node) Position {
	if p, ok := d.pos[path]; ok {
		return p
	}
	return nodePosition(n)
}

func emptyNil(s string) any {
	if s == "" {
		return nil
	}
	return s
}

var durationType = reflect.TypeFor[Duration]()

func join(path, field string) string {
	if path == "" {
		return field
	}
	return path + "." + field
}

func (d *decoder) value(n *yaml.Node, v reflect.Value, path string) {
	for depth := 0; n.Kind == yaml.AliasNode; depth++ {
		if n.Alias == nil || depth > 100 {
			d.ps.add(nodePosition(n), path, nil, "an alias that resolves to nothing")
			return
		}
		n = n.Alias
	}
	d.nodes++
	if d.nodes > maxNodes {
		if d.nodes == maxNodes+1 {
			d.ps.add(nodePosition(n), path, nil, "the document expands to more than %d values (aliases included)", maxNodes)
		}
		return
	}
	if _, keyed := d.pos[path]; !keyed || n.Kind == yaml.ScalarNode {
		// A problem with a scalar points at the value; one with a mapping or
		// list at its key (object records it), the line that names it.
		d.pos[path] = nodePosition(n)
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		v.SetZero() // an explicit null is an absent value
		return
	}
	if v.Type() == durationType {
		d.duration(n, v, path)
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		d.value(n, v.Elem(), path)
	case reflect.Struct:
		d.object(n, v, path)
	case reflect.Slice:
		d.list(n, v, path)
	case reflect.Map:
		d.dict(n, v, path)
	case reflect.String:
		if d.scalar(n, path, "a string", "!!str") {
			v.SetString(n.Value)
		}
	case reflect.Bool:
		if d.scalar(n, path, "true or false", "!!bool") {
			var b bool
			if err := n.Decode(&b); err != nil {
				d.ps.add(nodePosition(n), path, n.Value, "must be true or false")
				return
			}
			v.SetBool(b)
		}
	case reflect.Int:
		if d.scalar(n, path, "a whole number", "!!int") {
			var i int64
			if err := n.Decode(&i); err != nil || i > math.MaxInt32 || i < math.MinInt32 {
				d.ps.add(nodePosition(n), path, n.Value, "must be a whole number of at most 2147483647 in size")
				return
			}
			v.SetInt(i)
		}
	case reflect.Float64:
		if d.scalar(n, path, "a number", "!!int", "!!float") {
			var f float64
			if err := n.Decode(&f); err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
				d.ps.add(nodePosition(n), path, n.Value, "must be a finite number")
				return
			}
			v.SetFloat(f)
		}
	default:
		d.ps.add(nodePosition(n), path, nil, "cannot be decoded (a %s field)", v.Kind())
	}
}

// scalar reports whether n is a scalar of one of tags, recording the problem
// when it is not. A number where a string belongs is an error rather than text:
// version: 1.10 must not quietly become "1.1" in one reader and "1.10" in another.
func (d *decoder) scalar(n *yaml.Node, path, what string, tags ...string) bool {
	if n.Kind != yaml.ScalarNode {
		d.ps.add(nodePosition(n), path, nil, "must be %s, not a %s", what, kindName(n))
		return false
	}
	if !slices.Contains(tags, n.ShortTag()) {
		hint := ""
		if slices.Contains(tags, "!!str") {
			hint = "; quote it to make it a string"
		}
		d.ps.add(nodePosition(n), path, n.Value, "must be %s, not %s%s", what, tagName(n.ShortTag()), hint)
		return false
	}
	return true
}

func (d *decoder) duration(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!str" {
		val := any(nil)
		if n.Kind == yaml.ScalarNode {
			val = n.Value
		}
		d.ps.add(nodePosition(n), path, val, "must be a duration string such as 90s, 15m or 1h30m (with its unit)")
		return
	}
	dur, err := parseDuration(n.Value)
	if err != nil {
		d.ps.add(nodePosition(n), path, n.Value, "%v", err)
		return
	}
	v.SetInt(int64(dur))
}

// field is one decodable struct field, embedded structs' fields included.
type field struct {
	name  string
	index []int
}

func fieldsOf(t reflect.Type) []field {
	var out []field
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
			for _, inner := range fieldsOf(f.Type) {
				out = append(out, field{inner.name, append([]int{i}, inner.index...)})
			}
			continue
		}
		if name == "" || name == "-" {
			continue
		}
		out = append(out, field{name, []int{i}})
	}
	return out
}

func (d *decoder) object(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.ps.add(nodePosition(n), path, nil, "must be a mapping, not a %s", kindName(n))
		return
	}
	fields := fieldsOf(v.Type())
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode || k.ShortTag() == "!!merge" {
			d.ps.add(nodePosition(k), path, nil, "keys must be plain field names (merge keys are not supported)")
			continue
		}
		p := join(path, k.Value)
		if seen[k.Value] {
			d.ps.add(nodePosition(k), p, nil, "is set twice")
			continue
		}
		seen[k.Value] = true
		d.pos[p] = nodePosition(k)
		j := slices.IndexFunc(fields, func(f field) bool { return f.name == k.Value })
		if j < 0 {
			d.ps.add(nodePosition(k), p, nil, "unknown field%s; known fields: %s", suggest(k.Value, fields), fieldNames(fields))
			continue
		}
		fv := v.FieldByIndex(fields[j].index)
		if slices.Contains(exactlyOne, v.Type()) && isNull(val) && fv.Kind() == reflect.Pointer && fv.Type().Elem().Kind() == reflect.Struct {
			// "canary:" with nothing after it chooses the canary with its
			// defaults; reading it as absent would leave no strategy at all.
			fv.Set(reflect.New(fv.Type().Elem()))
			d.pos[p] = nodePosition(k)
			continue
		}
		d.value(val, fv, p)
	}
}

// isNull reports whether n is an explicit null (null, ~ or nothing).
func isNull(n *yaml.Node) bool {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

func fieldNames(fields []field) string {
	names := make([]string, len(fields))
	for i, f := range fields {
		names[i] = f.name
	}
	return strings.Join(names, ", ")
}

// suggest names the known field a misspelled one most likely meant: the same
// name in another case (maxweight), a longer or shorter form (maximum for
// max), or a typo of at most two letters (thresold).
func suggest(name string, fields []field) string {
	lower := strings.ToLower(name)
	best, bestDist := "", 3
	for _, f := range fields {
		known := strings.ToLower(f.name)
		dist := editDistance(lower, known)
		if len(known) >= 3 && (strings.HasPrefix(lower, known) || strings.HasPrefix(known, lower) && len(lower) >= 3) {
			dist = min(dist, 1)
		}
		if dist < bestDist {
			best, bestDist = f.name, dist
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// editDistance is the Levenshtein distance of two short names.
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 64 // field names are short; a long key is no typo of one
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func (d *decoder) list(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.SequenceNode {
		d.ps.add(nodePosition(n), path, nil, "must be a list, not a %s", kindName(n))
		return
	}
	s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, item := range n.Content {
		d.value(item, s.Index(i), fmt.Sprintf("%s[%d]", path, i))
	}
	v.Set(s)
}

func (d *decoder) dict(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.ps.add(nodePosition(n), path, nil, "must be a mapping, not a %s", kindName(n))
		return
	}
	m := reflect.MakeMapWithSize(v.Type(), len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode || k.ShortTag() != "!!str" {
			d.ps.add(nodePosition(k), path, k.Value, "keys must be strings")
			continue
		}
		p := join(path, k.Value)
		if m.MapIndex(reflect.ValueOf(k.Value)).IsValid() {
			d.ps.add(nodePosition(k), p, nil, "is set twice")
			continue
		}
		elem := reflect.New(v.Type().Elem()).Elem()
		d.value(val, elem, p)
		m.SetMapIndex(reflect.ValueOf(k.Value), elem)
	}
	v.Set(m)
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "mapping"
	case yaml.SequenceNode:
		return "list"
	case yaml.ScalarNode:
		return tagName(n.ShortTag())
	default:
		return "document"
	}
}

func tagName(tag string) string {
	switch tag {
	case "!!str":
		return "a string"
	case "!!int":
		return "a whole number"
	case "!!float":
		return "a number"
	case "!!bool":
		return "a boolean"
	case "!!null":
		return "null"
	default:
		return strings.TrimPrefix(tag, "!!")
	}
}

// settable returns the settable value behind a pointer.
func settable(p any) reflect.Value { return reflect.ValueOf(p).Elem() }

// UnmarshalJSON decodes like Decode, strictly: json.Unmarshal into a Rollout
// (a rollout embedded in another configuration) refuses an unknown field as
// Decode does, instead of dropping it.
func (r *Rollout) UnmarshalJSON(b []byte) error {
	d, err := Decode(b)
	if err != nil {
		return err
	}
	*r = *d
	return nil
}
