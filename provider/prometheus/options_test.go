package prometheus_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/provider/prometheus"
)

// New refuses what net/http would refuse on every query: a port out of range,
// a control character in a credential or header value, a ':' in a basic-auth
// user name. It names the field and never shows the secret.
func TestNewRefusesUnsendableOptions(t *testing.T) {
	const addr = "http://prometheus.monitoring:9090"
	const secret = "s3cr3t-t0ken"
	for name, c := range map[string]struct {
		o     prometheus.Options
		field string
	}{
		"port-99999":      {prometheus.Options{Address: "http://prom:99999"}, "Address"},
		"port-65536":      {prometheus.Options{Address: "https://prom:65536/prefix"}, "Address"},
		"port-0":          {prometheus.Options{Address: "http://prom:0"}, "Address"},
		"bearer-LF":       {prometheus.Options{Address: addr, BearerToken: secret + "\n"}, "bearerToken"},
		"bearer-NUL":      {prometheus.Options{Address: addr, BearerToken: secret + "\x00"}, "bearerToken"},
		"bearer-TAB":      {prometheus.Options{Address: addr, BearerToken: secret + "\t"}, "bearerToken"},
		"bearer-DEL":      {prometheus.Options{Address: addr, BearerToken: secret + "\x7f"}, "bearerToken"},
		"user-colon":      {prometheus.Options{Address: addr, BasicAuth: &prometheus.BasicAuth{Username: "a:b", Password: secret}}, "basicAuth.username"},
		"user-CR":         {prometheus.Options{Address: addr, BasicAuth: &prometheus.BasicAuth{Username: "a\r", Password: secret}}, "basicAuth.username"},
		"password-NUL":    {prometheus.Options{Address: addr, BasicAuth: &prometheus.BasicAuth{Username: "u", Password: secret + "\x00"}}, "basicAuth.password"},
		"userinfo-NUL":    {prometheus.Options{Address: "http://u:" + secret + "%00@prom:9090"}, "address"},
		"header-NUL":      {prometheus.Options{Address: addr, Headers: map[string]prometheus.Secret{"X-Api-Key": secret + "\x00"}}, "headers[X-Api-Key]"},
		"header-ESC":      {prometheus.Options{Address: addr, Headers: map[string]prometheus.Secret{"X-Scope-OrgID": secret + "\x1b[2J"}}, "headers[X-Scope-Orgid]"},
		"host-header-DEL": {prometheus.Options{Address: addr, Headers: map[string]prometheus.Secret{"Host": "prom\x7f"}}, "headers[Host]"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := prometheus.New(c.o)
			require.Error(t, err)
			assert.ErrorIs(t, err, progressive.ErrInvalid)
			assert.Contains(t, err.Error(), c.field)
			assert.NotContains(t, err.Error(), secret)
		})
	}
}

func TestNewAcceptsPortsAndPrintableCredentials(t *testing.T) {
	for _, o := range []prometheus.Options{
		{Address: "http://prom:1"},
		{Address: "http://prom:65535/prefix"},
		{Address: "http://prom:/"},
		{Address: "http://[::1]:9090"},
		{Address: "http://prom", BearerToken: "tok en~!"},
		{Address: "http://prom", BasicAuth: &prometheus.BasicAuth{Username: "user name", Password: "p:a s s"}},
		{Address: "http://prom", Headers: map[string]prometheus.Secret{"X-Scope-OrgID": prometheus.Secret(strings.Repeat("t", 100))}},
	} {
		_, err := prometheus.New(o)
		assert.NoError(t, err, "%+v", o.Address)
	}
}
