package timeline_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/agentops/progressive/rollout/timeline"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// chromium finds Debian's chromium. CI installs it (.ci/run), so there a
// missing browser is a failure, not a reason to skip: a skipped browser test
// would look like a passing one.
func chromium(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"/usr/bin/chromium"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium not found at /usr/bin/chromium or on PATH; CI installs it with apt-get install -y chromium (.ci/run)")
	}
	t.Skip("chromium not found: install Debian's chromium (apt-get install -y chromium) to run the browser test")
	return ""
}

type box struct{ W, H float64 }

// TestHTMLRendersInABrowser loads the page in headless chromium and checks
// what the XML tests cannot: that a browser draws it (non-zero boxes for the
// picture, the weight line and every decision marker), that nothing on it
// raises an error or breaks its own Content-Security-Policy, and that a
// hostile check name stays text.
func TestHTMLRendersInABrowser(t *testing.T) {
	path := chromium(t)

	rec := rolledBack()
	hostile := `<script>document.title="owned"</script>`
	for i := range rec.Observations {
		if rec.Observations[i].Check == "latency" {
			rec.Observations[i].Check = hostile
		}
	}
	rec.Solution.Checks[1] = hostile + " (canary/stable ratio) <= 1.2 every 1m"
	var page bytes.Buffer
	require.NoError(t, timeline.HTML(&page, rec, timeline.Options{}))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write(page.Bytes())
	}))
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox, // the tests run as root, where chromium's sandbox refuses to start
		chromedp.Headless,
		chromedp.DisableGPU,
		chromedp.WindowSize(1200, 1600),
	)
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	defer acancel()
	var mu sync.Mutex
	var problems []string
	// The listener goes in with the context, so it sees the page's events
	// from the first one on; it only appends under a lock, as it must return
	// fast.
	listen := func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch ev := ev.(type) {
		case *runtime.EventExceptionThrown:
			problems = append(problems, "exception: "+ev.ExceptionDetails.Text)
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeWarning {
				problems = append(problems, fmt.Sprintf("console %s", ev.Type))
			}
		case *log.EventEntryAdded:
			if ev.Entry.Level == log.EntryLevelError || ev.Entry.Level == log.EntryLevelWarning {
				problems = append(problems, fmt.Sprintf("log %s: %s", ev.Entry.Level, ev.Entry.Text))
			}
		}
	}
	bctx, bcancel := chromedp.NewContext(actx, chromedp.WithListener(listen))
	defer bcancel()

	require.NoError(t, chromedp.Do(bctx,
		// chromedp enables the Runtime and Log domains on its own: their
		// events reach the listener without a command here.
		chromedp.Navigate(srv.URL),
		chromedp.WaitVisible(chromedp.CSS("svg.timeline")),
	))
	boxes, err := chromedp.Run(bctx, chromedp.Evaluate[map[string][]box](`(() => {
		const boxes = sel => Array.from(document.querySelectorAll(sel)).map(e => {
			const r = e.getBoundingClientRect();
			return {W: r.width, H: r.height};
		});
		return {
			svg: boxes("svg.timeline"),
			weight: boxes("path.series.weight"),
			canary: boxes("path.series.canary"),
			thresholds: boxes("line.threshold"),
			markers: boxes("g.decision path.marker"),
			axis: boxes("g.x-axis text.tick-label"),
			list: boxes("ol.decisions li"),
		};
	})()`))
	require.NoError(t, err)
	title, err := chromedp.Run(bctx, chromedp.Title())
	require.NoError(t, err)
	scripts, err := chromedp.Run(bctx, chromedp.Evaluate[int](`document.querySelectorAll("script").length`))
	require.NoError(t, err)
	hostileText, err := chromedp.Run(bctx, chromedp.Evaluate[bool](`Array.from(document.querySelectorAll("svg .panel-title")).some(e => e.textContent.includes('<script>document.title="owned"</script>'))`))
	require.NoError(t, err)
	// Console messages arrive asynchronously; give stragglers a moment.
	require.NoError(t, chromedp.Do(bctx, chromedp.Sleep(200*time.Millisecond)))

	want := map[string]int{
		"svg": 1, "weight": 1, "canary": 2, "thresholds": 2,
		"markers": len(rec.Decisions), "axis": 5, "list": len(rec.Decisions),
	}
	for name, n := range want {
		require.Len(t, boxes[name], n, name)
		for i, b := range boxes[name] {
			assert.True(t, b.W > 0 || b.H > 0, "%s[%d] has an empty box: %+v", name, i, b)
		}
	}
	// A step line has both extents; a marker is a 10x10 diamond.
	assert.Greater(t, boxes["weight"][0].W, 100.0)
	assert.Greater(t, boxes["weight"][0].H, 10.0)
	for _, m := range boxes["markers"] {
		assert.InDelta(t, 10, m.W, 1)
	}
	assert.Equal(t, "production/payment-service to v2.1.0", title, "no injected script ran")
	assert.Zero(t, scripts)
	assert.True(t, hostileText, "the hostile check name is shown as text")

	mu.Lock()
	defer mu.Unlock()
	assert.Empty(t, problems, "the page loads without errors, exceptions or policy violations")
}
