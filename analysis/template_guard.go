package analysis

import (
	"fmt"
	"strings"
	"text/template/parse"
)

// A query template is configuration that ends up in PromQL, so it is held to
// what a query needs: fields ({{.Version}}), variables, literals, if/else and the
// comparison functions. Everything else could run for ever or allocate without
// bound at run time ({{range 2000000000}}, {{printf "%01000000000d" 0}}) where no
// template should.
var allowedTemplateFuncs = map[string]bool{
	"eq": true, "ne": true, "lt": true, "le": true, "gt": true, "ge": true,
	"and": true, "or": true, "not": true,
}

// maxRenderedQuery bounds a rendered query; PromQL queries are a few hundred bytes.
const maxRenderedQuery = 64 << 10

// guardTemplate reports the first construct of a parsed query template outside
// that subset.
func guardTemplate(root *parse.ListNode) error {
	var walk func(parse.Node) error
	walkPipe := func(p *parse.PipeNode) error {
		if p == nil {
			return nil
		}
		for _, cmd := range p.Cmds {
			for _, arg := range cmd.Args {
				if err := walk(arg); err != nil {
					return err
				}
			}
		}
		return nil
	}
	walk = func(n parse.Node) error {
		switch n := n.(type) {
		case nil:
			return nil
		case *parse.ListNode:
			if n == nil {
				return nil
			}
			for _, c := range n.Nodes {
				if err := walk(c); err != nil {
					return err
				}
			}
			return nil
		case *parse.TextNode, *parse.FieldNode, *parse.VariableNode, *parse.DotNode,
			*parse.StringNode, *parse.NumberNode, *parse.BoolNode, *parse.NilNode:
			return nil
		case *parse.ActionNode:
			return walkPipe(n.Pipe)
		case *parse.PipeNode:
			return walkPipe(n)
		case *parse.IfNode:
			if err := walkPipe(n.Pipe); err != nil {
				return err
			}
			if err := walk(n.List); err != nil {
				return err
			}
			if n.ElseList != nil {
				return walk(n.ElseList)
			}
			return nil
		case *parse.IdentifierNode:
			if !allowedTemplateFuncs[n.Ident] {
				return fmt.Errorf("function %q is not allowed in a query template (allowed: %s)", n.Ident, allowedFuncList())
			}
			return nil
		case *parse.RangeNode:
			return fmt.Errorf("range is not allowed in a query template: only fields, if/else and comparisons are")
		case *parse.WithNode:
			return fmt.Errorf("with is not allowed in a query template: only fields, if/else and comparisons are")
		case *parse.TemplateNode:
			return fmt.Errorf("template is not allowed in a query template: only fields, if/else and comparisons are")
		case *parse.CommentNode:
			return nil
		}
		return fmt.Errorf("%s is not allowed in a query template: only fields, if/else and comparisons are", n)
	}
	return walk(root)
}

func allowedFuncList() string {
	return "eq, ne, lt, le, gt, ge, and, or, not"
}

// escapeQueryValue makes a value from a plan or release safe inside a PromQL
// string literal, whichever quote encloses it: a version such as
// v2"}[1m])) * 0 or vector(0) # must not end the label matcher and make every
// check read 0.
func escapeQueryValue(s string) string {
	if !strings.ContainsAny(s, "\\\"'`\n\r") {
		// The common case (a version, a namespace): building the replacer
		// was most of a benchmark's CPU.
		return s
	}
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, `'`, `\'`, "`", "\\`", "\n", `\n`, "\r", `\r`)
	return r.Replace(s)
}

// boundedWriter fails a render that grows past maxRenderedQuery.
type boundedWriter struct {
	b strings.Builder
}

func (w *boundedWriter) Write(p []byte) (int, error) {
	if w.b.Len()+len(p) > maxRenderedQuery {
		return 0, fmt.Errorf("the rendered query exceeds %d bytes", maxRenderedQuery)
	}
	return w.b.Write(p)
}
