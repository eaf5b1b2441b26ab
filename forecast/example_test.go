package forecast_test

import (
	"fmt"
	"math"
	"time"

	"github.com/foresight-aiops/foresight/forecast"
)

// A week of request rates with a daily cycle, one value a minute; the
// forecast for the next hour, with the 0.9-quantile the scaler provisions
// for.
func ExampleFitAuto() {
	const day = 1440
	values := make([]float64, 7*day)
	for t := range values {
		values[t] = 300 + 200*math.Sin(2*math.Pi*float64(t)/day) + 10*math.Sin(float64(t))
	}
	s := forecast.Series{Start: time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC), Step: time.Minute, Values: values}
	m, sel, err := forecast.FitAuto(s, forecast.AutoOptions{Horizon: 60})
	if err != nil {
		fmt.Println(err)
		return
	}
	f, _ := m.Predict(60, 0.9)
	fmt.Println("season:", sel.Season.Periods)
	fmt.Println("model:", m.Spec)
	fmt.Printf("in an hour: %.0f (0.9-quantile %.0f)\n", f.Mean[59], f.Upper[59])
	// Output:
	// season: [1440]
	// model: (N,A) m=1440
	// in an hour: 352 (0.9-quantile 362)
}
