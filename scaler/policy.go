// Package scaler serves Foresight's predictions to KEDA as an external
// scaler: ScaledObject metadata becomes a typed Policy, a Predictor keeps a
// fitted model per policy, and the gRPC server answers KEDA's calls with
// guardrails that never make an outage worse.
package scaler

import (
	"time"

	"github.com/foresight-aiops/foresight/forecast"
)

// Mode says what the scaler serves.
type Mode string

// Modes.
const (
	// ModePredictive serves the guarded prediction.
	ModePredictive Mode = "predictive"
	// ModeShadow serves the reactive value, but computes and publishes
	// what the prediction would have served.
	ModeShadow Mode = "shadow"
	// ModeReactive serves the reactive value and fits nothing.
	ModeReactive Mode = "reactive"
)

// Policy is a ScaledObject trigger's metadata, decoded and validated by
// ParsePolicy, which guarantees the ranges documented on each field.
type Policy struct {
	// Query is the PromQL expression of the load, e.g.
	// sum(rate(http_requests_total{job="api"}[2m])). Not empty.
	Query string
	// Datasource names a datasource of the server's configuration; never a
	// URL, so that a ScaledObject cannot make Foresight call an arbitrary
	// address. Letters, digits, '.', '_' and '-'.
	Datasource string
	// TargetPerReplica is the load one replica serves: positive and
	// finite.
	TargetPerReplica float64
	// LeadTime is the pod start-up to cover: positive (policy.Params reads
	// 0 as its default, so 0 is refused rather than silently replaced),
	// shorter than History, and at most 1,440 steps.
	LeadTime time.Duration
	// Quantile of the forecast provisioned for, in [0.5, 1).
	Quantile float64
	// History is how much history to fit on; Step its resolution, at
	// least 1s. History holds 100 to 100,000 steps.
	History, Step time.Duration
	// Season chooses the seasonal periods. Given periods are whole
	// numbers of at least two steps, and History holds at least two
	// cycles of the longest.
	Season forecast.SeasonSetting
	// PeakCapFactor caps the prediction at this multiple of the history's
	// peak: at least 1 and finite.
	PeakCapFactor float64
	// MinReplicas and MaxReplicas bound the replicas the served load
	// implies; 0 means no bound of the scaler's own. Both are in
	// [0, MaxInt32], and MaxReplicas is 0 or at least MinReplicas.
	MinReplicas, MaxReplicas int
	// ExcludeWindows are outages to leave out of training: in UTC, sorted,
	// none overlapping or touching another, at most 100.
	ExcludeWindows []forecast.Window
	// ExcludeQuery is a PromQL expression that is above 0 during outages
	// (e.g. max(ALERTS{alertname="ServiceDown",alertstate="firing"})); its
	// windows are left out of training too.
	ExcludeQuery string
	// ExcludeAnomalies leaves out the points the model finds wildly off.
	ExcludeAnomalies bool
	// Mode says what is served.
	Mode Mode
	// ActivationThreshold: IsActive is true when the served load is above
	// it. At least 0 and finite.
	ActivationThreshold float64
	// MaxStaleness is how long the last forecast may be served while the
	// datasource is unreachable, before the scaler answers Unavailable.
	// Positive.
	MaxStaleness time.Duration

	// modelKey caches ModelKey, set by ParsePolicy.
	modelKey string
}

// Defaults of Policy fields a trigger leaves out. Season defaults to auto,
// Mode to ModePredictive, the other fields to 0, false or empty.
const (
	DefaultDatasource    = "default"
	DefaultLeadTime      = 5 * time.Minute
	DefaultQuantile      = 0.9
	DefaultHistory       = 7 * 24 * time.Hour
	DefaultStep          = time.Minute
	DefaultPeakCapFactor = 1.2
	DefaultMaxStaleness  = 10 * time.Minute
)
