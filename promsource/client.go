// Package promsource reads time series from a PromQL HTTP API: Prometheus,
// VictoriaMetrics and Thanos. Range queries give a model its history
// (chunked below the server's points-per-query limit), instant queries give
// the live, reactive value. Datasources are named, and configured in YAML or
// by one URL.
//
// Failed queries return a *QueryError that matches ErrUnavailable (the
// datasource could not answer: serve what you have) or ErrBadQuery (the
// query must change) with errors.Is.
package promsource

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/foresight-aiops/foresight/forecast"
)

// Client queries one datasource. It is safe for concurrent use.
type Client struct {
	name      string
	url       string
	timeout   time.Duration
	maxPoints int
	api       api.Client
	logger    *slog.Logger
}

// New returns a client of ds, which it validates. Zero fields of ds take
// their defaults. A nil logger discards; the client logs the warnings a
// datasource attaches to an answer (such as a Thanos partial response).
func New(ds Datasource, logger *slog.Logger) (*Client, error) {
	if err := ds.Validate(); err != nil {
		return nil, err
	}
	ds = ds.withDefaults()
	transport, ok := http.DefaultTransport.(*http.Transport)
	if !ok {
		return nil, fmt.Errorf("datasource %q: http.DefaultTransport is a %T, not an *http.Transport", ds.Name, http.DefaultTransport)
	}
	transport = transport.Clone()
	if ds.TLS != nil {
		cfg, err := ds.TLS.build()
		if err != nil {
			return nil, fmt.Errorf("datasource %q: %w", ds.Name, err)
		}
		transport.TLSClientConfig = cfg
	}
	ac, err := api.NewClient(api.Config{
		Address:      ds.URL,
		RoundTripper: &authTransport{next: transport, ds: ds},
	})
	if err != nil {
		return nil, fmt.Errorf("datasource %q: %w", ds.Name, err)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Client{
		name:      ds.Name,
		url:       ds.URL,
		timeout:   ds.Timeout,
		maxPoints: ds.MaxPointsPerQuery,
		api:       ac,
		logger:    logger,
	}, nil
}

// Name returns the datasource's name.
func (c *Client) Name() string { return c.name }

// Range evaluates query at start, start+step, … up to end and returns the
// samples of its one series in time order, within [start, end]. A range of
// more than the datasource's max_points_per_query points is read in
// consecutive queries, each under the datasource's timeout; their results are
// concatenated without repeating a timestamp. A query that matches nothing
// returns no samples and no error; one that returns several series is an
// ErrBadQuery. NaN values, stale markers included, are returned as NaN.
func (c *Client) Range(ctx context.Context, query string, start, end time.Time, step time.Duration) ([]forecast.Sample, error) {
	if step <= 0 {
		return nil, fmt.Errorf("range query %q on datasource %q: step %v is not positive", query, c.name, step)
	}
	if end.Before(start) {
		return nil, fmt.Errorf("range query %q on datasource %q: end %v is before start %v", query, c.name, end, start)
	}
	// Each chunk holds at most maxPoints evaluation times: from, from+step,
	// …, from+span. The next chunk starts one step later, so chunks share
	// no time.
	span := end.Sub(start)
	if points := int64(span/step) + 1; points > int64(c.maxPoints) {
		span = time.Duration(c.maxPoints-1) * step
	}
	var (
		out    []forecast.Sample
		series model.Metric
	)
	for from := start; !from.After(end); from = from.Add(span + step) {
		to := from.Add(span)
		if to.After(end) {
			to = end
		}
		r := v1.Range{Start: from, End: to, Step: step}
		v, err := c.call(ctx, query, func(ctx context.Context, a v1.API) (model.Value, v1.Warnings, error) {
			v, warnings, err := a.QueryRange(ctx, query, r, v1.WithTimeout(c.timeout))
			return v, warnings, err
		})
		if err != nil {
			return nil, err
		}
		m, ok := v.(model.Matrix)
		if !ok {
			return nil, c.badQuery(query, fmt.Errorf("the result is a %s, not a range of values", v.Type()), "give an expression that evaluates to an instant vector or a scalar")
		}
		if len(m) > 1 {
			return nil, c.multipleSeries(query, len(m), func(i int) model.Metric { return m[i].Metric })
		}
		if len(m) == 0 {
			continue
		}
		switch {
		case series == nil:
			series = m[0].Metric
		case !series.Equal(m[0].Metric):
			return nil, c.badQuery(query, fmt.Errorf("the result is %v in one part of the range and %v in another", series, m[0].Metric),
				fmt.Sprintf("aggregate it to one series, e.g. sum(%s) or max(%s)", query, query))
		}
		if len(m[0].Values) == 0 && len(m[0].Histograms) > 0 {
			return nil, c.badQuery(query, errors.New("the result is a native histogram"), "give a number per time, e.g. with histogram_quantile, histogram_sum or histogram_count")
		}
		for _, p := range m[0].Values {
			t := time.UnixMilli(int64(p.Timestamp))
			if t.Before(start) || t.After(end) || (len(out) > 0 && !t.After(out[len(out)-1].T)) {
				continue
			}
			out = append(out, forecast.Sample{T: t, V: value(p.Value)})
		}
	}
	return out, nil
}

// Instant evaluates query at the given time. ok is false when the result is
// empty (the query matched nothing). A scalar or a one-series vector gives
// its value; NaN, stale markers included, is returned as NaN. Several series
// or a range vector are an ErrBadQuery.
func (c *Client) Instant(ctx context.Context, query string, at time.Time) (v float64, ok bool, err error) {
	res, err := c.call(ctx, query, func(ctx context.Context, a v1.API) (model.Value, v1.Warnings, error) {
		v, warnings, err := a.Query(ctx, query, at, v1.WithTimeout(c.timeout))
		return v, warnings, err
	})
	if err != nil {
		return 0, false, err
	}
	switch res := res.(type) {
	case *model.Scalar:
		return value(res.Value), true, nil
	case model.Vector:
		switch {
		case len(res) == 0:
			return 0, false, nil
		case len(res) > 1:
			return 0, false, c.multipleSeries(query, len(res), func(i int) model.Metric { return res[i].Metric })
		case res[0].Histogram != nil:
			return 0, false, c.badQuery(query, errors.New("the result is a native histogram"), "give a number, e.g. with histogram_quantile, histogram_sum or histogram_count")
		}
		return value(res[0].Value), true, nil
	case model.Matrix:
		return 0, false, c.badQuery(query, errors.New("the result is a range vector"), "an instant query needs an instant vector: remove the [range] selector, or apply a function such as rate() to it")
	default:
		return 0, false, c.badQuery(query, fmt.Errorf("the result is a %s, not a number", res.Type()), "give an expression that evaluates to an instant vector or a scalar")
	}
}

// call makes one API call under the datasource's timeout, logs the warnings
// that came with the answer, and classifies the error.
func (c *Client) call(ctx context.Context, query string, do func(context.Context, v1.API) (model.Value, v1.Warnings, error)) (model.Value, error) {
	callCtx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	sc := &statusClient{Client: c.api}
	v, warnings, err := do(callCtx, v1.NewAPI(sc))
	if len(warnings) > 0 {
		c.logger.WarnContext(ctx, "the datasource warned that its answer may be incomplete or wrong",
			"datasource", c.name, "query", query, "warnings", strings.Join(warnings, "; "))
	}
	if err != nil {
		return nil, c.classify(ctx, query, sc.status, err)
	}
	return v, nil
}

func (c *Client) multipleSeries(query string, n int, metric func(int) model.Metric) error {
	const shown = 3
	names := make([]string, 0, shown+1)
	for i := range min(n, shown) {
		names = append(names, metric(i).String())
	}
	if n > shown {
		names = append(names, "…")
	}
	return c.badQuery(query, fmt.Errorf("the result has %d series (%s), and a forecast needs one", n, strings.Join(names, ", ")),
		fmt.Sprintf("aggregate it to one series, e.g. sum(%s) or max(%s)", query, query))
}

// value returns v as a float64. Every NaN becomes the ordinary NaN, so that
// Prometheus's stale marker (a NaN with a particular bit pattern) reads as a
// missing value and not as a special one.
func value(v model.SampleValue) float64 {
	if math.IsNaN(float64(v)) {
		return math.NaN()
	}
	return float64(v)
}

// statusClient records the HTTP status of the last response, which the
// v1 API's errors do not carry, for classify. One is made per call.
type statusClient struct {
	api.Client
	status int
}

func (s *statusClient) Do(ctx context.Context, req *http.Request) (*http.Response, []byte, error) {
	resp, body, err := s.Client.Do(ctx, req)
	if resp != nil {
		s.status = resp.StatusCode
	}
	return resp, body, err
}
