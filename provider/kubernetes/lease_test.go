package kubernetes_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/agentops/progressive"
	k8s "github.com/agentops/progressive/provider/kubernetes"
	"github.com/agentops/progressive/rollout"
	"github.com/agentops/progressive/strategy"
)

// Environment of the helper process: the test binary started again as a runner
// process that the test can kill.
const (
	helperEnv     = "PROGRESSIVE_K8S_TEST_HELPER"
	helperKubecfg = "PROGRESSIVE_K8S_TEST_KUBECONFIG"
	helperNS      = "PROGRESSIVE_K8S_TEST_NAMESPACE"
	helperRollout = "PROGRESSIVE_K8S_TEST_ROLLOUT"
	helperID      = "PROGRESSIVE_K8S_TEST_IDENTITY"
)

func testLease(identity string, wait bool) k8s.LeaseOptions {
	return k8s.LeaseOptions{Identity: identity, LeaseDuration: 3 * time.Second, RenewDeadline: 2 * time.Second, RetryPeriod: 500 * time.Millisecond, Wait: wait}
}

// runHelperProcess runs a rollout under a Lease when the test binary was started
// as a helper process, and reports whether it was.
func runHelperProcess() bool {
	if os.Getenv(helperEnv) != "runner" {
		return false
	}
	err := func() error {
		cfg, err := clientcmd.BuildConfigFromFlags("", os.Getenv(helperKubecfg))
		if err != nil {
			return err
		}
		p, err := k8s.New(cfg, fastOptions())
		if err != nil {
			return err
		}
		defer p.Close()
		store, err := p.Store(os.Getenv(helperNS))
		if err != nil {
			return err
		}
		r, err := rollout.New(rollout.Options{
			Providers: rollout.Providers{
				Routers:   []progressive.TrafficRouter{p.Router()},
				Workloads: []progressive.Workload{p.Workload()},
				Metrics:   []progressive.MetricSource{newFixedMetrics(0.2, 0.3)},
			},
			Store: store, PollInterval: 100 * time.Millisecond, RetryBackoff: 200 * time.Millisecond, Logger: quietLogger(),
		})
		if err != nil {
			return err
		}
		id := os.Getenv(helperRollout)
		st, err := store.Get(context.Background(), id)
		if err != nil {
			return err
		}
		lease, err := p.Lease(st.Plan.Target, testLease(os.Getenv(helperID), false))
		if err != nil {
			return err
		}
		fmt.Println("running")
		_, err = k8s.RunWithLease(context.Background(), lease, r, id)
		return err
	}()
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		os.Exit(1)
	}
	os.Exit(0)
	return true
}

// TestKilledRunnerResumesAndSecondRunnerRefused starts a runner in a separate
// process, refuses a second runner on the same target while the first holds the
// Lease, kills the first with SIGKILL half-way through the canary, and resumes
// the rollout from the ConfigMap StateStore in a new runner once the dead
// runner's Lease expired.
func TestKilledRunnerResumesAndSecondRunnerRefused(t *testing.T) {
	e := env.Require(t)
	ns := e.NewNamespace(t)
	ctx := context.Background()
	cs := e.Clientset()
	seed(t, cs, ns, "payments", 4, "registry.example/payments:v1")
	p := newProvider(t, e.Config(), fastOptions())
	store, err := p.Store(ns)
	require.NoError(t, err)
	r := newRunner(t, p, store, newFixedMetrics(0.2, 0.3), nil)
	tg := target(ns, "payments")
	plan, err := strategy.Canary{Weights: []float64{25, 50}, Soak: 4 * time.Second, Checks: errorRate(), Replicas: 1}.
		Plan(tg, progressive.Release{Version: "v2", Image: "registry.example/payments:v2"})
	require.NoError(t, err)
	_, err = r.Start(ctx, plan)
	require.NoError(t, err)
	analyze50 := -1
	for i, s := range plan.Steps {
		if s.Name == "analyze-50" {
			analyze50 = i
		}
	}
	require.Positive(t, analyze50)

	child := exec.Command(os.Args[0], "-test.run=^$")
	child.Env = append(os.Environ(), helperEnv+"=runner", helperKubecfg+"="+e.Kubeconfig(), helperNS+"="+ns, helperRollout+"="+plan.Name, helperID+"=runner-one")
	stdout, err := child.StdoutPipe()
	require.NoError(t, err)
	child.Stderr = os.Stderr
	require.NoError(t, child.Start())
	killed := false
	t.Cleanup(func() {
		if !killed {
			_ = child.Process.Kill()
			_ = child.Wait()
		}
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "running", strings.TrimSpace(line))

	// Wait until the first runner soaks at 50%.
	eventually(t, testTimeout, func() error {
		st, err := store.Get(ctx, plan.Name)
		if err != nil {
			return err
		}
		if st.Phase != rollout.PhaseProgressing || st.Step.Index != analyze50 {
			return errorf("phase %s step %d", st.Phase, st.Step.Index)
		}
		return nil
	})

	// A second runner on the same target is refused while the first holds the Lease.
	second, err := p.Lease(tg, testLease("runner-two", false))
	require.NoError(t, err)
	_, err = k8s.RunWithLease(ctx, second, r, plan.Name)
	require.ErrorIs(t, err, progressive.ErrConflict)
	assert.Contains(t, err.Error(), "held by runner-one")
	holder, _, err := second.Holder(ctx)
	require.NoError(t, err)
	assert.Equal(t, "runner-one", holder)

	// Kill the first runner mid-analysis: it cannot release its Lease.
	require.NoError(t, child.Process.Signal(syscall.SIGKILL))
	_ = child.Wait()
	killed = true
	atKill, err := store.Get(ctx, plan.Name)
	require.NoError(t, err)
	require.Equal(t, analyze50, atKill.Step.Index)

	// A new runner waits for the dead runner's Lease to expire and resumes.
	third, err := p.Lease(tg, testLease("runner-three", true))
	require.NoError(t, err)
	start := time.Now()
	runCtx, cancel := context.WithTimeout(ctx, 2*testTimeout)
	defer cancel()
	final, err := k8s.RunWithLease(runCtx, third, r, plan.Name)
	require.NoError(t, err)
	t.Logf("resumed and finished %s after the kill (lease duration 3s)", time.Since(start).Round(time.Millisecond))
	assert.Equal(t, rollout.PhaseSucceeded, final.Phase)
	rec, err := r.Record(ctx, plan.Name)
	require.NoError(t, err)
	acts := actions(rec)
	assert.Equal(t, 1, count(acts, "deploy"), "the canary was deployed once: %v", acts)
	assert.Equal(t, 2, count(acts, "route"), "weights 25 and 50 were each set once: %v", acts)

	d, err := cs.AppsV1().Deployments(ns).Get(ctx, "payments", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "registry.example/payments:v2", d.Spec.Template.Spec.Containers[0].Image)
	canary, err := cs.AppsV1().Deployments(ns).Get(ctx, "payments-canary", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, int32(0), *canary.Spec.Replicas)
	got, err := p.Router().GetRoutes(ctx, tg)
	require.NoError(t, err)
	assert.Equal(t, progressive.AllStable(), got)
	holder, _, err = third.Holder(ctx)
	require.NoError(t, err)
	assert.Empty(t, holder, "the Lease is released when the runner stops")
}
