package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// result is what one call of run left behind.
type result struct {
	code           int
	stdout, stderr string
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\n--- stdout:\n%s\n--- stderr:\n%s", r.code, r.stdout, r.stderr)
}

// runWith calls run as the binary would, with stdin as standard input.
func runWith(ctx context.Context, stdin string, args ...string) result {
	var stdout, stderr bytes.Buffer
	code := run(ctx, args, strings.NewReader(stdin), &stdout, &stderr)
	return result{code, stdout.String(), stderr.String()}
}

func runArgs(args ...string) result { return runWith(context.Background(), "", args...) }

// checkStream fails unless out contains every string in want, or, when want
// is empty, unless out is empty.
func checkStream(t *testing.T, name, out string, want []string, r result) {
	t.Helper()
	if len(want) == 0 && out != "" {
		t.Errorf("%s: want nothing, got:\n%s", name, r)
	}
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("%s: want %q in it, got:\n%s", name, w, r)
		}
	}
}

// The generated input series: one value a minute from seriesStart, an
// hourly cycle 100 + 30 sin(2πi/60) plus a deterministic wobble in [-5, 5]
// (i·7919 mod 11 − 5), so that no RNG is involved.
var seriesStart = time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)

const seriesLen = 1440 // a day

// Timestamp styles of the input, as the output should repeat them.
var (
	unixStyle     = func(t time.Time) string { return strconv.FormatInt(t.Unix(), 10) }
	dateTimeStyle = func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05") }
	rfc3339Style  = func(t time.Time) string { return t.UTC().Format(time.RFC3339) }
)

// seriesCSV returns the generated series as a CSV with a header line and
// timestamps written by style.
func seriesCSV(style func(time.Time) string) string {
	var b strings.Builder
	b.WriteString("timestamp,value\n")
	for i := range seriesLen {
		v := 100 + 30*math.Sin(2*math.Pi*float64(i)/60) + float64(i*7919%11-5)
		fmt.Fprintf(&b, "%s,%.3f\n", style(seriesStart.Add(time.Duration(i)*time.Minute)), v)
	}
	return b.String()
}

// writeTemp writes content to a file called name in a new temporary
// directory, gzip-compressed when name ends in .gz, and returns its path.
func writeTemp(t *testing.T, name, content string) string {
	t.Helper()
	var b bytes.Buffer
	if strings.HasSuffix(name, ".gz") {
		zw := gzip.NewWriter(&b)
		if _, err := zw.Write([]byte(content)); err != nil {
			t.Fatal(err)
		}
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
	} else {
		b.WriteString(content)
	}
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestRunCommands(t *testing.T) {
	for _, tc := range []struct {
		name     string
		args     []string
		wantCode int
		// Strings each stream must contain; none means it must be empty.
		wantStdout, wantStderr []string
	}{
		{"no arguments", nil, 2, nil, []string{"Usage:\n  foresight <command> [flags]", "backtest", "forecast"}},
		{"help", []string{"help"}, 0, []string{"Usage:\n  foresight <command> [flags]", "Commands:"}, nil},
		{"-h", []string{"-h"}, 0, []string{"Usage:\n  foresight <command> [flags]"}, nil},
		{"--help", []string{"--help"}, 0, []string{"Usage:\n  foresight <command> [flags]", "Commands:"}, nil},
		{"version", []string{"version"}, 0, []string{"foresight " + version() + "\n"}, nil},
		{"--version", []string{"--version"}, 0, []string{"foresight " + version() + "\n"}, nil},
		{"unknown command", []string{"frobnicate", "--input", "x.csv"}, 2, nil, []string{`unknown command "frobnicate"`, "Usage:"}},
		{"flag before the command", []string{"--input", "x.csv", "forecast"}, 2, nil, []string{`unknown command "--input"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runArgs(tc.args...)
			if r.code != tc.wantCode {
				t.Errorf("exit code %d, want %d:\n%s", r.code, tc.wantCode, r)
			}
			checkStream(t, "stdout", r.stdout, tc.wantStdout, r)
			checkStream(t, "stderr", r.stderr, tc.wantStderr, r)
		})
	}
}

func TestSubcommandHelp(t *testing.T) {
	for _, args := range [][]string{
		{"forecast", "--help"},
		{"forecast", "-h"},
		{"forecast", "--horizon", "2h", "--help"},
		{"backtest", "--help"},
		{"backtest", "-help"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			r := runArgs(args...)
			if r.code != 0 {
				t.Errorf("exit code %d, want 0:\n%s", r.code, r)
			}
			checkStream(t, "stdout", r.stdout, []string{"Usage: foresight " + args[0], "Examples:\n", "Flags:\n", "-input file"}, r)
			checkStream(t, "stderr", r.stderr, nil, r)
			// The flag package calls Usage on --help by itself too.
			if n := strings.Count(r.stdout, "Examples:"); n != 1 {
				t.Errorf("help printed %d times, want once:\n%s", n, r)
			}
		})
	}
}

func TestForecastUsageErrors(t *testing.T) {
	input := writeTemp(t, "in.csv", seriesCSV(unixStyle))
	for _, tc := range []struct {
		name string
		args []string // after "forecast"
		want []string // in stderr
	}{
		{"no input", nil, []string{"--input is required"}},
		{"empty input", []string{"--input", ""}, []string{"--input is required"}},
		{"unparsable season", []string{"--input", input, "--season", "7x"}, []string{`season "7x"`, "use auto, none, or periods such as 1d"}},
		{"three seasons", []string{"--input", input, "--season", "1h,1d,1w"}, []string{"at most two periods"}},
		{"season off the step", []string{"--input", input, "--season", "90s"}, []string{"1m30s is not a whole number of 1m0s steps"}},
		{"quantile above 1", []string{"--input", input, "--quantile", "1.5"}, []string{"--quantile 1.5: must be in (0.5, 1)"}},
		{"quantile of 1", []string{"--input", input, "--quantile", "1"}, []string{"--quantile 1: must be in (0.5, 1)"}},
		{"quantile of 0.5", []string{"--input", input, "--quantile", "0.5"}, []string{"--quantile 0.5: must be in (0.5, 1)"}},
		{"quantile NaN", []string{"--input", input, "--quantile", "NaN"}, []string{"must be in (0.5, 1)"}},
		{"quantile not a number", []string{"--input", input, "--quantile", "high"}, []string{`invalid value "high" for flag -quantile`}},
		{"format", []string{"--input", input, "--format", "xml"}, []string{`--format "xml": use csv or json`}},
		{"exclude without a slash", []string{"--input", input, "--exclude", "2026-03-02T12:00:00Z"}, []string{"expected START/END in RFC 3339"}},
		{"exclude not RFC 3339", []string{"--input", input, "--exclude", "2026-03-02 12:00/2026-03-02 13:00"}, []string{"-exclude", "start"}},
		{"exclude backwards", []string{"--input", input, "--exclude", "2026-03-02T13:00:00Z/2026-03-02T12:00:00Z"}, []string{"the end must be after the start"}},
		{"zero horizon", []string{"--input", input, "--horizon", "0"}, []string{"--horizon must be positive"}},
		{"negative horizon", []string{"--input", input, "--horizon", "-1h"}, []string{"--horizon must be positive"}},
		{"horizon without a unit", []string{"--input", input, "--horizon", "60"}, []string{`invalid value "60" for flag -horizon`, "use units such as"}},
		{"positional argument", []string{"--input", input, "extra"}, []string{`unexpected argument "extra" (flags start with --)`}},
		{"file as a positional argument", []string{input}, []string{"unexpected argument", "flags start with --"}},
		{"unknown flag", []string{"--input", input, "--bogus"}, []string{"flag provided but not defined: -bogus"}},
		{"flag without a value", []string{"--input"}, []string{"flag needs an argument: -input"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runArgs(append([]string{"forecast"}, tc.args...)...)
			if r.code != 2 {
				t.Errorf("exit code %d, want 2:\n%s", r.code, r)
			}
			checkStream(t, "stdout", r.stdout, nil, r)
			checkStream(t, "stderr", r.stderr, append(tc.want, "foresight forecast: ", "Run 'foresight forecast --help' for the flags."), r)
		})
	}
}

// forecastRow is one parsed line of the CSV output.
type forecastRow struct {
	timestamp          string
	yhat, lower, upper float64
}

// parseForecastCSV parses the output of forecast --format csv, checking its
// header and that every value is a finite number.
func parseForecastCSV(t *testing.T, out string) []forecastRow {
	t.Helper()
	recs, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil {
		t.Fatalf("output is not CSV: %v\n%s", err, out)
	}
	if len(recs) == 0 || strings.Join(recs[0], ",") != "timestamp,yhat,yhat_lower,yhat_upper" {
		t.Fatalf("header is not timestamp,yhat,yhat_lower,yhat_upper:\n%s", out)
	}
	var rows []forecastRow
	for i, rec := range recs[1:] {
		var v [3]float64
		for j := range v {
			if v[j], err = strconv.ParseFloat(rec[j+1], 64); err != nil || math.IsNaN(v[j]) || math.IsInf(v[j], 0) {
				t.Fatalf("row %d column %d: %q is not a finite number", i+1, j+2, rec[j+1])
			}
		}
		rows = append(rows, forecastRow{rec[0], v[0], v[1], v[2]})
	}
	return rows
}

func TestForecast(t *testing.T) {
	for _, tc := range []struct {
		name  string
		file  string // name of the input file; "" for standard input
		style func(time.Time) string
		args  []string // after "forecast --input FILE"
		// wantRows is the number of forecast steps; wantStderr must be in
		// the log.
		wantRows   int
		wantStderr string
	}{
		{name: "unix seconds", file: "in.csv", style: unixStyle, args: []string{"--horizon", "30m"}, wantRows: 30},
		{name: "date time", file: "in.csv", style: dateTimeStyle, args: []string{"--horizon", "30m"}, wantRows: 30},
		{name: "RFC 3339", file: "in.csv", style: rfc3339Style, args: []string{"--horizon", "30m"}, wantRows: 30},
		{name: "gzip", file: "in.csv.gz", style: unixStyle, args: []string{"--horizon", "30m"}, wantRows: 30},
		{name: "standard input", style: dateTimeStyle, args: []string{"--horizon", "30m"}, wantRows: 30},
		{name: "default horizon of 1h", file: "in.csv", style: unixStyle, wantRows: 60},
		{name: "horizon rounded up to a step", file: "in.csv", style: unixStyle, args: []string{"--horizon", "90s"}, wantRows: 2},
		{name: "horizon in days", file: "in.csv", style: unixStyle, args: []string{"--horizon", "1d"}, wantRows: 1440},
		{name: "no season", file: "in.csv", style: unixStyle, args: []string{"--horizon", "30m", "--season", "none"}, wantRows: 30},
		{name: "season given", file: "in.csv", style: unixStyle, args: []string{"--horizon", "30m", "--season", "1h"}, wantRows: 30},
		{name: "quantile", file: "in.csv", style: unixStyle, args: []string{"--horizon", "30m", "--quantile", "0.99"}, wantRows: 30},
		{name: "step", file: "in.csv", style: unixStyle, args: []string{"--horizon", "30m", "--step", "1m"}, wantRows: 30},
		{
			name: "exclude", file: "in.csv", style: unixStyle,
			args:     []string{"--horizon", "30m", "--exclude", "2026-03-02T12:00:00Z/2026-03-02T12:10:00Z"},
			wantRows: 30, wantStderr: "values=10",
		},
		{
			name: "exclude twice", file: "in.csv", style: dateTimeStyle,
			args: []string{
				"--horizon", "30m",
				"--exclude", "2026-03-02T12:00:00Z/2026-03-02T12:10:00Z",
				"--exclude", "2026-03-02T23:55:00Z/2026-03-03T00:00:00Z",
			},
			wantRows: 30, wantStderr: "windows=2 values=15",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := seriesCSV(tc.style)
			input, stdin := "-", ""
			if tc.file != "" {
				input = writeTemp(t, tc.file, in)
			} else {
				stdin = in
			}
			r := runWith(context.Background(), stdin, append([]string{"forecast", "--input", input}, tc.args...)...)
			if r.code != 0 {
				t.Fatalf("exit code %d, want 0:\n%s", r.code, r)
			}
			if !strings.Contains(r.stderr, tc.wantStderr) {
				t.Errorf("want %q in stderr:\n%s", tc.wantStderr, r)
			}
			rows := parseForecastCSV(t, r.stdout)
			if len(rows) != tc.wantRows {
				t.Fatalf("%d rows, want %d:\n%s", len(rows), tc.wantRows, r.stdout)
			}
			end := seriesStart.Add(seriesLen * time.Minute) // the step after the last
			for i, row := range rows {
				if want := tc.style(end.Add(time.Duration(i) * time.Minute)); row.timestamp != want {
					t.Errorf("row %d: timestamp %q, want %q", i+1, row.timestamp, want)
				}
				if !(row.lower <= row.yhat && row.yhat <= row.upper) {
					t.Errorf("row %d: want yhat_lower %g <= yhat %g <= yhat_upper %g", i+1, row.lower, row.yhat, row.upper)
				}
				// The input stays within [65, 135]; a sane forecast of it
				// does too, give or take.
				if row.yhat < 40 || row.yhat > 160 {
					t.Errorf("row %d: yhat %g is far outside the input's range [65, 135]", i+1, row.yhat)
				}
			}
		})
	}
}

// TestForecastIrregularInput checks that input off a regular grid is
// aligned, and said to be.
func TestForecastIrregularInput(t *testing.T) {
	lines := strings.SplitAfter(seriesCSV(unixStyle), "\n")
	// Lines 1+600 to 1+609 hold 10:00 to 10:09.
	gappy := strings.Join(append(lines[:601:601], lines[611:]...), "")
	for _, tc := range []struct {
		name, input string
		args        []string // after "forecast --input FILE --horizon 30m"
		wantRows    int
		wantStep    time.Duration
		wantStderr  []string
	}{
		{"gap", gappy, nil, 30, time.Minute, []string{"input has gaps", "missing_steps=10"}},
		{"coarser step", seriesCSV(unixStyle), []string{"--step", "5m"}, 6, 5 * time.Minute, []string{"input is not on a regular grid", "step=5m0s"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			input := writeTemp(t, "in.csv", tc.input)
			r := runArgs(append([]string{"forecast", "--input", input, "--horizon", "30m"}, tc.args...)...)
			if r.code != 0 {
				t.Fatalf("exit code %d, want 0:\n%s", r.code, r)
			}
			checkStream(t, "stderr", r.stderr, tc.wantStderr, r)
			rows := parseForecastCSV(t, r.stdout)
			if len(rows) != tc.wantRows {
				t.Fatalf("%d rows, want %d:\n%s", len(rows), tc.wantRows, r.stdout)
			}
			var prev int64
			for i, row := range rows {
				sec, err := strconv.ParseInt(row.timestamp, 10, 64)
				if err != nil {
					t.Fatalf("row %d: timestamp %q is not Unix seconds", i+1, row.timestamp)
				}
				if i > 0 && time.Duration(sec-prev)*time.Second != tc.wantStep {
					t.Errorf("row %d: %d s after the row before, want %s", i+1, sec-prev, tc.wantStep)
				}
				prev = sec
			}
		})
	}
}

func TestForecastJSON(t *testing.T) {
	input := writeTemp(t, "in.csv", seriesCSV(dateTimeStyle))
	r := runArgs("forecast", "--input", input, "--horizon", "30m", "--format", "json")
	if r.code != 0 {
		t.Fatalf("exit code %d, want 0:\n%s", r.code, r)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal([]byte(r.stdout), &fields); err != nil {
		t.Fatalf("output is not a JSON object: %v\n%s", err, r.stdout)
	}
	for _, k := range []string{"model", "params", "step", "fit", "notes", "selection", "quantile", "forecast"} {
		if v, ok := fields[k]; !ok || string(v) == "null" {
			t.Errorf("field %q missing or null:\n%s", k, r.stdout)
		}
	}
	var got struct {
		Model    string          `json:"model"`
		Step     string          `json:"step"`
		Quantile float64         `json:"quantile"`
		Notes    []any           `json:"notes"`
		Fit      struct{ N int } `json:"fit"`
		Forecast []struct {
			Timestamp string   `json:"timestamp"`
			Yhat      *float64 `json:"yhat"`
			Lower     *float64 `json:"yhat_lower"`
			Upper     *float64 `json:"yhat_upper"`
		} `json:"forecast"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatalf("decoding the output: %v\n%s", err, r.stdout)
	}
	if got.Model == "" || got.Step != "1m0s" || got.Quantile != 0.9 || got.Fit.N != seriesLen {
		t.Errorf("model %q, step %q, quantile %g, fit.n %d; want a model, 1m0s, 0.9, %d",
			got.Model, got.Step, got.Quantile, got.Fit.N, seriesLen)
	}
	if len(got.Forecast) != 30 {
		t.Fatalf("%d forecast points, want 30", len(got.Forecast))
	}
	end := seriesStart.Add(seriesLen * time.Minute)
	for i, p := range got.Forecast {
		if want := dateTimeStyle(end.Add(time.Duration(i) * time.Minute)); p.Timestamp != want {
			t.Errorf("point %d: timestamp %q, want %q", i, p.Timestamp, want)
		}
		if p.Yhat == nil || p.Lower == nil || p.Upper == nil {
			t.Errorf("point %d: null value: %+v", i, p)
			continue
		}
		if !(*p.Lower <= *p.Yhat && *p.Yhat <= *p.Upper) {
			t.Errorf("point %d: want yhat_lower %g <= yhat %g <= yhat_upper %g", i, *p.Lower, *p.Yhat, *p.Upper)
		}
	}
}

func TestForecastBadInput(t *testing.T) {
	notGzip := filepath.Join(t.TempDir(), "plain.csv.gz")
	if err := os.WriteFile(notGzip, []byte(seriesCSV(unixStyle)), 0o644); err != nil {
		t.Fatal(err)
	}
	badValue, err := os.ReadFile(filepath.Join("testdata", "bad_value.bad.csv"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, input, stdin string
		want               []string // in stderr
	}{
		{name: "bad value", input: "testdata/bad_value.bad.csv", want: []string{`testdata/bad_value.bad.csv:3: value "lots" is not a number`}},
		{name: "bad value on standard input", input: "-", stdin: string(badValue), want: []string{`standard input:3: value "lots" is not a number`}},
		{name: "no header", input: "testdata/no_header.bad.csv", want: []string{"testdata/no_header.bad.csv:1: the first line looks like data"}},
		{name: "unsorted", input: "testdata/unsorted.bad.csv", want: []string{"testdata/unsorted.bad.csv:4: timestamp 2026-03-02 00:01:00 is earlier than line 3"}},
		{name: "header only", input: "testdata/header_only.bad.csv", want: []string{"testdata/header_only.bad.csv: no data rows"}},
		{name: "empty standard input", input: "-", want: []string{"standard input: empty file"}},
		{name: "missing file", input: "testdata/missing.csv", want: []string{"testdata/missing.csv"}},
		{name: "not gzip", input: notGzip, want: []string{notGzip, "gzip"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runWith(context.Background(), tc.stdin, "forecast", "--input", tc.input)
			if r.code != 1 {
				t.Errorf("exit code %d, want 1:\n%s", r.code, r)
			}
			checkStream(t, "stdout", r.stdout, nil, r)
			checkStream(t, "stderr", r.stderr, append(tc.want, "foresight forecast: "), r)
		})
	}
}

func TestCanceled(t *testing.T) {
	input := writeTemp(t, "in.csv", seriesCSV(unixStyle))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, args := range [][]string{
		{"forecast", "--input", input},
		{"backtest", "--input", input, "--capacity", "20"},
	} {
		t.Run(args[0], func(t *testing.T) {
			r := runWith(ctx, "", args...)
			if r.code != 1 {
				t.Errorf("exit code %d, want 1:\n%s", r.code, r)
			}
			checkStream(t, "stdout", r.stdout, nil, r)
			checkStream(t, "stderr", r.stderr, []string{"context canceled"}, r)
		})
	}
}

func TestBacktestUsageErrors(t *testing.T) {
	input := writeTemp(t, "in.csv", seriesCSV(unixStyle))
	out := t.TempDir()
	for _, tc := range []struct {
		name string
		args []string // after "backtest"
		want []string // in stderr
	}{
		{"plot format", []string{"--plot", filepath.Join(out, "out.gif")}, []string{"out.gif", "name it .png or .svg"}},
		{"plot without an extension", []string{"--plot", filepath.Join(out, "out")}, []string{"name it .png or .svg"}},
		{"input without capacity", []string{"--input", input}, []string{"--capacity is required with --input"}},
		{"format", []string{"--format", "csv"}, []string{`--format "csv": use text or json`}},
		{"season", []string{"--season", "7x"}, []string{`season "7x"`}},
		{"season off the step", []string{"--input", input, "--capacity", "20", "--season", "90s"}, []string{"not a whole number of 1m0s steps"}},
		{"startup without a unit", []string{"--startup", "3"}, []string{`invalid value "3" for flag -startup`}},
		{"positional argument", []string{"trace.csv"}, []string{`unexpected argument "trace.csv"`}},
		{"unknown flag", []string{"--horizon", "1h"}, []string{"flag provided but not defined: -horizon"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runArgs(append([]string{"backtest"}, tc.args...)...)
			if r.code != 2 {
				t.Errorf("exit code %d, want 2:\n%s", r.code, r)
			}
			checkStream(t, "stdout", r.stdout, nil, r)
			checkStream(t, "stderr", r.stderr, append(tc.want, "foresight backtest: ", "Run 'foresight backtest --help' for the flags."), r)
		})
	}
	if files, err := os.ReadDir(out); err != nil || len(files) != 0 {
		t.Errorf("usage errors left files behind: %v %v", files, err)
	}
}

// decisionsHeader is how the --decisions CSV starts.
const decisionsHeader = "timestamp,actual,forecast,upper,served_load,reason"

// readDecisions reads a --decisions file, checking its header, that every
// row has as many columns, and that the timestamps, parsed with layout, go
// up a minute at a time. It returns the number of rows.
func readDecisions(t *testing.T, path, layout string) int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll() // which checks the column counts
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if len(recs) == 0 || !strings.HasPrefix(strings.Join(recs[0], ","), decisionsHeader+",") {
		t.Fatalf("%s: header does not start with %s: %q", path, decisionsHeader, recs)
	}
	var prev time.Time
	for i, rec := range recs[1:] {
		ts, err := time.Parse(layout, rec[0])
		if err != nil {
			t.Fatalf("%s: row %d: %v", path, i+1, err)
		}
		if i > 0 && ts.Sub(prev) != time.Minute {
			t.Fatalf("%s: row %d: %s does not follow %s by a minute", path, i+1, ts, prev)
		}
		prev = ts
	}
	return len(recs) - 1
}

// TestBacktestDemo replays the embedded trace, twice (about 3 s each), with
// every output flag between the two runs.
func TestBacktestDemo(t *testing.T) {
	t.Run("text", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		png, decisions := filepath.Join(dir, "out.png"), filepath.Join(dir, "decisions.csv")
		r := runArgs("backtest", "--plot", png, "--decisions", decisions)
		if r.code != 0 {
			t.Fatalf("exit code %d, want 0:\n%s", r.code, r)
		}
		checkStream(t, "stdout", r.stdout, []string{"embedded demo trace", "capacity 50 per replica", "reactive HPA", "Foresight (q=0.9 band)", "perfect foresight", "removed"}, r)
		b, err := os.ReadFile(png)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")) {
			t.Errorf("%s does not start with the PNG signature: %q", png, b[:min(len(b), 16)])
		}
		// The demo trace is ten days at 1 minute, of which the first
		// half is warm-up.
		if n := readDecisions(t, decisions, "2006-01-02 15:04:05"); n < 3*1440 {
			t.Errorf("%d decisions, want at least three days' worth", n)
		}
	})
	t.Run("json", func(t *testing.T) {
		t.Parallel()
		svg := filepath.Join(t.TempDir(), "out.svg")
		r := runArgs("backtest", "--format", "json", "--plot", svg, "--quantile", "0.95")
		if r.code != 0 {
			t.Fatalf("exit code %d, want 0:\n%s", r.code, r)
		}
		var fields map[string]json.RawMessage
		if err := json.Unmarshal([]byte(r.stdout), &fields); err != nil {
			t.Fatalf("output is not a JSON object: %v\n%s", err, r.stdout)
		}
		for _, k := range []string{"accuracy", "refits", "fallbacks"} {
			if v, ok := fields[k]; !ok || string(v) == "null" {
				t.Errorf("field %q missing or null:\n%s", k, r.stdout)
			}
		}
		b, err := os.ReadFile(svg)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(b, []byte("<svg")) {
			t.Errorf("%s has no <svg element: %.100q", svg, b)
		}
	})
}

// TestBacktestInput replays the generated day, read from standard input
// (quick: half a day of decisions).
func TestBacktestInput(t *testing.T) {
	decisions := filepath.Join(t.TempDir(), "decisions.csv")
	r := runWith(context.Background(), seriesCSV(dateTimeStyle), "backtest", "--input", "-", "--capacity", "20", "--decisions", decisions)
	if r.code != 0 {
		t.Fatalf("exit code %d, want 0:\n%s", r.code, r)
	}
	checkStream(t, "stdout", r.stdout, []string{"Foresight backtest: standard input", "capacity 20 per replica", "reactive HPA", "perfect foresight", "removed"}, r)
	if n := readDecisions(t, decisions, "2006-01-02 15:04:05"); n < seriesLen/4 {
		t.Errorf("%d decisions from %d values, want at least %d", n, seriesLen, seriesLen/4)
	}
}
