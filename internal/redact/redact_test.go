package redact_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/agentops/progressive/internal/redact"
)

func TestURL(t *testing.T) {
	for raw, want := range map[string]string{
		"http://prom.monitoring:9090":                           "http://prom.monitoring:9090",
		"https://thanos.example.com/prometheus/":                "https://thanos.example.com/prometheus/",
		"https://alice:s3cr3t-pw@prom.example.com/api":          "https://[redacted]@prom.example.com/api",
		"https://prom.example.com/?api_key=k3y-s3cr3t":          "https://prom.example.com/?[redacted]",
		"https://prom.example.com/x?":                           "https://prom.example.com/x?[redacted]",
		"https://alice@h/p?token=t0k3n-s3cr3t#frag-s3cr3t":      "https://[redacted]@h/p?[redacted]",
		"alice:s3cr3t-pw@prom.example.com":                      "alice:[redacted]",
		"http://[::1]:9090/q?x=s3cr3t":                          "http://[::1]:9090/q?[redacted]",
		"http://h/%zz?tok=s3cr3t":                               redact.Unparseable,
		"http://alice:s3cr3t-pw@h\x7f/":                         redact.Unparseable,
		"":                                                      "",
		"/relative/path?token=s3cr3t":                           "/relative/path?[redacted]",
		"https://hooks.slack.com/services/T000/B000/XXXXs3cr3t": "https://hooks.slack.com/services/T000/B000/XXXXs3cr3t",
	} {
		got := redact.URL(raw)
		assert.Equal(t, want, got, "URL(%q)", raw)
		if !strings.Contains(raw, "hooks.slack") {
			assert.NotContains(t, got, "s3cr3t", "URL(%q)", raw)
		}
	}
}

func TestWebhookURL(t *testing.T) {
	for raw, want := range map[string]string{
		"https://hooks.slack.com/services/T000/B000/XXXXs3cr3t": "https://hooks.slack.com/ (path redacted)",
		"https://hooks.example.com":                             "https://hooks.example.com/",
		"https://hooks.example.com/":                            "https://hooks.example.com/",
		"https://u:s3cr3t@hooks.example.com/x?token=s3cr3t":     "https://hooks.example.com/ (credentials, path and query redacted)",
		"http://127.0.0.1:8080/?sig=s3cr3t":                     "http://127.0.0.1:8080/ (query redacted)",
		"https://h/#s3cr3t":                                     "https://h/ (fragment redacted)",
		"user:s3cr3t@hooks.example.com/x":                       "user:[redacted]",
		"http://h/%zz/s3cr3t":                                   redact.Unparseable,
	} {
		got := redact.WebhookURL(raw)
		assert.Equal(t, want, got, "WebhookURL(%q)", raw)
		assert.NotContains(t, got, "s3cr3t", "WebhookURL(%q)", raw)
	}
}
