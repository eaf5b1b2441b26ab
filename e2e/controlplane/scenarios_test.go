package controlplane

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/foresight-aiops/foresight/forecast"
	"github.com/foresight-aiops/foresight/internal/tsdbtest"
)

// phase is the time since the latest daily occurrence of at's time of day.
func phase(t, at time.Time) time.Duration {
	d := t.Sub(at) % (24 * time.Hour)
	if d < 0 {
		d += 24 * time.Hour
	}
	return d
}

// dailyRamp is low until a ramp that starts each day at start's time of
// day, rises linearly to high over rise, holds for an hour and falls back
// over half an hour.
func dailyRamp(start time.Time, low, high float64, rise time.Duration) shape {
	return func(t time.Time) float64 {
		d := phase(t, start)
		switch {
		case d < rise:
			return low + (high-low)*d.Seconds()/rise.Seconds()
		case d < rise+time.Hour:
			return high
		case d < rise+90*time.Minute:
			return high - (high-low)*(d-rise-time.Hour).Seconds()/(30*time.Minute).Seconds()
		default:
			return low
		}
	}
}

func series(metric, scenario string, samples []forecast.Sample) tsdbtest.Series {
	return tsdbtest.Series{Metric: metric, Labels: map[string]string{"scenario": scenario}, Samples: samples}
}

func query(metric, scenario string) string {
	return metric + `{scenario="` + scenario + `"}`
}

// backfill writes a week of f, with jitter, and then keeps writing it
// live; it returns the history written.
func (e *env) backfill(t *testing.T, imp importer, scenario string, f shape) []forecast.Sample {
	t.Helper()
	noisy := func(at time.Time) float64 { return f(at) * jitter(at) }
	hist := history(noisy, time.Now())
	if err := imp(t.Context(), encode(series("load", scenario, hist))); err != nil {
		t.Fatalf("backfill %s: %v", scenario, err)
	}
	live(t, imp, "load", map[string]string{"scenario": scenario}, noisy)
	return hist
}

// predictiveLead: a daily ramp is due two minutes after the start. The
// predictive Deployment must reach its peak replicas before the live load
// needs them, and its reactive twin only after the load arrives.
func predictiveLead(t *testing.T, ctx context.Context, e *env) {
	t0 := time.Now()
	const ns, target = "lead", 100.0
	rampAt := t0.Add(2 * time.Minute)
	f := dailyRamp(rampAt, 100, 1000, 3*time.Minute)
	e.backfill(t, e.tsdb, ns, f)
	md := func(mode string) map[string]string {
		return map[string]string{"query": query("load", ns), "targetPerReplica": "100", "leadTime": "3m", "season": "1d", "mode": mode}
	}
	e.apply(t, ctx,
		workload{namespace: ns, name: "predictive", scaler: e.plain.grpc, metadata: md("predictive"), minReplicas: 1},
		workload{namespace: ns, name: "reactive", scaler: e.plain.grpc, metadata: md("reactive"), minReplicas: 1})
	peak := 9 // replicas of 900+ load
	tp := e.waitReplicas(t, ctx, ns, "predictive", 6*time.Minute, "≥9 replicas", func(r int) bool { return r >= peak })
	loadAtTp := f(tp)
	t.Logf("predictive reached %d replicas at T+%s, when the live load was %.0f (needs %d replicas)",
		peak, tp.Sub(t0).Round(time.Second), loadAtTp, int(math.Ceil(loadAtTp/target)))
	if loadAtTp >= 0.6*1000 {
		t.Errorf("predictive scaled up only when the load was %.0f: not ahead of the load", loadAtTp)
	}
	if r := e.replicas(t, ctx, ns, "reactive"); r >= peak {
		t.Errorf("the reactive twin already has %d replicas when the predictive one reached %d: the scenario shows nothing", r, peak)
	}
	tr := e.waitReplicas(t, ctx, ns, "reactive", 6*time.Minute, "≥9 replicas", func(r int) bool { return r >= peak })
	t.Logf("reactive reached %d replicas at T+%s, %s after the predictive one", peak, tr.Sub(t0).Round(time.Second), tr.Sub(tp).Round(time.Second))
	if tr.Sub(tp) < 60*time.Second {
		t.Errorf("predictive led the reactive twin by only %s", tr.Sub(tp))
	}
	if n := e.plain.counter(t, "foresight_scaler_decisions_total", map[string]string{"namespace": ns, "scaledobject": "predictive", "reason": "forecast"}); !(n > 0) {
		t.Errorf("no decision of the predictive ScaledObject was made by the forecast (decisions_total{reason=forecast} = %g)", n)
	}
	if n := e.plain.counter(t, "foresight_scaler_decisions_total", map[string]string{"namespace": ns, "scaledobject": "reactive", "reason": "forecast"}); n > 0 {
		t.Errorf("the reactive twin had %g decisions made by a forecast", n)
	}
}

// peakCap: the load doubles every day, a daily ramp is due in three
// minutes, and two days ago a retry storm tripled it for ten minutes at a quiet time. The
// forecast shoots above anything the history holds; the served load stops
// at peakCapFactor × the peak, and the Deployment never gets more replicas
// than that implies.
func peakCap(t *testing.T, ctx context.Context, e *env) {
	t0 := time.Now()
	const ns, factor, target = "cap", 1.05, 100.0
	ramp := dailyRamp(t0.Add(3*time.Minute), 1, 2, 3*time.Minute)
	storm := t0.Add(-50 * time.Hour) // at a quiet time of day
	f := func(at time.Time) float64 {
		v := 2000 * math.Pow(2, at.Sub(t0).Hours()/24) * ramp(at)
		if d := at.Sub(storm); d >= 0 && d < 10*time.Minute {
			v *= 3
		}
		return v
	}
	// Today the ramp does not come: the live load holds, so that the
	// reactive value stays below the cap and only the forecast reaches it.
	today := func(at time.Time) float64 {
		if at.After(t0) {
			return 2000
		}
		return f(at)
	}
	hist := e.backfill(t, e.tsdb, ns, today)
	peak := 0.0
	for _, x := range hist {
		peak = math.Max(peak, x.V)
	}
	peak = math.Max(peak, 2000*1.02) // the live samples, with their jitter
	capReplicas := int(math.Ceil(factor * peak / target))
	e.apply(t, ctx, workload{
		namespace: ns, name: "surge", scaler: e.plain.grpc, minReplicas: 1, maxReplicas: 100,
		metadata: map[string]string{
			"query": query("load", ns), "targetPerReplica": "100", "leadTime": "5m", "season": "1d",
			"peakCapFactor": strconv.FormatFloat(factor, 'g', -1, 64),
		},
	})
	e.waitReplicas(t, ctx, ns, "surge", 3*time.Minute, "≥20 replicas", func(r int) bool { return r >= 20 })
	for end := time.Now().Add(45 * time.Second); time.Now().Before(end); time.Sleep(time.Second) {
		if r := e.replicas(t, ctx, ns, "surge"); r > capReplicas {
			t.Fatalf("%d replicas, above the %d that the peak cap allows (%g × %.0f / %g)", r, capReplicas, factor, peak, target)
		}
	}
	labels := map[string]string{"namespace": ns, "scaledobject": "surge"}
	predicted := e.plain.value(t, "foresight_scaler_load", with(labels, "kind", "predicted"))
	served := e.plain.value(t, "foresight_scaler_load", with(labels, "kind", "served"))
	capped := e.plain.counter(t, "foresight_scaler_decisions_total", with(labels, "reason", "peak_cap"))
	t.Logf("history peak %.0f, forecast %.0f, served %.0f, %g decisions by the peak cap, at most %d replicas",
		peak, predicted, served, capped, capReplicas)
	// The latest forecast may have come down to the cap by now (it adapts
	// to the flat live load); the decisions counter says whether the cap
	// ever cut one.
	if !(capped > 0) {
		t.Errorf("the peak cap never decided (latest forecast %.0f, cap %.0f): the scenario does not exercise it", predicted, factor*peak)
	}
	if served > factor*peak+1e-6 {
		t.Errorf("served %.0f, above %g × the peak %.0f", served, factor, peak)
	}
}

func with(m map[string]string, k, v string) map[string]string {
	out := map[string]string{k: v}
	for a, b := range m {
		out[a] = b
	}
	return out
}

// outageExclusion: yesterday, around this time of day, the service was
// down and its load collapsed to zero. Declared by excludeWindows, or by
// an excludeQuery over a backfilled ALERTS series, the outage must not
// lower today's forecast; without either, it does (the control).
func outageExclusion(t *testing.T, ctx context.Context, e *env) {
	t0 := time.Now()
	const ns = "outage"
	from, to := t0.Add(-24*time.Hour-90*time.Minute), t0.Add(-24*time.Hour+30*time.Minute)
	normal := func(at time.Time) float64 {
		day := 2 * math.Pi * float64(phase(at, t0)) / float64(24*time.Hour)
		return 600 + 250*math.Cos(day) // today's peak is now
	}
	f := func(at time.Time) float64 {
		if !at.Before(from) && at.Before(to) {
			return 0
		}
		return normal(at)
	}
	e.backfill(t, e.tsdb, ns, f)
	var alerts []forecast.Sample
	for at := from.Truncate(time.Minute); at.Before(to); at = at.Add(time.Minute) {
		alerts = append(alerts, forecast.Sample{T: at, V: 1})
	}
	if err := e.tsdb(ctx, encode(tsdbtest.Series{Metric: "ALERTS", Labels: map[string]string{
		"alertname": "ServiceDown", "alertstate": "firing", "scenario": ns,
	}, Samples: alerts})); err != nil {
		t.Fatal(err)
	}
	// The median, not the default 0.9 quantile: the outage's errors widen
	// the control's band, which would hide the lowering of its forecast.
	base := map[string]string{"query": query("load", ns), "targetPerReplica": "100", "leadTime": "5m", "season": "1d", "quantile": "0.5"}
	windows := with(base, "excludeWindows", from.UTC().Format(time.RFC3339)+"/"+to.UTC().Format(time.RFC3339))
	alertQ := with(base, "excludeQuery", `max(ALERTS{alertname="ServiceDown",alertstate="firing",scenario="outage"})`)
	e.apply(t, ctx,
		workload{namespace: ns, name: "windows", scaler: e.plain.grpc, metadata: windows, minReplicas: 1},
		workload{namespace: ns, name: "alerts", scaler: e.plain.grpc, metadata: alertQ, minReplicas: 1},
		workload{namespace: ns, name: "control", scaler: e.plain.grpc, metadata: base, minReplicas: 1})
	want := int(math.Ceil(0.9 * normal(t0) / 100)) // 8 of the 850 due now
	for _, name := range []string{"windows", "alerts"} {
		e.waitReplicas(t, ctx, ns, name, 3*time.Minute, fmt.Sprintf("≥%d replicas", want), func(r int) bool { return r >= want })
	}
	time.Sleep(20 * time.Second) // a few polls on the fitted models
	predicted := map[string]float64{}
	for _, name := range []string{"windows", "alerts", "control"} {
		labels := map[string]string{"namespace": ns, "scaledobject": name}
		predicted[name] = e.plain.value(t, "foresight_scaler_load", with(labels, "kind", "predicted"))
		excluded := e.plain.value(t, "foresight_scaler_excluded_points", labels)
		t.Logf("%s: forecast %.0f (normal now %.0f), %g history points excluded", name, predicted[name], normal(time.Now()), excluded)
		if name != "control" && !(excluded >= 110) {
			t.Errorf("%s: %g points excluded, want the outage's 120", name, excluded)
		}
	}
	for _, name := range []string{"windows", "alerts"} {
		if !(predicted[name] >= 0.95*normal(time.Now())) {
			t.Errorf("%s: forecast %.0f, below 95%% of the normal load %.0f: the outage lowered it", name, predicted[name], normal(time.Now()))
		}
	}
	if !(predicted["control"] < predicted["windows"]) {
		t.Logf("note: the control's forecast (%.0f) is not lower than with the outage excluded (%.0f)", predicted["control"], predicted["windows"])
	}
}

// fallback: VictoriaMetrics goes down. Foresight keeps serving the last
// values (stale answers) until maxStaleness, then answers Unavailable so
// that the HPA holds; the Deployment is never scaled down meanwhile. When
// the TSDB is back, prediction resumes.
func fallback(t *testing.T, ctx context.Context, e *env) {
	t0 := time.Now()
	const ns = "fallback"
	f := func(at time.Time) float64 {
		return 500 + 100*math.Cos(2*math.Pi*float64(phase(at, t0))/float64(24*time.Hour))
	}
	e.backfill(t, httpImporter(e.vmDown.URL), ns, f)
	e.apply(t, ctx, workload{namespace: ns, name: "held", scaler: e.plain.grpc, minReplicas: 1, metadata: map[string]string{
		"query": query("load", ns), "datasource": "fallback", "targetPerReplica": "100", "leadTime": "3m",
		"season": "1d", "maxStaleness": "1m",
	}})
	e.waitReplicas(t, ctx, ns, "held", 3*time.Minute, "≥6 replicas", func(r int) bool { return r >= 6 })
	time.Sleep(15 * time.Second)
	before := e.replicas(t, ctx, ns, "held")
	labels := map[string]string{"namespace": ns, "scaledobject": "held"}
	served := e.plain.value(t, "foresight_scaler_load", with(labels, "kind", "served"))
	unavailable0 := e.plain.counter(t, "foresight_scaler_requests_total", map[string]string{"method": "GetMetrics", "code": "Unavailable"})
	t.Logf("T+%s: killing VictoriaMetrics (replicas %d, served %.0f)", e.since(), before, served)
	e.vmDown.Stop()
	down := time.Now()
	stale, sawUnavailable := false, false
	for time.Since(down) < 100*time.Second {
		if r := e.replicas(t, ctx, ns, "held"); r < before {
			t.Fatalf("scaled down to %d (from %d) %s after the TSDB went down", r, before, time.Since(down).Round(time.Second))
		}
		if n := e.plain.counter(t, "foresight_scaler_stale_answers_total", map[string]string{"datasource": "fallback"}); n > 0 && !stale {
			stale = true
			now := e.plain.value(t, "foresight_scaler_load", with(labels, "kind", "served"))
			t.Logf("T+%s: stale answers, serving %.0f", e.since(), now)
			if now < 0.9*served {
				t.Errorf("while stale, served %.0f, below the %.0f served before", now, served)
			}
		}
		if !sawUnavailable && strings.Contains(e.plain.proc.Log(), `answering Unavailable so that KEDA's fallback and the HPA's safety nets act" namespace=fallback`) {
			sawUnavailable = true
			t.Logf("T+%s: Unavailable after %s", e.since(), time.Since(down).Round(time.Second))
			if time.Since(down) < 45*time.Second {
				t.Errorf("Unavailable after %s, well before maxStaleness (1m)", time.Since(down))
			}
			if n := e.plain.counter(t, "foresight_scaler_requests_total", map[string]string{"method": "GetMetrics", "code": "Unavailable"}); !(n > unavailable0) {
				t.Errorf("Unavailable logged, but requests_total{code=Unavailable} did not grow (%g)", n)
			}
		}
		time.Sleep(time.Second)
	}
	if !stale {
		t.Error("no stale answer while the TSDB was down")
	}
	if !sawUnavailable {
		t.Error("never Unavailable after maxStaleness")
	}
	e.vmDown.Restart(t)
	t.Logf("T+%s: VictoriaMetrics restarted", e.since())
	forecasts := func() float64 {
		return e.plain.counter(t, "foresight_scaler_decisions_total", with(labels, "reason", "forecast")) +
			e.plain.counter(t, "foresight_scaler_decisions_total", with(labels, "reason", "reactive"))
	}
	resumed, n0 := false, forecasts()
	for end := time.Now().Add(60 * time.Second); time.Now().Before(end); time.Sleep(time.Second) {
		if forecasts() > n0 {
			resumed = true
			break
		}
	}
	if !resumed {
		t.Error("prediction did not resume within a minute of the TSDB's return")
	}
	if r := e.replicas(t, ctx, ns, "held"); r < before-1 {
		t.Errorf("after recovery, %d replicas (before the outage %d)", r, before)
	}
}

// prewarm: the load is zero at night and ramps up each day at the same
// time. With minReplicaCount 0 the Deployment goes to zero while the
// forecast stays quiet, and back to at least one before the ramp, through
// IsActive (external) and StreamIsActive (external-push).
func prewarm(t *testing.T, ctx context.Context, e *env) {
	t0 := time.Now()
	const ns = "prewarm"
	rampAt := t0.Add(4 * time.Minute)
	f := dailyRamp(rampAt, 0, 500, 2*time.Minute)
	e.backfill(t, e.tsdb, ns, f)
	md := map[string]string{
		"query": query("load", ns), "targetPerReplica": "100", "leadTime": "2m", "season": "1d", "activationThreshold": "50",
	}
	e.apply(t, ctx,
		workload{namespace: ns, name: "poll", scaler: e.plain.grpc, metadata: md},
		workload{namespace: ns, name: "push", triggerType: "external-push", scaler: e.plain.grpc, metadata: md})
	for _, name := range []string{"poll", "push"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e.waitReplicas(t, ctx, ns, name, 2*time.Minute, "zero replicas", func(r int) bool { return r == 0 })
			at := e.waitReplicas(t, ctx, ns, name, 5*time.Minute, "≥1 replica", func(r int) bool { return r >= 1 })
			t.Logf("pre-warmed %s before the ramp (live load %.0f)", rampAt.Sub(at).Round(time.Second), f(at))
			if f(at) >= 50 {
				t.Errorf("woke up only when the live load was %.0f, above the activation threshold: not ahead", f(at))
			}
		})
	}
}

// mutualTLS: KEDA reaches Foresight over mTLS with the certificates of a
// TriggerAuthentication.
func mutualTLS(t *testing.T, ctx context.Context, e *env) {
	const ns = "mtls"
	e.backfill(t, e.tsdb, ns, func(time.Time) float64 { return 700 })
	secret := fmt.Sprintf(`apiVersion: v1
kind: Namespace
metadata: {name: %[1]s}
---
apiVersion: v1
kind: Secret
metadata: {name: foresight-client, namespace: %[1]s}
stringData:
  caCert: %[2]q
  tlsClientCert: %[3]q
  tlsClientKey: %[4]q
---
apiVersion: keda.sh/v1alpha1
kind: TriggerAuthentication
metadata: {name: foresight-mtls, namespace: %[1]s}
spec:
  secretTargetRef:
    - {parameter: caCert, name: foresight-client, key: caCert}
    - {parameter: tlsClientCert, name: foresight-client, key: tlsClientCert}
    - {parameter: tlsClientKey, name: foresight-client, key: tlsClientKey}
`, ns, e.ca.PEM, e.client.CertPEM, e.client.KeyPEM)
	if err := e.c.Apply(ctx, secret); err != nil {
		t.Fatal(err)
	}
	e.apply(t, ctx, workload{
		namespace: ns, name: "secure", scaler: e.tls.grpc, authRef: "foresight-mtls", minReplicas: 1,
		metadata: map[string]string{"query": query("load", ns), "targetPerReplica": "100", "season": "none"},
	})
	e.waitReplicas(t, ctx, ns, "secure", 3*time.Minute, "≥7 replicas", func(r int) bool { return r >= 7 })
	if n := e.tls.counter(t, "foresight_scaler_requests_total", map[string]string{"method": "GetMetrics", "code": "OK"}); !(n > 0) {
		t.Errorf("the mTLS server answered no GetMetrics (%g)", n)
	}
}
