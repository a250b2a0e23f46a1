package anchors

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Query is one Prometheus query a tool made.
type Query struct {
	At        time.Time
	Expr      string
	UserAgent string
}

// QueryLog is a reverse proxy in front of Prometheus that logs every instant
// and range query with its time: when a tool measured is read here the same
// way for every tool, whatever its own logs say.
type QueryLog struct {
	// URL is the proxy's address, to give the tools as their Prometheus.
	URL string

	srv *http.Server
	l   net.Listener

	mu      sync.Mutex
	queries []Query
}

// StartQueryLog starts a proxy to the Prometheus at target on a free
// 127.0.0.1 port.
func StartQueryLog(target string) (*QueryLog, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, fmt.Errorf("anchors: prometheus URL: %w", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("anchors: query log: %w", err)
	}
	q := &QueryLog{URL: "http://" + l.Addr().String(), l: l}
	proxy := httputil.NewSingleHostReverseProxy(u)
	q.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/api/v1/query") || strings.HasSuffix(r.URL.Path, "/api/v1/query_range") {
			q.record(r)
		}
		proxy.ServeHTTP(w, r)
	}), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = q.srv.Serve(l) }()
	return q, nil
}

// record logs r's query and leaves its form body readable for the proxy.
func (q *QueryLog) record(r *http.Request) {
	at := time.Now()
	if err := r.ParseForm(); err != nil {
		return
	}
	if r.Method == http.MethodPost {
		body := r.PostForm.Encode()
		r.Body = io.NopCloser(strings.NewReader(body))
		r.ContentLength = int64(len(body))
		r.Header.Set("Content-Length", strconv.Itoa(len(body)))
	}
	q.mu.Lock()
	q.queries = append(q.queries, Query{At: at, Expr: r.Form.Get("query"), UserAgent: r.UserAgent()})
	q.mu.Unlock()
}

// Close stops the proxy.
func (q *QueryLog) Close() { _ = q.srv.Close() }

// Queries returns the queries made at or after from whose expression
// contains every one of substrings (a namespace, say: each tool's queries
// name the namespace they measure).
func (q *QueryLog) Queries(from time.Time, substrings ...string) []Query {
	q.mu.Lock()
	defer q.mu.Unlock()
	var out []Query
next:
	for _, x := range q.queries {
		if x.At.Before(from) {
			continue
		}
		for _, s := range substrings {
			if !strings.Contains(x.Expr, s) {
				continue next
			}
		}
		out = append(out, x)
	}
	return out
}

// First is the first query at or after from containing every substring.
func (q *QueryLog) First(from time.Time, substrings ...string) (Query, bool) {
	qs := q.Queries(from, substrings...)
	if len(qs) == 0 {
		return Query{}, false
	}
	return qs[0], true
}
