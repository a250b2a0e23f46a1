package linkerd

import (
	"testing"

	"k8s.io/client-go/rest"
)

// TestNewDefaultRateLimit checks the clients New builds: 200/s without a rate
// limit in the config, the caller's QPS when it set one. Nothing is contacted.
func TestNewDefaultRateLimit(t *testing.T) {
	qps := func(t *testing.T, cfg *rest.Config, mode Mode) (kube, smi float32) {
		t.Helper()
		r, err := New(cfg, Options{Mode: mode})
		if err != nil {
			t.Fatal(err)
		}
		return r.kube.CoreV1().RESTClient().GetRateLimiter().QPS(), r.smi.SplitV1alpha2().RESTClient().GetRateLimiter().QPS()
	}
	for _, mode := range []Mode{ModeGatewayAPI, ModeSMI} {
		cfg := &rest.Config{Host: "https://127.0.0.1:1"}
		if k, s := qps(t, cfg, mode); k != 200 || s != 200 {
			t.Errorf("%s: default QPS (kube, smi) = %v, %v; want 200, 200", mode, k, s)
		}
		if cfg.QPS != 0 {
			t.Errorf("%s: New modified the caller's config: QPS %v", mode, cfg.QPS)
		}
		if k, s := qps(t, &rest.Config{Host: "https://127.0.0.1:1", QPS: 7, Burst: 9}, mode); k != 7 || s != 7 {
			t.Errorf("%s: explicit QPS (kube, smi) = %v, %v; want the caller's 7", mode, k, s)
		}
	}
}
