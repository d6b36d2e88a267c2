{{- define "portcullis.name" -}}portcullis{{- end -}}
{{- define "portcullis.fullname" -}}{{ .Release.Name }}-portcullis{{- end -}}
{{- define "portcullis.labels" -}}
app.kubernetes.io/name: portcullis
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end -}}
{{- define "portcullis.selector" -}}
app.kubernetes.io/name: portcullis
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}
{{- define "portcullis.namespaceSelector" -}}
namespaceSelector:
  matchExpressions:
  - key: kubernetes.io/metadata.name
    operator: NotIn
    values: [kube-system, {{ .Release.Namespace | quote }}]
  - key: portcullis.dev/ignore
    operator: NotIn
    values: ["true"]
  {{- if .Values.webhook.namespaceSelectorKey }}
  - key: {{ .Values.webhook.namespaceSelectorKey | quote }}
    operator: In
    {{- /* Label values are strings: `--set ...={true}` must not render a YAML boolean. */}}
    values: [{{ range $i, $v := .Values.webhook.namespaceSelectorValues }}{{ if $i }}, {{ end }}{{ $v | toString | quote }}{{ end }}]
  {{- end }}
{{- end -}}
