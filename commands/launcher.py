"""Start and stop adrisk on a local Ray (used by `adrisk serve`, the tests and the benchmarks)."""

from __future__ import annotations

import copy
import json
import shutil
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from core.config import CONFIG_DIR, PROJECT_ROOT, check_proxy_timeouts, load_config

APP_NAME = "adrisk"


def read_serve_config(path: str | Path | None, profile: str) -> dict[str, Any]:
    path = Path(path) if path else CONFIG_DIR / "serve" / f"{profile}.yaml"
    with path.open(encoding="utf-8") as fh:
        doc = yaml.safe_load(fh)
    from ray.serve.schema import DeploymentSchema, ServeDeploySchema

    ServeDeploySchema.model_validate(doc)
    # Ray's schema ignores unknown keys; a typo such as `num_replicaz` must not pass silently.
    known = set(DeploymentSchema.model_fields)
    for app in doc.get("applications", []):
        for dep in app.get("deployments", []):
            unknown = set(dep) - known
            if unknown:
                raise ValueError(f"{path}: deployment {dep.get('name')!r} has unknown keys {sorted(unknown)}")
    return doc


def deployment_options(app_doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    options = {}
    for dep in app_doc.get("deployments", []):
        dep = copy.deepcopy(dep)
        options[dep.pop("name")] = dep
    return options


def start_local(
    profile: str = "cpu",
    serve_config: str | Path | None = None,
    host: str | None = None,
    port: int | None = None,
    grpc_port: int | None = None,
    overrides: dict[str, Any] | None = None,
    num_cpus: int = 2,
    ready_timeout_s: float = 300.0,
) -> str:
    """ray.init + serve.start + serve.run; returns the base URL once /readyz answers 200."""
    from ray import serve

    from deployments.app import AppArgs, build_app

    doc = read_serve_config(serve_config, profile)
    http = dict(doc.get("http_options") or {})
    if host:
        http["host"] = host
    if port is not None:
        http["port"] = port
    refuse_open_bind(http.get("host", "127.0.0.1"), profile, overrides)
    check_proxy_timeouts(load_config(profile, overrides), doc)  # the ingress answers before the proxy's 408
    grpc = dict(doc.get("grpc_options") or {})
    if grpc and grpc_port is not None:
        grpc["port"] = grpc_port
    app_doc = next(a for a in doc["applications"] if a["name"] == APP_NAME)
    init_ray(num_cpus)
    serve.start(http_options=http, grpc_options=grpc or None, proxy_location=doc.get("proxy_location", "HeadOnly"))
    args = AppArgs(
        profile=app_doc.get("args", {}).get("profile", profile),
        overrides=overrides or {},
        deployment_options=deployment_options(app_doc),
    )
    serve.run(build_app(args), name=APP_NAME, route_prefix=app_doc.get("route_prefix", "/"),
              logging_config=app_doc.get("logging_config"))
    url = f"http://{http.get('host', '127.0.0.1')}:{http.get('port', 8000)}"
    wait_ready(url, ready_timeout_s)
    return url


def run_extra_ingress(
    name: str, route_prefix: str, profile: str = "cpu", overrides: dict[str, Any] | None = None,
    ingress_options: dict[str, Any] | None = None,
) -> None:
    """A second ingress (e.g. a candidate policy) sharing the main app's model replicas."""
    from ray import serve

    from deployments.app import AppArgs, build_app

    args = AppArgs(
        profile=profile, overrides=overrides or {}, models_app=APP_NAME,
        deployment_options={"Ingress": ingress_options or {}},
    )
    serve.run(build_app(args), name=name, route_prefix=route_prefix)


def refuse_open_bind(host: str, profile: str, overrides: dict[str, Any] | None) -> None:
    """`auth: off` serves loopback callers only: no HTTP bind beyond loopback (serving/auth.py).
    With auth on and no key yet, a warning: the service starts and refuses protected calls."""
    import sys

    from serving.auth import check_bind

    warning = check_bind(host, load_config(profile, overrides))
    if warning and warning not in _warned:  # `adrisk serve` checks before set-up and again at start
        _warned.add(warning)
        print(warning, file=sys.stderr, flush=True)


_warned: set[str] = set()


_session: dict[str, str] = {}  # what this process started and must clean up


def init_ray(num_cpus: int = 2) -> None:
    """A local Ray sized for this machine, unless this process already joined one."""
    import ray

    from commands.ray_env import apply_ray_env

    if not ray.is_initialized():
        apply_ray_env("local")  # inherited by the raylet, hence by the controller, proxies and replicas
        # One fresh Prometheus multiprocess directory per session: every replica writes its
        # metrics there and the ingress merges them at /metrics (core/metrics.py).
        metrics_dir = tempfile.mkdtemp(prefix="adrisk-metrics-")
        _session["metrics_dir"] = metrics_dir
        ray.init(
            num_cpus=num_cpus,
            include_dashboard=False,
            runtime_env={"env_vars": {"PYTHONPATH": str(PROJECT_ROOT), "HF_HUB_OFFLINE": "1",
                                      "TOKENIZERS_PARALLELISM": "false", "PROMETHEUS_MULTIPROC_DIR": metrics_dir}},
            log_to_driver=False,
        )


def wait_ready(url: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    last = ""
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/readyz", timeout=5) as resp:
                if resp.status == 200:
                    return
        except urllib.error.HTTPError as exc:
            last = f"HTTP {exc.code}"
        except OSError as exc:
            last = str(exc)
        time.sleep(0.5)
    raise TimeoutError(f"adrisk at {url} not ready after {timeout_s}s ({last})")


def stop_local(cluster_alive: bool = True) -> None:
    """Stop Serve and this process's Ray (`cluster_alive=False`: the raylet or GCS is already gone,
    so only this process's side is shut down; there is no controller left to ask)."""
    import ray
    from ray import serve

    try:
        if cluster_alive:
            serve.shutdown()
    finally:
        ray.shutdown()
        metrics_dir = _session.pop("metrics_dir", None)
        if metrics_dir:
            shutil.rmtree(metrics_dir, ignore_errors=True)


def direct_ingress_targets(app_name: str = APP_NAME) -> dict[str, list[int]]:
    """Ports the ingress replicas serve on themselves when Ray Serve's direct ingress is on.

    With `RAY_SERVE_ENABLE_DIRECT_INGRESS=1` (or `RAY_SERVE_THROUGHPUT_OPTIMIZED=1`) each ingress
    replica runs its own HTTP and gRPC server (ports from 30000 and 40000), so a client or a load
    balancer skips the proxy hop. Empty lists when the feature is off (the proxy is the only door).
    """
    import ray
    from ray.serve.context import _get_global_client

    groups = ray.get(_get_global_client()._controller.get_target_groups.remote(app_name), timeout=30)
    ports: dict[str, list[int]] = {"http": [], "grpc": []}
    for group in groups:
        key = "grpc" if str(group.protocol.value).lower() == "grpc" else "http"
        # Proxies appear here too (always when the feature is off); keep the replicas' own servers.
        ports[key] += sorted(t.port for t in group.targets if t.name.startswith("SERVE_REPLICA"))
    return ports


def summarise(url: str) -> str:
    with urllib.request.urlopen(f"{url}/readyz", timeout=5) as resp:
        return json.dumps(json.loads(resp.read()), indent=2)
