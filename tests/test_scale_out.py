"""The scale-out manifests are valid and deploy the same Serve config: the cluster launcher config
against Ray's own schema, the KubeRay RayService structurally and its serveConfigV2 against Ray
Serve's schema and configs/serve/gpu.yaml."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import ray
import yaml

from commands.launcher import read_serve_config
from commands.ray_env import RayEnv, load_ray_env
from core.config import PROJECT_ROOT

GPU_SERVE = PROJECT_ROOT / "configs" / "serve" / "gpu.yaml"


def test_cluster_launcher_config_validates_against_rays_schema():
    schema = json.loads((Path(ray.__file__).parent / "autoscaler" / "ray-schema.json").read_text())
    doc = yaml.safe_load((PROJECT_ROOT / "deployments" / "cluster" / "ray-cluster.yaml").read_text())
    jsonschema.validate(doc, schema)
    types = doc["available_node_types"]
    assert types[doc["head_node_type"]]["resources"]["GPU"] == 0  # no GPU work on the head
    assert any(t["resources"].get("GPU", 0) >= 1 and t.get("max_workers", 0) > 0 for t in types.values())
    broken = {**doc, "available_node_types": {"head": {"resources": {"CPU": 1}}}}  # node_config missing
    try:
        jsonschema.validate(broken, schema)
    except jsonschema.ValidationError:
        pass
    else:
        raise AssertionError("the schema check accepts a node type without node_config")


def test_rayservice_deploys_the_gpu_serve_config_with_gpu_and_cpu_groups(tmp_path):
    doc = yaml.safe_load((PROJECT_ROOT / "deployments" / "kuberay" / "rayservice.yaml").read_text())
    assert doc["apiVersion"] == "ray.io/v1" and doc["kind"] == "RayService"
    serve_config = yaml.safe_load(doc["spec"]["serveConfigV2"])
    assert serve_config == yaml.safe_load(GPU_SERVE.read_text())  # the same Serve config, verbatim
    embedded = tmp_path / "serve.yaml"
    embedded.write_text(doc["spec"]["serveConfigV2"])
    read_serve_config(embedded, "gpu")  # Ray Serve's schema + our unknown-key check
    cluster = doc["spec"]["rayClusterConfig"]
    assert cluster["enableInTreeAutoscaling"] is True
    head = cluster["headGroupSpec"]["template"]["spec"]["containers"][0]
    assert {p["containerPort"] for p in head["ports"]} >= {8000, 9000}
    assert any(e["name"] == "ADRISK_API_KEYS" for e in head["env"])  # 0.0.0.0 needs keys
    groups = {g["groupName"]: g for g in cluster["workerGroupSpecs"]}
    gpu = groups["gpu-workers"]["template"]["spec"]["containers"][0]["resources"]
    assert gpu["limits"]["nvidia.com/gpu"] == "1"
    for group in groups.values():
        assert group["minReplicas"] <= group["replicas"] <= group["maxReplicas"]


def test_gpu_serve_config_autoscales_with_whole_gpus_for_the_llm_and_fractions_for_encoders():
    doc = read_serve_config(GPU_SERVE, "gpu")
    deployments = {d["name"]: d for d in doc["applications"][0]["deployments"]}
    assert deployments["LlmDiagnoser"]["ray_actor_options"]["num_gpus"] == 1
    for name in ("ImageRiskModel", "TextEncoder"):
        assert 0 < deployments[name]["ray_actor_options"]["num_gpus"] < 1
    assert "num_gpus" not in deployments["Ingress"]["ray_actor_options"]
    for d in deployments.values():
        scaling = d["autoscaling_config"]
        assert 1 <= scaling["min_replicas"] <= scaling["max_replicas"] and "num_replicas" not in d


def test_every_ray_process_in_both_manifests_gets_the_cluster_serve_environment():
    wanted = load_ray_env().cluster
    assert wanted["RAY_SERVE_ENABLE_DIRECT_INGRESS"] == "0"  # traffic enters through the proxies there
    doc = yaml.safe_load((PROJECT_ROOT / "deployments" / "kuberay" / "rayservice.yaml").read_text())
    cluster = doc["spec"]["rayClusterConfig"]
    pods = [cluster["headGroupSpec"]] + cluster["workerGroupSpecs"]
    for pod in pods:
        container = pod["template"]["spec"]["containers"][0]
        env = {e["name"]: e.get("value") for e in container.get("env", [])}
        assert {k: env.get(k) for k in wanted} == wanted, container["name"]
    launcher = yaml.safe_load((PROJECT_ROOT / "deployments" / "cluster" / "ray-cluster.yaml").read_text())
    starts = [c for c in launcher["head_start_ray_commands"] + launcher["worker_start_ray_commands"]
              if "ray start" in c]
    assert len(starts) == 2
    for command in starts:
        assigned = dict(tok.split("=", 1) for tok in command.split("ray start")[0].split(";")[-1].split())
        assert {k: assigned.get(k) for k in wanted} == wanted, command


def test_ray_env_refuses_what_is_not_a_ray_variable():
    import pydantic

    try:
        RayEnv.model_validate({"cluster": {"PATH": "/tmp"}, "local": {}})
    except pydantic.ValidationError as err:
        assert "not a Ray variable" in str(err)
    else:
        raise AssertionError("a non-Ray variable was accepted")


def test_every_pod_of_the_rayservice_takes_the_store_from_the_secret():
    """Every ingress, on any node, must write to the same PostgreSQL: the URL and user come from the
    adrisk-store Secret (never a literal), the password from its mounted file; the head's init
    container migrates the schema with the same settings."""
    doc = yaml.safe_load((PROJECT_ROOT / "deployments" / "kuberay" / "rayservice.yaml").read_text())
    cluster = doc["spec"]["rayClusterConfig"]
    pods = [cluster["headGroupSpec"]] + cluster["workerGroupSpecs"]
    containers = [(pod, c) for pod in pods for c in pod["template"]["spec"]["containers"]]
    head = cluster["headGroupSpec"]
    containers += [(head, c) for c in head["template"]["spec"]["initContainers"]]
    for pod, container in containers:
        env = {e["name"]: e for e in container["env"]}
        for name, key in (("ADRISK_STORE_URL", "url"), ("PGUSER", "user")):
            assert "value" not in env[name], (container["name"], name)
            assert env[name]["valueFrom"]["secretKeyRef"] == {"name": "adrisk-store", "key": key}
        password = env["ADRISK_STORE_PASSWORD_FILE"]["value"]
        mounts = {m["name"]: m for m in container["volumeMounts"]}
        assert password.startswith(mounts["store-secret"]["mountPath"] + "/") and mounts["store-secret"]["readOnly"]
        volumes = {v["name"]: v for v in pod["template"]["spec"]["volumes"]}
        secret = volumes["store-secret"]["secret"]
        assert secret["secretName"] == "adrisk-store"
        assert {i["path"] for i in secret["items"]} == {password.rsplit("/", 1)[1]}
    migrate = cluster["headGroupSpec"]["template"]["spec"]["initContainers"][0]
    assert migrate["command"][:3] == ["adrisk", "store", "migrate"]
