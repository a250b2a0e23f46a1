package prometheus_test

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/agentops/progressive/provider/prometheus"
)

// fake is an httptest Prometheus: answer decides each reply from the parsed form
// (query, time, timeout, ...) and the request's headers.
type fake struct {
	*httptest.Server
	mu       sync.Mutex
	requests []*http.Request
	forms    []url.Values
}

func newFake(t *testing.T, answer func(w http.ResponseWriter, r *http.Request, form url.Values)) *fake {
	t.Helper()
	f := &fake{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		f.mu.Lock()
		f.requests = append(f.requests, r.Clone(r.Context()))
		f.forms = append(f.forms, r.Form)
		f.mu.Unlock()
		answer(w, r, r.Form)
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fake) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.requests)
}

func (f *fake) last() (*http.Request, url.Values) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.requests) == 0 {
		return nil, nil
	}
	return f.requests[len(f.requests)-1], f.forms[len(f.forms)-1]
}

// reply writes a body with a status and the JSON content type.
func reply(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

func success(w http.ResponseWriter, data string) {
	reply(w, http.StatusOK, `{"status":"success","data":`+data+`}`)
}

// newSource builds a source for address, failing the test on error.
func newSource(t *testing.T, opts prometheus.Options) *prometheus.Source {
	t.Helper()
	s, err := prometheus.New(opts)
	require.NoError(t, err)
	return s
}

// logBuffer is a debug-level slog logger into a buffer.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func (l *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
