package document

import (
	"bytes"
	"flag"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite schema/rollout.schema.json from the Go types")

// typeComments reads the doc comments of this package's types and fields,
// keyed "Type" and "Type.Field", for the schema's descriptions.
func typeComments(t *testing.T) map[string]string {
	t.Helper()
	fset := token.NewFileSet()
	out := map[string]string{}
	for _, name := range []string{"types.go"} {
		f, err := parser.ParseFile(fset, name, nil, parser.ParseComments)
		require.NoError(t, err)
		for _, decl := range f.Decls {
			gd, ok := decl.(*ast.GenDecl)
			if !ok {
				continue
			}
			for _, spec := range gd.Specs {
				ts, ok := spec.(*ast.TypeSpec)
				if !ok {
					continue
				}
				doc := ts.Doc
				if doc == nil && len(gd.Specs) == 1 {
					doc = gd.Doc
				}
				out[ts.Name.Name] = clean(doc)
				st, ok := ts.Type.(*ast.StructType)
				if !ok {
					continue
				}
				for _, fld := range st.Fields.List {
					for _, n := range fld.Names {
						out[ts.Name.Name+"."+n.Name] = clean(fld.Doc)
					}
				}
			}
		}
	}
	return out
}

func clean(g *ast.CommentGroup) string {
	if g == nil {
		return ""
	}
	return strings.Join(strings.Fields(g.Text()), " ")
}

// TestSchemaUpToDate: the checked-in schema is what the Go types generate.
// go generate (or go test -run TestSchemaUpToDate . -args -update) rewrites it.
func TestSchemaUpToDate(t *testing.T) {
	fresh, err := generateSchema(typeComments(t))
	require.NoError(t, err)
	if *update {
		require.NoError(t, os.WriteFile("schema/rollout.schema.json", fresh, 0o644))
	}
	checkedIn, err := os.ReadFile("schema/rollout.schema.json")
	require.NoError(t, err)
	assert.True(t, bytes.Equal(fresh, checkedIn), "schema/rollout.schema.json is stale: run go generate ./rollout/document")
	assert.Equal(t, checkedIn, Schema(), "Schema returns the checked-in file")
}
