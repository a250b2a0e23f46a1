package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/rollout"
)

// commandHook runs a local program as a hook: the request as JSON on stdin,
// PROGRESSIVE_* in its environment, exit 0 passes.
type commandHook struct {
	name    string
	argv    []string
	dir     string
	timeout time.Duration
}

// stderrTail is how much of a failed command's stderr the error keeps: the
// end of it says why.
const stderrTail = 2048

// Run implements rollout.Hook.
func (h *commandHook) Run(ctx context.Context, req rollout.HookRequest) error {
	if h.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, h.timeout)
		defer cancel()
	}
	body, err := json.Marshal(req)
	if err != nil {
		return fmt.Errorf("command hook %q: encode the request: %w", h.name, err)
	}
	prog := h.argv[0]
	if strings.ContainsRune(prog, filepath.Separator) && !filepath.IsAbs(prog) {
		prog = filepath.Join(h.dir, prog)
	}
	cmd := exec.CommandContext(ctx, prog, h.argv[1:]...)
	cmd.Dir = h.dir
	cmd.Env = append(os.Environ(), hookEnv(req)...)
	cmd.Stdin = bytes.NewReader(body)
	tail := &tailWriter{max: stderrTail}
	cmd.Stdout, cmd.Stderr = io.Discard, tail
	// A shell's children may keep stderr open after it is killed: stop
	// waiting for them shortly after.
	cmd.WaitDelay = 2 * time.Second
	start := time.Now()
	err = cmd.Run()
	took := time.Since(start).Round(time.Millisecond)
	var ee *exec.ExitError
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return fmt.Errorf("command hook %q: %s did not finish within %s: %w%s", h.name, h.argv[0], took, ctx.Err(), tail.suffix())
	case errors.As(err, &ee):
		return fmt.Errorf("command hook %q: %s exited %d after %s%s", h.name, h.argv[0], ee.ExitCode(), took, tail.suffix())
	}
	// The program could not be started: retrying will not find it.
	return fmt.Errorf("command hook %q: %v: %w", h.name, err, progressive.ErrInvalid)
}

// hookEnv is what a command hook learns from its environment, for scripts
// that would rather not parse JSON.
func hookEnv(req rollout.HookRequest) []string {
	phase := string(req.Phase)
	if phase == "" {
		phase = "step"
	}
	return []string{
		"PROGRESSIVE_ROLLOUT=" + req.Rollout,
		"PROGRESSIVE_HOOK=" + req.Hook,
		"PROGRESSIVE_PHASE=" + phase,
		"PROGRESSIVE_STEP=" + strconv.Itoa(req.Step),
		"PROGRESSIVE_TARGET=" + req.Target.String(),
		"PROGRESSIVE_NAMESPACE=" + req.Target.Namespace,
		"PROGRESSIVE_SERVICE=" + req.Target.Name,
		"PROGRESSIVE_RELEASE_VERSION=" + req.Release.Version,
		"PROGRESSIVE_RELEASE_IMAGE=" + req.Release.Image,
		"PROGRESSIVE_REASON=" + req.Reason,
	}
}

// tailWriter keeps the last max bytes written to it.
type tailWriter struct {
	max int
	b   []byte
}

func (w *tailWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	if len(w.b) > w.max {
		w.b = append(w.b[:0], w.b[len(w.b)-w.max:]...)
	}
	return len(p), nil
}

// suffix is ": <stderr tail>", or nothing when the command wrote nothing.
func (w *tailWriter) suffix() string {
	s := strings.TrimSpace(strings.ToValidUTF8(string(w.b), "?"))
	if s == "" {
		return ""
	}
	return ": " + s
}
