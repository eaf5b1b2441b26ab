// Package charts renders the Helm charts of this directory with Helm's own
// Go SDK, as `helm template` does, so that tests and the end-to-end harness
// see exactly what `helm install` would send to the API server. It is its
// own module, so that Helm's dependencies never enter foresight's.
package charts

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/cli/values"
	"helm.sh/helm/v3/pkg/getter"
)

// Options says what to render. The zero value renders the foresight chart
// with its default values as release "foresight" in namespace "foresight".
type Options struct {
	// Chart is the chart's directory; "" is the foresight chart beside
	// this file.
	Chart string
	// Release and Namespace name the release; "" is "foresight" for both.
	Release, Namespace string
	// ValueFiles are values files, later ones winning, as helm's --values.
	ValueFiles []string
	// Set are key=value assignments, as helm's --set, applied after
	// ValueFiles.
	Set []string
	// KubeVersion is the Kubernetes version the chart is rendered for, as
	// helm template's --kube-version; "" is Helm's default.
	KubeVersion string
}

// Rendered is a rendered release.
type Rendered struct {
	// Manifest is the release's objects, YAML documents separated by
	// "---", each preceded by a "# Source:" comment naming its template.
	Manifest string
	// Notes is the rendered NOTES.txt.
	Notes string
}

// Dir is the directory of the foresight chart.
func Dir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "foresight")
}

// Render renders a chart as `helm template` does: values are validated
// against the chart's values.schema.json, and a template's fail message is
// returned as the error.
func Render(ctx context.Context, o Options) (Rendered, error) {
	if o.Chart == "" {
		o.Chart = Dir()
	}
	if o.Release == "" {
		o.Release = "foresight"
	}
	if o.Namespace == "" {
		o.Namespace = "foresight"
	}
	chrt, err := loader.Load(o.Chart)
	if err != nil {
		return Rendered{}, fmt.Errorf("load chart %s: %w", o.Chart, err)
	}
	vals, err := (&values.Options{ValueFiles: o.ValueFiles, Values: o.Set}).MergeValues(getter.Providers{})
	if err != nil {
		return Rendered{}, fmt.Errorf("read values: %w", err)
	}
	install := action.NewInstall(&action.Configuration{Log: func(string, ...any) {}})
	install.DryRun, install.ClientOnly, install.Replace = true, true, true
	install.ReleaseName, install.Namespace = o.Release, o.Namespace
	if o.KubeVersion != "" {
		kv, err := chartutil.ParseKubeVersion(o.KubeVersion)
		if err != nil {
			return Rendered{}, fmt.Errorf("kube version: %w", err)
		}
		install.KubeVersion = kv
	}
	rel, err := install.RunWithContext(ctx, chrt, vals)
	if err != nil {
		return Rendered{}, fmt.Errorf("render chart %s: %w", chrt.Name(), err)
	}
	if rel == nil || rel.Info == nil {
		return Rendered{}, errors.New("render: Helm returned no release")
	}
	return Rendered{Manifest: rel.Manifest, Notes: rel.Info.Notes}, nil
}
