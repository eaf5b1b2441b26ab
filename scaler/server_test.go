package scaler

import (
	"context"
	"crypto/tls"
	"log/slog"
	"math"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/kedacore/keda/v2/pkg/scalers/externalscaler"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/foresight-aiops/foresight/internal/testcerts"
	foresightv1 "github.com/foresight-aiops/foresight/proto/foresight/v1"
)

// serve starts the scaler's gRPC service on a loopback port and returns a
// client for it.
func serve(t *testing.T, pr *Predictor, serverTLS *tls.Config, clientCreds credentials.TransportCredentials) externalscaler.ExternalScalerClient {
	t.Helper()
	var opts []grpc.ServerOption
	if serverTLS != nil {
		opts = append(opts, grpc.Creds(credentials.NewTLS(serverTLS)))
	}
	gs := grpc.NewServer(opts...)
	srv := NewServer(pr, nil)
	srv.StreamInterval = 20 * time.Millisecond
	externalscaler.RegisterExternalScalerServer(gs, srv)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = gs.Serve(lis) }()
	t.Cleanup(gs.Stop)
	if clientCreds == nil {
		clientCreds = insecure.NewCredentials()
	}
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(clientCreds))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return externalscaler.NewExternalScalerClient(conn)
}

func scaledObject(md map[string]string) *externalscaler.ScaledObjectRef {
	full := map[string]string{
		"scalerAddress":    "foresight:9090", // KEDA sends its own keys too
		"query":            `sum(requests_per_second{job="api"})`,
		"targetPerReplica": "50",
	}
	for k, v := range md {
		full[k] = v
	}
	return &externalscaler.ScaledObjectRef{Name: "api", Namespace: "shop", ScalerMetadata: full}
}

func TestServer(t *testing.T) {
	now := time.Date(2026, 3, 16, 8, 57, 0, 0, time.UTC)
	pr, vm, c := newVMPredictor(t, now, Options{QueryTimeout: time.Second})
	client := serve(t, pr, nil, nil)
	ctx := context.Background()
	so := scaledObject(nil)

	spec, err := client.GetMetricSpec(ctx, so)
	if err != nil {
		t.Fatal(err)
	}
	if ms := spec.GetMetricSpecs(); len(ms) != 1 || ms[0].GetTargetSizeFloat() != 50 || ms[0].GetTargetSize() != 50 || ms[0].GetMetricName() != MetricName {
		t.Errorf("metric spec %v", ms)
	}
	active, err := client.IsActive(ctx, so)
	if err != nil || !active.GetResult() {
		t.Errorf("IsActive = %v, %v; want true with a load of about 100", active, err)
	}
	var value float64
	waitFor(t, "a forecast above the current load", func() bool {
		resp, err := client.GetMetrics(ctx, &externalscaler.GetMetricsRequest{ScaledObjectRef: so, MetricName: MetricName})
		if err != nil {
			t.Fatal(err)
		}
		value = resp.GetMetricValues()[0].GetMetricValueFloat()
		return value > 110
	})
	if resp, _ := client.GetMetrics(ctx, &externalscaler.GetMetricsRequest{ScaledObjectRef: so, MetricName: "s0-foresight"}); resp.GetMetricValues()[0].GetMetricValue() != int64(math.Ceil(resp.GetMetricValues()[0].GetMetricValueFloat())) {
		t.Errorf("the int64 value does not match the float one: %v", resp)
	}

	stream, err := client.StreamIsActive(ctx, so)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := stream.Recv(); err != nil || !got.GetResult() {
		t.Errorf("StreamIsActive: %v, %v", got, err)
	}
	// StreamMetricSpec is Unimplemented on purpose (see Server): KEDA
	// stops asking on that code, and on no other.
	specs, err := client.StreamMetricSpec(ctx, so)
	if err == nil {
		_, err = specs.Recv()
	}
	if status.Code(err) != codes.Unimplemented {
		t.Errorf("StreamMetricSpec: %v, want Unimplemented", err)
	}

	// The datasource goes away: the last values hold for maxStaleness,
	// then Unavailable, so that KEDA's fallback acts.
	vm.Stop()
	c.Set(now.Add(2 * time.Minute))
	waitFor(t, "the failed refresh", func() bool {
		_, err := client.GetMetrics(ctx, &externalscaler.GetMetricsRequest{ScaledObjectRef: so})
		return err == nil && pr.stale(so)
	})
	c.Set(now.Add(15 * time.Minute))
	_, err = client.GetMetrics(ctx, &externalscaler.GetMetricsRequest{ScaledObjectRef: so})
	if status.Code(err) != codes.Unavailable {
		t.Errorf("after maxStaleness: %v, want Unavailable", err)
	}
	if _, err := client.GetMetricSpec(ctx, so); err != nil {
		t.Errorf("GetMetricSpec must not depend on the datasource: %v", err)
	}
}

// stale reports whether the model of so is serving from stale data.
func (pr *Predictor) stale(so *externalscaler.ScaledObjectRef) bool {
	p, err := ParsePolicy(so.GetScalerMetadata())
	if err != nil {
		return false
	}
	e := pr.entry(p, pr.opts.Now())
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.readErr != nil
}

func TestServerInvalidArgument(t *testing.T) {
	now := time.Date(2026, 3, 16, 12, 0, 0, 0, time.UTC)
	pr, _, _ := newVMPredictor(t, now, Options{})
	client := serve(t, pr, nil, nil)
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		md   map[string]string
		want string
	}{
		{"typo", map[string]string{"targetPerReplcia": "5"}, "targetPerReplica"},
		{"bad value", map[string]string{"targetPerReplica": "abc"}, "targetPerReplica"},
		{"a URL as datasource", map[string]string{"datasource": "http://evil:9090"}, "datasource"},
		{"bad PromQL", map[string]string{"query": "sum(rate(x[5m]"}, "fix the query"},
		{"unknown datasource", map[string]string{"datasource": "thanos"}, "thanos"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			so := scaledObject(tc.md)
			_, err := client.GetMetrics(ctx, &externalscaler.GetMetricsRequest{ScaledObjectRef: so})
			if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("GetMetrics: %v; want InvalidArgument naming %q", err, tc.want)
			}
			if _, err := client.IsActive(ctx, so); status.Code(err) != codes.InvalidArgument {
				t.Errorf("IsActive: %v, want InvalidArgument", err)
			}
		})
	}
}

// With the server's client CA set, KEDA's tlsClientCert is required.
func TestServerMutualTLS(t *testing.T) {
	dir := t.TempDir()
	ca := testcerts.NewCA(t)
	caFile := ca.WriteFile(t, dir)
	serverCert, serverKey := ca.Issue(t, "127.0.0.1").WriteFiles(t, dir, "server")
	client := ca.Issue(t, "keda")

	serverTLS, err := ServerTLS(serverCert, serverKey, caFile)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 3, 16, 12, 0, 0, 0, time.UTC)
	pr, _, _ := newVMPredictor(t, now, Options{})
	ctx := context.Background()

	withCert := serve(t, pr, serverTLS, credentials.NewTLS(&tls.Config{RootCAs: ca.Pool(), Certificates: []tls.Certificate{client.TLS}, MinVersion: tls.VersionTLS12}))
	if _, err := withCert.GetMetricSpec(ctx, scaledObject(nil)); err != nil {
		t.Errorf("with a client certificate: %v", err)
	}
	without := serve(t, pr, serverTLS, credentials.NewTLS(&tls.Config{RootCAs: ca.Pool(), MinVersion: tls.VersionTLS12}))
	if _, err := without.GetMetricSpec(ctx, scaledObject(nil)); status.Code(err) != codes.Unavailable {
		t.Errorf("without a client certificate: %v, want the handshake refused", err)
	}
	if _, err := ServerTLS(serverCert, serverKey, serverKey); err == nil {
		t.Error("a key as the client CA: no error")
	}
}

// Explain tells what lies behind an answer, and agrees with GetMetrics.
func TestExplain(t *testing.T) {
	now := time.Date(2026, 3, 16, 8, 57, 30, 0, time.UTC)
	pr, _, _ := newVMPredictor(t, now, Options{})
	srv := NewServer(pr, nil)
	ctx := context.Background()
	so := scaledObject(map[string]string{"excludeWindows": "2026-03-15T10:00:00Z/2026-03-15T11:00:00Z"})
	req := &foresightv1.ExplainRequest{Namespace: so.Namespace, Name: so.Name, Metadata: so.ScalerMetadata}
	var x *foresightv1.ExplainResponse
	waitFor(t, "a model", func() bool {
		var err error
		x, err = srv.Forecasts().Explain(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		return x.GetModel() != nil
	})
	resp, err := srv.GetMetrics(ctx, &externalscaler.GetMetricsRequest{ScaledObjectRef: so})
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.GetMetricValues()[0].GetMetricValueFloat(); math.Abs(got-x.GetServed()) > 1e-9 {
		t.Errorf("Explain serves %g, GetMetrics %g", x.GetServed(), got)
	}
	h := x.GetHistory()
	if h.GetPoints() != 7*1440 || h.GetExcludedPoints() != 60 || h.GetStepSeconds() != 60 {
		t.Errorf("history %v: want a week of minutes with the hour of excludeWindows left out", h)
	}
	if !h.GetEnd().AsTime().Equal(now.Truncate(time.Minute)) {
		t.Errorf("history ends %s, want %s", h.GetEnd().AsTime(), now.Truncate(time.Minute))
	}
	f := x.GetForecast()
	last := f.GetStart().AsTime().Add(time.Duration(len(f.GetMean())-1) * time.Minute)
	if last.Before(now.Add(5*time.Minute)) || f.GetQuantile() != 0.9 {
		t.Errorf("forecast to %s at quantile %g: want the lead time covered, 0.9", last, f.GetQuantile())
	}
	if x.GetReason() != "forecast" || x.GetPredicted() <= x.GetReactive() || x.GetPeakCap() <= x.GetPeak() || x.GetPolicy()["leadTime"] != "5m0s" {
		t.Errorf("explanation %v", x)
	}
	if _, err := srv.Forecasts().Explain(ctx, &foresightv1.ExplainRequest{Name: "x", Metadata: map[string]string{"query": "q"}}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("no targetPerReplica: %v, want InvalidArgument", err)
	}
}

// The metrics say what was served and why, and which model did it.
func TestMetrics(t *testing.T) {
	now := time.Date(2026, 3, 16, 8, 57, 30, 0, time.UTC)
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	pr, _, _ := newVMPredictor(t, now, Options{Observer: m})
	p := testPolicy(t, nil)
	waitFor(t, "a model", func() bool {
		pred, err := pr.Predict(context.Background(), ref, p)
		return err == nil && pred.Model != ""
	})
	for _, tc := range []struct {
		metric string
		labels []string
		check  func(float64) bool
	}{
		{"foresight_scaler_load", []string{"shop", "api", "served"}, func(v float64) bool { return v > 100 }},
		{"foresight_scaler_load", []string{"shop", "api", "reactive"}, func(v float64) bool { return v > 90 && v < 110 }},
		{"foresight_scaler_replicas", []string{"shop", "api", "served"}, func(v float64) bool { return v >= 3 }},
		{"foresight_scaler_model_parameter", []string{"shop", "api", "alpha"}, func(v float64) bool { return v > 0 && v < 1 }},
		{"foresight_scaler_season_period_seconds", []string{"shop", "api", "1"}, func(v float64) bool { return v == 86400 }},
	} {
		var g prometheus.Collector
		switch tc.metric {
		case "foresight_scaler_load":
			g = m.load.WithLabelValues(tc.labels...)
		case "foresight_scaler_replicas":
			g = m.replicas.WithLabelValues(tc.labels...)
		case "foresight_scaler_model_parameter":
			g = m.params.WithLabelValues(tc.labels...)
		default:
			g = m.season.WithLabelValues(tc.labels...)
		}
		if v := testutil.ToFloat64(g); !tc.check(v) {
			t.Errorf("%s%v = %g", tc.metric, tc.labels, v)
		}
	}
	if n := testutil.ToFloat64(m.decisions.WithLabelValues("shop", "api", "forecast", "predictive")); n < 1 {
		t.Errorf("decisions{reason=forecast} = %g", n)
	}
	if n := testutil.ToFloat64(m.excluded.WithLabelValues("shop", "api")); n != 0 {
		t.Errorf("excluded_points = %g, want 0 (nothing excluded)", n)
	}
	if n := testutil.ToFloat64(m.fits.WithLabelValues("ok")); n != 1 {
		t.Errorf("fits{ok} = %g, want 1", n)
	}
}

// KEDA repeats its calls every few seconds; an unavailable datasource is
// logged once a minute per ScaledObject, not at every call, and each
// ScaledObject gets its own line.
func TestStatusWarningsAreSpaced(t *testing.T) {
	var buf strings.Builder
	s := NewServer(nil, slog.New(slog.NewTextHandler(&buf, nil)))
	a := &externalscaler.ScaledObjectRef{Namespace: "shop", Name: "api"}
	b := &externalscaler.ScaledObjectRef{Namespace: "shop", Name: "web"}
	for range 5 {
		for _, ref := range []*externalscaler.ScaledObjectRef{a, b} {
			if err := s.status(context.Background(), ref, ErrStale); status.Code(err) != codes.Unavailable {
				t.Fatalf("status %v, want Unavailable", err)
			}
		}
	}
	if n := strings.Count(buf.String(), "answering Unavailable"); n != 2 {
		t.Errorf("%d warnings for 10 failed calls of 2 ScaledObjects, want 2:\n%s", n, buf.String())
	}
}
