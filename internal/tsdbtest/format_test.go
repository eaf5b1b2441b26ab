package tsdbtest

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/foresight-aiops/foresight/forecast"
)

func TestWriteOpenMetrics(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	tests := []struct {
		name   string
		series []Series
		want   string
	}{
		{
			name: "samples sorted, values spelled as OpenMetrics does",
			series: []Series{{
				Metric: "load",
				Labels: map[string]string{"job": "api", "env": `a"b\c`},
				Samples: []forecast.Sample{
					{T: t0.Add(time.Minute), V: math.NaN()},
					{T: t0, V: 1.5},
					{T: t0.Add(2*time.Minute + 250*time.Millisecond), V: math.Inf(1)},
				},
			}},
			want: `load{env="a\"b\\c",job="api"} 1.5 1700000000.000
load{env="a\"b\\c",job="api"} NaN 1700000060.000
load{env="a\"b\\c",job="api"} +Inf 1700000120.250
# EOF
`,
		},
		{
			name: "families kept together",
			series: []Series{
				{Metric: "b", Samples: []forecast.Sample{{T: t0, V: 1}}},
				{Metric: "a", Labels: map[string]string{"x": "1"}, Samples: []forecast.Sample{{T: t0, V: 2}}},
				{Metric: "b", Labels: map[string]string{"x": "2"}, Samples: []forecast.Sample{{T: t0, V: 3}}},
			},
			want: `a{x="1"} 2 1700000000.000
b 1 1700000000.000
b{x="2"} 3 1700000000.000
# EOF
`,
		},
		{name: "nothing", want: "# EOF\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			writeOpenMetrics(&b, tt.series)
			if got := b.String(); got != tt.want {
				t.Errorf("got\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

func TestWritePrometheusText(t *testing.T) {
	t0 := time.UnixMilli(1_700_000_000_123)
	var b strings.Builder
	writePrometheusText(&b, Series{
		Metric:  "load",
		Labels:  map[string]string{"job": "api"},
		Samples: []forecast.Sample{{T: t0.Add(time.Second), V: -2}, {T: t0, V: 1e-9}},
	})
	want := "load{job=\"api\"} 1e-09 1700000000123\nload{job=\"api\"} -2 1700000001123\n"
	if got := b.String(); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}
