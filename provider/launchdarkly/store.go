package launchdarkly

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/flags"
	"github.com/agentops/progressive/internal/flaghttp"
	"github.com/agentops/progressive/internal/redact"
	"github.com/launchdarkly/go-sdk-common/v3/ldcontext"
	"github.com/launchdarkly/go-sdk-common/v3/ldvalue"
	"github.com/launchdarkly/go-server-sdk-evaluation/v3/ldmodel"
	ldclient "github.com/launchdarkly/go-server-sdk/v7"
	"github.com/launchdarkly/go-server-sdk/v7/ldcomponents"
	"github.com/launchdarkly/go-server-sdk/v7/subsystems"
	"github.com/launchdarkly/go-server-sdk/v7/subsystems/ldstoreimpl"
	"github.com/launchdarkly/go-server-sdk/v7/subsystems/ldstoretypes"
	"k8s.io/utils/clock"
)

// Name is the store's name, for Plan.Providers.Flags.
const Name = "launchdarkly"

// Defaults of Options.
const (
	DefaultBaseURL     = "https://app.launchdarkly.com"
	DefaultContextKind = "user"
	DefaultStartWait   = 5 * time.Second
	DefaultSyncTimeout = 5 * time.Second
)

// Environment is one LaunchDarkly environment the store reads through an SDK client
// and writes through the REST API.
type Environment struct {
	// Key is the environment key ("production"): FlagRef.Environment names it, and
	// it is the environmentKey of every semantic patch.
	Key string
	// SDKKey is the environment's server-side SDK key. It is a secret: it never
	// appears in errors or logs.
	SDKKey string
	// Config configures the SDK client: data source (streaming by default; an
	// ldtestdata or ldfiledata source in tests), endpoints, logging, events. The
	// store wraps Config.DataStore (nil: in memory) to read the flags the SDK holds.
	// Config.DataSystem (FDv2) is not supported.
	Config ldclient.Config
}

// Options configure a Store. Zero values select the documented defaults.
type Options struct {
	// Project is the project key used when a FlagRef has none.
	Project string
	// Environments the store serves; at least one.
	Environments []Environment
	// APIToken is a LaunchDarkly API access token with write access to flags
	// (sent as the Authorization header). Empty makes the store read-only: writes
	// fail with progressive.ErrUnsupported. It never appears in errors or logs.
	APIToken string
	// BaseURL of the REST API. Default https://app.launchdarkly.com.
	BaseURL string
	// ContextKind is the kind of the contexts targets, rules and rollouts apply to.
	// Default "user".
	ContextKind string
	// HTTPClient sends REST requests. Default: a client with a 30s timeout.
	HTTPClient *http.Client
	// Clock times retry waits. Default clock.RealClock{}.
	Clock clock.Clock
	// Attempts, Backoff and MaxWait bound the retries of transient failures (5xx,
	// 429 with its Retry-After, no answer); see the retry rules in the package doc. Defaults 4,
	// 250ms, 30s.
	Attempts int
	Backoff  time.Duration
	MaxWait  time.Duration
	// StartWait is how long New waits for each SDK client to receive its flags.
	// Default 5s.
	StartWait time.Duration
	// SyncTimeout is how long, in real time, a write waits for the SDK to receive
	// the flag version the write produced, so that a read right after a write sees
	// it. Default 5s; a negative value does not wait.
	SyncTimeout time.Duration
	// Logger receives debug lines per request and warnings. Default: discard.
	Logger *slog.Logger
}

// Store is a progressive.FlagStore and progressive.FlagTargeter for LaunchDarkly.
// Reads go through the server-side SDK (the flag configuration the SDK evaluates,
// from its data store); writes go through the REST API v2 as semantic patches, one
// PATCH per change, after reading the flag's variation ids with a GET.
type Store struct {
	opts   Options
	api    *flaghttp.Client
	logger *slog.Logger
	envs   map[string]*sdkEnv

	mu    sync.Mutex
	names map[string][]apiVariation // project/flag -> variations, from the REST API
}

type sdkEnv struct {
	key    string
	client *ldclient.LDClient
	store  *capturedStore
}

// capturedStore builds the SDK's data store and keeps it, so the store reads what
// the SDK evaluates.
type capturedStore struct {
	inner subsystems.ComponentConfigurer[subsystems.DataStore]
	mu    sync.Mutex
	store subsystems.DataStore
}

func (c *capturedStore) Build(ctx subsystems.ClientContext) (subsystems.DataStore, error) {
	s, err := c.inner.Build(ctx)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.store = s
	c.mu.Unlock()
	return s, nil
}

func (c *capturedStore) get() subsystems.DataStore {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.store
}

// New starts one SDK client per environment and returns the store. Close stops
// them.
func New(opts Options) (*Store, error) {
	if opts.BaseURL == "" {
		opts.BaseURL = DefaultBaseURL
	}
	opts.BaseURL = strings.TrimRight(opts.BaseURL, "/")
	if opts.ContextKind == "" {
		opts.ContextKind = DefaultContextKind
	}
	if opts.StartWait <= 0 {
		opts.StartWait = DefaultStartWait
	}
	if opts.SyncTimeout == 0 {
		opts.SyncTimeout = DefaultSyncTimeout
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	logger := opts.Logger.With("provider", Name)
	var p progressive.Problems
	if len(opts.Environments) == 0 {
		p.Add("environments", nil, "must list at least one environment")
	}
	checkBaseURL(&p, opts.BaseURL)
	if opts.Project != "" && !isKey(opts.Project) {
		p.Add("project", opts.Project, keyRule)
	}
	for _, d := range []struct {
		field string
		bad   bool
	}{{"attempts", opts.Attempts < 0}, {"backoff", opts.Backoff < 0}, {"maxWait", opts.MaxWait < 0}} {
		if d.bad {
			p.Add(d.field, nil, "must not be negative (zero selects the default)")
		}
	}
	secrets := []string{opts.APIToken}
	seen := map[string]bool{}
	for i, e := range opts.Environments {
		f := fmt.Sprintf("environments[%d]", i)
		switch {
		case e.Key == "":
			p.Add(f+".key", nil, "must not be empty")
		case !isKey(e.Key):
			p.Add(f+".key", e.Key, keyRule)
		case seen[e.Key]:
			p.Add(f+".key", e.Key, "is listed twice")
		}
		seen[e.Key] = true
		if e.Config.DataSystem != nil {
			p.Add(f+".config.dataSystem", nil, "is not supported: configure DataSource and DataStore")
		}
		secrets = append(secrets, e.SDKKey)
	}
	if err := p.Err(); err != nil {
		return nil, fmt.Errorf("launchdarkly: options: %w", err)
	}
	s := &Store{
		opts:   opts,
		logger: logger,
		envs:   map[string]*sdkEnv{},
		names:  map[string][]apiVariation{},
		api: flaghttp.New(flaghttp.Options{
			Provider: Name, HTTPClient: opts.HTTPClient, Clock: opts.Clock,
			Attempts: opts.Attempts, Backoff: opts.Backoff, MaxWait: opts.MaxWait,
			Secrets: secrets, Logger: logger,
		}),
	}
	for _, e := range opts.Environments {
		cfg := e.Config
		inner := cfg.DataStore
		if inner == nil {
			inner = ldcomponents.InMemoryDataStore()
		}
		captured := &capturedStore{inner: inner}
		cfg.DataStore = captured
		client, err := ldclient.MakeCustomClient(e.SDKKey, cfg, opts.StartWait)
		if err != nil && (client == nil || !errors.Is(err, ldclient.ErrInitializationTimeout)) {
			_ = s.Close()
			if client != nil {
				_ = client.Close()
			}
			return nil, fmt.Errorf("launchdarkly: SDK client for environment %q: %s: %w", e.Key, s.api.Redact(err.Error()), progressive.ErrTransient)
		}
		if err != nil {
			logger.Warn("SDK client not initialized yet; reads fail until it is", "environment", e.Key)
		}
		s.envs[e.Key] = &sdkEnv{key: e.Key, client: client, store: captured}
	}
	return s, nil
}

// keyRule is progressive.FlagRef's rule for keys, projects and environments.
const keyRule = "must start with a letter or digit and hold only letters, digits, '.', '_' or '-' (at most 256), as progressive.FlagRef requires"

// isKey reports whether progressive.FlagRef accepts k as a key, and so as a
// project or environment key: a FlagRef naming it could never be served.
func isKey(k string) bool { return progressive.FlagRef{Key: k}.Validate() == nil }

// checkBaseURL refuses a REST API base URL every write would fail on. The URL
// is shown by scheme and host only: user info, path and query may hold secrets.
func checkBaseURL(p *progressive.Problems, raw string) {
	shown := redact.WebhookURL(raw)
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		p.Add("baseURL", nil, "is not a URL")
	case u.Scheme != "http" && u.Scheme != "https":
		p.Add("baseURL", shown, "must be an http or https URL")
	case u.Host == "" || u.Hostname() == "":
		p.Add("baseURL", shown, "has no host")
	case u.User != nil:
		p.Add("baseURL", shown, "must not hold user info: the API token goes in APIToken")
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		p.Add("baseURL", shown, "must not have a query or fragment")
	default:
		if port := u.Port(); port != "" {
			if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
				p.Add("baseURL", shown, "the port must be 1 to 65535")
			}
		}
	}
}

// Name returns "launchdarkly".
func (s *Store) Name() string { return Name }

// Close stops the SDK clients.
func (s *Store) Close() error {
	var errs []error
	for _, e := range s.envs {
		errs = append(errs, e.client.Close())
	}
	return errors.Join(errs...)
}

// Client returns the SDK client of an environment, for evaluations.
func (s *Store) Client(environment string) (*ldclient.LDClient, error) {
	e, err := s.env(environment)
	if err != nil {
		return nil, err
	}
	return e.client, nil
}

func (s *Store) env(key string) (*sdkEnv, error) {
	return flags.LookupEnvironment("launchdarkly", s.envs, key)
}

// normalize fills in the project and environment, and checks the key.
func (s *Store) normalize(ref progressive.FlagRef) (progressive.FlagRef, *sdkEnv, error) {
	if err := ref.Validate(); err != nil {
		return ref, nil, fmt.Errorf("launchdarkly: flag ref: %w", err)
	}
	e, err := s.env(ref.Environment)
	if err != nil {
		return ref, nil, err
	}
	ref.Environment = e.key
	if ref.Project == "" {
		ref.Project = s.opts.Project
	}
	return ref, e, nil
}

// sdkFlag reads the flag the SDK holds.
func (s *Store) sdkFlag(ref progressive.FlagRef, e *sdkEnv) (*ldmodel.FeatureFlag, error) {
	ds := e.store.get()
	if ds == nil || !e.client.Initialized() {
		return nil, fmt.Errorf("launchdarkly: flag %s: the SDK client has not received its flags yet: %w", ref, progressive.ErrTransient)
	}
	item, err := ds.Get(ldstoreimpl.Features(), ref.Key)
	if err != nil {
		return nil, fmt.Errorf("launchdarkly: flag %s: SDK data store: %s: %w", ref, s.api.Redact(err.Error()), progressive.ErrTransient)
	}
	f, ok := item.Item.(*ldmodel.FeatureFlag)
	if !ok || f == nil || f.Deleted {
		return nil, fmt.Errorf("launchdarkly: flag %s not found in environment %s (the SDK holds %s): %w",
			ref, e.key, s.knownKeys(ds, ldstoreimpl.Features()), progressive.ErrNotFound)
	}
	return f, nil
}

func (s *Store) knownKeys(ds subsystems.DataStore, kind ldstoretypes.DataKind) string {
	var all []string
	items, err := ds.GetAll(kind)
	if err != nil {
		return "unknown"
	}
	for _, it := range items {
		if it.Item.Item != nil {
			all = append(all, it.Key)
		}
	}
	slices.Sort(all)
	if len(all) == 0 {
		return "none"
	}
	if len(all) > 20 {
		return strings.Join(all[:20], ", ") + fmt.Sprintf(" and %d more", len(all)-20)
	}
	return strings.Join(all, ", ")
}

// GetFlag reads ref as the environment's SDK client holds it: on/off, variations
// (ids are the variation indexes "0", "1"...; names come from the REST API when the
// store has a token, else from the values), off variation, fallthrough rollout,
// user targets and rules. Version is the SDK's flag version.
func (s *Store) GetFlag(ctx context.Context, ref progressive.FlagRef) (progressive.Flag, error) {
	ref, e, err := s.normalize(ref)
	if err != nil {
		return progressive.Flag{}, err
	}
	ff, err := s.sdkFlag(ref, e)
	if err != nil {
		return progressive.Flag{}, err
	}
	names, err := s.variationNames(ctx, ref, len(ff.Variations))
	if err != nil {
		return progressive.Flag{}, err
	}
	return toFlag(ref, ff, names, s.opts.ContextKind), nil
}

// variationNames returns the names of a flag's variations from the REST API, cached
// per flag; nil when the store has no token.
func (s *Store) variationNames(ctx context.Context, ref progressive.FlagRef, n int) ([]apiVariation, error) {
	if s.opts.APIToken == "" {
		return nil, nil
	}
	key := ref.Project + "/" + ref.Key
	s.mu.Lock()
	cached, ok := s.names[key]
	s.mu.Unlock()
	if ok && len(cached) == n {
		return cached, nil
	}
	var f apiFlag
	err := s.api.Do(ctx, "read flag "+ref.String(), func(ctx context.Context) error {
		var err error
		f, err = s.getAPIFlag(ctx, ref)
		return err
	})
	if err != nil {
		return nil, err
	}
	return f.Variations, nil
}

func (s *Store) remember(ref progressive.FlagRef, vs []apiVariation) {
	s.mu.Lock()
	s.names[ref.Project+"/"+ref.Key] = vs
	s.mu.Unlock()
}

// writable fails when the store has no API token.
func (s *Store) writable(op string) error {
	if s.opts.APIToken == "" {
		return flags.Unsupported(Name, op, "no API access token is configured (Options.APIToken); the store is read-only")
	}
	return nil
}

// SetRollout replaces the fallthrough of ref with rollout, in one semantic patch
// (updateFallthroughVariationOrRollout with rolloutWeights in thousandths of a
// percent), after reading the variation ids with a GET. Weights must be valid and
// have at most three decimals; variations are named by index, name, value or id.
func (s *Store) SetRollout(ctx context.Context, ref progressive.FlagRef, rollout progressive.Rollout) error {
	ref, e, err := s.normalize(ref)
	if err != nil {
		return err
	}
	if err := rollout.Validate(); err != nil {
		return fmt.Errorf("launchdarkly: flag %s: rollout: %w", ref, err)
	}
	if _, err := thousandths(rollout.Weights); err != nil {
		return fmt.Errorf("launchdarkly: flag %s: rollout: %w", ref, err)
	}
	if err := s.writable("set a rollout"); err != nil {
		return err
	}
	return s.write(ctx, ref, e, "set rollout", func(f apiFlag, env apiEnv) ([]instruction, string, error) {
		in, err := s.rolloutInstruction(ref, f, "updateFallthroughVariationOrRollout", rollout)
		if err != nil {
			return nil, "", err
		}
		return []instruction{in}, "fallthrough " + describeRollout(f, rollout), nil
	})
}

// SetOn turns ref on or off with turnFlagOn or turnFlagOff.
func (s *Store) SetOn(ctx context.Context, ref progressive.FlagRef, on bool) error {
	ref, e, err := s.normalize(ref)
	if err != nil {
		return err
	}
	if err := s.writable("turn a flag on or off"); err != nil {
		return err
	}
	kind := "turnFlagOff"
	if on {
		kind = "turnFlagOn"
	}
	return s.write(ctx, ref, e, "set on", func(apiFlag, apiEnv) ([]instruction, string, error) {
		return []instruction{{"kind": kind}}, kind, nil
	})
}

// SetTargets makes keys always receive variation, in one semantic patch: the keys
// leave any other variation (removeTargets), the variation's keys not listed leave
// it, and the new ones join it (addTargets), for contexts of Options.ContextKind.
func (s *Store) SetTargets(ctx context.Context, ref progressive.FlagRef, variation string, keys []string) error {
	ref, e, err := s.normalize(ref)
	if err != nil {
		return err
	}
	if err := s.writable("set targets"); err != nil {
		return err
	}
	keys = dedupe(keys)
	return s.write(ctx, ref, e, "set targets", func(f apiFlag, env apiEnv) ([]instruction, string, error) {
		idx, err := resolveVariation(ref, f, variation)
		if err != nil {
			return nil, "", err
		}
		want := map[string]bool{}
		for _, k := range keys {
			want[k] = true
		}
		current := map[int][]string{}
		for _, t := range append(slices.Clone(env.Targets), env.ContextTargets...) {
			if t.ContextKind != "" && t.ContextKind != s.opts.ContextKind {
				continue
			}
			current[t.Variation] = append(current[t.Variation], t.Values...)
		}
		var ins []instruction
		has := map[string]bool{}
		for v := range len(f.Variations) {
			var remove []string
			for _, k := range dedupe(current[v]) {
				switch {
				case v == idx && want[k]:
					has[k] = true
				case v == idx || want[k]:
					remove = append(remove, k)
				}
			}
			if len(remove) > 0 {
				ins = append(ins, instruction{"kind": "removeTargets", "contextKind": s.opts.ContextKind, "variationId": f.Variations[v].ID, "values": remove})
			}
		}
		var add []string
		for _, k := range keys {
			if !has[k] {
				add = append(add, k)
			}
		}
		if len(add) > 0 {
			ins = append(ins, instruction{"kind": "addTargets", "contextKind": s.opts.ContextKind, "variationId": f.Variations[idx].ID, "values": add})
		}
		return ins, fmt.Sprintf("%d key(s) target variation %s", len(keys), label(f, idx)), nil
	})
}

// SetRules replaces the rules of ref, in one semantic patch: removeRule for each
// current rule, then addRule for each new one, in order. A rule naming a segment
// matches with a segmentMatch clause; the segment must exist in the environment.
func (s *Store) SetRules(ctx context.Context, ref progressive.FlagRef, rules []progressive.FlagRule) error {
	ref, e, err := s.normalize(ref)
	if err != nil {
		return err
	}
	if err := flags.CheckRules(rules); err != nil {
		return fmt.Errorf("launchdarkly: flag %s: %w", ref, err)
	}
	for i, r := range rules {
		if r.Rollout != nil {
			if _, err := thousandths(r.Rollout.Weights); err != nil {
				return fmt.Errorf("launchdarkly: flag %s: rules[%d].rollout: %w", ref, i, err)
			}
		}
	}
	if err := s.checkSegments(ref, e, rules); err != nil {
		return err
	}
	if err := s.writable("set rules"); err != nil {
		return err
	}
	return s.write(ctx, ref, e, "set rules", func(f apiFlag, env apiEnv) ([]instruction, string, error) {
		var ins []instruction
		for _, r := range env.Rules {
			ins = append(ins, instruction{"kind": "removeRule", "ruleId": r.ID})
		}
		for i, r := range rules {
			add := instruction{"kind": "addRule", "clauses": s.clauses(r)}
			if r.Description != "" {
				add["description"] = r.Description
			}
			if r.Rollout != nil {
				ro, err := s.rolloutInstruction(ref, f, "addRule", *r.Rollout)
				if err != nil {
					return nil, "", fmt.Errorf("rules[%d]: %w", i, err)
				}
				for k, v := range ro {
					if k != "kind" {
						add[k] = v
					}
				}
			} else {
				idx, err := resolveVariation(ref, f, r.Variation)
				if err != nil {
					return nil, "", fmt.Errorf("rules[%d]: %w", i, err)
				}
				add["variationId"] = f.Variations[idx].ID
			}
			ins = append(ins, add)
		}
		return ins, fmt.Sprintf("%d rule(s)", len(rules)), nil
	})
}

func (s *Store) clauses(r progressive.FlagRule) []map[string]any {
	var out []map[string]any
	if r.Segment != "" {
		out = append(out, map[string]any{"contextKind": s.opts.ContextKind, "attribute": "segmentMatch", "op": "segmentMatch", "negate": false, "values": []string{r.Segment}})
	}
	for _, c := range r.Clauses {
		op := c.Op
		if op == "" {
			op = flags.OpIn
		}
		out = append(out, map[string]any{"contextKind": s.opts.ContextKind, "attribute": c.Attribute, "op": op, "negate": c.Negate, "values": slices.Clone(c.Values)})
	}
	return out
}

// checkSegments rejects rules naming a segment the environment does not define.
func (s *Store) checkSegments(ref progressive.FlagRef, e *sdkEnv, rules []progressive.FlagRule) error {
	ds := e.store.get()
	if ds == nil {
		return nil
	}
	for i, r := range rules {
		if r.Segment == "" {
			continue
		}
		item, err := ds.Get(ldstoreimpl.Segments(), r.Segment)
		if err == nil && item.Item != nil {
			continue
		}
		return fmt.Errorf("launchdarkly: flag %s: rules[%d].segment: unknown segment %q in environment %s (known: %s): %w",
			ref, i, r.Segment, e.key, s.knownKeys(ds, ldstoreimpl.Segments()), progressive.ErrInvalid)
	}
	return nil
}

// rolloutInstruction builds an instruction of kind with rolloutWeights for every
// variation of f, keyed by variation id.
func (s *Store) rolloutInstruction(ref progressive.FlagRef, f apiFlag, kind string, r progressive.Rollout) (instruction, error) {
	ws, err := thousandths(r.Weights)
	if err != nil {
		return nil, err
	}
	weights := map[string]int{}
	for _, v := range f.Variations {
		weights[v.ID] = 0
	}
	for i, vw := range r.Weights {
		idx, err := resolveVariation(ref, f, vw.Variation)
		if err != nil {
			return nil, err
		}
		weights[f.Variations[idx].ID] += ws[i]
	}
	in := instruction{"kind": kind, "rolloutWeights": weights, "rolloutContextKind": s.opts.ContextKind}
	if r.BucketBy != "" && r.BucketBy != "key" {
		in["rolloutBucketBy"] = r.BucketBy
	}
	return in, nil
}

// write runs one change: GET the flag (variation ids, current targeting), build the
// instructions, PATCH them, retried as a whole on transient failures; then it waits
// until the SDK holds the new version. The PATCH counts as done only when its
// answer is the patched flag (confirmed): a redirect, an empty or foreign answer is
// never taken for a write.
func (s *Store) write(ctx context.Context, ref progressive.FlagRef, e *sdkEnv, op string,
	build func(apiFlag, apiEnv) ([]instruction, string, error)) error {
	var version int
	err := s.api.Do(ctx, op+" of "+ref.String(), func(ctx context.Context) error {
		f, err := s.getAPIFlag(ctx, ref)
		if err != nil {
			return err
		}
		env, ok := f.Environments[ref.Environment]
		if !ok {
			return fmt.Errorf("launchdarkly: flag %s: the API returned no environment %q: %w", ref, ref.Environment, progressive.ErrNotFound)
		}
		ins, what, err := build(f, env)
		if err != nil {
			var fe progressive.FieldError
			var ve *progressive.ValidationError
			if errors.As(err, &fe) || errors.As(err, &ve) || errors.Is(err, progressive.ErrInvalid) {
				return fmt.Errorf("launchdarkly: flag %s: %w", ref, err)
			}
			return err
		}
		if len(ins) == 0 {
			version = env.Version
			return nil
		}
		body := patchBody{EnvironmentKey: ref.Environment, Comment: "progressive: " + what, Instructions: ins}
		var out apiFlag
		if err := s.api.Send(ctx, flaghttp.Request{
			Method: http.MethodPatch,
			URL:    s.flagURL(ref, false),
			Header: http.Header{
				"Authorization": {s.opts.APIToken},
				"Content-Type":  {semanticPatch},
			},
			Body: body,
		}, &out); err != nil {
			return fmt.Errorf("launchdarkly: %s of flag %s: %w", op, ref, err)
		}
		oe, err := confirmed(ref, f, env, out)
		if err != nil {
			return fmt.Errorf("launchdarkly: %s of flag %s: %w", op, ref, err)
		}
		s.remember(ref, out.Variations)
		version = oe.Version
		s.logger.Debug("flag written", "flag", ref.String(), "op", op, "change", what, "version", version)
		return nil
	})
	if err != nil {
		return err
	}
	s.waitSynced(ctx, ref, e, version)
	return nil
}

// confirmed checks that the answer to a semantic patch is the flag it patched:
// the API answers with the updated flag, so an answer that is not ref (an empty
// object, another flag, an error page that happens to be JSON), lacks its
// environment or holds an older version of it than the one read before the write
// confirms nothing. Transient: the operation reads the flag again and recomputes.
func confirmed(ref progressive.FlagRef, before apiFlag, env apiEnv, out apiFlag) (apiEnv, error) {
	oe, ok := out.Environments[ref.Environment]
	switch {
	case out.Key != ref.Key:
		return apiEnv{}, fmt.Errorf("the answer does not confirm the write: it is flag %q, not %q: %w", out.Key, ref.Key, progressive.ErrTransient)
	case !ok:
		return apiEnv{}, fmt.Errorf("the answer does not confirm the write: it has no environment %q: %w", ref.Environment, progressive.ErrTransient)
	case out.Version < before.Version || oe.Version < env.Version:
		return apiEnv{}, fmt.Errorf("the answer does not confirm the write: it holds version %d of the environment, older than the %d read before: %w",
			oe.Version, env.Version, progressive.ErrTransient)
	case len(out.Variations) != len(before.Variations):
		return apiEnv{}, fmt.Errorf("the answer does not confirm the write: it lists %d variations where the flag has %d: %w",
			len(out.Variations), len(before.Variations), progressive.ErrTransient)
	}
	return oe, nil
}

// waitSynced waits, in real time and at most SyncTimeout, for the SDK to hold
// version of ref.
func (s *Store) waitSynced(ctx context.Context, ref progressive.FlagRef, e *sdkEnv, version int) {
	if s.opts.SyncTimeout < 0 || version == 0 {
		return
	}
	deadline := time.Now().Add(s.opts.SyncTimeout)
	for {
		if ds := e.store.get(); ds != nil {
			if item, err := ds.Get(ldstoreimpl.Features(), ref.Key); err == nil && item.Version >= version {
				return
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			s.logger.Warn("the SDK has not received the written flag version yet", "flag", ref.String(), "version", version)
			return
		}
		select {
		case <-ctx.Done():
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func (s *Store) flagURL(ref progressive.FlagRef, withEnv bool) string {
	u := fmt.Sprintf("%s/api/v2/flags/%s/%s", s.opts.BaseURL, pathEscape(ref.Project), pathEscape(ref.Key))
	if withEnv {
		u += "?env=" + pathEscape(ref.Environment)
	}
	return u
}

// getAPIFlag reads the flag with the REST API, filtered to ref's environment.
func (s *Store) getAPIFlag(ctx context.Context, ref progressive.FlagRef) (apiFlag, error) {
	if ref.Project == "" {
		return apiFlag{}, fmt.Errorf("launchdarkly: flag %s: no project key (set FlagRef.Project or Options.Project): %w", ref, progressive.ErrInvalid)
	}
	var f apiFlag
	err := s.api.Send(ctx, flaghttp.Request{
		Method: http.MethodGet,
		URL:    s.flagURL(ref, true),
		Header: http.Header{"Authorization": {s.opts.APIToken}},
	}, &f)
	if err != nil {
		if errors.Is(err, progressive.ErrNotFound) {
			return apiFlag{}, fmt.Errorf("launchdarkly: flag %s not found in project %q: %w", ref, ref.Project, err)
		}
		return apiFlag{}, fmt.Errorf("launchdarkly: read flag %s: %w", ref, err)
	}
	s.remember(ref, f.Variations)
	return f, nil
}

// Evaluate serves ref to the context with key and attributes (strings) through the
// environment's SDK client and returns the variation (zero when the SDK serves no
// variation, as for a flag that is off without an off variation).
func (s *Store) Evaluate(ctx context.Context, ref progressive.FlagRef, key string, attrs map[string]string) (progressive.Variation, error) {
	ref, e, err := s.normalize(ref)
	if err != nil {
		return progressive.Variation{}, err
	}
	b := ldcontext.NewBuilder(key).Kind(ldcontext.Kind(s.opts.ContextKind))
	for k, v := range attrs {
		b.SetString(k, v)
	}
	_, detail, err := e.client.JSONVariationDetailCtx(ctx, ref.Key, b.Build(), ldvalue.Null())
	if err != nil && !detail.VariationIndex.IsDefined() {
		if detail.Reason.GetErrorKind() == "FLAG_NOT_FOUND" {
			return progressive.Variation{}, fmt.Errorf("launchdarkly: evaluate flag %s: %w", ref, progressive.ErrNotFound)
		}
		return progressive.Variation{}, fmt.Errorf("launchdarkly: evaluate flag %s: %v: %w", ref, s.api.Redact(err.Error()), progressive.ErrTransient)
	}
	idx, ok := detail.VariationIndex.Get()
	if !ok {
		return progressive.Variation{}, nil
	}
	f, err := s.GetFlag(ctx, ref)
	if err != nil {
		return progressive.Variation{}, err
	}
	v, _ := f.Variation(strconv.Itoa(idx))
	return v, nil
}

func dedupe(keys []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, k := range keys {
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	return out
}
