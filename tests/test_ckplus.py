"""The CK+ evaluation: the loader on a hand-made CK+ tree, subject-independent folds, the leakage guard, and
`facegps study ckplus` end to end on a freshly generated (small) semi-synthetic stand-in."""
import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from facegps.studies.ckplus import (CKPlusError, FEATURE_SETS, STANDIN_NOTE, cross_validate, list_sequences, make_classifier,
                            subject_folds)

FACEGPS = str(Path(sys.executable).parent / "facegps")


def mini_ckplus(root: Path, labels: dict, frames: int = 4) -> Path:
    "A CK+-shaped tree: `labels` maps (subject, sequence) → the emotion file's text, or None (no emotion file)."
    for (s, q), text in labels.items():
        d = root / "cohn-kanade-images" / s / q
        d.mkdir(parents=True)
        for t in range(frames): cv2.imwrite(str(d / f"{s}_{q}_{t + 1:08d}.png"), np.full((10, 12), 30 * t, np.uint8))
        if text is not None:
            e = root / "Emotion" / s / q
            e.mkdir(parents=True)
            (e / f"{s}_{q}_{frames:08d}_emotion.txt").write_text(text)
    (root / "FACS" / "S010" / "002").mkdir(parents=True)
    return root


def test_loader_reads_the_ckplus_layout(tmp_path):
    root = mini_ckplus(tmp_path, {("S005", "001"): "   3.0000000e+00\n", ("S010", "002"): "   7.0000000e+00\n",
                                  ("S010", "003"): None, ("S022", "005"): "   2.0000000e+00\n"})
    seqs = list_sequences(root)
    assert list(seqs["id"]) == ["S005_001", "S010_002", "S022_005"]
    assert list(seqs["label"]) == [3, 7, 2] and list(seqs["emotion"]) == ["disgust", "surprise", "contempt"]
    assert list(seqs["has_facs"]) == [False, True, False] and (seqs["n_frames"] == 4).all()
    assert seqs.attrs["unlabelled"] == 1 and seqs.attrs["standin"] is False


@pytest.mark.parametrize("text, says", [("happy\n", "malformed emotion label: expected one number 1–7, got 'happy'"),
                                        ("9.0\n", "malformed emotion label: 9 is not an emotion code 1–7"),
                                        ("2.5\n", "malformed emotion label: 2.5 is not an emotion code 1–7")])
def test_a_malformed_label_is_a_clear_error_naming_the_file(tmp_path, text, says):
    root = mini_ckplus(tmp_path, {("S005", "001"): "3.0", ("S010", "002"): text, ("S022", "005"): "1.0"})
    bad = root / "Emotion" / "S010" / "002" / "S010_002_00000004_emotion.txt"
    with pytest.raises(CKPlusError) as e: list_sequences(root)
    assert str(e.value) == f"{bad}: {says}"
    out = subprocess.run([FACEGPS, "study", "ckplus", str(root), "-o", str(tmp_path / "r")], capture_output=True, text=True)
    assert out.returncode == 2 and out.stderr == f"facegps: error: {bad}: {says}\n", out.stderr
    assert not (tmp_path / "r" / "ckplus.html").exists()


def test_folds_are_subject_independent_and_cover_every_row():
    rng = np.random.default_rng(3)
    subjects = rng.choice([f"S{i:03d}" for i in range(40)], 300)
    labels = rng.integers(1, 8, 300)
    folds = subject_folds(labels, subjects, 10, seed=1)
    assert len(folds) == 10
    assert sorted(np.concatenate([te for _, te in folds])) == list(range(300))
    for train, test in folds: assert not set(subjects[train]) & set(subjects[test])


def test_preprocessing_is_never_fitted_on_test_rows():
    "A step that memorises the labels of the rows it is fitted on: 100 % if it saw the test rows, chance if not."
    from sklearn.base import BaseEstimator, TransformerMixin
    from sklearn.pipeline import make_pipeline

    class Memoriser(BaseEstimator, TransformerMixin):
        def fit(self, X, y):
            self.seen_ = dict(zip(X[:, 0], y)); return self
        def transform(self, X): return np.c_[[self.seen_.get(i, -1) for i in X[:, 0]]]

    subjects = np.repeat([f"S{i:03d}" for i in range(20)], 7)
    labels = np.tile(np.arange(1, 8), 20)
    X = np.c_[np.arange(len(labels)), np.random.default_rng(0).normal(size=len(labels))]
    folds = subject_folds(labels, subjects, 10)
    guarded = cross_validate(X, labels, folds, lambda s: make_pipeline(Memoriser(), make_classifier(s)))
    leaked = cross_validate(Memoriser().fit(X, labels - 1).transform(X), labels, folds)
    assert np.mean(leaked["accuracy"]) == 1.0          # the feature does leak when fitted on every row
    assert np.mean(guarded["accuracy"]) < 0.3          # inside the folds it cannot


def test_study_ckplus_on_a_fresh_standin(tmp_path):
    data, reports = tmp_path / "standin", tmp_path / "reports"
    env = {**os.environ, "FACEGPS_QUIET": "1"}
    out = subprocess.run([FACEGPS, "study", "ckplus", str(data), "--make-standin", "tiny", "-o", str(reports)],
                         capture_output=True, text=True, env=env, timeout=1200)
    assert out.returncode == 0, out.stderr
    assert (data / "STANDIN.txt").exists() and len(list_sequences(data)) == 21
    html = (reports / "ckplus.html").read_text()
    assert "semi-synthetic stand-in" in html and all(r in html for r in FEATURE_SETS)
    per_fold = pd.read_csv(reports / "ckplus" / "per_fold_accuracy.csv", index_col=0)
    assert (per_fold.pop("data") == STANDIN_NOTE).all()                  # every table says it is the stand-in
    assert list(per_fold.index) == list(FEATURE_SETS) and per_fold.shape == (4, 3)   # 3 subjects: 3 folds
    assert per_fold.notna().all().all() and ((per_fold >= 0) & (per_fold <= 100)).all().all()
    s = json.loads((reports / "ckplus" / "study.json").read_text())
    assert s["standin"] and s["note"] == STANDIN_NOTE and s["analysed"] == 21 and not s["failed"]
    folds = s["folds"]                                  # the test subjects of each fold: disjoint, all subjects
    assert sorted(x for f in folds for x in f) == sorted({x for f in folds for x in f}) and len(sum(folds, [])) == 3
    summary = pd.read_csv(reports / "ckplus" / "summary.csv", index_col=0)
    assert summary.loc["Face-GPS (MKS)", "mean %"] > 3 * 100 / 7      # a known truth: far above chance
    assert f"Face-GPS (MKS): {summary.loc['Face-GPS (MKS)', 'mean %']:.1f}" in out.stdout
    again = subprocess.run([FACEGPS, "study", "ckplus", str(data), "--make-standin", "-o", str(reports)],
                           capture_output=True, text=True, env=env, timeout=1200)
    assert again.returncode == 0 and "using the stand-in already in" in again.stderr, again.stderr
    batch = pd.read_csv(reports / "ckplus" / "analyses" / "batch_summary.csv")
    assert (batch["status"] == "skipped").all() and len(batch) == 21            # resumed: nothing analysed again
    assert not json.loads((reports / "ckplus" / "study.json").read_text())["failed"]
    assert pd.read_csv(reports / "ckplus" / "per_fold_accuracy.csv", index_col=0).drop(columns="data").equals(per_fold)   # seeded
