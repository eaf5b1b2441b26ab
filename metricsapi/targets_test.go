package metricsapi_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/foresight-aiops/foresight/metricsapi"
	"github.com/foresight-aiops/foresight/scaler"
)

func TestLoadTargets(t *testing.T) {
	ts, err := metricsapi.LoadTargets("testdata/targets.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(ts) != 4 {
		t.Fatalf("%d targets, want 4", len(ts))
	}
	api, db, web := ts[0], ts[1], ts[2]
	if api.String() != "shop/Deployment/api foresight_predicted_load" || api.Resource().String() != "deployments.apps" {
		t.Errorf("targets[0] = %s (%s)", api, api.Resource())
	}
	if api.Policy.Mode != scaler.ModeReactive || api.Policy.TargetPerReplica != 50 || api.Policy.Datasource != scaler.DefaultDatasource {
		t.Errorf("targets[0] policy = %s", api.Policy)
	}
	// YAML numbers are read as the strings KEDA would send.
	if db.Resource().String() != "statefulsets.apps" || db.Policy.TargetPerReplica != 10 || db.Policy.MaxReplicas != 2 {
		t.Errorf("targets[1] = %s, policy %s", db, db.Policy)
	}
	if web.Metric != "web_load_ahead" || web.Policy.LeadTime != 10*time.Minute || web.Policy.History != 72*time.Hour || !web.Policy.Season.None {
		t.Errorf("targets[2] = %s, policy %s", web, web.Policy)
	}
	// The same policy as the KEDA trigger's metadata.
	want, err := scaler.ParsePolicy(map[string]string{"query": `sum(rate(http_requests_total{job="web"}[2m]))`, "targetPerReplica": "50", "leadTime": "10m", "history": "3d", "season": "none"})
	if err != nil {
		t.Fatal(err)
	}
	if web.Policy.ModelKey() != want.ModelKey() {
		t.Errorf("the targets file's policy differs from the trigger's: %s, want %s", web.Policy, want)
	}

	if _, err := metricsapi.LoadTargets("testdata/missing.yaml"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

// TestParseTargetsBad reads testdata/bad/*.bad.yml, each of which states
// the messages it must produce in "# want:" lines.
func TestParseTargetsBad(t *testing.T) {
	files, err := filepath.Glob("testdata/bad/*.bad.yml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata/bad files: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var wants []string
			for line := range strings.Lines(string(data)) {
				if w, ok := strings.CutPrefix(line, "# want: "); ok {
					wants = append(wants, strings.TrimSpace(w))
				}
			}
			ts, err := metricsapi.ParseTargets(data)
			if err == nil {
				t.Fatalf("no error; targets %v", ts)
			}
			if !errors.Is(err, metricsapi.ErrInvalidTargets) {
				t.Errorf("error does not wrap ErrInvalidTargets: %v", err)
			}
			for _, w := range wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error\n%v\ndoes not say %q", err, w)
				}
			}
			if got, want := strings.Count(err.Error(), "\n")+1, len(wants); got != want {
				t.Errorf("%d problems reported, want %d:\n%v", got, want, err)
			}
		})
	}
}

// TestParseTargetsPolicyError checks that a policy's problem keeps its
// scaler.MetadataError, for callers that branch on the key.
func TestParseTargetsPolicyError(t *testing.T) {
	_, err := metricsapi.ParseTargets([]byte("targets:\n- {namespace: a, kind: Deployment, name: b, policy: {query: up, targetPerReplica: '-1'}}\n"))
	var me *scaler.MetadataError
	var te *metricsapi.TargetError
	if !errors.As(err, &me) || me.Key != "targetPerReplica" || !errors.As(err, &te) || te.Key != "policy.targetPerReplica" || te.Index != 0 {
		t.Errorf("error %v: MetadataError %+v, TargetError %+v", err, me, te)
	}
}

// FuzzParseTargets checks that no input panics, and that what is accepted
// is valid.
func FuzzParseTargets(f *testing.F) {
	for _, p := range []string{"testdata/targets.yaml"} {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	bad, _ := filepath.Glob("testdata/bad/*.bad.yml")
	for _, p := range bad {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ts, err := metricsapi.ParseTargets(data)
		if err != nil {
			if !errors.Is(err, metricsapi.ErrInvalidTargets) {
				t.Errorf("error does not wrap ErrInvalidTargets: %v", err)
			}
			return
		}
		if len(ts) == 0 {
			t.Error("no error and no targets")
		}
		for _, x := range ts {
			if x.Namespace == "" || x.Name == "" || (x.Kind != metricsapi.KindDeployment && x.Kind != metricsapi.KindStatefulSet) || x.Metric == "" || x.Policy.TargetPerReplica <= 0 {
				t.Errorf("accepted an invalid target %+v", x)
			}
		}
	})
}
