// Package badhttp holds misbehaving HTTP servers for tests: the answers a real
// network gives on a bad day (a redirect to a login page, a server that never
// answers, one that answers a byte at a time, a reset connection, a 200 that is not
// JSON, a body that never ends, a rate limit). Clients of webhooks, flag stores and
// metric sources are tested against them: none may take such an answer for
// success, hang past its timeout or leak a secret in its error.
//
// Every server listens on 127.0.0.1 (httptest), counts its requests and is closed
// when the test ends. Each behaviour is also an http.Handler, so a test can put it
// behind a route of a fake API (a PATCH redirected while GETs work).
package badhttp

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// maxRequestBody bounds what a handler drains of a request.
const maxRequestBody = 1 << 20

// Server is a misbehaving server. URL is its base URL, http://127.0.0.1:port.
type Server struct {
	*httptest.Server
	requests atomic.Int64
}

// Requests counts the requests the server received.
func (s *Server) Requests() int { return int(s.requests.Load()) }

// Serve starts h on 127.0.0.1 and closes it when t ends. Requests still hanging
// then are cut (their connections closed) so Close does not wait for them.
func Serve(t testing.TB, h http.Handler) *Server {
	t.Helper()
	s := &Server{}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.requests.Add(1)
		h.ServeHTTP(w, r)
	}))
	// httptest listens on 127.0.0.1 unless told otherwise by a flag; say it here
	// so the fixtures never listen beyond the loopback interface.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("badhttp: listen on 127.0.0.1: %v", err)
	}
	s.Listener.Close()
	s.Listener = l
	s.Start()
	t.Cleanup(func() {
		s.CloseClientConnections()
		s.Close()
	})
	return s
}

// drain reads the request body, which is what lets the server notice that the
// client went away: net/http cancels a request's context on a closed connection
// only once the body has been read.
func drain(r *http.Request) {
	_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, maxRequestBody))
}

// Redirect answers every request with status (301, 302, 307 or 308) and
// Location target.
func Redirect(t testing.TB, status int, target string) *Server {
	return Serve(t, RedirectHandler(status, target))
}

// RedirectHandler is the handler of Redirect. Its body is a small HTML page, as
// a login redirect has.
func RedirectHandler(status int, target string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		drain(r)
		w.Header().Set("Location", target)
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, `<html><body><a href="/login">Sign in</a></body></html>`)
	})
}

// Hang never answers: it holds each request until the client gives up (or the
// test ends).
func Hang(t testing.TB) *Server { return Serve(t, HangHandler()) }

// HangHandler is the handler of Hang.
func HangHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		drain(r)
		<-r.Context().Done()
	})
}

// Trickle answers 200 with a JSON content type and writes body one byte every
// interval, flushing each, then ends; it stops early when the client goes away. A
// body longer than the client's timeout divided by interval never arrives whole.
func Trickle(t testing.TB, every time.Duration, body string) *Server {
	return Serve(t, TrickleHandler(every, body))
}

// TrickleHandler is the handler of Trickle.
func TrickleHandler(every time.Duration, body string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		drain(r)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		rc := http.NewResponseController(w)
		_ = rc.Flush()
		tick := time.NewTicker(every)
		defer tick.Stop()
		for i := range len(body) {
			select {
			case <-r.Context().Done():
				return
			case <-tick.C:
			}
			if _, err := w.Write([]byte{body[i]}); err != nil {
				return
			}
			if rc.Flush() != nil {
				return
			}
		}
	})
}

// Reset reads each request and closes its connection without an answer (with
// SO_LINGER 0, so the client sees a reset rather than a clean close).
func Reset(t testing.TB) *Server { return Serve(t, ResetHandler()) }

// ResetHandler is the handler of Reset.
func ResetHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		drain(r)
		conn, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			panic(fmt.Sprintf("badhttp: hijack: %v", err))
		}
		if tcp, ok := conn.(*net.TCPConn); ok {
			_ = tcp.SetLinger(0)
		}
		_ = conn.Close()
	})
}

// GarbageBody is what Garbage answers: it starts like JSON and is not.
const GarbageBody = `{"status":"success","data":<html>Service Unavailable</html>`

// Garbage answers 200 with a JSON content type and a body that is not JSON.
func Garbage(t testing.TB) *Server { return Serve(t, GarbageHandler()) }

// GarbageHandler is the handler of Garbage.
func GarbageHandler() http.Handler { return Static(http.StatusOK, "application/json", GarbageBody) }

// Empty answers 200 with a JSON content type and no body.
func Empty(t testing.TB) *Server { return Serve(t, Static(http.StatusOK, "application/json", "")) }

// Static answers every request with status, content type and body.
func Static(status int, contentType, body string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		drain(r)
		w.Header().Set("Content-Type", contentType)
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	})
}

// Enormous answers 200 with a JSON content type and a body that never ends: a
// JSON string that goes on until the client stops reading.
func Enormous(t testing.TB) *Server { return Serve(t, EnormousHandler()) }

// EnormousHandler is the handler of Enormous.
func EnormousHandler() http.Handler {
	chunk := []byte(strings.Repeat("a", 64<<10))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		drain(r)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		if _, err := io.WriteString(w, `{"status":"success","data":"`); err != nil {
			return
		}
		for r.Context().Err() == nil {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	})
}

// TooMany answers 429 with Retry-After retryAfter (seconds or an HTTP date; empty
// sends none).
func TooMany(t testing.TB, retryAfter string) *Server {
	return Serve(t, TooManyHandler(retryAfter))
}

// TooManyHandler is the handler of TooMany.
func TooManyHandler(retryAfter string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		drain(r)
		if retryAfter != "" {
			w.Header().Set("Retry-After", retryAfter)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusTooManyRequests)
		_, _ = io.WriteString(w, `{"message":"rate limited"}`)
	})
}

// RetryAfterSeconds formats d as a Retry-After value in whole seconds.
func RetryAfterSeconds(d time.Duration) string { return strconv.Itoa(int(d / time.Second)) }

// WritesAnsweredBy serves a proxy in front of the server at target (a URL whose
// path is kept): reads (GET, HEAD) reach it, every write gets bad's answer. A
// store under test then reads the real thing and meets the misbehaviour only
// when it writes. It returns the proxy's URL with target's path.
func WritesAnsweredBy(t testing.TB, target string, bad http.Handler) string {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatalf("badhttp: target %q: %v", target, err)
	}
	path := u.Path
	u.Path = ""
	proxy := httputil.NewSingleHostReverseProxy(u)
	srv := Serve(t, http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			bad.ServeHTTP(rw, r)
			return
		}
		proxy.ServeHTTP(rw, r)
	}))
	return srv.URL + path
}
