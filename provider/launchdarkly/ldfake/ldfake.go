// Package ldfake stands in for LaunchDarkly in tests: a local HTTP server for the
// REST API v2 flag endpoints the launchdarkly store uses, checked against the
// documented request shapes, and one ldtestdata source per environment that SDK
// clients read. A semantic patch the server accepts changes its model of the flag
// and is pushed into the environment's test data source, so the SDK evaluates the
// change: a write makes a real round trip through the SDK.
//
// What is checked, per the LaunchDarkly API documentation:
//
//   - GET and PATCH /api/v2/flags/{projectKey}/{flagKey}; anything else is 404 or 405;
//   - the Authorization header carries the API access token (401 otherwise);
//   - a PATCH has Content-Type "application/json; domain-model=launchdarkly.semanticpatch"
//     and a body {"environmentKey", "comment"?, "instructions": [...]} with no other
//     field; each instruction has a known kind and exactly its documented parameters
//     (turnFlagOn, turnFlagOff, updateFallthroughVariationOrRollout, addTargets,
//     removeTargets, addUserTargets, removeUserTargets, addRule, removeRule,
//     updateOffVariation); rolloutWeights are keyed by variation _id, in thousandths of
//     a percent, and sum to 100000; clause ops are lower-case LaunchDarkly operators;
//   - instructions apply all or nothing (400 and no change when one fails).
//
// Faults can be injected (FailNext) to test retries and error handling.
package ldfake

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"

	"github.com/launchdarkly/go-server-sdk-evaluation/v3/ldmodel"
	"github.com/launchdarkly/go-server-sdk/v7/testhelpers/ldtestdata"
)

// ContentType is the semantic patch media type the server requires on a PATCH.
const ContentType = "application/json; domain-model=launchdarkly.semanticpatch"

// Variation defines one variation of a flag.
type Variation struct {
	Value any
	Name  string
}

// FlagSpec defines a flag: its variations and, in every environment, its initial
// state: off, serving OffVariation when off and Fallthrough (a variation index)
// when on.
type FlagSpec struct {
	Key          string
	Variations   []Variation
	OffVariation int
	Fallthrough  int
}

// Request is what the server received.
type Request struct {
	Method      string
	Path        string
	Query       string
	ContentType string
	// Authorized reports whether the Authorization header carried the token.
	Authorized bool
	Body       []byte
	// Status is what the server answered.
	Status int
}

// Server is the fake.
type Server struct {
	token string
	srv   *httptest.Server

	mu       sync.Mutex
	envs     map[string]*ldtestdata.TestDataSource
	flags    map[string]*flag // project/key
	segments map[string]map[string][]string
	requests []Request
	faults   []fault
	nextID   int
}

type fault struct {
	status int
	header map[string]string
	body   string
}

// New starts a server accepting token, with one test data source per environment.
func New(token string, environments ...string) *Server {
	s := &Server{
		token:    token,
		envs:     map[string]*ldtestdata.TestDataSource{},
		flags:    map[string]*flag{},
		segments: map[string]map[string][]string{},
	}
	for _, e := range environments {
		s.envs[e] = ldtestdata.DataSource()
		s.segments[e] = map[string][]string{}
	}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// URL is the base URL of the REST API (Options.BaseURL of the store).
func (s *Server) URL() string { return s.srv.URL }

// Close stops the server.
func (s *Server) Close() { s.srv.Close() }

// DataSource is the test data source SDK clients of env read (ldclient.Config.DataSource).
func (s *Server) DataSource(env string) *ldtestdata.TestDataSource {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.envs[env]
}

// AddFlag creates a flag in project, in every environment.
func (s *Server) AddFlag(project string, spec FlagSpec) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := &flag{Key: spec.Key, Version: 1, Environments: map[string]*envConfig{}}
	for i, v := range spec.Variations {
		f.Variations = append(f.Variations, variation{ID: fmt.Sprintf("%08x-%04d-4000-8000-%012d", len(s.flags)+1, i, s.id()), Value: v.Value, Name: v.Name})
	}
	for e := range s.envs {
		off, ft := spec.OffVariation, spec.Fallthrough
		f.Environments[e] = &envConfig{
			OffVariation: &off,
			Fallthrough:  vor{Variation: &ft},
			Version:      1,
			Salt:         "salt-" + spec.Key,
			Targets:      []target{},
			Rules:        []rule{},
		}
	}
	s.flags[project+"/"+spec.Key] = f
	for e := range s.envs {
		s.push(f, e)
	}
}

// AddSegment defines a segment of an environment whose members are the listed
// context keys.
func (s *Server) AddSegment(env, key string, included ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.segments[env][key] = slices.Clone(included)
	data, _ := json.Marshal(map[string]any{"key": key, "version": 1, "included": included, "salt": "salt-" + key})
	seg, err := ldmodel.NewJSONDataModelSerialization().UnmarshalSegment(data)
	if err != nil {
		panic(err)
	}
	s.envs[env].UsePreconfiguredSegment(seg)
}

// FailNext answers the next n requests with status (and headers), before anything
// else is checked or changed.
func (s *Server) FailNext(n, status int, header map[string]string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.faults = append(s.faults, fault{status: status, header: header, body: fmt.Sprintf(`{"code":"fault","message":"injected %d"}`, status)})
	}
}

// FailNextAfter lets skip requests through, then answers one with status.
func (s *Server) FailNextAfter(skip, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range skip {
		s.faults = append(s.faults, fault{})
	}
	s.faults = append(s.faults, fault{status: status, body: fmt.Sprintf(`{"code":"fault","message":"injected %d"}`, status)})
}

// Requests returns what the server received, in order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

// Writes counts the PATCH requests the server applied.
func (s *Server) Writes() int {
	n := 0
	for _, r := range s.Requests() {
		if r.Method == http.MethodPatch && r.Status == http.StatusOK {
			n++
		}
	}
	return n
}

// Flag returns the server's JSON representation of a flag, as GET returns it.
func (s *Server) Flag(project, key string) (json.RawMessage, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, ok := s.flags[project+"/"+key]
	if !ok {
		return nil, false
	}
	b, _ := json.Marshal(f)
	return b, true
}

func (s *Server) id() int {
	s.nextID++
	return s.nextID
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	s.mu.Lock()
	defer s.mu.Unlock()
	rec := Request{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, ContentType: r.Header.Get("Content-Type"),
		Authorized: r.Header.Get("Authorization") == s.token, Body: body}
	status, header, out := s.handle(r, rec, body)
	rec.Status = status
	s.requests = append(s.requests, rec)
	for k, v := range header {
		w.Header().Set(k, v)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(out)
}

func apiError(status int, code, format string, args ...any) (int, map[string]string, []byte) {
	b, _ := json.Marshal(map[string]string{"code": code, "message": fmt.Sprintf(format, args...)})
	return status, nil, b
}

func (s *Server) handle(r *http.Request, rec Request, body []byte) (int, map[string]string, []byte) {
	if len(s.faults) > 0 {
		f := s.faults[0]
		s.faults = s.faults[1:]
		if f.status != 0 {
			return f.status, f.header, []byte(f.body)
		}
	}
	if !rec.Authorized {
		return apiError(http.StatusUnauthorized, "unauthorized", "Invalid access token")
	}
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	if len(parts) != 5 || parts[0] != "api" || parts[1] != "v2" || parts[2] != "flags" {
		return apiError(http.StatusNotFound, "not_found", "Unknown resource %s", r.URL.Path)
	}
	f, ok := s.flags[parts[3]+"/"+parts[4]]
	if !ok {
		return apiError(http.StatusNotFound, "not_found", "Unknown flag %s in project %s", parts[4], parts[3])
	}
	switch r.Method {
	case http.MethodGet:
		return http.StatusOK, nil, s.render(f, r.URL.Query().Get("env"))
	case http.MethodPatch:
		if ct := r.Header.Get("Content-Type"); ct != ContentType {
			return apiError(http.StatusBadRequest, "invalid_request", "a semantic patch needs Content-Type %q, got %q", ContentType, ct)
		}
		next, env, err := s.apply(f, body)
		if err != nil {
			return apiError(http.StatusBadRequest, "invalid_request", "%v", err)
		}
		s.flags[parts[3]+"/"+parts[4]] = next
		if env != "" {
			s.push(next, env)
		}
		return http.StatusOK, nil, s.render(next, "")
	default:
		return apiError(http.StatusMethodNotAllowed, "method_not_allowed", "%s is not allowed here", r.Method)
	}
}

func (s *Server) render(f *flag, env string) []byte {
	out := *f
	if env != "" {
		out.Environments = map[string]*envConfig{}
		if e, ok := f.Environments[env]; ok {
			out.Environments[env] = e
		}
	}
	b, _ := json.Marshal(out)
	return b
}

// push sends the flag's configuration in env to the SDK, in the SDK's data model.
func (s *Server) push(f *flag, env string) {
	e := f.Environments[env]
	targets, contextTargets := []map[string]any{}, []map[string]any{}
	for _, t := range e.Targets {
		if t.contextKind() == "user" {
			targets = append(targets, map[string]any{"values": t.Values, "variation": t.Variation})
		} else {
			contextTargets = append(contextTargets, map[string]any{"contextKind": t.ContextKind, "values": t.Values, "variation": t.Variation})
		}
	}
	sdk := map[string]any{
		"key": f.Key, "version": e.Version, "on": e.On, "salt": e.Salt, "deleted": false,
		"prerequisites": []any{}, "targets": targets, "contextTargets": contextTargets,
		"offVariation": e.OffVariation, "fallthrough": e.Fallthrough,
	}
	values := make([]any, len(f.Variations))
	for i, v := range f.Variations {
		values[i] = v.Value
	}
	sdk["variations"] = values
	rules := make([]map[string]any, 0, len(e.Rules))
	for _, r := range e.Rules {
		clauses := make([]map[string]any, 0, len(r.Clauses))
		for _, c := range r.Clauses {
			clauses = append(clauses, map[string]any{"contextKind": c.ContextKind, "attribute": c.Attribute, "op": c.Op, "values": c.Values, "negate": c.Negate})
		}
		m := map[string]any{"id": r.ID, "clauses": clauses, "trackEvents": false}
		if r.Variation != nil {
			m["variation"] = *r.Variation
		} else {
			m["rollout"] = r.Rollout
		}
		rules = append(rules, m)
	}
	sdk["rules"] = rules
	data, err := json.Marshal(sdk)
	if err != nil {
		panic(err)
	}
	ff, err := ldmodel.NewJSONDataModelSerialization().UnmarshalFeatureFlag(data)
	if err != nil {
		panic(fmt.Sprintf("ldfake: the SDK rejects the flag it would be sent: %v: %s", err, data))
	}
	s.envs[env].UsePreconfiguredFlag(ff)
}

// clone deep-copies a flag through JSON.
func clone(f *flag) *flag {
	b, _ := json.Marshal(f)
	var out flag
	_ = json.Unmarshal(b, &out)
	return &out
}

func strict(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return fmt.Errorf("trailing data after the JSON body")
	}
	return nil
}

func keys[V any](m map[string]V) string {
	return strings.Join(slices.Sorted(maps.Keys(m)), ", ")
}
