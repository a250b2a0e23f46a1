package gatewayapi

import (
	"testing"

	"k8s.io/client-go/rest"
)

// TestNewDefaultRateLimit checks the client New builds: 200/s without a rate
// limit in the config, the caller's QPS when it set one. Nothing is contacted.
func TestNewDefaultRateLimit(t *testing.T) {
	qps := func(t *testing.T, cfg *rest.Config) float32 {
		t.Helper()
		r, err := New(cfg, Options{})
		if err != nil {
			t.Fatal(err)
		}
		return r.cs.GatewayV1().RESTClient().GetRateLimiter().QPS()
	}
	cfg := &rest.Config{Host: "https://127.0.0.1:1"}
	if got := qps(t, cfg); got != 200 {
		t.Errorf("default QPS = %v, want 200", got)
	}
	if cfg.QPS != 0 {
		t.Errorf("New modified the caller's config: QPS %v", cfg.QPS)
	}
	if got := qps(t, &rest.Config{Host: "https://127.0.0.1:1", QPS: 7, Burst: 9}); got != 7 {
		t.Errorf("explicit QPS = %v, want the caller's 7", got)
	}
}
