"""deploy/k8s: valid against the Kubernetes schemas (kubernetes-validate, offline) and KEDA's
ScaledObject schema (vendored), and in step with compose and the stack the tests run."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from harness import stack

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
KUBERNETES_VERSION = "1.37.0"
NOT_KUBERNETES = {"Kustomization", "ScaledObject"}  # kustomize's own file; KEDA's CRD (checked below)


def documents() -> list[dict[str, Any]]:
    found = []
    for path in sorted(K8S.glob("*.yaml")):
        found += [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    return found


def of_kind(kind: str) -> dict[str, dict[str, Any]]:
    return {doc["metadata"]["name"]: doc for doc in documents() if doc["kind"] == kind}


def pods() -> dict[str, dict[str, Any]]:
    """Every pod template (Deployments and the migrate Job), by its owner's name."""
    owners = {**of_kind("Deployment"), **of_kind("Job")}
    return {name: doc["spec"]["template"]["spec"] for name, doc in owners.items()}


def container(deployment: str, name: str | None = None) -> dict[str, Any]:
    """The app's container of a Deployment (the first; web's pod also carries its nginx), or the one named."""
    found = of_kind("Deployment")[deployment]["spec"]["template"]["spec"]["containers"]
    return found[0] if name is None else next(c for c in found if c["name"] == name)


def env(container: dict[str, Any]) -> dict[str, str]:
    return {item["name"]: item["value"] for item in container.get("env", [])}


def queues(deployment: str) -> list[str]:
    command = container(deployment)["command"]
    return str(command[command.index("-Q") + 1]).split(",")


@pytest.mark.parametrize("doc", [d for d in documents() if d["kind"] not in NOT_KUBERNETES], ids=lambda d: d["kind"])
def test_each_manifest_follows_the_kubernetes_schema_strictly(doc: dict[str, Any]) -> None:
    kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)  # raises on any error


def test_the_kustomization_lists_every_manifest_and_namespaces_them() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    files = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(kustomization["resources"]) == files
    assert {d["metadata"].get("namespace", "ageweb") for d in documents() if d["kind"] != "Kustomization"} == {"ageweb"}


def test_keda_scaled_objects_follow_their_schema_and_scale_workers_on_the_lists_they_read() -> None:
    schema = json.loads((ROOT / "tests" / "web" / "schemas" / "keda-scaledobject.json").read_text())
    scaled = of_kind("ScaledObject")
    assert set(scaled) == {"worker-cpu", "worker-gpu", "worker-live"}
    deployments = of_kind("Deployment")
    for doc in scaled.values():
        jsonschema.validate(doc, schema)
        target = doc["spec"]["scaleTargetRef"]["name"]
        assert target in deployments
        [trigger] = doc["spec"]["triggers"]
        assert trigger["type"] == "redis" and trigger["metadata"]["listName"] in queues(target)


def test_the_vendored_keda_schema_refuses_what_keda_refuses() -> None:
    schema = json.loads((ROOT / "tests" / "web" / "schemas" / "keda-scaledobject.json").read_text())
    good = of_kind("ScaledObject")["worker-cpu"]
    number = json.loads(json.dumps(good))
    number["spec"]["triggers"][0]["metadata"]["listLength"] = 10  # KEDA's metadata is strings only
    no_list = json.loads(json.dumps(good))
    del no_list["spec"]["triggers"][0]["metadata"]["listName"]
    for bad in (number, no_list):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, schema)


def test_gpu_workers_take_one_gpu_each_on_gpu_nodes_in_one_process() -> None:
    pod = of_kind("Deployment")["worker-gpu"]["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    worker = container("worker-gpu")
    assert worker["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert worker["command"][worker["command"].index("--concurrency") + 1] == "1"
    assert {"name": "AGEWEB_RUNTIME", "value": "keras"} in worker["env"]


def test_the_pods_run_what_compose_and_the_stack_run() -> None:
    compose = yaml.safe_load((ROOT / "docker" / "compose.yml").read_text())["services"]
    assert container("web")["command"] == compose["web"]["command"]
    assert container("beat")["command"] == compose["beat"]["command"]
    [job] = of_kind("Job").values()
    assert job["spec"]["template"]["spec"]["containers"][0]["command"] == compose["migrate"]["command"]
    for worker in ("worker-cpu", "worker-gpu"):
        assert queues(worker) == list(stack.WORKER_QUEUES)
    assert queues("worker-live") == ["live"]
    assert container("web", "nginx")["image"].startswith("ageweb-proxy:")


def test_beat_is_exactly_one_and_never_two_during_a_rollout() -> None:
    beat = of_kind("Deployment")["beat"]["spec"]
    assert beat["replicas"] == 1 and beat["strategy"] == {"type": "Recreate"}
    assert "beat" not in of_kind("ScaledObject") and "beat" not in of_kind("HorizontalPodAutoscaler")


def test_no_secret_is_written_in_the_manifests_and_every_app_pod_reads_them_from_one_secret() -> None:
    assert not of_kind("Secret")
    config = of_kind("ConfigMap")["ageweb-config"]["data"]
    assert not {"SECRET_KEY", "DATABASE_URL", "REDIS_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} & set(config)
    assert config["AWS_STORAGE_BUCKET_NAME"] and "MEDIA_ROOT" not in config  # photos in the object store
    for name in ("web", "worker-cpu", "worker-gpu", "worker-live", "beat"):
        assert {"secretRef": {"name": "ageweb-secrets"}} in container(name)["envFrom"]
        assert not any(m["mountPath"].startswith("/app/media") for m in container(name).get("volumeMounts", []))


def test_every_container_runs_unprivileged_on_a_read_only_root_without_a_service_account_token() -> None:
    for owner, pod in pods().items():
        assert pod["automountServiceAccountToken"] is False, owner
        assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] != 0, owner
        writable = {v["name"] for v in pod.get("volumes", []) if "emptyDir" in v}
        for box in pod["containers"]:
            where = f"{owner}/{box['name']}"
            assert box["securityContext"] == {
                "allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                "capabilities": {"drop": ["ALL"]}, "runAsNonRoot": True,
                **({"runAsUser": 101, "runAsGroup": 101} if box["name"] == "nginx" else {}),
            }, where  # fmt: skip
            mounts = {m["mountPath"]: m["name"] for m in box.get("volumeMounts", [])}
            needed = ["/tmp"]
            command = box.get("command", [])
            if "worker" in command or "gunicorn" in command:
                needed.append(of_kind("ConfigMap")["ageweb-config"]["data"]["PROMETHEUS_MULTIPROC_DIR"])
            for path in needed:
                assert mounts.get(path) in writable, f"{where}: {path} is not an emptyDir"


def test_the_proxy_image_writes_only_where_the_pod_mounts_an_empty_dir() -> None:
    nginx_conf = (ROOT / "docker" / "nginx" / "nginx.conf").read_text()
    written = set(re.findall(r"(?:pid|_temp_path) (/[\w/]+?)/[\w.]+;", nginx_conf))
    entrypoint = (ROOT / "docker" / "nginx" / "entrypoint.sh").read_text()
    assert written == {"/tmp/nginx"} and "out=/tmp/nginx/conf.d" in entrypoint  # /tmp: an emptyDir (above)
    assert "include /tmp/nginx/conf.d/*.conf;" in nginx_conf and "\nuser " not in nginx_conf


def test_images_are_pinned_to_the_release_never_latest() -> None:
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    for owner, pod in pods().items():
        for box in pod["containers"]:
            name, _, tag = box["image"].partition(":")
            assert tag == (f"{version}-gpu" if owner == "worker-gpu" else version), f"{owner}: {box['image']}"
            assert name in {"ageweb", "ageweb-proxy"}
    assert "release=$VERSION" in (ROOT / "docker" / "build-images.sh").read_text()  # what make images tags


def test_tls_ends_at_the_pods_nginx_with_the_secret_s_certificate_and_plain_http_only_redirects() -> None:
    nginx, pod = container("web", "nginx"), pods()["web"]
    settings = env(nginx)
    assert settings["NGINX_PORT"] == "8443 ssl" and settings["NGINX_REDIRECT_PORT"] == "8080"
    [tls] = [v for v in pod["volumes"] if v["name"] == "tls"]
    mount = next(m for m in nginx["volumeMounts"] if m["name"] == "tls")
    assert tls["secret"]["secretName"] == "ageweb-tls" and mount["readOnly"] is True
    assert settings["NGINX_TLS_CERTIFICATE"].startswith(mount["mountPath"] + "/")
    assert settings["NGINX_TLS_CERTIFICATE_KEY"].startswith(mount["mountPath"] + "/")
    assert nginx["readinessProbe"]["httpGet"]["scheme"] == "HTTPS"
    template = (ROOT / "docker" / "nginx" / "tls.conf.template").read_text()
    redirect = template[template.index("server {") :]
    assert redirect.count("location") == 1 and "return 308 https://$host$request_uri;" in redirect
    [edge] = of_kind("Service").values()
    assert edge["spec"]["type"] == "LoadBalancer" and edge["spec"]["externalTrafficPolicy"] == "Local"
    assert {(p["port"], p["targetPort"]) for p in edge["spec"]["ports"]} == {(443, "https"), (80, "http")}
    assert edge["spec"]["selector"] == pod.get(
        "selector", of_kind("Deployment")["web"]["spec"]["selector"]["matchLabels"]
    )


def test_gunicorn_believes_forwarded_headers_from_its_own_pod_s_nginx_alone() -> None:
    assert env(container("web"))["FORWARDED_ALLOW_IPS"] == "127.0.0.1"
    assert env(container("web", "nginx"))["AGEWEB_UPSTREAM"] == "127.0.0.1:8000"
    [policy] = of_kind("NetworkPolicy").values()
    for rule in policy["spec"]["ingress"]:
        if any(p["port"] == 8000 for p in rule["ports"]):
            assert rule["from"], "gunicorn's port open to everyone"


def test_probes_of_the_app_name_a_host_django_allows() -> None:
    allowed = of_kind("ConfigMap")["ageweb-config"]["data"]["ALLOWED_HOSTS"].split(",")
    web = container("web")
    for probe in (web["readinessProbe"], web["livenessProbe"]):
        assert {"name": "Host", "value": allowed[0]} in probe["httpGet"]["httpHeaders"]


def test_redis_asks_for_a_password_that_the_app_and_keda_read_from_the_secret() -> None:
    assert "REDIS_URL" not in of_kind("ConfigMap")["ageweb-config"]["data"]
    for doc in of_kind("ScaledObject").values():
        [trigger] = doc["spec"]["triggers"]
        assert trigger["metadata"]["username"] == "ageweb"
        assert trigger["metadata"]["passwordFromEnv"] == "REDIS_PASSWORD"
        target = doc["spec"]["scaleTargetRef"]["name"]
        assert {"secretRef": {"name": "ageweb-secrets"}} in container(target)["envFrom"]


def test_each_worker_pod_serves_its_own_metrics_where_prometheus_is_told_to_scrape() -> None:
    for name in ("worker-cpu", "worker-gpu", "worker-live"):
        template = of_kind("Deployment")[name]["spec"]["template"]
        port = env(container(name))["AGEWEB_WORKER_METRICS_PORT"]
        annotations = template["metadata"]["annotations"]
        assert annotations["prometheus.io/scrape"] == "true" and annotations["prometheus.io/port"] == port
        assert {"name": "metrics", "containerPort": int(port)} in container(name)["ports"]
    gpu = yaml.safe_load((ROOT / "docker" / "compose.gpu.yml").read_text())["services"]["worker"]
    assert gpu["environment"]["AGEWEB_WORKER_METRICS_PORT"] == "9808" and gpu["environment"]["PROMETHEUS_MULTIPROC_DIR"]
    web = yaml.safe_load((ROOT / "docker" / "compose.yml").read_text())["x-app"]["environment"]
    assert "AGEWEB_WORKER_METRICS_PORT" not in web  # one host: the web's /metrics adds its workers up
