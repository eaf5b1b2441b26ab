package scaler

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/foresight-aiops/foresight/forecast"
	"github.com/foresight-aiops/foresight/policy"
)

const testQuery = `sum(rate(http_requests_total{job="api"}[2m]))`

// withMetadata returns the smallest valid metadata, with the given keys
// set on top ("" values included: they count as absent).
func withMetadata(kv ...string) map[string]string {
	md := map[string]string{"query": testQuery, "targetPerReplica": "50"}
	for i := 0; i+1 < len(kv); i += 2 {
		md[kv[i]] = kv[i+1]
	}
	return md
}

// defaultPolicy is what withMetadata() decodes to.
func defaultPolicy() Policy {
	return Policy{
		Query:            testQuery,
		Datasource:       "default",
		TargetPerReplica: 50,
		LeadTime:         5 * time.Minute,
		Quantile:         0.9,
		History:          7 * 24 * time.Hour,
		Step:             time.Minute,
		Season:           forecast.SeasonSetting{Auto: true},
		PeakCapFactor:    1.2,
		Mode:             ModePredictive,
		MaxStaleness:     10 * time.Minute,
	}
}

func mustTime(t testing.TB, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatal(err)
	}
	return v.UTC()
}

type validMetadataCase struct {
	name string
	md   map[string]string
	want func(p *Policy)
}

func validMetadataCases(t testing.TB) []validMetadataCase {
	day := 24 * time.Hour
	return []validMetadataCase{
		{name: "defaults", md: withMetadata(), want: func(*Policy) {}},
		{
			name: "every key",
			md: map[string]string{
				"query": "sum(rate(x[1m]))", "datasource": "prod-eu_1.thanos", "targetPerReplica": "12.5",
				"leadTime": "3m", "quantile": "0.95", "history": "2w", "step": "30s", "season": "1d,1w",
				"peakCapFactor": "1.5", "minReplicas": "2", "maxReplicas": "40",
				"excludeWindows":   "2026-03-10T14:00:00Z/2026-03-10T15:30:00Z",
				"excludeQuery":     `max(ALERTS{alertname="ServiceDown",alertstate="firing"})`,
				"excludeAnomalies": "true", "mode": "shadow", "activationThreshold": "0.5", "maxStaleness": "15m",
			},
			want: func(p *Policy) {
				*p = Policy{
					Query: "sum(rate(x[1m]))", Datasource: "prod-eu_1.thanos", TargetPerReplica: 12.5,
					LeadTime: 3 * time.Minute, Quantile: 0.95, History: 14 * day, Step: 30 * time.Second,
					Season:        forecast.SeasonSetting{Periods: []time.Duration{day, 7 * day}},
					PeakCapFactor: 1.5, MinReplicas: 2, MaxReplicas: 40,
					ExcludeWindows: []forecast.Window{{
						Start: mustTime(t, "2026-03-10T14:00:00Z"), End: mustTime(t, "2026-03-10T15:30:00Z"),
					}},
					ExcludeQuery:     `max(ALERTS{alertname="ServiceDown",alertstate="firing"})`,
					ExcludeAnomalies: true, Mode: ModeShadow, ActivationThreshold: 0.5, MaxStaleness: 15 * time.Minute,
				}
			},
		},
		{
			name: "KEDA's own keys are ignored",
			md: withMetadata("scalerAddress", "foresight.foresight.svc:9090", "enableTLS", "true", "unsafeSsl", "false",
				"tlsCertFile", "/certs/tls.crt", "scalerAddressFromEnv", "foresight:9090"),
			want: func(*Policy) {},
		},
		{
			name: "FromEnv keys stand for their key",
			md: map[string]string{
				"queryFromEnv": "sum(up)", "targetPerReplicaFromEnv": "75", "leadTimeFromEnv": "2m",
				"modeFromEnv": "reactive",
			},
			want: func(p *Policy) {
				p.Query, p.TargetPerReplica, p.LeadTime, p.Mode = "sum(up)", 75, 2*time.Minute, ModeReactive
			},
		},
		{
			name: "empty values count as absent",
			md: withMetadata("leadTime", "", "quantile", "  ", "mode", "", "datasource", "\t",
				"queryFromEnv", "", "excludeWindows", "", "minReplicas", " "),
			want: func(*Policy) {},
		},
		{
			name: "values are trimmed",
			md:   withMetadata("targetPerReplica", " 50 ", "leadTime", "  10m\n", "query", "  "+testQuery+" "),
			want: func(p *Policy) { p.LeadTime = 10 * time.Minute },
		},
		{
			name: "windows sorted, merged and in UTC",
			md: withMetadata("excludeWindows",
				"2026-03-12T00:00:00Z/2026-03-12T01:00:00Z; 2026-03-10T15:00:00+01:00/2026-03-10T15:30:00Z,"+
					"2026-03-10T15:00:00Z/2026-03-10T16:00:00Z,2026-03-12T01:00:00Z/2026-03-12T02:00:00Z,"),
			want: func(p *Policy) {
				p.ExcludeWindows = []forecast.Window{
					{Start: mustTime(t, "2026-03-10T14:00:00Z"), End: mustTime(t, "2026-03-10T16:00:00Z")},
					{Start: mustTime(t, "2026-03-12T00:00:00Z"), End: mustTime(t, "2026-03-12T02:00:00Z")},
				}
			},
		},
		{
			name: "season given as hours, none, or in capitals",
			md:   withMetadata("season", "24h"),
			want: func(p *Policy) { p.Season = forecast.SeasonSetting{Periods: []time.Duration{day}} },
		},
		{
			name: "season none",
			md:   withMetadata("season", "None"),
			want: func(p *Policy) { p.Season = forecast.SeasonSetting{None: true} },
		},
		{
			name: "mode in capitals, excludeAnomalies as 1",
			md:   withMetadata("mode", "REACTIVE", "excludeAnomalies", "1"),
			want: func(p *Policy) { p.Mode, p.ExcludeAnomalies = ModeReactive, true },
		},
		{
			name: "replica bounds: min alone, max alone, equal",
			md:   withMetadata("minReplicas", "3", "maxReplicas", "3"),
			want: func(p *Policy) { p.MinReplicas, p.MaxReplicas = 3, 3 },
		},
		{
			name: "min above an unbounded max",
			md:   withMetadata("minReplicas", "3", "maxReplicas", "0"),
			want: func(p *Policy) { p.MinReplicas = 3 },
		},
		{
			name: "edges: 100 points, quantile 0.5, peakCapFactor 1, activationThreshold 0",
			md: withMetadata("history", "100m", "step", "1m", "leadTime", "99m", "quantile", "0.5",
				"peakCapFactor", "1", "activationThreshold", "0"),
			want: func(p *Policy) {
				p.History, p.LeadTime, p.Quantile, p.PeakCapFactor = 100*time.Minute, 99*time.Minute, 0.5, 1
			},
		},
		{
			name: "edges: 100,000 points, 1,440 lead steps, 1s step",
			md:   withMetadata("history", "100000s", "step", "1s", "leadTime", "24m"),
			want: func(p *Policy) {
				p.History, p.Step, p.LeadTime = 100000*time.Second, time.Second, 24*time.Minute
			},
		},
		{
			name: "season of two cycles exactly",
			md:   withMetadata("season", "1w", "history", "2w"),
			want: func(p *Policy) {
				p.Season, p.History = forecast.SeasonSetting{Periods: []time.Duration{7 * day}}, 14*day
			},
		},
	}
}

func TestParsePolicyValid(t *testing.T) {
	for _, tc := range validMetadataCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParsePolicy(tc.md)
			if err != nil {
				t.Fatalf("ParsePolicy: %v", err)
			}
			want := defaultPolicy()
			tc.want(&want)
			want.modelKey = want.computeModelKey()
			if !reflect.DeepEqual(got, want) {
				t.Errorf("ParsePolicy:\n got %s\nwant %s", got, want)
			}
			if err := checkPolicyInvariants(got); err != nil {
				t.Error(err)
			}
		})
	}
}

type invalidMetadataCase struct {
	name string
	md   map[string]string
	// keys are the keys of the errors, in order; want are substrings of
	// the message.
	keys []string
	want []string
}

func invalidMetadataCases() []invalidMetadataCase {
	windows := make([]string, 101)
	for i := range windows {
		start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Hour)
		windows[i] = forecast.Window{Start: start, End: start.Add(time.Minute)}.String()
	}
	return []invalidMetadataCase{
		{
			name: "nothing given", md: map[string]string{},
			keys: []string{"query", "targetPerReplica"},
			want: []string{"query: required: the PromQL expression of the load", "targetPerReplica: required: a positive number"},
		},
		{
			name: "targetPerReplica not a number", md: withMetadata("targetPerReplica", "abc"),
			keys: []string{"targetPerReplica"},
			want: []string{`targetPerReplica "abc": must be a positive number, the load one replica serves (e.g. 50)`},
		},
		{name: "targetPerReplica 0", md: withMetadata("targetPerReplica", "0"), keys: []string{"targetPerReplica"}, want: []string{`"0": must be a positive number`}},
		{name: "targetPerReplica negative", md: withMetadata("targetPerReplica", "-5"), keys: []string{"targetPerReplica"}},
		{name: "targetPerReplica NaN", md: withMetadata("targetPerReplica", "NaN"), keys: []string{"targetPerReplica"}},
		{name: "targetPerReplica Inf", md: withMetadata("targetPerReplica", "+Inf"), keys: []string{"targetPerReplica"}},
		{name: "targetPerReplica overflows", md: withMetadata("targetPerReplica", "1e400"), keys: []string{"targetPerReplica"}},
		{
			name: "datasource a URL", md: withMetadata("datasource", "http://prometheus.monitoring:9090"),
			keys: []string{"datasource"},
			want: []string{`datasource "http://prometheus.monitoring:9090": must be the name of a datasource configured on the server`, "not an address", "configure the URL on the server"},
		},
		{name: "datasource host:port", md: withMetadata("datasource", "prometheus:9090"), keys: []string{"datasource"}, want: []string{"not an address"}},
		{name: "datasource with a space", md: withMetadata("datasource", "my source"), keys: []string{"datasource"}, want: []string{"letters, digits"}},
		{name: "leadTime not a duration", md: withMetadata("leadTime", "5 minutes"), keys: []string{"leadTime"}, want: []string{`leadTime "5 minutes": must be a positive duration, the pod start-up to cover`}},
		{name: "leadTime negative", md: withMetadata("leadTime", "-5m"), keys: []string{"leadTime"}},
		{name: "leadTime 0", md: withMetadata("leadTime", "0"), keys: []string{"leadTime"}, want: []string{"positive"}},
		{name: "leadTime as long as the history", md: withMetadata("leadTime", "7d", "step", "10m"), keys: []string{"leadTime"}, want: []string{"the lead time 1w must be shorter than the history 1w"}},
		{name: "leadTime too many steps", md: withMetadata("leadTime", "2d"), keys: []string{"leadTime"}, want: []string{"is 2880 steps of 1m0s: at most 1440 steps ahead", "lead time 1d or less"}},
		{name: "quantile below 0.5", md: withMetadata("quantile", "0.4"), keys: []string{"quantile"}, want: []string{`quantile "0.4": must be a number in [0.5, 1)`}},
		{name: "quantile 1", md: withMetadata("quantile", "1"), keys: []string{"quantile"}},
		{name: "quantile NaN", md: withMetadata("quantile", "nan"), keys: []string{"quantile"}},
		{name: "quantile a percentage", md: withMetadata("quantile", "90%"), keys: []string{"quantile"}},
		{name: "history not a duration", md: withMetadata("history", "a week"), keys: []string{"history"}, want: []string{`history "a week": must be a positive duration, the history to fit on`}},
		{name: "history 0", md: withMetadata("history", "0s"), keys: []string{"history"}},
		{name: "history negative", md: withMetadata("history", "-1h"), keys: []string{"history"}},
		{name: "history too few points", md: withMetadata("history", "99m", "leadTime", "1m"), keys: []string{"history"}, want: []string{"history 1h39m0s at step 1m0s is 99 points: at least 100 are needed (history 1h40m0s or more"}},
		{name: "history too many points", md: withMetadata("history", "70d"), keys: []string{"history"}, want: []string{"is 100800 points: at most 100000"}},
		{name: "step too long for the default history", md: withMetadata("step", "2h"), keys: []string{"step"}, want: []string{`step "2h": history 1w at step 2h0m0s is 84 points`}},
		{name: "step under a second", md: withMetadata("step", "500ms"), keys: []string{"step"}, want: []string{"at least 1s"}},
		{name: "step a number", md: withMetadata("step", "60"), keys: []string{"step"}},
		{name: "season a word", md: withMetadata("season", "weekly"), keys: []string{"season"}, want: []string{`season "weekly": must be auto, none, or one or two seasonal periods`}},
		{name: "season three periods", md: withMetadata("season", "1h,1d,1w", "history", "3w", "step", "5m"), keys: []string{"season"}},
		{name: "season of one cycle in the history", md: withMetadata("season", "1w"), keys: []string{"season"}, want: []string{"holds fewer than two cycles of the season period 1w", "history 2w or more"}},
		{name: "season not whole steps", md: withMetadata("season", "90s"), keys: []string{"season"}, want: []string{"not a whole number of 1m0s steps"}},
		{name: "season of one step", md: withMetadata("season", "1m"), keys: []string{"season"}, want: []string{"less than two steps"}},
		{name: "season periods not multiples", md: withMetadata("season", "1d,36h", "history", "4d"), keys: []string{"season"}, want: []string{"the longer must be a multiple of the shorter"}},
		{name: "peakCapFactor below 1", md: withMetadata("peakCapFactor", "0.9"), keys: []string{"peakCapFactor"}, want: []string{`peakCapFactor "0.9": must be a number of at least 1`}},
		{name: "minReplicas negative", md: withMetadata("minReplicas", "-1"), keys: []string{"minReplicas"}, want: []string{`minReplicas "-1": must be a whole number from 0`}},
		{name: "minReplicas fractional", md: withMetadata("minReplicas", "1.5"), keys: []string{"minReplicas"}},
		{name: "maxReplicas beyond int32", md: withMetadata("maxReplicas", "3000000000"), keys: []string{"maxReplicas"}},
		{name: "maxReplicas below minReplicas", md: withMetadata("minReplicas", "5", "maxReplicas", "2"), keys: []string{"maxReplicas"}, want: []string{`maxReplicas "2": must be 0 (no bound) or at least minReplicas (5)`}},
		{
			name: "excludeWindows malformed", md: withMetadata("excludeWindows", "2026-03-10T14:00:00Z; 2026-03-10T15:00:00Z/2026-03-10T14:00:00Z, 2026-03-10/2026-03-11"),
			keys: []string{"excludeWindows"},
			want: []string{
				"must be START/END ranges in RFC 3339 separated by ',' or ';'",
				`window "2026-03-10T14:00:00Z": expected START/END`,
				`window "2026-03-10T15:00:00Z/2026-03-10T14:00:00Z": the end must be after the start`,
				`window "2026-03-10/2026-03-11": start:`,
			},
		},
		{name: "excludeWindows too many", md: withMetadata("excludeWindows", strings.Join(windows, ",")), keys: []string{"excludeWindows"}, want: []string{"101 windows: at most 100"}},
		{name: "excludeAnomalies yes", md: withMetadata("excludeAnomalies", "yes"), keys: []string{"excludeAnomalies"}, want: []string{`excludeAnomalies "yes": must be true or false`}},
		{name: "mode unknown", md: withMetadata("mode", "aggressive"), keys: []string{"mode"}, want: []string{`mode "aggressive": must be predictive`, "shadow", "reactive"}},
		{name: "activationThreshold negative", md: withMetadata("activationThreshold", "-1"), keys: []string{"activationThreshold"}, want: []string{"must be a number of 0 or more"}},
		{name: "maxStaleness 0", md: withMetadata("maxStaleness", "0"), keys: []string{"maxStaleness"}, want: []string{`maxStaleness "0": must be a positive duration`}},
		{name: "maxStaleness not a duration", md: withMetadata("maxStaleness", "ten minutes"), keys: []string{"maxStaleness"}},
		{
			name: "unknown key", md: withMetadata("threshold", "5"),
			keys: []string{"threshold"},
			want: []string{"threshold: unknown key; the keys Foresight reads are query, datasource, targetPerReplica"},
		},
		{name: "key in the wrong case", md: withMetadata("targetperreplica", "5"), keys: []string{"targetperreplica"}, want: []string{"unknown key; did you mean targetPerReplica?"}},
		{name: "key misspelt", md: withMetadata("tragetPerReplica", "5"), keys: []string{"tragetPerReplica"}, want: []string{"did you mean targetPerReplica?"}},
		{name: "key misspelt, FromEnv", md: withMetadata("leadtimeFromEnv", "5m"), keys: []string{"leadtimeFromEnv"}, want: []string{"did you mean leadTimeFromEnv?"}},
		{name: "KEDA's key misspelt", md: withMetadata("enableTls", "true"), keys: []string{"enableTls"}, want: []string{"did you mean enableTLS?"}},
		{name: "authentication in the metadata", md: withMetadata("tlsClientKey", "-----BEGIN PRIVATE KEY-----"), keys: []string{"tlsClientKey"}, want: []string{"from a TriggerAuthentication"}},
		{
			name: "key given plainly and FromEnv", md: withMetadata("targetPerReplicaFromEnv", "60"),
			keys: []string{"targetPerReplica"},
			want: []string{"given both as targetPerReplica and as targetPerReplicaFromEnv: keep one"},
		},
		{
			name: "a bad FromEnv value names the key as written", md: map[string]string{"query": "up", "targetPerReplicaFromEnv": "lots"},
			keys: []string{"targetPerReplicaFromEnv"},
			want: []string{`targetPerReplicaFromEnv "lots": must be a positive number`},
		},
		{
			name: "every problem at once",
			md: map[string]string{
				"targetPerReplica": "abc", "quantile": "2", "mode": "fast", "tragetPerReplica": "5",
				"datasource": "https://evil.example", "scalerAddress": "foresight:9090",
			},
			keys: []string{"datasource", "mode", "quantile", "query", "targetPerReplica", "tragetPerReplica"},
		},
		{
			name: "two problems of one key are one error",
			md:   withMetadata("leadTime", "8d"),
			keys: []string{"leadTime"},
			want: []string{"shorter than the history", "; the lead time 8d is 11520 steps"},
		},
	}
}

// metadataErrors returns the errors errors.Join joined in err.
func metadataErrors(t testing.TB, err error) []*MetadataError {
	t.Helper()
	var leaves []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		leaves = j.Unwrap()
	} else {
		leaves = []error{err}
	}
	out := make([]*MetadataError, len(leaves))
	for i, e := range leaves {
		var me *MetadataError
		if !errors.As(e, &me) {
			t.Fatalf("error %d is %T, not a *MetadataError: %v", i, e, e)
		}
		out[i] = me
	}
	return out
}

func TestParsePolicyInvalid(t *testing.T) {
	for _, tc := range invalidMetadataCases() {
		t.Run(tc.name, func(t *testing.T) {
			p, err := ParsePolicy(tc.md)
			if err == nil {
				t.Fatalf("ParsePolicy succeeded: %s", p)
			}
			if !errors.Is(err, ErrInvalidMetadata) {
				t.Errorf("error does not wrap ErrInvalidMetadata: %v", err)
			}
			if !reflect.DeepEqual(p, Policy{}) {
				t.Errorf("ParsePolicy returned %s with its error", p)
			}
			var keys []string
			for _, e := range metadataErrors(t, err) {
				keys = append(keys, e.Key)
			}
			if !slices.Equal(keys, tc.keys) {
				t.Errorf("errors of keys %q, want %q; error:\n%v", keys, tc.keys, err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not say %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestParsePolicyDoesNotRepeatUnknownValues(t *testing.T) {
	const secret = "-----BEGIN PRIVATE KEY----- s3cr3t"
	_, err := ParsePolicy(withMetadata("tlsClientKey", secret, "tlsClientKye", secret))
	if err == nil || strings.Contains(err.Error(), "s3cr3t") {
		t.Errorf("error repeats the value of an unknown key: %v", err)
	}
}

func TestMetadataErrorShortensLongValues(t *testing.T) {
	long := strings.Repeat("x", 10_000)
	_, err := ParsePolicy(withMetadata("targetPerReplica", long))
	if err == nil {
		t.Fatal("no error")
	}
	if n := len(err.Error()); n > 300 {
		t.Errorf("error of %d bytes for a long value: %.200s…", n, err)
	}
}

func TestParsePolicyDeterministicErrors(t *testing.T) {
	md := map[string]string{
		"a": "1", "b": "2", "c": "3", "quantile": "x", "step": "y", "mode": "z", "leadTime": "w",
		"queryFromEnv": "up", "query": "up",
	}
	_, first := ParsePolicy(md)
	for range 50 {
		if _, err := ParsePolicy(maps.Clone(md)); err.Error() != first.Error() {
			t.Fatalf("errors differ between calls:\n%v\n---\n%v", first, err)
		}
	}
}

func TestModelKey(t *testing.T) {
	key := func(t *testing.T, md map[string]string) string {
		t.Helper()
		p, err := ParsePolicy(md)
		if err != nil {
			t.Fatal(err)
		}
		return p.ModelKey()
	}
	base := key(t, withMetadata())
	if len(base) != 32 || strings.Trim(base, "0123456789abcdef") != "" {
		t.Errorf("ModelKey() = %q, want 32 hexadecimal digits", base)
	}
	t.Run("stable", func(t *testing.T) {
		md := withMetadata("excludeWindows", "2026-03-10T14:00:00Z/2026-03-10T15:00:00Z", "season", "1d",
			"excludeQuery", "max(ALERTS)", "excludeAnomalies", "true")
		want := key(t, md)
		for range 50 {
			// A map built anew iterates in another order.
			if got := key(t, maps.Clone(md)); got != want {
				t.Fatalf("ModelKey() = %s, then %s for the same metadata", want, got)
			}
		}
	})
	changes := map[string][]string{
		"query":            {"query", "sum(rate(http_requests_total[5m]))"},
		"datasource":       {"datasource", "other"},
		"history":          {"history", "6d"},
		"step":             {"step", "30s"},
		"season none":      {"season", "none"},
		"season 1d":        {"season", "1d"},
		"excludeWindows":   {"excludeWindows", "2026-03-10T14:00:00Z/2026-03-10T15:00:00Z"},
		"excludeQuery":     {"excludeQuery", "max(ALERTS)"},
		"excludeAnomalies": {"excludeAnomalies", "true"},
		"leadTime":         {"leadTime", "10m"},
	}
	for name, kv := range changes {
		t.Run("changed by "+name, func(t *testing.T) {
			if got := key(t, withMetadata(kv...)); got == base {
				t.Errorf("%s=%s leaves ModelKey unchanged", kv[0], kv[1])
			}
		})
	}
	same := map[string][]string{
		"quantile":                   {"quantile", "0.99"},
		"targetPerReplica":           {"targetPerReplica", "7"},
		"peakCapFactor":              {"peakCapFactor", "2"},
		"replica bounds":             {"minReplicas", "2", "maxReplicas", "9"},
		"mode":                       {"mode", "shadow"},
		"activationThreshold":        {"activationThreshold", "3"},
		"maxStaleness":               {"maxStaleness", "1h"},
		"leadTime in the same steps": {"leadTime", "5m30s"},
		"the default spelt out":      {"datasource", "default", "history", "168h", "season", "AUTO", "step", "60s"},
		"KEDA's keys":                {"scalerAddress", "a:1", "enableTLS", "true"},
	}
	for name, kv := range same {
		t.Run("unchanged by "+name, func(t *testing.T) {
			if got := key(t, withMetadata(kv...)); got != base {
				t.Errorf("%v changes ModelKey", kv)
			}
		})
	}
	t.Run("windows in another order, zone or split", func(t *testing.T) {
		a := key(t, withMetadata("excludeWindows", "2026-03-10T14:00:00Z/2026-03-10T16:00:00Z,2026-03-11T00:00:00Z/2026-03-11T01:00:00Z"))
		b := key(t, withMetadata("excludeWindows", "2026-03-11T01:00:00+01:00/2026-03-11T01:00:00Z; 2026-03-10T14:00:00Z/2026-03-10T15:00:00Z;2026-03-10T15:00:00Z/2026-03-10T16:00:00Z"))
		if a != b {
			t.Error("equivalent exclusion windows give different keys")
		}
	})
}

func TestPolicyString(t *testing.T) {
	p, err := ParsePolicy(withMetadata("excludeWindows", "2026-03-10T14:00:00Z/2026-03-10T15:00:00Z", "maxReplicas", "10"))
	if err != nil {
		t.Fatal(err)
	}
	want := `query="sum(rate(http_requests_total{job=\"api\"}[2m]))" datasource=default targetPerReplica=50 ` +
		`leadTime=5m0s quantile=0.9 history=1w step=1m0s season=auto peakCapFactor=1.2 minReplicas=0 maxReplicas=10 ` +
		`excludeWindows=2026-03-10T14:00:00Z/2026-03-10T15:00:00Z excludeAnomalies=false mode=predictive ` +
		`activationThreshold=0 maxStaleness=10m0s`
	if got := p.String(); got != want {
		t.Errorf("String() =\n%s\nwant\n%s", got, want)
	}
}

// checkPolicyInvariants returns what in p breaks the ranges ParsePolicy
// documents, and whether p survives a round trip through its metadata.
func checkPolicyInvariants(p Policy) error {
	var errs []error
	check := func(ok bool, format string, args ...any) {
		if !ok {
			errs = append(errs, fmt.Errorf(format, args...))
		}
	}
	finite := func(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
	check(p.Query != "" && strings.TrimSpace(p.Query) == p.Query, "query %q", p.Query)
	check(validDatasourceName(p.Datasource) && !strings.Contains(p.Datasource, "://"), "datasource %q", p.Datasource)
	check(p.TargetPerReplica > 0 && finite(p.TargetPerReplica), "targetPerReplica %g", p.TargetPerReplica)
	check(p.Quantile >= 0.5 && p.Quantile < 1, "quantile %g", p.Quantile)
	check(p.Step >= time.Second, "step %s", p.Step)
	if p.Step > 0 {
		check(p.History/p.Step >= 100 && p.History/p.Step <= 100_000, "history %s at step %s", p.History, p.Step)
		check(p.LeadTime/p.Step <= 1440, "leadTime %s at step %s", p.LeadTime, p.Step)
		if _, err := p.Season.Steps(p.Step); err != nil {
			errs = append(errs, err)
		}
		for _, d := range p.Season.Periods {
			check(d/p.Step >= 2 && d <= p.History/2, "season period %s at step %s, history %s", d, p.Step, p.History)
		}
	}
	check(p.LeadTime > 0 && p.LeadTime < p.History, "leadTime %s, history %s", p.LeadTime, p.History)
	s := p.Season
	check(s.Auto != s.None && len(s.Periods) == 0 || !s.Auto && !s.None && (len(s.Periods) == 1 || len(s.Periods) == 2),
		"season %+v", s)
	check(p.PeakCapFactor >= 1 && finite(p.PeakCapFactor), "peakCapFactor %g", p.PeakCapFactor)
	check(p.MinReplicas >= 0 && p.MinReplicas <= math.MaxInt32, "minReplicas %d", p.MinReplicas)
	check(p.MaxReplicas >= 0 && p.MaxReplicas <= math.MaxInt32, "maxReplicas %d", p.MaxReplicas)
	check(p.MaxReplicas == 0 || p.MaxReplicas >= p.MinReplicas, "maxReplicas %d < minReplicas %d", p.MaxReplicas, p.MinReplicas)
	check(len(p.ExcludeWindows) <= 100, "%d windows", len(p.ExcludeWindows))
	for i, w := range p.ExcludeWindows {
		check(w.End.After(w.Start), "window %s is empty", w)
		check(w.Start.Location() == time.UTC && w.End.Location() == time.UTC, "window %s not in UTC", w)
		check(i == 0 || w.Start.After(p.ExcludeWindows[i-1].End), "window %s overlaps or touches the one before", w)
	}
	check(p.Mode == ModePredictive || p.Mode == ModeShadow || p.Mode == ModeReactive, "mode %q", p.Mode)
	check(p.ActivationThreshold >= 0 && finite(p.ActivationThreshold), "activationThreshold %g", p.ActivationThreshold)
	check(p.MaxStaleness > 0, "maxStaleness %s", p.MaxStaleness)

	// What the policy package is given must pass its own validation.
	params := policy.Params{
		TargetPerReplica: p.TargetPerReplica, LeadTime: p.LeadTime, Quantile: p.Quantile,
		MinReplicas: p.MinReplicas, MaxReplicas: p.MaxReplicas, PeakCapFactor: p.PeakCapFactor,
	}
	if err := params.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("policy.Params: %w", err))
	}

	// The metadata p writes decodes to p again.
	md := p.metadata()
	q, err := ParsePolicy(md)
	switch {
	case err != nil:
		errs = append(errs, fmt.Errorf("its own metadata %v is refused: %w", md, err))
	case !reflect.DeepEqual(p, q):
		errs = append(errs, fmt.Errorf("its own metadata %v decodes to %s", md, q))
	case p.ModelKey() != q.ModelKey():
		errs = append(errs, errors.New("its own metadata decodes to another ModelKey"))
	}
	return errors.Join(errs...)
}

// encodeMetadata writes md as the fuzzer's input: keys and values
// alternate, separated by NUL bytes, keys in order.
func encodeMetadata(md map[string]string) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(md)) {
		parts = append(parts, k, md[k])
	}
	return strings.Join(parts, "\x00")
}

// decodeMetadata reads what encodeMetadata writes; a last key without a
// value gets "".
func decodeMetadata(s string) map[string]string {
	parts := strings.Split(s, "\x00")
	md := map[string]string{}
	for i := 0; i < len(parts); i += 2 {
		v := ""
		if i+1 < len(parts) {
			v = parts[i+1]
		}
		md[parts[i]] = v
	}
	return md
}

func FuzzParsePolicy(f *testing.F) {
	for _, tc := range validMetadataCases(f) {
		f.Add(encodeMetadata(tc.md))
	}
	for _, tc := range invalidMetadataCases() {
		f.Add(encodeMetadata(tc.md))
	}
	for _, md := range []map[string]string{
		withMetadata("history", "100000000000w"),                       // overflows in forecast.ParseDuration
		withMetadata("history", "30000000000000w", "step", "2562047h"), // and the hints' arithmetic
		withMetadata("season", "1d,99999999999999d", "history", "1000w", "step", "1h"),
		withMetadata("leadTime", "2562047h", "step", "1s"),
		withMetadata("excludeWindows", "0000-01-01T00:00:00Z/0000-01-01T01:00:00Z,1584-01-01T00:00:00.5Z/9999-12-31T23:59:59.999999999+23:59"),
		withMetadata("targetPerReplica", "0x1p-2", "quantile", "0.5", "activationThreshold", "-0", "minReplicas", "+2"),
		{"": "", "FromEnv": "x", "queryFromEnvFromEnv": "up"},
	} {
		f.Add(encodeMetadata(md))
	}
	f.Fuzz(func(t *testing.T, in string) {
		md := decodeMetadata(in)
		p, err := ParsePolicy(md)
		if err != nil {
			if !errors.Is(err, ErrInvalidMetadata) {
				t.Fatalf("error does not wrap ErrInvalidMetadata: %v", err)
			}
			errs := metadataErrors(t, err)
			for i, e := range errs {
				if e.Key == "" && !hasKey(md, "") {
					t.Errorf("error without a key: %v", e)
				}
				if i > 0 && errs[i-1].Key >= e.Key {
					t.Errorf("errors not sorted by key, or two for one key: %q then %q", errs[i-1].Key, e.Key)
				}
			}
			return
		}
		if err := checkPolicyInvariants(p); err != nil {
			t.Fatalf("ParsePolicy(%q) = %s, which breaks: %v", md, p, err)
		}
	})
}

func hasKey(md map[string]string, k string) bool {
	_, ok := md[k]
	return ok
}

func ExampleParsePolicy() {
	_, err := ParsePolicy(map[string]string{
		"scalerAddress":    "foresight.foresight.svc:9090",
		"query":            `sum(rate(http_requests_total{job="api"}[2m]))`,
		"datasource":       "http://prometheus:9090",
		"targetPerReplica": "fifty",
		"leadtime":         "3m",
	})
	fmt.Println(errors.Is(err, ErrInvalidMetadata))
	fmt.Println(err)

	p, _ := ParsePolicy(map[string]string{
		"query":            `sum(rate(http_requests_total{job="api"}[2m]))`,
		"targetPerReplica": "50",
		"leadTime":         "3m",
	})
	fmt.Println(p.LeadTime, p.Quantile, p.History, p.Mode)
	// Output:
	// true
	// datasource "http://prometheus:9090": must be the name of a datasource configured on the server (e.g. default), not an address: trigger metadata never carries URLs, so that a ScaledObject cannot make Foresight call an arbitrary host; configure the URL on the server (--config or --prometheus-url)
	// leadtime: unknown key; did you mean leadTime?
	// targetPerReplica "fifty": must be a positive number, the load one replica serves (e.g. 50)
	// 3m0s 0.9 168h0m0s predictive
}
