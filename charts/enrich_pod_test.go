package charts

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// enrichSecrets are the Secrets the enrich values name, as an operator
// would create them.
var enrichSecrets = secretStore{
	"foresight-enrich-auth":    {"token": []byte("alertmanager-token-chart-test"), "password": []byte("hunter2-chart-test")},
	"foresight-enrich-webhook": {"hmac": []byte("webhook-hmac-chart-test")},
	"foresight-slack":          {"bot-token": []byte("xoxb-chart-test"), "webhook-url": []byte("https://hooks.slack.invalid/services/T0/B0/chart-test")},
	"foresight-llm":            {"api-key": []byte("sk-chart-test")},
	"foresight-approval-key":   {"approval-key": []byte("0123456789abcdef0123456789abcdef-chart-test")},
}

// enrichAlert is an Alertmanager webhook (version 4) with one firing
// alert.
const enrichAlert = `{"version":"4","status":"firing","receiver":"foresight","groupLabels":{},"commonLabels":{},"commonAnnotations":{},"externalURL":"http://alertmanager:9093",
"alerts":[{"status":"firing","labels":{"alertname":"ChartTestCrashLooping","namespace":"shop","pod":"api-1"},"annotations":{"summary":"api-1 restarts"},
"startsAt":"2026-01-02T03:04:05Z","endsAt":"0001-01-01T00:00:00Z","generatorURL":"http://prometheus/graph","fingerprint":"c0ffee"}]}`

// TestEnrichPodStarts runs the real binary with the arguments, files and
// environment the chart gives the enrichment's container, for the full,
// the least and the proposal values: it must accept every flag, read
// every Secret from the file it is mounted as (the approval key and the
// approver's remediation config too), open its queue in the queue's
// volume, answer both probes, check the intake's credentials as
// configured, and stop cleanly on SIGTERM. With the least values (stdout
// sink, no model, no credentials) an alert goes all the way: 200 from
// the intake, then the alert on stdout.
//
// What a pod would get from the cluster is given explicitly: a kubeconfig
// pointing nowhere stands for the in-cluster configuration (nothing is
// read from the cluster before an alert asks), the queue's volume is a
// temporary directory, the Secret behind an environment variable is
// expanded into the arguments as the kubelet does with $(VAR), and
// --http-addr is moved to a loopback port. No alert is posted where a
// sink would call out (Slack, a webhook).
func TestEnrichPodStarts(t *testing.T) {
	for _, c := range []struct {
		name  string
		files []string
		// auth is the Authorization header the intake must accept; ""
		// when it checks none.
		auth   string
		post   bool // post a valid alert and expect it on stdout
		noKube bool // clusterContext=false
	}{
		{name: "full", files: []string{enrichValues}, auth: "Bearer alertmanager-token-chart-test"},
		{name: "minimal", files: []string{enrichMinimalValues}, post: true},
		{name: "remediation", files: []string{approverValues, enrichRemediationValues}, auth: "Basic YWxlcnRtYW5hZ2VyOmh1bnRlcjItY2hhcnQtdGVzdA=="}, // alertmanager:hunter2-chart-test
		{name: "no-cluster", files: []string{enrichMinimalValues}, noKube: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			o := Options{ValueFiles: c.files}
			if c.noKube {
				o.Set = []string{"enrich.clusterContext=false"}
			}
			rel := render(t, o)
			e := rel.Enrich
			pod := *e.Deployment.Spec.Template.Spec.DeepCopy()
			ctr := &pod.Containers[0]
			// The queue's volume is a PVC or an emptyDir: not simulated
			// by mountPod, made here.
			var queueDir string
			ctr.VolumeMounts = slices.DeleteFunc(ctr.VolumeMounts, func(m corev1.VolumeMount) bool {
				if m.Name == "queue" {
					queueDir = m.MountPath
					return true
				}
				return false
			})
			if queueDir == "" {
				t.Fatal("no queue volume mounted")
			}
			var cms []*corev1.ConfigMap
			if rel.Approver != nil {
				cms = append(cms, rel.Approver.ConfigMap)
			}
			root := mountPod(t, pod, cms, enrichSecrets)
			if err := os.MkdirAll(filepath.Join(root, queueDir), 0o700); err != nil {
				t.Fatal(err)
			}
			env := map[string]string{}
			for _, ev := range ctr.Env {
				ref := ev.ValueFrom.SecretKeyRef
				v, ok := enrichSecrets[ref.Name][ref.Key]
				if !ok {
					t.Fatalf("env %s from Secret %s key %s, which this test does not know", ev.Name, ref.Name, ref.Key)
				}
				env[ev.Name] = string(v)
			}
			port := freeLoopbackPort(t)
			args := make([]string, 0, len(ctr.Args)+2)
			for _, arg := range ctr.Args {
				for _, dir := range []string{"/etc/foresight/", queueDir} {
					arg = strings.ReplaceAll(arg, "="+dir, "="+root+dir)
				}
				for name, v := range env {
					arg = strings.ReplaceAll(arg, "$("+name+")", v)
				}
				if strings.Contains(arg, "$(") {
					t.Fatalf("argument %s names a variable the container's env does not define", arg)
				}
				args = append(args, arg)
			}
			args = append(args, "--http-addr=127.0.0.1:"+port)
			if !c.noKube {
				kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
				if err := os.WriteFile(kubeconfig, []byte(unreachableKubeconfig), 0o600); err != nil {
					t.Fatal(err)
				}
				args = append(args, "--kubeconfig="+kubeconfig)
			}

			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, foresightBin, args...)
			cmd.Env = append(os.Environ(), "KUBERNETES_SERVICE_HOST=", "KUBERNETES_SERVICE_PORT=", "HOME="+t.TempDir(), "KUBECONFIG=")
			stderr, err := cmd.StderrPipe()
			if err != nil {
				t.Fatal(err)
			}
			stdout := &lockedBuffer{}
			cmd.Stdout = stdout
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
			for _, probe := range []*corev1.Probe{ctr.LivenessProbe, ctr.ReadinessProbe} {
				for {
					resp, err := http.Get(base + probe.HTTPGet.Path)
					if err == nil {
						resp.Body.Close()
						if resp.StatusCode == http.StatusOK {
							break
						}
					}
					select {
					case err := <-exited:
						<-logged
						t.Fatalf("foresight %s exited before answering %s: %v\n%s", strings.Join(ctr.Args, " "), probe.HTTPGet.Path, err, log.String())
					case <-ctx.Done():
						_ = cmd.Process.Kill()
						<-logged
						t.Fatalf("foresight enrich did not answer %s within the deadline:\n%s", probe.HTTPGet.Path, log.String())
					case <-time.After(50 * time.Millisecond):
					}
				}
			}
			entries, err := os.ReadDir(filepath.Join(root, queueDir))
			if err != nil || len(entries) == 0 {
				t.Errorf("foresight enrich wrote nothing in %s (%v): its queue must live there, on the PVC", queueDir, err)
			}

			post := func(body, auth string) int {
				t.Helper()
				req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/api/alerts", strings.NewReader(body))
				if err != nil {
					t.Fatal(err)
				}
				req.Header.Set("Content-Type", "application/json")
				if auth != "" {
					req.Header.Set("Authorization", auth)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				return resp.StatusCode
			}
			if c.auth != "" {
				// The credentials came from the mounted Secret: a wrong
				// one is refused, the right one gets past the check (to a
				// 400 for a body that is not an alert, so that no sink is
				// called).
				if code := post("{}", "Bearer wrong"); code != http.StatusUnauthorized {
					t.Errorf("POST /api/alerts with wrong credentials: %d, want 401", code)
				}
				if code := post("not json", c.auth); code != http.StatusBadRequest {
					t.Errorf("POST /api/alerts with the Secret's credentials and a bad body: %d, want 400 (past the credentials check)", code)
				}
			}
			if c.post {
				if code := post(enrichAlert, ""); code != http.StatusOK {
					t.Errorf("POST /api/alerts: %d, want 200", code)
				}
				for !strings.Contains(stdout.String(), "ChartTestCrashLooping") {
					select {
					case <-ctx.Done():
						t.Fatalf("the alert never reached the stdout sink; stdout:\n%s\nstderr:\n%s", stdout.String(), log.String())
					case <-time.After(50 * time.Millisecond):
					}
				}
			}

			if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-exited:
				if err != nil {
					<-logged
					t.Errorf("on SIGTERM foresight enrich exited with %v, want 0\n%s", err, log.String())
				}
			case <-ctx.Done():
				t.Error("foresight enrich did not stop on SIGTERM")
			}
		})
	}
}

// lockedBuffer is a strings.Builder the process writes to while the test
// reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestEnrichBinaryRefusesUnknownFlag is the control of
// TestEnrichPodStarts: foresight enrich checks its flags, so a flag the
// chart invented would fail there.
func TestEnrichBinaryRefusesUnknownFlag(t *testing.T) {
	out, err := exec.Command(foresightBin, "enrich", "--queue-file=x.db", "--slack-webhook-url-file=u").CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 2 || !strings.Contains(string(out), "slack-webhook-url-file") {
		t.Errorf("foresight enrich --slack-webhook-url-file: %v\n%s\nwant exit code 2 naming the flag", err, out)
	}
}
