{{/* Names, labels, images and the pieces every workload shares. */}}

{{- define "meterflow.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* The name of one component's objects: <fullname>-<component>. Call with (list $ "writer"). */}}
{{- define "meterflow.name" -}}
{{- printf "%s-%s" (include "meterflow.fullname" (index . 0)) (index . 1) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "meterflow.selectorLabels" -}}
app.kubernetes.io/name: {{ (index . 0).Chart.Name }}
app.kubernetes.io/instance: {{ (index . 0).Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end -}}

{{- define "meterflow.labels" -}}
{{ include "meterflow.selectorLabels" . }}
app.kubernetes.io/version: {{ (index . 0).Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ (index . 0).Release.Service }}
app.kubernetes.io/part-of: meterflow
helm.sh/chart: {{ printf "%s-%s" (index . 0).Chart.Name (index . 0).Chart.Version | replace "+" "_" }}
{{- end -}}

{{/* Each component's image (the Dockerfile's build args) and ops port. */}}
{{- define "meterflow.components" -}}
poller: {image: meterflow-poller, command: meterflow-poller, port: 9101, prefix: POLLER}
normalizer: {image: meterflow-normalizer, command: meterflow-normalizer, port: 9102, prefix: NORMALIZER}
writer: {image: meterflow-writer, command: meterflow-writer, port: 9103, prefix: WRITER}
api: {image: meterflow-query-api, command: meterflow-api, port: 8000, prefix: API}
cli: {image: meterflow-cli, command: meterflow, port: 0, prefix: ""}
{{- end -}}

{{- define "meterflow.component" -}}
{{- index (include "meterflow.components" . | fromYaml) . | toYaml -}}
{{- end -}}

{{- define "meterflow.image" -}}
{{- $root := index . 0 -}}
{{- $component := index (include "meterflow.components" $root | fromYaml) (index . 1) -}}
{{- printf "%s/%s:%s" $root.Values.image.repository $component.image (default $root.Chart.AppVersion $root.Values.image.tag) -}}
{{- end -}}

{{/* Refuse values that would break a promise of the chart; called from every template that depends on them. */}}
{{- define "meterflow.validate" -}}
{{- $v := .Values -}}
{{- range $name, $topic := dict "normalizer" $v.kafka.topics.raw "writer" $v.kafka.topics.readings -}}
{{- $stage := index $v $name -}}
{{- if gt (int $stage.replicaCount) (int $topic.partitions) -}}
{{- fail (printf "%s.replicaCount (%d) is above the %d partitions of %s: the extra replicas would sit idle" $name (int $stage.replicaCount) (int $topic.partitions) $topic.name) -}}
{{- end -}}
{{- if and $stage.autoscaling.enabled (gt (int $stage.autoscaling.maxReplicaCount) (int $topic.partitions)) -}}
{{- fail (printf "%s.autoscaling.maxReplicaCount (%d) is above the %d partitions of %s: set kafka.topics.*.partitions to the topic's real count or lower maxReplicaCount" $name (int $stage.autoscaling.maxReplicaCount) (int $topic.partitions) $topic.name) -}}
{{- end -}}
{{- if and $stage.autoscaling.enabled (gt (int $stage.autoscaling.minReplicaCount) (int $stage.autoscaling.maxReplicaCount)) -}}
{{- fail (printf "%s.autoscaling.minReplicaCount is above maxReplicaCount" $name) -}}
{{- end -}}
{{- end -}}
{{- range $v.ingress.paths -}}
{{- if or (eq . "/") (hasPrefix "/metrics" .) (hasPrefix "/healthz" .) (hasPrefix "/readyz" .) (not (hasPrefix "/" .)) -}}
{{- fail (printf "ingress.paths: %q would expose the API's operations endpoints (/metrics, /healthz, /readyz); route only public paths such as /v1" .) -}}
{{- end -}}
{{- end -}}
{{- if and (hasPrefix "SASL" $v.kafka.securityProtocol) (not $v.kafka.sasl.existingSecret) -}}
{{- fail "kafka.sasl.existingSecret: name the Secret with the SASL username and password (kafka.securityProtocol is SASL_*)" -}}
{{- end -}}
{{- if not (has $v.s3.auth (list "secret" "iamRole")) -}}
{{- fail "s3.auth: \"secret\" or \"iamRole\"" -}}
{{- end -}}
{{- if and (eq $v.s3.auth "secret") (not $v.s3.existingSecret) -}}
{{- fail "s3.existingSecret: name the Secret with AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or set s3.auth: iamRole" -}}
{{- end -}}
{{- end -}}

{{/* Kafka settings every Kafka client gets: the shared ConfigMap, the SASL Secret, the CA file. */}}
{{- define "meterflow.kafkaEnv" -}}
- name: KAFKA_BOOTSTRAP_SERVERS
  valueFrom: {configMapKeyRef: {name: {{ include "meterflow.fullname" . }}, key: KAFKA_BOOTSTRAP_SERVERS}}
- name: KAFKA_SECURITY_PROTOCOL
  value: {{ .Values.kafka.securityProtocol | quote }}
- name: KAFKA_TOPIC_REPLICATION_FACTOR
  value: {{ .Values.kafka.topics.replicationFactor | quote }}
- name: KAFKA_TOPIC_MIN_INSYNC_REPLICAS
  value: {{ .Values.kafka.topics.minInsyncReplicas | quote }}
{{- if hasPrefix "SASL" .Values.kafka.securityProtocol }}
- name: KAFKA_SASL_MECHANISM
  value: {{ .Values.kafka.sasl.mechanism | quote }}
- name: KAFKA_SASL_USERNAME
  valueFrom: {secretKeyRef: {name: {{ .Values.kafka.sasl.existingSecret }}, key: username}}
- name: KAFKA_SASL_PASSWORD
  valueFrom: {secretKeyRef: {name: {{ .Values.kafka.sasl.existingSecret }}, key: password}}
{{- end }}
{{- if .Values.kafka.tls.caSecret }}
- name: KAFKA_SSL_CAFILE
  value: /etc/meterflow/kafka-ca/ca.crt
{{- end }}
{{- end -}}

{{/* The writable scratch space and the Kafka CA, for every pod. */}}
{{- define "meterflow.volumes" -}}
- name: tmp
  emptyDir: {sizeLimit: {{ .Values.tmpSizeLimit }}}
{{- if .Values.kafka.tls.caSecret }}
- name: kafka-ca
  secret: {secretName: {{ .Values.kafka.tls.caSecret }}, items: [{key: ca.crt, path: ca.crt}]}
{{- end }}
{{- end -}}

{{- define "meterflow.volumeMounts" -}}
- name: tmp
  mountPath: /tmp
{{- if .Values.kafka.tls.caSecret }}
- name: kafka-ca
  mountPath: /etc/meterflow/kafka-ca
  readOnly: true
{{- end }}
{{- end -}}

{{- define "meterflow.podSpecCommon" -}}
{{- with .Values.image.pullSecrets }}
imagePullSecrets: {{- toYaml . | nindent 2 }}
{{- end }}
securityContext: {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- with .Values.nodeSelector }}
nodeSelector: {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations: {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.affinity }}
affinity: {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}
