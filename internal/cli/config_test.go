package cli

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func writeConfig(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config.yaml")
	require.NoError(t, os.WriteFile(p, []byte(text), 0o600))
	return p
}

func TestConfigProblemsNameTheirFieldAndValue(t *testing.T) {
	c := newCLI(t)
	for _, tc := range []struct {
		name, text string
		want       []string
	}{
		{"misspelled key", "apiVersion: progressive.agentops.dev/v1alpha1\nkind: Config\nstore: {kind: file, dirr: /tmp}\n",
			[]string{`unknown field "dirr"`}},
		{"every problem at once", `apiVersion: progressive.agentops.dev/v1alpha2
kind: Config
router: {kind: nginx}
prometheus: {timeout: soon}
store: {kind: configmap}
flags: {kind: unleash, environments: [{name: production}]}
`, []string{
			`apiVersion: "progressive.agentops.dev/v1alpha2": want progressive.agentops.dev/v1alpha1`,
			`router.kind: "nginx": want istio, gatewayapi, linkerd or kubernetes`,
			`prometheus.address: "": must be set`,
			`prometheus.timeout: "soon": want a positive duration`,
			`store.namespace: "": a configmap store needs the namespace`,
			`flags.kind: "unleash": want launchdarkly or flagsmith`,
			`flags.environments[0].sdkKeyFrom: "": must name an env variable or a file`,
		}},
		{"a relay for a store that has none", `apiVersion: progressive.agentops.dev/v1alpha1
kind: Config
flags: {kind: flagsmith, relayURL: "relay:8030", environments: [{name: production, sdkKeyFrom: {env: K}}]}
`, []string{
			`flags.relayURL: "relay:8030": only the launchdarkly store reads from a relay`,
			`flags.relayURL: "relay:8030": want an http or https URL`,
		}},
		{"a secret named twice", `apiVersion: progressive.agentops.dev/v1alpha1
kind: Config
prometheus: {address: "http://p:9090", bearerTokenFrom: {env: A, file: /b}}
`, []string{`prometheus.bearerTokenFrom: "env=A file=/b": name exactly one of env or file`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := c.run("status", "--config", writeConfig(t, tc.text))
			assert.Equal(t, ExitInvalid, r.code)
			for _, w := range tc.want {
				assert.Contains(t, r.stderr, w)
			}
		})
	}
}

func TestTheDefaultConfigIsReadFromXDGConfigHome(t *testing.T) {
	c := newCLI(t)
	xdg := t.TempDir()
	c.env["XDG_CONFIG_HOME"] = xdg
	state := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(xdg, "progressive"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(xdg, "progressive", "config.yaml"), []byte(
		"apiVersion: progressive.agentops.dev/v1alpha1\nkind: Config\nstore: {kind: file, dir: "+state+"}\n"), 0o600))
	id := startStored(t, state, seedDocuments(t)["payment-service"])
	r := c.run("status")
	require.Equal(t, ExitOK, r.code)
	assert.Contains(t, r.stdout, id, "the store the default configuration names")

	// Without one, and without a home, nothing is invented.
	delete(c.env, "XDG_CONFIG_HOME")
	r = c.run("status")
	assert.Equal(t, ExitOK, r.code)
	assert.Equal(t, "no rollouts\n", r.stdout)
}

// TestSecretsComeFromTheEnvironmentOrFiles: the configuration names where a
// credential is, and a missing one is reported with the field that names it.
func TestSecretsComeFromTheEnvironmentOrFiles(t *testing.T) {
	c := newCLI(t)
	a := &App{Getenv: func(k string) string { return c.env[k] }}
	a.defaults()
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "token"), []byte("from-a-file\n"), 0o600))
	cfg, err := parseConfig([]byte(`apiVersion: progressive.agentops.dev/v1alpha1
kind: Config
prometheus:
  address: http://prometheus:9090
  basicAuth: {username: reader, passwordFrom: {env: PROM_PASSWORD}}
flags:
  kind: flagsmith
  apiTokenFrom: {file: token}
  environments: [{name: production, sdkKeyFrom: {env: FLAGSMITH_KEY}}]
`), filepath.Join(dir, "config.yaml"))
	require.NoError(t, err)
	ctx := context.Background()
	s := &session{app: a, cfg: cfg, flags: &flags{}}

	_, err = s.prometheus(ctx, cfg.Prometheus)
	require.Error(t, err)
	assert.Equal(t, ExitInvalid, codeOf(err))
	assert.Contains(t, err.Error(), "prometheus.basicAuth.passwordFrom: environment variable PROM_PASSWORD is not set")

	c.env["PROM_PASSWORD"] = "hunter2"
	src, err := s.prometheus(ctx, cfg.Prometheus)
	require.NoError(t, err)
	assert.Equal(t, "prometheus", src.Name())

	tok, err := a.secret(ctx, cfg, "flags.apiTokenFrom", cfg.Flags.APITokenFrom)
	require.NoError(t, err)
	assert.Equal(t, "from-a-file", tok, "relative to the configuration, trailing newline dropped")
	_, err = s.flagStore(ctx)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "flags.environments[0].sdkKeyFrom: environment variable FLAGSMITH_KEY is not set")
}

func TestAConfiguredClusterThatCannotBeReadIsInvalidInput(t *testing.T) {
	c := newCLI(t)
	cfg := writeConfig(t, `apiVersion: progressive.agentops.dev/v1alpha1
kind: Config
kubernetes: {kubeconfig: /nonexistent/kubeconfig}
store: {kind: configmap, namespace: progressive}
`)
	r := c.run("status", "--config", cfg)
	assert.Equal(t, ExitInvalid, r.code)
	assert.Contains(t, r.stderr, "kubernetes:")
	assert.Contains(t, r.stderr, "/nonexistent/kubeconfig")
}

func TestExitCodesOfErrors(t *testing.T) {
	assert.Equal(t, ExitOK, codeOf(nil))
	assert.Equal(t, ExitInterrupted, codeOf(context.Canceled))
	assert.Equal(t, ExitNotStarted, codeOf(withCode(ExitNotStarted, context.Canceled)), "an explicit code wins")
}
