package cli

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/rollout"
	"github.com/agentops/progressive/rollout/document"
)

func TestHookProblemsNameTheirField(t *testing.T) {
	c := newCLI(t)
	r := c.run("status", "--config", writeConfig(t, `apiVersion: progressive.agentops.dev/v1alpha1
kind: Config
hooks:
  nothing: {}
  both: {command: [true], url: "https://hooks.example.com/x"}
  no-image: {job: {args: [up]}}
  bad-url: {url: "ftp://x"}
  job-timeout: {job: {image: migrate:v1}, timeout: 2m}
  unsigned: {command: [true], secretFrom: {env: S}}
  fine: {command: [./smoke.sh], timeout: 30s}
`))
	assert.Equal(t, ExitInvalid, r.code)
	for _, want := range []string{
		`hooks.nothing: "": set exactly one of command, job, or url/urlFrom`,
		`hooks.both: "command,url": set exactly one`,
		`hooks.no-image.job.image: "": must be set`,
		`hooks.bad-url.url: "ftp://x": want an http or https URL`,
		`hooks.job-timeout.timeout: "2m": only a command hook has its own timeout`,
		`hooks.unsigned.secretFrom: "set": only a webhook signs its payloads`,
	} {
		assert.Contains(t, r.stderr, want)
	}
	assert.NotContains(t, r.stderr, "hooks.fine")
}

func hookRequest() rollout.HookRequest {
	return rollout.HookRequest{Rollout: "orders-v3", Hook: "migrate", Target: progressive.Target{Namespace: "shop", Name: "orders"},
		Release: progressive.Release{Version: "v3", Image: "registry.example/orders:v3"}, Step: 0, Time: time.Unix(1700000000, 0).UTC()}
}

func TestCommandHooks(t *testing.T) {
	dir := t.TempDir()
	mark := filepath.Join(dir, "mark")
	h := &commandHook{name: "migrate", dir: dir, argv: []string{"sh", "-c",
		`cat > "$1.json" && echo "$PROGRESSIVE_ROLLOUT $PROGRESSIVE_HOOK $PROGRESSIVE_PHASE $PROGRESSIVE_TARGET $PROGRESSIVE_RELEASE_VERSION $PROGRESSIVE_RELEASE_IMAGE $(pwd)" > "$1"`, "sh", mark}}
	require.NoError(t, h.Run(t.Context(), hookRequest()))
	assert.Equal(t, "orders-v3 migrate step shop/orders v3 registry.example/orders:v3 "+dir+"\n", mustRead(t, mark))
	var got rollout.HookRequest
	require.NoError(t, json.Unmarshal([]byte(mustRead(t, mark+".json")), &got))
	assert.Equal(t, hookRequest(), got, "the request arrives as JSON on stdin")

	// A failure says how the program ended and the end of what it wrote.
	h = &commandHook{name: "migrate", dir: dir, argv: []string{"sh", "-c", `echo "$(seq 1 1000)" >&2; echo "column already exists" >&2; exit 3`}}
	err := h.Run(t.Context(), hookRequest())
	require.Error(t, err)
	assert.Contains(t, err.Error(), `command hook "migrate": sh exited 3 after`)
	assert.True(t, strings.HasSuffix(err.Error(), "column already exists"), err.Error())
	assert.Less(t, len(err.Error()), stderrTail+200, "only the tail of stderr")

	// Its own timeout stops it, within the runner's.
	h = &commandHook{name: "smoke", dir: dir, argv: []string{"sleep", "30"}, timeout: 200 * time.Millisecond}
	start := time.Now()
	err = h.Run(t.Context(), hookRequest())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "did not finish within")
	assert.Less(t, time.Since(start), 5*time.Second)

	// A program that is not there is a configuration problem; a relative
	// path is the configuration directory's.
	require.NoError(t, os.WriteFile(filepath.Join(dir, "ok.sh"), []byte("#!/bin/sh\nexit 0\n"), 0o755))
	require.NoError(t, (&commandHook{name: "ok", dir: dir, argv: []string{"./ok.sh"}}).Run(t.Context(), hookRequest()))
	err = (&commandHook{name: "gone", dir: dir, argv: []string{"./gone.sh"}}).Run(t.Context(), hookRequest())
	assert.True(t, errors.Is(err, progressive.ErrInvalid), "%v", err)
}

func TestWebhookHooksFromTheConfig(t *testing.T) {
	var body []byte
	var sig string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ = io.ReadAll(r.Body)
		sig = r.Header.Get(rollout.SignatureHeader)
	}))
	defer srv.Close()
	c := newCLI(t)
	c.env["DEPLOYS_URL"], c.env["HOOK_SECRET"] = srv.URL+"/deploys", "s3cret"
	a := &App{Getenv: func(k string) string { return c.env[k] }}
	a.defaults()
	cfg := &Config{path: filepath.Join(t.TempDir(), "config.yaml")}
	s := &session{app: a, cfg: cfg, flags: &flags{}}
	h, err := s.hook(t.Context(), "deployments-channel", HookConfig{URLFrom: &document.ValueFrom{Env: "DEPLOYS_URL"}, SecretFrom: &document.ValueFrom{Env: "HOOK_SECRET"}}, false)
	require.NoError(t, err)
	require.NoError(t, h.Run(t.Context(), hookRequest()))
	assert.Contains(t, string(body), `"rollout":"orders-v3"`)
	assert.True(t, rollout.VerifySignature([]byte("s3cret"), body, sig))

	_, err = s.hook(t.Context(), "x", HookConfig{URLFrom: &document.ValueFrom{Env: "UNSET"}}, false)
	assert.Equal(t, ExitInvalid, codeOf(err))
	assert.Contains(t, err.Error(), "hooks.x.urlFrom")
}

func TestARolloutNamingAnUndefinedHookIsRefused(t *testing.T) {
	c := newCLI(t)
	doc := seedDocuments(t)["order-management"]
	cfg := writeConfig(t, `apiVersion: progressive.agentops.dev/v1alpha1
kind: Config
kubernetes: {kubeconfig: /nonexistent/kubeconfig}
hooks:
  migrate-add-column: {command: ["true"]}
`)
	c.env["SLACK_DEPLOYMENTS_URL"], c.env["SLACK_ALERTS_URL"] = "https://hooks.example.com/a", "https://hooks.example.com/b"
	for _, cmd := range []string{"run", "dry-run"} {
		r := c.run(cmd, "--config", cfg, "--state-dir", t.TempDir(), doc)
		assert.Equal(t, ExitInvalid, r.code, cmd)
		assert.Contains(t, r.stderr, `"smoke-tests" (step 3, validate-smoke-tests)`, cmd)
		assert.Contains(t, r.stderr, "config "+cfg+" does not define them", cmd)
		assert.Contains(t, r.stderr, "(defined: migrate-add-column)", cmd)
	}
	// A rehearsal keeps the hooks in the process.
	r := c.run("run", "--sim", "--config", cfg, "--state-dir", t.TempDir(), doc)
	assert.Equal(t, ExitOK, r.code)
}
