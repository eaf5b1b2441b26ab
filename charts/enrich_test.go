package charts

import (
	"fmt"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// enrichComponent is the app.kubernetes.io/component label of the
// enrichment's objects.
const enrichComponent = "enrich"

const (
	enrichValues            = "testdata/good/enrich.yaml"
	enrichMinimalValues     = "testdata/enrich/minimal.yaml"
	enrichRemediationValues = "testdata/enrich/remediation.yaml" // with approverValues before it
)

// enrichRelease is what enrich.enabled renders.
type enrichRelease struct {
	Deployment          *appsv1.Deployment
	Service             *corev1.Service
	ServiceAccount      *corev1.ServiceAccount
	PVC                 *corev1.PersistentVolumeClaim
	ServiceMonitor      map[string]any
	ClusterRoles        map[string]*rbacv1.ClusterRole
	ClusterRoleBindings map[string]*rbacv1.ClusterRoleBinding
}

func (r *release) enrich() *enrichRelease {
	if r.Enrich == nil {
		r.Enrich = &enrichRelease{ClusterRoles: map[string]*rbacv1.ClusterRole{}, ClusterRoleBindings: map[string]*rbacv1.ClusterRoleBinding{}}
	}
	return r.Enrich
}

// add decodes one of the enrichment's documents strictly into the API's
// type. A kind the enrichment should never have (a Role, a ConfigMap of
// its own) fails here.
func (e *enrichRelease) add(t *testing.T, kind, doc string) {
	t.Helper()
	const c = "enrich"
	switch kind {
	case "Deployment":
		decodeOne(t, c, kind, doc, &e.Deployment)
	case "Service":
		decodeOne(t, c, kind, doc, &e.Service)
	case "ServiceAccount":
		decodeOne(t, c, kind, doc, &e.ServiceAccount)
	case "PersistentVolumeClaim":
		decodeOne(t, c, kind, doc, &e.PVC)
	case "ServiceMonitor":
		if e.ServiceMonitor != nil {
			t.Errorf("a second enrich %s rendered:\n%s", kind, doc)
		}
		decodeStrict(t, c, kind, doc, &e.ServiceMonitor)
	case "ClusterRole":
		r := new(rbacv1.ClusterRole)
		decodeStrict(t, c, kind, doc, r)
		e.ClusterRoles[r.Name] = r
	case "ClusterRoleBinding":
		b := new(rbacv1.ClusterRoleBinding)
		decodeStrict(t, c, kind, doc, b)
		e.ClusterRoleBindings[b.Name] = b
	default:
		t.Errorf("unexpected kind %s rendered for the enrichment: add it to this test, with its assertions", kind)
	}
}

// enrichFlags are the flags `foresight enrich --help` lists, read from
// the real binary, so that the chart can pass no flag the binary lacks.
func enrichFlags(t *testing.T) []string {
	t.Helper()
	out, _ := exec.Command(foresightBin, "enrich", "--help").CombinedOutput()
	var flags []string
	for _, m := range regexp.MustCompile(`(?m)^  -([a-z][-a-z0-9]*)`).FindAllStringSubmatch(string(out), -1) {
		flags = append(flags, "--"+m[1])
	}
	if !slices.Contains(flags, "--queue-file") || !slices.Contains(flags, "--http-addr") {
		t.Fatalf("foresight enrich --help lists %v; want its flags (is the output format still `  -name`?)\n%s", flags, out)
	}
	return flags
}

// TestEnrichOffByDefault: without enrich.enabled the chart renders none of
// the enrichment's objects (no ServiceAccount, no ClusterRole, no
// Deployment), whatever else the values say; the values that enable it are
// the control.
func TestEnrichOffByDefault(t *testing.T) {
	for _, file := range goodValues(t) {
		if file == enrichValues {
			continue
		}
		t.Run(filepath.Base(file), func(t *testing.T) {
			rel := render(t, Options{ValueFiles: []string{file}})
			if rel.Enrich != nil || strings.Contains(rel.Manifest, "-enrich") || strings.Contains(rel.Notes, "/api/alerts") {
				t.Errorf("enrichment objects rendered without enrich.enabled: %v\n%s", rel.Kinds, rel.Manifest)
			}
		})
	}
	// Every other enrich value set, enabled left false: still nothing.
	rel := render(t, Options{ValueFiles: []string{enrichValues}, Set: []string{"enrich.enabled=false"}})
	if rel.Enrich != nil {
		t.Errorf("enrich.enabled=false with the rest of %s rendered %v", enrichValues, rel.Kinds)
	}
	if rel := render(t, Options{ValueFiles: []string{enrichValues}}); rel.Enrich == nil || rel.Enrich.Deployment == nil {
		t.Fatalf("%s renders no enrichment: the tests above would prove nothing", enrichValues)
	}
}

// TestEnrichObjects checks that the enrichment's objects fit together for
// the full values, the least ones and proposals (with the approver): the
// container's arguments are exactly the values' settings and flags the
// real binary has, every file a flag names is mounted read-only from the
// Secret key it should come from (the Slack incoming-webhook URL, which
// the binary takes only as a flag, comes from the Secret through the
// environment), the queue's directory is the one writable mount, one
// replica is replaced with Recreate, and the Service and the
// ServiceMonitor reach the enrichment's pod and only it.
func TestEnrichObjects(t *testing.T) {
	known := enrichFlags(t)
	for _, c := range []struct {
		name  string
		files []string
		args  []string
		// secrets maps each file flag to the Secret/key it must come from.
		secrets map[string]string
		env     map[string]string // variable -> Secret/key
		claim   string            // "" for an emptyDir
		token   bool              // ServiceAccount token mounted
	}{
		{
			name: "full", files: []string{enrichValues},
			args: []string{
				"enrich",
				"--http-addr=:9095",
				"--queue-file=/var/lib/foresight-enrich/alerts.db",
				"--max-queued=5000",
				"--dedupe-ttl=2d",
				"--hold-raw=30s",
				"--auth-token-file=/etc/foresight/enrich/auth-token/token",
				"--sink=stdout,webhook,slack",
				"--stdout-format=text",
				"--webhook-url=https://hooks.example.com/alerts",
				"--webhook-secret-file=/etc/foresight/enrich/webhook-secret/hmac",
				"--slack-token-file=/etc/foresight/enrich/slack-token/bot-token",
				"--slack-channel=C0123456",
				"--llm-endpoint=http://ollama.monitoring.svc.cluster.local:11434/v1",
				"--llm-model=llama3.1:8b",
				"--llm-api-key-file=/etc/foresight/enrich/llm-api-key/api-key",
				"--llm-context-window=16384",
				"--llm-max-tokens=1024",
				"--llm-timeout=90s",
				"--llm-stream",
				"--analysis-workers=2",
				"--anonymize",
			},
			secrets: map[string]string{
				"--auth-token-file":     "foresight-enrich-auth/token",
				"--webhook-secret-file": "foresight-enrich-webhook/hmac",
				"--slack-token-file":    "foresight-slack/bot-token",
				"--llm-api-key-file":    "foresight-llm/api-key",
			},
			claim: "foresight-enrich", token: true,
		},
		{
			name: "minimal", files: []string{enrichMinimalValues},
			args: []string{
				"enrich",
				"--http-addr=:8080",
				"--queue-file=/var/lib/foresight-enrich/alerts.db",
				"--max-queued=100000",
				"--dedupe-ttl=1d",
				"--sink=stdout",
				"--stdout-format=json",
			},
			claim: "foresight-enrich", token: false, // no model: no analysis reads the cluster
		},
		{
			name: "remediation", files: []string{approverValues, enrichRemediationValues},
			args: []string{
				"enrich",
				"--http-addr=:8080",
				"--queue-file=/var/lib/foresight-enrich/alerts.db",
				"--max-queued=100000",
				"--dedupe-ttl=1d",
				"--auth-basic-user=alertmanager",
				"--auth-basic-password-file=/etc/foresight/enrich/auth-password/password",
				"--sink=slack",
				"--slack-webhook-url=$(FORESIGHT_SLACK_WEBHOOK_URL)",
				"--llm-endpoint=http://vllm.ai.svc:8000/v1",
				"--llm-model=qwen2.5-7b-instruct",
				"--llm-context-window=8192",
				"--llm-max-tokens=512",
				"--llm-timeout=2m",
				"--analysis-workers=1",
				"--remediation-config=/etc/foresight/remediation/remediation.yaml",
				"--approval-key-file=/etc/foresight/approver/approval-key/approval-key",
				"--approver-url=https://approve.example.com",
				"--proposal-ttl=30m",
			},
			secrets: map[string]string{
				"--auth-basic-password-file": "foresight-enrich-auth/password",
				"--approval-key-file":        "foresight-approval-key/approval-key",
			},
			env:   map[string]string{"FORESIGHT_SLACK_WEBHOOK_URL": "foresight-slack/webhook-url"},
			token: true,
		},
		{
			name: "no-cluster", files: []string{enrichMinimalValues}, args: nil, claim: "foresight-enrich", token: false,
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			o := Options{ValueFiles: c.files}
			if c.name == "no-cluster" {
				o.Set = []string{"enrich.clusterContext=false"}
			}
			rel := render(t, o)
			e := rel.Enrich
			if e == nil || e.Deployment == nil || e.Service == nil || e.ServiceAccount == nil {
				t.Fatalf("enrich.enabled: want its Deployment, Service and ServiceAccount, got %v", rel.Kinds)
			}
			d := e.Deployment
			if d.Spec.Replicas == nil || *d.Spec.Replicas != 1 || d.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
				t.Errorf("replicas %v strategy %q: want exactly one replica replaced with Recreate (bbolt has one writer)", d.Spec.Replicas, d.Spec.Strategy.Type)
			}
			pod := d.Spec.Template
			if len(pod.Spec.Containers) != 1 {
				t.Fatalf("%d containers, want 1", len(pod.Spec.Containers))
			}
			ctr := pod.Spec.Containers[0]
			if c.args != nil && (ctr.Command != nil || !slices.Equal(ctr.Args, c.args)) {
				t.Errorf("command %v args\n%s\nwant\n%s", ctr.Command, strings.Join(ctr.Args, "\n"), strings.Join(c.args, "\n"))
			}
			if c.name == "no-cluster" && !slices.Contains(ctr.Args, "--no-cluster") {
				t.Errorf("enrich.clusterContext=false: args %v lack --no-cluster", ctr.Args)
			}
			flagValue := map[string]string{}
			for _, arg := range ctr.Args[1:] {
				name, value, _ := strings.Cut(arg, "=")
				if !slices.Contains(known, name) {
					t.Errorf("argument %s: not a flag of foresight enrich (%v)", arg, known)
				}
				flagValue[name] = value
			}
			if got := pod.Spec.AutomountServiceAccountToken; got == nil || *got != c.token {
				t.Errorf("automountServiceAccountToken %v, want %v (only an analysis with cluster context needs the token)", got, c.token)
			}

			volumes := map[string]corev1.Volume{}
			for _, v := range pod.Spec.Volumes {
				volumes[v.Name] = v
			}
			mountOf := map[string]corev1.VolumeMount{}
			for _, m := range ctr.VolumeMounts {
				mountOf[m.MountPath] = m
				if _, ok := volumes[m.Name]; !ok {
					t.Errorf("volumeMount %s has no volume", m.Name)
				}
			}
			wantMounts := 1 // the queue
			for flag, want := range c.secrets {
				file, ok := flagValue[flag]
				if !ok {
					t.Errorf("no %s", flag)
					continue
				}
				wantMounts++
				m, ok := mountOf[path.Dir(file)]
				if !ok {
					t.Errorf("%s=%s: no volume is mounted at %s", flag, file, path.Dir(file))
					continue
				}
				if !m.ReadOnly {
					t.Errorf("%s is mounted writable", m.MountPath)
				}
				v := volumes[m.Name]
				if v.Secret == nil || len(v.Secret.Items) != 1 || v.Secret.Items[0].Path != path.Base(file) || v.Secret.SecretName+"/"+v.Secret.Items[0].Key != want {
					t.Errorf("%s=%s: volume %+v, want the key %s projected as %s", flag, file, v.VolumeSource, want, path.Base(file))
				} else if m := v.Secret.DefaultMode; m == nil || *m&0o007 != 0 {
					t.Errorf("%s: mode %v: others must not read a secret", flag, m)
				}
			}
			if file, ok := flagValue["--remediation-config"]; ok {
				wantMounts++
				m, ok := mountOf[path.Dir(file)]
				a := rel.Approver
				switch {
				case !ok || !m.ReadOnly:
					t.Errorf("--remediation-config=%s: mount %+v, want a read-only volume there", file, m)
				case a == nil || a.ConfigMap == nil:
					t.Error("--remediation-config without the approver's ConfigMap")
				case volumes[m.Name].ConfigMap == nil || volumes[m.Name].ConfigMap.Name != a.ConfigMap.Name:
					t.Errorf("--remediation-config comes from %+v, want the approver's ConfigMap %s", volumes[m.Name].VolumeSource, a.ConfigMap.Name)
				case a.ConfigMap.Data[path.Base(file)] == "":
					t.Errorf("the approver's ConfigMap has no key %s", path.Base(file))
				}
				// The approver reads the same paths: one file, one key.
				ac := a.Deployment.Spec.Template.Spec.Containers[0]
				for _, flag := range []string{"--remediation-config", "--approval-key-file"} {
					if !slices.Contains(ac.Args, flag+"="+flagValue[flag]) {
						t.Errorf("enrich's %s=%s differs from the approver's (%v)", flag, flagValue[flag], ac.Args)
					}
				}
				if _, ok := pod.Annotations["checksum/remediation-config"]; !ok {
					t.Error("no checksum/remediation-config annotation: a new allow list would not roll the pod, which reads it at start")
				}
			}
			for name, want := range c.env {
				var ref *corev1.SecretKeySelector
				for _, ev := range ctr.Env {
					if ev.Name == name && ev.ValueFrom != nil {
						ref = ev.ValueFrom.SecretKeyRef
					}
				}
				if ref == nil || ref.Name+"/"+ref.Key != want {
					t.Errorf("env %s from %+v, want secretKeyRef %s", name, ref, want)
				}
			}
			if len(ctr.Env) != len(c.env) {
				t.Errorf("env %+v, want only %v", ctr.Env, c.env)
			}
			for _, ev := range ctr.Env {
				if ev.Value != "" {
					t.Errorf("env %s has a literal value: secrets come from secretKeyRef only", ev.Name)
				}
			}

			queueDir := path.Dir(flagValue["--queue-file"])
			state, ok := mountOf[queueDir]
			if !ok || state.ReadOnly {
				t.Errorf("--queue-file %s: mount %+v, want a writable volume at %s", flagValue["--queue-file"], state, queueDir)
			} else {
				v := volumes[state.Name]
				switch {
				case c.claim == "" && (v.EmptyDir == nil || v.EmptyDir.SizeLimit == nil):
					t.Errorf("queue volume %+v, want an emptyDir with a size limit", v.VolumeSource)
				case c.claim != "" && (v.PersistentVolumeClaim == nil || v.PersistentVolumeClaim.ClaimName != c.claim || e.PVC == nil || e.PVC.Name != c.claim):
					t.Errorf("queue volume %+v (PVC %v), want the chart's claim %s", v.VolumeSource, e.PVC, c.claim)
				}
			}
			if (e.PVC != nil) != (c.claim != "") {
				t.Errorf("PVC rendered: %v, want %v", e.PVC != nil, c.claim != "")
			}
			if warned := strings.Contains(rel.Notes, "enrich.persistence.enabled=false"); warned != (c.claim == "") {
				t.Errorf("NOTES warn of the emptyDir: %v, want %v", warned, c.claim == "")
			}
			for _, m := range ctr.VolumeMounts {
				if !m.ReadOnly && m.MountPath != queueDir {
					t.Errorf("%s is mounted writable; only the queue's directory may be", m.MountPath)
				}
			}
			if len(ctr.VolumeMounts) != wantMounts || len(pod.Spec.Volumes) != wantMounts {
				t.Errorf("%d mounts, %d volumes: want %d (the queue, and each file a flag names)", len(ctr.VolumeMounts), len(pod.Spec.Volumes), wantMounts)
			}

			// The Service reaches the enrichment's pod on --http-addr's
			// port, and no other Service, PDB or Deployment selects it.
			ports := map[string]int32{}
			for _, p := range ctr.Ports {
				ports[p.Name] = p.ContainerPort
			}
			if !strings.HasSuffix(flagValue["--http-addr"], fmt.Sprintf(":%d", ports["http"])) {
				t.Errorf("--http-addr=%s but the container's http port is %d", flagValue["--http-addr"], ports["http"])
			}
			if sel := labels.SelectorFromSet(e.Service.Spec.Selector); !sel.Matches(labels.Set(pod.Labels)) || sel.Matches(labels.Set(rel.Deployment.Spec.Template.Labels)) {
				t.Errorf("enrich Service selects %v: want the enrichment's pod (%v) and not the scaler's", e.Service.Spec.Selector, pod.Labels)
			}
			if len(e.Service.Spec.Ports) != 1 || e.Service.Spec.Ports[0].Port != ports["http"] || e.Service.Spec.Ports[0].TargetPort.String() != "http" {
				t.Errorf("enrich Service ports %+v, container ports %v: want the http port", e.Service.Spec.Ports, ports)
			}
			for name, svc := range rel.Services {
				if labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(pod.Labels)) {
					t.Errorf("the scaler's Service %s selects the enrichment's pod", name)
				}
			}
			if a := rel.Approver; a != nil && labels.SelectorFromSet(a.Service.Spec.Selector).Matches(labels.Set(pod.Labels)) {
				t.Error("the approver's Service selects the enrichment's pod")
			}
			if rel.PDB != nil && labels.SelectorFromSet(rel.PDB.Spec.Selector.MatchLabels).Matches(labels.Set(pod.Labels)) {
				t.Error("the scaler's PodDisruptionBudget counts the enrichment's pod")
			}
			if labels.SelectorFromSet(d.Spec.Selector.MatchLabels).Matches(labels.Set(rel.Deployment.Spec.Template.Labels)) {
				t.Error("the enrichment's Deployment selects the scaler's pods")
			}
			url := fmt.Sprintf("http://%s.%s.svc:%d/api/alerts", e.Service.Name, e.Service.Namespace, e.Service.Spec.Ports[0].Port)
			if !strings.Contains(rel.Notes, "- url: "+url) {
				t.Errorf("NOTES do not give Alertmanager's receiver url %s:\n%s", url, rel.Notes)
			}
			checkEnrichServiceMonitor(t, rel)
			for probe, p := range map[*corev1.Probe]string{ctr.LivenessProbe: "/healthz", ctr.ReadinessProbe: "/readyz"} {
				if probe == nil || probe.HTTPGet == nil || probe.HTTPGet.Path != p || probe.HTTPGet.Port.String() != "http" {
					t.Errorf("probe %+v: want %s on the http port (--http-addr)", probe, p)
				}
			}
			if ctr.Resources.Requests.Cpu().IsZero() || ctr.Resources.Requests.Memory().IsZero() || ctr.Resources.Limits.Memory().IsZero() {
				t.Errorf("want CPU and memory requests and a memory limit, got %+v", ctr.Resources)
			}
		})
	}
}

// checkEnrichServiceMonitor: serviceMonitor.enabled scrapes the
// enrichment with the scaler, through a selector that matches its Service
// and no other.
func checkEnrichServiceMonitor(t *testing.T, rel release) {
	t.Helper()
	e := rel.Enrich
	if (e.ServiceMonitor != nil) != (rel.ServiceMonitor != nil) {
		t.Errorf("serviceMonitor.enabled must scrape the enrichment with the scaler: scaler %v, enrich %v", rel.ServiceMonitor != nil, e.ServiceMonitor != nil)
	}
	if e.ServiceMonitor == nil {
		return
	}
	selectorOf := func(sm map[string]any) labels.Selector {
		spec, _ := sm["spec"].(map[string]any)
		match, _ := spec["selector"].(map[string]any)["matchLabels"].(map[string]any)
		set := labels.Set{}
		for k, v := range match {
			set[k], _ = v.(string)
		}
		return labels.SelectorFromSet(set)
	}
	if !selectorOf(e.ServiceMonitor).Matches(labels.Set(e.Service.Labels)) {
		t.Errorf("the enrichment's ServiceMonitor does not select its Service (%v)", e.Service.Labels)
	}
	for name, svc := range rel.Services {
		if selectorOf(e.ServiceMonitor).Matches(labels.Set(svc.Labels)) {
			t.Errorf("the enrichment's ServiceMonitor also selects the scaler's Service %s", name)
		}
	}
	if selectorOf(rel.ServiceMonitor).Matches(labels.Set(e.Service.Labels)) {
		t.Error("the scaler's ServiceMonitor also selects the enrichment's Service")
	}
	spec, _ := e.ServiceMonitor["spec"].(map[string]any)
	eps, _ := spec["endpoints"].([]any)
	if len(eps) != 1 || eps[0].(map[string]any)["port"] != "http" || eps[0].(map[string]any)["path"] != "/metrics" {
		t.Errorf("enrich ServiceMonitor endpoints %v, want /metrics on the http port", eps)
	}
}

// readOnlyVerbs are the only verbs the enrichment may hold.
var readOnlyVerbs = []string{"get", "list", "watch"}

// forbiddenResources are what the enrichment must never read: Secrets,
// ConfigMaps (a list transfers their data), and what would let it act
// through a read verb.
var forbiddenResources = []string{"secrets", "configmaps", "pods/exec", "pods/attach", "pods/portforward", "nodes/proxy", "services/proxy", "serviceaccounts/token"}

// enrichGrants resolves the enrichment's bindings to what its account may
// do, and checks each rule: verbs within get/list/watch, no forbidden
// resource, no wildcard, no resourceNames or URLs, bindings naming the
// enrichment's ServiceAccount alone and a ClusterRole the chart renders.
func enrichGrants(t *testing.T, e *enrichRelease, releaseNS string) map[permission]bool {
	t.Helper()
	want := rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Name: e.ServiceAccount.Name, Namespace: releaseNS}
	got := map[permission]bool{}
	bound := map[string]bool{}
	for name, b := range e.ClusterRoleBindings {
		if len(b.Subjects) != 1 || b.Subjects[0] != want {
			t.Errorf("ClusterRoleBinding %s binds %+v: want the enrichment's ServiceAccount %s/%s alone", name, b.Subjects, releaseNS, want.Name)
		}
		role, ok := e.ClusterRoles[b.RoleRef.Name]
		if b.RoleRef.Kind != "ClusterRole" || !ok {
			t.Errorf("ClusterRoleBinding %s refers to %s %s, which the chart does not render", name, b.RoleRef.Kind, b.RoleRef.Name)
			continue
		}
		bound[role.Name] = true
		for _, r := range role.Rules {
			if len(r.ResourceNames) > 0 || len(r.NonResourceURLs) > 0 || r.APIGroups == nil || r.Resources == nil {
				t.Errorf("ClusterRole %s: rule %+v: want API groups and resources, never names or URLs", role.Name, r)
			}
			for _, v := range r.Verbs {
				if !slices.Contains(readOnlyVerbs, v) {
					t.Errorf("ClusterRole %s grants verb %q on %v: the enrichment may only get, list and watch", role.Name, v, r.Resources)
				}
			}
			for _, res := range r.Resources {
				if slices.Contains(forbiddenResources, res) || res == "*" || strings.HasSuffix(res, "/*") {
					t.Errorf("ClusterRole %s grants %v on %q: the enrichment never reads it", role.Name, r.Verbs, res)
				}
			}
			for _, g := range r.APIGroups {
				if g == "*" {
					t.Errorf("ClusterRole %s: wildcard API group in %+v", role.Name, r)
				}
				for _, res := range r.Resources {
					for _, v := range r.Verbs {
						got[permission{"*", g, res, v}] = true
					}
				}
			}
		}
	}
	for name := range e.ClusterRoles {
		if !bound[name] {
			t.Errorf("ClusterRole %s is bound to nothing", name)
		}
	}
	return got
}

// TestEnrichRBAC: the enrichment's account may get, list and watch and do
// nothing else, never on Secrets, ConfigMaps or pods/exec, for every
// values file that enables it; with clusterContext=false, or without a
// model (foresight enrich builds its client only for analyses), it is
// bound to nothing and its token is not mounted. TestEnrichRBACCoversCalls checks
// the same rules against what the code calls.
func TestEnrichRBAC(t *testing.T) {
	for _, c := range []struct {
		name  string
		files []string
		set   []string
		rules bool
	}{
		{"full", []string{enrichValues}, nil, true},
		{"remediation", []string{approverValues, enrichRemediationValues}, nil, true},
		{"no-cluster", []string{enrichValues}, []string{"enrich.clusterContext=false"}, false},
		// Without a model foresight enrich builds no client: nothing to grant.
		{"no-model", []string{enrichMinimalValues}, nil, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			rel := render(t, Options{ValueFiles: c.files, Set: c.set})
			e := rel.Enrich
			if e == nil || e.ServiceAccount == nil {
				t.Fatalf("want the enrichment's ServiceAccount, got %v", rel.Kinds)
			}
			got := enrichGrants(t, e, rel.Deployment.Namespace)
			if c.rules != (len(got) > 0) {
				t.Errorf("grants %v: want some %v", got, c.rules)
			}
			if !c.rules {
				if sa := e.ServiceAccount; sa.AutomountServiceAccountToken == nil || *sa.AutomountServiceAccountToken {
					t.Error("the ServiceAccount offers its token, which nothing uses")
				}
				if len(e.ClusterRoles) > 0 || len(e.ClusterRoleBindings) > 0 {
					t.Errorf("ClusterRoles %v rendered for an enrichment that reads nothing", e.ClusterRoles)
				}
				return
			}
			for _, p := range []permission{{"*", "", "pods", "get"}, {"*", "", "pods/log", "get"}, {"*", "", "events", "list"}, {"*", "apps", "deployments", "get"}} {
				if !got[p] {
					t.Errorf("the enrichment cannot %s: its context would always be missing", p)
				}
			}
			if len(rel.RBACDocuments) > 0 {
				t.Errorf("RBAC outside the components':\n%s", strings.Join(rel.RBACDocuments, "\n---"))
			}
		})
	}
}

// TestEnrichServiceAccount: the enrichment runs as its own account, never
// the scaler's, the metrics API server's or the approver's, and no other
// component's binding names it (the approver's may write; the enrichment
// must not be able to).
func TestEnrichServiceAccount(t *testing.T) {
	rel := render(t, Options{ValueFiles: []string{approverValues, metricsAPIValues, enrichRemediationValues}})
	e, a, m := rel.Enrich, rel.Approver, rel.MetricsAPI
	if e == nil || a == nil || m == nil || e.ServiceAccount == nil || a.ServiceAccount == nil || m.ServiceAccount == nil || rel.ServiceAccount == nil {
		t.Fatalf("want the four components' ServiceAccounts, got %v", rel.Kinds)
	}
	sa := e.ServiceAccount.Name
	if got := e.Deployment.Spec.Template.Spec.ServiceAccountName; got != sa {
		t.Errorf("enrichment pods run as %q, want its own ServiceAccount %q", got, sa)
	}
	for _, other := range []string{
		rel.ServiceAccount.Name, m.ServiceAccount.Name, a.ServiceAccount.Name,
		rel.Deployment.Spec.Template.Spec.ServiceAccountName, m.Deployment.Spec.Template.Spec.ServiceAccountName, a.Deployment.Spec.Template.Spec.ServiceAccountName,
	} {
		if other == sa {
			t.Errorf("the enrichment shares ServiceAccount %q with another component", sa)
		}
	}
	var subjects []rbacv1.Subject
	for _, b := range a.ClusterRoleBindings {
		subjects = append(subjects, b.Subjects...)
	}
	for _, b := range a.RoleBindings {
		subjects = append(subjects, b.Subjects...)
	}
	for _, b := range m.ClusterRoleBindings {
		subjects = append(subjects, b.Subjects...)
	}
	for _, b := range m.RoleBindings {
		subjects = append(subjects, b.Subjects...)
	}
	for _, s := range subjects {
		if s.Name == sa {
			t.Errorf("another component's binding names the enrichment's account: %+v", s)
		}
	}
	_ = enrichGrants(t, e, rel.Deployment.Namespace) // every enrich binding names the enrichment alone

	custom := render(t, Options{ValueFiles: []string{enrichValues}, Set: []string{"enrich.serviceAccount.name=alert-reader"}})
	if ce := custom.Enrich; ce.ServiceAccount.Name != "alert-reader" || ce.Deployment.Spec.Template.Spec.ServiceAccountName != "alert-reader" {
		t.Errorf("enrich.serviceAccount.name=alert-reader: account %q, pods run as %q", ce.ServiceAccount.Name, ce.Deployment.Spec.Template.Spec.ServiceAccountName)
	} else {
		for _, b := range ce.ClusterRoleBindings {
			if b.Subjects[0].Name != "alert-reader" {
				t.Errorf("ClusterRoleBinding %s binds %s, want alert-reader", b.Name, b.Subjects[0].Name)
			}
		}
	}
}

// TestEnrichExample: the example values file renders, alone with a
// datasource and with the approver's example, and its pod is hardened.
func TestEnrichExample(t *testing.T) {
	example := filepath.Join(Dir(), "examples", "values-enrich.yaml")
	rel := render(t, Options{ValueFiles: []string{example}, Set: []string{"demo=true"}})
	if rel.Enrich == nil || rel.Enrich.Deployment == nil {
		t.Fatalf("%s renders no enrichment: %v", example, rel.Kinds)
	}
	checkHardening(t, rel.Enrich.Deployment)
	_ = enrichGrants(t, rel.Enrich, rel.Deployment.Namespace)
	both := render(t, Options{ValueFiles: []string{filepath.Join(Dir(), "examples", "values-approver.yaml"), example}, Set: []string{"demo=true", "enrich.remediation.enabled=true"}})
	if !slices.ContainsFunc(both.Enrich.Deployment.Spec.Template.Spec.Containers[0].Args, func(a string) bool {
		return strings.HasPrefix(a, "--approver-url=https://foresight-approver.example.com")
	}) {
		t.Errorf("the two examples with enrich.remediation.enabled: args %v, want proposals linking to the approver's publicURL", both.Enrich.Deployment.Spec.Template.Spec.Containers[0].Args)
	}
}
