package csvseries

import (
	"bytes"
	"compress/gzip"
	"encoding/csv"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/foresight-aiops/foresight/forecast"
)

// march2 is 2026-03-02T00:00:00Z, Unix 1772409600.
var march2 = time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)

func TestStyleString(t *testing.T) {
	for _, tc := range []struct {
		s    Style
		want string
	}{
		{UnixSeconds, "unix seconds"},
		{RFC3339, "RFC 3339"},
		{DateTime, "YYYY-MM-DD HH:MM:SS"},
		{Style(7), "Style(7)"},
	} {
		if got := tc.s.String(); got != tc.want {
			t.Errorf("Style(%d).String() = %q, want %q", int(tc.s), got, tc.want)
		}
	}
}

func TestStyleFormat(t *testing.T) {
	plus2 := time.FixedZone("+02:00", 2*3600)
	for _, tc := range []struct {
		name  string
		style Style
		t     time.Time
		want  string
	}{
		{"unix whole", UnixSeconds, march2, "1772409600"},
		{"unix half", UnixSeconds, march2.Add(500 * time.Millisecond), "1772409600.5"},
		{"unix milliseconds", UnixSeconds, time.Unix(1633478400, 123e6), "1633478400.123"},
		{"unix nanoseconds", UnixSeconds, time.Unix(1633478400, 123456789), "1633478400.123456789"},
		{"unix zero", UnixSeconds, time.Unix(0, 0), "0"},
		{"unix negative whole", UnixSeconds, time.Unix(-60, 0), "-60"},
		{"unix negative fraction", UnixSeconds, time.Unix(-1, -5e8), "-1.5"},
		{"unix negative below one", UnixSeconds, time.Unix(0, -25e7), "-0.25"},
		{"unix after 2262", UnixSeconds, time.Unix(32503680000, 5e8), "32503680000.5"},
		{"rfc3339 whole", RFC3339, march2, "2026-03-02T00:00:00Z"},
		{"rfc3339 in UTC", RFC3339, march2.In(plus2), "2026-03-02T00:00:00Z"},
		{"rfc3339 fraction", RFC3339, march2.Add(250 * time.Millisecond), "2026-03-02T00:00:00.25Z"},
		{"datetime whole", DateTime, march2, "2026-03-02 00:00:00"},
		{"datetime in UTC", DateTime, march2.In(plus2), "2026-03-02 00:00:00"},
		{"datetime fraction", DateTime, march2.Add(500 * time.Millisecond), "2026-03-02 00:00:00.5"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.style.Format(tc.t); got != tc.want {
				t.Errorf("Format(%v) = %q, want %q", tc.t, got, tc.want)
			}
		})
	}
}

// TestStyleRoundTrip checks that every style reads back what it writes, to
// the nanosecond, and that the written form is detected as that style.
func TestStyleRoundTrip(t *testing.T) {
	times := []time.Time{
		march2,
		march2.Add(time.Millisecond),
		march2.Add(123 * time.Millisecond),
		march2.Add(999 * time.Millisecond),
		march2.Add(123456 * time.Microsecond),
		march2.Add(123456789 * time.Nanosecond),
		march2.Add(time.Nanosecond),
		time.Unix(1633478400, 999999999),
		time.Unix(0, 0),
		time.Unix(1, 0),
		time.Date(1969, 12, 31, 23, 59, 58, 500e6, time.UTC),
		time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(3000, 1, 1, 0, 0, 0, 5e8, time.UTC),
		time.Date(2026, 3, 2, 12, 0, 0, 0, time.FixedZone("-05:00", -5*3600)),
	}
	for _, style := range []Style{UnixSeconds, RFC3339, DateTime} {
		t.Run(style.String(), func(t *testing.T) {
			for _, want := range times {
				field := style.Format(want)
				got, err := style.parse(field)
				if err != nil {
					t.Errorf("parse(%q): %v", field, err)
					continue
				}
				if !got.Equal(want) {
					t.Errorf("parse(Format(%v)) = parse(%q) = %v, a difference of %v", want, field, got, got.Sub(want))
				}
				if got.Location() != time.UTC {
					t.Errorf("parse(%q) is in %v, want UTC", field, got.Location())
				}
				if s, err := detect(field); err != nil || s != style {
					t.Errorf("detect(%q) = %v, %v; want %v", field, s, err, style)
				}
			}
		})
	}
}

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		style Style
		field string
		want  time.Time
	}{
		{UnixSeconds, "1772409600", march2},
		{UnixSeconds, "1772409600.0", march2},
		{UnixSeconds, "1772409600.", march2},
		{UnixSeconds, "+1772409600", march2},
		{UnixSeconds, "001772409600", march2},
		{UnixSeconds, "1633478400.123", time.Unix(1633478400, 123e6)},
		{UnixSeconds, "1633478400.999999999", time.Unix(1633478400, 999999999)},
		{UnixSeconds, "1633478400.1234567891", time.Unix(1633478400, 123456789)}, // beyond ns dropped
		{UnixSeconds, ".5", time.Unix(0, 5e8)},
		{UnixSeconds, "-1.5", time.Unix(-2, 5e8)},
		{UnixSeconds, "-0.25", time.Unix(-1, 75e7)},
		{UnixSeconds, "1.7724096e9", march2},
		{UnixSeconds, "1e11", time.Unix(1e11, 0)},
		{RFC3339, "2026-03-02T00:00:00Z", march2},
		{RFC3339, "2026-03-02T02:00:00+02:00", march2},
		{RFC3339, "2026-03-02T00:00:00.000000001Z", march2.Add(time.Nanosecond)},
		{DateTime, "2026-03-02 00:00:00", march2},
		{DateTime, "2026-03-02 00:00:00.25", march2.Add(250 * time.Millisecond)},
	} {
		t.Run(tc.style.String()+"/"+tc.field, func(t *testing.T) {
			got, err := tc.style.parse(tc.field)
			if err != nil {
				t.Fatalf("parse(%q): %v", tc.field, err)
			}
			if !got.Equal(tc.want) {
				t.Errorf("parse(%q) = %v, want %v (off by %v)", tc.field, got, tc.want, got.Sub(tc.want))
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		style Style
		field string
	}{
		{UnixSeconds, "NaN"},
		{UnixSeconds, "Inf"},
		{UnixSeconds, "-Inf"},
		{UnixSeconds, "1e300"},
		{UnixSeconds, "100000000001"},
		{UnixSeconds, "-100000000001"},
		{UnixSeconds, "noon"},
		{UnixSeconds, ""},
		{UnixSeconds, "2026-03-02T00:00:00Z"},
		{RFC3339, "2026-03-02 00:00:00"},
		{RFC3339, "2026-03-02T00:00:00"}, // no zone
		{RFC3339, "2026-02-30T00:00:00Z"},
		{RFC3339, "1772409600"},
		{DateTime, "2026-03-02T00:00:00Z"},
		{DateTime, "2026-03-02 25:00:00"},
		{DateTime, "1772409600"},
	} {
		t.Run(tc.style.String()+"/"+tc.field, func(t *testing.T) {
			if got, err := tc.style.parse(tc.field); err == nil {
				t.Errorf("parse(%q) = %v, want an error", tc.field, got)
			}
		})
	}
}

func TestDetect(t *testing.T) {
	for _, tc := range []struct {
		field string
		want  Style
	}{
		{"1772409600", UnixSeconds},
		{"1772409600.5", UnixSeconds},
		{"-1", UnixSeconds},
		{"1.7e9", UnixSeconds},
		{"2026-03-02T00:00:00Z", RFC3339},
		{"2026-03-02T00:00:00+02:00", RFC3339},
		{"2026-03-02 00:00:00", DateTime},
	} {
		if got, err := detect(tc.field); err != nil || got != tc.want {
			t.Errorf("detect(%q) = %v, %v; want %v", tc.field, got, err, tc.want)
		}
	}
	for _, field := range []string{"", "yesterday", "12:00", "2026/03/02"} {
		if got, err := detect(field); err == nil {
			t.Errorf("detect(%q) = %v, want an error", field, got)
		}
	}
}

// sample is a forecast.Sample written compactly.
func sample(t time.Time, v float64) forecast.Sample { return forecast.Sample{T: t, V: v} }

func TestReadFile(t *testing.T) {
	for _, tc := range []struct {
		file   string
		style  Style
		header []string
		want   []forecast.Sample
	}{
		{
			file: "unix.csv", style: UnixSeconds, header: []string{"timestamp", "value"},
			want: []forecast.Sample{
				sample(march2, 1),
				sample(march2.Add(time.Minute), 2.5),
				sample(march2.Add(2*time.Minute), math.NaN()),
				sample(march2.Add(3*time.Minute), math.NaN()),
				sample(march2.Add(4*time.Minute), math.Inf(1)),
			},
		},
		{
			file: "unix_frac.csv", style: UnixSeconds, header: []string{"ts", "v"},
			want: []forecast.Sample{
				sample(time.Unix(1633478400, 123e6), 1),
				sample(time.Unix(1633478400, 5e8), 2),
				sample(time.Unix(1633478401, 0), 3),
			},
		},
		{
			file: "rfc3339.csv", style: RFC3339, header: []string{"time", "load"},
			want: []forecast.Sample{
				sample(march2, 10),
				sample(march2.Add(time.Hour+250*time.Millisecond), 11),
				sample(march2.Add(2*time.Hour), 12),
			},
		},
		{
			file: "datetime.csv", style: DateTime, header: []string{"time", "load"},
			want: []forecast.Sample{
				sample(march2, 10),
				sample(march2.Add(30500*time.Millisecond), 11),
				sample(march2.Add(time.Minute), 12),
			},
		},
	} {
		t.Run(tc.file, func(t *testing.T) {
			d, err := ReadFile(filepath.Join("testdata", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			if d.Style != tc.style {
				t.Errorf("style %v, want %v", d.Style, tc.style)
			}
			if !equalStrings(d.Header, tc.header) {
				t.Errorf("header %q, want %q", d.Header, tc.header)
			}
			checkSamples(t, d.Samples, tc.want)
		})
	}
}

func checkSamples(t *testing.T, got, want []forecast.Sample) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d samples, want %d: %v", len(got), len(want), got)
	}
	for i := range want {
		g, w := got[i], want[i]
		sameV := g.V == w.V || math.IsNaN(g.V) && math.IsNaN(w.V)
		if !g.T.Equal(w.T) || !sameV {
			t.Errorf("sample %d = {%v %g}, want {%v %g}", i, g.T, g.V, w.T, w.V)
		}
		if g.T.Location() != time.UTC {
			t.Errorf("sample %d is in %v, want UTC", i, g.T.Location())
		}
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestReadFileErrors reads the testdata/*.bad.csv files. Each error must
// start with the file name and, where there is one, the line that is wrong,
// and say what is wrong.
func TestReadFileErrors(t *testing.T) {
	for _, tc := range []struct {
		file string
		line string // "" for errors about the whole file
		want string
	}{
		{"empty.bad.csv", "", "empty file: expected a header line"},
		{"comments_only.bad.csv", "", "empty file"},
		{"header_only.bad.csv", "", "no data rows after the header"},
		{"header_comment_only.bad.csv", "", "no data rows after the header"},
		{"header_columns.bad.csv", "1", "header has 3 columns, expected 2"},
		{"header_after_comment.bad.csv", "3", "header has 1 columns, expected 2"},
		{"no_header.bad.csv", "1", `the first line looks like data ("1772409600,1"); add a header line`},
		{"no_header_gap.bad.csv", "1", `the first line looks like data ("1772409600,"); add a header line`},
		{"one_column.bad.csv", "3", "1 columns, expected 2"},
		{"three_columns.bad.csv", "4", "3 columns, expected 2"},
		{"bad_timestamp.bad.csv", "2", `timestamp "yesterday" is none of Unix seconds, RFC 3339 or YYYY-MM-DD HH:MM:SS`},
		{"unix_out_of_range.bad.csv", "2", `"1e300" is not a Unix time in seconds`},
		{"mixed_styles.bad.csv", "4", `timestamp "1772409720": expected RFC 3339 like the first row`},
		{"mixed_datetime_rfc3339.bad.csv", "3", `expected YYYY-MM-DD HH:MM:SS like the first row`},
		{"bad_value.bad.csv", "3", `value "lots" is not a number`},
		{"duplicate.bad.csv", "6", "timestamp 1772409660 repeats line 3"},
		{"duplicate_offset.bad.csv", "3", "timestamp 2026-03-02T02:00:00+02:00 repeats line 2"},
		{"unsorted.bad.csv", "4", "timestamp 1772409660 is earlier than line 3: sort the file"},
		{"bare_quote_timestamp.bad.csv", "3", `column 6: bare " in non-quoted-field`},
		{"open_quote.bad.csv", "3", `extraneous or missing " in quoted-field`},
	} {
		t.Run(tc.file, func(t *testing.T) {
			path := filepath.Join("testdata", tc.file)
			_, err := ReadFile(path)
			if err == nil {
				t.Fatal("no error")
			}
			prefix := path + ": "
			if tc.line != "" {
				prefix = path + ":" + tc.line + ": "
			}
			if msg := err.Error(); !strings.HasPrefix(msg, prefix) || !strings.Contains(msg, tc.want) {
				t.Errorf("error %q\nwant it to start with %q and contain %q", msg, prefix, tc.want)
			}
		})
	}
}

func TestReadErrNoRows(t *testing.T) {
	for _, in := range []string{"timestamp,value\n", "timestamp,value", "timestamp,value\n\n# none\n"} {
		_, err := Read(strings.NewReader(in), "x.csv")
		if !errors.Is(err, ErrNoRows) {
			t.Errorf("Read(%q) = %v, want ErrNoRows", in, err)
		}
	}
}

// TestReadCSVSyntax covers the encoding/csv features Read relies on:
// quoting, CRLF line ends, leading spaces, a missing final newline, and
// lines counted across comments and multi-line quoted fields.
func TestReadCSVSyntax(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		want []forecast.Sample
	}{
		{
			"crlf", "timestamp,value\r\n1772409600,1\r\n1772409660,2\r\n",
			[]forecast.Sample{sample(march2, 1), sample(march2.Add(time.Minute), 2)},
		},
		{
			"no final newline", "timestamp,value\n1772409600,1",
			[]forecast.Sample{sample(march2, 1)},
		},
		{
			"spaces", "timestamp, value\n 1772409600 , 1 \n",
			[]forecast.Sample{sample(march2, 1)},
		},
		{
			"quoted", "\"timestamp\",\"value\"\n\"1772409600\",\"1\"\n",
			[]forecast.Sample{sample(march2, 1)},
		},
		{
			"comments and blank lines", "# a\n\ntimestamp,value\n# b\n\n1772409600,1\n\n",
			[]forecast.Sample{sample(march2, 1)},
		},
		{
			"gap as empty quoted value", "timestamp,value\n1772409600,\"\"\n",
			[]forecast.Sample{sample(march2, math.NaN())},
		},
		{
			"negative and infinite values", "timestamp,value\n1772409600,-3\n1772409660,-Inf\n",
			[]forecast.Sample{sample(march2, -3), sample(march2.Add(time.Minute), math.Inf(-1))},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := Read(strings.NewReader(tc.in), "x.csv")
			if err != nil {
				t.Fatal(err)
			}
			checkSamples(t, d.Samples, tc.want)
		})
	}
}

func TestReadLineNumbers(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
	}{
		{"after a multi-line quoted header", "\"time\nstamp\",value\n1772409600,1\nx,2\n", "x.csv:4: "},
		{"after a multi-line quoted field", "timestamp,value\n\"1772409600\n\",1\n1772409600,2\n", "x.csv:4: timestamp 1772409600 repeats line 2"},
		{"after comments", "# 1\n# 2\ntimestamp,value\n# 4\n1772409600,1\n1772409600,1\n", "x.csv:6: timestamp 1772409600 repeats line 5"},
		{"quote error", "timestamp,value\n1772409600,1\n\"17724\"09660,2\n", "x.csv:3: column 7: "},
		{"first-row style", "timestamp,value\n\n2026-03-02 noon,1\n", "x.csv:3: timestamp \"2026-03-02 noon\": expected YYYY-MM-DD HH:MM:SS"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Read(strings.NewReader(tc.in), "x.csv")
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("error %v, want it to start with %q", err, tc.want)
			}
		})
	}
}

// errReader fails after its data, like a network read or a corrupt gzip
// stream.
type errReader struct{ r io.Reader }

var errBroken = errors.New("broken")

func (e *errReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if errors.Is(err, io.EOF) {
		err = errBroken
	}
	return n, err
}

func TestReadReaderError(t *testing.T) {
	for _, in := range []string{"", "timestamp,value\n", "timestamp,value\n1772409600,1\n"} {
		_, err := Read(&errReader{strings.NewReader(in)}, "x.csv")
		if !errors.Is(err, errBroken) || !strings.HasPrefix(err.Error(), "x.csv: ") {
			t.Errorf("Read(%q then an error) = %v, want x.csv: … broken", in, err)
		}
	}
}

func writeGzip(t *testing.T, path string, data []byte) {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestReadFileGzip(t *testing.T) {
	dir := t.TempDir()
	plain, err := os.ReadFile(filepath.Join("testdata", "unix.csv"))
	if err != nil {
		t.Fatal(err)
	}
	want, err := ReadFile(filepath.Join("testdata", "unix.csv"))
	if err != nil {
		t.Fatal(err)
	}

	t.Run("same as plain", func(t *testing.T) {
		path := filepath.Join(dir, "unix.csv.gz")
		writeGzip(t, path, plain)
		got, err := ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if got.Style != want.Style {
			t.Errorf("style %v, want %v", got.Style, want.Style)
		}
		checkSamples(t, got.Samples, want.Samples)
	})
	t.Run("errors name the .gz file", func(t *testing.T) {
		path := filepath.Join(dir, "dup.csv.gz")
		writeGzip(t, path, []byte("timestamp,value\n1772409600,1\n1772409600,2\n"))
		_, err := ReadFile(path)
		if err == nil || !strings.HasPrefix(err.Error(), path+":3: ") {
			t.Errorf("error %v, want it to start with %q", err, path+":3: ")
		}
	})
	t.Run("not gzip", func(t *testing.T) {
		path := filepath.Join(dir, "plain.csv.gz")
		if err := os.WriteFile(path, plain, 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := ReadFile(path)
		if !errors.Is(err, gzip.ErrHeader) || !strings.HasPrefix(err.Error(), path+": ") {
			t.Errorf("error %v, want %s: … gzip.ErrHeader", err, path)
		}
	})
	t.Run("truncated", func(t *testing.T) {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		if _, err := zw.Write(plain); err != nil {
			t.Fatal(err)
		}
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, "truncated.csv.gz")
		if err := os.WriteFile(path, buf.Bytes()[:buf.Len()-4], 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := ReadFile(path)
		if err == nil || !strings.HasPrefix(err.Error(), path+": ") {
			t.Errorf("error %v, want it to start with %q", err, path+": ")
		}
	})
	t.Run("missing", func(t *testing.T) {
		path := filepath.Join(dir, "missing.csv.gz")
		_, err := ReadFile(path)
		if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), path) {
			t.Errorf("error %v, want os.ErrNotExist naming %s", err, path)
		}
	})
}

func TestWriteForecast(t *testing.T) {
	f := forecast.Forecast{
		Start: march2, Step: 90 * time.Second, Quantile: 0.9,
		Mean:  []float64{10, 11.5, math.NaN()},
		Lower: []float64{8, 9.25, math.NaN()},
		Upper: []float64{12, 13.75, math.NaN()},
	}
	sub := f
	sub.Step = 500 * time.Millisecond
	for _, tc := range []struct {
		name  string
		style Style
		f     forecast.Forecast
		want  string
	}{
		{"unix", UnixSeconds, f, `timestamp,yhat,yhat_lower,yhat_upper
1772409600,10,8,12
1772409690,11.5,9.25,13.75
1772409780,NaN,NaN,NaN
`},
		{"rfc3339", RFC3339, f, `timestamp,yhat,yhat_lower,yhat_upper
2026-03-02T00:00:00Z,10,8,12
2026-03-02T00:01:30Z,11.5,9.25,13.75
2026-03-02T00:03:00Z,NaN,NaN,NaN
`},
		{"datetime", DateTime, f, `timestamp,yhat,yhat_lower,yhat_upper
2026-03-02 00:00:00,10,8,12
2026-03-02 00:01:30,11.5,9.25,13.75
2026-03-02 00:03:00,NaN,NaN,NaN
`},
		{"unix sub-second", UnixSeconds, sub, `timestamp,yhat,yhat_lower,yhat_upper
1772409600,10,8,12
1772409600.5,11.5,9.25,13.75
1772409601,NaN,NaN,NaN
`},
		{"rfc3339 sub-second", RFC3339, sub, `timestamp,yhat,yhat_lower,yhat_upper
2026-03-02T00:00:00Z,10,8,12
2026-03-02T00:00:00.5Z,11.5,9.25,13.75
2026-03-02T00:00:01Z,NaN,NaN,NaN
`},
		{"datetime sub-second", DateTime, sub, `timestamp,yhat,yhat_lower,yhat_upper
2026-03-02 00:00:00,10,8,12
2026-03-02 00:00:00.5,11.5,9.25,13.75
2026-03-02 00:00:01,NaN,NaN,NaN
`},
		{"empty", UnixSeconds, forecast.Forecast{Start: march2, Step: time.Minute}, "timestamp,yhat,yhat_lower,yhat_upper\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := WriteForecast(&buf, tc.style, tc.f); err != nil {
				t.Fatal(err)
			}
			if got := buf.String(); got != tc.want {
				t.Errorf("got\n%s\nwant\n%s", got, tc.want)
			}
			// The timestamps read back as the forecast's steps.
			rows, err := csv.NewReader(&buf).ReadAll()
			if err != nil {
				t.Fatal(err)
			}
			for i, row := range rows[1:] {
				got, err := tc.style.parse(row[0])
				if want := tc.f.Start.Add(time.Duration(i) * tc.f.Step); err != nil || !got.Equal(want) {
					t.Errorf("row %d: timestamp %q reads as %v, %v; want %v", i+1, row[0], got, err, want)
				}
			}
		})
	}
}

// failWriter fails every write.
type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errBroken }

func TestWriteForecastError(t *testing.T) {
	f := forecast.Forecast{Start: march2, Step: time.Minute, Mean: []float64{1}, Lower: []float64{0}, Upper: []float64{2}}
	if err := WriteForecast(failWriter{}, UnixSeconds, f); !errors.Is(err, errBroken) {
		t.Errorf("WriteForecast to a failing writer = %v, want %v", err, errBroken)
	}
}
