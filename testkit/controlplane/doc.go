// Package controlplane runs a real Kubernetes control plane for tests, in
// the spirit of controller-runtime's envtest but with all of it: etcd,
// kube-apiserver, kube-controller-manager, kube-scheduler and kwok playing
// the kubelets. Deployments roll out, ReplicaSets get revisions, pods are
// scheduled onto nodes and become Ready (or, on request, never do), CRDs are
// served with their schemas enforced, and RBAC is on. Nothing runs in a
// container and nothing is downloaded except Go modules; everything listens
// on 127.0.0.1 only. It is importable from any module (it used to be
// internal/testenv, which now forwards here).
//
// # Versions and binaries
//
// The versions are pinned by three small nested modules of this
// repository, so that the library's go.mod does not depend on
// k8s.io/kubernetes:
//
//   - tools/k8s: k8s.io/kubernetes (KubernetesVersion), with a replace line
//     k8s.io/X => k8s.io/X v0.N.M for each staging module that
//     k8s.io/kubernetes itself replaces;
//   - tools/etcd: go.etcd.io/etcd/server/v3 (EtcdVersion);
//   - tools/kwok: sigs.k8s.io/kwok (KwokVersion), whose kustomize/stage/
//     directory also supplies the kwok stage files.
//
// Their go.mod and go.sum files are embedded in this package (pins/), so a
// build needs neither this repository's checkout nor a writable copy of it:
// from another module, whose copy of this one sits read-only in the module
// cache, EnsureBinaries writes the pins to a temporary directory and builds
// there. TestPinsMatchTools keeps the copies equal to tools/; after changing
// tools/, run go generate ./testkit/controlplane.
//
// EnsureBinaries builds them with `go build` (CGO_ENABLED=0, -trimpath,
// version -X flags) into <cache dir>/<key>/, where the key changes with the
// pins (versions plus a hash of the tools modules' go.mod and go.sum
// files). It builds only when the binaries are missing; a file lock makes
// concurrent test binaries wait for one build. The first build takes
// several minutes on two cores (the Kubernetes binaries dominate); later
// calls take milliseconds. The cache directory is, in order:
//
//   - BuildOptions.CacheDir (Options.CacheDir for Start);
//   - $PROGRESSIVE_TESTENV_CACHE (CacheDirEnv), from any module: several
//     checkouts, or a checkout and another module, share one build this way;
//   - <repo root>/.cache/testenv/bin inside a checkout of this repository
//     (the working directory is under the go.mod of ModulePath);
//   - os.UserCacheDir()/progressive-testkit/bin anywhere else.
//
// To build ahead of the tests, for example in CI:
//
//	go run ./testkit/cmd/build-controlplane                                # in this repository
//	go run github.com/agentops/progressive/testkit/cmd/build-controlplane # in any module that requires it
//
// To use binaries built elsewhere, point $PROGRESSIVE_TESTENV_BIN
// (BinDirEnv, or Options.BinDir) at a directory holding etcd,
// kube-apiserver, kube-controller-manager, kube-scheduler and kwok (and,
// optionally, stages/ with the kwok stage files; otherwise they are taken
// from the pinned kwok module).
//
// To move to other versions, change the constants and the tools modules
// together (`go get` in each tools directory, regenerating the replace
// block of tools/k8s from k8s.io/kubernetes' go.mod), then go generate;
// EnsureBinaries refuses to build when they disagree.
//
// # What Start does
//
// Start makes a throwaway CA, an apiserver serving certificate (127.0.0.1,
// localhost), an admin client certificate in group system:masters, an RSA
// service-account key pair and a kubeconfig with the certificates embedded,
// all in a fresh temporary directory. It picks free 127.0.0.1 ports, so
// several test binaries can each run their own control plane at once, and
// starts:
//
//   - etcd with --unsafe-no-fsync and a data dir in the temporary directory;
//   - kube-apiserver with --authorization-mode=Node,RBAC and
//     --endpoint-reconciler-type=none (needed for a loopback advertise
//     address); it waits for /readyz;
//   - kube-controller-manager and kube-scheduler without leader election;
//     it waits for their /healthz;
//   - kwok managing only nodes annotated kwok.x-k8s.io/node=fake, with kwok's
//     node-initialize, node-heartbeat-with-lease, pod-ready, pod-complete and
//     pod-delete stages, plus NeverReadyStage and Options.ExtraStages.
//
// It then creates Options.Nodes fake nodes (3 by default) and waits until
// they are Ready and untainted, and installs Options.CRDs and
// Options.ModuleCRDs (CRD files shipped in Go modules of the build, such as
// IstioCRDs and HTTPRouteCRD, found with ModuleFile). A warm start takes a
// few seconds and about 600 MB of memory. The controller manager runs with a
// 10-minute node-monitor grace period: kwok's nodes renew their Leases late
// on a loaded machine, and a node declared lost would leave every pod NotReady
// for good.
//
// Each daemon runs in its own process group with its output in
// <Dir()>/<component>.log; LogTails returns the ends of those logs. Stop
// sends SIGTERM to each group by PID, then SIGKILL, and removes the
// temporary directory (keep it with Options.KeepDir or
// PROGRESSIVE_TESTENV_KEEP=1). If the test process dies without Stop, the
// kernel kills the daemons (parent-death signal).
//
// Pod IPs and Service cluster IPs in this cluster are fictional: no
// container runs, so nothing may send traffic to them.
//
// # Pod behaviour
//
// A pod scheduled onto a fake node becomes Running and Ready immediately. A
// pod with an image containing NeverReadyImageMarker ("never-ready", e.g.
// "registry.example/app:v2-never-ready") or the label NeverReadyLabel=true
// becomes Running but never Ready, which is how a test gives a workload a
// bad version for readiness-based checks. A pod labelled CustomStageLabel is
// left to stages the test supplies in Options.ExtraStages (kwok Stage
// documents: crash loops, delays, and so on).
//
// # Testing your own code against it
//
// Start one control plane per test binary in TestMain and keep it in a
// variable of the test package:
//
//	var env *controlplane.Env
//
//	func TestMain(m *testing.M) {
//		os.Exit(controlplane.RunMain(m, controlplane.Options{CRDs: []string{"../../config/crd"}}, &env))
//	}
//
//	func TestRollout(t *testing.T) {
//		e := env.Require(t)      // skips (fails under CI=true) without a control plane
//		ns := e.NewNamespace(t)  // unique, deleted when the test ends
//		cs := e.Clientset()      // or e.Config() for your own clients, e.Kubeconfig() for a file
//		// create objects in ns, run the code under test against e.Config(),
//		// and poll for the state it should reach.
//	}
//
// Give each test its own namespace so tests do not see each other's
// objects; cluster-scoped objects (nodes, CRDs) are shared by the binary.
// StartForTest starts a private control plane for a single test when a test
// needs one (for example to stop the apiserver), at the cost of a few
// seconds.
//
// To prove that code needs no more than a documented Role, create a
// ServiceAccount and a RoleBinding in the test namespace and run the code
// with e.Config() impersonating "system:serviceaccount:<ns>:<name>".
//
// # Failing or skipping
//
// Required reports whether a control plane that cannot be built or started
// is a failure (CI=true, or PROGRESSIVE_TESTENV_REQUIRED=true) or a reason to
// skip (a developer machine without the Go module proxy, say). RunMain,
// Env.Require and StartForTest follow it.
package controlplane
