{{- define "mysql-innodbcluster.secretName" -}}{{ .Release.Name }}-cluster-secret{{- end -}}

{{- define "mysql-innodbcluster.labels" -}}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}
