{{- define "kindling.labels" -}}
app.kubernetes.io/part-of: kindling
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end -}}

{{- define "kindling.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag }}
{{- end -}}

{{- define "kindling.socket" -}}
{{ .Values.socketDir }}/kindling.sock
{{- end -}}
