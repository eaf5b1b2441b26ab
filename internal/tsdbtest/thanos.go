package tsdbtest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// EnvThanos names the Thanos binary to run; when unset, StartThanos builds
// (once, cached) the release pinned in thanos/go.mod with thanos/build.sh.
const EnvThanos = "FORESIGHT_THANOS"

var thanosBinary = sync.OnceValues(func() (string, error) {
	if b := os.Getenv(EnvThanos); b != "" {
		return b, nil
	}
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", fmt.Errorf("cannot locate thanos/build.sh: set %s to a thanos binary", EnvThanos)
	}
	script := filepath.Join(filepath.Dir(file), "thanos", "build.sh")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, script)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("build Thanos with %s: %w (or set %s to a thanos binary)", script, err, EnvThanos)
	}
	return strings.TrimSpace(string(out)), nil
})

// StartThanos starts what a Thanos user queries: Prometheus (from Debian,
// history backfilled as by StartPrometheus, with the external labels
// Thanos requires), a Thanos sidecar beside it, and a Thanos querier that
// reaches Prometheus only through the sidecar's Store API. The returned
// server is the querier; Append writes into Prometheus, and Stop stops the
// querier (the datasource outage a client sees).
//
// Thanos is not packaged by Debian: the binary is built from the module in
// thanos/ (about 5 minutes once, cached; `make test-deps` does it first).
func StartThanos(t testing.TB, backfill ...Series) *Server {
	t.Helper()
	bin, err := thanosBinary()
	if err != nil {
		t.Fatal(err)
	}
	prom := newServer(t, prometheus)
	cfg := "global:\n  external_labels:\n    cluster: test\n    replica: a\n"
	if err := os.WriteFile(filepath.Join(prom.dir, "prometheus.yml"), []byte(cfg), 0o600); err != nil {
		t.Fatalf("write Prometheus configuration: %v", err)
	}
	if len(backfill) > 0 {
		prom.createBlocks(t, backfill)
	}
	prom.start(t)

	sidecarGRPC := freeAddr(t)
	sidecar := &Server{dir: t.TempDir(), flavor: flavor{
		name: "Thanos sidecar", binary: bin, readyPath: "/-/ready",
		args: func(_, addr string) []string {
			return []string{
				"sidecar", "--http-address=" + addr, "--grpc-address=" + sidecarGRPC,
				"--prometheus.url=" + prom.URL, "--tsdb.path=" + filepath.Join(prom.dir, "data"), "--log.level=warn",
			}
		},
	}}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("Thanos sidecar log (last lines):\n%s", sidecar.logTail(40))
		}
		sidecar.Stop()
	})
	sidecar.start(t)

	q := &Server{dir: t.TempDir(), backend: prom, flavor: flavor{
		name: "Thanos querier", binary: bin, readyPath: "/-/ready",
		args: func(_, addr string) []string {
			return []string{
				"query", "--http-address=" + addr, "--grpc-address=" + freeAddr(t),
				"--endpoint=" + sidecarGRPC, "--query.replica-label=replica", "--log.level=warn",
			}
		},
	}}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("Thanos querier log (last lines):\n%s", q.logTail(40))
		}
		q.Stop()
	})
	q.start(t)
	if err := waitStore(q.URL); err != nil {
		t.Fatalf("Thanos querier: %v\nsidecar log:\n%s", err, sidecar.logTail(20))
	}
	return q
}

// waitStore waits until the querier lists the sidecar among its stores:
// /-/ready answers before the first store is connected.
func waitStore(base string) error {
	deadline := time.Now().Add(readyTimeout)
	for {
		resp, err := http.Get(base + "/api/v1/stores")
		if err == nil {
			var r struct {
				Data map[string][]json.RawMessage `json:"data"`
			}
			err = json.NewDecoder(resp.Body).Decode(&r)
			resp.Body.Close()
			for _, stores := range r.Data {
				if len(stores) > 0 {
					return nil
				}
			}
		}
		if time.Now().After(deadline) {
			if err != nil {
				return fmt.Errorf("no store connected within %v: %w", readyTimeout, err)
			}
			return fmt.Errorf("no store connected within %v", readyTimeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
