package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/launchdarkly/go-sdk-common/v3/ldlog"
	ldclient "github.com/launchdarkly/go-server-sdk/v7"
	"github.com/launchdarkly/go-server-sdk/v7/ldcomponents"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/provider/flagsmith"
	"github.com/agentops/progressive/provider/gatewayapi"
	"github.com/agentops/progressive/provider/istio"
	k8s "github.com/agentops/progressive/provider/kubernetes"
	"github.com/agentops/progressive/provider/launchdarkly"
	"github.com/agentops/progressive/provider/linkerd"
	"github.com/agentops/progressive/provider/prometheus"
	"github.com/agentops/progressive/rollout"
)

// closers collects what a command opened, closed in reverse on the way out.
type closers []func()

func (c *closers) add(f func()) { *c = append(*c, f) }

func (c closers) close() {
	for i := len(c) - 1; i >= 0; i-- {
		c[i]()
	}
}

// session is what a command works with: the configuration, the store and,
// once built, the kubernetes provider they may share.
type session struct {
	app     *App
	cfg     *Config
	flags   *flags
	k8s     *k8s.Provider
	restCfg *rest.Config
	closers closers
}

func (a *App) newSession(f *flags) (*session, error) {
	cfg, err := a.loadConfig(f.config)
	if err != nil {
		return nil, err
	}
	return &session{app: a, cfg: cfg, flags: f}, nil
}

func (s *session) close() { s.closers.close() }

// logger is the runner's: warnings (a plan's lint findings, retries) on
// stderr, nothing below, so that they do not drown the progress view.
func (s *session) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(s.app.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// kube connects to the configured cluster once.
func (s *session) kube(dryRun bool) (*k8s.Provider, error) {
	if s.k8s != nil {
		return s.k8s, nil
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if p := s.cfg.Kubernetes.Kubeconfig; p != "" {
		rules.ExplicitPath = s.app.expandHome(p)
	}
	overrides := &clientcmd.ConfigOverrides{CurrentContext: s.cfg.Kubernetes.Context}
	rc, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, overrides).ClientConfig()
	if err != nil {
		return nil, invalidf("config %s: kubernetes: %v", s.cfg.path, err)
	}
	p, err := k8s.New(rc, k8s.Options{
		DryRun: dryRun,
		// A mesh router moves the traffic between subsets selected by pod
		// label; the Service must keep selecting both sides' pods for it.
		LeaveServiceSelector: s.cfg.Router.Kind != "" && s.cfg.Router.Kind != RouterKubernetes,
		Logger:               s.logger(),
		NoEvents:             dryRun,
	})
	if err != nil {
		return nil, fmt.Errorf("kubernetes: %w", err)
	}
	s.k8s, s.restCfg = p, rc
	s.closers.add(p.Close)
	return p, nil
}

// store opens the state store: --state-dir, else the configuration's, else
// files in the default state directory.
func (s *session) store() (rollout.StateStore, error) {
	if s.flags.sim && s.flags.stateDir == "" {
		// Rehearsals never share the configured store: a simulated rollout
		// there would hold the real target busy.
		s.flags.stateDir = filepath.Join(filepath.Dir(s.app.defaultStateDir()), "sim")
	}
	if s.flags.stateDir != "" {
		st, err := rollout.NewFileStore(s.flags.stateDir)
		if err != nil {
			return nil, invalidf("flag --state-dir %q: %v", s.flags.stateDir, err)
		}
		return st, nil
	}
	switch s.cfg.Store.Kind {
	case StoreConfigMap:
		p, err := s.kube(false)
		if err != nil {
			return nil, err
		}
		return p.Store(s.cfg.Store.Namespace)
	default:
		dir := s.app.expandHome(s.cfg.Store.Dir)
		if dir == "" {
			dir = s.app.defaultStateDir()
		}
		st, err := rollout.NewFileStore(dir)
		if err != nil {
			return nil, fmt.Errorf("state directory %s: %w", dir, err)
		}
		return st, nil
	}
}

// needsFlags says whether a plan writes feature flags: only then is the flag
// store, which opens SDK connections, built.
func needsFlags(plan *progressive.Plan) bool {
	if plan == nil {
		return false
	}
	for _, st := range plan.Steps {
		if st.SetFlag != nil {
			return true
		}
	}
	return false
}

// providers builds the configured providers. dryRun makes the kubernetes
// provider's writes server-side dry runs.
func (s *session) providers(ctx context.Context, plan *progressive.Plan, dryRun bool) (rollout.Providers, error) {
	var ps rollout.Providers
	if plan != nil {
		// Before connecting anywhere: a hook the configuration lacks is the
		// document's or the configuration's mistake, whatever the cluster says.
		if err := s.checkHooks(*plan); err != nil {
			return ps, err
		}
	}
	p, err := s.kube(dryRun)
	if err != nil {
		return ps, err
	}
	ps.Workloads = []progressive.Workload{p.Workload()}
	if ps.Routers, err = s.routers(p); err != nil {
		return ps, err
	}
	if pc := s.cfg.Prometheus; pc != nil {
		src, err := s.prometheus(ctx, pc)
		if err != nil {
			return ps, err
		}
		ps.Metrics = []progressive.MetricSource{src}
	}
	if needsFlags(plan) {
		fs, err := s.flagStore(ctx)
		if err != nil {
			return ps, err
		}
		ps.Flags = []progressive.FlagStore{fs}
	}
	if plan != nil {
		if ps.Hooks, err = s.hooks(ctx, *plan, dryRun); err != nil {
			return ps, err
		}
	}
	return ps, nil
}

// routers builds the configured traffic router on the kubernetes provider p
// (whose dry-run mode the kubernetes router shares).
func (s *session) routers(p *k8s.Provider) ([]progressive.TrafficRouter, error) {
	switch s.cfg.Router.Kind {
	case "", RouterKubernetes:
		return []progressive.TrafficRouter{p.Router()}, nil
	case RouterIstio:
		r, err := istio.New(s.restCfg, istio.Options{Create: s.cfg.Router.CreateRoutes})
		if err != nil {
			return nil, fmt.Errorf("istio router: %w", err)
		}
		return []progressive.TrafficRouter{r}, nil
	case RouterGatewayAPI:
		r, err := gatewayapi.New(s.restCfg, gatewayapi.Options{})
		if err != nil {
			return nil, fmt.Errorf("gateway API router: %w", err)
		}
		return []progressive.TrafficRouter{r}, nil
	case RouterLinkerd:
		r, err := linkerd.New(s.restCfg, linkerd.Options{})
		if err != nil {
			return nil, fmt.Errorf("linkerd router: %w", err)
		}
		return []progressive.TrafficRouter{r}, nil
	}
	return nil, nil
}

func (s *session) prometheus(ctx context.Context, pc *PrometheusConfig) (*prometheus.Source, error) {
	opts := prometheus.Options{
		Address: pc.Address,
		TLS:     prometheus.TLSOptions{CAFile: pc.CAFile, InsecureSkipVerify: pc.InsecureSkipVerify},
		Logger:  s.logger(),
	}
	if pc.Timeout != "" {
		opts.Timeout, _ = time.ParseDuration(pc.Timeout) // validated with the config
	}
	tok, err := s.app.secret(ctx, s.cfg, "prometheus.bearerTokenFrom", pc.BearerTokenFrom)
	if err != nil {
		return nil, err
	}
	opts.BearerToken = prometheus.Secret(tok)
	if ba := pc.BasicAuth; ba != nil {
		pw, err := s.app.secret(ctx, s.cfg, "prometheus.basicAuth.passwordFrom", ba.PasswordFrom)
		if err != nil {
			return nil, err
		}
		opts.BasicAuth = &prometheus.BasicAuth{Username: ba.Username, Password: prometheus.Secret(pw)}
	}
	src, err := prometheus.New(opts)
	if err != nil {
		return nil, withCode(ExitInvalid, fmt.Errorf("config %s: prometheus: %w", s.cfg.path, err))
	}
	return src, nil
}

func (s *session) flagStore(ctx context.Context) (progressive.FlagStore, error) {
	fc := s.cfg.Flags
	if fc == nil {
		return nil, invalidf("the rollout writes feature flags, and config %s has no flags section", s.cfg.path)
	}
	token, err := s.app.secret(ctx, s.cfg, "flags.apiTokenFrom", fc.APITokenFrom)
	if err != nil {
		return nil, err
	}
	keys := make([]string, len(fc.Environments))
	for i, e := range fc.Environments {
		keys[i], err = s.app.secret(ctx, s.cfg, fmt.Sprintf("flags.environments[%d].sdkKeyFrom", i), e.SDKKeyFrom)
		if err != nil {
			return nil, err
		}
	}
	switch fc.Kind {
	case FlagsLaunchDarkly:
		opts := launchdarkly.Options{Project: fc.Project, APIToken: token, BaseURL: fc.BaseURL}
		for i, e := range fc.Environments {
			// The CLI evaluates no flag for users: it sends no analytics
			// events, and the SDK's own lines below errors would drown the
			// progress view.
			sdk := ldclient.Config{Events: ldcomponents.NoEvents(), Logging: ldcomponents.Logging().MinLevel(ldlog.Error)}
			if fc.RelayURL != "" {
				sdk.ServiceEndpoints = ldcomponents.RelayProxyEndpointsWithoutEvents(fc.RelayURL)
			}
			opts.Environments = append(opts.Environments, launchdarkly.Environment{Key: e.Name, SDKKey: keys[i], Config: sdk})
		}
		st, err := launchdarkly.New(opts)
		if err != nil {
			return nil, fmt.Errorf("launchdarkly: %w", err)
		}
		s.closers.add(func() { _ = st.Close() })
		return st, nil
	default:
		opts := flagsmith.Options{APIToken: token, AdminURL: fc.BaseURL}
		for i, e := range fc.Environments {
			opts.Environments = append(opts.Environments, flagsmith.Environment{Name: e.Name, ServerKey: keys[i]})
		}
		st, err := flagsmith.New(opts)
		if err != nil {
			return nil, fmt.Errorf("flagsmith: %w", err)
		}
		s.closers.add(func() { _ = st.Close() })
		return st, nil
	}
}

// runnerOptions are the options every command's runner shares.
func (s *session) runnerOptions(ps rollout.Providers, store rollout.StateStore, observers ...rollout.Observer) rollout.Options {
	return rollout.Options{
		Providers: ps,
		Store:     store,
		Observers: observers,
		Logger:    s.logger(),
	}
}

// discard is a logger for runners that only read.
var discard = slog.New(slog.NewTextHandler(io.Discard, nil))
