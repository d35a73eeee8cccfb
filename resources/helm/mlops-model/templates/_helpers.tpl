{{/*
Names and labels of the mlops-model chart. Every value that reaches a name or a label is
checked by values.schema.json (DNS-1035 names, label-value syntax); nothing here passes
values through `tpl`, so a value is never evaluated as a template.
*/}}

{{/* Prefix of every object name: fullnameOverride, else the release name (at most 40 characters
so that "-preview" and the pod-template hash still fit into 63). */}}
{{- define "mlops-model.fullname" -}}
{{- $name := default .Release.Name .Values.fullnameOverride -}}
{{- if gt (len $name) 40 -}}
{{- fail (printf "fullnameOverride / release name %q is longer than 40 characters" $name) -}}
{{- end -}}
{{- $name -}}
{{- end -}}

{{- define "mlops-model.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels that never change for a release: the selector of Services, PDBs and Deployments. */}}
{{- define "mlops-model.selectorLabels" -}}
app.kubernetes.io/name: {{ .Values.model.name | quote }}
app.kubernetes.io/instance: {{ .Release.Name | quote }}
{{- end -}}

{{/* Labels of every object. */}}
{{- define "mlops-model.labels" -}}
{{ include "mlops-model.selectorLabels" . }}
app.kubernetes.io/component: model-server
app.kubernetes.io/part-of: mlops
app.kubernetes.io/managed-by: {{ .Release.Service | quote }}
helm.sh/chart: {{ include "mlops-model.chart" . | quote }}
mlops.dev/environment: {{ .Values.model.environment | quote }}
mlops.dev/strategy: {{ .Values.strategy | quote }}
{{- end -}}

{{/* Labels of one track's objects: call with (dict "root" $ "track" "canary"). */}}
{{- define "mlops-model.trackLabels" -}}
{{- $t := index .root.Values.tracks .track -}}
{{ include "mlops-model.labels" .root }}
app.kubernetes.io/version: {{ $t.version | toString | quote }}
mlops.dev/track: {{ .track | quote }}
mlops.dev/version: {{ $t.version | toString | quote }}
{{- end -}}

{{/* The selector of one track's pods. */}}
{{- define "mlops-model.trackSelector" -}}
{{ include "mlops-model.selectorLabels" .root }}
mlops.dev/track: {{ .track | quote }}
{{- end -}}

{{- define "mlops-model.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "mlops-model.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The image of a track, by digest when there is one: repo@sha256:..., else repo:tag. */}}
{{- define "mlops-model.image" -}}
{{- $image := .image -}}
{{- if $image.digest -}}
{{- printf "%s@%s" $image.repository $image.digest -}}
{{- else if $image.tag -}}
{{- printf "%s:%s" $image.repository $image.tag -}}
{{- else -}}
{{- fail (printf "tracks.%s.image: needs a digest or a tag" .track) -}}
{{- end -}}
{{- end -}}

{{/* Tracks that run, in a fixed order: stable, then the new version's track. */}}
{{- define "mlops-model.tracks" -}}
{{- $tracks := list "stable" -}}
{{- if has .Values.strategy (list "canary" "abtest") -}}
{{- if .Values.tracks.canary.enabled -}}{{- $tracks = append $tracks "canary" -}}{{- end -}}
{{- else if eq .Values.strategy "bluegreen" -}}
{{- if .Values.tracks.preview.enabled -}}{{- $tracks = append $tracks "preview" -}}{{- end -}}
{{- end -}}
{{- join "," $tracks -}}
{{- end -}}

{{/* The track that receives the new version's traffic: canary (canary, abtest) or preview. */}}
{{- define "mlops-model.newTrack" -}}
{{- if has .Values.strategy (list "canary" "abtest") -}}
{{- if .Values.tracks.canary.enabled -}}canary{{- end -}}
{{- else if eq .Values.strategy "bluegreen" -}}
{{- if .Values.tracks.preview.enabled -}}preview{{- end -}}
{{- end -}}
{{- end -}}

{{/* Name of the Service of a track: stable is the bare fullname. */}}
{{- define "mlops-model.serviceName" -}}
{{- if eq .track "stable" -}}
{{- include "mlops-model.fullname" .root -}}
{{- else -}}
{{- printf "%s-%s" (include "mlops-model.fullname" .root) .track -}}
{{- end -}}
{{- end -}}

{{/* Sanity checks that the schema cannot express; included once by deployment.yaml. */}}
{{- define "mlops-model.validate" -}}
{{- $v := .Values -}}
{{- if and (has $v.strategy (list "recreate" "ramped")) (or $v.tracks.canary.enabled $v.tracks.preview.enabled) -}}
{{- fail (printf "strategy %s runs one Deployment: tracks.canary and tracks.preview must be disabled" $v.strategy) -}}
{{- end -}}
{{- if and (has $v.strategy (list "canary" "abtest")) $v.tracks.preview.enabled -}}
{{- fail (printf "strategy %s uses tracks.canary, not tracks.preview" $v.strategy) -}}
{{- end -}}
{{- if and (eq $v.strategy "bluegreen") $v.tracks.canary.enabled -}}
{{- fail "strategy bluegreen uses tracks.preview, not tracks.canary" -}}
{{- end -}}
{{- if and (eq $v.traffic.activeTrack "preview") (not $v.tracks.preview.enabled) -}}
{{- fail "traffic.activeTrack is preview but tracks.preview is disabled" -}}
{{- end -}}
{{- if and (gt (int $v.traffic.canaryWeight) 0) (not $v.tracks.canary.enabled) -}}
{{- fail "traffic.canaryWeight is above 0 but tracks.canary is disabled" -}}
{{- end -}}
{{- if and $v.traffic.matches (not $v.tracks.canary.enabled) -}}
{{- fail "traffic.matches are set but tracks.canary is disabled" -}}
{{- end -}}
{{- if and $v.hpa.enabled (gt (int $v.hpa.minReplicas) (int $v.hpa.maxReplicas)) -}}
{{- fail "hpa.minReplicas is above hpa.maxReplicas" -}}
{{- end -}}
{{- if and $v.ingress.enabled (gt (len $v.traffic.matches) 1) -}}
{{- fail "ingress-nginx canary routes on one header only: give at most one traffic.matches item, or use the Gateway API (gateway.enabled)" -}}
{{- end -}}
{{- end -}}

{{/* A Cookie-header regex that matches the cookie NAME=VALUE. */}}
{{- define "mlops-model.cookieRegex" -}}
{{- printf "(^|;\\s*)%s=%s(;|$)" (regexQuoteMeta .cookie) (regexQuoteMeta .value) -}}
{{- end -}}
