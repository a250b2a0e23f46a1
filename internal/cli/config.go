package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/agentops/progressive/rollout/document"
)

// ConfigKind is the kind of the configuration document; it shares the
// rollout documents' apiVersion.
const ConfigKind = "Config"

// Config is the configuration document: where the providers are. It holds no
// secret itself: credentials are named (env or file) and read when the
// providers are built, so that the file can be shared and no secret is ever
// typed on a command line.
//
//	apiVersion: progressive.agentops.dev/v1alpha1
//	kind: Config
//	kubernetes: {kubeconfig: ~/.kube/config, context: prod}
//	router: {kind: istio}
//	prometheus:
//	  address: https://prometheus.example.com
//	  bearerTokenFrom: {env: PROMETHEUS_TOKEN}
//	store: {kind: configmap, namespace: progressive-system}
//	flags:
//	  kind: launchdarkly
//	  project: shop
//	  apiTokenFrom: {file: /var/run/secrets/launchdarkly/api-token}
//	  environments:
//	    - {name: production, sdkKeyFrom: {env: LD_SDK_KEY}}
//	queries:
//	  error_rate: 100 * sum(rate(http_requests_total{service="{{.Service}}",version="{{.Version}}",code=~"5.."}[{{.Interval}}])) / sum(rate(http_requests_total{service="{{.Service}}",version="{{.Version}}"}[{{.Interval}}]))
type Config struct {
	APIVersion string            `json:"apiVersion"`
	Kind       string            `json:"kind"`
	Kubernetes KubernetesConfig  `json:"kubernetes,omitempty"`
	Router     RouterConfig      `json:"router,omitempty"`
	Prometheus *PrometheusConfig `json:"prometheus,omitempty"`
	Store      StoreConfig       `json:"store,omitempty"`
	Flags      *FlagsConfig      `json:"flags,omitempty"`
	// Queries name measurements: a check whose query is one of these names
	// is measured by its template (the variables of a check query:
	// {{.Namespace}}, {{.Service}}, {{.Version}}, {{.Role}}, {{.Interval}}).
	Queries map[string]string `json:"queries,omitempty"`
	// Hooks define the hooks documents name without a URL (HookConfig).
	Hooks map[string]HookConfig `json:"hooks,omitempty"`
	// Checklist gates run with the production validation checklist
	// (ChecklistConfig).
	Checklist *ChecklistConfig `json:"checklist,omitempty"`

	// path is where the document was read, for messages and relative paths.
	path string
}

// KubernetesConfig selects the cluster. Empty Kubeconfig means $KUBECONFIG,
// then ~/.kube/config, then the in-cluster service account.
type KubernetesConfig struct {
	Kubeconfig string `json:"kubeconfig,omitempty"`
	Context    string `json:"context,omitempty"`
}

// Router kinds.
const (
	RouterIstio      = "istio"
	RouterGatewayAPI = "gatewayapi"
	RouterLinkerd    = "linkerd"
	RouterKubernetes = "kubernetes"
)

// RouterConfig selects the traffic router.
type RouterConfig struct {
	// Kind is istio, gatewayapi, linkerd or kubernetes (the default: traffic
	// by pod ratio through the Service's selector).
	Kind string `json:"kind,omitempty"`
	// CreateRoutes lets the istio router create the VirtualService and
	// DestinationRule when they do not exist.
	CreateRoutes bool `json:"createRoutes,omitempty"`
}

// PrometheusConfig is the metric source.
type PrometheusConfig struct {
	Address         string              `json:"address"`
	BearerTokenFrom *document.ValueFrom `json:"bearerTokenFrom,omitempty"`
	BasicAuth       *BasicAuthConfig    `json:"basicAuth,omitempty"`
	// CAFile verifies an https server with these authorities.
	CAFile string `json:"caFile,omitempty"`
	// InsecureSkipVerify accepts any certificate: tests and emergencies only.
	InsecureSkipVerify bool `json:"insecureSkipVerify,omitempty"`
	// Timeout of one query, such as 30s.
	Timeout string `json:"timeout,omitempty"`
}

// BasicAuthConfig is a user name with a password read from env or file.
type BasicAuthConfig struct {
	Username     string              `json:"username"`
	PasswordFrom *document.ValueFrom `json:"passwordFrom"`
}

// Store kinds.
const (
	StoreConfigMap = "configmap"
	StoreFile      = "file"
)

// StoreConfig is where rollout states are kept.
type StoreConfig struct {
	// Kind is configmap (a ConfigMap per rollout in Namespace) or file (a
	// JSON file per rollout in Dir). Default file in the default state
	// directory.
	Kind      string `json:"kind,omitempty"`
	Namespace string `json:"namespace,omitempty"`
	Dir       string `json:"dir,omitempty"`
}

// Flag store kinds.
const (
	FlagsLaunchDarkly = "launchdarkly"
	FlagsFlagsmith    = "flagsmith"
)

// FlagsConfig is the feature-flag store.
type FlagsConfig struct {
	Kind string `json:"kind"`
	// Project is LaunchDarkly's default project key.
	Project string `json:"project,omitempty"`
	// APITokenFrom is the write token (LaunchDarkly API token, Flagsmith Admin
	// API key). Without it the store is read-only.
	APITokenFrom *document.ValueFrom `json:"apiTokenFrom,omitempty"`
	// BaseURL overrides the service's API address (a relay, a test server).
	BaseURL string `json:"baseURL,omitempty"`
	// RelayURL makes LaunchDarkly's SDK read flags from a Relay Proxy (or a
	// test's stand-in) instead of LaunchDarkly's streaming service.
	RelayURL     string            `json:"relayURL,omitempty"`
	Environments []FlagEnvironment `json:"environments"`
}

// FlagEnvironment is one environment of the flag store with its server-side
// SDK key.
type FlagEnvironment struct {
	Name       string              `json:"name"`
	SDKKeyFrom *document.ValueFrom `json:"sdkKeyFrom"`
}

// defaultConfigPath is $XDG_CONFIG_HOME/progressive/config.yaml, falling
// back to ~/.config as the XDG specification says.
func (a *App) defaultConfigPath() string {
	dir := a.Getenv("XDG_CONFIG_HOME")
	if dir == "" {
		home := a.Getenv("HOME")
		if home == "" {
			return ""
		}
		dir = filepath.Join(home, ".config")
	}
	return filepath.Join(dir, "progressive", "config.yaml")
}

// defaultStateDir is $XDG_STATE_HOME/progressive/rollouts (~/.local/state
// by default): where rollouts are kept when nothing else is configured, so
// that `run --sim` followed by `status` or `history` works out of the box.
func (a *App) defaultStateDir() string {
	dir := a.Getenv("XDG_STATE_HOME")
	if dir == "" {
		home := a.Getenv("HOME")
		if home == "" {
			return filepath.Join(os.TempDir(), "progressive", "rollouts")
		}
		dir = filepath.Join(home, ".local", "state")
	}
	return filepath.Join(dir, "progressive", "rollouts")
}

// maxConfigSize bounds the configuration read: it is a page of text.
const maxConfigSize = 1 << 20

// loadConfig reads the configuration named by --config, or the default one.
// A missing default file is an empty configuration (the simulator and a
// file store need none); a missing named file is an error naming the flag.
func (a *App) loadConfig(path string) (*Config, error) {
	explicit := path != ""
	if !explicit {
		path = a.defaultConfigPath()
		if path == "" {
			return &Config{}, nil
		}
	}
	f, err := os.Open(path)
	if err != nil {
		if !explicit && errors.Is(err, os.ErrNotExist) {
			return &Config{}, nil
		}
		return nil, invalidf("flag --config: %v", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxConfigSize+1))
	if err != nil {
		return nil, withCode(ExitFailure, fmt.Errorf("config %s: %w", path, err))
	}
	if len(b) > maxConfigSize {
		return nil, invalidf("config %s: larger than %d bytes", path, maxConfigSize)
	}
	return parseConfig(b, path)
}

// parseConfig decodes strictly: a misspelled key would silently select a
// default (a store in a temporary directory instead of the cluster's).
func parseConfig(b []byte, path string) (*Config, error) {
	var c Config
	if err := yaml.UnmarshalStrict(b, &c); err != nil {
		return nil, invalidf("config %s: %s", path, strings.TrimPrefix(err.Error(), "error unmarshaling JSON: while decoding JSON: "))
	}
	c.path = path
	if err := c.validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

// validate reports every problem at once, each naming its field and value.
func (c *Config) validate() error {
	var ps []string
	add := func(field string, value any, reason string) {
		ps = append(ps, fmt.Sprintf("%s: %q: %s", field, fmt.Sprint(value), reason))
	}
	if c.APIVersion != document.APIVersion {
		add("apiVersion", c.APIVersion, "want "+document.APIVersion)
	}
	if c.Kind != ConfigKind {
		add("kind", c.Kind, "want "+ConfigKind)
	}
	switch c.Router.Kind {
	case "", RouterIstio, RouterGatewayAPI, RouterLinkerd, RouterKubernetes:
	default:
		add("router.kind", c.Router.Kind, "want istio, gatewayapi, linkerd or kubernetes")
	}
	if p := c.Prometheus; p != nil {
		if p.Address == "" {
			add("prometheus.address", "", "must be set (http://prometheus.monitoring:9090)")
		}
		if p.Timeout != "" {
			if d, err := time.ParseDuration(p.Timeout); err != nil || d <= 0 {
				add("prometheus.timeout", p.Timeout, "want a positive duration such as 30s")
			}
		}
		if p.BearerTokenFrom != nil && p.BasicAuth != nil {
			add("prometheus.bearerTokenFrom", "set", "bearerTokenFrom and basicAuth exclude each other")
		}
		checkFrom(add, "prometheus.bearerTokenFrom", p.BearerTokenFrom, false)
		if p.BasicAuth != nil {
			if p.BasicAuth.Username == "" {
				add("prometheus.basicAuth.username", "", "must be set")
			}
			checkFrom(add, "prometheus.basicAuth.passwordFrom", p.BasicAuth.PasswordFrom, true)
		}
	}
	switch c.Store.Kind {
	case "", StoreFile:
		if c.Store.Namespace != "" {
			add("store.namespace", c.Store.Namespace, "only a configmap store has a namespace")
		}
	case StoreConfigMap:
		if c.Store.Namespace == "" {
			add("store.namespace", "", "a configmap store needs the namespace of its ConfigMaps")
		}
		if c.Store.Dir != "" {
			add("store.dir", c.Store.Dir, "only a file store has a directory")
		}
	default:
		add("store.kind", c.Store.Kind, "want configmap or file")
	}
	if f := c.Flags; f != nil {
		switch f.Kind {
		case FlagsLaunchDarkly, FlagsFlagsmith:
		default:
			add("flags.kind", f.Kind, "want launchdarkly or flagsmith")
		}
		if len(f.Environments) == 0 {
			add("flags.environments", "[]", "name at least one environment with its sdkKeyFrom")
		}
		for i, e := range f.Environments {
			if e.Name == "" {
				add(fmt.Sprintf("flags.environments[%d].name", i), "", "must be set")
			}
			checkFrom(add, fmt.Sprintf("flags.environments[%d].sdkKeyFrom", i), e.SDKKeyFrom, true)
		}
		checkFrom(add, "flags.apiTokenFrom", f.APITokenFrom, false)
		if f.RelayURL != "" {
			if f.Kind != FlagsLaunchDarkly {
				add("flags.relayURL", f.RelayURL, "only the launchdarkly store reads from a relay")
			}
			if u, err := url.Parse(f.RelayURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				add("flags.relayURL", f.RelayURL, "want an http or https URL")
			}
		}
	}
	validateQueries(add, c.Queries)
	validateHooks(add, c.Hooks)
	validateChecklist(add, c.Checklist)
	if len(ps) == 0 {
		return nil
	}
	return invalidf("config %s: %d problem(s):\n  - %s", c.path, len(ps), strings.Join(ps, "\n  - "))
}

func checkFrom(add func(string, any, string), field string, v *document.ValueFrom, required bool) {
	switch {
	case v == nil:
		if required {
			add(field, "", "must name an env variable or a file ({env: NAME} or {file: PATH})")
		}
	case (v.Env == "") == (v.File == ""):
		add(field, fmt.Sprintf("env=%s file=%s", v.Env, v.File), "name exactly one of env or file")
	}
}

// resolver reads secrets named by env or file: from App.Getenv (tests give
// their own environment) and from files relative to base.
type resolver struct {
	getenv func(string) string
	base   string
}

// Resolve implements document.Resolver.
func (r resolver) Resolve(ctx context.Context, ref document.ValueFrom) (string, error) {
	if ref.Env != "" {
		v := r.getenv(ref.Env)
		if v == "" {
			return "", fmt.Errorf("environment variable %s is not set", ref.Env)
		}
		return v, nil
	}
	return document.EnvFileResolver{Dir: r.base}.Resolve(ctx, ref)
}

// secret resolves an optional reference of the configuration.
func (a *App) secret(ctx context.Context, c *Config, field string, v *document.ValueFrom) (string, error) {
	if v == nil {
		return "", nil
	}
	s, err := resolver{getenv: a.Getenv, base: filepath.Dir(c.path)}.Resolve(ctx, *v)
	if err != nil {
		return "", invalidf("config %s: %s: %v", c.path, field, err)
	}
	return s, nil
}

// expandHome turns a leading ~/ into the home directory, as a shell would
// have in a flag but cannot in a YAML file.
func (a *App) expandHome(p string) string {
	if strings.HasPrefix(p, "~/") {
		if home := a.Getenv("HOME"); home != "" {
			return filepath.Join(home, p[2:])
		}
	}
	return p
}
