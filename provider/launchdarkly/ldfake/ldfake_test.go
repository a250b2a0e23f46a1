package ldfake_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/agentops/progressive/provider/launchdarkly/ldfake"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The fake refuses what LaunchDarkly's documentation does not allow, and changes
// nothing when it refuses.
func TestRejectsUndocumentedPatches(t *testing.T) {
	s := ldfake.New("tok", "production")
	defer s.Close()
	s.AddFlag("p", ldfake.FlagSpec{Key: "f", Variations: []ldfake.Variation{{Value: false}, {Value: true}}})
	raw, _ := s.Flag("p", "f")
	var f struct {
		Variations []struct {
			ID string `json:"_id"`
		} `json:"variations"`
	}
	require.NoError(t, json.Unmarshal(raw, &f))
	off, on := f.Variations[0].ID, f.Variations[1].ID

	do := func(method, token, contentType, body string) (int, string) {
		req, err := http.NewRequest(method, s.URL()+"/api/v2/flags/p/f", strings.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Authorization", token)
		req.Header.Set("Content-Type", contentType)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	sp := ldfake.ContentType
	cases := []struct {
		name, token, ct, body string
		status                int
		says                  string
	}{
		{"no token", "", sp, `{"environmentKey":"production","instructions":[{"kind":"turnFlagOn"}]}`, 401, "Invalid access token"},
		{"JSON patch content type", "tok", "application/json", `{"environmentKey":"production","instructions":[{"kind":"turnFlagOn"}]}`, 400, "semantic patch needs Content-Type"},
		{"unknown body field", "tok", sp, `{"environmentKey":"production","instructions":[{"kind":"turnFlagOn"}],"dryRun":true}`, 400, "unknown field"},
		{"unknown environment", "tok", sp, `{"environmentKey":"qa","instructions":[{"kind":"turnFlagOn"}]}`, 400, "not an environment"},
		{"unknown instruction parameter", "tok", sp, `{"environmentKey":"production","instructions":[{"kind":"turnFlagOn","value":true}]}`, 400, "unknown field"},
		{"weights not summing to 100000", "tok", sp, `{"environmentKey":"production","instructions":[{"kind":"updateFallthroughVariationOrRollout","rolloutWeights":{"` + on + `":10,"` + off + `":90}}]}`, 400, "sum to 100, not 100000"},
		{"weights by index", "tok", sp, `{"environmentKey":"production","instructions":[{"kind":"updateFallthroughVariationOrRollout","rolloutWeights":{"1":10000,"0":90000}}]}`, 400, "not a variation _id"},
		{"upper-case op", "tok", sp, `{"environmentKey":"production","instructions":[{"kind":"addRule","variationId":"` + on + `","clauses":[{"attribute":"country","op":"IN","values":["DE"],"negate":false}]}]}`, 400, "is not an operator"},
		{"one bad instruction undoes the others", "tok", sp, `{"environmentKey":"production","instructions":[{"kind":"turnFlagOn"},{"kind":"frobnicate"}]}`, 400, "unknown or unsupported instruction"},
	}
	for _, c := range cases {
		status, body := do(http.MethodPatch, c.token, c.ct, c.body)
		assert.Equal(t, c.status, status, c.name)
		assert.Contains(t, body, c.says, c.name)
	}
	assert.Zero(t, s.Writes())
	got, _ := s.Flag("p", "f")
	assert.JSONEq(t, string(raw), string(got), "nothing changed")

	status, _ := do(http.MethodPatch, "tok", sp, `{"environmentKey":"production","comment":"ramp","instructions":[{"kind":"turnFlagOn"},{"kind":"updateFallthroughVariationOrRollout","rolloutWeights":{"`+on+`":25000,"`+off+`":75000},"rolloutContextKind":"user"}]}`)
	assert.Equal(t, 200, status)
	assert.Equal(t, 1, s.Writes())
	status, _ = do(http.MethodDelete, "tok", sp, ``)
	assert.Equal(t, 405, status)
}
