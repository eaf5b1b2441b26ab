package nab

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"time"
)

// FileLabels are the labels of one data file, in one of three forms:
// NAB's windows between two timestamps (labels/combined_windows.json),
// NAB's anomaly timestamps (labels/combined_labels.json), around which
// WindowsAround builds the windows, or labelled incidents as row ranges by
// kind (Foresight's synthetic traces: {"outages": [[start, end), …],
// "holiday": [start, end)}), whose first rows are the labels.
type FileLabels struct {
	Windows [][2]time.Time
	Times   []time.Time
	// Incidents maps a kind to its row ranges [start, end).
	Incidents map[string][][2]int
}

// Labels maps a data file's path, relative to the corpus directory and
// with forward slashes, to its labels.
type Labels map[string]FileLabels

// maxLabelBytes bounds a labels file: NAB's own is 40 kB.
const maxLabelBytes = 64 << 20

// ErrBadLabels is wrapped by the errors of ReadLabels.
var ErrBadLabels = errors.New("invalid labels file")

// ReadLabels reads a labels file in any of the forms of FileLabels; each
// file's entry may use its own form.
func ReadLabels(r io.Reader) (Labels, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxLabelBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read labels: %w", err)
	}
	if len(data) > maxLabelBytes {
		return nil, fmt.Errorf("%w: larger than %d MiB", ErrBadLabels, maxLabelBytes>>20)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("%w: %w: it must be a JSON object from data file names to their labels", ErrBadLabels, err)
	}
	out := Labels{}
	for name, v := range raw {
		fl, err := parseFileLabels(v)
		if err != nil {
			return nil, fmt.Errorf("%w: %q: %w", ErrBadLabels, name, err)
		}
		out[name] = fl
	}
	return out, nil
}

func parseFileLabels(v json.RawMessage) (FileLabels, error) {
	var fl FileLabels
	var pairs [][2]string
	if err := json.Unmarshal(v, &pairs); err == nil {
		for _, p := range pairs {
			a, err := parseTime(p[0])
			if err != nil {
				return fl, err
			}
			b, err := parseTime(p[1])
			if err != nil {
				return fl, err
			}
			if b.Before(a) {
				return fl, fmt.Errorf("window %s to %s ends before it starts", p[0], p[1])
			}
			fl.Windows = append(fl.Windows, [2]time.Time{a, b})
		}
		return fl, nil
	}
	var times []string
	if err := json.Unmarshal(v, &times); err == nil {
		for _, s := range times {
			t, err := parseTime(s)
			if err != nil {
				return fl, err
			}
			fl.Times = append(fl.Times, t)
		}
		return fl, nil
	}
	var kinds map[string]json.RawMessage
	if err := json.Unmarshal(v, &kinds); err != nil {
		return fl, errors.New("labels must be a list of [start, end] timestamps, a list of timestamps, or an object of row ranges by kind")
	}
	fl.Incidents = map[string][][2]int{}
	for kind, rv := range kinds {
		var many [][2]int
		if err := json.Unmarshal(rv, &many); err != nil {
			var one [2]int
			if err := json.Unmarshal(rv, &one); err != nil {
				return fl, fmt.Errorf("kind %q: want [start, end) rows or a list of them", kind)
			}
			many = [][2]int{one}
		}
		for _, r := range many {
			if r[0] < 0 || r[1] <= r[0] {
				return fl, fmt.Errorf("kind %q: rows [%d, %d) are not a range", kind, r[0], r[1])
			}
		}
		fl.Incidents[kind] = many
	}
	return fl, nil
}

// parseTime reads NAB's "2014-02-19 10:50:00.000000", without the
// fraction too, or RFC 3339, in UTC.
func parseTime(s string) (time.Time, error) {
	if t, err := time.ParseInLocation("2006-01-02 15:04:05.999999999", s, time.UTC); err == nil {
		return t, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("timestamp %q: write YYYY-MM-DD HH:MM:SS[.ffffff] or RFC 3339", s)
	}
	return t.UTC(), nil
}

// Kinds returns the incident kinds of all files, sorted.
func (l Labels) Kinds() []string {
	set := map[string]bool{}
	for _, fl := range l {
		for k := range fl.Incidents {
			set[k] = true
		}
	}
	var out []string
	for k := range set {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// Resolve returns the windows of a data file whose rows are at times
// (sorted): NAB's windows mapped to the rows they cover, or windows built
// around the labels by WindowsAround. Incidents count only if their kind
// is in kinds (all kinds when kinds is empty).
func (fl FileLabels) Resolve(times []time.Time, kinds []string) []Window {
	n := len(times)
	if len(fl.Windows) > 0 {
		var out []Window
		for _, w := range fl.Windows {
			a := sort.Search(n, func(i int) bool { return !times[i].Before(w[0]) })
			b := sort.Search(n, func(i int) bool { return times[i].After(w[1]) }) - 1
			if a <= b {
				out = append(out, Window{a, b})
			}
		}
		return mergeWindows(out)
	}
	var rows []int
	for _, t := range fl.Times {
		if i := sort.Search(n, func(i int) bool { return !times[i].Before(t) }); i < n {
			rows = append(rows, i)
		}
	}
	for kind, ranges := range fl.Incidents {
		if len(kinds) > 0 && !slices.Contains(kinds, kind) {
			continue
		}
		for _, r := range ranges {
			if r[0] < n {
				rows = append(rows, r[0])
			}
		}
	}
	return WindowsAround(n, rows)
}

func mergeWindows(ws []Window) []Window {
	slices.SortFunc(ws, func(a, b Window) int { return a.Start - b.Start })
	var out []Window
	for _, w := range ws {
		if k := len(out) - 1; k >= 0 && w.Start <= out[k].End {
			out[k].End = max(out[k].End, w.End)
			continue
		}
		out = append(out, w)
	}
	return out
}

// Names returns the labelled file names, sorted.
func (l Labels) Names() []string {
	out := make([]string, 0, len(l))
	for k := range l {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// normalizeName turns a path into the form of Labels' keys.
func normalizeName(p string) string {
	return strings.TrimPrefix(strings.ReplaceAll(p, "\\", "/"), "./")
}

// Lookup returns the labels of the file at the relative path name.
func (l Labels) Lookup(name string) (FileLabels, bool) {
	fl, ok := l[normalizeName(name)]
	return fl, ok
}
