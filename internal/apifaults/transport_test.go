package apifaults_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/agentops/progressive/internal/apifaults"
)

// fakeAPI answers every request with an object of the kind the path names
// (a ConfigMap or a Lease), and watches with an endless stream of events, one
// every 5ms. It counts the requests that reached it.
type fakeAPI struct {
	hits atomic.Int64
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.hits.Add(1)
	w.Header().Set("Content-Type", "application/json")
	segs := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	name := segs[len(segs)-1]
	var obj any = &corev1.ConfigMap{TypeMeta: metav1.TypeMeta{Kind: "ConfigMap", APIVersion: "v1"}, ObjectMeta: metav1.ObjectMeta{Name: name, ResourceVersion: "1"}}
	if strings.Contains(r.URL.Path, "/leases") {
		obj = &coordinationv1.Lease{TypeMeta: metav1.TypeMeta{Kind: "Lease", APIVersion: "coordination.k8s.io/v1"}, ObjectMeta: metav1.ObjectMeta{Name: name, ResourceVersion: "1"}}
	}
	if r.URL.Query().Get("watch") != "true" {
		_ = json.NewEncoder(w).Encode(obj)
		return
	}
	fl := w.(http.Flusher)
	for i := 0; ; i++ {
		cm := &corev1.ConfigMap{TypeMeta: metav1.TypeMeta{Kind: "ConfigMap", APIVersion: "v1"}, ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprint("cm-", i), ResourceVersion: fmt.Sprint(i + 2)}}
		raw, _ := json.Marshal(cm)
		if _, err := fmt.Fprintf(w, `{"type":"ADDED","object":%s}`+"\n", raw); err != nil {
			return
		}
		fl.Flush()
		select {
		case <-r.Context().Done():
			return
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// newFakeAPI starts a fakeAPI for the test and returns its URL.
func newFakeAPI(t *testing.T) (string, *fakeAPI) {
	t.Helper()
	api := &fakeAPI{}
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	return srv.URL, api
}

func newClient(t *testing.T, in *apifaults.Injector) (kubernetes.Interface, *fakeAPI) {
	t.Helper()
	url, api := newFakeAPI(t)
	cs, err := kubernetes.NewForConfig(in.Config(&rest.Config{Host: url, QPS: 1000, Burst: 1000}))
	require.NoError(t, err)
	return cs, api
}

func update(ctx context.Context, cs kubernetes.Interface, ns, name string) error {
	_, err := cs.CoreV1().ConfigMaps(ns).Update(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}}, metav1.UpdateOptions{})
	return err
}

func get(ctx context.Context, cs kubernetes.Interface, ns, name string) error {
	_, err := cs.CoreV1().ConfigMaps(ns).Get(ctx, name, metav1.GetOptions{})
	return err
}

// Each kind reaches client-go as the apiserver's own answer would, and none of
// the answered ones reaches the server.
func TestKindsAsClientGoSeesThem(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		kind  apifaults.Kind
		check func(error) bool
	}{
		{apifaults.Conflict, apierrors.IsConflict},
		{apifaults.InternalError, apierrors.IsInternalError},
		{apifaults.Unavailable, apierrors.IsServiceUnavailable},
		{apifaults.Timeout, func(err error) bool {
			var ne net.Error
			return errors.Is(err, context.DeadlineExceeded) && errors.As(err, &ne) && ne.Timeout()
		}},
	} {
		t.Run(string(tc.kind), func(t *testing.T) {
			in := apifaults.New(apifaults.Options{Rate: 1, Kinds: []apifaults.Kind{tc.kind}, Timeout: 50 * time.Millisecond})
			cs, api := newClient(t, in)
			err := update(ctx, cs, "ns", "state")
			require.Error(t, err)
			assert.True(t, tc.check(err), "%T: %v", err, err)
			assert.Zero(t, api.hits.Load(), "the request reached the server")
			st := in.Stats()
			assert.Equal(t, int64(1), st.Faults[tc.kind])
			assert.Equal(t, int64(1), st.ByResource["configmaps"])
			assert.Equal(t, int64(1), st.Writes)
		})
	}
}

// Only an update gets a 409; with only Conflict to choose from, reads,
// creates and patches pass.
func TestConflictOnlyOnUpdates(t *testing.T) {
	in := apifaults.New(apifaults.Options{Rate: 1, Kinds: []apifaults.Kind{apifaults.Conflict}})
	cs, api := newClient(t, in)
	ctx := context.Background()
	require.NoError(t, get(ctx, cs, "ns", "state"))
	_, err := cs.CoreV1().ConfigMaps("ns").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "state"}}, metav1.CreateOptions{})
	require.NoError(t, err)
	_, err = cs.CoreV1().ConfigMaps("ns").Patch(ctx, "state", types.MergePatchType, []byte(`{}`), metav1.PatchOptions{})
	require.NoError(t, err)
	assert.Equal(t, int64(3), api.hits.Load())
	assert.Zero(t, in.Stats().Total())
	assert.True(t, apierrors.IsConflict(update(ctx, cs, "ns", "state")))
}

// A lost reply carries the write out and still fails like a timeout.
func TestLostReplyLands(t *testing.T) {
	in := apifaults.New(apifaults.Options{Rate: 1, Kinds: []apifaults.Kind{apifaults.LostReply}, Timeout: 20 * time.Millisecond})
	cs, api := newClient(t, in)
	err := update(context.Background(), cs, "ns", "state")
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Equal(t, int64(1), api.hits.Load(), "the write reached the server")
}

// A Timeout fault ends with the caller's context when that comes first.
func TestTimeoutHonoursTheCallersContext(t *testing.T) {
	in := apifaults.New(apifaults.Options{Rate: 1, Kinds: []apifaults.Kind{apifaults.Timeout}, Timeout: time.Minute})
	cs, _ := newClient(t, in)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := get(ctx, cs, "ns", "state")
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Less(t, time.Since(start), 10*time.Second)
}

// Leases pass untouched unless Options.Leases says otherwise.
func TestLeasesExemptByDefault(t *testing.T) {
	ctx := context.Background()
	for _, faulted := range []bool{false, true} {
		in := apifaults.New(apifaults.Options{Rate: 1, Kinds: []apifaults.Kind{apifaults.InternalError}, Leases: faulted})
		cs, _ := newClient(t, in)
		_, err := cs.CoordinationV1().Leases("ns").Get(ctx, "lock", metav1.GetOptions{})
		if faulted {
			assert.True(t, apierrors.IsInternalError(err), "%v", err)
			assert.Equal(t, int64(1), in.Stats().ByResource["leases"])
		} else {
			require.NoError(t, err)
			assert.Equal(t, int64(1), in.Stats().Exempt)
		}
		// Other resources are faulted either way.
		assert.True(t, apierrors.IsInternalError(get(ctx, cs, "ns", "state")))
	}
}

// trace runs a fixed sequence of requests in namespace ns and returns, per
// request, the error it got ("" for none).
func trace(t *testing.T, seed uint64, ns string) []string {
	t.Helper()
	in := apifaults.New(apifaults.Options{Seed: seed, Rate: 0.3, Kinds: []apifaults.Kind{apifaults.Conflict, apifaults.InternalError, apifaults.Unavailable}})
	cs, _ := newClient(t, in)
	ctx := context.Background()
	var out []string
	for i := range 60 {
		var err error
		if i%3 == 0 {
			err = update(ctx, cs, ns, "state")
		} else {
			err = get(ctx, cs, ns, fmt.Sprint("obj-", i%2))
		}
		switch {
		case err == nil:
			out = append(out, "")
		case apierrors.IsConflict(err):
			out = append(out, "409")
		case apierrors.IsInternalError(err):
			out = append(out, "500")
		case apierrors.IsServiceUnavailable(err):
			out = append(out, "503")
		default:
			out = append(out, err.Error())
		}
	}
	return out
}

// The same seed gives the same faults, whatever the namespace is called; the
// faults of one path do not depend on the requests to other paths.
func TestSeedReplays(t *testing.T) {
	a := trace(t, 42, "test-abc")
	b := trace(t, 42, "test-xyz")
	assert.Equal(t, a, b)
	c := trace(t, 43, "test-abc")
	assert.NotEqual(t, a, c, "another seed gives other faults")
	faults := 0
	for _, s := range a {
		if s != "" {
			faults++
		}
	}
	assert.Greater(t, faults, 5, "%v", a)
}

// Over many requests the share of faults is close to Rate.
func TestRate(t *testing.T) {
	in := apifaults.New(apifaults.Options{Seed: 7, Rate: 0.1, Kinds: []apifaults.Kind{apifaults.InternalError}})
	cs, _ := newClient(t, in)
	ctx := context.Background()
	for i := range 1500 {
		_ = get(ctx, cs, "ns", fmt.Sprint("obj-", i%7))
	}
	st := in.Stats()
	share := float64(st.Total()) / float64(st.Requests)
	assert.InDelta(t, 0.1, share, 0.03, "%s", st)
	in.SetEnabled(false)
	before := st.Total()
	for range 100 {
		require.NoError(t, get(ctx, cs, "ns", "obj-0"))
	}
	assert.Equal(t, before, in.Stats().Total(), "disabled: no faults")
}

// A dropped watch delivers a few events and then fails like a broken
// connection; client-go's watcher then ends its result channel.
func TestWatchDrop(t *testing.T) {
	in := apifaults.New(apifaults.Options{Rate: 1, MaxWatchEvents: 3, WatchLifetime: 10 * time.Second})
	cs, _ := newClient(t, in)
	w, err := cs.CoreV1().ConfigMaps("ns").Watch(context.Background(), metav1.ListOptions{})
	require.NoError(t, err)
	defer w.Stop()
	n := 0
	timeout := time.After(10 * time.Second)
loop:
	for {
		select {
		case _, ok := <-w.ResultChan():
			if !ok {
				break loop
			}
			n++
		case <-timeout:
			t.Fatalf("the watch was not dropped after %d events", n)
		}
	}
	assert.GreaterOrEqual(t, n, 0)
	assert.LessOrEqual(t, n, 3, "events delivered before the drop")
	st := in.Stats()
	assert.Equal(t, int64(1), st.Faults[apifaults.WatchDrop])
	assert.Equal(t, int64(1), st.Watches)
}

// A quiet dropped watch ends after WatchLifetime.
func TestWatchDropLifetime(t *testing.T) {
	in := apifaults.New(apifaults.Options{Rate: 1, Kinds: []apifaults.Kind{apifaults.WatchDrop}, WatchLifetime: 100 * time.Millisecond})
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	}))
	defer srv.Close()
	c := &http.Client{Transport: in.Wrap(http.DefaultTransport)}
	resp, err := c.Get(srv.URL + "/api/v1/namespaces/ns/configmaps?watch=true")
	require.NoError(t, err)
	defer resp.Body.Close()
	start := time.Now()
	_, err = io.ReadAll(resp.Body)
	require.ErrorIs(t, err, io.ErrUnexpectedEOF)
	assert.Less(t, time.Since(start), 5*time.Second)
}
