package kedaload

import (
	"context"

	"github.com/kedacore/keda/v2/pkg/scalers/externalscaler"
)

// Noop is an external scaler that does no work: it answers every call at
// once, with constant answers the size of a real scaler's. Measured with
// the same client on the same machine, it gives the floor under a real
// scaler's latencies: what the gRPC transport, the load generator and the
// scheduler cost by themselves.
type Noop struct {
	externalscaler.UnimplementedExternalScalerServer
}

var _ externalscaler.ExternalScalerServer = Noop{}

var (
	noopSpec = &externalscaler.GetMetricSpecResponse{MetricSpecs: []*externalscaler.MetricSpec{
		{MetricName: "foresight", TargetSizeFloat: 50},
	}}
	noopActive = &externalscaler.IsActiveResponse{Result: true}
)

// GetMetricSpec answers one metric with a target of 50.
func (Noop) GetMetricSpec(context.Context, *externalscaler.ScaledObjectRef) (*externalscaler.GetMetricSpecResponse, error) {
	return noopSpec, nil
}

// GetMetrics answers 100 for the metric asked for.
func (Noop) GetMetrics(_ context.Context, req *externalscaler.GetMetricsRequest) (*externalscaler.GetMetricsResponse, error) {
	return &externalscaler.GetMetricsResponse{MetricValues: []*externalscaler.MetricValue{
		{MetricName: req.GetMetricName(), MetricValueFloat: 100},
	}}, nil
}

// IsActive answers true.
func (Noop) IsActive(context.Context, *externalscaler.ScaledObjectRef) (*externalscaler.IsActiveResponse, error) {
	return noopActive, nil
}
