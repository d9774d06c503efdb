{{- define "mysql-operator.name" -}}{{ .Release.Name }}{{- end -}}

{{- define "mysql-operator.labels" -}}
app.kubernetes.io/name: mysql-operator
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "mysql-operator.selector" -}}
app.kubernetes.io/name: mysql-operator
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "mysql-operator.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{/* The operator's permissions on the objects it manages; used by the ClusterRole or each Role. */}}
{{- define "mysql-operator.rules" -}}
- apiGroups: [mysql.innodb-operator.dev]
  resources: [innodbclusters, mysqlbackups]
  verbs: [get, list, watch]
- apiGroups: [mysql.innodb-operator.dev]
  resources: [innodbclusters]
  verbs: [patch]        # its finalizer (metadata.finalizers)
- apiGroups: [mysql.innodb-operator.dev]
  resources: [innodbclusters/status, mysqlbackups/status]
  verbs: [get, patch]
- apiGroups: [mysql.innodb-operator.dev]
  resources: [mysqlbackups]
  verbs: [create]
- apiGroups: [""]
  resources: [secrets, configmaps, services, serviceaccounts]
  verbs: [get, list, watch, create, patch]
- apiGroups: [""]
  resources: [events]
  verbs: [create, patch]
- apiGroups: [""]
  resources: [pods]
  verbs: [get, list, watch]
- apiGroups: [""]
  resources: [pods/eviction]
  verbs: [create]
- apiGroups: [apps]
  resources: [statefulsets, deployments]
  verbs: [get, list, watch, create, patch]
- apiGroups: [policy]
  resources: [poddisruptionbudgets]
  verbs: [get, list, watch, create, patch]
- apiGroups: [batch]
  resources: [cronjobs]
  verbs: [get, list, watch, create, patch, delete]
- apiGroups: [rbac.authorization.k8s.io]
  resources: [roles, rolebindings]
  verbs: [get, list, watch, create, patch]
{{- end -}}
