package flaghttp_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/internal/flaghttp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/utils/clock"
	testingclock "k8s.io/utils/clock/testing"
)

const token = "api-0123456789-secret"

// waitClock is a fake clock whose timers fire at once, after moving the time
// forward by their length; it records each wait.
type waitClock struct {
	*testingclock.FakeClock
	mu    sync.Mutex
	waits []time.Duration
}

func newWaitClock() *waitClock {
	return &waitClock{FakeClock: testingclock.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))}
}

func (c *waitClock) NewTimer(d time.Duration) clock.Timer {
	c.mu.Lock()
	c.waits = append(c.waits, d)
	c.mu.Unlock()
	t := c.FakeClock.NewTimer(d)
	c.Step(d)
	return t
}

func (c *waitClock) recorded() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.waits...)
}

func (c *waitClock) waited() time.Duration {
	var total time.Duration
	for _, w := range c.recorded() {
		total += w
	}
	return total
}

type answer struct {
	status int
	header map[string]string
	body   string
}

func server(t *testing.T, answers ...answer) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := int(n.Add(1)) - 1
		a := answers[min(i, len(answers)-1)]
		for k, v := range a.header {
			w.Header().Set(k, v)
		}
		w.WriteHeader(a.status)
		_, _ = w.Write([]byte(a.body))
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

func TestClassificationAndRetries(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name     string
		answers  []answer
		want     []error
		requests int32
		// waited is the nominal total wait; jitter makes it between half of the
		// backoff waits and all of them, and adds up to Backoff/2 to a Retry-After.
		waited, least time.Duration
	}{
		{name: "success after two 503s", answers: []answer{{status: 503}, {status: 502}, {status: 200, body: `{"ok":true}`}}, requests: 3, waited: 3 * time.Second, least: 1500 * time.Millisecond},
		{name: "401 is not retried", answers: []answer{{status: 401, body: `{"message":"invalid token ` + token + `"}`}}, want: []error{flaghttp.ErrAuth, progressive.ErrInvalid}, requests: 1},
		{name: "403 is not retried", answers: []answer{{status: 403, body: `{"detail":"no permission"}`}}, want: []error{flaghttp.ErrAuth, progressive.ErrInvalid}, requests: 1},
		{name: "404", answers: []answer{{status: 404}}, want: []error{progressive.ErrNotFound}, requests: 1},
		{name: "409", answers: []answer{{status: 409}}, want: []error{progressive.ErrConflict}, requests: 1},
		{name: "400", answers: []answer{{status: 400, body: `{"message":"bad instruction"}`}}, want: []error{progressive.ErrInvalid}, requests: 1},
		{name: "5xx until the attempts run out", answers: []answer{{status: 500}}, want: []error{progressive.ErrTransient}, requests: 4, waited: 7 * time.Second, least: 3500 * time.Millisecond},
		{name: "429 honours Retry-After in seconds", answers: []answer{{status: 429, header: map[string]string{"Retry-After": "5"}}, {status: 200, body: `{}`}}, requests: 2, waited: 5*time.Second + 500*time.Millisecond, least: 5 * time.Second},
		{name: "429 with a Retry-After beyond MaxWait is not waited for", answers: []answer{{status: 429, header: map[string]string{"Retry-After": "3600"}}}, want: []error{progressive.ErrTransient}, requests: 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv, n := server(t, tc.answers...)
			fc := newWaitClock()
			var logs bytes.Buffer
			c := flaghttp.New(flaghttp.Options{
				Provider: "test", Clock: fc, Backoff: time.Second, MaxWait: time.Minute,
				Secrets: []string{token}, Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
			})
			var out map[string]any
			err := c.Do(ctx, "test op", func(ctx context.Context) error {
				return c.Send(ctx, flaghttp.Request{Method: "PATCH", URL: srv.URL + "/api/flags/x?env=production",
					Header: http.Header{"Authorization": {token}}, Body: map[string]string{"a": "b"}}, &out)
			})
			if tc.want == nil {
				require.NoError(t, err)
			} else {
				for _, w := range tc.want {
					assert.ErrorIs(t, err, w)
				}
				assert.NotContains(t, err.Error(), token)
				assert.Contains(t, err.Error(), "PATCH /api/flags/x")
			}
			assert.Equal(t, tc.requests, n.Load())
			assert.LessOrEqual(t, fc.waited(), tc.waited)
			assert.GreaterOrEqual(t, fc.waited(), tc.least)
			assert.NotContains(t, logs.String(), token)
		})
	}
}

func TestRetryAfterDateAndRateLimitReset(t *testing.T) {
	ctx := context.Background()
	fc := newWaitClock()
	srv, _ := server(t,
		answer{status: 429, header: map[string]string{"Retry-After": fc.Now().Add(4 * time.Second).Format(http.TimeFormat)}},
		answer{status: 429, header: map[string]string{"X-Ratelimit-Reset": "1767225609000"}}, // 00:00:09
		answer{status: 200},
	)
	c := flaghttp.New(flaghttp.Options{Clock: fc})
	require.NoError(t, c.Do(ctx, "op", func(ctx context.Context) error {
		return c.Send(ctx, flaghttp.Request{Method: "GET", URL: srv.URL}, nil)
	}))
	// 4s as asked, then until 00:00:09, each plus up to Backoff/2 (125ms).
	waits := fc.recorded()
	require.Len(t, waits, 2)
	assert.GreaterOrEqual(t, waits[0], 4*time.Second)
	assert.LessOrEqual(t, waits[0], 4*time.Second+125*time.Millisecond)
	assert.GreaterOrEqual(t, fc.waited(), 9*time.Second)
	assert.LessOrEqual(t, fc.waited(), 9*time.Second+125*time.Millisecond)
}

// The doubling backoff stops at MaxWait, and every wait is jittered: many
// rollouts that failed against one backend together do not retry together.
func TestBackoffIsCappedAndJittered(t *testing.T) {
	srv, _ := server(t, answer{status: 503})
	fc := newWaitClock()
	c := flaghttp.New(flaghttp.Options{Clock: fc, Attempts: 10, Backoff: time.Second, MaxWait: 4 * time.Second})
	err := c.Do(context.Background(), "op", func(ctx context.Context) error {
		return c.Send(ctx, flaghttp.Request{Method: "GET", URL: srv.URL}, nil)
	})
	require.ErrorIs(t, err, progressive.ErrTransient)
	assert.Contains(t, err.Error(), "gave up after 10 attempts", "the cap is not mistaken for a Retry-After beyond MaxWait")
	waits := fc.recorded()
	require.Len(t, waits, 9)
	distinct := map[time.Duration]bool{}
	for i, w := range waits {
		nominal := min(time.Second<<i, 4*time.Second)
		assert.GreaterOrEqual(t, w, nominal/2, "wait %d", i)
		assert.LessOrEqual(t, w, nominal, "wait %d", i)
		if nominal == 4*time.Second {
			distinct[w] = true
		}
	}
	assert.Greater(t, len(distinct), 1, "jittered: %v", waits)
}

func TestNoAnswerIsTransientAndCancelStopsWaiting(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	c := flaghttp.New(flaghttp.Options{Attempts: 2, Backoff: time.Millisecond})
	err := c.Do(context.Background(), "op", func(ctx context.Context) error {
		return c.Send(ctx, flaghttp.Request{Method: "GET", URL: url}, nil)
	})
	require.ErrorIs(t, err, progressive.ErrTransient)
	assert.Contains(t, err.Error(), "gave up after 2 attempts")
	assert.Contains(t, err.Error(), "no answer")

	ctx, cancel := context.WithCancel(context.Background())
	fc := testingclock.NewFakeClock(time.Now())
	c = flaghttp.New(flaghttp.Options{Clock: fc})
	calls := 0
	err = c.Do(ctx, "op", func(context.Context) error {
		calls++
		cancel()
		return progressive.ErrTransient
	})
	assert.True(t, errors.Is(err, progressive.ErrTransient) || errors.Is(err, context.Canceled), "%v", err)
	assert.Equal(t, 1, calls)
}
