"""deploy/k8s: valid against the Kubernetes schemas (kubernetes-validate, offline) and KEDA's
ScaledObject schema (vendored), and in step with compose and the stack the tests run."""

from __future__ import annotations

import json
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


def container(deployment: str) -> dict[str, Any]:
    [only] = of_kind("Deployment")[deployment]["spec"]["template"]["spec"]["containers"]
    return only


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
    assert of_kind("Deployment")["nginx"]["spec"]["template"]["spec"]["containers"][0]["image"] == "ageweb-proxy:latest"


def test_beat_is_exactly_one_and_never_two_during_a_rollout() -> None:
    beat = of_kind("Deployment")["beat"]["spec"]
    assert beat["replicas"] == 1 and beat["strategy"] == {"type": "Recreate"}
    assert "beat" not in of_kind("ScaledObject") and "beat" not in of_kind("HorizontalPodAutoscaler")


def test_no_secret_is_written_in_the_manifests_and_every_app_pod_reads_them_from_one_secret() -> None:
    assert not of_kind("Secret")
    config = of_kind("ConfigMap")["ageweb-config"]["data"]
    assert not {"SECRET_KEY", "DATABASE_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} & set(config)
    assert config["AWS_STORAGE_BUCKET_NAME"] and "MEDIA_ROOT" not in config  # photos in the object store
    for name in ("web", "worker-cpu", "worker-gpu", "worker-live", "beat"):
        assert {"secretRef": {"name": "ageweb-secrets"}} in container(name)["envFrom"]
        assert not any(m["mountPath"].startswith("/app/media") for m in container(name).get("volumeMounts", []))
