package cli

import (
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentops/progressive/rollout"
)

// freeAddr is a loopback address nothing listens on a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

// TestMetricsAddrServesTheRunnersMetrics: run --metrics-addr serves the
// runner's collector while it drives, so a scrape in the middle of the
// rollout sees its phase and canary weight; the served registry is the
// checklist's evidence for monitoring-ready, which is otherwise attested.
func TestMetricsAddrServesTheRunnersMetrics(t *testing.T) {
	c := newCLI(t)
	cfg := writeConfig(t, "apiVersion: progressive.agentops.dev/v1alpha1\nkind: Config\nchecklist:\n  namespaces: [production]\n")
	canary := seedDocuments(t)["payment-service"]
	state := t.TempDir()

	r := c.run("run", "--sim", "--config", cfg, "--state-dir", state, canary)
	require.Equal(t, ExitNotStarted, r.code)
	assert.Contains(t, r.stderr, "MISSING  "+rollout.ItemMonitoringReady)

	addr := freeAddr(t)
	others := attest("alice", rollout.ItemStagingValidated, rollout.ItemRollbackTested, rollout.ItemOnCallNotified,
		rollout.ItemDatabaseCompatible, rollout.ItemDependenciesReady, rollout.ItemDocumentationUpdated)
	done := make(chan result, 1)
	go func() {
		done <- c.run(append(append([]string{"run", "--sim", "--sim-pace", "150ms", "--config", cfg, "--state-dir", state, "--metrics-addr", addr}, others...), canary)...)
	}()
	var scraped string
	require.Eventually(t, func() bool {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		scraped = string(b)
		return err == nil && strings.Contains(scraped, `progressive_rollout_canary_weight{`)
	}, 20*time.Second, 50*time.Millisecond, "a scrape during the run shows the canary weight")
	assert.Contains(t, scraped, `rollout="payment-service-v2-0-0"`)
	assert.Contains(t, scraped, "progressive_rollout_phase{")

	var end result
	select {
	case end = <-done:
	case <-time.After(time.Minute):
		t.Fatal("run did not end")
	}
	require.Equal(t, ExitOK, end.code, end.stderr)
	assert.Contains(t, end.stderr, "metrics: http://"+addr+"/metrics")
	r = c.run("record", "--state-dir", state, "payment-service-v2-0-0")
	require.Equal(t, ExitOK, r.code)
	assert.Contains(t, r.stdout, rollout.ItemMonitoringReady+": metric family progressive_rollouts is exported")
	_, err := http.Get("http://" + addr + "/metrics")
	assert.Error(t, err, "the server stops with the run")

	r = c.run("run", "--sim", "--state-dir", t.TempDir(), "--metrics-addr", "no-port", canary)
	assert.Equal(t, ExitInvalid, r.code)
	assert.Contains(t, r.stderr, `flag --metrics-addr "no-port"`)
}
