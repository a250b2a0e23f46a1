package rollout

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/utils/clock"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/internal/badhttp"
)

// recordingClock fires every wait at once and records its length.
type recordingClock struct {
	clock.RealClock
	mu    sync.Mutex
	waits []time.Duration
}

func (c *recordingClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	c.waits = append(c.waits, d)
	c.mu.Unlock()
	ch := make(chan time.Time, 1)
	ch <- time.Now()
	return ch
}

func (c *recordingClock) recorded() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.waits...)
}

// The backoff doubles up to MaxWait, and each wait is jittered so that many
// rollouts retrying one failed receiver do not retry in lockstep.
func TestWebhookBackoffIsCappedAndJittered(t *testing.T) {
	srv := badhttp.Serve(t, badhttp.Static(503, "text/plain", "busy"))
	clk := &recordingClock{}
	wh := &Webhook{URL: srv.URL, Retries: 8, Backoff: time.Second, MaxWait: 4 * time.Second, Clock: clk}
	err := wh.Run(context.Background(), HookRequest{Hook: "notify"})
	require.ErrorIs(t, err, progressive.ErrTransient)
	waits := clk.recorded()
	require.Len(t, waits, 8)
	nominal := []time.Duration{1, 2, 4, 4, 4, 4, 4, 4}
	distinct := map[time.Duration]bool{}
	for i, w := range waits {
		n := nominal[i] * time.Second
		assert.GreaterOrEqual(t, w, n/2, "wait %d", i)
		assert.LessOrEqual(t, w, n, "wait %d is capped", i)
		if n == 4*time.Second {
			distinct[w] = true
		}
	}
	assert.Greater(t, len(distinct), 1, "waits are jittered: %v", waits)
}

// A 429's Retry-After is waited for when it is within MaxWait; a longer one is
// not: the hook fails at once, transiently, saying so.
func TestWebhookRetryAfterIsHonouredAndCapped(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			w.Header().Set("Retry-After", "3")
			w.WriteHeader(http.StatusTooManyRequests)
		}
	}))
	defer srv.Close()
	clk := &recordingClock{}
	wh := &Webhook{URL: srv.URL, Retries: 2, Backoff: time.Millisecond, MaxWait: 10 * time.Second, Clock: clk}
	require.NoError(t, wh.Run(context.Background(), HookRequest{Hook: "notify"}))
	require.Len(t, clk.recorded(), 1)
	assert.GreaterOrEqual(t, clk.recorded()[0], 3*time.Second, "Retry-After is honoured")
	assert.LessOrEqual(t, clk.recorded()[0], 10*time.Second)

	limited := badhttp.TooMany(t, "3600")
	clk = &recordingClock{}
	wh = &Webhook{URL: limited.URL, Retries: 3, Backoff: time.Millisecond, MaxWait: 10 * time.Second, Clock: clk}
	err := wh.Run(context.Background(), HookRequest{Hook: "notify"})
	require.ErrorIs(t, err, progressive.ErrTransient)
	assert.Contains(t, err.Error(), "1h0m0s")
	assert.Empty(t, clk.recorded(), "a wait beyond MaxWait is not waited for")
	assert.Equal(t, 1, limited.Requests())
}
