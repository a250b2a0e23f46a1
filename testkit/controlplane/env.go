package controlplane

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Defaults of Options.
const (
	DefaultNodes        = 3
	DefaultStartTimeout = 2 * time.Minute
	// KeepDirEnv, when set to a true value (1, true), makes Stop keep the
	// env's temporary directory (logs, certificates, etcd data) and log its
	// path.
	KeepDirEnv = "PROGRESSIVE_TESTENV_KEEP"
)

// FakeNodeAnnotation marks the Nodes that kwok manages. Start creates its
// nodes with it; a test can create more nodes the same way.
const (
	FakeNodeAnnotationKey   = "kwok.x-k8s.io/node"
	FakeNodeAnnotationValue = "fake"
)

// Options configure Start. The zero value gives a control plane with three
// ready fake nodes.
type Options struct {
	// Nodes is the number of fake nodes (kwok) to create and wait for.
	// 0 means DefaultNodes (3); a negative value means no nodes.
	Nodes int
	// NodeCapacity is the status.capacity (and allocatable) of each fake
	// node. Default: cpu 32, memory 256Gi, pods 110.
	NodeCapacity corev1.ResourceList
	// ExtraStages are extra kwok Stage documents (YAML, several per string
	// allowed) added after the built-in stages. See CustomStageLabel for
	// how to hand pods over to them.
	ExtraStages []string
	// CRDs are CustomResourceDefinition YAML files, or directories of them
	// (*.yaml, *.yml, *.json, not recursive), installed after start; Start
	// waits until they are Established.
	CRDs []string
	// ModuleCRDs are CRD files shipped inside Go modules of this build's
	// module graph (see ModuleFile), installed like CRDs: the Istio, Gateway
	// API and SMI CRDs at the versions go.mod selects.
	ModuleCRDs []ModuleCRD
	// StartTimeout bounds starting the control plane, from launching etcd
	// to ready nodes and installed CRDs. Building the binaries on first use
	// is not counted (it is bounded by the context only). Default:
	// DefaultStartTimeout (2 minutes).
	StartTimeout time.Duration
	// Logger receives progress messages of the env itself (not the
	// components' logs, which go to files; see LogTails). Default: discard.
	Logger *slog.Logger
	// BinDir is a directory of prebuilt binaries, as for BuildOptions.
	// Default: $PROGRESSIVE_TESTENV_BIN, else the build cache.
	BinDir string
	// CacheDir is where binaries are built and kept, as for BuildOptions.
	// Default: $PROGRESSIVE_TESTENV_CACHE, else <repo root>/.cache/testenv/bin
	// inside a checkout of this repository, else
	// os.UserCacheDir()/progressive-testkit/bin.
	CacheDir string
	// Extra command line flags for each component, appended to the
	// defaults (a later flag wins over an earlier one).
	EtcdArgs, APIServerArgs, ControllerManagerArgs, SchedulerArgs, KwokArgs []string
	// KeepDir keeps the temporary directory after Stop (also enabled by
	// $PROGRESSIVE_TESTENV_KEEP).
	KeepDir bool
}

func (o Options) withDefaults() Options {
	if o.Nodes == 0 {
		o.Nodes = DefaultNodes
	} else if o.Nodes < 0 {
		o.Nodes = 0
	}
	if o.NodeCapacity == nil {
		o.NodeCapacity = corev1.ResourceList{
			corev1.ResourceCPU:    resource.MustParse("32"),
			corev1.ResourceMemory: resource.MustParse("256Gi"),
			corev1.ResourcePods:   resource.MustParse("110"),
		}
	}
	if o.StartTimeout <= 0 {
		o.StartTimeout = DefaultStartTimeout
	}
	if o.Logger == nil {
		o.Logger = discardLogger()
	}
	if v, err := strconv.ParseBool(os.Getenv(KeepDirEnv)); err == nil && v {
		o.KeepDir = true
	}
	return o
}

// Env is a running control plane: etcd, kube-apiserver,
// kube-controller-manager, kube-scheduler and kwok, all on 127.0.0.1 ports
// of their own, with their files in a temporary directory.
type Env struct {
	opts       Options
	log        *slog.Logger
	dir        string
	bins       *Binaries
	pki        *pki
	cfg        *rest.Config
	kubeconfig string
	apiURL     string
	clientset  *kubernetes.Clientset
	dynamic    *dynamic.DynamicClient
	procs      []*process // start order
	nodes      []string
	startTook  time.Duration

	stopOnce sync.Once
	stopErr  error
}

// Start builds the binaries if needed (see EnsureBinaries), starts the
// control plane and waits until the apiserver is ready, the controller
// manager and scheduler are healthy, the fake nodes are Ready and
// schedulable and the CRDs in opts are Established. On error everything
// started so far is stopped again; the error carries the tails of the
// component logs, and the temporary directory is kept for a post-mortem (a
// later Start removes it once this process has exited).
//
// The daemons run in their own process groups and are stopped by PID in
// Stop; if the test process dies without calling Stop the kernel kills
// them (they are started with a parent-death signal).
func Start(ctx context.Context, opts Options) (*Env, error) {
	opts = opts.withDefaults()
	bins, err := EnsureBinaries(ctx, BuildOptions{BinDir: opts.BinDir, CacheDir: opts.CacheDir, Logger: opts.Logger})
	if err != nil {
		return nil, err
	}
	stages, err := stageConfig(bins.StagesDir, opts.ExtraStages)
	if err != nil {
		return nil, err
	}
	var lastErr error
	for attempt := 1; attempt <= 3; attempt++ {
		e, err := startOnce(ctx, opts, bins, stages)
		if err == nil {
			return e, nil
		}
		lastErr = err
		// A port taken between reserving and binding it is worth another
		// try with new ports; anything else is not.
		if ctx.Err() != nil || !strings.Contains(err.Error(), "address already in use") {
			break
		}
		opts.Logger.Warn("controlplane: port collision, retrying with new ports", "attempt", attempt)
	}
	return nil, lastErr
}

func startOnce(ctx context.Context, opts Options, bins *Binaries, stages []byte) (_ *Env, retErr error) {
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, opts.StartTimeout)
	defer cancel()
	log := opts.Logger

	removeStaleDirs(log)
	dir, err := os.MkdirTemp("", tempDirPrefix)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, ownerFile), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		return nil, err
	}
	e := &Env{opts: opts, log: log, dir: dir, bins: bins}
	defer func() {
		if retErr != nil {
			// Keep the files for a post-mortem; the next Start in another
			// process removes them once this process is gone.
			e.opts.KeepDir = true
			_ = e.Stop()
			retErr = fmt.Errorf("%w\n(files kept in %s)\n%s", retErr, dir, e.LogTails(30))
		}
	}()

	if e.pki, err = newPKI(dir); err != nil {
		return nil, err
	}
	ports, err := freePorts(6)
	if err != nil {
		return nil, err
	}
	etcdPort, etcdPeerPort, apiPort, kcmPort, schedPort, kwokPort := ports[0], ports[1], ports[2], ports[3], ports[4], ports[5]
	e.apiURL = fmt.Sprintf("https://127.0.0.1:%d", apiPort)
	if err := e.writeKubeconfig(); err != nil {
		return nil, err
	}
	stagesFile := filepath.Join(dir, "kwok-stages.yaml")
	if err := os.WriteFile(stagesFile, stages, 0o644); err != nil {
		return nil, err
	}

	// etcd
	etcdURL := fmt.Sprintf("http://127.0.0.1:%d", etcdPort)
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", etcdPeerPort)
	if err := e.launch("etcd", bins.Etcd, append([]string{
		"--name=testenv",
		"--data-dir=" + filepath.Join(dir, "etcd"),
		"--listen-client-urls=" + etcdURL,
		"--advertise-client-urls=" + etcdURL,
		"--listen-peer-urls=" + peerURL,
		"--initial-advertise-peer-urls=" + peerURL,
		"--initial-cluster=testenv=" + peerURL,
		"--unsafe-no-fsync=true",
		"--log-level=warn",
	}, opts.EtcdArgs...)); err != nil {
		return nil, err
	}
	plain := &http.Client{Timeout: 2 * time.Second}
	if err := e.waitFor(ctx, "etcd health", func(ctx context.Context) error {
		return httpOK(ctx, plain, etcdURL+"/health")
	}); err != nil {
		return nil, err
	}

	// kube-apiserver
	p := e.pki
	if err := e.launch("kube-apiserver", bins.KubeAPIServer, append([]string{
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		fmt.Sprintf("--secure-port=%d", apiPort),
		"--etcd-servers=" + etcdURL,
		"--cert-dir=" + filepath.Join(dir, "apiserver-certs"),
		"--client-ca-file=" + p.caFile,
		"--tls-cert-file=" + p.servingFile,
		"--tls-private-key-file=" + p.servFile,
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + p.saPubFile,
		"--service-account-signing-key-file=" + p.saKeyFile,
		"--service-cluster-ip-range=10.0.0.0/24",
		"--authorization-mode=Node,RBAC",
		"--endpoint-reconciler-type=none",
		"--allow-privileged=true",
		"--profiling=false",
	}, opts.APIServerArgs...)); err != nil {
		return nil, err
	}
	if e.cfg, err = clientcmd.BuildConfigFromFlags("", e.kubeconfig); err != nil {
		return nil, err
	}
	e.cfg.QPS, e.cfg.Burst = 100, 200
	e.cfg.UserAgent = "progressive-testenv"
	if e.clientset, err = kubernetes.NewForConfig(e.cfg); err != nil {
		return nil, err
	}
	if e.dynamic, err = dynamic.NewForConfig(e.cfg); err != nil {
		return nil, err
	}
	if err := e.waitFor(ctx, "kube-apiserver /readyz", func(ctx context.Context) error {
		rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		body, err := e.clientset.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(rctx)
		if err != nil {
			return fmt.Errorf("%w: %s", err, body)
		}
		return nil
	}); err != nil {
		return nil, err
	}
	log.Info("controlplane: kube-apiserver ready", "url", e.apiURL, "after", time.Since(start).Round(time.Millisecond))

	// Controller manager, scheduler and kwok need only the apiserver.
	kubeconfigs := []string{
		"--kubeconfig=" + e.kubeconfig,
		"--authentication-kubeconfig=" + e.kubeconfig,
		"--authorization-kubeconfig=" + e.kubeconfig,
		"--bind-address=127.0.0.1",
		"--leader-elect=false",
	}
	if err := e.launch("kube-controller-manager", bins.KubeControllerManager, append(append(kubeconfigs[:len(kubeconfigs):len(kubeconfigs)],
		fmt.Sprintf("--secure-port=%d", kcmPort),
		"--cert-dir="+filepath.Join(dir, "kcm-certs"),
		"--service-account-private-key-file="+p.saKeyFile,
		"--root-ca-file="+p.caFile,
		"--cluster-signing-cert-file="+p.caFile,
		"--cluster-signing-key-file="+p.caKeyFile,
		"--use-service-account-credentials=false",
		"--profiling=false",
		// kwok's nodes heartbeat through Leases that a loaded machine (two
		// cores, -race) can renew late; past the default 50 s grace the node
		// lifecycle controller marks every pod NotReady, and kwok never makes
		// them ready again, so one slow minute would empty every Service.
		"--node-monitor-grace-period=10m",
	), opts.ControllerManagerArgs...)); err != nil {
		return nil, err
	}
	if err := e.launch("kube-scheduler", bins.KubeScheduler, append(append(kubeconfigs[:len(kubeconfigs):len(kubeconfigs)],
		fmt.Sprintf("--secure-port=%d", schedPort),
		"--cert-dir="+filepath.Join(dir, "scheduler-certs"),
		"--profiling=false",
	), opts.SchedulerArgs...)); err != nil {
		return nil, err
	}
	if err := e.launch("kwok", bins.Kwok, append([]string{
		"-c", stagesFile,
		"--kubeconfig=" + e.kubeconfig,
		"--manage-all-nodes=false",
		"--manage-nodes-with-annotation-selector=" + FakeNodeAnnotationKey + "=" + FakeNodeAnnotationValue,
		"--node-port=0",
		fmt.Sprintf("--server-address=127.0.0.1:%d", kwokPort),
	}, opts.KwokArgs...)); err != nil {
		return nil, err
	}
	insecure := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, // self-signed health endpoints on loopback
	}}
	for _, c := range []struct{ name, url string }{
		{"kube-controller-manager /healthz", fmt.Sprintf("https://127.0.0.1:%d/healthz", kcmPort)},
		{"kube-scheduler /healthz", fmt.Sprintf("https://127.0.0.1:%d/healthz", schedPort)},
		{"kwok /healthz", fmt.Sprintf("http://127.0.0.1:%d/healthz", kwokPort)},
	} {
		if err := e.waitFor(ctx, c.name, func(ctx context.Context) error { return httpOK(ctx, insecure, c.url) }); err != nil {
			return nil, err
		}
	}
	log.Info("controlplane: components healthy", "after", time.Since(start).Round(time.Millisecond))

	if err := e.createNodes(ctx, opts.Nodes); err != nil {
		return nil, err
	}
	crds := slices.Clone(opts.CRDs)
	for _, m := range opts.ModuleCRDs {
		path, err := ModuleFile(m.Module, m.Path...)
		if err != nil {
			return nil, err
		}
		crds = append(crds, path)
	}
	if len(crds) > 0 {
		if err := e.InstallCRDs(ctx, crds...); err != nil {
			return nil, err
		}
	}
	e.startTook = time.Since(start)
	log.Info("controlplane: control plane ready", "took", e.startTook.Round(time.Millisecond), "dir", dir)
	return e, nil
}

const (
	tempDirPrefix = "progressive-testenv-"
	ownerFile     = "owner.pid"
)

// removeStaleDirs removes temporary directories of envs whose process is
// gone without calling Stop (a panic or a test timeout kills the process;
// the kernel then kills the daemons but the files stay).
func removeStaleDirs(log *slog.Logger) {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), tempDirPrefix+"*"))
	for _, d := range dirs {
		data, err := os.ReadFile(filepath.Join(d, ownerFile))
		if err != nil {
			continue // not ours, or still being set up
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
		if err != nil || pid <= 0 || pid == os.Getpid() {
			continue
		}
		if processGone(pid) {
			log.Info("controlplane: removing directory of a dead test process", "dir", d, "pid", pid)
			_ = os.RemoveAll(d)
		}
	}
}

// processGone reports whether pid does not exist or is a zombie.
func processGone(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return true
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// Format: pid (comm) state ...; comm may contain spaces or parentheses.
	if i := strings.LastIndexByte(string(stat), ')'); i >= 0 && i+2 < len(stat) {
		return stat[i+2] == 'Z'
	}
	return false
}

func (e *Env) launch(name, bin string, args []string) error {
	p, err := startProcess(name, bin, args, filepath.Join(e.dir, name+".log"))
	if err != nil {
		return err
	}
	e.procs = append(e.procs, p)
	return nil
}

// waitFor polls check until it succeeds, ctx ends or a component exits.
func (e *Env) waitFor(ctx context.Context, what string, check func(context.Context) error) error {
	var last error
	for {
		if err := e.Check(); err != nil {
			return fmt.Errorf("controlplane: waiting for %s: %w", what, err)
		}
		if last = check(ctx); last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("controlplane: waiting for %s: %w (last error: %v)", what, ctx.Err(), last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func httpOK(ctx context.Context, c *http.Client, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s: %s", url, resp.Status, strings.TrimSpace(string(body)))
	}
	return nil
}

func (e *Env) writeKubeconfig() error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["testenv"] = &clientcmdapi.Cluster{Server: e.apiURL, CertificateAuthorityData: e.pki.caCert}
	cfg.AuthInfos["admin"] = &clientcmdapi.AuthInfo{ClientCertificateData: e.pki.adminCert, ClientKeyData: e.pki.adminKey}
	cfg.Contexts["testenv"] = &clientcmdapi.Context{Cluster: "testenv", AuthInfo: "admin", Namespace: "default"}
	cfg.CurrentContext = "testenv"
	e.kubeconfig = filepath.Join(e.dir, "kubeconfig")
	return clientcmd.WriteToFile(*cfg, e.kubeconfig)
}

// createNodes creates n fake nodes and waits until all are Ready and carry
// no not-ready/unreachable taints (so the scheduler uses them).
func (e *Env) createNodes(ctx context.Context, n int) error {
	for i := range n {
		name := fmt.Sprintf("testenv-node-%d", i)
		if _, err := e.clientset.CoreV1().Nodes().Create(ctx, FakeNode(name, e.opts.NodeCapacity), metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("controlplane: creating node %s: %w", name, err)
		}
		e.nodes = append(e.nodes, name)
	}
	return e.waitFor(ctx, fmt.Sprintf("%d fake nodes to be Ready", n), func(ctx context.Context) error {
		for _, name := range e.nodes {
			node, err := e.clientset.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			if err := nodeUsable(node); err != nil {
				return fmt.Errorf("node %s: %w", name, err)
			}
		}
		return nil
	})
}

func nodeUsable(node *corev1.Node) error {
	ready := false
	for _, c := range node.Status.Conditions {
		if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
			ready = true
		}
	}
	if !ready {
		return errors.New("not Ready")
	}
	for _, t := range node.Spec.Taints {
		if strings.HasPrefix(t.Key, "node.kubernetes.io/") {
			return fmt.Errorf("taint %s", t.ToString())
		}
	}
	return nil
}

// FakeNode returns a Node that kwok (as started by Start) manages, with the
// given capacity in its status. Create it with the Clientset to add nodes.
func FakeNode(name string, capacity corev1.ResourceList) *corev1.Node {
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name: name,
			Annotations: map[string]string{
				FakeNodeAnnotationKey:          FakeNodeAnnotationValue,
				"node.alpha.kubernetes.io/ttl": "0",
			},
			Labels: map[string]string{
				"kubernetes.io/hostname": name,
				"kubernetes.io/os":       "linux",
				"kubernetes.io/arch":     "amd64",
				"type":                   "kwok",
			},
		},
		Status: corev1.NodeStatus{
			Capacity:    capacity.DeepCopy(),
			Allocatable: capacity.DeepCopy(),
		},
	}
}

// Config returns a copy of the admin (system:masters) client configuration.
func (e *Env) Config() *rest.Config { return rest.CopyConfig(e.cfg) }

// Kubeconfig returns the path of a kubeconfig file with the admin
// credentials embedded (for kubectl or code that loads kubeconfigs).
func (e *Env) Kubeconfig() string { return e.kubeconfig }

// Clientset returns an admin clientset.
func (e *Env) Clientset() kubernetes.Interface { return e.clientset }

// Dynamic returns an admin dynamic client (for custom resources).
func (e *Env) Dynamic() dynamic.Interface { return e.dynamic }

// APIServerURL returns the https URL of the apiserver on 127.0.0.1.
func (e *Env) APIServerURL() string { return e.apiURL }

// Dir returns the temporary directory with the logs, certificates and etcd
// data of this env (removed by Stop unless KeepDir).
func (e *Env) Dir() string { return e.dir }

// Binaries returns the executables the env runs.
func (e *Env) Binaries() *Binaries { return e.bins }

// NodeNames returns the names of the fake nodes Start created.
func (e *Env) NodeNames() []string { return append([]string(nil), e.nodes...) }

// StartDuration is how long Start took from launching etcd to ready (not
// counting a build of the binaries).
func (e *Env) StartDuration() time.Duration { return e.startTook }

// Check returns an error if a component has exited.
func (e *Env) Check() error {
	var errs []error
	for _, p := range e.procs {
		if done, err := p.exited(); done {
			errs = append(errs, fmt.Errorf("%s exited: %v (log %s)", p.name, err, p.logPath))
		}
	}
	return errors.Join(errs...)
}

// LogTails returns the last n lines of each component's log (n <= 0: the
// whole logs), for printing when a test fails.
func (e *Env) LogTails(n int) string {
	var b strings.Builder
	for _, p := range e.procs {
		state := "running"
		if done, err := p.exited(); done {
			state = "exited: " + err.Error()
		}
		fmt.Fprintf(&b, "----- %s (%s), last %d lines of %s -----\n", p.name, state, n, p.logPath)
		b.WriteString(p.tail(n))
		b.WriteString("\n")
	}
	return b.String()
}

// Stop stops the components in reverse start order (SIGTERM to each one's
// process group, SIGKILL after a grace period) and removes the temporary
// directory unless Options.KeepDir or $PROGRESSIVE_TESTENV_KEEP. It is
// safe to call more than once.
func (e *Env) Stop() error {
	if e == nil {
		return nil
	}
	e.stopOnce.Do(func() {
		for i := len(e.procs) - 1; i >= 0; i-- {
			e.procs[i].stop(5 * time.Second)
		}
		if e.opts.KeepDir {
			e.log.Info("controlplane: keeping directory", "dir", e.dir)
			return
		}
		if e.dir == "" {
			return
		}
		e.stopErr = os.RemoveAll(e.dir)
	})
	return e.stopErr
}
