// Package csvseries reads time series from CSV files of two columns, a
// timestamp and a value, and writes timestamps back in the style they were
// read in.
package csvseries

import (
	"compress/gzip"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/foresight-aiops/foresight/forecast"
)

// Style is a timestamp notation.
type Style int

// Timestamp styles, detected from the first data row.
const (
	UnixSeconds Style = iota // 1633478400 or 1633478400.5
	RFC3339                  // 2026-03-02T00:00:00Z
	DateTime                 // 2026-03-02 00:00:00, in UTC
)

func (s Style) String() string {
	switch s {
	case UnixSeconds:
		return "unix seconds"
	case RFC3339:
		return "RFC 3339"
	case DateTime:
		return "YYYY-MM-DD HH:MM:SS"
	}
	return "Style(" + strconv.Itoa(int(s)) + ")"
}

const dateTimeLayout = "2006-01-02 15:04:05"

// Format writes t in style s (UTC for the textual styles).
func (s Style) Format(t time.Time) string {
	switch s {
	case RFC3339:
		return t.UTC().Format(time.RFC3339)
	case DateTime:
		return t.UTC().Format(dateTimeLayout)
	}
	if t.Nanosecond() == 0 {
		return strconv.FormatInt(t.Unix(), 10)
	}
	return strconv.FormatFloat(float64(t.UnixNano())/1e9, 'f', -1, 64)
}

// parse reads a timestamp in style s.
func (s Style) parse(field string) (time.Time, error) {
	switch s {
	case RFC3339:
		return time.Parse(time.RFC3339Nano, field)
	case DateTime:
		return time.ParseInLocation(dateTimeLayout, field, time.UTC)
	}
	f, err := strconv.ParseFloat(field, 64)
	if err != nil {
		return time.Time{}, err
	}
	if math.IsNaN(f) || math.IsInf(f, 0) || math.Abs(f) > 1e11 {
		return time.Time{}, fmt.Errorf("%q is not a Unix time in seconds", field)
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(math.Round(frac*1e9))).UTC(), nil
}

// detect returns the style of a timestamp field.
func detect(field string) (Style, error) {
	switch {
	case strings.Contains(field, "T"):
		return RFC3339, nil
	case strings.Contains(field, " ") && strings.Contains(field, "-"):
		return DateTime, nil
	}
	if _, err := strconv.ParseFloat(field, 64); err == nil {
		return UnixSeconds, nil
	}
	return 0, fmt.Errorf("timestamp %q is none of Unix seconds, RFC 3339 or YYYY-MM-DD HH:MM:SS", field)
}

// ErrNoRows is returned for a file with a header and no data.
var ErrNoRows = errors.New("no data rows after the header")

// Data is what Read returns.
type Data struct {
	Samples []forecast.Sample
	Style   Style
	// Header holds the names in the header line.
	Header []string
}

// maxRows bounds what Read accepts, so that a stray multi-gigabyte file
// fails with a message rather than exhausting memory.
const maxRows = 20_000_000

// Read reads a CSV with a header line and two columns, a timestamp and a
// value. Timestamps are Unix seconds, RFC 3339, or YYYY-MM-DD HH:MM:SS in
// UTC, all rows in the style of the first. They must strictly increase: an
// unsorted or repeated timestamp is an error naming both lines, since
// guessing which of two values is right would hide a broken export. An
// empty value, NaN or Inf is kept as a gap. Errors name the file (name) and
// the line.
func Read(r io.Reader, name string) (Data, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	cr.TrimLeadingSpace = true
	cr.Comment = '#'
	var d Data
	header, err := cr.Read()
	switch {
	case errors.Is(err, io.EOF):
		return d, fmt.Errorf("%s: empty file: expected a header line such as \"timestamp,value\"", name)
	case err != nil:
		return d, fmt.Errorf("%s: %w", name, err)
	}
	d.Header = append([]string(nil), header...)
	if len(header) != 2 {
		return d, fmt.Errorf("%s:1: header has %d columns, expected 2 (timestamp,value)", name, len(header))
	}
	if _, err := strconv.ParseFloat(strings.TrimSpace(header[1]), 64); err == nil {
		return d, fmt.Errorf("%s:1: the first line looks like data (%q); add a header line such as \"timestamp,value\"", name, strings.Join(header, ","))
	}
	prevLine := 0
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		line, _ := cr.FieldPos(0)
		if err != nil {
			return d, fmt.Errorf("%s: %w", name, err)
		}
		if len(rec) != 2 {
			return d, fmt.Errorf("%s:%d: %d columns, expected 2 (timestamp,value)", name, line, len(rec))
		}
		ts, vs := strings.TrimSpace(rec[0]), strings.TrimSpace(rec[1])
		if len(d.Samples) == 0 {
			if d.Style, err = detect(ts); err != nil {
				return d, fmt.Errorf("%s:%d: %w", name, line, err)
			}
		}
		t, err := d.Style.parse(ts)
		if err != nil {
			return d, fmt.Errorf("%s:%d: timestamp %q: expected %s like the first row: %w", name, line, ts, d.Style, err)
		}
		v := math.NaN()
		if vs != "" {
			if v, err = strconv.ParseFloat(vs, 64); err != nil {
				return d, fmt.Errorf("%s:%d: value %q is not a number", name, line, vs)
			}
		}
		if n := len(d.Samples); n > 0 {
			prev := d.Samples[n-1].T
			switch {
			case t.Equal(prev):
				return d, fmt.Errorf("%s:%d: timestamp %s repeats line %d: remove the duplicate", name, line, ts, prevLine)
			case t.Before(prev):
				return d, fmt.Errorf("%s:%d: timestamp %s is earlier than line %d: sort the file by time (e.g. sort -t, -k1,1 -n)", name, line, ts, prevLine)
			}
		}
		if len(d.Samples) == maxRows {
			return d, fmt.Errorf("%s:%d: more than %d rows: trim the file or aggregate to a longer step", name, line, maxRows)
		}
		d.Samples = append(d.Samples, forecast.Sample{T: t, V: v})
		prevLine = line
	}
	if len(d.Samples) == 0 {
		return d, fmt.Errorf("%s: %w", name, ErrNoRows)
	}
	return d, nil
}

// ReadFile reads the CSV file at path (gzip-compressed if it ends in .gz).
func ReadFile(path string) (Data, error) {
	f, err := os.Open(path)
	if err != nil {
		return Data{}, err
	}
	defer f.Close()
	var r io.Reader = f
	if strings.HasSuffix(path, ".gz") {
		gz, err := gzip.NewReader(f)
		if err != nil {
			return Data{}, fmt.Errorf("%s: %w", path, err)
		}
		defer gz.Close()
		r = gz
	}
	return Read(r, path)
}

// WriteForecast writes f as CSV with the header
// timestamp,yhat,yhat_lower,yhat_upper and timestamps in style s.
func WriteForecast(w io.Writer, s Style, f forecast.Forecast) error {
	cw := csv.NewWriter(w)
	if err := cw.Write([]string{"timestamp", "yhat", "yhat_lower", "yhat_upper"}); err != nil {
		return err
	}
	num := func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
	for i := range f.Mean {
		t := f.Start.Add(time.Duration(i) * f.Step)
		if err := cw.Write([]string{s.Format(t), num(f.Mean[i]), num(f.Lower[i]), num(f.Upper[i])}); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}
