package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentops/progressive/rollout"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func percents(r Report) []float64 {
	var out []float64
	for _, o := range r.Observations {
		out = append(out, o.Percent)
	}
	return out
}

// Every write of every rollout is evaluated through the vendor's SDK for 10,000
// users: the share served the new variation is within 1.5 points of the
// percentage, and the targeted QA accounts always get it.
func checkServed(t *testing.T, r Report) {
	t.Helper()
	for _, o := range r.Observations {
		assert.InDelta(t, o.Percent, o.Served, 1.5, "at %s the store reads %g%%, the SDK serves %.2f%%", hours(o.At), o.Percent, o.Served)
		assert.True(t, o.TargetsServed, "at %s a targeted QA account did not get the variation", hours(o.At))
	}
}

func decisions(r Report) string {
	var b strings.Builder
	for _, d := range r.Record.Decisions {
		b.WriteString(d.Action + ": " + d.Reason + "\n")
	}
	return b.String()
}

func TestFlagRollouts(t *testing.T) {
	ctx := context.Background()
	for _, newBackend := range []func() *backend{newLaunchDarkly, newFlagsmith} {
		for _, sc := range scenarios() {
			b := newBackend()
			t.Run(b.name+"/"+sc.name, func(t *testing.T) {
				defer b.close()
				out, logs := &syncBuffer{}, &syncBuffer{}
				logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
				rep, err := runScenario(ctx, b, sc, t.TempDir(), out, logger)
				require.NoError(t, err, out.String())
				checkServed(t, rep)
				assert.Equal(t, 100.0, rep.StagingServed, "staging stays on for everyone while production ramps")
				switch sc.name {
				case "gateway":
					require.Equal(t, rollout.PhaseSucceeded, rep.Phase, decisions(rep))
					assert.Equal(t, []float64{1, 10, 50, 100}, percents(rep))
					assert.Equal(t, 72*time.Hour, rep.Duration, "a day of checks at 1, 10 and 50%")
					assert.Equal(t, 5, rep.Writes, "four rollout writes and one to turn the flag on")
				case "regression":
					require.Equal(t, rollout.PhaseRolledBack, rep.Phase)
					assert.Equal(t, []float64{1, 10, 0}, percents(rep))
					assert.Equal(t, 1, rep.RollbackWrites, "the rollback to 0% is one write")
					assert.Equal(t, 10.0, rep.Record.Impact.MaxFlagPercent)
					assert.Contains(t, decisions(rep), `check "error-rate" failed`)
				case "search":
					require.Equal(t, rollout.PhaseSucceeded, rep.Phase, decisions(rep))
					assert.Equal(t, []float64{5, 25, 75, 100}, percents(rep))
					assert.Equal(t, 21*24*time.Hour, rep.Duration, "a week at 5, 25 and 75%")
					assert.GreaterOrEqual(t, rep.Restarts, 15, "the runner restarted about every 30 hours of virtual time, mid-analysis")
					assert.Equal(t, 5, rep.Writes, "each percentage written once across all restarts")
					for i, o := range rep.Observations {
						assert.Equal(t, time.Duration(i)*7*24*time.Hour, o.At, "the weeks are exact across restarts")
					}
				case "outage":
					require.Equal(t, rollout.PhaseRolledBack, rep.Phase)
					assert.Equal(t, []float64{1, 10, 0}, percents(rep), "the 50% write never landed")
					assert.Equal(t, 1, rep.RollbackWrites)
					d := decisions(rep)
					assert.Contains(t, d, "failed transiently (attempt 4 of 5)")
					assert.Contains(t, d, "gave up after 4 attempts")
					assert.Contains(t, d, "503 Service Unavailable")
					assert.Contains(t, d, "rollback-retry", "the rollback retried while the service was down")
				case "revoked-token":
					require.Equal(t, rollout.PhaseRolledBack, rep.Phase)
					assert.Equal(t, []float64{1, 10, 0}, percents(rep))
					d := decisions(rep)
					assert.Contains(t, d, "401 Unauthorized")
					assert.Contains(t, d, "the API token was rejected")
					assert.NotContains(t, d, "failed transiently", "a refused token is not retried")
				}
				// No credential in the output, the logs, the decision record or the
				// state files.
				record, err := json.Marshal(rep.Record)
				require.NoError(t, err)
				all := out.String() + logs.String() + string(record)
				if rep.StateDir != "" {
					require.NoError(t, filepath.WalkDir(rep.StateDir, func(path string, d fs.DirEntry, err error) error {
						if err != nil || d.IsDir() {
							return err
						}
						data, err := os.ReadFile(path)
						all += string(data)
						return err
					}))
					assert.Contains(t, all, "search_algorithm", "the state files were read")
				}
				for _, secret := range b.secrets {
					assert.NotContains(t, all, secret)
				}
			})
		}
	}
}

func TestRunRejectsUnknownNames(t *testing.T) {
	var out bytes.Buffer
	err := run(context.Background(), &out, "unleash", "all", t.TempDir(), false)
	assert.ErrorContains(t, err, `unknown backend "unleash" (known: launchdarkly, flagsmith, all)`)
	err = run(context.Background(), &out, "all", "big-bang", t.TempDir(), false)
	assert.ErrorContains(t, err, `unknown scenario "big-bang" (known: gateway, regression, search, outage, revoked-token, all)`)
	require.NoError(t, run(context.Background(), &out, "flagsmith", "regression", t.TempDir(), false))
	assert.Contains(t, out.String(), "ROLLED-BACK")
}
