package badhttp_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentops/progressive/internal/badhttp"
)

// get POSTs a small body with a client that shows redirects instead of following
// them.
func get(t *testing.T, ctx context.Context, url string) (*http.Response, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(`{"x":1}`))
	if err != nil {
		return nil, err
	}
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return noFollow.Do(req)
}

func TestFixtures(t *testing.T) {
	ctx := t.Context()
	t.Run("redirect", func(t *testing.T) {
		for _, status := range []int{301, 302, 307, 308} {
			s := badhttp.Redirect(t, status, "https://sso.example.com/login")
			resp, err := get(t, ctx, s.URL)
			require.NoError(t, err)
			resp.Body.Close()
			assert.Equal(t, status, resp.StatusCode)
			assert.Equal(t, "https://sso.example.com/login", resp.Header.Get("Location"))
			assert.True(t, strings.HasPrefix(s.URL, "http://127.0.0.1:"))
		}
	})
	t.Run("hang", func(t *testing.T) {
		s := badhttp.Hang(t)
		c, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := get(t, c, s.URL)
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Less(t, time.Since(start), time.Second)
		assert.Equal(t, 1, s.Requests())
	})
	t.Run("trickle", func(t *testing.T) {
		s := badhttp.Trickle(t, 20*time.Millisecond, `{"ok":true}`)
		start := time.Now()
		resp, err := get(t, ctx, s.URL)
		require.NoError(t, err)
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err)
		assert.Equal(t, `{"ok":true}`, string(b))
		assert.GreaterOrEqual(t, time.Since(start), 200*time.Millisecond)
	})
	t.Run("reset", func(t *testing.T) {
		s := badhttp.Reset(t)
		_, err := get(t, ctx, s.URL)
		require.Error(t, err)
	})
	t.Run("garbage, empty, 429", func(t *testing.T) {
		resp, err := get(t, ctx, badhttp.Garbage(t).URL)
		require.NoError(t, err)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		assert.Equal(t, badhttp.GarbageBody, string(b))
		resp, err = get(t, ctx, badhttp.Empty(t).URL)
		require.NoError(t, err)
		b, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		assert.Equal(t, 200, resp.StatusCode)
		assert.Empty(t, b)
		resp, err = get(t, ctx, badhttp.TooMany(t, badhttp.RetryAfterSeconds(7*time.Second)).URL)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, 429, resp.StatusCode)
		assert.Equal(t, "7", resp.Header.Get("Retry-After"))
	})
	t.Run("enormous", func(t *testing.T) {
		resp, err := get(t, ctx, badhttp.Enormous(t).URL)
		require.NoError(t, err)
		n, err := io.Copy(io.Discard, io.LimitReader(resp.Body, 32<<20))
		resp.Body.Close()
		require.NoError(t, err)
		assert.Equal(t, int64(32<<20), n, "it keeps going")
	})
	t.Run("a hanging request does not hold up the end of the test", func(t *testing.T) {
		s := badhttp.Hang(t)
		done := make(chan error, 1)
		go func() {
			_, err := get(t, context.Background(), s.URL)
			done <- err
		}()
		for s.Requests() == 0 {
			time.Sleep(time.Millisecond)
		}
		s.CloseClientConnections()
		err := <-done
		assert.True(t, err != nil && !errors.Is(err, context.DeadlineExceeded), "%v", err)
	})
}
