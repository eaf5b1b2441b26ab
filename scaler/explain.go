package scaler

import (
	"context"
	"math"

	"github.com/kedacore/keda/v2/pkg/scalers/externalscaler"
	"google.golang.org/protobuf/types/known/timestamppb"

	foresightv1 "github.com/foresight-aiops/foresight/proto/foresight/v1"
)

// ForecastsServer serves Foresight's own API (proto/foresight/v1) over the
// same predictor and metadata decoding as the KEDA scaler.
type ForecastsServer struct {
	foresightv1.UnimplementedForecastsServer
	s *Server
}

var _ foresightv1.ForecastsServer = (*ForecastsServer)(nil)

// Forecasts returns the server of Foresight's own API.
func (s *Server) Forecasts() *ForecastsServer { return &ForecastsServer{s: s} }

// Explain answers "why this many replicas?".
func (f *ForecastsServer) Explain(ctx context.Context, req *foresightv1.ExplainRequest) (*foresightv1.ExplainResponse, error) {
	ref := &externalscaler.ScaledObjectRef{Name: req.GetName(), Namespace: req.GetNamespace(), ScalerMetadata: req.GetMetadata()}
	p, err := f.s.policy(ref)
	if err != nil {
		return nil, err
	}
	x, err := f.s.pred.Explain(ctx, Ref{Namespace: req.GetNamespace(), Name: req.GetName()}, p)
	if err != nil {
		return nil, f.s.status(ctx, ref, err)
	}
	pred := x.Prediction
	resp := &foresightv1.ExplainResponse{
		Policy:      p.metadata(),
		Reactive:    pred.Reactive,
		Predicted:   pred.Decision.Predicted,
		Peak:        x.Peak,
		PeakCap:     x.PeakCap,
		MinReplicas: int32(p.MinReplicas),
		MaxReplicas: int32(p.MaxReplicas),
		Served:      pred.Served,
		Replicas:    int32(min(pred.Replicas, math.MaxInt32)),
		Reason:      string(pred.Decision.Reason),
		Detail:      pred.Decision.Detail(),
		Mode:        string(pred.Mode),
		Stale:       pred.Stale,
		History: &foresightv1.History{
			StepSeconds:    p.Step.Seconds(),
			Points:         int32(p.History / p.Step),
			ExcludedPoints: int32(x.Excluded),
		},
	}
	if !pred.ReactiveAt.IsZero() {
		resp.ReactiveAt = timestamppb.New(pred.ReactiveAt)
	}
	if !x.FittedAt.IsZero() {
		resp.History.Start = timestamppb.New(x.HistoryStart)
		resp.History.End = timestamppb.New(x.HistoryEnd)
		resp.History.FittedAt = timestamppb.New(x.FittedAt)
		resp.Model = &foresightv1.Model{Spec: x.Model, Params: x.Params, SelectionCriterion: x.Criterion, Notes: x.Notes}
		for _, period := range x.Periods {
			resp.Model.SeasonPeriods = append(resp.Model.SeasonPeriods, int32(period))
		}
	}
	if fc := x.Forecast; fc != nil {
		resp.Forecast = &foresightv1.Forecast{
			Start: timestamppb.New(fc.Start), StepSeconds: fc.Step.Seconds(), Quantile: fc.Quantile,
			Mean: fc.Mean, Lower: fc.Lower, Upper: fc.Upper,
		}
	}
	return resp, nil
}
