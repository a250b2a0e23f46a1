package promtest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// Backfill writes history into a new TSDB directory with
// `promtool tsdb create-blocks-from openmetrics`, for a Prometheus started on it
// afterwards (Options.DataDir). openMetrics is OpenMetrics text with timestamps in
// seconds, ending with "# EOF". It skips or fails the test as Check does when
// promtool is missing.
func Backfill(t testing.TB, openMetrics string) (dataDir string) {
	t.Helper()
	dir, err := BackfillDir(t.Context(), t.TempDir(), openMetrics)
	Check(t, err)
	return dir
}

// BackfillDir is Backfill into a "data" directory under parent.
func BackfillDir(ctx context.Context, parent, openMetrics string) (string, error) {
	bin, err := Binary("promtool")
	if err != nil {
		return "", err
	}
	input := filepath.Join(parent, "history.om")
	if err := os.WriteFile(input, []byte(openMetrics), 0o644); err != nil {
		return "", err
	}
	data := filepath.Join(parent, "data")
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "tsdb", "create-blocks-from", "openmetrics", input, data)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("promtest: promtool tsdb create-blocks-from openmetrics: %w\n%s", err, out)
	}
	return data, nil
}
