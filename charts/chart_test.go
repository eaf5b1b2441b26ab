package charts

import (
	"bufio"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/foresight-aiops/foresight/promsource"
	"github.com/foresight-aiops/foresight/scaler"
)

// release is a rendered release, decoded strictly into the API's own
// types, so that a misspelt field in a template fails here rather than
// being dropped by the API server.
type release struct {
	Rendered
	Deployment     *appsv1.Deployment // the scaler's
	Services       map[string]*corev1.Service
	ConfigMap      *corev1.ConfigMap
	ServiceAccount *corev1.ServiceAccount
	PDB            *policyv1.PodDisruptionBudget
	ServiceMonitor map[string]any
	Kinds          []string // every object's kind, in order
	RBACDocuments  []string // Role, ClusterRole and bindings outside the metrics API server's: foresight serve needs none

	// MetricsAPI holds the objects of the metrics API server
	// (metricsApi.enabled), told apart by their component label; nil
	// without it.
	MetricsAPI *metricsAPIRelease
	// Approver holds the objects of foresight approver
	// (approver.enabled), told apart by their component label; nil
	// without it.
	Approver *approverRelease
	// Enrich holds the objects of foresight enrich (enrich.enabled),
	// told apart by their component label; nil without it.
	Enrich *enrichRelease
}

// metricsAPIRelease is what metricsApi.enabled renders.
type metricsAPIRelease struct {
	Deployment          *appsv1.Deployment
	Service             *corev1.Service
	ConfigMap           *corev1.ConfigMap // the targets file
	ServiceAccount      *corev1.ServiceAccount
	PDB                 *policyv1.PodDisruptionBudget
	ServiceMonitor      map[string]any
	APIServices         map[string]*apiService
	ClusterRoles        map[string]*rbacv1.ClusterRole
	ClusterRoleBindings map[string]*rbacv1.ClusterRoleBinding
	RoleBindings        map[string]*rbacv1.RoleBinding // by namespace/name
}

// apiService is apiregistration.k8s.io/v1 APIService, whose Go types are
// in k8s.io/kube-aggregator (a module this one does not otherwise need);
// the fields are the API's, so that strict decoding catches a misspelt one.
type apiService struct {
	metav1.TypeMeta `json:",inline"`
	Metadata        metav1.ObjectMeta `json:"metadata"`
	Spec            struct {
		Group   string `json:"group"`
		Version string `json:"version"`
		Service *struct {
			Namespace string `json:"namespace"`
			Name      string `json:"name"`
			Port      *int32 `json:"port"`
		} `json:"service"`
		InsecureSkipTLSVerify bool   `json:"insecureSkipTLSVerify"`
		CABundle              []byte `json:"caBundle"`
		GroupPriorityMinimum  int32  `json:"groupPriorityMinimum"`
		VersionPriority       int32  `json:"versionPriority"`
	} `json:"spec"`
}

// metricsAPIComponent is the app.kubernetes.io/component label of the
// metrics API server's objects.
const metricsAPIComponent = "metrics-apiserver"

func (r *release) metricsAPI() *metricsAPIRelease {
	if r.MetricsAPI == nil {
		r.MetricsAPI = &metricsAPIRelease{
			APIServices: map[string]*apiService{}, ClusterRoles: map[string]*rbacv1.ClusterRole{},
			ClusterRoleBindings: map[string]*rbacv1.ClusterRoleBinding{}, RoleBindings: map[string]*rbacv1.RoleBinding{},
		}
	}
	return r.MetricsAPI
}

func render(t *testing.T, o Options) release {
	t.Helper()
	r, err := Render(context.Background(), o)
	if err != nil {
		t.Fatalf("render %v: %v", o.ValueFiles, err)
	}
	rel := release{Rendered: r, Services: map[string]*corev1.Service{}}
	for doc := range strings.SplitSeq(r.Manifest, "\n---") {
		var head struct {
			Kind     string
			Metadata struct{ Labels map[string]string }
		}
		if err := sigsyaml.Unmarshal([]byte(doc), &head); err != nil {
			t.Fatalf("rendered YAML does not parse: %v\n%s", err, doc)
		}
		if head.Kind == "" {
			continue
		}
		metricsAPI := head.Metadata.Labels["app.kubernetes.io/component"] == metricsAPIComponent
		if head.Metadata.Labels["app.kubernetes.io/component"] == approverComponent {
			rel.Kinds = append(rel.Kinds, head.Kind)
			rel.approver().add(t, head.Kind, doc)
			continue
		}
		if head.Metadata.Labels["app.kubernetes.io/component"] == enrichComponent {
			rel.Kinds = append(rel.Kinds, head.Kind)
			rel.enrich().add(t, head.Kind, doc)
			continue
		}
		rel.Kinds = append(rel.Kinds, head.Kind)
		strict := func(into any) {
			t.Helper()
			if err := sigsyaml.UnmarshalStrict([]byte(doc), into); err != nil {
				t.Fatalf("%s does not decode strictly into the API's type: %v\n%s", head.Kind, err, doc)
			}
		}
		switch {
		case metricsAPI && head.Kind == "Deployment":
			rel.metricsAPI().Deployment = new(appsv1.Deployment)
			strict(rel.MetricsAPI.Deployment)
		case metricsAPI && head.Kind == "Service":
			rel.metricsAPI().Service = new(corev1.Service)
			strict(rel.MetricsAPI.Service)
		case metricsAPI && head.Kind == "ConfigMap":
			rel.metricsAPI().ConfigMap = new(corev1.ConfigMap)
			strict(rel.MetricsAPI.ConfigMap)
		case metricsAPI && head.Kind == "ServiceAccount":
			rel.metricsAPI().ServiceAccount = new(corev1.ServiceAccount)
			strict(rel.MetricsAPI.ServiceAccount)
		case metricsAPI && head.Kind == "PodDisruptionBudget":
			rel.metricsAPI().PDB = new(policyv1.PodDisruptionBudget)
			strict(rel.MetricsAPI.PDB)
		case metricsAPI && head.Kind == "ServiceMonitor":
			strict(&rel.metricsAPI().ServiceMonitor)
		case metricsAPI && head.Kind == "APIService":
			a := new(apiService)
			strict(a)
			rel.metricsAPI().APIServices[a.Metadata.Name] = a
		case metricsAPI && head.Kind == "ClusterRole":
			r := new(rbacv1.ClusterRole)
			strict(r)
			rel.metricsAPI().ClusterRoles[r.Name] = r
		case metricsAPI && head.Kind == "ClusterRoleBinding":
			b := new(rbacv1.ClusterRoleBinding)
			strict(b)
			rel.metricsAPI().ClusterRoleBindings[b.Name] = b
		case metricsAPI && head.Kind == "RoleBinding":
			b := new(rbacv1.RoleBinding)
			strict(b)
			rel.metricsAPI().RoleBindings[b.Namespace+"/"+b.Name] = b
		case metricsAPI:
			t.Errorf("unexpected kind %s rendered for the metrics API server: add it to this test, with its assertions", head.Kind)
		}
		if metricsAPI {
			continue
		}
		switch head.Kind {
		case "Deployment":
			rel.Deployment = new(appsv1.Deployment)
			strict(rel.Deployment)
		case "Service":
			s := new(corev1.Service)
			strict(s)
			rel.Services[s.Name] = s
		case "ConfigMap":
			rel.ConfigMap = new(corev1.ConfigMap)
			strict(rel.ConfigMap)
		case "ServiceAccount":
			rel.ServiceAccount = new(corev1.ServiceAccount)
			strict(rel.ServiceAccount)
		case "PodDisruptionBudget":
			rel.PDB = new(policyv1.PodDisruptionBudget)
			strict(rel.PDB)
		case "ServiceMonitor":
			strict(&rel.ServiceMonitor)
		case "Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding":
			rel.RBACDocuments = append(rel.RBACDocuments, doc)
		default:
			t.Errorf("unexpected kind %s rendered: add it to this test, with its assertions", head.Kind)
		}
	}
	if rel.Deployment == nil {
		t.Fatalf("no Deployment rendered:\n%s", r.Manifest)
	}
	return rel
}

func goodValues(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("testdata/good/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata/good/*.yaml: %v", err)
	}
	// The values make e2e-kind installs with (chart-testing's place).
	ci, err := filepath.Glob(filepath.Join(Dir(), "ci", "*-values.yaml"))
	if err != nil || len(ci) == 0 {
		t.Fatalf("no foresight/ci/*-values.yaml: %v", err)
	}
	return append(files, ci...)
}

func container(t *testing.T, rel release) corev1.Container {
	t.Helper()
	cs := rel.Deployment.Spec.Template.Spec.Containers
	if len(cs) != 1 {
		t.Fatalf("%d containers, want 1", len(cs))
	}
	return cs[0]
}

// TestRender renders every values file of testdata/good and checks that
// the objects fit together: Service selectors and target ports, the
// ServiceAccount, the PDB and the probes.
func TestRender(t *testing.T) {
	for _, file := range goodValues(t) {
		t.Run(filepath.Base(file), func(t *testing.T) {
			rel := render(t, Options{ValueFiles: []string{file}})
			d := rel.Deployment
			pod := d.Spec.Template
			c := container(t, rel)
			ports := map[string]int32{}
			for _, p := range c.Ports {
				ports[p.Name] = p.ContainerPort
			}
			if len(rel.Services) != 2 {
				t.Fatalf("%d Services, want 2 (gRPC and HTTP)", len(rel.Services))
			}
			for name, svc := range rel.Services {
				for k, v := range svc.Spec.Selector {
					if pod.Labels[k] != v {
						t.Errorf("Service %s selects %s=%s, which the pods do not carry (%v)", name, k, v, pod.Labels)
					}
				}
				for _, p := range svc.Spec.Ports {
					if _, ok := ports[p.TargetPort.String()]; !ok {
						t.Errorf("Service %s targets port %s, which the container does not name (%v)", name, p.TargetPort.String(), ports)
					}
				}
			}
			grpcSvc := rel.Services[d.Name]
			if grpcSvc == nil || grpcSvc.Spec.Ports[0].Name != "grpc" || grpcSvc.Spec.Ports[0].Port != ports["grpc"] {
				t.Errorf("want Service %s on the gRPC port %d (KEDA's scalerAddress), got %+v", d.Name, ports["grpc"], grpcSvc)
			}
			if svc := rel.Services[d.Name+"-http"]; svc == nil || svc.Spec.Ports[0].Port != ports["http"] {
				t.Errorf("want Service %s-http on the HTTP port %d, got %+v", d.Name, ports["http"], svc)
			}
			if rel.ServiceAccount == nil || rel.ServiceAccount.Name != pod.Spec.ServiceAccountName {
				t.Errorf("pods run as ServiceAccount %q, which the chart does not create", pod.Spec.ServiceAccountName)
			}
			if rel.PDB == nil || rel.PDB.Spec.Selector.MatchLabels["app.kubernetes.io/instance"] != pod.Labels["app.kubernetes.io/instance"] {
				t.Errorf("the PodDisruptionBudget does not select the pods: %+v", rel.PDB)
			}
			for probe, path := range map[*corev1.Probe]string{c.LivenessProbe: "/healthz", c.ReadinessProbe: "/readyz"} {
				if probe == nil || probe.HTTPGet == nil || probe.HTTPGet.Path != path || probe.HTTPGet.Port.String() != "http" {
					t.Errorf("want an HTTP probe of %s on port http, got %+v", path, probe)
				}
			}
			if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
				t.Errorf("want CPU and memory requests and a memory limit, got %+v", c.Resources)
			}
			if strings.Contains(rel.Notes, "DEMO MODE") != slices.Contains(c.Args, "--demo") {
				t.Errorf("NOTES warn of demo mode if and only if --demo is passed; args %v, notes:\n%s", c.Args, rel.Notes)
			}
			if addr := grpcSvc.Name + "." + d.Namespace + ".svc:"; !strings.Contains(rel.Notes, "scalerAddress: "+addr) {
				t.Errorf("NOTES do not give the scalerAddress %s...:\n%s", addr, rel.Notes)
			}
		})
	}
}

// TestFullValues checks what only the full values switch on: the
// datasource file and its Secrets, mutual TLS, the ServiceMonitor.
func TestFullValues(t *testing.T) {
	rel := render(t, Options{ValueFiles: []string{"testdata/good/full.yaml"}})
	c := container(t, rel)
	for _, want := range []string{
		"--config=/etc/foresight/config/datasources.yaml",
		"--tls-cert-file=/etc/foresight/tls/tls.crt", "--tls-key-file=/etc/foresight/tls/tls.key",
		"--tls-client-ca-file=/etc/foresight/client-ca/ca.crt",
		"--grpc-addr=:9443", "--http-addr=:8443", "--workers=4", "--refit=30m", "--reselect=1d",
		"--idle-after=6h", "--stream-interval=5s", "--pprof",
	} {
		if !slices.Contains(c.Args, want) {
			t.Errorf("args lack %s: %v", want, c.Args)
		}
	}
	if rel.ConfigMap == nil {
		t.Fatal("no ConfigMap for the datasources")
	}
	if _, ok := rel.Deployment.Spec.Template.Annotations["checksum/config"]; !ok {
		t.Error("no checksum/config annotation: a change of datasources would not roll the pods, which read --config at start")
	}
	// The file must be one promsource accepts, key for key.
	var cfg promsource.Config
	dec := yaml.NewDecoder(strings.NewReader(rel.ConfigMap.Data["datasources.yaml"]))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		t.Fatalf("datasources.yaml is not promsource's format: %v\n%s", err, rel.ConfigMap.Data["datasources.yaml"])
	}
	if len(cfg.Datasources) != 3 || cfg.Datasources[2].BasicAuth == nil || cfg.Datasources[2].TLS.CertFile == "" {
		t.Errorf("datasources lost in rendering: %+v", cfg.Datasources)
	}
	mounts := map[string]string{}
	for _, m := range c.VolumeMounts {
		mounts[m.Name] = m.MountPath
		if !m.ReadOnly {
			t.Errorf("volume %s is mounted writable", m.Name)
		}
	}
	secrets := map[string]string{}
	for _, v := range rel.Deployment.Spec.Template.Spec.Volumes {
		if v.Secret != nil {
			secrets[v.Secret.SecretName] = mounts[v.Name]
		}
	}
	for name, path := range map[string]string{
		"thanos-reader": "/etc/foresight/secrets/thanos-reader", "vm-reader": "/etc/foresight/secrets/vm-reader",
		"vm-client": "/etc/foresight/secrets/vm-client", "foresight-server-tls": "/etc/foresight/tls",
		"foresight-client-ca": "/etc/foresight/client-ca",
	} {
		if secrets[name] != path {
			t.Errorf("Secret %s mounted at %q, want %s", name, secrets[name], path)
		}
	}
	if len(secrets) != 5 {
		t.Errorf("Secrets mounted: %v, want only the five the values name", secrets)
	}
	if rel.ServiceMonitor == nil {
		t.Fatal("serviceMonitor.enabled rendered no ServiceMonitor")
	}
	spec, _ := rel.ServiceMonitor["spec"].(map[string]any)
	eps, _ := spec["endpoints"].([]any)
	if len(eps) != 1 || eps[0].(map[string]any)["port"] != "http" || eps[0].(map[string]any)["interval"] != "15s" {
		t.Errorf("ServiceMonitor endpoints %v, want the http port every 15s", eps)
	}
	sel, _ := spec["selector"].(map[string]any)["matchLabels"].(map[string]any)
	httpSvc := rel.Services["predictive-scaler-http"]
	for k, v := range sel {
		if httpSvc == nil || httpSvc.Labels[k] != v {
			t.Errorf("ServiceMonitor selects %s=%v, which the HTTP Service does not carry", k, v)
		}
	}
	if rel.Services["predictive-scaler"].Labels["app.kubernetes.io/endpoint"] == "http" {
		t.Error("the ServiceMonitor would also select the gRPC Service")
	}
	for _, want := range []string{"authenticationRef", "tlsClientCert", "datasource: default"} {
		if !strings.Contains(rel.Notes, want) {
			t.Errorf("NOTES for mutual TLS and several datasources lack %q:\n%s", want, rel.Notes)
		}
	}
}

// TestSecurityContext: non-root, read-only root file system, no
// capabilities, no privilege escalation, the runtime's seccomp profile,
// whatever the values, for the scaler's pods, the metrics API server's,
// the approver's and the enrichment's.
func TestSecurityContext(t *testing.T) {
	for _, file := range goodValues(t) {
		t.Run(filepath.Base(file), func(t *testing.T) {
			rel := render(t, Options{ValueFiles: []string{file}})
			checkHardening(t, rel.Deployment)
			if rel.MetricsAPI != nil {
				checkHardening(t, rel.MetricsAPI.Deployment)
			}
			if rel.Approver != nil {
				checkHardening(t, rel.Approver.Deployment)
			}
			if rel.Enrich != nil {
				checkHardening(t, rel.Enrich.Deployment)
			}
		})
	}
}

func checkHardening(t *testing.T, d *appsv1.Deployment) {
	t.Helper()
	if d == nil {
		t.Fatal("no Deployment")
	}
	pod := d.Spec.Template.Spec
	if len(pod.Containers) != 1 || len(pod.InitContainers) > 0 {
		t.Fatalf("Deployment %s: %d containers and %d init containers, want one container", d.Name, len(pod.Containers), len(pod.InitContainers))
	}
	psc := pod.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser == 0 ||
		psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("%s: pod securityContext %+v: want runAsNonRoot, a non-zero runAsUser and seccomp RuntimeDefault", d.Name, psc)
	}
	if pod.HostNetwork || pod.HostPID || pod.HostIPC {
		t.Errorf("%s: the pod shares a host namespace", d.Name)
	}
	sc := pod.Containers[0].SecurityContext
	switch {
	case sc == nil:
		t.Fatalf("%s: no container securityContext", d.Name)
	case sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem:
		t.Errorf("%s: root file system is writable", d.Name)
	case sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation:
		t.Errorf("%s: privilege escalation is allowed", d.Name)
	case sc.Privileged != nil && *sc.Privileged:
		t.Errorf("%s: container is privileged", d.Name)
	case sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) > 0:
		t.Errorf("%s: capabilities %+v, want drop ALL and add none", d.Name, sc.Capabilities)
	case sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault:
		t.Errorf("%s: container seccomp %+v, want RuntimeDefault", d.Name, sc.SeccompProfile)
	}
}

// TestNoKubernetesAPIAccess: foresight serve makes no Kubernetes API call
// (datasources come from its own configuration, ScaledObjects arrive in
// KEDA's requests), so least privilege is none: no Role or ClusterRole of
// any verb, no binding, and no ServiceAccount token in the pod. Secrets
// reach it only as the files its values name, never through the API. The
// one exception is the metrics API server's own RBAC (metricsApi.enabled),
// which TestMetricsAPIRBAC checks rule by rule: none of it may name the
// scaler's ServiceAccount, and none may exist without metricsApi.
func TestNoKubernetesAPIAccess(t *testing.T) {
	for _, file := range goodValues(t) {
		t.Run(filepath.Base(file), func(t *testing.T) {
			rel := render(t, Options{ValueFiles: []string{file}})
			if len(rel.RBACDocuments) > 0 {
				t.Errorf("the chart grants API access, which foresight serve never uses; if a feature now needs it, "+
					"grant only get, list and watch, never on secrets, and change this test:\n%s", strings.Join(rel.RBACDocuments, "\n---"))
			}
			if m := rel.MetricsAPI; m != nil {
				scalerSA := rel.Deployment.Spec.Template.Spec.ServiceAccountName
				if m.ServiceAccount == nil || m.ServiceAccount.Name == scalerSA {
					t.Errorf("the metrics API server must run as its own ServiceAccount, not the scaler's %q: %+v", scalerSA, m.ServiceAccount)
				}
				var subjects []rbacv1.Subject
				for _, b := range m.ClusterRoleBindings {
					subjects = append(subjects, b.Subjects...)
				}
				for _, b := range m.RoleBindings {
					subjects = append(subjects, b.Subjects...)
				}
				for _, s := range subjects {
					if s.Kind == rbacv1.ServiceAccountKind && s.Name == scalerSA && s.Namespace == rel.Deployment.Namespace {
						t.Errorf("the scaler's ServiceAccount %s is bound to a role by the metrics API server's RBAC", scalerSA)
					}
				}
			}
			pod := rel.Deployment.Spec.Template.Spec
			if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
				t.Error("the pod mounts a ServiceAccount token it never uses")
			}
			if sa := rel.ServiceAccount; sa == nil || sa.AutomountServiceAccountToken == nil || *sa.AutomountServiceAccountToken {
				t.Error("the ServiceAccount offers its token to every pod that uses it")
			}
		})
	}
}

// TestRejected: each values file of testdata/bad is refused, with the
// message on its first line ("# want: ..."). The schema rejects unknown
// keys everywhere, so a typo is an error rather than an ignored setting.
func TestRejected(t *testing.T) {
	files, err := filepath.Glob("testdata/bad/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata/bad/*.yaml: %v", err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			want := firstLineWant(t, file)
			_, err := Render(context.Background(), Options{ValueFiles: []string{file}})
			if err == nil {
				t.Fatalf("rendered; want an error containing %q", want)
			}
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q\ndoes not contain %q", err, want)
			}
		})
	}
}

// TestSetTypo: a typo given with --set is refused as one in a file is.
func TestSetTypo(t *testing.T) {
	_, err := Render(context.Background(), Options{Set: []string{"demo=true", "serviceMonitor.enable=true"}})
	if err == nil || !strings.Contains(err.Error(), "additional properties 'enable' not allowed") {
		t.Errorf("serviceMonitor.enable (for enabled) gave %v, want the schema to refuse it", err)
	}
	if _, err := Render(context.Background(), Options{Set: []string{"demo=true", "serviceMonitor.enabled=true"}}); err != nil {
		t.Errorf("the correct spelling: %v", err)
	}
}

func firstLineWant(t *testing.T, file string) string {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	s.Scan()
	want, ok := strings.CutPrefix(s.Text(), "# want: ")
	if !ok {
		t.Fatalf("%s: first line must be # want: MESSAGE", file)
	}
	return want
}

// TestExamples: the ScaledObjects of examples/ and of NOTES.txt follow
// the README's recommendation (Foresight's trigger, a CPU trigger, a
// fallback that never scales down), and their Foresight metadata is valid
// for the scaler's own decoder.
func TestExamples(t *testing.T) {
	docs := map[string]string{}
	files, _ := filepath.Glob(filepath.Join(Dir(), "examples", "scaledobject*.yaml"))
	if len(files) < 2 {
		t.Fatalf("examples: %v, want the plaintext and the mutual TLS ScaledObjects", files)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		docs[filepath.Base(f)] = string(b)
	}
	for _, file := range goodValues(t) {
		notes := render(t, Options{ValueFiles: []string{file}}).Notes
		_, so, ok := strings.Cut(notes, "apiVersion: keda.sh/v1alpha1\nkind: ScaledObject")
		if !ok {
			t.Fatalf("NOTES for %s hold no ScaledObject:\n%s", file, notes)
		}
		docs["NOTES for "+filepath.Base(file)] = "apiVersion: keda.sh/v1alpha1\nkind: ScaledObject" + so
		if _, ta, ok := strings.Cut(notes, "kind: TriggerAuthentication"); ok {
			ta, _, _ = strings.Cut(ta, "---")
			docs["NOTES TriggerAuthentication for "+filepath.Base(file)] = "apiVersion: keda.sh/v1alpha1\nkind: TriggerAuthentication" + ta
		}
	}
	for name, text := range docs {
		t.Run(name, func(t *testing.T) {
			var authNames []string
			sawSO := false
			dec := yaml.NewDecoder(strings.NewReader(text))
			for {
				var obj struct {
					Kind     string
					Metadata struct{ Name string }
					Spec     struct {
						Fallback *struct {
							FailureThreshold int `yaml:"failureThreshold"`
							Replicas         int
							Behavior         string
						}
						Triggers []struct {
							Type              string
							AuthenticationRef *struct{ Name string } `yaml:"authenticationRef"`
							Metadata          map[string]string
						}
					}
				}
				if err := dec.Decode(&obj); err != nil {
					if errors.Is(err, io.EOF) {
						break
					}
					t.Fatalf("does not parse: %v\n%s", err, text)
				}
				switch obj.Kind {
				case "TriggerAuthentication":
					authNames = append(authNames, obj.Metadata.Name)
					continue
				case "ScaledObject":
					sawSO = true
				default:
					t.Fatalf("unexpected kind %q", obj.Kind)
				}
				if f := obj.Spec.Fallback; f == nil || f.FailureThreshold <= 0 || f.Behavior != "currentReplicasIfHigher" {
					t.Errorf("fallback %+v: want a failureThreshold and behavior currentReplicasIfHigher", f)
				}
				var types []string
				for _, tr := range obj.Spec.Triggers {
					types = append(types, tr.Type)
					if tr.Type != "external" {
						continue
					}
					if _, err := scaler.ParsePolicy(tr.Metadata); err != nil {
						t.Errorf("the Foresight trigger's metadata is refused by the scaler: %v", err)
					}
					if tr.AuthenticationRef != nil && len(authNames) > 0 && !slices.Contains(authNames, tr.AuthenticationRef.Name) {
						t.Errorf("authenticationRef %s names none of %v", tr.AuthenticationRef.Name, authNames)
					}
				}
				if !slices.Equal(types, []string{"external", "cpu"}) {
					t.Errorf("triggers %v, want Foresight's external trigger and a reactive cpu trigger", types)
				}
			}
			if !sawSO && !strings.Contains(name, "TriggerAuthentication") {
				t.Error("no ScaledObject")
			}
		})
	}
}

// TestValuesDocumented: every value of values.yaml is in the schema (so a
// typo of it is refused) and in the chart README's table.
func TestValuesDocumented(t *testing.T) {
	var vals map[string]any
	readYAML(t, filepath.Join(Dir(), "values.yaml"), &vals)
	var schema map[string]any
	b, err := os.ReadFile(filepath.Join(Dir(), "values.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := sigsyaml.Unmarshal(b, &schema); err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile(filepath.Join(Dir(), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	// A map value is documented as a whole when the README names it, and
	// key by key otherwise.
	var walk func(prefix string, v any, schemaNode map[string]any)
	walk = func(prefix string, v any, node map[string]any) {
		if node == nil {
			t.Errorf("value %s is not in values.schema.json", prefix)
			return
		}
		if strings.Contains(string(readme), "| `"+prefix+"` |") {
			return
		}
		m, ok := v.(map[string]any)
		props, _ := node["properties"].(map[string]any)
		if !ok || len(m) == 0 || props == nil {
			t.Errorf("value %s is not in the README's table (| `%s` | default | meaning |)", prefix, prefix)
			return
		}
		for k, sub := range m {
			child, _ := props[k].(map[string]any)
			if ref, ok := child["$ref"].(string); ok {
				child, _ = schema["definitions"].(map[string]any)[strings.TrimPrefix(ref, "#/definitions/")].(map[string]any)
			}
			walk(prefix+"."+k, sub, child)
		}
	}
	props := schema["properties"].(map[string]any)
	for k, v := range vals {
		child, _ := props[k].(map[string]any)
		if ref, ok := child["$ref"].(string); ok {
			child, _ = schema["definitions"].(map[string]any)[strings.TrimPrefix(ref, "#/definitions/")].(map[string]any)
		}
		walk(k, v, child)
	}
}

func readYAML(t *testing.T, path string, into any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, into); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}
