"""`adrisk train-heads` on a small subset writes a loadable, versioned head set with metrics."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from core.config import PROJECT_ROOT, load_config, resolve_project_path
from models.heads import HeadSet

CONFIG = load_config("cpu")


def test_committed_head_set_loads_with_heldout_metrics():
    heads = HeadSet.load(resolve_project_path(CONFIG.heads.text), CONFIG.taxonomy,
                         CONFIG.heads.zero_shot_scale, CONFIG.heads.zero_shot_bias)
    assert {"scam_fraud", "hate_harassment", "adult_sexual"} <= set(heads.trained)
    for info in heads.manifest["heads"].values():
        assert 0 <= info["metrics"]["auprc"] <= 1 and info["metrics"]["n_pos"] > 0
    assert heads.manifest["url_head"]["metrics"]["auprc"] > 0.9
    assert len(heads.manifest["data"]) == 14  # sha256 of every input file
    assert heads.manifest["split"].startswith("by group")
    # every category's text score is measured on held-out benign commercial text
    quality = heads.manifest["quality"]
    assert set(quality) == set(CONFIG.taxonomy.ids)
    assert all(q["benign_commercial"]["n"] > 1000 for q in quality.values())
    for category in heads.trained:
        assert quality[category]["heldout"]["n_pos"] > 0, category


@pytest.mark.slow  # the training CLI: embeds and fits every head
def test_train_heads_cli_on_a_subset(tmp_path):
    out = tmp_path / "heads"
    proc = subprocess.run(
        [sys.executable, "-m", "commands.cli", "train-heads", "--limit", "1500", "--out", str(out),
         "--version", "test"],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["version"] == "test" and manifest["rows"] == 1500
    assert manifest["split"].startswith("by group")
    assert sum(manifest["split_rows"].values()) == 1500
    heads = HeadSet.load(out, CONFIG.taxonomy, CONFIG.heads.zero_shot_scale, CONFIG.heads.zero_shot_bias)
    scores, from_trained = heads.score_text(np.zeros((2, manifest["encoder"]["dim"]), dtype=np.float32),
                                            ["fresh apples", "win a prize"])
    assert scores.shape == (2, 18) and from_trained.shape == (2, 18)
