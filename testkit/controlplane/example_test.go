package controlplane_test

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/agentops/progressive/testkit/controlplane"
)

// The cache key names the pinned versions, so a shared cache directory holds
// one build per set of pins side by side.
func ExampleCacheKey() {
	key, err := controlplane.CacheKey()
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(strings.HasPrefix(key, "k8s-"+controlplane.KubernetesVersion+"_etcd-"+controlplane.EtcdVersion+"_kwok-"+controlplane.KwokVersion+"_"))
	// Output: true
}

// Outside a checkout of this repository, with no cache directory given, the
// binaries go to the user's cache directory.
func ExampleDefaultCacheDir() {
	os.Unsetenv(controlplane.CacheDirEnv)
	os.Setenv("XDG_CACHE_HOME", "/home/dev/.cache")
	dir, _ := controlplane.DefaultCacheDir("")
	fmt.Println(dir)
	dir, _ = controlplane.DefaultCacheDir("/src/progressive")
	fmt.Println(dir)
	// Output:
	// /home/dev/.cache/progressive-testkit/bin
	// /src/progressive/.cache/testenv/bin
}

// Starting a control plane outside a test, as a program would; tests use
// RunMain or StartForTest, which skip or fail (under CI=true) when it cannot
// start.
func ExampleStart() {
	ctx := context.Background()
	env, err := controlplane.Start(ctx, controlplane.Options{Nodes: 1})
	if err != nil {
		fmt.Println("no control plane:", err)
		return
	}
	defer env.Stop()
	ns, err := env.CreateNamespace(ctx, "demo")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(env.APIServerURL(), ns, env.Kubeconfig())
}
