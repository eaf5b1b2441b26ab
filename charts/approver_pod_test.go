package charts

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// TestApproverPodStarts runs the real binary with the arguments and files
// the chart gives the approver's container, for the full and the least
// values: it must accept every flag, read the remediation config the chart
// rendered (remediate.Parse is strict: a key the chart mangled fails the
// start) and the key and Slack secrets from the files the Secrets are
// mounted as, open its single-use store in the state directory, answer its
// probe, refuse a malformed approval with 400, and stop cleanly on
// SIGTERM.
//
// What a pod would get from the cluster is given explicitly: a kubeconfig
// pointing nowhere (in-cluster configuration is absent here; e2e/ runs the
// approver against a real API server), and the state directory, a PVC in
// the cluster, is a writable temporary directory. The listen address is
// moved to a loopback port.
func TestApproverPodStarts(t *testing.T) {
	secrets := secretStore{
		"foresight-approval-key": {"approval-key": []byte("0123456789abcdef0123456789abcdef-chart-test")},
		"foresight-slack":        {"signing-secret": []byte("8f742231b10e8888abcd99yyyzzz85a5"), "bot-token": []byte("xoxb-chart-test")},
	}
	minimal := approverValuesFile(t, []map[string]any{{"action": "rollout-restart", "namespaces": []string{"shop"}}}, nil)
	for _, tc := range []struct{ name, file string }{{"full", approverValues}, {"minimal", minimal}} {
		t.Run(tc.name, func(t *testing.T) {
			rel := render(t, Options{ValueFiles: []string{tc.file}})
			a := rel.Approver
			pod := *a.Deployment.Spec.Template.Spec.DeepCopy()
			c := &pod.Containers[0]
			// The state volume is a PVC: not simulated by mountPod, made here.
			var stateDir string
			c.VolumeMounts = slices.DeleteFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool {
				if m.Name == "state" {
					stateDir = m.MountPath
					return true
				}
				return false
			})
			if stateDir == "" {
				t.Fatal("no state volume mounted")
			}
			root := mountPod(t, pod, []*corev1.ConfigMap{a.ConfigMap}, secrets)
			if err := os.MkdirAll(filepath.Join(root, stateDir), 0o700); err != nil {
				t.Fatal(err)
			}
			kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
			if err := os.WriteFile(kubeconfig, []byte(unreachableKubeconfig), 0o600); err != nil {
				t.Fatal(err)
			}
			port := freeLoopbackPort(t)
			args := make([]string, 0, len(c.Args)+2)
			for _, arg := range c.Args {
				for _, dir := range []string{"/etc/foresight/", "/var/lib/foresight-approver"} {
					arg = strings.ReplaceAll(arg, "="+dir, "="+root+dir)
				}
				args = append(args, arg)
			}
			args = append(args, "--listen=127.0.0.1:"+port, "--kubeconfig="+kubeconfig)

			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, foresightBin, args...)
			cmd.Env = append(os.Environ(), "KUBERNETES_SERVICE_HOST=", "KUBERNETES_SERVICE_PORT=")
			stderr, err := cmd.StderrPipe()
			if err != nil {
				t.Fatal(err)
			}
			cmd.Stdout = io.Discard // the audit log
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			exited := make(chan error, 1)
			var log strings.Builder
			logged := make(chan struct{})
			go func() {
				s := bufio.NewScanner(stderr)
				for s.Scan() {
					log.WriteString(s.Text() + "\n")
				}
				close(logged)
				exited <- cmd.Wait()
			}()
			defer func() { _ = cmd.Process.Kill() }()

			base := "http://127.0.0.1:" + port
			probe := c.LivenessProbe.HTTPGet.Path
			for {
				resp, err := http.Get(base + probe)
				if err == nil {
					resp.Body.Close()
					if resp.StatusCode == http.StatusOK {
						break
					}
				}
				select {
				case err := <-exited:
					<-logged
					t.Fatalf("foresight %s exited before answering %s: %v\n%s", strings.Join(c.Args, " "), probe, err, log.String())
				case <-ctx.Done():
					_ = cmd.Process.Kill()
					<-logged
					t.Fatalf("foresight approver did not answer %s within the deadline:\n%s", probe, log.String())
				case <-time.After(50 * time.Millisecond):
				}
			}

			// A forged token is refused, and nothing is executed.
			resp, err := http.PostForm(base+"/approve", url.Values{"token": {"not-a-token"}, "decision": {"approve"}})
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusBadRequest && resp.StatusCode != http.StatusForbidden {
				t.Errorf("POST /approve with a malformed token: %s %s, want 400 or 403", resp.Status, body)
			}
			entries, err := os.ReadDir(filepath.Join(root, stateDir))
			if err != nil || len(entries) == 0 {
				t.Errorf("the approver wrote nothing in --state-dir (%v): its single-use store must live there, on the PVC", err)
			}

			if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-exited:
				if err != nil {
					t.Errorf("on SIGTERM foresight approver exited with %v, want 0\n%s", err, log.String())
				}
			case <-ctx.Done():
				t.Error("foresight approver did not stop on SIGTERM")
			}
		})
	}
}

// TestApproverBinaryRefusesUnknownFlag is the control of
// TestApproverPodStarts: the approver checks its flags, so a flag the
// chart invented would fail there.
func TestApproverBinaryRefusesUnknownFlag(t *testing.T) {
	out, err := exec.Command(foresightBin, "approver", "--remediation-config=x.yaml", "--approval-key-file=k", "--slack-secret-file=s").CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 2 || !strings.Contains(string(out), "slack-secret-file") {
		t.Errorf("foresight approver --slack-secret-file: %v\n%s\nwant exit code 2 naming the flag", err, out)
	}
}
