package enrich

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// helperEnv makes the test binary run helperMain instead of the tests: the
// intake and the pipeline as a separate process that a test can SIGKILL.
const helperEnv = "FORESIGHT_ENRICH_HELPER"

func TestMain(m *testing.M) {
	if spec := os.Getenv(helperEnv); spec != "" {
		helperMain(spec)
		return
	}
	os.Exit(m.Run())
}

// helperMain serves POST /api/alerts on a loopback port, with a webhook
// sink, until killed. spec is queue-file,sink-url,addr-file.
func helperMain(spec string) {
	parts := strings.Split(spec, ",")
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	q, err := OpenQueue(parts[0], QueueOptions{})
	if err != nil {
		logger.Error("open queue", "err", err)
		os.Exit(1)
	}
	ctx := context.Background()
	d := NewDispatcher(ctx, []Sink{NewWebhookSink(parts[1], "", nil)}, DispatchOptions{MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond, Attempts: 1000}, logger, nil)
	go NewPipeline(q, d, nil, nil, PipelineOptions{}, logger, nil).Run(ctx)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		logger.Error("listen", "err", err)
		os.Exit(1)
	}
	if err := os.WriteFile(parts[2]+".tmp", []byte(l.Addr().String()), 0o600); err != nil {
		os.Exit(1)
	}
	_ = os.Rename(parts[2]+".tmp", parts[2])
	mux := http.NewServeMux()
	mux.Handle("/api/alerts", NewIntake(q, IntakeOptions{}, logger, nil))
	mux.HandleFunc("/queue", func(w http.ResponseWriter, _ *http.Request) {
		waiting, taken := q.Len()
		fmt.Fprint(w, waiting[StageNew]+waiting[StageRaw]+taken)
	})
	_ = http.Serve(l, mux)
}

type helperProc struct {
	cmd    *exec.Cmd
	base   string
	url    string
	exited chan struct{}
}

func startHelper(t *testing.T, queueFile, sinkURL string) *helperProc {
	t.Helper()
	addrFile := filepath.Join(t.TempDir(), "addr")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+queueFile+","+sinkURL+","+addrFile)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	h := &helperProc{cmd: cmd, exited: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(h.exited) }()
	t.Cleanup(func() { h.kill() })
	for deadline := time.Now().Add(30 * time.Second); ; {
		if b, err := os.ReadFile(addrFile); err == nil {
			h.base = "http://" + string(b)
			h.url = h.base + "/api/alerts"
			return h
		}
		select {
		case <-h.exited:
			t.Fatalf("helper exited: %s", stderr.String())
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("helper did not start within 30 s")
		}
	}
}

func (h *helperProc) kill() {
	_ = h.cmd.Process.Signal(syscall.SIGKILL)
	<-h.exited
}

// TestKill9LosesNothing posts 1,000 alerts from four senders while the
// sink is down, kills the process with SIGKILL, restarts it on the same
// queue file with the sink up, and checks that every alert that was
// acknowledged is delivered: killed halfway through the posts (writes in
// flight), and killed with all 1,000 queued (the case).
func TestKill9LosesNothing(t *testing.T) {
	const total = 1000
	for _, tc := range []struct {
		name      string
		killAfter int
	}{
		{"halfway", total / 2},
		{"1000 queued", total},
	} {
		t.Run(tc.name, func(t *testing.T) { kill9(t, total, tc.killAfter) })
	}
}

// kill9 kills the process once killAfter of total alerts are acknowledged.
func kill9(t *testing.T, total, killAfter int) {
	var sinkUp sync.Mutex // held while the sink answers 503
	sinkUp.Lock()
	up := false
	var upMu sync.Mutex
	sink := newCollector(t, "", func(w http.ResponseWriter, _ Notification) bool {
		upMu.Lock()
		ok := up
		upMu.Unlock()
		if !ok {
			w.WriteHeader(http.StatusServiceUnavailable)
			return false
		}
		return true
	})
	queueFile := filepath.Join(t.TempDir(), "queue.db")
	h := startHelper(t, queueFile, sink.URL)

	const batch, senders = 10, 4
	var mu sync.Mutex
	acked := map[string]bool{}
	killAt := make(chan struct{})
	var once sync.Once
	var wg sync.WaitGroup
	for s := range senders {
		wg.Go(func() {
			for b := s; b*batch < total; b += senders {
				var alerts []Alert
				for i := b * batch; i < (b+1)*batch; i++ {
					alerts = append(alerts, testAlert(i, StatusFiring))
				}
				body, _ := json.Marshal(WebhookMessage{Version: "4", Status: StatusFiring, Alerts: alerts})
				resp, err := http.Post(h.url, "application/json", bytes.NewReader(body))
				if err != nil {
					return // killed: Alertmanager would retry this one
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					return
				}
				mu.Lock()
				for _, a := range alerts {
					acked[a.Labels["pod"]] = true
				}
				if len(acked) >= killAfter {
					once.Do(func() { close(killAt) })
				}
				mu.Unlock()
			}
		})
	}
	go func() { wg.Wait(); once.Do(func() { close(killAt) }) }() // senders that gave up must not hang the test
	<-killAt
	h.kill()
	wg.Wait()
	mu.Lock()
	nAcked := len(acked)
	mu.Unlock()
	if nAcked < killAfter {
		t.Fatalf("only %d alerts acknowledged before the kill, want %d", nAcked, killAfter)
	}
	t.Logf("%d of %d alerts acknowledged before SIGKILL", nAcked, total)

	upMu.Lock()
	up = true
	upMu.Unlock()
	h2 := startHelper(t, queueFile, sink.URL)
	// Every acknowledged alert arrives (sink.next fails the test if the
	// deliveries stop for a minute with some missing). Alerts stored but
	// not acknowledged before the kill may arrive too.
	missing := maps.Clone(acked)
	for len(missing) > 0 {
		n := sink.next(t)
		delete(missing, n.Alert.Labels["pod"])
	}
	// Every record is deleted once delivered: the queue drains.
	for deadline := time.Now().Add(time.Minute); ; {
		resp, err := http.Get(h2.base + "/queue")
		if err != nil {
			t.Fatal(err)
		}
		var left int
		_, _ = fmt.Fscan(resp.Body, &left)
		resp.Body.Close()
		if left == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d records still queued a minute after every delivery", left)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
