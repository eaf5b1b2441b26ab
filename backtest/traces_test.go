package backtest

import (
	"path/filepath"
	"testing"

	"github.com/foresight-aiops/foresight/csvseries"
	"github.com/foresight-aiops/foresight/forecast"
)

// traceDir holds the shared traces (see its README and NOTICE).
const traceDir = "../testdata/traces"

// Traces whose daily seasonality the accuracy and scaling targets are
// stated for, and the ones without.
var (
	seasonalTraces = []string{
		"crane-cpu-0.csv.gz", "crane-cpu-2.csv.gz", "crane-cpu-8.csv.gz", "crane-cpu-9.csv.gz",
		"synthetic-trace-101-0.csv.gz", "synthetic-trace-101-1.csv.gz", "synthetic-trace-102-0.csv.gz", "synthetic-trace-102-1.csv.gz",
	}
	otherTraces = []string{"crane-cpu-1.csv.gz", "crane-cpu-3.csv.gz", "crane-cpu-4.csv.gz", "crane-cpu-5.csv.gz"}
)

func loadTrace(t testing.TB, name string) forecast.Series {
	t.Helper()
	d, err := csvseries.ReadFile(filepath.Join(traceDir, name))
	if err != nil {
		t.Fatal(err)
	}
	s, rep, err := forecast.Align(d.Samples, 0)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Irregular() || rep.Missing > 0 {
		t.Fatalf("%s: expected a regular trace, got %+v", name, rep)
	}
	return s
}
