{{/* The chart's name, or nameOverride. */}}
{{- define "foresight.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The full name of the release's objects: fullnameOverride, else the release name if it already
contains the chart's name (so that "helm install foresight" gives Service foresight), else
RELEASE-foresight. Truncated to 57 characters so that the "-http" suffix still fits a DNS label.
*/}}
{{- define "foresight.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 57 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 57 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 57 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "foresight.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "foresight.selectorLabels" -}}
app.kubernetes.io/name: {{ include "foresight.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "foresight.labels" -}}
helm.sh/chart: {{ include "foresight.chart" . }}
{{ include "foresight.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: scaler
app.kubernetes.io/part-of: foresight
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "foresight.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "foresight.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "foresight.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* Where the pieces are mounted; the flags below name these paths. */}}
{{- define "foresight.configDir" -}}/etc/foresight/config{{- end }}
{{- define "foresight.secretsDir" -}}/etc/foresight/secrets{{- end }}
{{- define "foresight.tlsDir" -}}/etc/foresight/tls{{- end }}
{{- define "foresight.clientCADir" -}}/etc/foresight/client-ca{{- end }}

{{/*
foresight.validate refuses values that would give a pod that cannot start or cannot answer, with
the fix in the message: a datasource must be chosen, and every file a datasource names must come
from a Secret in datasourceSecrets.
*/}}
{{- define "foresight.validate" -}}
{{- $modes := 0 }}
{{- if .Values.prometheusUrl }}{{ $modes = add1 $modes }}{{ end }}
{{- if .Values.datasources }}{{ $modes = add1 $modes }}{{ end }}
{{- if .Values.demo }}{{ $modes = add1 $modes }}{{ end }}
{{- if eq $modes 0 }}
{{- fail "foresight: choose a datasource: --set prometheusUrl=http://prometheus.monitoring:9090, or list datasources in your values, or --set demo=true to try the chart on an embedded trace" }}
{{- end }}
{{- if gt $modes 1 }}
{{- fail "foresight: set only one of prometheusUrl, datasources and demo" }}
{{- end }}
{{- $secretsDir := include "foresight.secretsDir" . }}
{{- range $i, $d := .Values.datasources }}
{{- $files := dict "bearer_token_file" $d.bearer_token_file }}
{{- with $d.basic_auth }}{{ $_ := set $files "basic_auth.password_file" .password_file }}{{ end }}
{{- with $d.tls_config }}
{{- $_ := set $files "tls_config.ca_file" .ca_file }}
{{- $_ := set $files "tls_config.cert_file" .cert_file }}
{{- $_ := set $files "tls_config.key_file" .key_file }}
{{- end }}
{{- range $key, $path := $files }}
{{- if $path }}
{{- $parts := regexFind (printf "^%s/[^/]+/[^/]+$" $secretsDir) $path }}
{{- $secret := "" }}
{{- if $parts }}{{ $secret = index (splitList "/" $path) 4 }}{{ end }}
{{- if not (and $parts (has $secret $.Values.datasourceSecrets)) }}
{{- fail (printf "foresight: datasources[%d] (%s) %s is %q: a file must be a key of a Secret listed in datasourceSecrets, written %s/SECRET/KEY" $i $d.name $key $path $secretsDir) }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
{{- if and .Values.datasourceSecrets (not .Values.datasources) }}
{{- fail "foresight: datasourceSecrets is set but datasources is empty: the Secrets are mounted only for the files that datasources name" }}
{{- end }}
{{- if and .Values.tls.enabled (not .Values.tls.secretName) }}
{{- fail "foresight: tls.enabled needs tls.secretName, a kubernetes.io/tls Secret with tls.crt and tls.key" }}
{{- end }}
{{- if and .Values.tls.clientCA.secretName (not .Values.tls.enabled) }}
{{- fail "foresight: tls.clientCA (mutual TLS) needs tls.enabled=true and tls.secretName" }}
{{- end }}
{{- end }}

{{/*
The metrics API server (metricsApi): its objects are named FULLNAME-metrics (at most 63 characters),
and its pods carry their own app.kubernetes.io/name, so that neither the scaler's Services nor its
PodDisruptionBudget select them.
*/}}
{{- define "foresight.metricsApi.fullname" -}}
{{- printf "%s-metrics" (include "foresight.fullname" . | trunc 55 | trimSuffix "-") }}
{{- end }}

{{- define "foresight.metricsApi.selectorLabels" -}}
app.kubernetes.io/name: {{ printf "%s-metrics-apiserver" (include "foresight.name" .) | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "foresight.metricsApi.labels" -}}
helm.sh/chart: {{ include "foresight.chart" . }}
{{ include "foresight.metricsApi.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: metrics-apiserver
app.kubernetes.io/part-of: foresight
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "foresight.metricsApi.serviceAccountName" -}}
{{- default (include "foresight.metricsApi.fullname" .) .Values.metricsApi.serviceAccount.name }}
{{- end }}

{{- define "foresight.targetsDir" -}}/etc/foresight/targets{{- end }}
{{- define "foresight.metricsApi.tlsDir" -}}/etc/foresight/metrics-tls{{- end }}

{{/* The APIService that routes external.metrics.k8s.io: only one server may own it in a cluster. */}}
{{- define "foresight.externalAPIService" -}}v1beta1.external.metrics.k8s.io{{- end }}

{{/*
foresight.metricsApi.validate refuses metricsApi values that would give a server that cannot start,
an APIService the API server cannot trust, or external metrics taken away from KEDA.

The KEDA check reads the cluster with lookup, which `helm install` and `helm upgrade` do, but
`helm template` and `helm install --dry-run` (client side) do not: there lookup returns nothing and
only metricsApi.kedaInstalled can stop the render.
*/}}
{{- define "foresight.metricsApi.validate" -}}
{{- $m := .Values.metricsApi }}
{{- if not $m.enabled }}
{{- if or $m.externalMetrics $m.targets }}
{{- fail "foresight: metricsApi.externalMetrics and metricsApi.targets need metricsApi.enabled=true (the metrics API server is off by default)" }}
{{- end }}
{{- else }}
{{- if not $m.targets }}
{{- fail "foresight: metricsApi.enabled needs metricsApi.targets, the workloads to serve predictions for (see docs/metricsapi.md: namespace, kind, name, metric, policy)" }}
{{- end }}
{{- if eq (int $m.httpPort) (int $m.securePort) }}
{{- fail (printf "foresight: metricsApi.httpPort and metricsApi.securePort are both %v: give them different ports" $m.httpPort) }}
{{- end }}
{{- if and $m.tls.secretName (not $m.tls.caBundle) }}
{{- fail "foresight: metricsApi.tls.secretName needs metricsApi.tls.caBundle, the base64 PEM of the CA that signed it, so that the API server can verify the metrics API server (or leave both empty for a self-signed certificate and insecureSkipTLSVerify)" }}
{{- end }}
{{- if and $m.tls.caBundle (not $m.tls.secretName) }}
{{- fail "foresight: metricsApi.tls.caBundle without metricsApi.tls.secretName: the server would present a self-signed certificate the caBundle does not sign; give the Secret with tls.crt and tls.key" }}
{{- end }}
{{- if $m.externalMetrics }}
{{- if $m.kedaInstalled }}
{{- fail (printf "foresight: metricsApi.externalMetrics=true but metricsApi.kedaInstalled=true: KEDA's metrics adapter owns %s, and a second APIService would take every ScaledObject's metrics away from it. Leave externalMetrics false and use HPA metrics of type Object (custom.metrics.k8s.io), or foresight serve with a ScaledObject" (include "foresight.externalAPIService" .)) }}
{{- end }}
{{- $existing := lookup "apiregistration.k8s.io/v1" "APIService" "" (include "foresight.externalAPIService" .) }}
{{- with $existing }}
{{- $svc := dig "spec" "service" dict . }}
{{- $svcName := dig "name" "" $svc }}
{{- $svcNamespace := dig "namespace" "" $svc }}
{{- $ours := and (eq $svcName (include "foresight.metricsApi.fullname" $)) (eq $svcNamespace $.Release.Namespace) }}
{{- if not $ours }}
{{- $labels := dig "metadata" "labels" dict . | default dict }}
{{- $keda := or (eq (get $labels "app.kubernetes.io/part-of" | toString) "keda-operator") (hasPrefix "keda-" $svcName) }}
{{- if $keda }}
{{- fail (printf "foresight: metricsApi.externalMetrics=true, but KEDA owns %s in this cluster (it routes to Service %s/%s): a second APIService would take every ScaledObject's metrics away from KEDA. Leave externalMetrics false and use HPA metrics of type Object (custom.metrics.k8s.io), or foresight serve with a ScaledObject" (include "foresight.externalAPIService" $) $svcNamespace $svcName) }}
{{- else }}
{{- fail (printf "foresight: metricsApi.externalMetrics=true, but %s already routes to Service %s/%s: only one server may own external.metrics.k8s.io. Remove that adapter first, or leave externalMetrics false and use HPA metrics of type Object" (include "foresight.externalAPIService" $) $svcNamespace $svcName) }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}

{{/*
The approver (approver.enabled): `foresight approver`, the one privileged part of Foresight. Its
objects are named FULLNAME-approver (at most 63 characters) and its pods carry their own
app.kubernetes.io/name, so that no other Service, PodDisruptionBudget or ServiceMonitor selects them.
*/}}
{{- define "foresight.approver.fullname" -}}
{{- printf "%s-approver" (include "foresight.fullname" . | trunc 54 | trimSuffix "-") }}
{{- end }}

{{- define "foresight.approver.selectorLabels" -}}
app.kubernetes.io/name: {{ printf "%s-approver" (include "foresight.name" .) | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "foresight.approver.labels" -}}
helm.sh/chart: {{ include "foresight.chart" . }}
{{ include "foresight.approver.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: approver
app.kubernetes.io/part-of: foresight
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "foresight.approver.serviceAccountName" -}}
{{- default (include "foresight.approver.fullname" .) .Values.approver.serviceAccount.name }}
{{- end }}

{{/* Where the approver's files are mounted; its flags name these paths. */}}
{{- define "foresight.approver.configDir" -}}/etc/foresight/remediation{{- end }}
{{- define "foresight.approver.keyDir" -}}/etc/foresight/approver/approval-key{{- end }}
{{- define "foresight.approver.signingSecretDir" -}}/etc/foresight/approver/slack-signing-secret{{- end }}
{{- define "foresight.approver.tokenDir" -}}/etc/foresight/approver/slack-token{{- end }}
{{- define "foresight.approver.stateDir" -}}/var/lib/foresight-approver{{- end }}

{{/*
foresight.approver.kinds is remediate's table of the resources each action kind may target
(remediate.ResourcesOf), as JSON; chart tests check it against the Go table. The first resource of a
kind tells node actions (cluster-scoped) from namespaced ones.
*/}}
{{- define "foresight.approver.kinds" -}}
{"rollout-restart":["deployments","statefulsets","daemonsets"],"rollout-undo":["deployments"],"scale":["deployments","statefulsets"],"cordon":["nodes"],"uncordon":["nodes"],"evict":["pods"]}
{{- end }}
{{- define "foresight.approver.kindList" -}}rollout-restart, rollout-undo, scale, cordon, uncordon, evict{{- end }}

{{/*
foresight.approver.validate refuses approver values the approver would refuse at start (it runs
remediate.Parse on the same file) or that would grant RBAC nobody asked for, with the fix in the
message. The label selectors are parsed by the approver alone.
*/}}
{{- define "foresight.approver.validate" -}}
{{- $a := .Values.approver }}
{{- if $a.enabled }}
{{- $kinds := include "foresight.approver.kinds" . | fromJson }}
{{- $kindList := include "foresight.approver.kindList" . }}
{{- if not $a.allow }}
{{- fail "foresight: approver.enabled needs approver.allow, the actions it may execute (each: action, namespaces, and optionally resources, selector, minReplicas/maxReplicas; see the chart README). With an empty list it would refuse every approval" }}
{{- end }}
{{- if not $a.approvalKey.existingSecret }}
{{- fail "foresight: approver.enabled needs approver.approvalKey.existingSecret, a Secret holding the HMAC key (at least 32 bytes) that foresight enrich signs proposals with, e.g. kubectl create secret generic foresight-approval-key --from-literal=approval-key=$(head -c 32 /dev/urandom | base64)" }}
{{- end }}
{{- range $i, $r := $a.allow }}
{{- $action := toString (get $r "action") }}
{{- $res := get $kinds $action }}
{{- if not $res }}
{{- fail (printf "foresight: approver.allow[%d].action %q is not an action the approver knows: use one of %s" $i $action $kindList) }}
{{- end }}
{{- range $x := $r.resources }}
{{- if not (has $x $res) }}
{{- fail (printf "foresight: approver.allow[%d] (%s): resources: %s cannot target %q; it acts on %s" $i $action $action $x (join ", " $res)) }}
{{- end }}
{{- end }}
{{- $nodes := eq (first $res) "nodes" }}
{{- if and $nodes $r.namespaces }}
{{- fail (printf "foresight: approver.allow[%d] (%s): nodes have no namespace: remove namespaces and scope node actions with a selector" $i $action) }}
{{- end }}
{{- if and (not $nodes) (not $r.namespaces) }}
{{- fail (printf "foresight: approver.allow[%d] (%s): name the namespaces this rule covers (namespaces: [shop]), or [\"*\"] for all: the chart grants its RBAC in exactly those namespaces" $i $action) }}
{{- end }}
{{- if eq $action "scale" }}
{{- if not (and (hasKey $r "minReplicas") (hasKey $r "maxReplicas")) }}
{{- fail (printf "foresight: approver.allow[%d] (scale): scale needs minReplicas and maxReplicas, the bounds an approved scale must stay within" $i) }}
{{- end }}
{{- if gt (int64 $r.minReplicas) (int64 $r.maxReplicas) }}
{{- fail (printf "foresight: approver.allow[%d] (scale): minReplicas %v is above maxReplicas %v: need 0 <= minReplicas <= maxReplicas" $i $r.minReplicas $r.maxReplicas) }}
{{- end }}
{{- else if or (hasKey $r "minReplicas") (hasKey $r "maxReplicas") }}
{{- fail (printf "foresight: approver.allow[%d] (%s): minReplicas/maxReplicas apply to scale only: remove them" $i $action) }}
{{- end }}
{{- end }}
{{- range $k, $n := $a.budgets }}
{{- if not (hasKey $kinds $k) }}
{{- fail (printf "foresight: approver.budgets: %q is not an action: use one of %s" $k $kindList) }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}

{{/*
foresight.approver.rules prints the RBAC rules that the allow entries in .entries need, merged by
API group and resource, sorted, one rule per resource. What each kind needs:
  rollout-restart  get, patch on its workloads (the restartedAt annotation of the pod template)
  rollout-undo     get, patch on deployments; list replicasets (to find the revision's template)
  scale            get on its workloads; update on their scale subresource (UpdateScale)
  cordon/uncordon  get, patch on nodes
  evict            get on pods; create on pods/eviction (the Eviction API, which honours PDBs)
A kind absent from .entries grants nothing.
*/}}
{{- define "foresight.approver.rules" -}}
{{- $kinds := include "foresight.approver.kinds" . | fromJson }}
{{- $g := dict }}
{{- range $r := .entries }}
{{- $res := $r.resources | default (get $kinds $r.action) }}
{{- $add := list }}
{{- if eq $r.action "rollout-restart" }}
{{- range $res }}{{ $add = append $add (list "apps" . (list "get" "patch")) }}{{ end }}
{{- else if eq $r.action "rollout-undo" }}
{{- $add = list (list "apps" "deployments" (list "get" "patch")) (list "apps" "replicasets" (list "list")) }}
{{- else if eq $r.action "scale" }}
{{- range $res }}
{{- $add = append $add (list "apps" . (list "get")) }}
{{- $add = append $add (list "apps" (printf "%s/scale" .) (list "update")) }}
{{- end }}
{{- else if or (eq $r.action "cordon") (eq $r.action "uncordon") }}
{{- $add = list (list "" "nodes" (list "get" "patch")) }}
{{- else if eq $r.action "evict" }}
{{- $add = list (list "" "pods" (list "get")) (list "" "pods/eviction" (list "create")) }}
{{- end }}
{{- range $add }}
{{- $key := printf "%s|%s" (index . 0) (index . 1) }}
{{- $_ := set $g $key (concat (default (list) (get $g $key)) (index . 2)) }}
{{- end }}
{{- end }}
{{- range $key := keys $g | sortAlpha }}
{{- $parts := splitList "|" $key }}
- apiGroups: [{{ index $parts 0 | quote }}]
  resources: [{{ index $parts 1 | quote }}]
  verbs: [{{ range $i, $v := get $g $key | uniq | sortAlpha }}{{ if $i }}, {{ end }}{{ $v }}{{ end }}]
{{- end }}
{{- end }}

{{/*
The alert enrichment (enrich.enabled): `foresight enrich`. Its objects are named FULLNAME-enrich (at
most 63 characters) and its pods carry their own app.kubernetes.io/name, so that no other Service,
PodDisruptionBudget or ServiceMonitor selects them.
*/}}
{{- define "foresight.enrich.fullname" -}}
{{- printf "%s-enrich" (include "foresight.fullname" . | trunc 56 | trimSuffix "-") }}
{{- end }}

{{- define "foresight.enrich.selectorLabels" -}}
app.kubernetes.io/name: {{ printf "%s-enrich" (include "foresight.name" .) | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "foresight.enrich.labels" -}}
helm.sh/chart: {{ include "foresight.chart" . }}
{{ include "foresight.enrich.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: enrich
app.kubernetes.io/part-of: foresight
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "foresight.enrich.serviceAccountName" -}}
{{- default (include "foresight.enrich.fullname" .) .Values.enrich.serviceAccount.name }}
{{- end }}

{{/* Where the enrichment's files are mounted; its flags name these paths. The remediation config and
the approval key are mounted where the approver has them. */}}
{{- define "foresight.enrich.authTokenDir" -}}/etc/foresight/enrich/auth-token{{- end }}
{{- define "foresight.enrich.authPasswordDir" -}}/etc/foresight/enrich/auth-password{{- end }}
{{- define "foresight.enrich.llmKeyDir" -}}/etc/foresight/enrich/llm-api-key{{- end }}
{{- define "foresight.enrich.webhookSecretDir" -}}/etc/foresight/enrich/webhook-secret{{- end }}
{{- define "foresight.enrich.slackTokenDir" -}}/etc/foresight/enrich/slack-token{{- end }}
{{- define "foresight.enrich.queueDir" -}}/var/lib/foresight-enrich{{- end }}

{{/* "true" when foresight enrich reads the cluster: it builds its client only for analyses, so only
with a model (llm.endpoint), and not with clusterContext=false. Without it the chart grants no role and
mounts no token. */}}
{{- define "foresight.enrich.readsCluster" -}}
{{- if and .Values.enrich.clusterContext .Values.enrich.llm.endpoint }}true{{ end }}
{{- end }}

{{/* The URL Alertmanager posts to. */}}
{{- define "foresight.enrich.url" -}}
{{- printf "http://%s.%s.svc:%v/api/alerts" (include "foresight.enrich.fullname" .) .Release.Namespace .Values.enrich.port }}
{{- end }}

{{/* Where approval links point: approver.publicURL, else the approver's in-cluster Service. */}}
{{- define "foresight.enrich.approverURL" -}}
{{- default (printf "http://%s.%s.svc:%v" (include "foresight.approver.fullname" .) .Release.Namespace .Values.approver.port) .Values.approver.publicURL }}
{{- end }}

{{/* The --sink list: every sink the values configure. */}}
{{- define "foresight.enrich.sinks" -}}
{{- $s := .Values.enrich.sinks }}
{{- $l := list }}
{{- if $s.stdout.enabled }}{{ $l = append $l "stdout" }}{{ end }}
{{- if $s.webhook.url }}{{ $l = append $l "webhook" }}{{ end }}
{{- if or $s.slack.token.existingSecret $s.slack.webhookURL.existingSecret }}{{ $l = append $l "slack" }}{{ end }}
{{- join "," $l }}
{{- end }}

{{/*
foresight.enrich.validate refuses enrich values that foresight enrich would refuse at start, or that
would start a receiver delivering nowhere, with the fix in the message.
*/}}
{{- define "foresight.enrich.validate" -}}
{{- $e := .Values.enrich }}
{{- if not $e.enabled }}
{{- if $e.remediation.enabled }}
{{- fail "foresight: enrich.remediation.enabled needs enrich.enabled=true (the enrichment is off by default)" }}
{{- end }}
{{- else }}
{{- $s := $e.sinks }}
{{- if not (include "foresight.enrich.sinks" .) }}
{{- fail "foresight: enrich.enabled with no sink: set enrich.sinks.slack.token.existingSecret and enrich.sinks.slack.channel, enrich.sinks.slack.webhookURL.existingSecret, enrich.sinks.webhook.url, or leave enrich.sinks.stdout.enabled=true" }}
{{- end }}
{{- if and $s.slack.token.existingSecret $s.slack.webhookURL.existingSecret }}
{{- fail "foresight: enrich.sinks.slack: set token (a bot token, with channel: analyses as thread replies) or webhookURL (an incoming webhook), not both" }}
{{- end }}
{{- if and $s.slack.token.existingSecret (not $s.slack.channel) }}
{{- fail "foresight: enrich.sinks.slack.token needs enrich.sinks.slack.channel, the channel ID the bot posts to (e.g. C0123456: Slack, channel details, bottom)" }}
{{- end }}
{{- if and $s.slack.channel (not $s.slack.token.existingSecret) }}
{{- fail "foresight: enrich.sinks.slack.channel needs enrich.sinks.slack.token.existingSecret, a Secret with the bot token (xoxb-...) that posts there" }}
{{- end }}
{{- if and $s.webhook.secret.existingSecret (not $s.webhook.url) }}
{{- fail "foresight: enrich.sinks.webhook.secret signs requests to enrich.sinks.webhook.url, which is empty: set the URL, or remove the secret" }}
{{- end }}
{{- if and $e.llm.endpoint (not $e.llm.model) }}
{{- fail "foresight: enrich.llm.endpoint needs enrich.llm.model, the model's name on that server (e.g. llama3.1:8b)" }}
{{- end }}
{{- if and $e.llm.model (not $e.llm.endpoint) }}
{{- fail "foresight: enrich.llm.model needs enrich.llm.endpoint, the OpenAI-compatible URL with /v1 (e.g. http://ollama.monitoring.svc.cluster.local:11434/v1)" }}
{{- end }}
{{- if and $e.llm.apiKey.existingSecret (not $e.llm.endpoint) }}
{{- fail "foresight: enrich.llm.apiKey is set but enrich.llm.endpoint is empty: set the model server's URL, or remove the key" }}
{{- end }}
{{- if le (int $e.llm.contextWindow) (mul 2 (int $e.llm.maxTokens)) }}
{{- fail (printf "foresight: enrich.llm.contextWindow (%v) must exceed twice enrich.llm.maxTokens (%v): the answer's reserve would leave no room for the alert's context" $e.llm.contextWindow $e.llm.maxTokens) }}
{{- end }}
{{- if and $e.auth.basic.user (not $e.auth.basic.password.existingSecret) }}
{{- fail "foresight: enrich.auth.basic.user needs enrich.auth.basic.password.existingSecret, a Secret holding the password Alertmanager sends" }}
{{- end }}
{{- if and $e.auth.basic.password.existingSecret (not $e.auth.basic.user) }}
{{- fail "foresight: enrich.auth.basic.password needs enrich.auth.basic.user" }}
{{- end }}
{{- if $e.remediation.enabled }}
{{- if not .Values.approver.enabled }}
{{- fail "foresight: enrich.remediation.enabled needs approver.enabled=true: the enrichment proposes only what the approver's allowlist (its ConfigMap) permits, signed with its key (approver.approvalKey.existingSecret)" }}
{{- end }}
{{- if not $e.llm.endpoint }}
{{- fail "foresight: enrich.remediation.enabled needs enrich.llm.endpoint and enrich.llm.model: proposals come from the model's suggested commands" }}
{{- end }}
{{- if not $e.clusterContext }}
{{- fail "foresight: enrich.remediation.enabled needs enrich.clusterContext=true: a proposal is made from the live object (revision, replicas, labels), read with get and list" }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}

{{/*
foresight.enrich.rules are the read-only calls foresight enrich makes, resource by resource: the
context gatherer (enrich/kubecontext: the pod, its logs and events, its owner chain, the workloads
named by the alert, the node), the command checker (enrich/suggest: the namespaces and the objects
of each kind a suggested command names) and the proposer (enrich/propose.go: the live object and a
Deployment's ReplicaSets). get and list only: nothing watches. Never Secrets, nor ConfigMaps (a list
transfers their data), nor pods/exec. The chart tests run these packages on a recording client and
check that this list is exactly what they call.
*/}}
{{- define "foresight.enrich.rules" -}}
- apiGroups: [""]
  resources: [pods, nodes]
  verbs: [get, list]
- apiGroups: [""]
  resources: [pods/log]
  verbs: [get]
- apiGroups: [""]
  resources: [events, namespaces, services, persistentvolumeclaims]
  verbs: [list]
- apiGroups: [apps]
  resources: [deployments, replicasets, statefulsets, daemonsets]
  verbs: [get, list]
- apiGroups: [batch]
  resources: [jobs, cronjobs]
  verbs: [list]
- apiGroups: [autoscaling]
  resources: [horizontalpodautoscalers]
  verbs: [list]
{{- end }}
