package anchors

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	istioshared "github.com/agentops/progressive/examples/istio-shared"
	"github.com/agentops/progressive/internal/livecanary"
	"github.com/agentops/progressive/internal/promtest"
	"github.com/agentops/progressive/internal/testenv"
)

// Anchors is the stack every contender runs on: the livecanary stack (a
// control plane with the Istio CRDs, one Prometheus scraping the App every
// second, the App) with Flagger's and Argo Rollouts' CRDs installed, the
// kube-apiserver's audit log (Audit) to count each tool's API requests by
// user agent, and a query-logging proxy in front of Prometheus (Queries) to
// see when each tool measures.
//
// Contenders give every tool PromURL, never Stack.Prom.URL, so that every
// Prometheus query is logged alike.
type Anchors struct {
	*livecanary.Stack
	// Audit is the kube-apiserver's audit log.
	Audit *AuditLog
	// Queries logs the Prometheus queries made through PromURL.
	Queries *QueryLog
	// PromURL is the address tools query Prometheus at (the proxy).
	PromURL string
	// Dir holds the stack's own files (audit policy and log, tool logs).
	Dir string
}

// StackOptions configure StartStack.
type StackOptions struct {
	// Log receives the harness' records. Default: discard.
	Log *slog.Logger
	// NoArgoCRDs leaves Argo Rollouts' CRDs out (the module cannot be
	// downloaded); Flagger's are always installed.
	NoArgoCRDs bool
}

// StartStack starts the control plane with the Istio, Flagger and Argo
// Rollouts CRDs and the audit log, the App, Prometheus and the query proxy.
// Close stops everything. The tools' binaries are not built here (Build).
func StartStack(ctx context.Context, opts StackOptions) (_ *Anchors, retErr error) {
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	dir, err := os.MkdirTemp("", "anchors-")
	if err != nil {
		return nil, fmt.Errorf("anchors: %w", err)
	}
	a := &Anchors{Stack: &livecanary.Stack{Log: log}, Dir: dir}
	defer func() {
		if retErr != nil {
			a.Close()
		}
	}()
	tenv, err := a.testenvOptions(ctx, opts)
	if err != nil {
		return nil, err
	}
	if a.Env, err = testenv.Start(ctx, tenv); err != nil {
		return nil, fmt.Errorf("anchors: control plane: %w", err)
	}
	if a.Audit, err = OpenAuditLog(filepath.Join(dir, "audit.log")); err != nil {
		return nil, err
	}
	a.App = promtest.NewApp()
	if a.Prom, err = promtest.New(promtest.Options{Targets: []string{a.App.Addr()}}); err != nil {
		a.Prom = nil
		return nil, fmt.Errorf("anchors: prometheus: %w", err)
	}
	if a.Queries, err = StartQueryLog(a.Prom.URL); err != nil {
		return nil, err
	}
	a.PromURL = a.Queries.URL
	return a, nil
}

// testenvOptions are the Istio examples' control plane options plus the
// tools' CRDs and the audit log flags.
func (a *Anchors) testenvOptions(ctx context.Context, opts StackOptions) (testenv.Options, error) {
	tenv, err := istioshared.TestenvOptions()
	if err != nil {
		return tenv, fmt.Errorf("anchors: istio CRDs: %w", err)
	}
	crds, err := FlaggerCRDs(ctx)
	if err != nil {
		return tenv, err
	}
	tenv.CRDs = append(tenv.CRDs, crds)
	if !opts.NoArgoCRDs {
		crds, err := ArgoRolloutsCRDs(ctx)
		if err != nil {
			return tenv, err
		}
		tenv.CRDs = append(tenv.CRDs, crds...)
	}
	args, err := auditArgs(a.Dir)
	if err != nil {
		return tenv, err
	}
	tenv.APIServerArgs = append(tenv.APIServerArgs, args...)
	// A comparison seeds hundreds of Services (Flagger makes three per
	// Canary) and pods: testenv's /24 of Service IPs and 110 pods a node
	// run out within one -runs 3 comparison. The /16 keeps 10.0.0.1, the
	// kubernetes Service's address, first.
	tenv.APIServerArgs = append(tenv.APIServerArgs, "--service-cluster-ip-range=10.0.0.0/16")
	tenv.NodeCapacity = corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse("256"),
		corev1.ResourceMemory: resource.MustParse("1Ti"),
		corev1.ResourcePods:   resource.MustParse("2000"),
	}
	tenv.Logger = a.Log
	// Flagger's primary, canary and Argo's ReplicaSets of 10 rollouts at
	// once: kwok's fake nodes hold them all.
	tenv.StartTimeout = 3 * time.Minute
	return tenv, nil
}

// FlaggerCRDs is Flagger's CRD file (Canary, MetricTemplate, AlertProvider)
// in its module source.
func FlaggerCRDs(ctx context.Context) (string, error) {
	src, err := Flagger().Source(ctx)
	if err != nil {
		return "", err
	}
	return filepath.Join(src, "artifacts", "flagger", "crd.yaml"), nil
}

// ArgoRolloutsCRDs are Argo Rollouts' CRD files (Rollout, AnalysisRun,
// AnalysisTemplate, ClusterAnalysisTemplate, Experiment) in its module
// source: manifests/crds/*-crd.yaml (the directory also holds a
// kustomization.yaml, which is not a CRD).
func ArgoRolloutsCRDs(ctx context.Context) ([]string, error) {
	src, err := ArgoRollouts().Source(ctx)
	if err != nil {
		return nil, err
	}
	files, err := filepath.Glob(filepath.Join(src, "manifests", "crds", "*-crd.yaml"))
	if err == nil && len(files) == 0 {
		err = errors.New("no *-crd.yaml")
	}
	if err != nil {
		return nil, fmt.Errorf("anchors: Argo Rollouts CRDs in %s: %w", src, err)
	}
	return files, nil
}

// Check reports a component that has died.
func (a *Anchors) Check() error {
	if a == nil || a.Env == nil {
		return errors.New("anchors: no stack")
	}
	if err := a.Env.Check(); err != nil {
		return err
	}
	if a.Prom == nil || a.Prom.Stopped() {
		return errors.New("anchors: Prometheus has stopped")
	}
	return nil
}

// Close stops the proxy, Prometheus, the App and the control plane and
// removes the stack's files (unless PROGRESSIVE_TESTENV_KEEP is set).
func (a *Anchors) Close() {
	if a.Queries != nil {
		a.Queries.Close()
	}
	if a.Stack != nil {
		a.Stack.Close()
	}
	if a.Audit != nil {
		a.Audit.Close()
	}
	if keep := os.Getenv(testenv.KeepDirEnv); keep == "" || keep == "0" || keep == "false" {
		_ = os.RemoveAll(a.Dir)
	}
}

// LogDir returns a new directory under the stack's for one run's tool logs.
func (a *Anchors) LogDir(name string) (string, error) {
	d, err := os.MkdirTemp(a.Dir, name+"-")
	if err != nil {
		return "", fmt.Errorf("anchors: %w", err)
	}
	return d, nil
}
