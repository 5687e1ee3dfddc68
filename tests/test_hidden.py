"""The hidden-emotion study and `facegps enhance` from the command line: the study end to end on a freshly rendered
tiny stand-in (both data columns, the three inputs on each of the three frame encoders — trained, pretrained frozen,
pretrained fine-tuned —, the paired tests, the curves, every table labelled semi-synthetic), and the enhanced crops
of the smile sample."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

FACEGPS = str(Path(sys.executable).parent / "facegps")


def test_study_hidden_on_a_fresh_tiny_standin(tmp_path):
    from facegps.studies.fan import ENCODERS
    from facegps.studies.hidden import REFERENCE_ROWS, study_rows
    data, reports = tmp_path / "data", tmp_path / "reports"
    r = subprocess.run([FACEGPS, "study", "hidden", str(data), "--make-standin", "tiny", "-o", str(reports), "--quiet",
                        "--epochs", "1", "--image-size", "32", "--width", "8", "--workers", "2"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    assert (reports / "hidden.html").exists() and (data / "hidden" / "labels.csv").exists()
    assert "astronaut" not in (data / "hidden" / "STANDIN.txt").read_text() and "S003: face" in (data / "hidden" / "STANDIN.txt").read_text()
    pf = pd.read_csv(reports / "hidden" / "per_fold_accuracy.csv", index_col=0)
    rows = [f"{c} | {k}" for c in ("CK+", "CK+ & hidden") for k in (*study_rows(), *REFERENCE_ROWS)]
    assert len(rows) == 2 * (3 * len(ENCODERS) + 2)
    assert [c for c in pf.columns if c != "data_kind"] == rows and len(pf) == 3          # 3 subjects: 3 folds
    assert pf[rows].apply(lambda s: s.between(0, 100)).all().all()
    assert (pf["data_kind"].str.contains("semi-synthetic stand-in")).all()
    tests = pd.read_csv(reports / "hidden" / "paired_tests.csv")
    assert len(tests) == 2 * len(ENCODERS) * 2 and tests["p"].between(0, 1).all()
    meta = json.loads((reports / "hidden" / "study.json").read_text())
    assert meta["analysed"] == 42 and meta["config"]["image_size"] == 32 and meta["config"]["fer_crop"] == 64
    assert meta["config"]["epochs"] == {e: 1 for e in ENCODERS} and meta["encoders"] == list(ENCODERS)
    assert 0 < meta["arrow_fraction_fer_mean"] < 0.5
    curves = pd.read_csv(reports / "hidden" / "curves.csv")
    assert curves["val_acc"].notna().all() and set(curves["encoder"]) == set(ENCODERS)
    assert len(list((reports / "hidden" / "checkpoints").glob("*.npz"))) == 2 * 3 * len(ENCODERS) * 3
    assert "CK+ & hidden | FAN+DISC, shuffled arrows (pretrained, fine-tuned):" in r.stdout and "semi-synthetic" in r.stdout
    html = (reports / "hidden.html").read_text()
    assert "semi-synthetic" in html and "Paired tests" in html and "the DISC hidden-emotion paper" in html
    assert "What this stand-in can and cannot show" in html and "seed 001" not in html


def test_enhance_writes_plain_and_enhanced_crops(tmp_path, smile):
    out = tmp_path / "smile"
    r = subprocess.run([FACEGPS, "enhance", str(smile), "-o", str(out), "--quiet"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    info = json.loads((out / "enhance.json").read_text())
    assert info["frames_with_face"] == info["frames"] == 72 and 0 < info["arrow_fraction_mean"] < 0.10
    per = pd.read_csv(out / "enhance_frames.csv")
    assert len(per) == 72 and per["face"].all() and (per["arrow_fraction"] < 0.10).all()
    from facegps.measure.overlay import video_stream_info
    for kind in ("plain", "enhanced"):
        s = video_stream_info(out / f"{kind}.mp4")
        assert (s["width"], s["height"], s["n_frames"]) == (224, 224, 72)
    assert (out / "summary.json").exists()                      # the analysis is there too
    again = subprocess.run([FACEGPS, "enhance", str(out), "-o", str(tmp_path / "again"), "--quiet", "--size", "112"],
                           capture_output=True, text=True)              # an analysis folder is reused, not re-analysed
    assert again.returncode == 0, again.stderr
    assert not (tmp_path / "again" / "summary.json").exists()
    assert video_stream_info(tmp_path / "again" / "enhanced.mp4")["width"] == 112
