package nab

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

func minutes(n int) []time.Time {
	t0 := time.Date(2014, 2, 19, 0, 0, 0, 0, time.UTC)
	out := make([]time.Time, n)
	for i := range out {
		out[i] = t0.Add(time.Duration(i) * time.Minute)
	}
	return out
}

func TestReadLabelsForms(t *testing.T) {
	const in = `{
 "realKnownCause/a.csv": [["2014-02-19 00:10:00.000000", "2014-02-19 00:20:00.000000"]],
 "b.csv": ["2014-02-19 00:50:00", "2014-02-19T01:00:00Z"],
 "c.csv": {"outages": [[40, 45], [90, 95]], "holiday": [10, 20]},
 "d.csv": []
}`
	l, err := ReadLabels(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	times := minutes(100)
	for _, c := range []struct {
		name  string
		kinds []string
		want  []Window
	}{
		// NAB windows: the rows between the timestamps, both included.
		{"realKnownCause/a.csv", nil, []Window{{10, 20}}},
		// Two labels in 100 rows: 5-row windows (±2) around rows 50 and 60.
		{"b.csv", nil, []Window{{48, 52}, {58, 62}}},
		// Three incidents: 3-row windows (±1) around their first rows.
		{"c.csv", nil, []Window{{9, 11}, {39, 41}, {89, 91}}},
		// Outages only: two labels, 5-row windows.
		{"c.csv", []string{"outages"}, []Window{{38, 42}, {88, 92}}},
		{"d.csv", nil, nil},
	} {
		fl, ok := l.Lookup("./" + c.name)
		if !ok {
			t.Fatalf("%s: not found", c.name)
		}
		if got := fl.Resolve(times, c.kinds); !slices.Equal(got, c.want) {
			t.Errorf("%s %v: windows %v, want %v", c.name, c.kinds, got, c.want)
		}
	}
	if k := l.Kinds(); !slices.Equal(k, []string{"holiday", "outages"}) {
		t.Errorf("kinds %v", k)
	}
}

func TestReadLabelsErrors(t *testing.T) {
	for _, in := range []string{
		`[1, 2]`,
		`{"a.csv": 3}`,
		`{"a.csv": [["2014-02-19 00:20:00", "2014-02-19 00:10:00"]]}`,
		`{"a.csv": ["yesterday"]}`,
		`{"a.csv": {"outages": [[5, 2]]}}`,
		`{"a.csv": {"outages": "x"}}`,
		`{`,
	} {
		if _, err := ReadLabels(strings.NewReader(in)); !errors.Is(err, ErrBadLabels) {
			t.Errorf("%s: %v, want ErrBadLabels", in, err)
		}
	}
}

// FuzzReadLabels checks that no labels file crashes the reader or
// resolves to windows outside the file.
func FuzzReadLabels(f *testing.F) {
	f.Add(`{"a.csv": [["2014-02-19 00:10:00", "2014-02-19 00:20:00"]]}`)
	f.Add(`{"a.csv": ["2014-02-19 00:50:00"]}`)
	f.Add(`{"a.csv": {"outages": [[40, 45]], "holiday": [10, 20]}}`)
	f.Fuzz(func(t *testing.T, in string) {
		l, err := ReadLabels(strings.NewReader(in))
		if err != nil {
			return
		}
		times := minutes(50)
		for _, name := range l.Names() {
			for _, w := range l[name].Resolve(times, nil) {
				if w.Start < 0 || w.End >= 50 || w.Start > w.End {
					t.Fatalf("%s: window %v outside 50 rows", name, w)
				}
			}
		}
	})
}
