"""The Helm chart (deploy/helm/meterflow), rendered by the real helm (`make helm` builds it into
.local/bin) with the default values and both production profiles: `helm lint` clean, every built-in
object valid against the Kubernetes schemas (kubernetes-validate), the KEDA and Prometheus-operator objects
checked for their structure, and the chart's promises: no inline secret, nothing but the API's public
paths on the ingress, never more consumers than partitions, non-root pods on a read-only root filesystem,
probes on the ops endpoints, settings the services understand."""

from __future__ import annotations

import functools
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from meterflow_api.config import Settings as ApiSettings
from meterflow_contracts import RAW, READINGS_V2
from meterflow_harness.paths import REPO
from meterflow_normalizer.config import Settings as NormalizerSettings
from meterflow_poller.config import Settings as PollerSettings
from meterflow_writer.config import Settings as WriterSettings

CHART = REPO / "deploy/helm/meterflow"
HELM = REPO / ".local/bin/helm"
PROFILES = ["values.yaml", "values-production-aws.yaml", "values-production-onprem.yaml"]
KUBERNETES_VERSIONS = ["1.29.0", kubernetes_validate.latest_version()]
CRD_KINDS = {"ScaledObject", "TriggerAuthentication", "ServiceMonitor", "PrometheusRule"}
SERVICES = {"poller": PollerSettings, "normalizer": NormalizerSettings, "writer": WriterSettings, "api": ApiSettings}
OPS_PORTS = {"poller": 9101, "normalizer": 9102, "writer": 9103, "api": 8000}
STATIC_S3_KEYS_REQUIRED = PollerSettings.model_fields["aws_access_key_id"].is_required()
SENSITIVE = re.compile(r"PASSWORD|SECRET|TOKEN|ACCESS_KEY|DATABASE_URL|SASL_USERNAME", re.I)

if not HELM.exists():
    pytest.skip(f"helm is not built: run `make helm` (it installs {HELM.relative_to(REPO)})", allow_module_level=True)


def helm(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(HELM), *args], capture_output=True, text=True, check=False, cwd=REPO)


def template(*args: str) -> subprocess.CompletedProcess[str]:
    return helm("template", "mf", str(CHART), "--namespace", "meterflow", *args)


@functools.cache
def rendered(profile: str, *sets: str) -> list[dict[str, Any]]:
    args = [arg for s in sets for arg in ("--set", s)]
    result = template("-f", str(CHART / profile), *args)
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def of_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == kind]


def values(profile: str) -> dict[str, Any]:
    merged: dict[str, Any] = yaml.safe_load((CHART / "values.yaml").read_text())
    overlay = yaml.safe_load((CHART / profile).read_text()) or {}

    def merge(base: dict[str, Any], over: dict[str, Any]) -> None:
        for key, value in over.items():
            if isinstance(value, dict) and isinstance(base.get(key), dict):
                merge(base[key], value)
            else:
                base[key] = value

    merge(merged, overlay)
    return merged


def component(obj: dict[str, Any]) -> str:
    return str(obj["metadata"]["labels"]["app.kubernetes.io/component"])


def pod_specs(objects: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (o["metadata"]["name"], o["spec"]["template"]["spec"]) for o in objects if o["kind"] in ("Deployment", "Job")
    ]


def env_of(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in container.get("env", [])}


@pytest.mark.parametrize("profile", PROFILES)
def test_helm_lint_is_clean(profile: str) -> None:
    result = helm("lint", "--strict", str(CHART), "-f", str(CHART / profile))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "[WARNING]" not in result.stdout and "[ERROR]" not in result.stdout, result.stdout


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("profile", PROFILES)
def test_every_object_is_valid(profile: str, version: str) -> None:
    objects = rendered(profile)
    for obj in objects:
        if obj["kind"] in CRD_KINDS:
            continue
        kubernetes_validate.validate(obj, version, strict=True)
    names = {(o["kind"], o["metadata"]["name"]) for o in objects}
    assert len(names) == len(objects), "two objects of one kind with one name"


@pytest.mark.parametrize("profile", PROFILES)
def test_custom_resources_have_their_structure(profile: str) -> None:
    objects = rendered(profile)
    deployments = {d["metadata"]["name"]: d for d in of_kind(objects, "Deployment")}
    auths = {a["metadata"]["name"]: a for a in of_kind(objects, "TriggerAuthentication")}
    for scaled in of_kind(objects, "ScaledObject"):
        assert scaled["apiVersion"] == "keda.sh/v1alpha1"
        target = deployments[scaled["spec"]["scaleTargetRef"]["name"]]
        env = env_of(target["spec"]["template"]["spec"]["containers"][0])
        (trigger,) = scaled["spec"]["triggers"]
        assert trigger["type"] == "kafka"
        meta = trigger["metadata"]
        assert set(meta) >= {"bootstrapServers", "consumerGroup", "topic", "lagThreshold"}
        assert all(isinstance(v, str) for v in meta.values()), "KEDA metadata values are strings"
        group, topic = ("NORMALIZER_APP_ID", "NORMALIZER_RAW_TOPIC")
        if component(target) == "writer":
            group, topic = ("WRITER_GROUP_ID", "WRITER_READINGS_TOPIC")
        assert meta["consumerGroup"] == env[group]["value"] and meta["topic"] == env[topic]["value"]
        assert "replicas" not in target["spec"], "KEDA owns the replica count"
        if "authenticationRef" in trigger:
            auth = auths[trigger["authenticationRef"]["name"]]
            assert {r["parameter"] for r in auth["spec"]["secretTargetRef"]} <= {"username", "password", "ca"}
    for monitor in of_kind(objects, "ServiceMonitor"):
        services = of_kind(objects, "Service")
        ports = {p["name"] for s in services for p in s["spec"]["ports"]}
        assert {e["port"] for e in monitor["spec"]["endpoints"]} <= ports
        assert all(e["path"] == "/metrics" for e in monitor["spec"]["endpoints"])
    for rule in of_kind(objects, "PrometheusRule"):
        assert all({"name", "rules"} <= set(g) for g in rule["spec"]["groups"])


@pytest.mark.parametrize("profile", PROFILES)
def test_no_secret_is_inline(profile: str) -> None:
    objects = rendered(profile)
    assert not of_kind(objects, "Secret"), "the chart references Secrets, it never creates one"
    for name, spec in pod_specs(objects):
        for container in spec["containers"]:
            for variable, entry in env_of(container).items():
                if SENSITIVE.search(variable):
                    assert "secretKeyRef" in entry.get("valueFrom", {}), f"{name}: {variable} must come from a Secret"
    for config in of_kind(objects, "ConfigMap"):
        assert not any(SENSITIVE.search(key) for key in config["data"])
        assert not any(re.search(r"://[^/@\s]+:[^/@\s]+@", str(v)) for v in config["data"].values())


@pytest.mark.parametrize("profile", PROFILES)
def test_ingress_routes_only_the_apis_public_paths(profile: str) -> None:
    objects = rendered(profile, "ingress.enabled=true")
    (ingress,) = of_kind(objects, "Ingress")
    for rule in ingress["spec"]["rules"]:
        for path in rule["http"]["paths"]:
            assert path["backend"]["service"]["name"] == "mf-meterflow-api"
            assert path["path"] != "/" and not path["path"].startswith(("/metrics", "/healthz", "/readyz"))


@pytest.mark.parametrize("path", ["/", "/metrics", "/readyz"])
def test_an_ingress_path_that_exposes_operations_is_refused(path: str) -> None:
    result = template("--set", "ingress.enabled=true", "--set", f"ingress.paths={{/v1,{path}}}")
    assert result.returncode != 0
    assert "would expose the API's operations endpoints" in result.stderr


@pytest.mark.parametrize("profile", PROFILES)
def test_consumers_never_outnumber_partitions(profile: str) -> None:
    settings = values(profile)
    partitions = {"normalizer": settings["kafka"]["topics"]["raw"]["partitions"]}
    partitions["writer"] = settings["kafka"]["topics"]["readings"]["partitions"]
    objects = rendered(profile)
    for deployment in of_kind(objects, "Deployment"):
        if component(deployment) in partitions:
            assert deployment["spec"].get("replicas", 0) <= partitions[component(deployment)]
    for scaled in of_kind(objects, "ScaledObject"):
        assert scaled["spec"]["maxReplicaCount"] <= partitions[component(scaled)]


@pytest.mark.parametrize(
    "sets",
    [
        ("writer.autoscaling.enabled=true", "writer.autoscaling.maxReplicaCount=7"),
        ("normalizer.autoscaling.enabled=true", "normalizer.autoscaling.maxReplicaCount=5"),
        ("normalizer.replicaCount=5",),
    ],
)
def test_more_consumers_than_partitions_fail_the_template(sets: tuple[str, ...]) -> None:
    result = template(*[arg for s in sets for arg in ("--set", s)])
    assert result.returncode != 0
    assert "partitions" in result.stderr


def test_default_topics_are_the_declared_ones() -> None:
    topics = values("values.yaml")["kafka"]["topics"]
    assert (topics["raw"]["name"], topics["raw"]["partitions"]) == (RAW.name, RAW.partitions)
    assert (topics["readings"]["name"], topics["readings"]["partitions"]) == (READINGS_V2.name, READINGS_V2.partitions)


@pytest.mark.parametrize("profile", PROFILES)
def test_pods_are_non_root_on_a_read_only_root(profile: str) -> None:
    for name, spec in pod_specs(rendered(profile)):
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        assert spec["securityContext"]["runAsUser"] != 0, name
        assert spec["automountServiceAccountToken"] is False, name
        volumes = {v["name"]: v for v in spec["volumes"]}
        for container in spec["containers"]:
            context = container["securityContext"]
            assert context["readOnlyRootFilesystem"] is True, name
            assert context["allowPrivilegeEscalation"] is False, name
            assert context["capabilities"]["drop"] == ["ALL"], name
            tmp = next(m for m in container["volumeMounts"] if m["mountPath"] == "/tmp")
            assert "emptyDir" in volumes[tmp["name"]], f"{name}: /tmp is the writable scratch space"
            assert {"requests", "limits"} <= set(container["resources"]), name


@pytest.mark.parametrize("profile", PROFILES)
def test_probes_are_on_each_services_ops_endpoints(profile: str) -> None:
    for deployment in of_kind(rendered(profile), "Deployment"):
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        port = OPS_PORTS[component(deployment)]
        assert [p["containerPort"] for p in container["ports"]] == [port]
        assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": port}
        assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": port}
        assert container["startupProbe"]["httpGet"]["path"] == "/healthz"


def placeholder(variable: str, entry: dict[str, Any], config: dict[str, str]) -> str:
    """A variable's value in the pod: literal, from the ConfigMap, or a stand-in for a Secret's value."""
    if "value" in entry:
        return str(entry["value"])
    source = entry["valueFrom"]
    if "configMapKeyRef" in source:
        return config[source["configMapKeyRef"]["key"]]
    return "postgresql://role:password@db.example:5432/meterflow" if "DATABASE_URL" in variable else "stand-in"


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("name", sorted(SERVICES))
def test_services_understand_their_environment(profile: str, name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    objects = rendered(profile)
    (config,) = of_kind(objects, "ConfigMap")
    (deployment,) = [d for d in of_kind(objects, "Deployment") if component(d) == name]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    for key in list(os.environ):
        if key.startswith(("POLLER_", "NORMALIZER_", "WRITER_", "API_", "KAFKA_", "DATABASE_", "S3_", "AWS_")):
            monkeypatch.delenv(key)
    for variable, entry in env_of(container).items():
        monkeypatch.setenv(variable, placeholder(variable, entry, config["data"]))
    if name == "poller" and "AWS_ACCESS_KEY_ID" not in env_of(container) and STATIC_S3_KEYS_REQUIRED:
        pytest.xfail("the IAM-role profile needs the poller's optional S3 keys (boto3's credential chain, issue 13)")
    settings: Any = SERVICES[name]()
    if name == "api":
        assert (settings.host, settings.port) == ("0.0.0.0", OPS_PORTS[name])
        return
    assert (settings.ops_host, settings.ops_port) == ("0.0.0.0", OPS_PORTS[name])
    kafka = values(profile)["kafka"]
    assert settings.kafka.bootstrap_servers == kafka["bootstrapServers"]
    assert settings.kafka.topics.replication_factor == kafka["topics"]["replicationFactor"]
    if name == "normalizer":
        assert settings.data_dir.startswith("/tmp/"), "the only writable path"
        assert settings.raw_topic == kafka["topics"]["raw"]["name"]


@pytest.mark.parametrize("profile", PROFILES)
def test_each_service_reaches_only_what_it_needs(profile: str) -> None:
    objects = rendered(profile)
    chosen = values(profile)["networkPolicy"]
    policies = {component(p): p for p in of_kind(objects, "NetworkPolicy")}
    assert set(policies) == {"poller", "normalizer", "writer", "api", "migrations"}
    needs = {
        "poller": {"kafka", "s3"},
        "normalizer": {"kafka"},
        "writer": {"kafka", "postgresql"},
        "api": {"postgresql"},
    }
    for name, systems in needs.items():
        policy = policies[name]
        assert set(policy["spec"]["policyTypes"]) == {"Ingress", "Egress"}
        ports = {p["port"] for rule in policy["spec"]["egress"] for p in rule["ports"]}
        allowed = set(chosen["dns"]["ports"]) | {p for s in systems for p in chosen[s]["ports"]}
        assert ports == allowed, name
        inbound = {p["port"] for rule in policy["spec"]["ingress"] for p in rule["ports"]}
        assert inbound == {OPS_PORTS[name]}, name


@pytest.mark.parametrize("profile", ["values-production-aws.yaml", "values-production-onprem.yaml"])
def test_prometheus_rules_are_the_projects_alert_rules(profile: str) -> None:
    (rule,) = of_kind(rendered(profile), "PrometheusRule")
    expected = []
    rules = REPO / "infra/prometheus"
    for path in sorted(rules.rglob("*.yml"), key=lambda p: str(p.relative_to(rules))):
        expected += (yaml.safe_load(path.read_text()) or {}).get("groups", [])
    assert expected, "infra/prometheus holds the rule files"
    assert rule["spec"]["groups"] == expected


def test_production_profiles_use_sasl_tls_and_the_iam_role() -> None:
    aws = rendered("values-production-aws.yaml")
    (poller,) = [d for d in of_kind(aws, "Deployment") if component(d) == "poller"]
    env = env_of(poller["spec"]["template"]["spec"]["containers"][0])
    assert env["KAFKA_SECURITY_PROTOCOL"]["value"] == "SASL_SSL"
    assert "AWS_ACCESS_KEY_ID" not in env, "the IAM role, no static keys"
    (account,) = [a for a in of_kind(aws, "ServiceAccount") if component(a) == "poller"]
    assert "eks.amazonaws.com/role-arn" in account["metadata"]["annotations"]
    onprem = rendered("values-production-onprem.yaml")
    for name, spec in pod_specs(onprem):
        env = env_of(spec["containers"][0])
        if "KAFKA_SECURITY_PROTOCOL" in env:
            assert env["KAFKA_SSL_CAFILE"]["value"].startswith("/etc/meterflow/kafka-ca/"), name


def test_hooks_run_the_cli_image_before_install_and_upgrade() -> None:
    jobs = of_kind(rendered("values.yaml"), "Job")
    assert {j["spec"]["template"]["spec"]["containers"][0]["args"][0] for j in jobs} == {"db", "topics"}
    for job in jobs:
        assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
        (container,) = job["spec"]["template"]["spec"]["containers"]
        assert container["image"].split("/")[-1].startswith("meterflow-cli:")
    (migrate,) = [j for j in jobs if j["spec"]["template"]["spec"]["containers"][0]["args"] == ["db", "migrate"]]
    env = env_of(migrate["spec"]["template"]["spec"]["containers"][0])
    owner = values("values.yaml")["postgresql"]["owner"]["existingSecret"]
    assert env["DATABASE_URL"]["valueFrom"]["secretKeyRef"]["name"] == owner


def test_api_and_writer_use_separate_database_credentials() -> None:
    objects = rendered("values.yaml")
    secrets = {}
    for deployment in of_kind(objects, "Deployment"):
        env = env_of(deployment["spec"]["template"]["spec"]["containers"][0])
        for variable in ("API_DATABASE_URL", "WRITER_DATABASE_URL"):
            if variable in env:
                secrets[variable] = env[variable]["valueFrom"]["secretKeyRef"]["name"]
    assert len(set(secrets.values())) == 2, secrets


def test_the_chart_has_one_rules_source() -> None:
    link = CHART / "files/prometheus"
    assert link.is_symlink() and link.resolve() == (REPO / "infra/prometheus").resolve()
    assert Path(CHART / "Chart.yaml").exists()


@pytest.mark.parametrize(
    "setting",
    [
        "kafka.securityProtocol=SASL",
        "s3.auth=anonymous",
        "securityContext.readOnlyRootFilesystem=false",
        "podSecurityContext.runAsUser=0",
        "api.extraEnv.API_DATABASE_URL=postgresql://a:b@c/d",
        "kafka.topics.raw.partitions=0",
    ],
)
def test_the_values_schema_refuses_what_the_chart_does_not_support(setting: str) -> None:
    result = template("--set", setting)
    assert result.returncode != 0
    assert "don't meet the specifications of the schema" in result.stderr, result.stderr
