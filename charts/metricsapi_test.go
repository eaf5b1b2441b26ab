package charts

import (
	"encoding/base64"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/labels"
	sigsyaml "sigs.k8s.io/yaml"
)

const metricsAPIValues = "testdata/good/metricsapi.yaml"

// TestMetricsAPIOffByDefault: without metricsApi.enabled the chart renders
// none of the metrics API server's objects, whatever else the values say.
func TestMetricsAPIOffByDefault(t *testing.T) {
	for _, file := range goodValues(t) {
		if file == metricsAPIValues {
			continue
		}
		t.Run(filepath.Base(file), func(t *testing.T) {
			rel := render(t, Options{ValueFiles: []string{file}})
			if rel.MetricsAPI != nil || slices.Contains(rel.Kinds, "APIService") {
				t.Errorf("metrics API server objects rendered without metricsApi.enabled: %v", rel.Kinds)
			}
		})
	}
	if rel := render(t, Options{ValueFiles: []string{metricsAPIValues}}); rel.MetricsAPI == nil {
		t.Fatalf("%s renders no metrics API server: the test above would prove nothing", metricsAPIValues)
	}
}

// metricsAPICases are the values TestMetricsAPIObjects and
// TestMetricsAPIRBAC render: custom metrics only (the default), external
// metrics too, and no workload lister.
var metricsAPICases = []struct {
	name                    string
	set                     []string
	external, listWorkloads bool
}{
	{"custom", nil, false, true},
	{"external", []string{"metricsApi.externalMetrics=true", "serviceMonitor.enabled=true"}, true, true},
	{"no-lister", []string{"metricsApi.rbac.listWorkloads=false"}, false, false},
}

// TestMetricsAPIObjects checks that the metrics API server's objects fit
// together: the Service selects its pods and only them (and the scaler's
// Services never select them), port 443 reaches the secure port, the
// APIServices route each group and version to that Service, and the
// container gets the flags of `foresight metrics-apiserver` for the
// values.
func TestMetricsAPIObjects(t *testing.T) {
	for _, tc := range metricsAPICases {
		t.Run(tc.name, func(t *testing.T) {
			rel := render(t, Options{ValueFiles: []string{metricsAPIValues}, Set: tc.set})
			m := rel.MetricsAPI
			if m == nil || m.Deployment == nil || m.Service == nil || m.ConfigMap == nil || m.ServiceAccount == nil {
				t.Fatalf("metricsApi.enabled: want its Deployment, Service, ConfigMap and ServiceAccount, got %+v", m)
			}
			pod := m.Deployment.Spec.Template
			scalerPod := rel.Deployment.Spec.Template
			c := pod.Spec.Containers[0]

			sel := labels.SelectorFromSet(m.Service.Spec.Selector)
			if !sel.Matches(labels.Set(pod.Labels)) || sel.Matches(labels.Set(scalerPod.Labels)) {
				t.Errorf("metrics Service selects %v: want the metrics API pods (%v), not the scaler's (%v)", m.Service.Spec.Selector, pod.Labels, scalerPod.Labels)
			}
			dsel := labels.SelectorFromSet(m.Deployment.Spec.Selector.MatchLabels)
			if dsel.Matches(labels.Set(scalerPod.Labels)) || labels.SelectorFromSet(rel.Deployment.Spec.Selector.MatchLabels).Matches(labels.Set(pod.Labels)) {
				t.Error("the two Deployments' selectors overlap: each would fight over the other's pods")
			}
			for name, svc := range rel.Services {
				if labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(pod.Labels)) {
					t.Errorf("the scaler's Service %s selects the metrics API pods: KEDA would reach them", name)
				}
			}
			if rel.PDB != nil && labels.SelectorFromSet(rel.PDB.Spec.Selector.MatchLabels).Matches(labels.Set(pod.Labels)) {
				t.Error("the scaler's PodDisruptionBudget counts the metrics API pods")
			}
			if m.PDB == nil || !labels.SelectorFromSet(m.PDB.Spec.Selector.MatchLabels).Matches(labels.Set(pod.Labels)) ||
				labels.SelectorFromSet(m.PDB.Spec.Selector.MatchLabels).Matches(labels.Set(scalerPod.Labels)) {
				t.Errorf("want a PodDisruptionBudget of the metrics API pods alone (drains must leave one answering the APIServices), got %+v", m.PDB)
			}
			if (m.ServiceMonitor != nil) != (rel.ServiceMonitor != nil) {
				t.Errorf("serviceMonitor.enabled must scrape both servers or neither: scaler %v, metrics API %v", rel.ServiceMonitor != nil, m.ServiceMonitor != nil)
			}
			if m.ServiceMonitor != nil {
				spec, _ := m.ServiceMonitor["spec"].(map[string]any)
				match, _ := spec["selector"].(map[string]any)["matchLabels"].(map[string]any)
				set := labels.Set{}
				for k, v := range match {
					set[k], _ = v.(string)
				}
				if !labels.SelectorFromSet(set).Matches(labels.Set(m.Service.Labels)) {
					t.Errorf("the metrics API ServiceMonitor selects %v, which the metrics Service (%v) does not carry", set, m.Service.Labels)
				}
				eps, _ := spec["endpoints"].([]any)
				if len(eps) != 1 || eps[0].(map[string]any)["port"] != "http" {
					t.Errorf("metrics API ServiceMonitor endpoints %v, want the http port", eps)
				}
			}
			ports := map[string]int32{}
			for _, p := range c.Ports {
				ports[p.Name] = p.ContainerPort
			}
			var https *corev1.ServicePort
			for i, p := range m.Service.Spec.Ports {
				if _, ok := ports[p.TargetPort.String()]; !ok {
					t.Errorf("metrics Service port %s targets %s, which the container does not name (%v)", p.Name, p.TargetPort.String(), ports)
				}
				if p.Port == 443 {
					https = &m.Service.Spec.Ports[i]
				}
			}
			if https == nil || https.TargetPort.String() != "https" || ports["https"] != 6443 {
				t.Errorf("want Service port 443 to the container's https port 6443, got %+v, container ports %v", https, ports)
			}

			if pod.Spec.ServiceAccountName != m.ServiceAccount.Name || pod.Spec.ServiceAccountName == scalerPod.Spec.ServiceAccountName {
				t.Errorf("metrics API pods run as %q: want their own ServiceAccount %q", pod.Spec.ServiceAccountName, m.ServiceAccount.Name)
			}
			if pod.Spec.AutomountServiceAccountToken == nil || !*pod.Spec.AutomountServiceAccountToken {
				t.Error("the metrics API server needs its token (delegated authentication and authorization)")
			}
			if c.Command != nil || len(c.Args) == 0 || c.Args[0] != "metrics-apiserver" {
				t.Fatalf("command %v args %v: want the image's entrypoint with metrics-apiserver", c.Command, c.Args)
			}
			for _, want := range []string{"--targets=/etc/foresight/targets/targets.yaml", "--demo", "--secure-port=6443", "--http-addr=:8080"} {
				if !slices.Contains(c.Args, want) {
					t.Errorf("args lack %s: %v", want, c.Args)
				}
			}
			if slices.Contains(c.Args, "--enable-external-metrics") != tc.external {
				t.Errorf("args %v: --enable-external-metrics must be given exactly when metricsApi.externalMetrics is", c.Args)
			}
			if p := c.LivenessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/healthz" || p.HTTPGet.Port.String() != "http" {
				t.Errorf("liveness probe %+v: want /healthz on the http port (--http-addr)", p)
			}
			if p := c.ReadinessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/readyz" || p.HTTPGet.Port.String() != "https" || p.HTTPGet.Scheme != corev1.URISchemeHTTPS {
				t.Errorf("readiness probe %+v: want the API server's /readyz over HTTPS", p)
			}
			if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
				t.Errorf("want CPU and memory requests and a memory limit, got %+v", c.Resources)
			}
			if _, ok := pod.Annotations["checksum/targets"]; !ok {
				t.Error("no checksum/targets annotation: a change of targets would not roll the pods, which read --targets at start")
			}

			// The targets file carries the values' targets, key for key.
			var targets struct {
				Targets []struct {
					Namespace, Kind, Name, Metric string
					Policy                        map[string]string
				}
			}
			dec := yaml.NewDecoder(strings.NewReader(m.ConfigMap.Data["targets.yaml"]))
			dec.KnownFields(true)
			if err := dec.Decode(&targets); err != nil {
				t.Fatalf("targets.yaml: %v\n%s", err, m.ConfigMap.Data["targets.yaml"])
			}
			if len(targets.Targets) != 2 || targets.Targets[1].Metric != "foresight_predicted_commits" ||
				targets.Targets[1].Policy["targetPerReplica"] != "800" || targets.Targets[0].Policy["leadTime"] != "5m" {
				t.Errorf("targets lost in rendering: %+v", targets.Targets)
			}

			want := []string{"v1beta2.custom.metrics.k8s.io", "v1beta1.custom.metrics.k8s.io"}
			if tc.external {
				want = append(want, "v1beta1.external.metrics.k8s.io")
			}
			var got []string
			for name, a := range m.APIServices {
				got = append(got, name)
				if name != a.Spec.Version+"."+a.Spec.Group {
					t.Errorf("APIService %s serves %s/%s: its name must be VERSION.GROUP", name, a.Spec.Group, a.Spec.Version)
				}
				if s := a.Spec.Service; s == nil || s.Name != m.Service.Name || s.Namespace != m.Service.Namespace || s.Port == nil || *s.Port != 443 {
					t.Errorf("APIService %s routes to %+v: want Service %s/%s port 443", name, s, m.Service.Namespace, m.Service.Name)
				}
				if !a.Spec.InsecureSkipTLSVerify || len(a.Spec.CABundle) > 0 {
					t.Errorf("APIService %s: with a self-signed certificate (no metricsApi.tls), want insecureSkipTLSVerify and no caBundle", name)
				}
				if a.Spec.GroupPriorityMinimum <= 0 || a.Spec.VersionPriority <= 0 {
					t.Errorf("APIService %s: priorities must be positive: %+v", name, a.Spec)
				}
			}
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("APIServices %v, want %v", got, want)
			}
			if v2, v1 := m.APIServices["v1beta2.custom.metrics.k8s.io"], m.APIServices["v1beta1.custom.metrics.k8s.io"]; v2 != nil && v1 != nil &&
				v2.Spec.VersionPriority <= v1.Spec.VersionPriority {
				t.Error("v1beta2 must have the higher versionPriority: clients prefer it")
			}
		})
	}
}

// TestMetricsAPIRBAC lists every grant the metrics API server's objects
// make, subject by subject, and compares it with the exact list an
// aggregated metrics server needs: delegated authentication and
// authorization, the front proxy's CA, list on the workloads for lookups
// by selector (unless turned off), get on the one external APIService
// when external metrics are on, and, for the HPA controller, get and list
// on the metrics groups served. Nothing else, and nothing for the scaler.
func TestMetricsAPIRBAC(t *testing.T) {
	const sa = "ServiceAccount foresight/foresight-metrics"
	const hpa = "ServiceAccount kube-system/horizontal-pod-autoscaler"
	for _, tc := range metricsAPICases {
		t.Run(tc.name, func(t *testing.T) {
			rel := render(t, Options{ValueFiles: []string{metricsAPIValues}, Set: tc.set})
			want := []string{
				sa + " -> ClusterRole system:auth-delegator (Kubernetes')",
				sa + " -> Role kube-system/extension-apiserver-authentication-reader (Kubernetes')",
			}
			if tc.listWorkloads {
				want = append(want, sa+" -> list apps/deployments,statefulsets")
			}
			metricsGroups := "custom.metrics.k8s.io"
			if tc.external {
				want = append(want, sa+" -> get apiregistration.k8s.io/apiservices[v1beta1.external.metrics.k8s.io]")
				metricsGroups = "custom.metrics.k8s.io,external.metrics.k8s.io"
			}
			want = append(want, hpa+" -> get,list "+metricsGroups+"/*")
			slices.Sort(want)

			got := grants(t, rel.MetricsAPI)
			if !slices.Equal(got, want) {
				t.Errorf("grants:\n  %s\nwant exactly:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
			}
			// Every ClusterRole the chart renders is bound (no dead roles).
			bound := map[string]bool{}
			for _, b := range rel.MetricsAPI.ClusterRoleBindings {
				bound[b.RoleRef.Name] = true
			}
			for name := range rel.MetricsAPI.ClusterRoles {
				if !bound[name] {
					t.Errorf("ClusterRole %s is bound to nobody", name)
				}
			}
		})
	}
}

// grants describes every binding as "SUBJECT -> VERBS GROUP/RESOURCES",
// resolving roles the chart renders to their rules; roles it does not
// render are Kubernetes' built-in ones.
func grants(t *testing.T, m *metricsAPIRelease) []string {
	t.Helper()
	var out []string
	add := func(subjects []rbacv1.Subject, ref rbacv1.RoleRef, bindingNS string) {
		var what []string
		if cr, ok := m.ClusterRoles[ref.Name]; ok && ref.Kind == "ClusterRole" {
			for _, r := range cr.Rules {
				if len(r.NonResourceURLs) > 0 {
					t.Errorf("ClusterRole %s grants non-resource URLs %v", cr.Name, r.NonResourceURLs)
				}
				s := fmt.Sprintf("%s %s/%s", strings.Join(r.Verbs, ","), strings.Join(r.APIGroups, ","), strings.Join(r.Resources, ","))
				if len(r.ResourceNames) > 0 {
					s += "[" + strings.Join(r.ResourceNames, ",") + "]"
				}
				what = append(what, s)
			}
		} else if ref.Kind == "Role" {
			what = []string{fmt.Sprintf("Role %s/%s (Kubernetes')", bindingNS, ref.Name)}
		} else {
			what = []string{fmt.Sprintf("%s %s (Kubernetes')", ref.Kind, ref.Name)}
		}
		if ref.APIGroup != rbacv1.GroupName {
			t.Errorf("roleRef %+v: apiGroup must be %s", ref, rbacv1.GroupName)
		}
		for _, s := range subjects {
			for _, w := range what {
				out = append(out, fmt.Sprintf("%s %s/%s -> %s", s.Kind, s.Namespace, s.Name, w))
			}
		}
	}
	for _, b := range m.ClusterRoleBindings {
		add(b.Subjects, b.RoleRef, "")
	}
	for _, b := range m.RoleBindings {
		add(b.Subjects, b.RoleRef, b.Namespace)
	}
	slices.Sort(out)
	return out
}

// TestMetricsAPINotes: with the metrics API server, NOTES.txt gives an
// HPA of type Object on the first target that is a valid autoscaling/v2
// HorizontalPodAutoscaler, whose averageValue is the policy's
// targetPerReplica (so that replicas = ceil(load / targetPerReplica), as
// with KEDA) and whose metric is the one the target declares.
func TestMetricsAPINotes(t *testing.T) {
	for _, set := range [][]string{nil, {"metricsApi.externalMetrics=true"}} {
		notes := render(t, Options{ValueFiles: []string{metricsAPIValues}, Set: set}).Notes
		_, hpaText, ok := strings.Cut(notes, "apiVersion: autoscaling/v2\n")
		if !ok {
			t.Fatalf("NOTES hold no HPA:\n%s", notes)
		}
		hpaText, _, _ = strings.Cut(hpaText, "\n\n")
		var hpa autoscalingv2.HorizontalPodAutoscaler
		if err := sigsyaml.UnmarshalStrict([]byte("apiVersion: autoscaling/v2\n"+hpaText), &hpa); err != nil {
			t.Fatalf("the NOTES' HPA is not an autoscaling/v2 HorizontalPodAutoscaler: %v\n%s", err, hpaText)
		}
		if len(hpa.Spec.Metrics) == 0 || hpa.Spec.Metrics[0].Object == nil {
			t.Fatalf("the NOTES' HPA has no Object metric first: %+v", hpa.Spec.Metrics)
		}
		obj := hpa.Spec.Metrics[0].Object
		if hpa.Namespace != "shop" || obj.DescribedObject.Kind != "Deployment" || obj.DescribedObject.Name != "api" ||
			obj.DescribedObject.APIVersion != "apps/v1" || hpa.Spec.ScaleTargetRef.Name != "api" {
			t.Errorf("the NOTES' HPA describes %+v in %s: want the first target, shop/Deployment/api", obj.DescribedObject, hpa.Namespace)
		}
		if obj.Metric.Name != "foresight_predicted_load" || obj.Target.Type != autoscalingv2.AverageValueMetricType ||
			obj.Target.AverageValue == nil || obj.Target.AverageValue.String() != "50" {
			t.Errorf("the NOTES' HPA metric %+v target %+v: want foresight_predicted_load with averageValue 50 (targetPerReplica)", obj.Metric, obj.Target)
		}
		if strings.Contains(notes, "type: External") != (set != nil) {
			t.Errorf("NOTES show an External metric if and only if externalMetrics is on:\n%s", notes)
		}
	}
}

// TestMetricsAPITLSValues: a serving certificate Secret puts its CA in
// every APIService (caBundle) and drops insecureSkipTLSVerify; the chart
// refuses one without the other (testdata/bad has both cases).
func TestMetricsAPITLSValues(t *testing.T) {
	ca := base64.StdEncoding.EncodeToString([]byte("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"))
	rel := render(t, Options{ValueFiles: []string{metricsAPIValues}, Set: []string{
		"metricsApi.externalMetrics=true", "metricsApi.tls.secretName=foresight-metrics-tls", "metricsApi.tls.caBundle=" + ca,
	}})
	for name, a := range rel.MetricsAPI.APIServices {
		if a.Spec.InsecureSkipTLSVerify || base64.StdEncoding.EncodeToString(a.Spec.CABundle) != ca {
			t.Errorf("APIService %s: insecureSkipTLSVerify %v, caBundle %q: want the values' caBundle and verification", name, a.Spec.InsecureSkipTLSVerify, a.Spec.CABundle)
		}
	}
	c := rel.MetricsAPI.Deployment.Spec.Template.Spec.Containers[0]
	for _, want := range []string{"--tls-cert-file=/etc/foresight/metrics-tls/tls.crt", "--tls-private-key-file=/etc/foresight/metrics-tls/tls.key"} {
		if !slices.Contains(c.Args, want) {
			t.Errorf("args lack %s: %v", want, c.Args)
		}
	}
}
