// Package e2e holds the tests that drive Foresight with real clients and,
// later, a real control plane. It is its own Go module because KEDA's
// client pulls in Kubernetes (a build of several minutes from cold), which
// the main module's tests must not wait for.
package e2e

import (
	"context"
	"crypto/tls"
	"net"
	"testing"
	"time"

	"github.com/kedacore/keda/v2/pkg/scalers"
	"github.com/kedacore/keda/v2/pkg/scalers/externalscaler"
	"github.com/kedacore/keda/v2/pkg/scalers/scalersconfig"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	v2 "k8s.io/api/autoscaling/v2"

	"github.com/foresight-aiops/foresight/internal/demo"
	"github.com/foresight-aiops/foresight/internal/testcerts"
	"github.com/foresight-aiops/foresight/scaler"
)

// demoSources serves the embedded trace for every datasource.
type demoSources struct{ src *demo.Source }

func (d demoSources) Source(string) (scaler.Source, error) { return d.src, nil }

// startForesight serves Foresight's scaler on a loopback port, over TLS if
// tlsCfg is set, and returns its address.
func startForesight(t *testing.T, tlsCfg *tls.Config) string {
	t.Helper()
	src, err := demo.NewSource(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	pr := scaler.NewPredictor(demoSources{src}, scaler.Options{})
	var opts []grpc.ServerOption
	if tlsCfg != nil {
		opts = append(opts, grpc.Creds(credentials.NewTLS(tlsCfg)))
	}
	gs := grpc.NewServer(opts...)
	srv := scaler.NewServer(pr, nil)
	srv.StreamInterval = 50 * time.Millisecond
	externalscaler.RegisterExternalScalerServer(gs, srv)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = gs.Serve(lis) }()
	t.Cleanup(gs.Stop)
	return lis.Addr().String()
}

func config(name, addr string, metadata, auth map[string]string) *scalersconfig.ScalerConfig {
	md := map[string]string{"scalerAddress": addr, "query": `sum(rate(http_requests_total{app="` + name + `"}[2m]))`, "targetPerReplica": "50"}
	for k, v := range metadata {
		md[k] = v
	}
	return &scalersconfig.ScalerConfig{
		ScalableObjectName: name, ScalableObjectNamespace: "e2e", ScalableObjectType: "ScaledObject",
		TriggerType: "external", TriggerMetadata: md, AuthParams: auth, GlobalHTTPTimeout: 3 * time.Second,
	}
}

// conformance drives one Foresight server with KEDA's own external-scaler
// client, as the operator and the metrics adapter do.
func conformance(t *testing.T, addr string, auth map[string]string) {
	ctx := context.Background()
	t.Run("metric spec", func(t *testing.T) {
		s, err := scalers.NewExternalScaler(config("api", addr, nil, auth))
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close(ctx)
		specs := s.GetMetricSpecForScaling(ctx)
		if len(specs) != 1 || specs[0].External == nil {
			t.Fatalf("specs %+v", specs)
		}
		ext := specs[0].External
		if ext.Metric.Name != "s0-"+scaler.MetricName || ext.Target.Type != v2.AverageValueMetricType || ext.Target.AverageValue.AsApproximateFloat64() != 50 {
			t.Errorf("spec %s %s %v, want s0-foresight AverageValue 50", ext.Metric.Name, ext.Target.Type, ext.Target.AverageValue)
		}
	})
	t.Run("metrics and activity", func(t *testing.T) {
		s, err := scalers.NewExternalScaler(config("api", addr, nil, auth))
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close(ctx)
		values, active, err := s.GetMetricsAndActivity(ctx, "s0-"+scaler.MetricName)
		if err != nil {
			t.Fatal(err)
		}
		if len(values) != 1 || values[0].Value.AsApproximateFloat64() <= 0 || !active {
			t.Errorf("values %+v, active %v: want the demo trace's load, active", values, active)
		}
	})
	t.Run("invalid metadata", func(t *testing.T) {
		s, err := scalers.NewExternalScaler(config("bad", addr, map[string]string{"targetPerReplcia": "5"}, auth))
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close(ctx)
		if specs := s.GetMetricSpecForScaling(ctx); len(specs) != 0 {
			t.Errorf("specs %+v for invalid metadata", specs)
		}
		if _, _, err := s.GetMetricsAndActivity(ctx, "s0-foresight"); err == nil {
			t.Error("no error for invalid metadata")
		}
	})
	t.Run("push: StreamIsActive", func(t *testing.T) {
		s, err := scalers.NewExternalPushScaler(config("push", addr, nil, auth))
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close(ctx)
		runCtx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		active := make(chan bool, 4)
		go s.Run(runCtx, active)
		select {
		case a := <-active:
			if !a {
				t.Error("StreamIsActive pushed false")
			}
		case <-runCtx.Done():
			t.Fatal("StreamIsActive pushed nothing")
		}
	})
}

func TestKEDAClientPlaintext(t *testing.T) {
	conformance(t, startForesight(t, nil), nil)
}

func TestKEDAClientMutualTLS(t *testing.T) {
	ca := testcerts.NewCA(t)
	server, client := ca.Issue(t, "127.0.0.1"), ca.Issue(t, "keda")
	addr := startForesight(t, &tls.Config{
		Certificates: []tls.Certificate{server.TLS}, ClientCAs: ca.Pool(), ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12,
	})
	// TriggerAuthentication's caCert, tlsClientCert and tlsClientKey.
	conformance(t, addr, map[string]string{"caCert": string(ca.PEM), "tlsClientCert": string(client.CertPEM), "tlsClientKey": string(client.KeyPEM)})

	t.Run("without a client certificate", func(t *testing.T) {
		s, err := scalers.NewExternalScaler(config("nocert", addr, map[string]string{"enableTLS": "true"}, map[string]string{"caCert": string(ca.PEM)}))
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close(context.Background())
		if _, _, err := s.GetMetricsAndActivity(context.Background(), "s0-foresight"); err == nil {
			t.Error("the server accepted a client without a certificate")
		}
	})
}
