package kubeclient

import (
	"testing"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/flowcontrol"
)

func TestWithDefaultRateLimit(t *testing.T) {
	t.Run("a config without a rate limit gets the defaults, in a copy", func(t *testing.T) {
		in := &rest.Config{Host: "https://example.invalid"}
		out := WithDefaultRateLimit(in)
		if out.QPS != DefaultQPS || out.Burst != DefaultBurst {
			t.Fatalf("QPS/Burst = %v/%d, want %v/%d", out.QPS, out.Burst, float32(DefaultQPS), DefaultBurst)
		}
		if out == in || in.QPS != 0 || in.Burst != 0 {
			t.Fatalf("the caller's config was modified: %+v", in)
		}
		if out.Host != in.Host {
			t.Fatalf("Host = %q, want the caller's %q", out.Host, in.Host)
		}
	})
	t.Run("an explicit QPS is kept, with its burst", func(t *testing.T) {
		in := &rest.Config{QPS: 7, Burst: 3}
		out := WithDefaultRateLimit(in)
		if out.QPS != 7 || out.Burst != 3 {
			t.Fatalf("QPS/Burst = %v/%d, want the caller's 7/3", out.QPS, out.Burst)
		}
	})
	t.Run("a RateLimiter is kept and no QPS is added", func(t *testing.T) {
		rl := flowcontrol.NewFakeAlwaysRateLimiter()
		out := WithDefaultRateLimit(&rest.Config{RateLimiter: rl})
		if out.RateLimiter != rl || out.QPS != 0 {
			t.Fatalf("RateLimiter/QPS = %v/%v, want the caller's limiter and QPS 0", out.RateLimiter, out.QPS)
		}
	})
	t.Run("nil stays nil", func(t *testing.T) {
		if WithDefaultRateLimit(nil) != nil {
			t.Fatal("want nil")
		}
	})
}
