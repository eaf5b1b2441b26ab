package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/foresight-aiops/foresight/enrich"
)

// syncBuffer is a bytes.Buffer safe for the sink's goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestEnrichCommand(t *testing.T) {
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	ctx, cancel := context.WithCancel(context.Background())
	out := &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- runEnrich(ctx, []string{"--http-addr", addr, "--queue-file", filepath.Join(dir, "q.db"), "--auth-token-file", tokenFile}, out, slog.New(slog.DiscardHandler))
	}()
	base := "http://" + addr
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if resp, err := http.Get(base + "/readyz"); err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("enrich not ready in 30 s")
		}
	}
	body, err := os.ReadFile(filepath.Join("..", "..", "enrich", "testdata", "webhook", "am-0.34-firing.json"))
	if err != nil {
		t.Fatal(err)
	}
	post := func(token string) int {
		req, _ := http.NewRequest(http.MethodPost, base+"/api/alerts", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post("wrong"); code != http.StatusUnauthorized {
		t.Errorf("wrong token: %d, want 401", code)
	}
	if code := post("s3cret"); code != http.StatusOK {
		t.Fatalf("right token: %d, want 200", code)
	}
	// Both alerts of the payload reach the stdout sink as JSON lines.
	var lines []string
	for deadline := time.Now().Add(30 * time.Second); len(lines) < 2; time.Sleep(10 * time.Millisecond) {
		lines = strings.Split(strings.TrimSpace(out.String()), "\n")
		if lines[0] == "" {
			lines = nil
		}
		if time.Now().After(deadline) {
			t.Fatalf("stdout after 30 s: %q", out.String())
		}
	}
	kinds := map[string]bool{}
	for _, l := range lines {
		var n enrich.Notification
		if err := json.Unmarshal([]byte(l), &n); err != nil {
			t.Fatalf("stdout line %q: %v", l, err)
		}
		kinds[n.Kind] = true
	}
	if !kinds[enrich.KindAlert] || !kinds[enrich.KindResolved] {
		t.Errorf("kinds on stdout %v, want an alert and a resolution", kinds)
	}
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	m, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`foresight_enrich_webhook_requests_total{outcome="unauthorized"} 1`, `foresight_enrich_webhook_requests_total{outcome="accepted"} 1`} {
		if !strings.Contains(string(m), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("runEnrich: %v", err)
	}
}

func TestEnrichUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--sink", "webhook"}, "--sink webhook needs --webhook-url"},
		{[]string{"--sink", "pager"}, `--sink "pager": use stdout, webhook or slack`},
		{[]string{"--sink", "slack"}, "slack sink: give an incoming webhook URL"},
		{[]string{"--stdout-format", "yaml"}, "use json or text"},
		{[]string{"--auth-basic-user", "am"}, "basic auth needs both"},
	} {
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), append([]string{"enrich", "--queue-file", filepath.Join(t.TempDir(), "q.db")}, tc.args...), nil, &stdout, &stderr)
		if code != 2 || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", tc.args, code, stderr.String(), tc.want)
		}
	}
}

// TestEnrichCommandWithModel runs foresight enrich with an OpenAI-style
// server and no cluster: the raw alert, then its analysis, on stdout.
func TestEnrichCommandWithModel(t *testing.T) {
	model := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/chat/completions" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"id":"c","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"{\"root_cause\":\"the database is down\",\"commands\":[\"kubectl get pods -n prod\",\"kubectl rollout undo deployment/api -n prod\"]}"},"finish_reason":"stop"}],"usage":{"prompt_tokens":900,"completion_tokens":40,"total_tokens":940}}`)
	}))
	defer model.Close()
	dir := t.TempDir()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	ctx, cancel := context.WithCancel(context.Background())
	out := &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- runEnrich(ctx, []string{
			"--http-addr", addr, "--queue-file", filepath.Join(dir, "q.db"), "--no-cluster",
			"--llm-endpoint", model.URL + "/v1", "--llm-model", "llama3.1:8b", "--llm-api-key", "dummy", "--stdout-format", "text",
		}, out, slog.New(slog.DiscardHandler))
	}()
	body := `{"version":"4","status":"firing","alerts":[{"status":"firing","labels":{"alertname":"KubePodCrashLooping","namespace":"prod","pod":"api-1"},"annotations":{"summary":"token=hunter2hunter2"},"startsAt":"2026-08-22T10:00:00Z","fingerprint":"aa"}]}`
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		resp, err := http.Post("http://"+addr+"/api/alerts", "application/json", strings.NewReader(body))
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("POST: %d", resp.StatusCode)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("enrich not up in 30 s")
		}
	}
	for deadline := time.Now().Add(30 * time.Second); !strings.Contains(out.String(), "Analysis of"); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no analysis in 30 s:\n%s", out.String())
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	text := out.String()
	for _, want := range []string{
		"FIRING KubePodCrashLooping", "root cause: the database is down", "kubectl get pods -n prod   [read_only]",
		"kubectl rollout undo deployment/api -n prod   [needs_human]", "context unavailable: cluster: no_cluster",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("stdout lacks %q:\n%s", want, text)
		}
	}
	if strings.Index(text, "FIRING") > strings.Index(text, "Analysis of") {
		t.Error("the analysis came before the raw alert")
	}
	if strings.Contains(text, "hunter2hunter2") {
		t.Error("a secret in an annotation reached stdout")
	}
}
