package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agentops/progressive/rollout"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestQuickstartPromotesOneAndRollsBackTheOther(t *testing.T) {
	var out bytes.Buffer
	dir, timelines := t.TempDir(), t.TempDir()
	require.NoError(t, run(context.Background(), &out, 0, dir, timelines))
	text := out.String()

	assert.Equal(t, 1, strings.Count(text, "SUCCEEDED"), text)
	assert.Equal(t, 1, strings.Count(text, "ROLLED-BACK"), text)
	assert.Contains(t, text, "Rollback is automatic when:", "the plan is explained before it runs")
	assert.Regexp(t, `production/payment-service\s+canary\s+2\s+1\s+50%`, text)
	// The library's printer: values against thresholds, in units, with the
	// time left in the soak, and the failing measurement marked.
	assert.Regexp(t, `09:01  analyze   canary  10\.0%  error-rate 0\.\d+% <= 1  latency-p95 \d+ms <= 500  cpu \d+\.\d+% <= 80  -> running, 14m left`, text)
	assert.Regexp(t, `error-rate 5\.13% > 1 FAIL`, text)
	assert.NotContains(t, text, "\x1b", "no colour or cursor movement when not a terminal")

	var records []rollout.DecisionRecord
	for _, name := range []string{"production-payment-service-v2-0-0.json", "production-payment-service-v2-1-0.json"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		require.NoError(t, err)
		var rec rollout.DecisionRecord
		require.NoError(t, json.Unmarshal(b, &rec))
		records = append(records, rec)
	}
	assert.Equal(t, rollout.OutcomePromoted, records[0].Impact.Outcome)
	assert.Equal(t, rollout.OutcomeRolledBack, records[1].Impact.Outcome)
	assert.Equal(t, 50.0, records[1].Impact.MaxCanaryWeight, "the regression shows at 50%")
	require.NotNil(t, records[1].Impact.TimeToDetect)
	assert.NotEmpty(t, records[1].Observations)
	assert.NotEmpty(t, records[1].Learning)

	// A timeline per record, named in the output.
	for _, r := range records {
		p := filepath.Join(timelines, r.ID+".html")
		b, err := os.ReadFile(p)
		require.NoError(t, err)
		assert.Contains(t, string(b), `<svg xmlns="http://www.w3.org/2000/svg" class="timeline"`)
		assert.Contains(t, text, "file://"+filepath.ToSlash(p))
	}
}

func TestQuickstartWithoutFiles(t *testing.T) {
	var out bytes.Buffer
	require.NoError(t, run(context.Background(), &out, 0, "", ""))
	assert.NotContains(t, out.String(), "Timelines")
	assert.NotContains(t, out.String(), "Decision records written")
}
