package main

import (
	"encoding/csv"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const anomalyTrace = "testdata/anomaly/trace-101-0-4d.csv.gz"

func readScores(t *testing.T, out string) [][]string {
	t.Helper()
	rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil {
		t.Fatalf("output is not CSV: %v", err)
	}
	return rows
}

func TestAnomalyScore(t *testing.T) {
	r := runArgs("anomaly", "score", "--input", anomalyTrace)
	if r.code != 0 {
		t.Fatal(r)
	}
	rows := readScores(t, r.stdout)
	if got := strings.Join(rows[0], ","); got != "timestamp,value,anomaly_score,yhat,yhat_lower,yhat_upper" {
		t.Fatalf("header %q", got)
	}
	if len(rows) != 5761 {
		t.Fatalf("%d rows, want 5760 and the header", len(rows)-1)
	}
	if rows[1][0] != "2026-03-02 00:00:00" {
		t.Errorf("first timestamp %q: the input's style should be kept", rows[1][0])
	}
	// The flash crowd of rows [4297, 4356) scores above 1 within its first
	// three rows (it ramps up), and scores stay high while it lasts.
	found := false
	for i := 4297; i < 4300; i++ {
		if s, _ := strconv.ParseFloat(rows[1+i][2], 64); s > 1 {
			found = true
		}
	}
	if !found {
		t.Errorf("the flash crowd's first rows score %v, want one > 1", rows[1+4297:1+4300])
	}
	// Inside the band the score is at most 1; the band contains yhat.
	for _, row := range rows[1+1000 : 1+1100] {
		v, _ := strconv.ParseFloat(row[1], 64)
		s, _ := strconv.ParseFloat(row[2], 64)
		lo, _ := strconv.ParseFloat(row[4], 64)
		hi, _ := strconv.ParseFloat(row[5], 64)
		if (v >= lo && v <= hi) != (s <= 1) {
			t.Fatalf("row %v: the score and the band disagree", row)
		}
	}
}

// TestAnomalyScoreIsCausal checks that a row's score depends only on the
// rows before it: scoring the first 3000 rows alone gives the same scores.
func TestAnomalyScoreIsCausal(t *testing.T) {
	full := runArgs("anomaly", "score", "--input", anomalyTrace, "--format", "nab")
	if full.code != 0 {
		t.Fatal(full)
	}
	lines := strings.SplitAfter(full.stdout, "\n")
	var in strings.Builder
	in.WriteString("timestamp,value\n")
	for _, l := range lines[1:3001] {
		f := strings.Split(l, ",")
		in.WriteString(f[0] + "," + f[1] + "\n")
	}
	part := runWith(t.Context(), in.String(), "anomaly", "score", "--input", "-", "--format", "nab")
	if part.code != 0 {
		t.Fatal(part)
	}
	if want := strings.Join(lines[:3001], ""); part.stdout != want {
		t.Error("the scores of the first 3000 rows change when later rows are added: the scoring is not causal")
	}
	for _, row := range readScores(t, full.stdout)[1:] {
		if s, _ := strconv.ParseFloat(row[2], 64); !(s >= 0 && s < 1) {
			t.Fatalf("NAB score %g outside [0, 1)", s)
		}
	}
}

func TestAnomalyEvaluate(t *testing.T) {
	// --window applies to rolling_quantile only: accepted, as one of the
	// models takes it.
	r := runArgs("anomaly", "evaluate", "--input", "testdata/anomaly", "--labels", "testdata/anomaly/labels.json",
		"--model", "holtwinters,rolling_quantile", "--window", "1h", "-v")
	if r.code != 0 {
		t.Fatal(r)
	}
	for _, want := range []string{
		"model             standard  reward_low_FP_rate  reward_low_FN_rate",
		"holtwinters standard:", "windows found 1 missed 0",
		"  trace-101-0-4d.csv.gz: raw",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("want %q in the output:\n%s", want, r)
		}
	}
	// The default detector finds the flash crowd early and nothing else.
	for _, line := range strings.Split(r.stdout, "\n") {
		if f := strings.Fields(line); len(f) == 4 && f[0] == "holtwinters" {
			if s, _ := strconv.ParseFloat(f[1], 64); !(s > 80) {
				t.Errorf("holtwinters standard score %g, want above 80 on this trace", s)
			}
		}
	}
}

func TestAnomalyUsageErrors(t *testing.T) {
	dir := t.TempDir()
	labels := filepath.Join(dir, "labels.json")
	if err := os.WriteFile(labels, []byte(`{"other.csv": []}`), 0o600); err != nil {
		t.Fatal(err)
	}
	// One labelled file present, one not: the evaluation must not go on
	// without it.
	partial := filepath.Join(dir, "partial.json")
	if err := os.WriteFile(partial, []byte(`{"trace-101-0-4d.csv.gz": {"flash_crowds": [[4297, 4356]]}, "sub/missing-trace.csv": []}`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"anomaly"}, 2, "give a subcommand"},
		{[]string{"anomaly", "detect"}, 2, "unknown subcommand"},
		{[]string{"anomaly", "score"}, 2, "--input is required"},
		{[]string{"anomaly", "score", "--input", anomalyTrace, "--model", "prophet"}, 2, "--model \"prophet\""},
		{[]string{"anomaly", "score", "--input", anomalyTrace, "--format", "json"}, 2, "use csv or nab"},
		{[]string{"anomaly", "score", "--input", anomalyTrace, "--direction", "up"}, 2, "detection direction"},
		{[]string{"anomaly", "score", "--input", anomalyTrace, "--model", "zscore", "--window", "90s"}, 2, "whole number of steps"},
		// Flags the chosen model does not take are refused, not ignored.
		{[]string{"anomaly", "score", "--input", anomalyTrace, "--model", "holtwinters", "--window", "1h"}, 2, "--window applies to zscore, mad, rolling_quantile, not holtwinters"},
		{[]string{"anomaly", "score", "--input", anomalyTrace, "--threshold", "4"}, 2, "--threshold applies to zscore, mad, not holtwinters"},
		{[]string{"anomaly", "score", "--input", anomalyTrace, "--model", "zscore", "--season", "1d"}, 2, "--season applies to holtwinters, not zscore"},
		{[]string{"anomaly", "score", "--input", anomalyTrace, "--model", "mad", "--quantile", "0.9"}, 2, "--quantile applies to rolling_quantile, holtwinters, not mad"},
		{[]string{"anomaly", "score", "--input", anomalyTrace, "--model", "rolling_quantile", "--threshold", "2"}, 2, "--threshold applies to zscore, mad, not rolling_quantile"},
		{[]string{"anomaly", "evaluate", "--input", "testdata/anomaly", "--labels", "testdata/anomaly/labels.json", "--model", "holtwinters", "--window", "2h"}, 2, "--window applies to"},
		{[]string{"anomaly", "evaluate", "--input", "testdata/anomaly"}, 2, "--labels is required"},
		{[]string{"anomaly", "evaluate", "--input", "testdata/anomaly", "--labels", labels}, 1, "no CSV file under testdata/anomaly is named in the labels"},
		{[]string{"anomaly", "evaluate", "--input", "testdata/anomaly", "--labels", partial}, 1, "1 of the 2 files the labels name are not under testdata/anomaly: sub/missing-trace.csv: put them there"},
	} {
		r := runArgs(c.args...)
		if r.code != c.code || !strings.Contains(r.stderr, c.want) {
			t.Errorf("%v: want exit %d and %q, got %s", c.args, c.code, c.want, r)
		}
	}
}

func TestRulesCommand(t *testing.T) {
	r := runArgs("rules", "--spec", "../../anomaly/rules/testdata/floors.yaml", "--format", "prometheusrule")
	if r.code != 0 {
		t.Fatal(r)
	}
	for _, want := range []string{"kind: PrometheusRule", "record: test:flat:value:zscore_1h", "alert: JumpFloored"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("want %q in:\n%s", want, r.stdout)
		}
	}
	spec := filepath.Join(t.TempDir(), "spec.yaml")
	if err := os.WriteFile(spec, []byte("baselines:\n  - {alert: A, record: a, expr: a, min_stddev: 1, treshold: 3}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := runArgs("rules", "--spec", spec); r.code != 1 || !strings.Contains(r.stderr, "treshold") {
		t.Errorf("an unknown key must be named: %s", r)
	}
	if r := runArgs("rules"); r.code != 2 {
		t.Errorf("no spec: %s", r)
	}
}
