package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/encoding/protojson"

	foresightv1 "github.com/foresight-aiops/foresight/proto/foresight/v1"
)

const explainHelp = `Usage: foresight explain [--addr HOST:PORT] --namespace NS --name NAME key=value...

Asks a running 'foresight serve' why it serves what it serves for one
ScaledObject trigger: the history the model was fitted on and what was left
out, the model, the forecast over the lead time, the current load, the caps,
and the served value with its reason. The key=value arguments are the
trigger's metadata, as in the ScaledObject.

Examples:
  foresight explain --namespace shop --name api \
      query='sum(rate(http_requests_total{job="api"}[2m]))' targetPerReplica=50
  foresight explain --addr foresight.foresight.svc:9090 --format json --name api query=... targetPerReplica=50
`

func runExplain(ctx context.Context, args []string, stdout io.Writer) error {
	var addr, namespace, name, format string
	fs := newFlagSet("explain", explainHelp, stdout)
	fs.StringVar(&addr, "addr", "127.0.0.1:9090", "`address` of foresight serve (plaintext gRPC)")
	fs.StringVar(&namespace, "namespace", "default", "the ScaledObject's namespace")
	fs.StringVar(&name, "name", "", "the ScaledObject's name")
	fs.StringVar(&format, "format", "text", "output: text or json")
	if err := parseFlagsAndArgs(fs, args); err != nil {
		return err
	}
	md := map[string]string{}
	for _, kv := range fs.Args() {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return usagef("argument %q: give the trigger's metadata as key=value", kv)
		}
		md[k] = v
	}
	switch {
	case name == "":
		return usagef("--name is required: the ScaledObject's name")
	case len(md) == 0:
		return usagef("give the trigger's metadata as key=value arguments, e.g. query=... targetPerReplica=50")
	case format != "text" && format != "json":
		return usagef("--format %q: use text or json", format)
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return fmt.Errorf("connecting to %s: %w", addr, err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	resp, err := foresightv1.NewForecastsClient(conn).Explain(ctx, &foresightv1.ExplainRequest{Namespace: namespace, Name: name, Metadata: md})
	if err != nil {
		return fmt.Errorf("explain: %w", err)
	}
	if format == "json" {
		b, err := protojson.MarshalOptions{Multiline: true, Indent: "  "}.Marshal(resp)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(stdout, string(b))
		return err
	}
	writeExplanation(stdout, namespace+"/"+name, resp)
	return nil
}

func writeExplanation(w io.Writer, who string, r *foresightv1.ExplainResponse) {
	target := r.GetPolicy()["targetPerReplica"]
	fmt.Fprintf(w, "%s (mode %s): serving %.4g, %d replicas of %s, because: %s\n", who, r.GetMode(), r.GetServed(), r.GetReplicas(), target, r.GetReason())
	fmt.Fprintf(w, "  %s\n", r.GetDetail())
	if r.GetStale() {
		fmt.Fprintln(w, "  the datasource is unreachable: these are the last values read")
	}
	read := "never"
	if r.GetReactiveAt() != nil {
		read = r.GetReactiveAt().AsTime().UTC().Format(time.RFC3339)
	}
	fmt.Fprintf(w, "  current load %.4g (read %s)\n", r.GetReactive(), read)
	if !math.IsNaN(r.GetPredicted()) {
		fmt.Fprintf(w, "  predicted load %.4g over the next %s at quantile %s\n", r.GetPredicted(), r.GetPolicy()["leadTime"], r.GetPolicy()["quantile"])
	}
	fmt.Fprintf(w, "  history peak %.4g, so the prediction is capped at %.4g (peakCapFactor %s); replicas within [%d, %s]\n",
		r.GetPeak(), r.GetPeakCap(), r.GetPolicy()["peakCapFactor"], r.GetMinReplicas(), replicaBound(r.GetMaxReplicas()))
	if m := r.GetModel(); m != nil {
		h := r.GetHistory()
		fmt.Fprintf(w, "model %s  %s\n", m.GetSpec(), m.GetParams())
		fmt.Fprintf(w, "  fitted %s on %s to %s at %gs steps (%d points, %d left out)\n",
			h.GetFittedAt().AsTime().UTC().Format(time.RFC3339), h.GetStart().AsTime().UTC().Format(time.RFC3339),
			h.GetEnd().AsTime().UTC().Format(time.RFC3339), h.GetStepSeconds(), h.GetPoints(), h.GetExcludedPoints())
		if m.GetSelectionCriterion() != "" {
			fmt.Fprintf(w, "  chosen by: %s\n", m.GetSelectionCriterion())
		}
		for _, n := range m.GetNotes() {
			fmt.Fprintf(w, "  note: %s\n", n)
		}
	} else {
		fmt.Fprintln(w, "no model yet: the first fit runs in the background")
	}
	if f := r.GetForecast(); f != nil {
		fmt.Fprintf(w, "forecast (the band runs from the %.2g to the %.2g quantile):\n", 1-f.GetQuantile(), f.GetQuantile())
		step := time.Duration(f.GetStepSeconds() * float64(time.Second))
		for i := range f.GetMean() {
			t := f.GetStart().AsTime().Add(time.Duration(i) * step).UTC()
			fmt.Fprintf(w, "  %s  %.4g  [%.4g, %.4g]\n", t.Format("2006-01-02 15:04"), f.GetMean()[i], f.GetLower()[i], f.GetUpper()[i])
		}
	}
}

func replicaBound(n int32) string {
	if n == 0 {
		return "none"
	}
	return strconv.Itoa(int(n))
}
