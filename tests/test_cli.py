"""The `facegps` command: help, version, the main job, and clear errors on bad input."""
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import facegps

FACEGPS = str(Path(sys.executable).parent / "facegps")


def run(*args):
    return subprocess.run([FACEGPS, *map(str, args)], capture_output=True, text=True, timeout=600)


def test_version():
    r = run("--version")
    assert r.returncode == 0 and r.stdout.strip() == f"facegps {facegps.__version__}"


@pytest.mark.parametrize("cmd", ["demo", "landmarks", "analyze", "report", "batch", "bench", "fetch"])
def test_help_explains_each_command(cmd):
    r = run(cmd, "--help")
    assert r.returncode == 0 and len(r.stdout) > 200


# the main job (`facegps demo`, the smile report) is tested in test_report.py


def test_landmarks_job(tmp_path):
    from facegps.data import sample_video
    smile = sample_video("smile")
    r = run("landmarks", smile, "-o", tmp_path / "lm", "--quiet")
    assert r.returncode == 0, r.stderr
    out = tmp_path / "lm"
    assert sorted(p.name for p in out.iterdir()) == ["canonical.png", "frames.parquet", "landmarks.npz", "summary.json"]
    assert pd.read_parquet(out / "frames.parquet").face_found.all()


def test_missing_file_is_a_clear_error(tmp_path):
    r = run("landmarks", tmp_path / "nope.mp4", "-o", tmp_path / "o")
    assert r.returncode == 2 and f"{tmp_path / 'nope.mp4'}: file not found" in r.stderr
    assert "Traceback" not in r.stderr


def test_text_renamed_mp4_is_a_clear_error(tmp_path):
    bad = tmp_path / "report.mp4"
    bad.write_text("minutes of the meeting\n")
    r = run("landmarks", bad, "-o", tmp_path / "o")
    assert r.returncode == 2 and f"{bad}: not a readable video" in r.stderr and "Traceback" not in r.stderr


def test_noface_is_a_clear_error_and_keeps_the_frame_table(tmp_path, noface):
    r = run("landmarks", noface, "-o", tmp_path / "o", "--quiet")
    assert r.returncode == 2 and "no_face.mp4: no face in" in r.stderr and "Traceback" not in r.stderr
    table = pd.read_parquet(tmp_path / "o" / "frames.parquet")  # what was measured is not lost
    assert len(table) > 90 and not table.face_found.any()
    assert not (tmp_path / "o" / "summary.json").exists()
    assert not [p for p in (tmp_path / "o").iterdir() if p.name.startswith(".")], "no half-written temp files"


def test_fetch_prints_paths():
    r = run("fetch", "smile", "face")
    assert r.returncode == 0 and "single_face.mp4" in r.stdout and "single_face.jpg" in r.stdout
