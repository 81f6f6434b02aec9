"""The `adrisk` command line."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from core.config import PROJECT_ROOT, load_config, resolve_project_path

DEFAULT_DATA = PROJECT_ROOT.parent / "shared" / "data"
LOST_EXIT_DEADLINE_S = 15.0  # `adrisk serve` exits at most this long after its cluster or app died


def _encoder(profile: str):
    """The profile's text encoder, using every core (a replica uses `torch_threads`; training owns the machine)."""
    import os

    from models.text_encoder import SentenceTransformerEncoder

    config = load_config(profile)
    threads = max(config.text_encoder.torch_threads or 1, os.cpu_count() or 1)  # the gpu profile sets none
    encoder = SentenceTransformerEncoder(config.text_encoder.model_copy(update={"torch_threads": threads}))
    encoder.setup()
    return config, encoder


def _cache_dir(args: argparse.Namespace) -> Path | None:
    return Path(args.cache_dir) if getattr(args, "cache_dir", None) else None


def cmd_train_heads(args: argparse.Namespace) -> int:
    from models.training import compare_on_heldout, feedback_examples, train_heads

    config, encoder = _encoder(args.profile)
    current = Path(args.current) if args.current else resolve_project_path(config.heads.text)
    if not args.with_feedback:
        out = Path(args.out) if args.out else current
        manifest = train_heads(config, Path(args.data), out, encoder.encode, limit=args.limit, version=args.version,
                               cache_dir=_cache_dir(args))
        print(f"wrote head set {manifest['name']}@{manifest['version']} to {out}")
        return 0
    # With feedback: train a candidate beside the current heads; it ships only if it beats them.
    from core.store_factory import open_store, store_config_for

    extra = feedback_examples(open_store(store_config_for(args.with_feedback, config.store)))
    print(f"{len(extra)} text rows from reviewer verdicts in {args.with_feedback}")
    out = Path(args.out) if args.out else resolve_project_path(f"var/heads/{current.name}-v{args.version}")
    held: dict = {}
    train_heads(config, Path(args.data), out, encoder.encode, limit=args.limit, version=args.version,
                extra=extra, heldout=held, cache_dir=_cache_dir(args))
    comparison = compare_on_heldout(config, out, current, held["examples"], held["embeddings"], held["split"])
    (out / "comparison.json").write_text(json.dumps(comparison, indent=2) + "\n")
    print(f"{'head':<22} {'current':>8} {'candidate':>10} {'held-out rows (feedback)':>26}")
    for name, m in comparison["heads"].items():
        print(f"{name:<22} {m['current']:>8.4f} {m['candidate']:>10.4f} {m['heldout_rows']:>18} ({m['feedback_rows']})")
    means = comparison["mean_auprc"]
    print(f"{'mean AUPRC':<22} {means['current']:>8.4f} {means['candidate']:>10.4f}")
    if not comparison["beats_current"]:
        print(f"candidate {out} does not beat the current heads: not shipped")
        return 0
    if args.no_ship:
        print(f"candidate {out} beats the current heads; --no-ship: left unshipped")
        return 0
    previous = current.with_name(current.name + ".prev")
    shutil.rmtree(previous, ignore_errors=True)
    shutil.copytree(current, previous)
    shutil.rmtree(current)
    shutil.copytree(out, current)
    print(f"shipped: {out} → {current} (previous kept in {previous}); restart or redeploy to serve it")
    return 0


def cmd_train_page_head(args: argparse.Namespace) -> int:
    from models.page_phishing import report, train_page_head

    config = load_config(args.profile)
    out = Path(args.out) if args.out else resolve_project_path(config.heads.page)
    manifest = train_page_head(Path(args.data), out)
    print(f"{report(manifest)}\nwrote {out}")
    return 0


def cmd_quality(args: argparse.Namespace) -> int:
    """The quality record of every category, as the README and `GET /v1/taxonomy` carry it."""
    from models.quality import load_record, render_markdown

    config = load_config(args.profile)
    record = load_record(config, resolve_project_path(config.heads.text), resolve_project_path(config.heads.page))
    if args.json:
        print(json.dumps({c: q.model_dump() for c, q in record.items()}, indent=2))
    else:
        print(render_markdown(record))
    return 0


def cmd_prepare(args: argparse.Namespace) -> int:
    """Make sure the profile's head set exists and matches the taxonomy; train it if not."""
    from models.heads import HeadSet, prompts_digest

    config = load_config(args.profile)
    heads_dir = resolve_project_path(config.heads.text)
    zero_shot = heads_dir / "zero_shot.json"
    current = zero_shot.exists() and json.loads(zero_shot.read_text()).get(
        "prompts_sha256"
    ) == prompts_digest(config.taxonomy)
    if not (heads_dir / "manifest.json").exists() or not current:
        print(f"head set at {heads_dir} is missing or stale (taxonomy prompts changed); training ...")
        args.out, args.limit, args.version = None, None, "1"
        cmd_train_heads(args)
    HeadSet.load(heads_dir, config.taxonomy, config.heads.zero_shot_scale, config.heads.zero_shot_bias)
    page_dir = resolve_project_path(config.heads.page)
    if not (page_dir / "manifest.json").exists():
        print(f"no page-phishing head at {page_dir}; training ...")
        args.out = None
        cmd_train_page_head(args)
    from models.page_phishing import PagePhishingHead

    PagePhishingHead.load(page_dir)
    if config.store.backend == "postgres":
        from commands.store_cli import migrate_store

        print(migrate_store(config.store))
    from models.image_models import prepare_image_models

    for line in prepare_image_models(config.image_models):  # e.g. the ONNX export, once, not per replica
        print(f"image model ready: {line}")
    if config.llm is not None and config.llm.enabled and config.llm.prepare_from_gguf:
        from models.llm_engine import convert_gguf

        print(f"LLM model ready at {convert_gguf(config.llm)}")
    print(f"profile {config.profile}: head sets ready ({heads_dir}, {page_dir})")
    return 0


def cmd_calibrate_zero_shot(args: argparse.Namespace) -> int:
    """`adrisk calibrate-zero-shot ...`: models.zero_shot_calibration with the arguments as given."""
    from models.zero_shot_calibration import main as calibrate

    return calibrate(args.rest)


def cmd_serve(args: argparse.Namespace) -> int:
    """Start Ray + the adrisk app in the foreground; Ctrl-C or SIGTERM stops everything (status 0).
    Exits with status 1 when the Ray cluster or the Serve app dies under it (commands/cluster_watch.py)."""
    import signal
    import threading

    import ray

    from commands.launcher import (
        APP_NAME,
        direct_ingress_targets,
        init_ray,
        read_serve_config,
        refuse_open_bind,
        start_local,
        stop_local,
        summarise,
    )

    host = args.host or read_serve_config(args.config, args.profile).get("http_options", {}).get("host", "127.0.0.1")
    overrides = None
    if args.store:
        from core.config import load_config
        from core.store_factory import store_config_for

        base = load_config(args.profile).store
        overrides = {"store": store_config_for(args.store, base).model_dump(mode="json")}
    if args.auth:
        from serving.auth import auth_override

        overrides = {**(overrides or {}), "auth": auth_override(args.profile, args.auth)}
    refuse_open_bind(host, args.profile, overrides)  # before anything starts
    cmd_prepare(args)
    from commands.cluster_watch import ClusterWatch, adopt_orphans, end_descendants, exit_after

    adopt_orphans()  # whatever Ray or vLLM leaves orphaned is re-parented here, and ended on exit
    init_ray(args.num_cpus)
    stop, signalled = threading.Event(), threading.Event()

    def on_signal(*_: object) -> None:
        signalled.set()
        stop.set()

    def on_lost(reason: str) -> None:
        print(f"adrisk: {reason}; stopping, exit status 1", file=sys.stderr, flush=True)
        exit_after(LOST_EXIT_DEADLINE_S)  # even if the stop hangs on what is left of the cluster
        stop.set()

    # Ray installs its own SIGTERM handler in ray.init; ours goes on top, after it and before the
    # (slow) deploy, so a stop request during start-up also ends in a clean shutdown.
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    watch = ClusterWatch(on_lost)
    try:
        url = start_local(
            profile=args.profile, serve_config=args.config, host=args.host, port=args.port, grpc_port=args.grpc_port,
            num_cpus=args.num_cpus, overrides=overrides,
        )
        if not stop.is_set():
            watch.watch_app(APP_NAME)
            print(f"adrisk ready at {url}  (docs: {url}/docs)\n{summarise(url)}", flush=True)
            direct = direct_ingress_targets()
            if direct["http"]:
                host_only = url.rsplit(":", 1)[0]
                print(f"direct ingress (skips the proxy hop; ports move if the replica restarts): "
                      f"HTTP {', '.join(f'{host_only}:{p}' for p in direct['http'])}, "
                      f"gRPC {', '.join(f'port {p}' for p in direct['grpc'])}", flush=True)
            print(f"Ray cluster at {ray.get_runtime_context().gcs_address} (this process's own: it stops with it)",
                  flush=True)
        stop.wait()
    finally:
        watch.close()
        print("stopping adrisk ...", flush=True)
        try:
            stop_local(cluster_alive=not watch.cluster_gone)
        finally:
            left = end_descendants()
            if left:
                print(f"ended {len(left)} process(es) still running below adrisk serve: {', '.join(left)}",
                      file=sys.stderr, flush=True)
    return 1 if watch.lost and not signalled.is_set() else 0


def cmd_registry(args: argparse.Namespace) -> int:
    from models.registry import Registry, RegistryError

    config = load_config(args.profile)
    registry = Registry.from_config(config)
    if args.action == "register":
        if not (args.component and args.version and args.artifact):
            raise SystemExit("register needs --component, --version and --artifact")
        into = Path(args.into) if args.into else None
        try:
            m = registry.register(args.component, args.version, args.artifact, name=args.name,
                                  profile=args.profile, notes=args.notes, into=into)
        except (RegistryError, FileNotFoundError) as exc:
            raise SystemExit(str(exc)) from None
        print(f"registered {m.component} {m.ident} ({m.sha256[:24]}…)")
        return 0
    failed = 0
    for m in registry.manifests(args.component):
        status = "ok"
        if args.action == "verify":
            try:
                registry.verify(m)
            except (RegistryError, FileNotFoundError) as exc:
                status, failed = f"MISMATCH: {exc}", failed + 1
        print(f"{m.component:<13} {m.version:<8} {m.name:<40} {m.artifact:<48} {status}")
    return 1 if failed else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="adrisk", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    train = sub.add_parser("train-heads", help="train text risk heads on ../shared/data")
    train.add_argument("--profile", default="cpu")
    train.add_argument("--data", default=str(DEFAULT_DATA))
    train.add_argument("--out", default=None, help="output dir (default: the profile's heads.text)")
    train.add_argument("--limit", type=int, default=None, help="train on a random subset (tests)")
    train.add_argument("--version", default="1")
    train.add_argument("--cache-dir", default=None,
                       help="embedding cache directory (default var/cache; tests give a temporary one)")
    train.add_argument("--with-feedback", metavar="STORE", default=None,
                       help="add reviewer verdicts from this decision log (SQLite path or postgresql:// URL); "
                       "ship only if it beats the current heads")
    train.add_argument("--no-ship", action="store_true", help="with --with-feedback: never replace the current heads")
    train.add_argument("--current", default=None,
                       help="with --with-feedback: the head set to beat and replace "
                       "(default: the profile's heads.text)")
    train.set_defaults(func=cmd_train_heads)

    page = sub.add_parser("train-page-head", help="train the landing-page phishing head (phishing_urls.csv)")
    page.add_argument("--profile", default="cpu")
    page.add_argument("--data", default=str(DEFAULT_DATA))
    page.add_argument("--out", default=None, help="output dir (default: the profile's heads.page)")
    page.set_defaults(func=cmd_train_page_head)

    quality = sub.add_parser("quality", help="print every category's quality record (README table)")
    quality.add_argument("--profile", default="cpu")
    quality.add_argument("--json", action="store_true", help="JSON, as /v1/taxonomy carries it")
    quality.set_defaults(func=cmd_quality)

    prepare = sub.add_parser("prepare", help="check models, build missing/stale artifacts")
    prepare.add_argument("--profile", default="cpu")
    prepare.add_argument("--data", default=str(DEFAULT_DATA))
    prepare.set_defaults(func=cmd_prepare)

    calibrate = sub.add_parser(
        "calibrate-zero-shot", add_help=False,
        help="fit the per-category calibration of the zero-shot image model (docs/zero-shot.md); "
        "arguments as python -m models.zero_shot_calibration --help")
    calibrate.set_defaults(func=cmd_calibrate_zero_shot)
    serve = sub.add_parser("serve", help="start the service (foreground)")
    serve.add_argument("--profile", default="cpu")
    serve.add_argument("--config", default=None, help="Serve config YAML (default configs/serve/PROFILE.yaml)")
    serve.add_argument("--host", default=None)
    serve.add_argument("--port", type=int, default=None)
    serve.add_argument("--grpc-port", type=int, default=None, help="gRPC port (default: the Serve config's, 9000)")
    serve.add_argument("--num-cpus", type=int, default=2)
    serve.add_argument("--store", default=None,
                       help="decision log: a SQLite path or a postgresql:// URL (default: the profile's)")
    serve.add_argument("--auth", choices=["keys", "off"], default=None,
                       help="override the profile's auth mode (cpu: off, loopback only; keys: every call needs a key)")
    serve.add_argument("--data", default=str(DEFAULT_DATA))
    serve.set_defaults(func=cmd_serve)

    from commands.keys_cli import add_keys_parser

    add_keys_parser(sub)

    reg = sub.add_parser("registry", help="list, verify or register model/policy versions (manifests on disk)")
    reg.add_argument("action", choices=["list", "verify", "register"])
    reg.add_argument("--component", default=None, help="text_heads, page_head, policy, text_encoder, image_model, llm")
    reg.add_argument("--version", default=None)
    reg.add_argument("--artifact", default=None, help="project path or package:<module>")
    reg.add_argument("--name", default=None)
    reg.add_argument("--notes", default="")
    reg.add_argument("--into", default=None, help="manifest directory (default: the local one, var/registry)")
    reg.add_argument("--profile", default="cpu")
    reg.set_defaults(func=cmd_registry)

    from commands.rollout_cli import add_deploy_parser

    add_deploy_parser(sub)

    from commands.store_cli import add_store_parser

    add_store_parser(sub)

    from commands.eval_cli import add_parsers

    add_parsers(sub, DEFAULT_DATA)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, rest = parser.parse_known_args(argv)
    if args.func is cmd_calibrate_zero_shot:
        args.rest = rest  # its own parser reads them
    elif rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
