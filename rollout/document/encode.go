package document

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"

	"go.yaml.in/yaml/v3"
)

// Format selects the text a document, plan or record is written as.
type Format int

const (
	// YAML is block-style YAML with two-space indentation.
	YAML Format = iota
	// JSON is indented JSON without HTML escapes: a query's < and > stay < and >.
	JSON
)

func (f Format) String() string {
	switch f {
	case YAML:
		return "yaml"
	case JSON:
		return "json"
	}
	return fmt.Sprintf("Format(%d)", int(f))
}

// Marshal writes a rollout document. What Marshal writes, Decode reads back to
// an equal Rollout.
func Marshal(r *Rollout, f Format) ([]byte, error) {
	if r == nil {
		return nil, errors.New("document: marshal: nil rollout")
	}
	return Encode(r, f)
}

// Encode writes any value for people to read: durations as strings (the SDK's
// types marshal them so), no \u003c escapes, and in YAML the fields in the
// order of the Go types rather than sorted. Use it for plans
// (progressive.Plan) and decision records (rollout.DecisionRecord).
func Encode(v any, f Format) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if f == JSON {
		enc.SetIndent("", "  ")
	}
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("document: encode: %w", err)
	}
	// Types with their own MarshalJSON (a measurement, say) may have escaped
	// < > & already, whatever the encoder was told.
	text := unescapeHTML(buf.Bytes())
	switch f {
	case JSON:
		return text, nil
	case YAML:
		n, err := jsonToNode(text)
		if err != nil {
			return nil, fmt.Errorf("document: encode: %w", err)
		}
		var out bytes.Buffer
		ye := yaml.NewEncoder(&out)
		ye.SetIndent(2)
		if err := ye.Encode(n); err != nil {
			return nil, fmt.Errorf("document: encode: %w", err)
		}
		if err := ye.Close(); err != nil {
			return nil, fmt.Errorf("document: encode: %w", err)
		}
		return out.Bytes(), nil
	}
	return nil, fmt.Errorf("document: encode: unknown format %d", int(f))
}

// jsonToNode turns a JSON text into a YAML node tree, keeping the order of the
// keys: a round trip through map[string]any would sort them, and a rollout
// that reads spec before metadata, or checks before the strategy, reads badly.
func jsonToNode(b []byte) (*yaml.Node, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	return nodeOf(dec)
}

func nodeOf(dec *json.Decoder) (*yaml.Node, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			n := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
			for dec.More() {
				k, err := dec.Token()
				if err != nil {
					return nil, err
				}
				key, _ := k.(string)
				v, err := nodeOf(dec)
				if err != nil {
					return nil, err
				}
				n.Content = append(n.Content, strNode(key), v)
			}
			_, err := dec.Token() // }
			return n, err
		case '[':
			n := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
			for dec.More() {
				v, err := nodeOf(dec)
				if err != nil {
					return nil, err
				}
				n.Content = append(n.Content, v)
			}
			_, err := dec.Token() // ]
			return n, err
		}
	case string:
		n := strNode(t)
		if bytes.ContainsRune([]byte(t), '\n') {
			n.Style = yaml.LiteralStyle // a multi-line query reads as written
		}
		return n, nil
	case json.Number:
		tag := "!!float"
		if _, err := strconv.ParseInt(string(t), 10, 64); err == nil {
			tag = "!!int"
		}
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: tag, Value: string(t)}, nil
	case bool:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: strconv.FormatBool(t)}, nil
	case nil:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: "null"}, nil
	}
	return nil, io.ErrUnexpectedEOF
}

// strNode is a string scalar; the encoder quotes it when plain text would read
// back as another type (a version "1.10", a name "true").
func strNode(s string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s} }

// unescapeHTML turns the \u003c, \u003e and \u0026 escapes of JSON strings
// back into < > &, which JSON allows as they are. It walks the escapes in
// order, so an escaped backslash followed by "u003c" stays as it was.
func unescapeHTML(b []byte) []byte {
	if !bytes.Contains(b, []byte(`\u00`)) {
		return b
	}
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		if b[i] != '\\' || i+1 >= len(b) {
			out = append(out, b[i])
			continue
		}
		if b[i+1] == 'u' && i+6 <= len(b) {
			switch string(b[i+2 : i+6]) {
			case "003c":
				out = append(out, '<')
				i += 5
				continue
			case "003e":
				out = append(out, '>')
				i += 5
				continue
			case "0026":
				out = append(out, '&')
				i += 5
				continue
			}
		}
		out = append(out, b[i], b[i+1]) // any other escape, kept whole
		i++
	}
	return out
}
