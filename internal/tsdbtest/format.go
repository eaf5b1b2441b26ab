package tsdbtest

import (
	"cmp"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/foresight-aiops/foresight/forecast"
)

// writeOpenMetrics writes series in the OpenMetrics text format that
// `promtool tsdb create-blocks-from openmetrics` reads: the samples of a
// metric family together (OpenMetrics forbids interleaving families), each
// series in time order (the TSDB appender refuses out-of-order samples),
// timestamps in seconds, and the closing "# EOF".
func writeOpenMetrics(w io.Writer, series []Series) {
	sorted := slices.Clone(series)
	slices.SortStableFunc(sorted, func(a, b Series) int { return cmp.Compare(a.Metric, b.Metric) })
	for _, x := range sorted {
		id := x.Metric + formatLabels(x.Labels)
		for _, p := range sortedSamples(x.Samples) {
			ms := p.T.UnixMilli()
			fmt.Fprintf(w, "%s %s %d.%03d\n", id, formatValue(p.V), ms/1000, ms%1000)
		}
	}
	fmt.Fprintln(w, "# EOF")
}

// writePrometheusText writes x in the Prometheus text format with
// millisecond timestamps, as VictoriaMetrics' /api/v1/import/prometheus
// reads it. VictoriaMetrics drops NaN values on import.
func writePrometheusText(w io.Writer, x Series) {
	id := x.Metric + formatLabels(x.Labels)
	for _, p := range sortedSamples(x.Samples) {
		fmt.Fprintf(w, "%s %s %d\n", id, formatValue(p.V), p.T.UnixMilli())
	}
}

func sortedSamples(samples []forecast.Sample) []forecast.Sample {
	s := slices.Clone(samples)
	slices.SortStableFunc(s, func(a, b forecast.Sample) int { return a.T.Compare(b.T) })
	return s
}

// formatLabels returns {a="1",b="2"} with names sorted and values escaped,
// or "" for no labels.
func formatLabels(labels map[string]string) string {
	if len(labels) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteByte('{')
	for i, name := range slices.Sorted(maps.Keys(labels)) {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(name)
		b.WriteString(`="`)
		b.WriteString(labelEscaper.Replace(labels[name]))
		b.WriteByte('"')
	}
	b.WriteByte('}')
	return b.String()
}

var labelEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
