package charts

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

var metricsServingLine = regexp.MustCompile(`msg="serving the metrics APIs" secure_port=(\d+) http=(\S+)`)

// TestMetricsAPIPodStarts runs the real binary with the arguments and
// files the chart gives the metrics API server's container: it must accept
// every flag, read the targets file the chart rendered (the server checks
// it completely: a key the chart mangled fails the start), answer its
// liveness probe on the HTTP port and its readiness probe over TLS, and
// stop cleanly on SIGTERM. The TLS check is the API server's: with a
// caBundle, the serving certificate must verify against the APIService's
// caBundle for the name FULLNAME-metrics.NAMESPACE.svc, as the aggregator
// checks it; without one, the APIService must skip verification.
//
// What a pod would get from the cluster is given explicitly: a kubeconfig
// for the lister and the delegated authentication and authorization
// (pointing nowhere; TestMetricsAPIServerRuns in cmd/foresight shows that
// requests are then refused, and e2e/ runs the real thing), and
// --authentication-skip-lookup for the front proxy's CA. The listen
// addresses are moved to loopback ports.
func TestMetricsAPIPodStarts(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files []string
		set   []string
		tls   bool
	}{
		{name: "metricsapi", files: []string{metricsAPIValues}},
		{name: "tls-external", files: []string{metricsAPIValues}, set: []string{
			"metricsApi.externalMetrics=true", "metricsApi.tls.secretName=foresight-metrics-tls",
		}, tls: true},
		// The datasources file and its Secrets, mounted as for the scaler.
		{name: "datasources", files: []string{"testdata/good/full.yaml"}, set: []string{
			"metricsApi.enabled=true", "metricsApi.targets[0].namespace=shop", "metricsApi.targets[0].kind=StatefulSet",
			"metricsApi.targets[0].name=db", "metricsApi.targets[0].policy.query=up",
			"metricsApi.targets[0].policy.targetPerReplica=800", "metricsApi.targets[0].policy.datasource=victoria",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			secrets, ca := newSecretStore(t)
			set := tc.set
			if tc.tls {
				set = append(set, "metricsApi.tls.caBundle="+base64.StdEncoding.EncodeToString(ca.PEM))
			}
			rel := render(t, Options{ValueFiles: tc.files, Set: set})
			m := rel.MetricsAPI
			if m == nil {
				t.Fatal("no metrics API server rendered")
			}
			host := m.Service.Name + "." + m.Service.Namespace + ".svc"
			if tc.tls {
				pair := ca.Issue(t, host)
				secrets["foresight-metrics-tls"] = map[string][]byte{"tls.crt": pair.CertPEM, "tls.key": pair.KeyPEM}
			}
			pod := m.Deployment.Spec.Template.Spec
			root := mountPod(t, pod, []*corev1.ConfigMap{rel.ConfigMap, m.ConfigMap}, secrets)
			c := pod.Containers[0]

			kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
			if err := os.WriteFile(kubeconfig, []byte(unreachableKubeconfig), 0o600); err != nil {
				t.Fatal(err)
			}
			securePort := freeLoopbackPort(t)
			args := make([]string, 0, len(c.Args)+8)
			for _, a := range c.Args {
				args = append(args, strings.ReplaceAll(a, "/etc/foresight/", root+"/etc/foresight/"))
			}
			args = append(args, "--bind-address=127.0.0.1", "--secure-port="+securePort, "--http-addr=127.0.0.1:0",
				"--lister-kubeconfig="+kubeconfig, "--authentication-kubeconfig="+kubeconfig, "--authorization-kubeconfig="+kubeconfig,
				"--authentication-skip-lookup")

			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, foresightBin, args...)
			stderr, err := cmd.StderrPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			exited := make(chan error, 1)
			lines := make(chan string, 64)
			go func() {
				s := bufio.NewScanner(stderr)
				for s.Scan() {
					select {
					case lines <- s.Text():
					case <-ctx.Done():
					}
				}
				close(lines)
				exited <- cmd.Wait()
			}()
			defer func() { _ = cmd.Process.Kill() }()

			var httpAddr string
			var log []string
			for httpAddr == "" {
				select {
				case line, ok := <-lines:
					if !ok {
						t.Fatalf("foresight %s exited before serving: %v\n%s", strings.Join(c.Args, " "), <-exited, strings.Join(log, "\n"))
					}
					log = append(log, line)
					if sub := metricsServingLine.FindStringSubmatch(line); sub != nil {
						httpAddr = sub[2]
					}
				case <-ctx.Done():
					t.Fatalf("foresight metrics-apiserver did not serve within the deadline:\n%s", strings.Join(log, "\n"))
				}
			}
			go func() {
				for range lines { // drain, so that the process never blocks on stderr
				}
			}()

			live := c.LivenessProbe.HTTPGet
			resp, err := http.Get("http://" + httpAddr + live.Path)
			if err != nil {
				t.Fatalf("liveness probe %s: %v", live.Path, err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Errorf("liveness probe %s: %s", live.Path, resp.Status)
			}

			// The aggregator's view of TLS, from the APIService.
			api := m.APIServices["v1beta2.custom.metrics.k8s.io"]
			tlsConf := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: host}
			switch {
			case len(api.Spec.CABundle) > 0:
				pool := x509.NewCertPool()
				if !pool.AppendCertsFromPEM(api.Spec.CABundle) {
					t.Fatalf("the APIService's caBundle holds no PEM certificate: %q", api.Spec.CABundle)
				}
				tlsConf.RootCAs = pool
			case api.Spec.InsecureSkipTLSVerify:
				tlsConf.InsecureSkipVerify = true //nolint:gosec // as the APIService says: the certificate is self-signed
			default:
				t.Fatal("the APIService neither gives a caBundle nor skips verification: the API server could never reach the metrics API server")
			}
			client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsConf}}
			ready := c.ReadinessProbe.HTTPGet
			url := "https://" + net.JoinHostPort("127.0.0.1", securePort) + ready.Path
			for {
				// /readyz answers 500 until the post-start hooks have run.
				resp, err := client.Get(url)
				var body []byte
				if err == nil {
					body, _ = io.ReadAll(resp.Body)
					resp.Body.Close()
					if resp.StatusCode == http.StatusOK {
						break
					}
				}
				if tc.tls && err != nil && strings.Contains(err.Error(), "certificate") {
					t.Fatalf("the serving certificate does not verify against the APIService's caBundle for %s: %v", host, err)
				}
				select {
				case <-ctx.Done():
					t.Fatalf("readiness probe %s never ok: %v %v %s", url, resp, err, body)
				case <-time.After(100 * time.Millisecond):
				}
			}

			if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-exited:
				if err != nil {
					t.Errorf("on SIGTERM foresight metrics-apiserver exited with %v, want 0", err)
				}
			case <-ctx.Done():
				t.Error("foresight metrics-apiserver did not stop on SIGTERM")
			}
		})
	}
}

// unreachableKubeconfig stands for the in-cluster configuration a pod
// would have: a cluster nobody answers at.
const unreachableKubeconfig = `apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "http://127.0.0.1:1"}}]
users: [{name: u, user: {}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
`

func freeLoopbackPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, port, _ := net.SplitHostPort(l.Addr().String())
	return port
}

// TestMetricsAPIBinaryRefusesUnknownFlag is the control of
// TestMetricsAPIPodStarts: metrics-apiserver checks its flags (a flag of
// foresight serve's TLS, which the chart might have copied, is refused),
// so a flag the chart got wrong fails there.
func TestMetricsAPIBinaryRefusesUnknownFlag(t *testing.T) {
	out, err := exec.Command(foresightBin, "metrics-apiserver", "--targets=x.yaml", "--demo", "--tls-key-file=tls.key").CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 2 || !strings.Contains(string(out), "tls-key-file") {
		t.Errorf("foresight metrics-apiserver --tls-key-file: %v\n%s\nwant exit code 2 naming the flag", err, out)
	}
}
