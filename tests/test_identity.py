"""Several people: `facegps analyze --faces all` on real sample clips composed side by side and one after another."""
import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from conftest import write_video
from facegps.data import sample_video
from facegps.measure.video import VideoReader

FACEGPS = str(Path(sys.executable).parent / "facegps")


@pytest.fixture(scope="module")
def carphone_frames():
    return [cv2.resize(f.color, (440, 360)) for f in VideoReader(sample_video("carphone"))][:72]


@pytest.mark.parametrize("layout", ["side by side", "one after another"])
def test_analyze_faces_all_finds_each_person(tmp_path, smile_frames, carphone_frames, layout):
    if layout == "side by side":
        frames = [np.hstack([a, b]) for a, b in zip(smile_frames, carphone_frames)]
    else:
        frames = smile_frames + [cv2.copyMakeBorder(b, 0, 0, 100, 100, cv2.BORDER_CONSTANT) for b in carphone_frames]
    video = write_video(tmp_path / "two.mp4", frames)
    out = subprocess.run([FACEGPS, "analyze", str(video), "-o", str(tmp_path / "out"), "--faces", "all", "--no-overlay"],
                         capture_output=True, text=True, env={**os.environ, "FACEGPS_QUIET": "1"}, timeout=600)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("2 people in 2 face tracks")
    ids = json.loads((tmp_path / "out" / "identities.json").read_text())
    assert ids["people"] == 2 and sorted(ids["folders"]) == ["0", "1"]
    f0 = pd.read_parquet(tmp_path / "out" / "person_0" / "frames.parquet")
    f1 = pd.read_parquet(tmp_path / "out" / "person_1" / "frames.parquet")
    l0 = np.load(tmp_path / "out" / "person_0" / "displacement.npz")["landmarks"]
    l1 = np.load(tmp_path / "out" / "person_1" / "displacement.npz")["landmarks"]
    if layout == "side by side":
        assert f0["face_found"].all() and f1["face_found"].all()
        assert (np.nanmax(l0[:, :, 0], 1) < 640).all() and (np.nanmin(l1[:, :, 0], 1) > 640).all()   # left, right
    else:
        assert f0["face_found"][:72].all() and not f0["face_found"][73:].any()
        assert not f1["face_found"][:72].any() and f1["face_found"][73:].all()
    s0 = json.loads((tmp_path / "out" / "person_0" / "summary.json").read_text())
    assert s0["parameters"]["face"].startswith("identity person_0")
    assert f0[[c for c in f0 if c.startswith("act_zygomaticus")]].max().max() > 5   # the smile belongs to person 0


def test_the_multi_face_still_has_three_identities():
    from facegps.data import sample_image
    from facegps.studies.identity import find_identities
    ids = find_identities(sample_image("multi_face"), max_faces=6, quiet=True)
    assert ids.people() == [0, 1, 2] and len(ids.tracks) == 3
