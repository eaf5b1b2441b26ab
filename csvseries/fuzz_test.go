package csvseries

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/foresight-aiops/foresight/forecast"
)

// FuzzRead checks that Read never panics, that what it accepts is a
// strictly increasing series with at most one sample a line, that each
// timestamp reads back from what Format writes for it, and that every
// error starts with the name it was given; and that forecast.Align turns
// what it accepts into a series or an error.
func FuzzRead(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.csv"))
	if err != nil {
		f.Fatal(err)
	}
	if len(files) == 0 {
		f.Fatal("no testdata/*.csv seeds")
	}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("t,v\n-1.5,1\n-0.25,2\n.5,3\n1e3,4\n"))
	f.Add([]byte("t,v\n\"1\n\",1\n2,\"\n3\"\n"))
	f.Add([]byte("t,v\n0,1\n1,2\n2,3\n13569465600,4\n")) // 1970 to 2400

	const name = "fuzz.csv"
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := Read(bytes.NewReader(data), name)
		if err != nil {
			if !strings.HasPrefix(err.Error(), name+":") {
				t.Fatalf("error %q does not start with %q", err, name+":")
			}
			return
		}
		if len(d.Header) != 2 {
			t.Errorf("header %q, want 2 columns", d.Header)
		}
		if d.Style != UnixSeconds && d.Style != RFC3339 && d.Style != DateTime {
			t.Errorf("style %v", d.Style)
		}
		lines := bytes.Count(data, []byte("\n")) + 1
		if n := len(d.Samples); n == 0 || n > lines-1 {
			t.Errorf("%d samples from %d lines (one of them the header)", n, lines)
		}
		for i, s := range d.Samples {
			if i > 0 && !s.T.After(d.Samples[i-1].T) {
				t.Errorf("sample %d at %v is not after sample %d at %v", i, s.T, i-1, d.Samples[i-1].T)
			}
			// RFC 3339 has four-digit years only; a time zone can move a
			// year-0 or year-9999 timestamp out of them in UTC.
			if y := s.T.Year(); y < 1 || y > 9999 {
				continue
			}
			field := d.Style.Format(s.T)
			back, err := d.Style.parse(field)
			if err != nil || !back.Equal(s.T) {
				t.Errorf("sample %d at %v is written %q, which reads back as %v, %v", i, s.T, field, back, err)
			}
		}
		// What Read accepts goes on to forecast.Align in every command: it
		// must answer with a series or an error, never a panic or a grid
		// beyond its bound (timestamps centuries apart once made it panic).
		if series, _, err := forecast.Align(d.Samples, 0); err == nil && series.Len() > 10_000_000 {
			t.Errorf("Align made %d points", series.Len())
		}
	})
}
