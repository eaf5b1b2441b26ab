package enrich

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// startAlertmanager starts Debian's Alertmanager on a loopback port with a
// route that sends every alert, within a second, to webhookURL with the
// bearer token. It returns Alertmanager's base URL.
func startAlertmanager(t *testing.T, webhookURL, token string) string {
	t.Helper()
	bin, err := exec.LookPath("prometheus-alertmanager")
	if err != nil {
		t.Fatalf("prometheus-alertmanager is not installed (%v): install it with `apt-get install -y prometheus-alertmanager`, or run `make test-deps` as root", err)
	}
	dir := t.TempDir()
	cfg := fmt.Sprintf(`route:
  receiver: foresight
  group_by: [alertname]
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: foresight
    webhook_configs:
      - url: %s
        send_resolved: true
        http_config:
          authorization:
            credentials: %s
`, webhookURL, token)
	if err := os.WriteFile(filepath.Join(dir, "alertmanager.yml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	cmd := exec.Command(bin,
		"--config.file="+filepath.Join(dir, "alertmanager.yml"),
		"--storage.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr,
		"--cluster.listen-address=", // no gossip: a single instance
	)
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start Alertmanager: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("Alertmanager log:\n%s", logs.String())
		}
	})
	base := "http://" + addr
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(base + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return base
			}
		}
		select {
		case <-exited:
			t.Fatalf("Alertmanager exited:\n%s", logs.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("Alertmanager not ready after 30 s:\n%s", logs.String())
		}
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// postAlerts posts alerts to Alertmanager's API v2, as Prometheus does.
func postAlerts(t *testing.T, base string, alerts []map[string]any) {
	t.Helper()
	body, _ := json.Marshal(alerts)
	resp, err := http.Post(base+"/api/v2/alerts", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("Alertmanager refused the alerts: HTTP %d", resp.StatusCode)
	}
}

// TestAlertmanagerToSinks routes alerts through a real Alertmanager to the
// intake (with bearer auth) and checks that each reaches the sink once, and
// that a resolution follows with the alert's correlation id.
func TestAlertmanagerToSinks(t *testing.T) {
	const secret, token = "hmac-key", "am-token"
	sink := newCollector(t, secret, nil)
	intake, _ := startPipeline(t, []Sink{NewWebhookSink(sink.URL, secret, nil)}, nil, IntakeOptions{BearerToken: token})
	mux := http.NewServeMux()
	mux.Handle("/api/alerts", intake)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	am := startAlertmanager(t, srv.URL+"/api/alerts", token)
	start := time.Now().UTC().Add(-time.Minute).Truncate(time.Second)
	var alerts []map[string]any
	for _, pod := range []string{"api-1", "api-2", "db-0"} {
		alerts = append(alerts, map[string]any{
			"labels":      map[string]string{"alertname": "KubePodCrashLooping", "namespace": "prod", "pod": pod},
			"annotations": map[string]string{"summary": "pod " + pod + " is crash looping"},
			"startsAt":    start,
		})
	}
	postAlerts(t, am, alerts)

	seen := map[string]Notification{}
	for len(seen) < 3 {
		n := sink.next(t)
		if n.Kind != KindAlert {
			t.Fatalf("got a %s before every alert", n.Kind)
		}
		pod := n.Alert.Labels["pod"]
		if _, dup := seen[pod]; dup {
			t.Fatalf("alert for %s delivered twice", pod)
		}
		if !n.Alert.StartsAt.Equal(start) || n.Alert.Fingerprint == "" || !strings.Contains(n.Alert.Annotations["summary"], pod) {
			t.Errorf("alert for %s arrived as %+v", pod, n.Alert)
		}
		seen[pod] = n
	}

	// Resolve db-0: Alertmanager sends the group again with db-0 resolved
	// and the others still firing; those are duplicates and must not reach
	// the sink again.
	alerts[2]["endsAt"] = time.Now().UTC().Add(-time.Second)
	postAlerts(t, am, alerts[2:])
	n := sink.next(t)
	if n.Kind != KindResolved || n.Alert.Labels["pod"] != "db-0" {
		t.Fatalf("got %s for %s, want the resolution of db-0", n.Kind, n.Alert.Labels["pod"])
	}
	if n.CorrelationID != seen["db-0"].CorrelationID {
		t.Errorf("resolution correlation id %s, want the alert's %s", n.CorrelationID, seen["db-0"].CorrelationID)
	}
	// Alertmanager re-notifies only on change; give a re-send a moment to
	// show up if the dedupe were broken.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	select {
	case extra := <-sink.got:
		t.Errorf("unexpected %s for %s after the resolution", extra.Kind, extra.Alert.Labels["pod"])
	case <-ctx.Done():
	}
}
