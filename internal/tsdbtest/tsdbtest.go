// Package tsdbtest starts real time-series databases for tests: Prometheus
// and VictoriaMetrics from Debian's packages, and a Thanos querier over
// Prometheus, on free loopback ports, with their storage in the test's
// temporary directory and history backfilled.
//
// A missing binary fails the test (it is not skipped): `make test` installs
// the packages, and the message names the apt-get command.
//
// Each server is stopped when the test ends, and, on Linux, the kernel kills
// it if the test binary dies first (a panic or a -timeout), so no database
// outlives a run.
package tsdbtest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/foresight-aiops/foresight/forecast"
)

// readyTimeout bounds the wait for a started server to answer its readiness
// endpoint. Starts take 0.1-2 s here; the bound only stops a broken start
// from hanging the test.
const readyTimeout = 30 * time.Second

// stopTimeout bounds a graceful stop before the process is killed.
const stopTimeout = 10 * time.Second

// Series is one time series to backfill: a metric name, its labels (without
// __name__) and its samples. The samples need not be sorted.
type Series struct {
	Metric  string
	Labels  map[string]string
	Samples []forecast.Sample
}

// Server is a running database.
type Server struct {
	// URL is the base of the PromQL HTTP API, http://127.0.0.1:PORT.
	URL string

	flavor flavor
	dir    string // root of the server's files
	// backend, for a Thanos querier, is the Prometheus behind it: Append
	// writes there.
	backend *Server
	addr    string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
}

// flavor is what differs between the databases.
type flavor struct {
	name      string // for messages
	binary    string
	debian    string // package that ships binary
	readyPath string
	args      func(dir, addr string) []string
}

var victoriaMetrics = flavor{
	name:      "VictoriaMetrics",
	binary:    "victoria-metrics",
	debian:    "victoria-metrics",
	readyPath: "/health",
	args: func(dir, addr string) []string {
		return []string{
			"-httpListenAddr=" + addr,
			"-storageDataPath=" + filepath.Join(dir, "data"),
			// Backfilled history is years old in some tests: keep it all.
			"-retentionPeriod=100y",
			// Make samples queryable as soon as they are flushed, and never
			// serve a cached range that predates an Append.
			"-search.latencyOffset=0s",
			"-search.disableCache",
			"-dedup.minScrapeInterval=0s",
			// Stop quickly even with idle keep-alive connections open.
			"-http.maxGracefulShutdownDuration=1s",
			"-http.shutdownDelay=0s",
		}
	},
}

var prometheus = flavor{
	name:      "Prometheus",
	binary:    "prometheus",
	debian:    "prometheus",
	readyPath: "/-/ready",
	args: func(dir, addr string) []string {
		return []string{
			"--config.file=" + filepath.Join(dir, "prometheus.yml"),
			"--storage.tsdb.path=" + filepath.Join(dir, "data"),
			"--web.listen-address=" + addr,
			// Retention is measured back from the newest block, but the
			// default of 15 days would still drop longer backfills.
			"--storage.tsdb.retention.time=100y",
		}
	},
}

// StartVictoriaMetrics starts a single-node VictoriaMetrics, imports the
// given series and flushes them, so that they are queryable when it returns.
func StartVictoriaMetrics(t testing.TB, backfill ...Series) *Server {
	t.Helper()
	s := newServer(t, victoriaMetrics)
	s.start(t)
	if len(backfill) > 0 {
		s.Append(t, backfill...)
	}
	return s
}

// StartPrometheus writes the given series into TSDB blocks with promtool
// and then starts Prometheus on them. Prometheus scrapes nothing: its head is
// empty, so every sample comes from the backfilled blocks.
func StartPrometheus(t testing.TB, backfill ...Series) *Server {
	t.Helper()
	s := newServer(t, prometheus)
	// No scrape configuration: the test decides every sample.
	if err := os.WriteFile(filepath.Join(s.dir, "prometheus.yml"), []byte("global: {}\n"), 0o600); err != nil {
		t.Fatalf("write Prometheus configuration: %v", err)
	}
	if len(backfill) > 0 {
		s.createBlocks(t, backfill)
	}
	s.start(t)
	return s
}

func newServer(t testing.TB, f flavor) *Server {
	t.Helper()
	requireBinary(t, f.binary, f.debian)
	if f.binary == prometheus.binary {
		requireBinary(t, "promtool", f.debian)
	}
	// TempDir's removal is registered before Stop, so it runs after it.
	s := &Server{flavor: f, dir: t.TempDir()}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("%s log (last lines):\n%s", f.name, s.logTail(40))
		}
		s.Stop()
	})
	return s
}

// requireBinary fails the test, with the command that installs it, if
// binary is not on the PATH.
func requireBinary(t testing.TB, binary, debian string) {
	t.Helper()
	if _, err := exec.LookPath(binary); err != nil {
		t.Fatalf("%s is not installed (%v): install it with `apt-get install -y %s`, or run `make test-deps` as root", binary, err, debian)
	}
}

// Stop stops the server: SIGTERM, then SIGKILL if it has not exited within
// 10 seconds. It returns once the process has exited. Stop is idempotent and
// may be called mid-test to make the database unreachable; Restart brings it
// back with its data.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopLocked()
}

func (s *Server) stopLocked() {
	if s.cmd == nil {
		return
	}
	select {
	case <-s.done:
	default:
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.done:
		case <-time.After(stopTimeout):
			_ = s.cmd.Process.Kill()
			<-s.done
		}
	}
	s.cmd = nil
}

// Restart stops the server if it is running and starts it again on the same
// address with the same data. A failure fails t.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.Stop()
	s.start(t)
}

// Append adds samples to the server. VictoriaMetrics imports them through
// /api/v1/import/prometheus, in any time order, and flushes them so that
// they are queryable at once. Prometheus has no import API (remote write
// aside, and its head refuses samples older than the ones it holds), so for
// it Append writes new blocks with promtool and restarts the server (0.1-1 s;
// the URL stays the same); Prometheus 2.39 and later merge overlapping blocks
// at query time. A failure fails t: pass the test (or subtest) whose
// goroutine calls Append.
func (s *Server) Append(t testing.TB, series ...Series) {
	t.Helper()
	if s.backend != nil {
		s.backend.Append(t, series...)
		return
	}
	if s.flavor.binary == prometheus.binary {
		s.Stop()
		s.createBlocks(t, series)
		s.start(t)
		return
	}
	var body bytes.Buffer
	for _, x := range series {
		writePrometheusText(&body, x)
	}
	s.post(t, "/api/v1/import/prometheus", "text/plain", &body)
	s.post(t, "/internal/force_flush", "", nil)
}

func (s *Server) post(t testing.TB, path, contentType string, body io.Reader) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL+path, body)
	if err != nil {
		t.Fatalf("%s %s: %v", s.flavor.name, path, err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", s.flavor.name, path, err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode/100 != 2 {
		t.Fatalf("%s %s: %s: %s", s.flavor.name, path, resp.Status, msg)
	}
}

// createBlocks writes series as OpenMetrics text and turns it into TSDB
// blocks in Prometheus's storage directory. Blocks are cut at 48h rather than
// promtool's 2h: a week then makes a handful of blocks instead of 85, which
// is three times faster to write and to open.
func (s *Server) createBlocks(t testing.TB, series []Series) {
	t.Helper()
	f, err := os.CreateTemp(s.dir, "backfill-*.om")
	if err != nil {
		t.Fatalf("create OpenMetrics file: %v", err)
	}
	w := bufio.NewWriter(f)
	writeOpenMetrics(w, series)
	if err := errors.Join(w.Flush(), f.Close()); err != nil {
		t.Fatalf("write OpenMetrics file: %v", err)
	}
	out, err := exec.Command("promtool", "tsdb", "create-blocks-from", "openmetrics",
		"--quiet", "--max-block-duration=48h", f.Name(), filepath.Join(s.dir, "data")).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool tsdb create-blocks-from openmetrics %s: %v\n%s", f.Name(), err, out)
	}
}

// start starts the process and waits until it is ready. A first start picks
// a free port, and another if the port was taken between the pick and the
// bind; a restart keeps its address.
func (s *Server) start(t testing.TB) {
	t.Helper()
	restart := s.addr != ""
	for attempt := 1; ; attempt++ {
		if !restart {
			s.addr = freeAddr(t)
		}
		logged := s.logSize()
		err := s.startOnce()
		if err == nil {
			s.URL = "http://" + s.addr
			return
		}
		portTaken := strings.Contains(s.logSince(logged), "address already in use")
		if restart || !portTaken || attempt == 3 {
			t.Fatalf("start %s on %s: %v\n%s log (last lines):\n%s", s.flavor.name, s.addr, err, s.flavor.name, s.logTail(40))
		}
	}
}

func (s *Server) startOnce() error {
	log, err := os.OpenFile(s.logPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("open log: %w", err)
	}
	cmd := exec.Command(s.flavor.binary, s.flavor.args(s.dir, s.addr)...)
	cmd.Stdout = log
	cmd.Stderr = log
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		log.Close()
		return fmt.Errorf("run %s: %w", s.flavor.binary, err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		log.Close()
		close(done)
	}()
	s.mu.Lock()
	s.cmd, s.done = cmd, done
	s.mu.Unlock()

	if err := waitReady(done, "http://"+s.addr+s.flavor.readyPath); err != nil {
		s.Stop()
		return err
	}
	return nil
}

// waitReady polls url until it answers 200, the process exits or the
// deadline passes.
func waitReady(exited <-chan struct{}, url string) error {
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	client := &http.Client{Timeout: time.Second}
	poll := 5 * time.Millisecond
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		if resp, err := client.Do(req); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-exited:
			return errors.New("the process exited before it was ready")
		case <-ctx.Done():
			return fmt.Errorf("not ready within %v: %s did not answer 200", readyTimeout, url)
		case <-time.After(poll):
			poll = min(2*poll, 100*time.Millisecond)
		}
	}
}

func (s *Server) logPath() string { return filepath.Join(s.dir, "server.log") }

// logTail returns the last n lines of the server's log.
func (s *Server) logTail(n int) string {
	lines := strings.Split(strings.TrimRight(s.logSince(0), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// logSince returns the log from byte offset on.
func (s *Server) logSince(offset int64) string {
	b, err := os.ReadFile(s.logPath())
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	return string(b[min(offset, int64(len(b))):])
}

func (s *Server) logSize() int64 {
	fi, err := os.Stat(s.logPath())
	if err != nil {
		return 0
	}
	return fi.Size()
}

// freeAddr returns a loopback address with a port that was free a moment ago.
func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free loopback port: %v", err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatalf("find a free loopback port: %v", err)
	}
	return addr
}

// formatValue formats v as both exposition formats spell it (NaN, +Inf, -Inf).
func formatValue(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
