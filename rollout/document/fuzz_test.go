package document

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/agentops/progressive"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// FuzzDecode: no input makes Decode, Validate or Marshal panic; every error is
// a configuration error; and what Decode accepts, Marshal writes as text that
// Decode reads back to the same document (the text is a fixed point).
func FuzzDecode(f *testing.F) {
	f.Add([]byte(canaryDoc))
	f.Add([]byte(`{"apiVersion":"progressive.agentops.dev/v1alpha1","kind":"Rollout","spec":{"target":{"name":"a"},"strategy":{"rolling":{"replicas":3}}}}`))
	f.Add([]byte("a: &a [x]\nb: [*a, *a]\n"))
	f.Add([]byte("spec: {checks: [{max: .nan, interval: 1}]}\n"))
	if files, err := filepath.Glob("../../examples/documents/*.yaml"); err == nil {
		for _, name := range files {
			if b, err := os.ReadFile(name); err == nil {
				f.Add(b)
			}
		}
	}
	f.Add([]byte("apiVersion: progressive.agentops.dev/v1alpha1\nkind: RolloutTemplate\nmetadata: {name: t}\nparameters: [{name: s, type: name, required: true}]\ntemplate:\n  a: &a [\"${s}\", \"${s}\"]\n  b: [*a, *a]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		// A template read from the same bytes renders or fails cleanly too.
		if tpl, err := DecodeTemplate(data); err != nil {
			require.ErrorIs(t, err, progressive.ErrInvalid)
		} else if _, err := tpl.Render(map[string]string{"s": "x"}); err != nil {
			require.ErrorIs(t, err, progressive.ErrInvalid)
		}
		r, err := Decode(data)
		if err != nil {
			require.ErrorIs(t, err, progressive.ErrInvalid)
			return
		}
		if err := r.Validate(); err != nil {
			require.ErrorIs(t, err, progressive.ErrInvalid)
		}
		text, err := Marshal(r, YAML)
		require.NoError(t, err)
		again, err := Decode(text)
		require.NoError(t, err, "Decode refused what Marshal wrote:\n%s", text)
		text2, err := Marshal(again, YAML)
		require.NoError(t, err)
		assert.Equal(t, string(text), string(text2))
	})
}
