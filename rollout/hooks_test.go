package rollout

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agentops/progressive"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestWebhookSignsPayload(t *testing.T) {
	secret := []byte("s3cret")
	var got HookRequest
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
			http.Error(w, "bad request shape", http.StatusBadRequest)
			return
		}
		if !VerifySignature(secret, body, r.Header.Get(SignatureHeader)) {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		_ = json.Unmarshal(body, &got)
	}))
	defer srv.Close()

	req := HookRequest{Rollout: "payment-service-v2", Hook: "smoke", Target: progressive.Target{Namespace: "prod", Name: "payment-service"}, Time: time.Unix(0, 0).UTC()}
	wh := &Webhook{URL: srv.URL, Secret: secret}
	require.NoError(t, wh.Run(context.Background(), req))
	assert.Equal(t, req.Rollout, got.Rollout)
	assert.Equal(t, req.Target, got.Target)

	// The same server refuses a payload signed with another secret, without retries.
	wrong := &Webhook{URL: srv.URL, Secret: []byte("other"), Retries: 3, Backoff: time.Millisecond}
	err := wrong.Run(context.Background(), req)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "401")
	assert.False(t, progressive.IsTransient(err))
}

func TestWebhookRetriesServerErrorsThenGivesUp(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) < 3 {
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	wh := &Webhook{URL: srv.URL, Retries: 2, Backoff: time.Millisecond}
	require.NoError(t, wh.Run(context.Background(), HookRequest{Hook: "notify"}))
	assert.Equal(t, int32(3), calls.Load())

	calls.Store(-100)
	wh.Retries = 1
	err := wh.Run(context.Background(), HookRequest{Hook: "notify"})
	require.Error(t, err)
	assert.True(t, progressive.IsTransient(err))
	assert.Equal(t, int32(-98), calls.Load(), "one attempt plus one retry")
}

func TestWebhookTimeoutAndRedaction(t *testing.T) {
	block := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-block:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(block)
	wh := &Webhook{URL: srv.URL + "/hook?token=hunter2", Timeout: 50 * time.Millisecond, Retries: 0}
	start := time.Now()
	err := wh.Run(context.Background(), HookRequest{Hook: "slow"})
	require.Error(t, err)
	assert.Less(t, time.Since(start), 5*time.Second)
	assert.True(t, progressive.IsTransient(err))
	assert.NotContains(t, err.Error(), "hunter2", "tokens in URLs never reach error messages")
}

func TestNewWebhookDefaults(t *testing.T) {
	wh := NewWebhook(progressive.HookSpec{Name: "x", URL: "https://example.invalid"}, nil, nil, nil)
	assert.Equal(t, progressive.DefaultHookTimeout, wh.Timeout)
	assert.Equal(t, progressive.DefaultHookRetries, wh.Retries)
	none := NewWebhook(progressive.HookSpec{Name: "x", URL: "https://example.invalid", Retries: -1}, nil, nil, nil)
	assert.Equal(t, 0, none.Retries)
}
