package corpus_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	ldclient "github.com/launchdarkly/go-server-sdk/v7"
	"github.com/launchdarkly/go-server-sdk/v7/ldcomponents"
	"github.com/launchdarkly/go-server-sdk/v7/testhelpers/ldtestdata"
	istiofake "istio.io/client-go/pkg/clientset/versioned/fake"
	kubefake "k8s.io/client-go/kubernetes/fake"
	testingclock "k8s.io/utils/clock/testing"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/provider/flagsmith"
	"github.com/agentops/progressive/provider/istio"
	"github.com/agentops/progressive/provider/kubernetes"
	"github.com/agentops/progressive/provider/launchdarkly"
	"github.com/agentops/progressive/provider/prometheus"
	"github.com/agentops/progressive/provider/sim"
)

func providerCases() []bad {
	var out []bad
	secrets := []string{secretPassword, secretToken, secretPath}

	// provider/prometheus: New checks options without contacting the server.
	prom := func(name, field string, o prometheus.Options) {
		// The address's path is kept in messages by design (a path prefix);
		// its user info and query are the credentials.
		c := bad{entry: "prometheus.New", name: name, field: field, secrets: []string{secretPassword, secretToken}, run: func(context.Context) error {
			_, err := prometheus.New(o)
			return err
		}}
		out = append(out, c)
	}
	const addr = "http://prometheus.monitoring:9090"
	for i, a := range []string{
		"", "   ", "prometheus:9090", "ftp://u:" + secretPassword + "@prom/" + secretPath,
		"http://", "http:///api", "https://u:" + secretPassword + "@prom/?token=" + secretToken,
		"http://prom/?api_key=" + secretToken, "http://prom/#" + secretToken, "http://prom/?",
		"http://[::1", "http://u:" + secretPassword + "@[::1/" + secretPath, "http://prom:port/",
		"http://prom\r\n:9090/", "http://prom\x00/", "javascript:alert(1)", "file:///etc/prometheus", "unix:///var/run/prom.sock",
		"//prom:9090", "http:prom:9090",
	} {
		prom(fmt.Sprintf("address#%d:%s", i, label(a)), "Address", prometheus.Options{Address: a})
	}
	prom("address-port-out-of-range", "Address", prometheus.Options{Address: "http://prom:99999"})
	prom("address-port-0", "Address", prometheus.Options{Address: "http://u:" + secretPassword + "@prom:0/"})
	prom("timeout-negative", "timeout", prometheus.Options{Address: addr, Timeout: -time.Second})
	prom("maxBody-negative", "maxBody", prometheus.Options{Address: addr, MaxBody: -1})
	prom("userinfo-and-basic-auth", "address", prometheus.Options{Address: "http://u:" + secretPassword + "@prom:9090", BasicAuth: &prometheus.BasicAuth{Username: "u", Password: secretPassword}})
	prom("bearer-and-basic-auth", "bearerToken", prometheus.Options{Address: addr, BearerToken: secretToken, BasicAuth: &prometheus.BasicAuth{Username: "u", Password: secretPassword}})
	prom("header-name-space", "headers", prometheus.Options{Address: addr, Headers: map[string]prometheus.Secret{"X Org": secretToken}})
	prom("header-name-colon", "headers", prometheus.Options{Address: addr, Headers: map[string]prometheus.Secret{"X-Org:": secretToken}})
	prom("header-name-CRLF", "headers", prometheus.Options{Address: addr, Headers: map[string]prometheus.Secret{"X-Org\r\nX-Evil": secretToken}})
	prom("header-name-empty", "headers", prometheus.Options{Address: addr, Headers: map[string]prometheus.Secret{"": secretToken}})
	prom("header-value-LF", "headers[X-Scope-Orgid]", prometheus.Options{Address: addr, Headers: map[string]prometheus.Secret{"X-Scope-OrgID": prometheus.Secret(secretToken + "\nX-Evil: 1")}})
	prom("header-value-CR", "headers[X-Api-Key]", prometheus.Options{Address: addr, Headers: map[string]prometheus.Secret{"X-Api-Key": prometheus.Secret(secretToken + "\r")}})
	prom("header-authorization-and-bearer", "headers[Authorization]", prometheus.Options{Address: addr, BearerToken: secretToken, Headers: map[string]prometheus.Secret{"authorization": "Basic " + secretPassword}})
	prom("bearer-CRLF", "bearerToken", prometheus.Options{Address: addr, BearerToken: prometheus.Secret(secretToken + "\r\nX-Evil: 1")})
	prom("bearer-NUL", "bearerToken", prometheus.Options{Address: addr, BearerToken: prometheus.Secret(secretToken + "\x00")})
	prom("bearer-DEL", "bearerToken", prometheus.Options{Address: addr, BearerToken: prometheus.Secret(secretToken + "\x7f")})
	prom("header-value-NUL", "headers[X-Api-Key]", prometheus.Options{Address: addr, Headers: map[string]prometheus.Secret{"X-Api-Key": prometheus.Secret(secretToken + "\x00")}})
	prom("basic-username-colon", "basicAuth.username", prometheus.Options{Address: addr, BasicAuth: &prometheus.BasicAuth{Username: "a:b", Password: secretPassword}})
	prom("basic-username-LF", "basicAuth.username", prometheus.Options{Address: addr, BasicAuth: &prometheus.BasicAuth{Username: "a\nb", Password: secretPassword}})
	prom("basic-password-CR", "basicAuth.password", prometheus.Options{Address: addr, BasicAuth: &prometheus.BasicAuth{Username: "u", Password: secretPassword + "\r"}})
	prom("address-password-NUL", "address", prometheus.Options{Address: "http://u:" + secretPassword + "%00@prom:9090"})
	prom("tls-on-http", "tls", prometheus.Options{Address: addr, TLS: prometheus.TLSOptions{ServerName: "prom"}})
	prom("tls-with-client", "tls", prometheus.Options{Address: "https://prom", TLS: prometheus.TLSOptions{InsecureSkipVerify: true}, HTTPClient: &http.Client{}})
	prom("tls-ca-missing", "CAFile", prometheus.Options{Address: "https://prom", TLS: prometheus.TLSOptions{CAFile: "/nonexistent/" + secretPath + "/ca.pem"}})
	prom("tls-ca-not-pem", "CAFile", prometheus.Options{Address: "https://prom", TLS: prometheus.TLSOptions{CAFile: "/etc/hostname"}})

	// provider/kubernetes on a fake clientset: nothing it refuses reaches the API.
	kp := func(o kubernetes.Options) *kubernetes.Provider {
		o.NoEvents = true
		return kubernetes.NewForClientset(kubefake.NewClientset(), o)
	}
	kube := func(name, field string, run func(ctx context.Context, p *kubernetes.Provider) error) {
		c := bad{entry: "kubernetes.Provider", name: name, field: field, run: func(ctx context.Context) error { return run(ctx, kp(kubernetes.Options{})) }}
		out = append(out, c)
	}
	kube("store-namespace-empty", "namespace", func(_ context.Context, p *kubernetes.Provider) error { _, err := p.Store(""); return err })
	for i, ns := range []string{"Production", "prod uction", "prod\r\n", "../kube-system", strings.Repeat("n", 64)} {
		kube(fmt.Sprintf("store-namespace#%d", i), "namespace", func(_ context.Context, p *kubernetes.Provider) error { _, err := p.Store(ns); return err })
	}
	kube("lease-bad-target", "name", func(_ context.Context, p *kubernetes.Provider) error {
		_, err := p.Lease(progressive.Target{Namespace: "production", Name: "Payment Service"}, kubernetes.LeaseOptions{})
		return err
	})
	kube("lease-no-namespace", "Namespace", func(_ context.Context, p *kubernetes.Provider) error {
		_, err := p.Lease(progressive.Target{Name: "payment-service"}, kubernetes.LeaseOptions{})
		return err
	})
	kube("lease-duration-under-1s", "leaseDuration", func(_ context.Context, p *kubernetes.Provider) error {
		_, err := p.Lease(goodTarget, kubernetes.LeaseOptions{LeaseDuration: 500 * time.Millisecond, RenewDeadline: 200 * time.Millisecond, RetryPeriod: 100 * time.Millisecond})
		return err
	})
	kube("lease-renew-above-duration", "renewDeadline", func(_ context.Context, p *kubernetes.Provider) error {
		_, err := p.Lease(goodTarget, kubernetes.LeaseOptions{LeaseDuration: 10 * time.Second, RenewDeadline: 20 * time.Second})
		return err
	})
	kube("lease-retry-above-renew", "retryPeriod", func(_ context.Context, p *kubernetes.Provider) error {
		_, err := p.Lease(goodTarget, kubernetes.LeaseOptions{RetryPeriod: time.Minute})
		return err
	})
	kube("lease-name", "Name", func(_ context.Context, p *kubernetes.Provider) error {
		_, err := p.Lease(goodTarget, kubernetes.LeaseOptions{Name: "Bad Lease\n"})
		return err
	})
	kube("lease-namespace", "Namespace", func(_ context.Context, p *kubernetes.Provider) error {
		_, err := p.Lease(progressive.Target{Name: "payment-service"}, kubernetes.LeaseOptions{Namespace: "Kube System"})
		return err
	})
	for i, r := range []progressive.Routes{
		{StableWeight: 80, CanaryWeight: 30}, {StableWeight: nan, CanaryWeight: 100}, {StableWeight: 150, CanaryWeight: -50}, {StableWeight: posInf},
	} {
		kube(fmt.Sprintf("router-routes#%d", i), []string{"canaryWeight", "stableWeight", "canaryWeight", "stableWeight"}[i], func(ctx context.Context, p *kubernetes.Provider) error {
			return p.Router().SetRoutes(ctx, goodTarget, r)
		})
	}
	kube("router-mirror-150", "mirrorPercent", func(ctx context.Context, p *kubernetes.Provider) error {
		return p.Router().SetRoutes(ctx, goodTarget, progressive.Routes{StableWeight: 100, MirrorPercent: 150})
	})
	for i, tg := range []progressive.Target{{Namespace: "production", Name: "Payment"}, {Namespace: "prod\n", Name: "svc"}, {Name: ""}} {
		field := "name"
		if tg.Namespace == "prod\n" {
			field = "namespace"
		}
		kube(fmt.Sprintf("router-target#%d", i), field, func(ctx context.Context, p *kubernetes.Provider) error {
			return p.Router().SetRoutes(ctx, tg, progressive.WeightedRoutes(10))
		})
	}
	out = append(out, bad{entry: "kubernetes.Provider", name: "router-leave-service-selector", field: "LeaveServiceSelector", run: func(ctx context.Context) error {
		return kp(kubernetes.Options{LeaveServiceSelector: true}).Router().SetRoutes(ctx, goodTarget, progressive.WeightedRoutes(10))
	}})

	// provider/istio: options, then routes, on fake clientsets.
	ist := func(name, field string, o istio.Options) {
		c := bad{entry: "istio.NewForClients", name: name, field: field, run: func(context.Context) error {
			_, err := istio.NewForClients(istiofake.NewSimpleClientset(), kubefake.NewClientset(), o)
			return err
		}}
		out = append(out, c)
	}
	for i, cn := range []string{"", "sticky session", "a;b", "a=b", "a\r\nSet-Cookie: x", "ünï"} {
		ist(fmt.Sprintf("cookie#%d", i), "sessionAffinity.cookieName", istio.Options{SessionAffinity: &istio.SessionAffinity{CookieName: cn, MaxAge: time.Hour}})
	}
	for i, ma := range []time.Duration{0, -time.Second, 500 * time.Millisecond, 1500 * time.Millisecond} {
		ist(fmt.Sprintf("maxAge#%d", i), "sessionAffinity.maxAge", istio.Options{SessionAffinity: &istio.SessionAffinity{CookieName: "canary", MaxAge: ma}})
	}
	ist("virtualService-name", "virtualService", istio.Options{VirtualService: "Payment Service"})
	ist("destinationRule-name", "destinationRule", istio.Options{DestinationRule: "dr\r\n"})
	ist("subset-name", "stableSubset", istio.Options{StableSubset: "Stable Subset"})
	ist("uriPrefix-CRLF", "uriPrefix", istio.Options{URIPrefix: "/api\r\nX: y"})
	for i, r := range []progressive.Routes{
		{StableWeight: 80, CanaryWeight: 30},
		{StableWeight: 100, MirrorPercent: nan},
		{StableWeight: 100, Matches: []progressive.Match{{Kind: progressive.MatchHeader, Name: "x\r\ny", Value: "1"}}},
		{StableWeight: 100, Matches: []progressive.Match{{Kind: progressive.MatchCookie, Name: "beta", Value: "(", Regex: true}}},
	} {
		field := []string{"canaryWeight", "mirrorPercent", "matches[0].name", "matches[0].value"}[i]
		out = append(out, bad{entry: "istio.Router.SetRoutes", name: fmt.Sprintf("routes#%d", i), field: field, run: func(ctx context.Context) error {
			r0, err := istio.NewForClients(istiofake.NewSimpleClientset(), kubefake.NewClientset(), istio.Options{})
			if err != nil {
				return err
			}
			return r0.SetRoutes(ctx, goodTarget, r)
		}})
	}

	// provider/sim: its writes validate like the real providers'.
	simEnv := func() *sim.Env { return sim.New(sim.Options{Clock: testingclock.NewFakeClock(t0)}) }
	for i, r := range []progressive.Routes{
		{StableWeight: 80, CanaryWeight: 30}, {StableWeight: nan, CanaryWeight: nan}, {StableWeight: 100, MirrorPercent: 101},
		{StableWeight: 100, Matches: []progressive.Match{{Kind: "query", Name: "x", Value: "1"}}},
	} {
		field := []string{"canaryWeight", "stableWeight", "mirrorPercent", "matches[0].kind"}[i]
		out = append(out, bad{entry: "sim.Router.SetRoutes", name: fmt.Sprintf("routes#%d", i), field: field, run: func(ctx context.Context) error {
			return simEnv().Router.SetRoutes(ctx, goodTarget, r)
		}})
	}
	for i, ro := range []progressive.Rollout{
		{}, {Weights: []progressive.VariationWeight{{Variation: "on", Weight: 50}}},
		{Weights: []progressive.VariationWeight{{Variation: "", Weight: 100}}},
		{Weights: []progressive.VariationWeight{{Variation: "on", Weight: nan}, {Variation: "off", Weight: 100}}},
		{Weights: []progressive.VariationWeight{{Variation: "on", Weight: 150}, {Variation: "off", Weight: -50}}},
	} {
		field := "rollout." + []string{"weights", "weights", "weights[0].variation", "weights[0].weight", "weights[0].weight"}[i]
		out = append(out, bad{entry: "sim.FlagStore.SetRollout", name: fmt.Sprintf("rollout#%d", i), field: field, run: func(ctx context.Context) error {
			e := simEnv()
			ref := progressive.FlagRef{Key: "k"}
			if err := e.Flags.AddFlag(progressive.Flag{Ref: ref, Variations: []progressive.Variation{{ID: "on"}, {ID: "off"}}, Fallthrough: progressive.PercentRollout("off", "on", 100)}); err != nil {
				return fmt.Errorf("setup: %v", err)
			}
			return e.Flags.SetRollout(ctx, ref, ro)
		}})
	}
	for i, ref := range []progressive.FlagRef{{}, {Key: "a b"}, {Key: "k", Environment: "prod\n"}} {
		field := []string{"key", "key", "environment"}[i]
		out = append(out, bad{entry: "sim.FlagStore.SetRollout", name: fmt.Sprintf("ref#%d", i), field: field, run: func(ctx context.Context) error {
			return simEnv().Flags.SetRollout(ctx, ref, progressive.PercentRollout("on", "off", 10))
		}})
	}

	// Flag stores: options are checked before any SDK client starts.
	ldEnv := func(key string) launchdarkly.Environment {
		return launchdarkly.Environment{Key: key, SDKKey: "sdk-" + secretToken, Config: ldclient.Config{
			DataSource: ldtestdata.DataSource(), Events: ldcomponents.NoEvents(), Logging: ldcomponents.NoLogging(),
		}}
	}
	ld := func(name, field string, o launchdarkly.Options) {
		c := bad{entry: "launchdarkly.New", name: name, field: field, secrets: secrets, run: func(context.Context) error {
			o.StartWait = 100 * time.Millisecond
			s, err := launchdarkly.New(o)
			if s != nil {
				_ = s.Close()
			}
			return err
		}}
		out = append(out, c)
	}
	ld("no-environments", "environments", launchdarkly.Options{APIToken: secretToken})
	ld("environment-key-empty", "environments[0].key", launchdarkly.Options{Environments: []launchdarkly.Environment{ldEnv("")}})
	ld("environment-key-twice", "environments[1].key", launchdarkly.Options{Environments: []launchdarkly.Environment{ldEnv("production"), ldEnv("production")}})
	ld("baseURL-ftp", "baseURL", launchdarkly.Options{Environments: []launchdarkly.Environment{ldEnv("production")}, APIToken: secretToken, BaseURL: "ftp://u:" + secretPassword + "@ld.example.com/" + secretPath})
	ld("baseURL-userinfo", "baseURL", launchdarkly.Options{Environments: []launchdarkly.Environment{ldEnv("production")}, APIToken: secretToken, BaseURL: "https://u:" + secretPassword + "@ld.example.com/" + secretPath})
	ld("baseURL-query", "baseURL", launchdarkly.Options{Environments: []launchdarkly.Environment{ldEnv("production")}, APIToken: secretToken, BaseURL: "https://ld.example.com/" + secretPath + "?token=" + secretToken})
	ld("baseURL-no-host", "baseURL", launchdarkly.Options{Environments: []launchdarkly.Environment{ldEnv("production")}, APIToken: secretToken, BaseURL: "https:///" + secretPath})
	ld("baseURL-no-scheme", "baseURL", launchdarkly.Options{Environments: []launchdarkly.Environment{ldEnv("production")}, APIToken: secretToken, BaseURL: "ld.example.com"})
	ld("environment-key-space", "environments[0].key", launchdarkly.Options{Environments: []launchdarkly.Environment{ldEnv("prod uction")}})
	ld("environment-key-CRLF", "environments[0].key", launchdarkly.Options{Environments: []launchdarkly.Environment{ldEnv("production\r\n")}})
	ld("environment-key-slash", "environments[0].key", launchdarkly.Options{Environments: []launchdarkly.Environment{ldEnv("../prod")}})
	ld("project-key-space", "project", launchdarkly.Options{Project: "my project", Environments: []launchdarkly.Environment{ldEnv("production")}})
	ld("attempts-negative", "attempts", launchdarkly.Options{Environments: []launchdarkly.Environment{ldEnv("production")}, Attempts: -1})
	ld("backoff-negative", "backoff", launchdarkly.Options{Environments: []launchdarkly.Environment{ldEnv("production")}, Backoff: -time.Second})
	fs := func(name, field string, o flagsmith.Options) {
		out = append(out, bad{entry: "flagsmith.New", name: name, field: field, secrets: secrets, run: func(context.Context) error {
			o.StartWait = 100 * time.Millisecond
			s, err := flagsmith.New(o)
			if s != nil {
				_ = s.Close()
			}
			return err
		}})
	}
	fs("no-environments", "environments", flagsmith.Options{APIToken: secretToken})
	fs("environment-name-empty", "environments[0].name", flagsmith.Options{Environments: []flagsmith.Environment{{ServerKey: "ser." + secretToken}}})
	fs("environment-name-twice", "environments[1].name", flagsmith.Options{Environments: []flagsmith.Environment{{Name: "p", ServerKey: "ser." + secretToken}, {Name: "p", ServerKey: "ser." + secretToken}}})
	fs("server-key-client-side", "environments[0].serverKey", flagsmith.Options{Environments: []flagsmith.Environment{{Name: "p", ServerKey: "client-" + secretToken}}})
	fs("server-key-empty", "environments[0].serverKey", flagsmith.Options{Environments: []flagsmith.Environment{{Name: "p"}}})
	return out
}
