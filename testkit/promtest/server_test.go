package promtest

import (
	"testing"
	"time"
)

func TestConfig(t *testing.T) {
	got := config(Options{Targets: []string{"127.0.0.1:1234"}, ScrapeInterval: 1500 * time.Millisecond})
	want := `global:
  scrape_interval: 1500ms
  evaluation_interval: 1500ms
scrape_configs:
  - job_name: app
    honor_labels: true
    scrape_timeout: 1500ms
    static_configs:
      - targets:
          - "127.0.0.1:1234"
`
	if got != want {
		t.Errorf("config:\n%s\nwant:\n%s", got, want)
	}
	if got := config(Options{ScrapeInterval: time.Second}); got != "global:\n  scrape_interval: 1000ms\n  evaluation_interval: 1000ms\n" {
		t.Errorf("config without targets:\n%s", got)
	}
}

func TestBinaryFromEnvironment(t *testing.T) {
	t.Setenv(EnvPromtool, "/nonexistent/promtool")
	if _, err := Binary("promtool"); err == nil {
		t.Error("a missing $PROMTOOL_BIN is an error")
	}
}
