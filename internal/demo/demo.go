// Package demo holds the trace that `foresight backtest` replays when no
// input is given, so that a newcomer sees the whole idea with one command.
package demo

import (
	"bytes"
	"compress/gzip"
	_ "embed"
	"fmt"

	"github.com/foresight-aiops/foresight/csvseries"
)

//go:embed request-rate.csv.gz
var requestRate []byte

// Name describes the embedded trace.
const Name = "embedded demo trace: synthetic request rate (req/s), 10 days at 1 minute, with an outage and its retry surge on day 10"

// Capacity is the load one replica serves in the demo.
const Capacity = 50

// Trace returns the embedded trace.
func Trace() (csvseries.Data, error) {
	gz, err := gzip.NewReader(bytes.NewReader(requestRate))
	if err != nil {
		return csvseries.Data{}, fmt.Errorf("embedded demo trace: %w", err)
	}
	defer gz.Close()
	return csvseries.Read(gz, "embedded demo trace")
}
