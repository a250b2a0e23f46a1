package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentops/progressive/analysis"
	"github.com/agentops/progressive/internal/promtest"
	"github.com/agentops/progressive/metrics"
	"github.com/agentops/progressive/rollout"
)

// TestMonitor watches a healthy and a failing canary through a real Prometheus.
func TestMonitor(t *testing.T) {
	app := promtest.NewApp()
	t.Cleanup(app.Close)
	tenth := func() float64 { return 10 }
	app.Service(promtest.ServiceSpec{Namespace: "production", Name: "payment-service", CanaryVersion: "v2.0.0", RPS: 200, CanaryShare: tenth})
	app.Service(promtest.ServiceSpec{Namespace: "production", Name: "orders", CanaryVersion: "v3", RPS: 200, CanaryShare: tenth,
		Canary: promtest.Behavior{ErrorPercent: 5}})
	prom := promtest.Start(t, promtest.Options{Targets: []string{app.Addr()}})

	const token = "monitor-test-token-0123456789"
	tokenFile := filepath.Join(t.TempDir(), "token")
	require.NoError(t, os.WriteFile(tokenFile, []byte(token+"\n"), 0o600))
	cfg := config{
		prometheus: prom.URL, namespace: "production", service: "payment-service", version: "v2.0.0",
		mesh: "app", window: "10s", duration: 3 * time.Second, interval: time.Second,
		inconclusiveLimit: 3, timeout: 5 * time.Second, tokenFile: tokenFile, headers: headerFlag{},
		recordFile: filepath.Join(t.TempDir(), "record.json"),
	}
	// Wait until both canaries' 10s error rates have data. The canary gets 20
	// requests a second: a 10s window holds 200, enough for the error rate's
	// 1% threshold (samples.min 101); a 5s window would hold too few.
	for _, svc := range []struct{ name, version string }{{"payment-service", "v2.0.0"}, {"orders", "v3"}} {
		c := metrics.App{Window: cfg.window}.ErrorRate(1)
		expr, err := analysis.Render(c, analysis.Vars{Namespace: "production", Service: svc.name, CanaryVersion: svc.version, StableVersion: "stable"}, "canary")
		require.NoError(t, err)
		require.NoError(t, prom.WaitFor(t.Context(), expr, 30*time.Second))
	}

	var out bytes.Buffer
	code := monitor(t.Context(), &out, cfg)
	t.Log(out.String())
	assert.Equal(t, exitPassed, code)
	assert.Contains(t, out.String(), "safe to promote")
	assert.NotContains(t, out.String(), token)
	b, err := os.ReadFile(cfg.recordFile)
	require.NoError(t, err)
	var recs []rollout.DecisionRecord
	require.NoError(t, json.Unmarshal(b, &recs))
	require.Len(t, recs, 1)
	assert.Equal(t, "canary", recs[0].Context.Strategy)
	assert.NotContains(t, string(b), token)

	out.Reset()
	failing := cfg
	failing.service, failing.version = "orders", "v3"
	code = monitor(t.Context(), &out, failing)
	t.Log(out.String())
	assert.Equal(t, exitRollback, code)
	assert.Contains(t, out.String(), "Recommend: ROLLBACK")
	assert.Contains(t, out.String(), `check "error-rate" failed`)

	// No traffic at all for that version: never "safe to promote".
	out.Reset()
	silent := cfg
	silent.version = "v9"
	code = monitor(t.Context(), &out, silent)
	assert.Equal(t, exitRollback, code, out.String())
	assert.Contains(t, out.String(), "inconclusive")

	for name, bad := range map[string]func(*config){
		"no version":   func(c *config) { c.version = "" },
		"bad metrics":  func(c *config) { c.mesh = "linkerd" },
		"bad address":  func(c *config) { c.prometheus = "ftp://x" },
		"bad template": func(c *config) { c.window = "{{.Nope}}" },
		"bad promql":   func(c *config) { c.window = "5 s" },
	} {
		out.Reset()
		c := cfg
		bad(&c)
		assert.Equal(t, exitConfig, monitor(t.Context(), &out, c), "%s: %s", name, out.String())
		t.Logf("%s: %s", name, lastLine(out.String()))
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
