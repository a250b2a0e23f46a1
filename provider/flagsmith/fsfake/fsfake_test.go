package fsfake_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/agentops/progressive/provider/flagsmith/fsfake"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The fake refuses what Flagsmith's Admin API does not accept.
func TestRejectsBadAdminRequests(t *testing.T) {
	s := fsfake.New("tok")
	defer s.Close()
	key := s.AddEnvironment("production", "ser.prod")
	s.AddFeature(fsfake.FeatureSpec{Name: "f", Control: "off", Options: []any{"on"}})
	do := func(method, path, auth, contentType, body string) (int, string) {
		req, err := http.NewRequest(method, s.URL()+path, strings.NewReader(body))
		require.NoError(t, err)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		req.Header.Set("Content-Type", contentType)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	// The document the SDK polls needs the server key.
	req, _ := http.NewRequest(http.MethodGet, s.URL()+"environment-document/", nil)
	req.Header.Set("X-Environment-Key", "ser.prod")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, 200, resp.StatusCode)
	status, _ := do(http.MethodGet, "environment-document/", "", "", "")
	assert.Equal(t, 401, status)

	doc, _ := s.Document("ser.prod")
	var d struct {
		FeatureStates []struct {
			ID int `json:"django_id"`
			MV []struct {
				Option struct {
					ID int `json:"id"`
				} `json:"multivariate_feature_option"`
			} `json:"multivariate_feature_state_values"`
		} `json:"feature_states"`
	}
	require.NoError(t, json.Unmarshal(doc, &d))
	id, option := strconv.Itoa(d.FeatureStates[0].ID), strconv.Itoa(d.FeatureStates[0].MV[0].Option.ID)
	fs := "environments/" + key + "/featurestates/"
	cases := []struct {
		name, path, auth, ct, body string
		status                     int
		says                       string
	}{
		{"no token", fs + "1/", "", "application/json", `{"enabled":true}`, 401, "credentials were not provided"},
		{"bearer instead of Api-Key", fs + "1/", "Bearer tok", "application/json", `{"enabled":true}`, 401, "credentials"},
		{"no trailing slash", fs + "1", "Api-Key tok", "application/json", `{"enabled":true}`, 404, "slash"},
		{"form body", fs + id + "/", "Api-Key tok", "application/x-www-form-urlencoded", `enabled=true`, 415, "Unsupported media type"},
		{"unknown field", fs + id + "/", "Api-Key tok", "application/json", `{"enabled":true,"state":"on"}`, 400, "unknown field"},
		{"over 100%", fs + id + "/", "Api-Key tok", "application/json", `{"multivariate_feature_state_values":[{"multivariate_feature_option":` + option + `,"percentage_allocation":120}]}`, 400, "between 0 and 100"},
		{"unknown option", fs + id + "/", "Api-Key tok", "application/json", `{"multivariate_feature_state_values":[{"multivariate_feature_option":999,"percentage_allocation":10}]}`, 400, "is not an option"},
	}
	for _, c := range cases {
		status, body := do(http.MethodPatch, c.path, c.auth, c.ct, c.body)
		assert.Equal(t, c.status, status, c.name)
		assert.Contains(t, body, c.says, c.name)
	}
	assert.Zero(t, s.Writes())
	status, _ = do(http.MethodPatch, fs+id+"/", "Api-Key tok", "application/json", `{"enabled":true,"multivariate_feature_state_values":[{"multivariate_feature_option":`+option+`,"percentage_allocation":40}]}`)
	assert.Equal(t, 200, status)
	doc, _ = s.Document("ser.prod")
	assert.Contains(t, string(doc), `"percentage_allocation":40`)
}
