package forecast

import (
	"compress/gzip"
	"encoding/csv"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// traceDir holds the shared traces (see its README and NOTICE).
const traceDir = "../testdata/traces"

// loadTrace reads the values of a one-minute trace. (The csvseries package
// reads them in production; it imports this one, so the tests cannot.)
func loadTrace(t testing.TB, name string) Series {
	t.Helper()
	f, err := os.Open(filepath.Join(traceDir, name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(gz).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	values := make([]float64, 0, len(rows)-1)
	for _, r := range rows[1:] {
		v, err := strconv.ParseFloat(r[1], 64)
		if err != nil {
			t.Fatal(err)
		}
		values = append(values, v)
	}
	return Series{Start: time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC), Step: time.Minute, Values: values}
}

// whiteNoise returns n standard normal values around level.
func whiteNoise(n int, level float64, seed uint64) []float64 {
	rng := rand.New(rand.NewPCG(seed, 1))
	v := make([]float64, n)
	for i := range v {
		v[i] = level + rng.NormFloat64()
	}
	return v
}

// randomWalk returns n steps of a Gaussian random walk from level.
func randomWalk(n int, level float64, seed uint64) []float64 {
	rng := rand.New(rand.NewPCG(seed, 2))
	v := make([]float64, n)
	for i := range v {
		level += rng.NormFloat64()
		v[i] = level
	}
	return v
}

// seasonal returns n steps of level + amp·sin(2πt/period) plus Gaussian
// noise of standard deviation sd.
func seasonal(n, period int, level, amp, sd float64, seed uint64) []float64 {
	rng := rand.New(rand.NewPCG(seed, 3))
	v := make([]float64, n)
	for t := range v {
		v[t] = level + amp*math.Sin(2*math.Pi*float64(t)/float64(period)) + sd*rng.NormFloat64()
	}
	return v
}

func minuteSeries(v []float64) Series {
	return Series{Start: time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC), Step: time.Minute, Values: v}
}

func mean(v []float64) float64 {
	var s float64
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}

func mae(a, b []float64) float64 {
	var s float64
	for i := range a {
		s += math.Abs(a[i] - b[i])
	}
	return s / float64(len(a))
}
