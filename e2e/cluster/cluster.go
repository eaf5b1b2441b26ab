// Package cluster runs a real Kubernetes control plane with KEDA for
// Foresight's end-to-end tests, as plain processes: etcd, kube-apiserver,
// kube-controller-manager (with its HPA controller) and KEDA v2.21's
// operator and metrics adapter, all built from Go modules (see build/).
// There is no kubelet or scheduler, so pods stay Pending; the HPA still
// acts on a Deployment's spec.replicas, which is what the tests assert.
//
// The facts behind it (flags, the aggregator's refusal of loopback
// endpoints, KEDA's exit after writing its certificates) were measured on
// this kind of machine; see the e2e README.
package cluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// EnvKubeconfig names the variable that points the tests at an existing
// cluster (kind, with KEDA and Foresight installed by Helm) instead of
// starting one.
const EnvKubeconfig = "FORESIGHT_E2E_KUBECONFIG"

// Cluster is a running control plane, or an existing one.
type Cluster struct {
	// Dir holds certificates, kubeconfigs, data and logs/ of every
	// component; it is kept after the run for inspection and cleared by
	// the next one.
	Dir string
	// Bin holds the binaries build.sh made (kubectl among them).
	Bin string
	// Kubeconfig is an admin (system:masters) kubeconfig file.
	Kubeconfig string
	Config     *rest.Config
	Client     kubernetes.Interface
	Dynamic    dynamic.Interface
	// External is true when the cluster came from EnvKubeconfig.
	External bool

	standalone bool

	procs   []*process
	byName  map[string]*process
	ca      *authority
	kcmCfg  string
	etcdURL string
}

// Options configures Start.
type Options struct {
	// Dir is the working directory (default: $TMPDIR/foresight-e2e).
	Dir string
	// Logf receives progress lines (e.g. testing.T.Logf).
	Logf func(format string, args ...any)
	// NoKEDA starts the control plane alone: no KEDA, so that
	// external.metrics.k8s.io is free for another server.
	NoKEDA bool
	// Standalone (with NoKEDA) skips the network namespace that aggregated
	// APIs need, so that the cluster can run beside another one (give it
	// its own Dir). Nothing it runs can serve an APIService.
	Standalone bool
}

// Start builds (or finds cached) binaries and starts the control plane and
// KEDA, returning once KEDA's external metrics API is available. On error
// everything already started is stopped.
func Start(ctx context.Context, opts Options) (c *Cluster, err error) {
	logf := opts.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	if kc := os.Getenv(EnvKubeconfig); kc != "" {
		return connect(kc)
	}
	if os.Geteuid() != 0 {
		return nil, errors.New("the e2e control plane needs root (a network namespace and a veth pair for the aggregation layer); run as root, or set " + EnvKubeconfig + " to use an existing cluster")
	}
	dir := opts.Dir
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "foresight-e2e")
	}
	killLeftovers(dir)
	if err := os.RemoveAll(dir); err != nil {
		return nil, err
	}
	for _, d := range []string{"pids", "pki", "logs"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return nil, err
		}
	}
	began := time.Now()
	bin, err := binaries(ctx, logf)
	if err != nil {
		return nil, err
	}
	logf("e2e: binaries in %s (%s)", bin, time.Since(began).Round(time.Second))
	c = &Cluster{Dir: dir, Bin: bin, byName: map[string]*process{}}
	defer func() {
		if err != nil {
			err = fmt.Errorf("%w\n(component logs in %s)", err, filepath.Join(dir, "logs"))
			c.Stop()
		}
	}()
	if opts.Standalone && !opts.NoKEDA {
		return nil, errors.New("cluster options: Standalone needs NoKEDA (KEDA serves an aggregated API)")
	}
	c.standalone = opts.Standalone
	if !c.standalone {
		if err := setupNetwork(); err != nil {
			return nil, err
		}
	}
	steps := []struct {
		name string
		run  func(context.Context) error
	}{
		{"etcd", c.startEtcd},
		{"kube-apiserver", c.startAPIServer},
		{"kube-controller-manager", c.startControllerManager},
		{"KEDA", c.startKEDA},
	}
	if opts.NoKEDA {
		steps = steps[:len(steps)-1]
	}
	for _, s := range steps {
		t0 := time.Now()
		if err := s.run(ctx); err != nil {
			return nil, fmt.Errorf("start %s: %w", s.name, err)
		}
		logf("e2e: %s ready in %s", s.name, time.Since(t0).Round(100*time.Millisecond))
	}
	logf("e2e: control plane up in %s", time.Since(began).Round(time.Second))
	return c, nil
}

// connect uses an existing cluster.
func connect(kubeconfig string) (*Cluster, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("%s=%s: %w", EnvKubeconfig, kubeconfig, err)
	}
	c := &Cluster{Kubeconfig: kubeconfig, External: true, byName: map[string]*process{}}
	return c, c.clients(cfg)
}

func (c *Cluster) clients(cfg *rest.Config) error {
	cfg.QPS, cfg.Burst = 50, 100
	var err error
	c.Config = cfg
	if c.Client, err = kubernetes.NewForConfig(cfg); err != nil {
		return err
	}
	c.Dynamic, err = dynamic.NewForConfig(cfg)
	return err
}

// Stop stops every component (SIGTERM, then SIGKILL) in reverse order and
// removes the network namespace. Safe to call more than once.
func (c *Cluster) Stop() {
	for i := len(c.procs) - 1; i >= 0; i-- {
		c.procs[i].stop(5 * time.Second)
	}
	c.procs = nil
	if !c.External && !c.standalone {
		teardownNetwork()
	}
}

// StartProcess runs an extra process (VictoriaMetrics, Foresight) under the
// cluster's supervision: it is logged in Dir/logs and stopped by Stop.
func (c *Cluster) StartProcess(name, bin string, args, env []string) (*Process, error) {
	p, err := start(c.Dir, name, bin, args, env)
	if err != nil {
		return nil, err
	}
	c.procs = append(c.procs, p)
	return &Process{p: p}, nil
}

// Process is a process started by StartProcess.
type Process struct{ p *process }

// Kill kills the process (SIGKILL) and waits for it to exit.
func (p *Process) Kill() { p.p.kill() }

// Running reports whether it has not exited.
func (p *Process) Running() bool { return p.p.running() }

// Log returns the contents of its log so far.
func (p *Process) Log() string {
	b, _ := os.ReadFile(p.p.log)
	return string(b)
}

// LogTail returns the end of its log.
func (p *Process) LogTail() string { return p.p.tail(4000) }

// Kubectl runs the cluster's kubectl with the admin kubeconfig.
func (c *Cluster) Kubectl(ctx context.Context, stdin string, args ...string) ([]byte, error) {
	kubectl := "kubectl"
	if c.Bin != "" {
		kubectl = filepath.Join(c.Bin, "kubectl")
	}
	cmd := exec.CommandContext(ctx, kubectl, append([]string{"--kubeconfig", c.Kubeconfig}, args...)...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("kubectl %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return out, nil
}

// Apply applies manifests (YAML, several documents) with server-side apply.
func (c *Cluster) Apply(ctx context.Context, manifests string) error {
	_, err := c.Kubectl(ctx, manifests, "apply", "--server-side", "--force-conflicts", "--field-manager=foresight-e2e", "-f", "-")
	return err
}

// binaries runs build.sh (cached, keyed on the pinned versions) unless
// FORESIGHT_E2E_BIN names a directory that already holds them.
func binaries(ctx context.Context, logf func(string, ...any)) (string, error) {
	if d := os.Getenv("FORESIGHT_E2E_BIN"); d != "" {
		return d, nil
	}
	_, file, _, _ := runtime.Caller(0)
	script := filepath.Join(filepath.Dir(file), "..", "build", "build.sh")
	logf("e2e: %s (about 9 minutes on 2 cores the first time, then cached)", script)
	cmd := exec.CommandContext(ctx, "bash", script)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("build the control plane's binaries with %s: %w\n%s", script, err, stderr.String())
	}
	return strings.TrimSpace(string(out)), nil
}

// freePort returns a loopback port that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// writeKubeconfig writes a kubeconfig for a client certificate.
func writeKubeconfig(path, server string, caPEM []byte, certFile, keyFile string) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["e2e"] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: caPEM}
	cfg.AuthInfos["e2e"] = &clientcmdapi.AuthInfo{ClientCertificate: certFile, ClientKey: keyFile}
	cfg.Contexts["e2e"] = &clientcmdapi.Context{Cluster: "e2e", AuthInfo: "e2e"}
	cfg.CurrentContext = "e2e"
	return clientcmd.WriteToFile(*cfg, path)
}
