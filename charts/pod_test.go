package charts

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/foresight-aiops/foresight/internal/testcerts"
)

// foresightBin is the real binary, built from the main module (its own
// dependency versions, not this module's) by TestMain.
var foresightBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "foresight-chart-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	foresightBin = filepath.Join(dir, "foresight")
	build := exec.Command("go", "build", "-o", foresightBin, "./cmd/foresight")
	build.Dir = ".."
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build foresight:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// secretStore is the content of the Secrets that values files name, as an
// operator would create them.
type secretStore map[string]map[string][]byte

func newSecretStore(t *testing.T) (secretStore, *testcerts.CA) {
	ca := testcerts.NewCA(t)
	server := ca.Issue(t, "127.0.0.1")
	client := ca.Issue(t, "keda-operator")
	return secretStore{
		"thanos-reader":        {"token": []byte("t0ken\n"), "ca.crt": ca.PEM},
		"vm-reader":            {"password": []byte("passw0rd"), "ca.crt": ca.PEM},
		"vm-client":            {"tls.crt": client.CertPEM, "tls.key": client.KeyPEM},
		"foresight-server-tls": {"tls.crt": server.CertPEM, "tls.key": server.KeyPEM, "ca.crt": ca.PEM},
		"foresight-client-ca":  {"ca.crt": ca.PEM},
	}, ca
}

// mount writes the pod's volumes under root as the kubelet would mount
// them at /, from the rendered ConfigMap and the secret store. It returns
// the prefix that stands for the container's /.
func mount(t *testing.T, rel release, secrets secretStore) string {
	t.Helper()
	return mountPod(t, rel.Deployment.Spec.Template.Spec, []*corev1.ConfigMap{rel.ConfigMap}, secrets)
}

// mountPod is mount for any pod of the release, given the ConfigMaps the
// chart renders (nil entries are skipped).
func mountPod(t *testing.T, pod corev1.PodSpec, configMaps []*corev1.ConfigMap, secrets secretStore) string {
	t.Helper()
	root := t.TempDir()
	cms := map[string]*corev1.ConfigMap{}
	for _, cm := range configMaps {
		if cm != nil {
			cms[cm.Name] = cm
		}
	}
	volumes := map[string]corev1.Volume{}
	for _, v := range pod.Volumes {
		volumes[v.Name] = v
	}
	for _, m := range pod.Containers[0].VolumeMounts {
		v, ok := volumes[m.Name]
		if !ok {
			t.Fatalf("volumeMount %s has no volume", m.Name)
		}
		var data map[string][]byte
		var items []corev1.KeyToPath
		switch {
		case v.ConfigMap != nil:
			cm, ok := cms[v.ConfigMap.Name]
			if !ok {
				t.Fatalf("volume %s mounts ConfigMap %s, which the chart does not render", v.Name, v.ConfigMap.Name)
			}
			data = map[string][]byte{}
			for k, s := range cm.Data {
				data[k] = []byte(s)
			}
			items = v.ConfigMap.Items
		case v.Secret != nil:
			if data, ok = secrets[v.Secret.SecretName]; !ok {
				t.Fatalf("volume %s mounts Secret %s, which this test does not know", v.Name, v.Secret.SecretName)
			}
			items = v.Secret.Items
		default:
			t.Fatalf("volume %s: only ConfigMaps and Secrets are simulated", v.Name)
		}
		if items == nil {
			for k := range data {
				items = append(items, corev1.KeyToPath{Key: k, Path: k})
			}
		}
		dir := filepath.Join(root, m.MountPath)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, it := range items {
			b, ok := data[it.Key]
			if !ok {
				t.Fatalf("volume %s projects key %s, which is not in it (the kubelet would not start the pod)", v.Name, it.Key)
			}
			if m.Name == "config" {
				// The datasource file names the mounted Secrets by their
				// paths in the container.
				b = []byte(strings.ReplaceAll(string(b), "/etc/foresight/", root+"/etc/foresight/"))
			}
			if err := os.WriteFile(filepath.Join(dir, it.Path), b, 0o400); err != nil {
				t.Fatal(err)
			}
		}
	}
	return root
}

var servingLine = regexp.MustCompile(`msg=serving grpc=(\S+) http=(\S+)`)

// TestPodStarts runs the real binary with the arguments and files the
// chart gives the container, for every values file of testdata/good: it
// must start, answer its probes and the gRPC health service (over mutual
// TLS where the values ask for it), and stop cleanly on SIGTERM. The
// listen addresses alone are moved to loopback ports chosen by the kernel
// (later flags win), so that the test binds nothing else.
func TestPodStarts(t *testing.T) {
	for _, file := range goodValues(t) {
		t.Run(filepath.Base(file), func(t *testing.T) {
			rel := render(t, Options{ValueFiles: []string{file}})
			secrets, ca := newSecretStore(t)
			root := mount(t, rel, secrets)
			c := container(t, rel)
			if c.Command != nil {
				t.Fatalf("the chart overrides the image's entrypoint: %v", c.Command)
			}
			args := make([]string, 0, len(c.Args)+2)
			for _, a := range c.Args {
				args = append(args, strings.ReplaceAll(a, "/etc/foresight/", root+"/etc/foresight/"))
			}
			args = append(args, "--grpc-addr=127.0.0.1:0", "--http-addr=127.0.0.1:0")

			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
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

			var grpcAddr, httpAddr string
			var log []string
			for grpcAddr == "" {
				select {
				case line, ok := <-lines:
					if !ok {
						t.Fatalf("foresight %s exited before serving: %v\n%s", strings.Join(c.Args, " "), <-exited, strings.Join(log, "\n"))
					}
					log = append(log, line)
					if m := servingLine.FindStringSubmatch(line); m != nil {
						grpcAddr, httpAddr = m[1], m[2]
					}
				case <-ctx.Done():
					t.Fatalf("foresight did not serve within the deadline:\n%s", strings.Join(log, "\n"))
				}
			}
			go func() {
				for range lines { // drain, so that the process never blocks on stderr
				}
			}()

			for _, p := range []*corev1.Probe{c.LivenessProbe, c.ReadinessProbe} {
				resp, err := http.Get("http://" + httpAddr + p.HTTPGet.Path)
				if err != nil {
					t.Fatalf("probe %s: %v", p.HTTPGet.Path, err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					t.Errorf("probe %s: %s %s", p.HTTPGet.Path, resp.Status, body)
				}
			}

			creds := insecure.NewCredentials()
			tlsOn := strings.Contains(strings.Join(c.Args, " "), "--tls-cert-file")
			if tlsOn {
				client := ca.Issue(t, "keda-operator")
				creds = credentials.NewTLS(&tls.Config{RootCAs: ca.Pool(), Certificates: []tls.Certificate{client.TLS}, MinVersion: tls.VersionTLS12})
			}
			checkHealth(ctx, t, grpcAddr, creds)
			if tlsOn && strings.Contains(strings.Join(c.Args, " "), "--tls-client-ca-file") {
				// Mutual TLS: a client without a certificate is refused.
				noCert := credentials.NewTLS(&tls.Config{RootCAs: ca.Pool(), MinVersion: tls.VersionTLS12})
				if err := health(ctx, grpcAddr, noCert); err == nil {
					t.Error("a client without a certificate was served, with --tls-client-ca-file set")
				}
			}

			if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-exited:
				if err != nil {
					t.Errorf("on SIGTERM foresight exited with %v, want 0", err)
				}
			case <-ctx.Done():
				t.Error("foresight did not stop on SIGTERM")
			}
		})
	}
}

func checkHealth(ctx context.Context, t *testing.T, addr string, creds credentials.TransportCredentials) {
	t.Helper()
	if err := health(ctx, addr, creds); err != nil {
		t.Errorf("gRPC health check on %s: %v", addr, err)
	}
}

func health(ctx context.Context, addr string, creds credentials.TransportCredentials) error {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		return err
	}
	if resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		return fmt.Errorf("status %v", resp.GetStatus())
	}
	return nil
}

// TestBinaryRefusesUnknownFlag is the control of TestPodStarts: the
// binary does check its flags, so a flag the chart invented would fail
// there.
func TestBinaryRefusesUnknownFlag(t *testing.T) {
	out, err := exec.Command(foresightBin, "serve", "--demo", "--log-level=debug").CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 2 || !strings.Contains(string(out), "log-level") {
		t.Errorf("foresight serve --log-level: %v\n%s\nwant exit code 2 naming the flag", err, out)
	}
}
