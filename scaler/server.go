package scaler

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"math"
	"sync"
	"time"

	"github.com/kedacore/keda/v2/pkg/scalers/externalscaler"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/foresight-aiops/foresight/promsource"
)

// MetricName is the metric name Foresight reports to KEDA (the HPA sees
// it as s{trigger index}-foresight).
const MetricName = "foresight"

// Server implements KEDA's external scaler protocol over a Predictor.
//
// StreamMetricSpec is left Unimplemented on purpose. What it would push is
// the target, targetPerReplica, which changes only with the trigger's
// metadata, and KEDA builds a new scaler when that changes; on
// Unimplemented KEDA (v2.21) stops opening the stream and reads the target
// from GetMetricSpec, while any other answer would make it retry forever.
type Server struct {
	externalscaler.UnimplementedExternalScalerServer

	pred   *Predictor
	log    *slog.Logger
	warned sync.Map // namespace/name/code → time of the last warning
	// StreamInterval is how often StreamIsActive re-evaluates (0: 10s).
	StreamInterval time.Duration

	policies sync.Map // Ref → []*decoded, newest first
}

type decoded struct {
	md     map[string]string
	policy Policy
	err    error
}

var _ externalscaler.ExternalScalerServer = (*Server)(nil)

// NewServer returns a Server answering from pred; logger nil discards.
func NewServer(pred *Predictor, logger *slog.Logger) *Server {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Server{pred: pred, log: logger}
}

// policy decodes a trigger's metadata once per distinct metadata:
// GetMetricSpec is called on every poll and must stay cheap.
func (s *Server) policy(ref *externalscaler.ScaledObjectRef) (Policy, error) {
	if ref == nil {
		return Policy{}, status.Error(codes.InvalidArgument, "no ScaledObjectRef in the request")
	}
	md := ref.GetScalerMetadata()
	key := Ref{ref.GetNamespace(), ref.GetName()}
	var known []*decoded
	if v, ok := s.policies.Load(key); ok {
		known = v.([]*decoded)
		for _, d := range known {
			if maps.Equal(d.md, md) {
				return d.policy, d.err
			}
		}
	}
	p, err := ParsePolicy(md)
	if err != nil {
		s.log.Warn("invalid trigger metadata: fix the ScaledObject", "namespace", ref.GetNamespace(), "scaledobject", ref.GetName(), "err", err)
		err = status.Error(codes.InvalidArgument, err.Error())
	}
	// Newest first; an object keeps the metadata of its last few
	// triggers, so that an edited ScaledObject does not grow the cache.
	next := append([]*decoded{{md: maps.Clone(md), policy: p, err: err}}, known[:min(len(known), triggersPerObject-1)]...)
	s.policies.Store(key, next)
	return p, err
}

// triggersPerObject bounds the decoded metadata kept per ScaledObject:
// one per Foresight trigger it has (rarely more than one), plus an edit.
const triggersPerObject = 4

// GetMetricSpec returns the target: the load one replica serves.
func (s *Server) GetMetricSpec(_ context.Context, ref *externalscaler.ScaledObjectRef) (*externalscaler.GetMetricSpecResponse, error) {
	p, err := s.policy(ref)
	if err != nil {
		return nil, err
	}
	return &externalscaler.GetMetricSpecResponse{MetricSpecs: []*externalscaler.MetricSpec{{
		MetricName:      MetricName,
		TargetSize:      int64(math.Ceil(p.TargetPerReplica)),
		TargetSizeFloat: p.TargetPerReplica,
	}}}, nil
}

// GetMetrics returns the load to provision for.
func (s *Server) GetMetrics(ctx context.Context, req *externalscaler.GetMetricsRequest) (*externalscaler.GetMetricsResponse, error) {
	pred, err := s.predict(ctx, req.GetScaledObjectRef())
	if err != nil {
		return nil, err
	}
	name := req.GetMetricName()
	if name == "" {
		name = MetricName
	}
	return &externalscaler.GetMetricsResponse{MetricValues: []*externalscaler.MetricValue{{
		MetricName:       name,
		MetricValue:      int64(math.Min(math.Ceil(pred.Served), math.MaxInt64/2)),
		MetricValueFloat: pred.Served,
	}}}, nil
}

// IsActive reports whether the served load is above the activation
// threshold: with a forecast, ahead of a predicted ramp, so that a
// Deployment scaled to zero is pre-warmed.
func (s *Server) IsActive(ctx context.Context, ref *externalscaler.ScaledObjectRef) (*externalscaler.IsActiveResponse, error) {
	p, err := s.policy(ref)
	if err != nil {
		return nil, err
	}
	pred, err := s.predictWith(ctx, ref, p)
	if err != nil {
		return nil, err
	}
	return &externalscaler.IsActiveResponse{Result: pred.Served > p.ActivationThreshold}, nil
}

// StreamIsActive pushes true whenever the object should be active, so that
// KEDA scales it from zero at once (KEDA ignores false).
func (s *Server) StreamIsActive(ref *externalscaler.ScaledObjectRef, stream externalscaler.ExternalScaler_StreamIsActiveServer) error {
	interval := s.StreamInterval
	if interval <= 0 {
		interval = 10 * time.Second
	}
	ctx := stream.Context()
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		resp, err := s.IsActive(ctx, ref)
		switch {
		case status.Code(err) == codes.InvalidArgument:
			return err
		case err == nil && resp.GetResult():
			if err := stream.Send(resp); err != nil {
				return err
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
		}
	}
}

// predict runs the predictor and maps its errors to gRPC status codes.
func (s *Server) predict(ctx context.Context, ref *externalscaler.ScaledObjectRef) (Prediction, error) {
	p, err := s.policy(ref)
	if err != nil {
		return Prediction{}, err
	}
	return s.predictWith(ctx, ref, p)
}

// predictWith is predict with ref's policy decoded.
func (s *Server) predictWith(ctx context.Context, ref *externalscaler.ScaledObjectRef, p Policy) (Prediction, error) {
	pred, err := s.pred.Predict(ctx, Ref{Namespace: ref.GetNamespace(), Name: ref.GetName()}, p)
	if err != nil {
		return pred, s.status(ctx, ref, err)
	}
	return pred, nil
}

// logEvery spaces the repeated warnings of one ScaledObject: KEDA asks
// every few seconds, and a line a minute says all there is to say.
const logEvery = time.Minute

// shouldLog reports whether a warning with code for ref is due: the first
// one, or the first after logEvery.
func (s *Server) shouldLog(ref *externalscaler.ScaledObjectRef, code codes.Code) bool {
	key := ref.GetNamespace() + "/" + ref.GetName() + "/" + code.String()
	now := time.Now()
	if last, ok := s.warned.Load(key); ok && now.Sub(last.(time.Time)) < logEvery {
		return false
	}
	s.warned.Store(key, now)
	return true
}

// status maps a predictor error to a gRPC status, with a log line that
// says what the operator can do (at most one a minute per ScaledObject
// and kind of failure).
func (s *Server) status(ctx context.Context, ref *externalscaler.ScaledObjectRef, err error) error {
	switch {
	case errors.Is(err, promsource.ErrBadQuery), errors.Is(err, promsource.ErrUnknownDatasource):
		if s.shouldLog(ref, codes.InvalidArgument) {
			s.log.WarnContext(ctx, "the trigger's query or datasource is wrong: fix the ScaledObject",
				"namespace", ref.GetNamespace(), "scaledobject", ref.GetName(), "err", err)
		}
		return status.Error(codes.InvalidArgument, err.Error())
	case errors.Is(err, ErrStale), errors.Is(err, ErrNoValue):
		if s.shouldLog(ref, codes.Unavailable) {
			s.log.WarnContext(ctx, "no fresh value: answering Unavailable so that KEDA's fallback and the HPA's safety nets act",
				"namespace", ref.GetNamespace(), "scaledobject", ref.GetName(), "err", err)
		}
		return status.Error(codes.Unavailable, err.Error())
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return status.FromContextError(err).Err()
	default:
		return status.Error(codes.Internal, err.Error())
	}
}
