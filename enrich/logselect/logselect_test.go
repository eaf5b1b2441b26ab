package logselect

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

type incident struct{ name, decisive string }

func loadIncidents(t testing.TB) []incident {
	b, err := os.ReadFile(filepath.Join("testdata", "incidents.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	var out []incident
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if strings.HasPrefix(l, "#") {
			continue
		}
		name, line, ok := strings.Cut(l, "\t")
		if !ok {
			t.Fatalf("incidents.tsv: no tab in %q", l)
		}
		out = append(out, incident{name, line})
	}
	return out
}

var words = strings.Fields("order customer cart session cache shard replica worker queue batch invoice payment user token refresh sync index render route template upstream downstream ledger account region bucket stream partition consumer producer")

// noisyLog builds n lines of service noise with the decisive line planted
// once at a position drawn from rng: access logs (which fold), varied info
// lines (which do not), and a share of distractor lines that look like
// evidence (errors that are not the cause): 70% generic error lines, 30%
// transient failures that match the strong patterns.
func noisyLog(rng *rand.Rand, n int, decisive string, distractorShare float64) ([]string, int) {
	pos := rng.IntN(n)
	lines := make([]string, 0, n+1)
	for i := range n {
		if i == pos {
			lines = append(lines, "2026-08-22T10:00:00Z "+decisive)
		}
		ts := fmt.Sprintf("2026-08-22T10:%02d:%02d.%03dZ", i/3600%60, i/60%60, i%1000)
		w1, w2, w3 := words[rng.IntN(len(words))], words[rng.IntN(len(words))], words[rng.IntN(len(words))]
		switch r := rng.Float64(); {
		case r < distractorShare*0.7:
			lines = append(lines, fmt.Sprintf("%s level=error msg=\"%s %s request aborted by client\" %s=%d", ts, w1, w2, w3, rng.IntN(1000)))
		case r < distractorShare:
			// Strong-looking noise: transient failures that are not the cause.
			lines = append(lines, fmt.Sprintf("%s level=warn msg=\"failed to refresh %s %s cache, will retry\" %s=%d", ts, w1, w2, w3, rng.IntN(1000)))
		case r < 0.45:
			lines = append(lines, fmt.Sprintf("%s 10.0.%d.%d - - \"GET /api/v1/%s/%d HTTP/1.1\" 200 %d", ts, rng.IntN(255), rng.IntN(255), w1, rng.IntN(1e6), rng.IntN(5000)))
		case r < 0.6:
			lines = append(lines, ts+" level=debug msg=\"heartbeat\" goroutines=42")
		default:
			lines = append(lines, fmt.Sprintf("%s level=info msg=\"%s %s %s complete\" took=%dms", ts, w1, w2, w3, rng.IntN(900)))
		}
	}
	return lines, pos
}

// TestDecisiveLineSurvives is the corpus measurement: for each incident,
// 3,000 noisy lines with one decisive line, does the decisive line survive
// a 4,000-token budget? The target is at least 95% of cases; a tail of 50
// or 100 lines is reported for comparison.
func TestDecisiveLineSurvives(t *testing.T) {
	incidents := loadIncidents(t)
	if len(incidents) < 30 {
		t.Fatalf("corpus has %d incidents, want at least 30", len(incidents))
	}
	for _, share := range []float64{0.02, 0.05} {
		rng := rand.New(rand.NewPCG(1, 1))
		kept, tail50, tail100 := 0, 0, 0
		for _, inc := range incidents {
			lines, _ := noisyLog(rng, 3000, inc.decisive, share)
			out := Select(lines, 4000, Options{}).String()
			if EstimateTokens(out) > 4000 {
				t.Errorf("%s: selection of %d tokens exceeds the budget", inc.name, EstimateTokens(out))
			}
			if strings.Contains(out, inc.decisive) {
				kept++
			} else if share == 0.02 {
				t.Logf("%s: decisive line lost", inc.name)
			}
			if strings.Contains(strings.Join(lines[len(lines)-50:], "\n"), inc.decisive) {
				tail50++
			}
			if strings.Contains(strings.Join(lines[len(lines)-100:], "\n"), inc.decisive) {
				tail100++
			}
		}
		n := float64(len(incidents))
		t.Logf("distractor share %.0f%%: decisive line kept in %d/%d (%.0f%%); tail-50 %d/%d (%.0f%%); tail-100 %d/%d (%.0f%%)",
			100*share, kept, len(incidents), 100*float64(kept)/n, tail50, len(incidents), 100*float64(tail50)/n, tail100, len(incidents), 100*float64(tail100)/n)
		if share == 0.02 && float64(kept) < 0.95*n {
			t.Errorf("decisive line kept in %d of %d cases, below the 95%% target", kept, len(incidents))
		}
	}
}

func TestFoldAndOrder(t *testing.T) {
	lines := []string{
		"starting server v1.2",
		"GET /a 200 12ms",
		"GET /b 200 13ms",
		"GET /a 200 99ms",
		"dial tcp 10.0.0.1:5432: connect: connection refused",
		"GET /a 200 1ms",
		"shutting down",
	}
	out := Select(lines, 1000, Options{}).String()
	want := "starting server v1.2\nGET /a 200 12ms (repeated 3 times)\nGET /b 200 13ms\ndial tcp 10.0.0.1:5432: connect: connection refused\nshutting down\n"
	if out != want {
		t.Errorf("got\n%s\nwant\n%s", out, want)
	}
	// With room for one line only, the evidence wins.
	one := Select(lines, 45, Options{}).String()
	if !strings.Contains(one, "connection refused") || strings.Count(one, "\n") != 3 {
		t.Errorf("budget of one line kept:\n%s", one)
	}
}

func BenchmarkSelect(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 1))
	lines, _ := noisyLog(rng, 5000, "panic: boom", 0.02)
	b.ResetTimer()
	for b.Loop() {
		Select(lines, 4000, Options{})
	}
}
