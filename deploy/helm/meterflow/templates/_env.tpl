{{/* Each component's own environment: its settings (env prefix), its credentials by Secret reference. */}}
{{- define "meterflow.componentEnv" -}}
{{- $ := index . 0 -}}
{{- $name := index . 1 -}}
{{- $v := $.Values -}}
{{- $component := include "meterflow.component" $name | fromYaml -}}
- name: LOG_LEVEL
  valueFrom: {configMapKeyRef: {name: {{ include "meterflow.fullname" $ }}, key: LOG_LEVEL}}
{{- if eq $name "api" }}
- name: API_HOST
  value: 0.0.0.0
- name: API_PORT
  value: {{ $component.port | quote }}
- name: API_WORKERS
  value: {{ $v.api.workers | quote }}
- name: API_DATABASE_URL
  valueFrom: {secretKeyRef: {name: {{ $v.postgresql.api.existingSecret }}, key: {{ $v.postgresql.api.key }}}}
{{- else }}
- name: {{ $component.prefix }}_OPS_HOST
  value: 0.0.0.0
- name: {{ $component.prefix }}_OPS_PORT
  value: {{ $component.port | quote }}
{{- include "meterflow.kafkaEnv" $ | nindent 0 }}
{{- end }}
{{- if eq $name "poller" }}
- name: POLLER_BUCKET
  value: {{ $v.s3.bucket | quote }}
- name: POLLER_INTERVAL_S
  value: {{ $v.poller.intervalSeconds | quote }}
- name: POLLER_RAW_TOPIC
  value: {{ $v.kafka.topics.raw.name | quote }}
- name: S3_ENDPOINT_URL
  valueFrom: {configMapKeyRef: {name: {{ include "meterflow.fullname" $ }}, key: S3_ENDPOINT_URL}}
- name: AWS_DEFAULT_REGION
  valueFrom: {configMapKeyRef: {name: {{ include "meterflow.fullname" $ }}, key: AWS_DEFAULT_REGION}}
{{- if eq $v.s3.auth "secret" }}
- name: AWS_ACCESS_KEY_ID
  valueFrom: {secretKeyRef: {name: {{ $v.s3.existingSecret }}, key: AWS_ACCESS_KEY_ID}}
- name: AWS_SECRET_ACCESS_KEY
  valueFrom: {secretKeyRef: {name: {{ $v.s3.existingSecret }}, key: AWS_SECRET_ACCESS_KEY}}
{{- end }}
{{- else if eq $name "normalizer" }}
- name: NORMALIZER_APP_ID
  value: {{ $v.normalizer.appId | quote }}
- name: NORMALIZER_RAW_TOPIC
  value: {{ $v.kafka.topics.raw.name | quote }}
- name: NORMALIZER_READINGS_TOPIC
  value: {{ $v.kafka.topics.readings.name | quote }}
- name: NORMALIZER_DATA_DIR
  value: /tmp/normalizer
{{- else if eq $name "writer" }}
- name: WRITER_GROUP_ID
  value: {{ $v.writer.groupId | quote }}
- name: WRITER_READINGS_TOPIC
  value: {{ $v.kafka.topics.readings.name | quote }}
- name: WRITER_DATABASE_URL
  valueFrom: {secretKeyRef: {name: {{ $v.postgresql.writer.existingSecret }}, key: {{ $v.postgresql.writer.key }}}}
{{- end }}
{{- range $key, $value := (index $v $name).extraEnv }}
- name: {{ $key }}
  value: {{ $value | quote }}
{{- end }}
{{- end -}}
