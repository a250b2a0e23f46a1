package launchdarkly_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/provider/launchdarkly"
	"github.com/agentops/progressive/provider/launchdarkly/ldfake"
)

// New refuses, before any SDK client starts, a REST base URL and keys every
// write would fail on, naming the field and never showing a secret.
func TestNewRefusesBadBaseURLAndKeys(t *testing.T) {
	const secret = "p4ssw0rd-secret"
	fake := ldfake.New(apiToken, "production")
	t.Cleanup(fake.Close)
	env := sdkEnv(fake, "production")
	for name, c := range map[string]struct {
		mod   func(*launchdarkly.Options)
		field string
	}{
		"baseURL-ftp":       {func(o *launchdarkly.Options) { o.BaseURL = "ftp://ld.example.com" }, "baseURL"},
		"baseURL-no-scheme": {func(o *launchdarkly.Options) { o.BaseURL = "app.launchdarkly.com" }, "baseURL"},
		"baseURL-no-host":   {func(o *launchdarkly.Options) { o.BaseURL = "https:///" + secret }, "baseURL"},
		"baseURL-userinfo":  {func(o *launchdarkly.Options) { o.BaseURL = "https://u:" + secret + "@ld.example.com" }, "baseURL"},
		"baseURL-query":     {func(o *launchdarkly.Options) { o.BaseURL = "https://ld.example.com/?k=" + secret }, "baseURL"},
		"baseURL-port":      {func(o *launchdarkly.Options) { o.BaseURL = "https://ld.example.com:70000" }, "baseURL"},
		"baseURL-CRLF":      {func(o *launchdarkly.Options) { o.BaseURL = "https://ld.example.com/\r\n" + secret }, "baseURL"},
		"project-space":     {func(o *launchdarkly.Options) { o.Project = "my project" }, "project"},
		"project-dash":      {func(o *launchdarkly.Options) { o.Project = "-payments" }, "project"},
		"environment-space": {func(o *launchdarkly.Options) { o.Environments[0].Key = "prod uction" }, "environments[0].key"},
		"environment-LF":    {func(o *launchdarkly.Options) { o.Environments[0].Key = "production\n" }, "environments[0].key"},
		"attempts":          {func(o *launchdarkly.Options) { o.Attempts = -1 }, "attempts"},
		"backoff":           {func(o *launchdarkly.Options) { o.Backoff = -time.Second }, "backoff"},
		"maxWait":           {func(o *launchdarkly.Options) { o.MaxWait = -time.Second }, "maxWait"},
	} {
		t.Run(name, func(t *testing.T) {
			o := launchdarkly.Options{
				Project: project, APIToken: apiToken, BaseURL: fake.URL(),
				Environments: []launchdarkly.Environment{env}, StartWait: 100 * time.Millisecond,
			}
			c.mod(&o)
			s, err := launchdarkly.New(o)
			if s != nil {
				_ = s.Close()
			}
			require.Error(t, err)
			assert.ErrorIs(t, err, progressive.ErrInvalid)
			var ve *progressive.ValidationError
			require.ErrorAs(t, err, &ve)
			var fields []string
			for _, p := range ve.Problems {
				fields = append(fields, p.Field)
			}
			assert.Contains(t, fields, c.field)
			assert.NotContains(t, err.Error(), secret)
			assert.NotContains(t, err.Error(), apiToken)
		})
	}
}

func TestNewAcceptsHTTPBaseURLWithPath(t *testing.T) {
	fake := ldfake.New(apiToken, "production")
	t.Cleanup(fake.Close)
	for _, base := range []string{fake.URL(), fake.URL() + "/", "https://app.launchdarkly.com", "http://ld-proxy.internal:8080/launchdarkly/"} {
		s, err := launchdarkly.New(launchdarkly.Options{
			Project: "payments.v2_x-1", APIToken: apiToken, BaseURL: base, StartWait: 100 * time.Millisecond,
			Environments: []launchdarkly.Environment{sdkEnv(fake, "production")},
		})
		require.NoError(t, err, base)
		_ = s.Close()
	}
}
