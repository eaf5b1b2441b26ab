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

// dateTimeLayout writes a fraction of a second only when there is one; in
// parsing, the fraction is optional.
const dateTimeLayout = "2006-01-02 15:04:05.999999999"

// Format writes t in style s (UTC for the textual styles), to the
// nanosecond.
func (s Style) Format(t time.Time) string {
	switch s {
	case RFC3339:
		return t.UTC().Format(time.RFC3339Nano)
	case DateTime:
		return t.UTC().Format(dateTimeLayout)
	}
	sec, ns := t.Unix(), int64(t.Nanosecond())
	if ns == 0 {
		return strconv.FormatInt(sec, 10)
	}
	// In decimal rather than through a float64, which holds a present-day
	// time only to about 0.2 µs (and UnixNano only up to the year 2262).
	sign := ""
	if sec < 0 { // t.Unix() is the floor: -1.5 s is -2 s + 0.5 s
		sign, sec, ns = "-", -(sec + 1), 1e9-ns
	}
	frac := strings.TrimRight(fmt.Sprintf("%09d", ns), "0")
	return sign + strconv.FormatInt(sec, 10) + "." + frac
}

// parse reads a timestamp in style s.
func (s Style) parse(field string) (time.Time, error) {
	switch s {
	case RFC3339:
		// In UTC like the other styles: Parse would return Local when the
		// offset matches the machine's zone, and a fixed zone otherwise.
		t, err := time.Parse(time.RFC3339Nano, field)
		return t.UTC(), err
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
	if sec, ns, ok := parseDecimal(field); ok {
		return time.Unix(sec, ns).UTC(), nil
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(math.Round(frac*1e9))).UTC(), nil
}

// parseDecimal reads a field of the form [+-]digits[.digits] exactly, to
// the nanosecond (further digits are dropped): through a float64,
// 1633478400.123 would become 1633478400.122999907. The caller has checked
// that the field is a number of at most 1e11.
func parseDecimal(field string) (sec, ns int64, ok bool) {
	s := strings.TrimLeft(field, "+-")
	if len(field)-len(s) > 1 {
		return 0, 0, false
	}
	ip, fp, _ := strings.Cut(s, ".")
	digits := func(s string) bool { return strings.Trim(s, "0123456789") == "" }
	if !digits(ip) || !digits(fp) {
		return 0, 0, false
	}
	if ip != "" {
		var err error
		if sec, err = strconv.ParseInt(ip, 10, 64); err != nil {
			return 0, 0, false
		}
	}
	if fp != "" {
		ns, _ = strconv.ParseInt((fp + "00000000")[:9], 10, 64)
	}
	if strings.HasPrefix(field, "-") {
		sec, ns = -sec, -ns
	}
	return sec, ns, true
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
		return d, csvError(name, err)
	}
	d.Header = append([]string(nil), header...)
	hline, _ := cr.FieldPos(0) // comments and blank lines may come first
	if len(header) != 2 {
		return d, fmt.Errorf("%s:%d: header has %d columns, expected 2 (timestamp,value)", name, hline, len(header))
	}
	_, numErr := strconv.ParseFloat(strings.TrimSpace(header[1]), 64)
	if numErr == nil || isTimestamp(strings.TrimSpace(header[0])) {
		return d, fmt.Errorf("%s:%d: the first line looks like data (%q); add a header line such as \"timestamp,value\"", name, hline, strings.Join(header, ","))
	}
	prevLine := 0
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return d, csvError(name, err)
		}
		line, _ := cr.FieldPos(0) // panics after an error in the first field
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

// csvError puts the line of a CSV syntax error in the form name:LINE: of
// the other errors.
func csvError(name string, err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s:%d: column %d: %w", name, pe.Line, pe.Column, pe.Err)
	}
	return fmt.Errorf("%s: %w", name, err)
}

// isTimestamp reports whether field is a timestamp in one of the styles.
func isTimestamp(field string) bool {
	s, err := detect(field)
	if err != nil {
		return false
	}
	_, err = s.parse(field)
	return err == nil
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
