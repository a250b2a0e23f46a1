package rollout

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/internal/badhttp"
)

// slackPath is the secret part of a Slack-style webhook URL.
const slackPath = "/services/T0SECRET/B0SECRET/XXXXhooksecretXXXX"

// A redirect is a refusal: the webhook is not followed to an SSO login page whose
// 200 would pass the hook, whatever the redirect status, and the error names the
// status and the (redacted) target.
func TestWebhookRefusesRedirects(t *testing.T) {
	var sso atomic.Int32
	login := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sso.Add(1)
		_, _ = w.Write([]byte("<html>Sign in</html>"))
	}))
	defer login.Close()
	for _, status := range []int{http.StatusMovedPermanently, http.StatusFound, http.StatusTemporaryRedirect, http.StatusPermanentRedirect} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			srv := badhttp.Redirect(t, status, login.URL+"/login?state=ssotoken123&next="+slackPath)
			caller := &http.Client{Timeout: 10 * time.Second}
			wh := NewWebhook(progressive.HookSpec{Name: "smoke", URL: srv.URL + slackPath + "?token=hunter2", Retries: 3}, []byte("k"), caller, nil)
			err := wh.Run(context.Background(), HookRequest{Hook: "smoke"})
			require.Error(t, err, "a redirect never passes a hook")
			assert.ErrorIs(t, err, progressive.ErrInvalid, "a redirect is a configuration error")
			assert.False(t, progressive.IsTransient(err), "and is not retried")
			assert.Equal(t, 1, srv.Requests(), "not retried")
			assert.Zero(t, sso.Load(), "the redirect is not followed")
			msg := err.Error()
			assert.Contains(t, msg, http.StatusText(status))
			assert.Contains(t, msg, strings.TrimPrefix(login.URL, "http://"), "the error names the redirect target")
			for _, secret := range []string{"T0SECRET", "hooksecret", "hunter2", "ssotoken123"} {
				assert.NotContains(t, msg, secret)
			}
			assert.Nil(t, caller.CheckRedirect, "the caller's client is not changed")
		})
	}
}

// Every error of a webhook leaves out the URL's path, query and user info: for
// Slack-style webhooks the path is the secret.
func TestWebhookErrorsRedactThePath(t *testing.T) {
	closed := httptest.NewServer(http.NotFoundHandler())
	closedURL := closed.URL
	closed.Close()
	for name, url := range map[string]string{
		"500":     badhttp.Serve(t, badhttp.Static(500, "text/plain", "boom")).URL,
		"400":     badhttp.Serve(t, badhttp.Static(400, "text/plain", "bad")).URL,
		"refused": closedURL,
		"reset":   badhttp.Reset(t).URL,
	} {
		t.Run(name, func(t *testing.T) {
			u := strings.Replace(url, "http://", "http://alice:pa55word@", 1) + slackPath + "?token=hunter2"
			wh := &Webhook{URL: u, Timeout: time.Second, Retries: 0}
			err := wh.Run(context.Background(), HookRequest{Hook: "notify"})
			require.Error(t, err)
			for _, secret := range []string{"T0SECRET", "hooksecret", "hunter2", "pa55word", "alice"} {
				assert.NotContains(t, err.Error(), secret)
			}
			assert.Regexp(t, `path( and query)? redacted`, err.Error())
		})
	}
}

// Misbehaving receivers: none passes the hook except a 2xx, none holds the
// rollout past the hook's timeout, none leaks the URL's secrets.
func TestWebhookMisbehavingReceivers(t *testing.T) {
	const timeout = 200 * time.Millisecond
	const margin = time.Second
	for name, tc := range map[string]struct {
		srv       *badhttp.Server
		pass      bool
		transient bool
	}{
		"hang":     {srv: badhttp.Hang(t), transient: true},
		"reset":    {srv: badhttp.Reset(t), transient: true},
		"enormous": {srv: badhttp.Serve(t, badhttp.EnormousHandler()), pass: true},
		"trickle":  {srv: badhttp.Trickle(t, 50*time.Millisecond, strings.Repeat(" ", 100)), pass: true},
		"429":      {srv: badhttp.TooMany(t, "1"), transient: true},
	} {
		t.Run(name, func(t *testing.T) {
			wh := &Webhook{URL: tc.srv.URL + slackPath, Timeout: timeout, Retries: 0}
			start := time.Now()
			err := wh.Run(context.Background(), HookRequest{Hook: "smoke"})
			assert.Less(t, time.Since(start), timeout+margin, "bounded by the hook's timeout")
			if tc.pass {
				assert.NoError(t, err, "a 2xx is the receiver's verdict; its body is not read to the end")
				return
			}
			require.Error(t, err)
			assert.Equal(t, tc.transient, progressive.IsTransient(err), "%v", err)
			assert.NotContains(t, err.Error(), "hooksecret")
		})
	}
}
