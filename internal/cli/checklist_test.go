package cli

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentops/progressive/rollout"
)

// attestedItems are the production checklist's items only a person can
// vouch for when there is no staging store, no rehearsal and no registry.
var attestedItems = []string{rollout.ItemMonitoringReady, rollout.ItemOnCallNotified, rollout.ItemDatabaseCompatible,
	rollout.ItemDependenciesReady, rollout.ItemDocumentationUpdated}

func attest(by string, items ...string) []string {
	var out []string
	for _, it := range items {
		out = append(out, "--attest", it+"="+by)
	}
	return out
}

// item is a line of the refusal's listing.
func item(status, name string) string { return fmt.Sprintf("%-8s %-22s", status, name) }

func TestTheChecklistGatesProductionRuns(t *testing.T) {
	c := newCLI(t)
	staging, prod := t.TempDir(), t.TempDir()
	cfg := writeConfig(t, fmt.Sprintf(`apiVersion: progressive.agentops.dev/v1alpha1
kind: Config
checklist:
  namespaces: [production]
  staging:
    store: {kind: file, dir: %s}
    namespace: staging
`, staging))
	docs := seedDocuments(t)
	canary := docs["payment-service"]
	run := func(extra ...string) result {
		return c.run(append(append([]string{"run", "--sim", "--config", cfg, "--state-dir", prod}, extra...), canary)...)
	}

	// Nothing in staging, nobody attested: refused before anything moved,
	// every missing item listed.
	r := run()
	require.Equal(t, ExitNotStarted, r.code)
	assert.Contains(t, r.stderr, "validation checklist not satisfied")
	for _, it := range append([]string{rollout.ItemStagingValidated, rollout.ItemRollbackTested}, attestedItems...) {
		assert.Contains(t, r.stderr, "MISSING  "+it, it)
	}
	assert.Contains(t, r.stderr, "ok       "+rollout.ItemMetricsDefined)
	assert.Contains(t, r.stderr, "--attest ITEM=NAME")
	r = c.run("status", "--state-dir", prod)
	assert.Equal(t, "no rollouts\n", r.stdout, "not started")

	// Staging (not gated) promotes the release, and a faulty rerun there
	// rolls back: the evidence of the first and the third item.
	inStaging := []string{"--sim", "--state-dir", staging, "--config", cfg, "--set", "spec.target.namespace=staging"}
	require.Equal(t, ExitOK, c.run(append(append([]string{"run"}, inStaging...), canary)...).code)
	require.Equal(t, ExitRolledBack, c.run(append(append([]string{"run", "--rerun", "--sim-fault", "errors"}, inStaging...), canary)...).code)

	// Still four attestations short.
	r = run(attest("alice", rollout.ItemMonitoringReady)...)
	require.Equal(t, ExitNotStarted, r.code)
	assert.Contains(t, r.stderr, item("ok", rollout.ItemStagingValidated)+" rollout payment-service-v2-0-0 promoted payment-service v2.0.0")
	assert.Contains(t, r.stderr, item("ok", rollout.ItemRollbackTested)+" rollout payment-service-v2-0-0-run-2 rolled back in staging")
	assert.Contains(t, r.stderr, item("ok", rollout.ItemMonitoringReady)+" attested by alice")
	assert.Contains(t, r.stderr, "MISSING  "+rollout.ItemOnCallNotified)
	assert.NotContains(t, r.stderr, "MISSING  "+rollout.ItemStagingValidated)

	r = run(attest("alice", attestedItems...)...)
	require.Equal(t, ExitOK, r.code, r.stderr)
	r = c.run("record", "--state-dir", prod, "payment-service-v2-0-0")
	require.Equal(t, ExitOK, r.code)
	assert.Contains(t, r.stdout, "checklist      "+rollout.ItemOnCallNotified+": attested by alice at")
	assert.Contains(t, r.stdout, "checklist      "+rollout.ItemStagingValidated+": rollout payment-service-v2-0-0 promoted")

	// A release never seen in staging, started anyway: the override and who
	// gave it are recorded with the items that did not hold.
	c.env["USER"] = "bob"
	r = c.run("run", "--sim", "--config", cfg, "--state-dir", prod, "--set", "metadata.name=payment-service-v2-0-1", "--set", "spec.release.version=v2.0.1",
		"--checklist-override", "hotfix for incident 42", canary)
	require.Equal(t, ExitOK, r.code, r.stderr)
	r = c.run("record", "--state-dir", prod, "-o", "json", "payment-service-v2-0-1")
	require.Equal(t, ExitOK, r.code)
	var rec rollout.DecisionRecord
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &rec))
	var override string
	for _, d := range rec.Decisions {
		if d.Action == "checklist-override" {
			override = d.Reason
		}
	}
	assert.Contains(t, override, "checklist overridden by bob")
	assert.Contains(t, override, "hotfix for incident 42")
	assert.Contains(t, override, rollout.ItemStagingValidated)

	// Input mistakes name the flag.
	r = run("--attest", "on-call=alice")
	assert.Equal(t, ExitInvalid, r.code)
	assert.Contains(t, r.stderr, `flag --attest "on-call=alice": "on-call" is not an item of the checklist`)
	r = run("--attest", "on-call-notified")
	assert.Equal(t, ExitInvalid, r.code)
	assert.Contains(t, r.stderr, `invalid value "on-call-notified" for flag -attest: want ITEM=NAME`)
	c.env["USER"] = ""
	r = run("--rerun", "--checklist-override", "why not")
	assert.Equal(t, ExitInvalid, r.code)
	assert.Contains(t, r.stderr, "--checklist-override-by")
	r = c.run("run", "--sim", "--state-dir", t.TempDir(), "--attest", "on-call-notified=alice", canary)
	assert.Equal(t, ExitInvalid, r.code)
	assert.Contains(t, r.stderr, "has no checklist section")
}

func TestChecklistConfigProblems(t *testing.T) {
	c := newCLI(t)
	r := c.run("status", "--config", writeConfig(t, `apiVersion: progressive.agentops.dev/v1alpha1
kind: Config
checklist:
  targets: [checkout]
  staging: {store: {kind: file}, kubernetes: {context: staging}}
`))
	assert.Equal(t, ExitInvalid, r.code)
	for _, want := range []string{
		`checklist.targets[0]: "checkout": want namespace/name`,
		`checklist.staging.store.dir: "": a file store needs the directory`,
		`checklist.staging.kubernetes: "set": only a configmap store is read from a cluster`,
	} {
		assert.Contains(t, r.stderr, want)
	}
	assert.False(t, strings.Contains(r.stderr, "panic"))
}
