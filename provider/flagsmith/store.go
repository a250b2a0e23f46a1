package flagsmith

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	fsclient "github.com/Flagsmith/flagsmith-go-client/v4"
	"github.com/Flagsmith/flagsmith-go-client/v4/flagengine/environments"
	"github.com/Flagsmith/flagsmith-go-client/v4/flagengine/features"
	"github.com/agentops/progressive"
	"github.com/agentops/progressive/flags"
	"github.com/agentops/progressive/internal/flaghttp"
	"k8s.io/utils/clock"
)

// Name is the store's name, for Plan.Providers.Flags.
const Name = "flagsmith"

// Defaults of Options.
const (
	DefaultAPIURL          = "https://edge.api.flagsmith.com/api/v1/"
	DefaultAdminURL        = "https://api.flagsmith.com/api/v1/"
	DefaultRefreshInterval = 60 * time.Second
	DefaultDocumentTTL     = time.Second
	DefaultStartWait       = 5 * time.Second
)

// Environment is one Flagsmith environment.
type Environment struct {
	// Name is what FlagRef.Environment calls it ("production").
	Name string
	// ServerKey is the environment's server-side SDK key. It must start with "ser."
	// (local evaluation needs one). It is a secret: it never appears in errors or logs.
	ServerKey string
}

// Options configure a Store. Zero values select the documented defaults.
type Options struct {
	// Environments the store serves; at least one.
	Environments []Environment
	// APIURL is the SDK API the environment document is read from, with its
	// trailing slash. Default https://edge.api.flagsmith.com/api/v1/.
	APIURL string
	// AdminURL is the Admin API, with its trailing slash. Default
	// https://api.flagsmith.com/api/v1/.
	AdminURL string
	// APIToken is an Admin API key, sent as "Authorization: Api-Key <token>". Empty
	// makes the store read-only: writes fail with progressive.ErrUnsupported. It
	// never appears in errors or logs.
	APIToken string
	// RefreshInterval is how often the SDK clients poll the environment document.
	// Default 60s. The store also refreshes a client right after each write.
	RefreshInterval time.Duration
	// StartWait is how long New waits for each SDK client's first environment
	// document. Default 5s; on timeout New logs a warning and the client keeps
	// polling.
	StartWait time.Duration
	// DocumentTTL is how long, on Clock, GetFlag reuses the environment document it
	// last read. A write by this store always reads afresh and drops the cache.
	// Default 1s; a negative value always reads.
	DocumentTTL time.Duration
	// HTTPClient sends the store's requests. Default: a client with a 30s timeout.
	HTTPClient *http.Client
	// Clock times retry waits and the document cache. Default clock.RealClock{}.
	Clock clock.Clock
	// Attempts, Backoff and MaxWait bound the retries of transient failures (5xx,
	// 429 with its Retry-After, no answer); see the retry rules in the package doc.
	Attempts int
	Backoff  time.Duration
	MaxWait  time.Duration
	// Logger receives debug lines per request and the SDK clients' logs. Default:
	// discard.
	Logger *slog.Logger
}

// Store is a progressive.FlagStore and progressive.FlagTargeter for Flagsmith.
//
// A flag is a feature of the environment. Its variations are the control value
// (id "control") and the multivariate options (id: the option id); each is named
// by its value. The fallthrough rollout is the environment's percentage
// allocations, the control taking what the options leave. Targets are identity
// overrides, rules are segment overrides.
type Store struct {
	opts   Options
	http   *flaghttp.Client
	logger *slog.Logger
	envs   map[string]*fsEnv
	cancel context.CancelFunc
}

type fsEnv struct {
	name      string
	serverKey string
	client    *fsclient.Client

	mu      sync.Mutex
	doc     *environments.EnvironmentModel
	readAt  time.Time
	version int64
}

// New starts one SDK client with local evaluation per environment (each polls its
// environment document) and returns the store. Close stops them.
func New(opts Options) (*Store, error) {
	if opts.APIURL == "" {
		opts.APIURL = DefaultAPIURL
	}
	if opts.AdminURL == "" {
		opts.AdminURL = DefaultAdminURL
	}
	opts.APIURL = strings.TrimRight(opts.APIURL, "/") + "/"
	opts.AdminURL = strings.TrimRight(opts.AdminURL, "/") + "/"
	if opts.RefreshInterval <= 0 {
		opts.RefreshInterval = DefaultRefreshInterval
	}
	if opts.StartWait <= 0 {
		opts.StartWait = DefaultStartWait
	}
	if opts.DocumentTTL == 0 {
		opts.DocumentTTL = DefaultDocumentTTL
	}
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	logger := opts.Logger.With("provider", Name)
	var p progressive.Problems
	if len(opts.Environments) == 0 {
		p.Add("environments", nil, "must list at least one environment")
	}
	secrets := []string{opts.APIToken}
	seen := map[string]bool{}
	for i, e := range opts.Environments {
		f := fmt.Sprintf("environments[%d]", i)
		switch {
		case e.Name == "":
			p.Add(f+".name", nil, "must not be empty")
		case seen[e.Name]:
			p.Add(f+".name", e.Name, "is listed twice")
		}
		seen[e.Name] = true
		// The SDK panics on a key without the prefix when evaluating locally.
		if !strings.HasPrefix(e.ServerKey, "ser.") {
			p.Add(f+".serverKey", nil, `must be a server-side environment key starting with "ser." (local evaluation needs one)`)
		}
		secrets = append(secrets, e.ServerKey)
	}
	if err := p.Err(); err != nil {
		return nil, fmt.Errorf("flagsmith: options: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Store{
		opts:   opts,
		logger: logger,
		envs:   map[string]*fsEnv{},
		cancel: cancel,
		http: flaghttp.New(flaghttp.Options{
			Provider: Name, HTTPClient: opts.HTTPClient, Clock: opts.Clock,
			Attempts: opts.Attempts, Backoff: opts.Backoff, MaxWait: opts.MaxWait,
			Secrets: secrets, Logger: logger,
		}),
	}
	for _, e := range opts.Environments {
		// Never with an offline handler: the SDK panics when one is combined with
		// local evaluation.
		client := fsclient.NewClient(e.ServerKey,
			fsclient.WithLocalEvaluation(ctx),
			fsclient.WithBaseURL(opts.APIURL),
			fsclient.WithEnvironmentRefreshInterval(opts.RefreshInterval),
			fsclient.WithSlogLogger(logger.With("component", "sdk", "env", e.Name)),
		)
		s.envs[e.Name] = &fsEnv{name: e.Name, serverKey: e.ServerKey, client: client}
		start, cancelStart := context.WithTimeout(ctx, opts.StartWait)
		if err := client.UpdateEnvironment(start); err != nil {
			logger.Warn("the SDK client has no environment document yet; it keeps polling", "environment", e.Name, "error", s.http.Redact(err.Error()))
		}
		cancelStart()
	}
	return s, nil
}

// Name returns "flagsmith".
func (s *Store) Name() string { return Name }

// Close stops the SDK clients' polling.
func (s *Store) Close() error {
	s.cancel()
	return nil
}

// Client returns the SDK client of an environment, for evaluations.
func (s *Store) Client(environment string) (*fsclient.Client, error) {
	e, err := s.env(environment)
	if err != nil {
		return nil, err
	}
	return e.client, nil
}

func (s *Store) env(name string) (*fsEnv, error) {
	return flags.LookupEnvironment("flagsmith", s.envs, name)
}

func (s *Store) normalize(ref progressive.FlagRef) (progressive.FlagRef, *fsEnv, error) {
	if err := ref.Validate(); err != nil {
		return ref, nil, fmt.Errorf("flagsmith: flag ref: %w", err)
	}
	e, err := s.env(ref.Environment)
	if err != nil {
		return ref, nil, err
	}
	ref.Environment = e.name
	return ref, e, nil
}

// document reads the environment document the SDK polls (GET environment-document/
// with the server key), decoded by the SDK's engine models. fresh skips the cache.
func (s *Store) document(ctx context.Context, e *fsEnv, fresh bool) (*environments.EnvironmentModel, error) {
	e.mu.Lock()
	if !fresh && e.doc != nil && s.opts.DocumentTTL > 0 && s.opts.Clock.Since(e.readAt) < s.opts.DocumentTTL {
		doc := e.doc
		e.mu.Unlock()
		return doc, nil
	}
	e.mu.Unlock()
	var doc environments.EnvironmentModel
	err := s.http.Send(ctx, flaghttp.Request{
		Method: http.MethodGet,
		URL:    s.opts.APIURL + "environment-document/",
		Header: http.Header{fsclient.EnvironmentKeyHeader: {e.serverKey}},
	}, &doc)
	if err != nil {
		return nil, fmt.Errorf("flagsmith: read the environment document of %s: %w", e.name, err)
	}
	if doc.Project == nil {
		return nil, fmt.Errorf("flagsmith: the environment document of %s has no project: %w", e.name, progressive.ErrTransient)
	}
	e.mu.Lock()
	e.doc, e.readAt = &doc, s.opts.Clock.Now()
	e.mu.Unlock()
	return &doc, nil
}

func (s *Store) dropCache(e *fsEnv) {
	e.mu.Lock()
	e.doc = nil
	e.mu.Unlock()
}

// feature finds the environment default feature state of key.
func feature(ref progressive.FlagRef, doc *environments.EnvironmentModel) (*features.FeatureStateModel, error) {
	var known []string
	for _, fs := range doc.FeatureStates {
		if fs.Feature == nil {
			continue
		}
		if fs.Feature.Name == ref.Key {
			return fs, nil
		}
		known = append(known, fs.Feature.Name)
	}
	slices.Sort(known)
	return nil, fmt.Errorf("flagsmith: flag %s not found: environment %s has no feature %q (known: %s): %w",
		ref, ref.Environment, ref.Key, orNone(strings.Join(known, ", ")), progressive.ErrNotFound)
}

// GetFlag reads ref from the environment document: enabled state, variations
// (control and multivariate options), the percentage allocations, identity
// overrides (targets) and segment overrides (rules, by priority).
func (s *Store) GetFlag(ctx context.Context, ref progressive.FlagRef) (progressive.Flag, error) {
	ref, e, err := s.normalize(ref)
	if err != nil {
		return progressive.Flag{}, err
	}
	var doc *environments.EnvironmentModel
	err = s.http.Do(ctx, "read flag "+ref.String(), func(ctx context.Context) error {
		doc, err = s.document(ctx, e, false)
		return err
	})
	if err != nil {
		return progressive.Flag{}, err
	}
	fs, err := feature(ref, doc)
	if err != nil {
		return progressive.Flag{}, err
	}
	return toFlag(ref, doc, fs), nil
}

func (s *Store) writable(op string) error {
	if s.opts.APIToken == "" {
		return flags.Unsupported(Name, op, "no Admin API token is configured (Options.APIToken); the store is read-only")
	}
	return nil
}

func (s *Store) admin(method, path string, body any) flaghttp.Request {
	return flaghttp.Request{
		Method: method,
		URL:    s.opts.AdminURL + path,
		Header: http.Header{"Authorization": {"Api-Key " + s.opts.APIToken}, "Content-Type": {"application/json"}},
		Body:   body,
	}
}

// change runs one write: read the document afresh, build and send the request(s),
// retried as a whole on transient failures; then refresh the SDK client so it
// evaluates the change at once.
func (s *Store) change(ctx context.Context, ref progressive.FlagRef, e *fsEnv, op string,
	do func(ctx context.Context, doc *environments.EnvironmentModel, fs *features.FeatureStateModel) error) error {
	if err := s.writable(op); err != nil {
		return err
	}
	err := s.http.Do(ctx, op+" of "+ref.String(), func(ctx context.Context) error {
		doc, err := s.document(ctx, e, true)
		if err != nil {
			return err
		}
		fs, err := feature(ref, doc)
		if err != nil {
			return err
		}
		if err := do(ctx, doc, fs); err != nil {
			var he *flaghttp.Error
			if !errors.As(err, &he) && !strings.HasPrefix(err.Error(), "flagsmith: ") {
				return fmt.Errorf("flagsmith: flag %s: %w", ref, err)
			}
			return err
		}
		return nil
	})
	s.dropCache(e)
	if err != nil {
		return err
	}
	if uerr := e.client.UpdateEnvironment(ctx); uerr != nil {
		s.logger.Warn("the SDK client could not refresh after a write; it will at its next poll", "environment", e.name, "error", s.http.Redact(uerr.Error()))
	}
	return nil
}

// SetRollout sets the percentage allocations of the multivariate options of ref in
// its environment, in one request (PATCH environments/{key}/featurestates/{id}/
// with every multivariate value); the control value takes the rest. Variations are
// named by id ("control", an option id) or value.
func (s *Store) SetRollout(ctx context.Context, ref progressive.FlagRef, rollout progressive.Rollout) error {
	ref, e, err := s.normalize(ref)
	if err != nil {
		return err
	}
	if err := rollout.Validate(); err != nil {
		return fmt.Errorf("flagsmith: flag %s: rollout: %w", ref, err)
	}
	if rollout.BucketBy != "" && rollout.BucketBy != "key" {
		return flags.Unsupported(Name, "bucket a rollout by "+rollout.BucketBy, "Flagsmith splits percentages by identity only")
	}
	return s.change(ctx, ref, e, "set rollout", func(ctx context.Context, doc *environments.EnvironmentModel, fs *features.FeatureStateModel) error {
		f := toFlag(ref, doc, fs)
		mv, err := allocations(f, fs, rollout)
		if err != nil {
			return err
		}
		path := fmt.Sprintf("environments/%s/featurestates/%d/", doc.APIKey, fs.DjangoID)
		var got writtenState
		if err := s.http.Send(ctx, s.admin(http.MethodPatch, path,
			withIDs(map[string]any{"multivariate_feature_state_values": mv}, fs)), &got); err != nil {
			return err
		}
		return confirmState(stateWrite{what: "PATCH " + path, id: fs.DjangoID, mv: mv}, got)
	})
}

// allocations builds the multivariate values of fs for rollout: every option of
// the feature, with its share (withIDs adds the ids of an existing feature state).
func allocations(f progressive.Flag, fs *features.FeatureStateModel, r progressive.Rollout) ([]map[string]any, error) {
	share := map[string]float64{}
	for _, vw := range r.Weights {
		v, err := flags.Resolve(f, vw.Variation)
		if err != nil {
			return nil, err
		}
		share[v.ID] += vw.Weight
	}
	mv := []map[string]any{}
	for _, m := range sortedMV(fs) {
		id := optionID(m)
		mv = append(mv, map[string]any{"multivariate_feature_option": m.MultivariateFeatureOption.ID, "percentage_allocation": share[id]})
		delete(share, id)
	}
	delete(share, controlID)
	for id, w := range share {
		if w > 0 {
			return nil, fmt.Errorf("variation %s has no multivariate value in this environment: %w", id, progressive.ErrInvalid)
		}
	}
	return mv, nil
}

// SetOn enables or disables ref in its environment, in one request.
func (s *Store) SetOn(ctx context.Context, ref progressive.FlagRef, on bool) error {
	ref, e, err := s.normalize(ref)
	if err != nil {
		return err
	}
	return s.change(ctx, ref, e, "set on", func(ctx context.Context, doc *environments.EnvironmentModel, fs *features.FeatureStateModel) error {
		path := fmt.Sprintf("environments/%s/featurestates/%d/", doc.APIKey, fs.DjangoID)
		var got writtenState
		if err := s.http.Send(ctx, s.admin(http.MethodPatch, path, map[string]any{"enabled": on}), &got); err != nil {
			return err
		}
		return confirmState(stateWrite{what: "PATCH " + path, id: fs.DjangoID, enabled: &on}, got)
	})
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// Evaluate serves ref to the identity key with traits attrs through the
// environment's SDK client (local evaluation) and returns the variation whose value
// it serves; the zero Variation when the flag is disabled for the identity.
func (s *Store) Evaluate(ctx context.Context, ref progressive.FlagRef, key string, attrs map[string]string) (progressive.Variation, error) {
	ref, e, err := s.normalize(ref)
	if err != nil {
		return progressive.Variation{}, err
	}
	traits := map[string]*fsclient.TraitEvaluationContext{}
	for k, v := range attrs {
		traits[k] = &fsclient.TraitEvaluationContext{Value: v}
	}
	got, err := e.client.GetFlags(ctx, &fsclient.EvaluationContext{Identity: &fsclient.IdentityEvaluationContext{Identifier: &key, Traits: traits}})
	if err != nil {
		return progressive.Variation{}, fmt.Errorf("flagsmith: evaluate %s: %s: %w", ref, s.http.Redact(err.Error()), progressive.ErrTransient)
	}
	fl, err := got.GetFlag(ref.Key)
	if err != nil {
		return progressive.Variation{}, fmt.Errorf("flagsmith: evaluate %s: %s: %w", ref, s.http.Redact(err.Error()), progressive.ErrNotFound)
	}
	if !fl.Enabled {
		return progressive.Variation{}, nil
	}
	f, err := s.GetFlag(ctx, ref)
	if err != nil {
		return progressive.Variation{}, err
	}
	if v, ok := f.Variation(valueText(fl.Value)); ok {
		return v, nil
	}
	return progressive.Variation{Name: valueText(fl.Value), Value: fl.Value}, nil
}
