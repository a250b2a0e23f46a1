package istio

import (
	"testing"

	"k8s.io/client-go/rest"
)

// TestNewDefaultRateLimit checks the clients New builds: 200/s without a rate
// limit in the config, the caller's QPS when it set one. Nothing is contacted.
func TestNewDefaultRateLimit(t *testing.T) {
	qps := func(t *testing.T, cfg *rest.Config) (istio, kube float32) {
		t.Helper()
		r, err := New(cfg, Options{})
		if err != nil {
			t.Fatal(err)
		}
		return r.cs.NetworkingV1().RESTClient().GetRateLimiter().QPS(), r.kube.CoreV1().RESTClient().GetRateLimiter().QPS()
	}
	cfg := &rest.Config{Host: "https://127.0.0.1:1"}
	if i, k := qps(t, cfg); i != 200 || k != 200 {
		t.Errorf("default QPS (istio, kube) = %v, %v; want 200, 200", i, k)
	}
	if cfg.QPS != 0 {
		t.Errorf("New modified the caller's config: QPS %v", cfg.QPS)
	}
	if i, k := qps(t, &rest.Config{Host: "https://127.0.0.1:1", QPS: 7, Burst: 9}); i != 7 || k != 7 {
		t.Errorf("explicit QPS (istio, kube) = %v, %v; want the caller's 7", i, k)
	}
}
