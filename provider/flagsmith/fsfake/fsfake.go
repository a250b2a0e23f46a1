// Package fsfake stands in for Flagsmith in tests: a local HTTP server that serves
// the environment document SDK clients poll for local evaluation, and accepts the
// Admin API writes the flagsmith store makes, checked against the documented
// shapes. An accepted write changes the document the SDK sees next: a real round
// trip through the SDK.
//
// Endpoints (under /api/v1/, trailing slashes as Django wants them):
//
//	GET    environment-document/                               X-Environment-Key: ser.…
//	PATCH  environments/{key}/featurestates/{id}/              enabled, multivariate_feature_state_values
//	GET    environments/{key}/edge-identities/?q="identifier"
//	POST   environments/{key}/edge-identities/                 identifier
//	POST   environments/{key}/edge-identities/{uuid}/edge-featurestates/
//	PUT    environments/{key}/edge-identities/{uuid}/edge-featurestates/{fs uuid}/
//	DELETE environments/{key}/edge-identities/{uuid}/edge-featurestates/{fs uuid}/
//	GET    features/feature-segments/?environment=&feature=
//	POST   features/feature-segments/                          feature, segment, environment, priority
//	POST   features/feature-segments/update-priorities/        [{id, priority}]
//	DELETE features/feature-segments/{id}/
//	POST   features/featurestates/                             a segment override's feature state
//	PATCH  features/featurestates/{id}/
//
// Admin requests need "Authorization: Api-Key <token>" (401 otherwise); bodies are
// JSON with no unknown field; multivariate allocations above 100% in total are
// rejected like Flagsmith does. Faults can be injected (FailNext, FailNextAfter).
package fsfake

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Condition is one condition of a segment, in Flagsmith's terms: a trait
// (Property), an operator (EQUAL, IN, CONTAINS, REGEX, ...) and a value (IN takes
// comma-separated values).
type Condition struct {
	Property string
	Operator string
	Value    string
}

// FeatureSpec defines a feature: its control value and multivariate option values,
// with every environment starting with Enabled and all allocations at 0%.
type FeatureSpec struct {
	Name    string
	Control any
	Options []any
	Enabled bool
}

// Request is what the server received.
type Request struct {
	Method string
	Path   string
	Query  string
	// Admin reports an Admin API request carrying the token; SDK a document request
	// carrying a known server key.
	Admin, SDK bool
	UserAgent  string
	Body       []byte
	Status     int
}

// Server is the fake.
type Server struct {
	token string
	srv   *httptest.Server

	mu       sync.Mutex
	nextID   int
	clock    time.Time
	features []*feature
	segments []*segment
	envs     []*env
	requests []Request
	faults   []fault
}

type fault struct {
	status int
	header map[string]string
}

type feature struct {
	ID      int
	Name    string
	Control any
	Options []option
}

type option struct {
	ID    int
	Value any
}

type segment struct {
	ID         int
	Name       string
	Conditions []Condition
}

type env struct {
	ID        int
	Name      string
	APIKey    string
	ServerKey string
	updatedAt time.Time
	states    map[int]*fstate // feature id -> environment default
	fsegs     []*fseg
	ids       []*identity
}

type fstate struct {
	ID      int
	UUID    string
	Feature int
	Enabled bool
	Value   any
	MV      []*mvValue
}

type mvValue struct {
	ID     int
	Option int
	Pct    float64
	UUID   string
}

type fseg struct {
	ID       int
	Feature  int
	Segment  int
	Priority int
	State    *fstate
}

type identity struct {
	UUID       string
	Identifier string
	Overrides  []*fstate // UUID is the featurestate_uuid
}

// New starts a server whose Admin API accepts token.
func New(token string) *Server {
	s := &Server{token: token, clock: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// URL is the base of both APIs, with its trailing slash: ".../api/v1/".
func (s *Server) URL() string { return s.srv.URL + "/api/v1/" }

// Close stops the server.
func (s *Server) Close() { s.srv.Close() }

func (s *Server) id() int {
	s.nextID++
	return s.nextID
}

func (s *Server) uuid() string {
	return fmt.Sprintf("00000000-0000-4000-8000-%012d", s.id())
}

func (s *Server) tick(e *env) {
	s.clock = s.clock.Add(time.Second)
	e.updatedAt = s.clock
}

// AddEnvironment creates an environment with a server-side key (it must start
// with "ser.") and returns its client-side key, the one Admin API paths use.
func (s *Server) AddEnvironment(name, serverKey string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := &env{ID: s.id(), Name: name, ServerKey: serverKey, states: map[int]*fstate{}}
	e.APIKey = fmt.Sprintf("env%05dKey%s", e.ID, strings.ToUpper(name[:1]))
	for _, f := range s.features {
		e.states[f.ID] = s.defaultState(f, false)
	}
	s.envs = append(s.envs, e)
	s.tick(e)
	return e.APIKey
}

func (s *Server) defaultState(f *feature, enabled bool) *fstate {
	st := &fstate{ID: s.id(), UUID: s.uuid(), Feature: f.ID, Enabled: enabled, Value: f.Control}
	for _, o := range f.Options {
		st.MV = append(st.MV, &mvValue{ID: s.id(), Option: o.ID, UUID: s.uuid()})
	}
	return st
}

// AddFeature creates a feature in the project, in every environment.
func (s *Server) AddFeature(spec FeatureSpec) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := &feature{ID: s.id(), Name: spec.Name, Control: spec.Control}
	for _, v := range spec.Options {
		f.Options = append(f.Options, option{ID: s.id(), Value: v})
	}
	s.features = append(s.features, f)
	for _, e := range s.envs {
		e.states[f.ID] = s.defaultState(f, spec.Enabled)
		s.tick(e)
	}
}

// AddSegment defines a segment of the project matching identities whose traits
// meet every condition.
func (s *Server) AddSegment(name string, conditions ...Condition) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.segments = append(s.segments, &segment{ID: s.id(), Name: name, Conditions: slices.Clone(conditions)})
	for _, e := range s.envs {
		s.tick(e)
	}
}

// FailNext answers the next n requests with status, before anything else. Faults
// apply to requests other than the Flagsmith SDK's own polls (told apart by their
// User-Agent), so a test aims them at the store.
func (s *Server) FailNext(n, status int, header map[string]string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.faults = append(s.faults, fault{status: status, header: header})
	}
}

// FailNextAfter lets skip requests through, then answers one with status.
func (s *Server) FailNextAfter(skip, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range skip {
		s.faults = append(s.faults, fault{})
	}
	s.faults = append(s.faults, fault{status: status})
}

// Requests returns what the server received, in order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

// Writes counts the Admin API writes the server applied.
func (s *Server) Writes() int {
	n := 0
	for _, r := range s.Requests() {
		if r.Method != http.MethodGet && r.Status >= 200 && r.Status < 300 {
			n++
		}
	}
	return n
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	s.mu.Lock()
	defer s.mu.Unlock()
	rec := Request{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Body: body,
		Admin: r.Header.Get("Authorization") == "Api-Key "+s.token, UserAgent: r.Header.Get("User-Agent")}
	status, header, out := s.route(r, &rec, body)
	rec.Status = status
	s.requests = append(s.requests, rec)
	for k, v := range header {
		w.Header().Set(k, v)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if out != nil {
		_, _ = w.Write(out)
	}
}

func detail(status int, format string, args ...any) (int, map[string]string, []byte) {
	b, _ := json.Marshal(map[string]string{"detail": fmt.Sprintf(format, args...)})
	return status, nil, b
}

func ok(status int, v any) (int, map[string]string, []byte) {
	if v == nil {
		return status, nil, nil
	}
	b, _ := json.Marshal(v)
	return status, nil, b
}

func (s *Server) route(r *http.Request, rec *Request, body []byte) (int, map[string]string, []byte) {
	// Faults are for the store's requests; the SDK's background polls (resty's
	// User-Agent) pass, so they cannot take a fault meant for the store.
	if len(s.faults) > 0 && !strings.HasPrefix(r.Header.Get("User-Agent"), "go-resty") {
		f := s.faults[0]
		s.faults = s.faults[1:]
		if f.status != 0 {
			st, _, b := detail(f.status, "injected %d", f.status)
			return st, f.header, b
		}
	}
	path, found := strings.CutPrefix(r.URL.Path, "/api/v1/")
	if !found || !strings.HasSuffix(path, "/") {
		return detail(http.StatusNotFound, "Not found (paths end with a slash).")
	}
	parts := strings.Split(strings.TrimSuffix(path, "/"), "/")
	if parts[0] == "environment-document" && len(parts) == 1 && r.Method == http.MethodGet {
		for _, e := range s.envs {
			if e.ServerKey != "" && r.Header.Get("X-Environment-Key") == e.ServerKey {
				rec.SDK = true
				return ok(http.StatusOK, s.document(e))
			}
		}
		return detail(http.StatusUnauthorized, "Invalid or missing server-side environment key.")
	}
	if !rec.Admin {
		return detail(http.StatusUnauthorized, "Authentication credentials were not provided.")
	}
	if r.Method != http.MethodGet && r.Method != http.MethodDelete && r.Header.Get("Content-Type") != "application/json" {
		return detail(http.StatusUnsupportedMediaType, "Unsupported media type %q in request.", r.Header.Get("Content-Type"))
	}
	switch {
	case parts[0] == "environments" && len(parts) >= 3:
		e := s.envByKey(parts[1])
		if e == nil {
			return detail(http.StatusNotFound, "Environment not found.")
		}
		return s.environmentRoute(r, e, parts[2:], body)
	case parts[0] == "features" && len(parts) >= 2:
		return s.featuresRoute(r, parts[1:], body)
	}
	return detail(http.StatusNotFound, "Not found.")
}

func (s *Server) envByKey(key string) *env {
	for _, e := range s.envs {
		if e.APIKey == key {
			return e
		}
	}
	return nil
}

func (s *Server) envByID(id int) *env {
	for _, e := range s.envs {
		if e.ID == id {
			return e
		}
	}
	return nil
}

func (s *Server) feature(id int) *feature {
	for _, f := range s.features {
		if f.ID == id {
			return f
		}
	}
	return nil
}

func strict(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return fmt.Errorf("trailing data")
	}
	return nil
}

func atoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		return -1
	}
	return n
}
