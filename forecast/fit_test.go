package forecast

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func TestFitDegenerate(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	daily := Spec{Seasonality: SeasonAdditive, Periods: []int{1440}}
	mult := Spec{Seasonality: SeasonMultiplicative, Periods: []int{24}}
	double := Spec{Seasonality: SeasonAdditive, Periods: []int{24, 168}}
	tests := []struct {
		name     string
		values   []float64
		spec     Spec
		wantErr  error
		wantNote NoteCode
		wantSpec string
	}{
		{"empty", nil, Spec{}, ErrNoData, "", ""},
		{"all missing", []float64{nan, nan, nan, nan, nan}, Spec{}, ErrNoData, "", ""},
		{"all infinite", []float64{inf, -inf, inf, inf}, Spec{}, ErrNoData, "", ""},
		{"three values", []float64{1, 2, 3}, Spec{}, ErrTooShort, "", ""},
		{"constant", slices.Repeat([]float64{7}, 100), daily, nil, NoteConstant, "(N,N)"},
		{"constant with gaps", []float64{7, nan, 7, 7, nan, 7}, Spec{}, nil, NoteConstant, "(N,N)"},
		{"infinite values", append(seasonal(200, 24, 10, 2, 0.5, 1), inf, -inf, 3), Spec{}, nil, NoteNonFinite, "(N,N)"},
		{"gaps", withGaps(seasonal(200, 24, 10, 2, 0.5, 2), 7), Spec{}, nil, NoteMissing, "(N,N)"},
		{"shorter than two seasons", seasonal(2000, 1440, 10, 2, 0.5, 3), daily, nil, NoteShortHistory, "(N,N)"},
		{"double season, shorter than two weeks", seasonal(24*10, 24, 10, 2, 0.5, 4), double, nil, NoteShortHistory, "(N,A) m=24"},
		{"negative values, multiplicative", seasonal(24*10, 24, 0, 2, 0.5, 5), mult, nil, NoteNonPositive, "(N,A) m=24"},
		{"zero values, multiplicative", append([]float64{0}, seasonal(24*10, 24, 10, 2, 0.5, 6)...), mult, nil, NoteNonPositive, "(N,A) m=24"},
		{"huge values", scaled(seasonal(24*10, 24, 10, 2, 0.5, 7), 1e150), Spec{Seasonality: SeasonAdditive, Periods: []int{24}}, nil, "", "(N,A) m=24"},
		{"tiny values", scaled(seasonal(24*10, 24, 10, 2, 0.5, 8), 1e-150), mult, nil, "", "(N,M) m=24"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Fit(minuteSeries(tt.values), tt.spec, FitOptions{})
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("error %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.wantNote != "" && !hasNote(m.Notes, tt.wantNote) {
				t.Errorf("notes %v, want one with code %s", m.Notes, tt.wantNote)
			}
			if got := m.Spec.String(); got != tt.wantSpec {
				t.Errorf("fitted %s, want %s", got, tt.wantSpec)
			}
			f, err := m.Predict(30, 0.9)
			if err != nil {
				t.Fatal(err)
			}
			for i := range f.Mean {
				if !isFinite(f.Mean[i]) || !isFinite(f.Lower[i]) || !isFinite(f.Upper[i]) {
					t.Fatalf("step %d: forecast %g [%g, %g] is not finite", i, f.Mean[i], f.Lower[i], f.Upper[i])
				}
				if f.Lower[i] > f.Mean[i] || f.Mean[i] > f.Upper[i] {
					t.Fatalf("step %d: %g is outside its band [%g, %g]", i, f.Mean[i], f.Lower[i], f.Upper[i])
				}
			}
			if tt.wantNote == NoteConstant && (f.Mean[0] != 7 || f.Upper[0] != 7) {
				t.Errorf("constant history: forecast %g [%g, %g], want 7 with no band", f.Mean[0], f.Lower[0], f.Upper[0])
			}
		})
	}
}

func TestFitBadInput(t *testing.T) {
	s := minuteSeries(seasonal(100, 10, 5, 1, 0.1, 9))
	for _, spec := range []Spec{
		{Trend: 7},
		{Seasonality: 9, Periods: []int{10}},
		{Seasonality: SeasonAdditive},
		{Seasonality: SeasonAdditive, Periods: []int{1}},
		{Seasonality: SeasonAdditive, Periods: []int{10, 25}},
		{Seasonality: SeasonNone, Periods: []int{10}},
	} {
		if _, err := Fit(s, spec, FitOptions{}); !errors.Is(err, ErrBadSpec) {
			t.Errorf("%+v: error %v, want ErrBadSpec", spec, err)
		}
	}
	s.Step = 0
	if _, err := Fit(s, Spec{}, FitOptions{}); !errors.Is(err, ErrBadStep) {
		t.Errorf("zero step: error %v, want ErrBadStep", err)
	}
}

// The optimiser's kernels are hand-inlined copies of state.step; they must
// agree with it (and so with Smooth, which the statsmodels vectors check).
func TestKernelsMatchStep(t *testing.T) {
	y := withGaps(seasonal(24*14, 24, 50, 10, 2, 10), 5)
	week := seasonal(168*3, 24, 50, 10, 2, 11)
	for _, tc := range []struct {
		spec Spec
		p    Params
		y    []float64
	}{
		{Spec{}, Params{Alpha: 0.3}, y},
		{Spec{AR: true}, Params{Alpha: 0.3, Lambda: 0.6}, y},
		{Spec{Trend: TrendDamped}, Params{Alpha: 0.3, Beta: 0.2, Phi: 0.9}, y},
		{Spec{Trend: TrendAdditive, Seasonality: SeasonAdditive, Periods: []int{24}, AR: true}, Params{Alpha: 0.3, Beta: 0.1, Phi: 1, Gamma: []float64{0.2}, Lambda: 0.5}, y},
		{Spec{Trend: TrendDamped, Seasonality: SeasonMultiplicative, Periods: []int{24}, AR: true}, Params{Alpha: 0.3, Beta: 0.1, Phi: 0.95, Gamma: []float64{0.2}, Lambda: 0.5}, y},
		{Spec{Seasonality: SeasonAdditive, Periods: []int{24}, AR: true}, Params{Alpha: 0.3, Gamma: []float64{0.2}, Lambda: 0.5}, y},
		{Spec{Seasonality: SeasonMultiplicative, Periods: []int{24}, AR: true}, Params{Alpha: 0.3, Gamma: []float64{0.2}, Lambda: 0.5}, y},
		{Spec{Seasonality: SeasonMultiplicative, Periods: []int{24}}, Params{Alpha: 0.7, Gamma: []float64{0.05}}, y},
		{Spec{Seasonality: SeasonAdditive, Periods: []int{24, 168}}, Params{Alpha: 0.3, Gamma: []float64{0.1, 0.2}}, week},
		{Spec{Seasonality: SeasonMultiplicative, Periods: []int{24, 168}, AR: true}, Params{Alpha: 0.3, Gamma: []float64{0.1, 0.2}, Lambda: 0.3}, week},
	} {
		t.Run(tc.spec.String(), func(t *testing.T) {
			c, err := newCoef(tc.spec, tc.p)
			if err != nil {
				t.Fatal(err)
			}
			st, err := newState(tc.spec, initialState(tc.spec, tc.y))
			if err != nil {
				t.Fatal(err)
			}
			ref := st.clone()
			var want float64
			for _, v := range tc.y {
				if e := v - ref.step(&c, v); isFinite(e) {
					want += e * e
				}
			}
			got := sseKernel(&c, &st, tc.y)
			if !closeRel(got, want, 1e-9) {
				t.Errorf("kernel SSE %.12g, step %.12g", got, want)
			}
			if !closeRel(st.level, ref.level, 1e-9) || !closeRel(st.slope, ref.slope, 1e-9) || st.phase != ref.phase {
				t.Errorf("kernel end state (%g, %g, %v), step (%g, %g, %v)", st.level, st.slope, st.phase, ref.level, ref.slope, ref.phase)
			}
		})
	}
}

// A model moved on with Observe forecasts as one whose smoothing pass ran
// over the whole series, with the same parameters and initial state.
func TestObserve(t *testing.T) {
	y := seasonal(24*20, 24, 50, 10, 2, 12)
	spec := Spec{Seasonality: SeasonAdditive, Periods: []int{24}, AR: true}
	p := Params{Alpha: 0.4, Gamma: []float64{0.2}, Lambda: 0.3}
	init := initialState(spec, y[:24*15])
	opts := FitOptions{Params: &p, Init: &init}
	part, err := Fit(minuteSeries(y[:24*15]), spec, opts)
	if err != nil {
		t.Fatal(err)
	}
	full, err := Fit(minuteSeries(y), spec, opts)
	if err != nil {
		t.Fatal(err)
	}
	moved := part.Clone()
	for _, v := range y[24*15:] {
		moved.Observe(v)
	}
	if !moved.Next.Equal(full.Next) {
		t.Errorf("Next %s, want %s", moved.Next, full.Next)
	}
	if part.Next.Equal(moved.Next) {
		t.Error("Observe on a clone moved the original")
	}
	a, _ := moved.Predict(24, 0.9)
	b, _ := full.Predict(24, 0.9)
	for i := range a.Mean {
		if !closeRel(a.Mean[i], b.Mean[i], 1e-9) {
			t.Fatalf("step %d: after Observe %g, smoothed %g", i, a.Mean[i], b.Mean[i])
		}
	}
}

// The adjoint pass is the transpose of the tangent pass: ⟨Zv, w⟩ = ⟨v, Zᵀw⟩
// for any v and w (the "dot-product test").
func TestAdjointIsTranspose(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	y := withGaps(seasonal(24*8, 24, 50, 10, 2, 13), 11)
	for _, tc := range []struct {
		spec Spec
		p    Params
	}{
		{Spec{AR: true}, Params{Alpha: 0.4, Lambda: 0.5}},
		{Spec{Trend: TrendDamped, AR: true}, Params{Alpha: 0.4, Beta: 0.3, Phi: 0.9, Lambda: 0.5}},
		{Spec{Seasonality: SeasonAdditive, Periods: []int{24}, AR: true}, Params{Alpha: 0.4, Gamma: []float64{0.3}, Lambda: 0.5}},
		{Spec{Seasonality: SeasonMultiplicative, Periods: []int{24}, AR: true}, Params{Alpha: 0.4, Gamma: []float64{0.3}, Lambda: 0.5}},
		{Spec{Trend: TrendDamped, Seasonality: SeasonAdditive, Periods: []int{24}, AR: true}, Params{Alpha: 0.4, Beta: 0.3, Phi: 0.9, Gamma: []float64{0.3}, Lambda: 0.5}},
		{Spec{Trend: TrendDamped, Seasonality: SeasonMultiplicative, Periods: []int{24}, AR: true}, Params{Alpha: 0.4, Beta: 0.3, Phi: 0.9, Gamma: []float64{0.3}, Lambda: 0.5}},
		{Spec{Seasonality: SeasonAdditive, Periods: []int{12, 24}}, Params{Alpha: 0.4, Gamma: []float64{0.2, 0.3}}},
		{Spec{Seasonality: SeasonMultiplicative, Periods: []int{12, 24}}, Params{Alpha: 0.4, Gamma: []float64{0.2, 0.3}}},
	} {
		t.Run(tc.spec.String(), func(t *testing.T) {
			c, _ := newCoef(tc.spec, tc.p)
			st, err := newState(tc.spec, initialState(tc.spec, y))
			if err != nil {
				t.Fatal(err)
			}
			tr, _, _ := newTrajectory(&c, &st, y)
			v := make([]float64, tr.nVars)
			w := make([]float64, len(y))
			for i := range v {
				v[i] = rng.NormFloat64()
			}
			for i := range w {
				w[i] = rng.NormFloat64()
			}
			zv := make([]float64, len(y))
			ztw := make([]float64, tr.nVars)
			tr.tangent(v, zv)
			tr.adjoint(w, ztw)
			if a, b := dot(zv, w), dot(v, ztw); !closeRel(a, b, 1e-9) {
				t.Errorf("⟨Zv, w⟩ = %.12g, ⟨v, Zᵀw⟩ = %.12g", a, b)
			}
			// And the tangent is the derivative: compare with a finite
			// difference of the residuals.
			const h = 1e-6
			moved := st.clone()
			x := tr.vars(&moved)
			for i := range x {
				x[i] += h * v[i]
			}
			tr.apply(&moved, x)
			_, a0, _ := newTrajectory(&c, &st, y)
			_, a1, _ := newTrajectory(&c, &moved, y)
			for i := range a0 {
				if fd := (a1[i] - a0[i]) / h; math.Abs(fd-zv[i]) > 1e-4*(1+math.Abs(zv[i])) {
					t.Fatalf("step %d: tangent %g, finite difference %g", i, zv[i], fd)
				}
			}
		})
	}
}

// The trajectory's forward passes (recordLevel, recordSeason,
// recordSeasonMult and the generic loop over state.step) leave out terms
// that are exact zeros and ones, so their residuals must be state.step's
// to the last bit: refineState, and so every fitted model, depends on it.
func TestTrajectoryMatchesStep(t *testing.T) {
	y := withGaps(seasonal(24*8, 24, 50, 10, 2, 14), 7)
	for _, tc := range []struct {
		spec Spec
		p    Params
	}{
		{Spec{AR: true}, Params{Alpha: 0.4, Lambda: 0.5}},
		{Spec{Trend: TrendDamped}, Params{Alpha: 0.4, Beta: 0.3, Phi: 0.9}},
		{Spec{Seasonality: SeasonAdditive, Periods: []int{24}, AR: true}, Params{Alpha: 0.4, Gamma: []float64{0.3}, Lambda: 0.5}},
		{Spec{Trend: TrendDamped, Seasonality: SeasonAdditive, Periods: []int{24}}, Params{Alpha: 0.4, Beta: 0.3, Phi: 0.9, Gamma: []float64{0.3}}},
		{Spec{Seasonality: SeasonMultiplicative, Periods: []int{24}, AR: true}, Params{Alpha: 0.4, Gamma: []float64{0.3}, Lambda: 0.5}},
		{Spec{Trend: TrendDamped, Seasonality: SeasonMultiplicative, Periods: []int{24}, AR: true}, Params{Alpha: 0.4, Beta: 0.3, Phi: 0.9, Gamma: []float64{0.3}, Lambda: 0.5}},
		{Spec{Seasonality: SeasonAdditive, Periods: []int{12, 24}, AR: true}, Params{Alpha: 0.4, Gamma: []float64{0.2, 0.3}, Lambda: 0.5}},
	} {
		t.Run(tc.spec.String(), func(t *testing.T) {
			c, _ := newCoef(tc.spec, tc.p)
			st, err := newState(tc.spec, initialState(tc.spec, y))
			if err != nil {
				t.Fatal(err)
			}
			if st.nSeas > 0 {
				st.phase[0] = 5 // not at the start of a cycle
			}
			tr, a, sse := newTrajectory(&c, &st, y)
			ref := st.clone()
			var want float64
			for i, v := range y {
				r := ref.resid
				var wantA float64
				if pred := ref.step(&c, v); isFinite(v) {
					wantA = v - pred
				}
				if a[i] != wantA {
					t.Fatalf("step %d: residual %v, state.step's %v", i, a[i], wantA)
				}
				if isFinite(v) && tr.e[i] != wantA+c.lambda*r {
					t.Fatalf("step %d: error %v, state.step's %v", i, tr.e[i], wantA+c.lambda*r)
				}
				want += wantA * wantA
			}
			if sse != want {
				t.Errorf("SSE %v, state.step's %v", sse, want)
			}
		})
	}
}

func closeRel(a, b, tol float64) bool {
	return math.Abs(a-b) <= tol*math.Max(1, math.Max(math.Abs(a), math.Abs(b)))
}

func withGaps(v []float64, every int) []float64 {
	v = slices.Clone(v)
	for i := every; i < len(v); i += every {
		v[i] = math.NaN()
	}
	return v
}

func scaled(v []float64, k float64) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = x * k
	}
	return out
}

// Taylor's double season earns its keep where days differ by weekday: on
// three weeks of a daily cycle with quieter weekends, the daily-and-weekly
// model forecasts the next weekend day far better than the daily one.
func TestDoubleSeasonal(t *testing.T) {
	const day, week = 1440, 7 * 1440
	y := dailyWeekly(3*week+6*day, 21) // ends on a Saturday's eve
	history, next := y[:3*week+5*day], y[3*week+5*day:]
	single, err := Fit(minuteSeries(history), Spec{Seasonality: SeasonAdditive, Periods: []int{day}}, FitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	double, err := Fit(minuteSeries(history), Spec{Seasonality: SeasonAdditive, Periods: []int{day, week}}, FitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	fs, _ := single.Predict(day, 0.9)
	fd, _ := double.Predict(day, 0.9)
	t.Logf("MAE over the Saturday: daily season %.2f, daily and weekly %.2f (%s)", mae(fs.Mean, next), mae(fd.Mean, next), double.Params)
	if mae(fd.Mean, next) > 0.5*mae(fs.Mean, next) {
		t.Errorf("the double season (MAE %.2f) is not clearly better than the single (%.2f)", mae(fd.Mean, next), mae(fs.Mean, next))
	}
}
