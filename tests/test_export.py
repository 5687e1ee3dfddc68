"""`facegps.measure.export`: the OpenFace-shaped and the long CSV of a real analysis read back (pandas, Python's csv, DuckDB)
equal frames.parquet; the head pose matches OpenFace's own Euler formula; bad inputs are one-line FaceGPSErrors;
an interrupted export leaves no finished-looking file. (The CLI verb `facegps export` calls `export_analysis`.)"""
import csv
import json
from pathlib import Path
from unittest import mock

import numpy as np
import pandas as pd
import pytest

from facegps.measure.analyze import analyze_video, measured_activations
from facegps.core import FaceGPSError
from facegps.measure.export import (LONG_COLUMNS, export_analysis, export_openface, facegps_pose, muscle_names,
                            openface_pose, read_analysis_frames)
from facegps.measure.manifold import load_template
from facegps.measure.pose import head_pose

OPENFACE_HEAD = ["frame", "face_id", "timestamp", "confidence", "success", "pose_Rx", "pose_Ry", "pose_Rz"]


@pytest.fixture(scope="module")
def analysis(tmp_path_factory, smile):
    out = tmp_path_factory.mktemp("export") / "smile"
    analyze_video(smile, out, quiet=True, overlay=False, max_frames=30)
    return out


@pytest.fixture(scope="module")
def frames(analysis):
    return pd.read_parquet(analysis / "frames.parquet")


def muscle_columns(frames):
    return [f"{k}_{m}" for k in ("act", "mag", "valid") for m in muscle_names(frames)]


def same(a, b, rtol=0.0):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return a.shape == b.shape and np.allclose(a, b, rtol=rtol, atol=0, equal_nan=True)


def check_openface(back, frames, rtol):
    cols = muscle_columns(frames)
    assert list(back.columns[:8]) == OPENFACE_HEAD and list(back.columns[8:8 + len(cols)]) == cols
    assert len(back) == len(frames) and (back["face_id"] == 0).all()
    assert (back["frame"].to_numpy() == frames["frame"].to_numpy() + 1).all()
    assert same(back["timestamp"], frames["time_s"], rtol) and same(back[cols], frames[cols], rtol)
    assert same(back["confidence"], frames["valid_points"].fillna(0), rtol)
    acts = frames[[c for c in cols if c.startswith("act_")]]
    expected_success = frames["face_found"] & ~frames["long_gap"] & np.isfinite(acts).all(axis=1)
    assert (back["success"].to_numpy() == expected_success.to_numpy(int)).all()
    pose = np.column_stack(facegps_pose(back["pose_Rx"], back["pose_Ry"], back["pose_Rz"]))
    assert np.nanmax(np.abs(pose - frames[["yaw", "pitch", "roll"]].to_numpy(float))) < 1e-9
    for c in ("face_found", "interpolated", "long_gap", "quality_ok"):
        assert (back[c].astype(bool).to_numpy() == frames[c].to_numpy(bool)).all()
    extra = ["n_faces", "sharpness", "yaw_pnp", "pitch_pnp", "roll_pnp"]
    assert same(back[extra], frames[extra], rtol)
    reason = back["quality_reason"].fillna("").astype(str).to_numpy()
    assert (reason == frames["quality_reason"].astype(str).to_numpy()).all()


def check_long(back, frames, rtol):
    ms = muscle_names(frames)
    assert tuple(back.columns) == LONG_COLUMNS and len(back) == len(frames) * len(ms)
    assert list(back["muscle"]) == ms * len(frames)
    assert (back["frame"].to_numpy() == np.repeat(frames["frame"].to_numpy(), len(ms))).all()
    assert same(back["time_s"], np.repeat(frames["time_s"].to_numpy(), len(ms)), rtol)
    for k in ("act", "mag", "valid"):
        assert same(back[k], frames[[f"{k}_{m}" for m in ms]].to_numpy().ravel(), rtol)
    assert (back["quality_ok"].to_numpy() == np.repeat(frames["quality_ok"].to_numpy(int), len(ms))).all()


def test_openface_round_trip(analysis, frames):
    path = export_analysis(analysis, "openface")
    assert path == analysis.parent / "smile_openface.csv"
    summary = json.loads((analysis / "summary.json").read_text())
    assert sorted(p.name for p in analysis.iterdir()) == sorted(summary["outputs"])      # the analysis is untouched
    check_openface(pd.read_csv(path), frames, 1e-12)
    check_openface(pd.read_csv(path, float_precision="round_trip"), frames, 0.0)
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    cols = muscle_columns(frames) + ["timestamp"]
    text = np.array([[float(r[c]) if r[c] else np.nan for c in cols] for r in rows])
    assert same(text, frames[muscle_columns(frames) + ["time_s"]], 0.0)                 # bit for bit
    assert all(r["success"] in ("0", "1") for r in rows)


def test_long_round_trip(analysis, frames):
    path = export_analysis(analysis, "long")
    assert path == analysis.parent / "smile_long.csv"
    check_long(pd.read_csv(path), frames, 1e-12)
    check_long(pd.read_csv(path, float_precision="round_trip"), frames, 0.0)


def test_duckdb_reads_both(analysis, frames):
    duckdb = pytest.importorskip("duckdb")
    of, long = export_analysis(analysis, "openface"), export_analysis(analysis, "long")
    con = duckdb.connect()
    check_openface(con.execute(f"select * from read_csv('{of}')").df(), frames, 0.0)
    check_long(con.execute(f"select * from read_csv('{long}')").df(), frames, 0.0)
    peaks = con.execute(f"select muscle, max(act) from read_csv('{long}') where valid >= 0.3 and quality_ok = 1 "
                        "group by muscle").fetchall()
    truth = measured_activations(frames).max()
    assert {m: v for m, v in peaks} == pytest.approx(truth.dropna().to_dict(), rel=0, abs=0)


def openface_euler_to_rotation(e):
    "OpenFace's Utilities::Euler2RotationMatrix (lib/local/Utilities/include/RotationHelpers.h), entry by entry."
    s1, s2, s3 = np.sin(e)
    c1, c2, c3 = np.cos(e)
    return np.array([[c2 * c3, -c2 * s3, s2],
                     [c1 * s3 + c3 * s1 * s2, c1 * c3 - s1 * s2 * s3, -c2 * s1],
                     [s1 * s3 - c1 * c3 * s2, c3 * s1 + c1 * s2 * s3, c1 * c2]])


@pytest.mark.parametrize("e", [(0.2, -0.35, 0.15), (-0.3, 0.5, -0.4), (0.3, 0.0, 0.0), (0.0, 0.3, 0.0), (0.0, 0.0, 0.3)])
def test_pose_is_openface_convention(e):
    """A template turned by OpenFace's own R = Rx·Ry·Rz reads back as the same (pose_Rx, pose_Ry, pose_Rz), and the
    signs mean what they mean in OpenFace's camera axes (x right, y down): + Rx nose down, + Ry nose to the image's left,
    + Rz eye line clockwise."""
    tpl = load_template()["points3d"].astype(np.float64)
    def turned(angles):
        return 1.3 * (tpl - tpl.mean(0)) @ openface_euler_to_rotation(np.array(angles)).T + [320.0, 180.0, 0.0]
    face, front = turned(e), turned((0.0, 0.0, 0.0))
    got = np.array(openface_pose(*head_pose(face)))
    assert np.abs(got - e).max() < 1e-9
    assert np.abs(np.array(facegps_pose(*got)) - head_pose(face)).max() < 1e-9
    nose = lambda f: f[1, :2] - f[[33, 263], :2].mean(0)                 # nose tip from the eyes' outer corners
    eye_line = lambda f: np.arctan2(*(f[263, :2] - f[33, :2])[::-1])     # person's right eye → left eye, radians
    if e == (0.3, 0.0, 0.0): assert nose(face)[1] > nose(front)[1] + 5
    if e == (0.0, 0.3, 0.0): assert nose(face)[0] < nose(front)[0] - 5
    if e == (0.0, 0.0, 0.3): assert eye_line(face) == pytest.approx(eye_line(front) + 0.3, abs=1e-6)


def test_out_folder_file_and_face_id(analysis, tmp_path):
    p = export_analysis(analysis, "long", tmp_path)
    assert p == tmp_path / "smile_long.csv" and p.is_file()
    p = export_openface(analysis, tmp_path / "sub" / "p3.csv", face_id=3)
    assert p.is_file() and (pd.read_csv(p)["face_id"] == 3).all()
    assert not [q for q in tmp_path.rglob(".*")]


def _landmarks_only(d: Path, frames):
    d.mkdir()
    frames[["frame", "time_s", "face_found", "n_faces"]].to_parquet(d / "frames.parquet")
    (d / "summary.json").write_text("{}")


def _unfinished(d: Path, frames):
    d.mkdir()
    frames.to_parquet(d / "frames.parquet")


def _broken(d: Path, frames):
    d.mkdir()
    (d / "frames.parquet").write_bytes(b"PAR1 not parquet")
    (d / "summary.json").write_text("{}")


def _old(d: Path, frames):
    d.mkdir()
    frames.drop(columns=["valid_points", "long_gap"]).to_parquet(d / "frames.parquet")
    (d / "summary.json").write_text("{}")


def _people(d: Path, frames):
    (d / "person_0").mkdir(parents=True)
    (d / "person_0" / "frames.parquet").write_bytes(b"")


@pytest.mark.parametrize("case, make, needle", [
    ("missing", None, "not found"),
    ("file", lambda d, f: d.write_text("x"), "is a file"),
    ("empty", lambda d, f: d.mkdir(), "frames.parquet missing"),
    ("unfinished", _unfinished, "summary.json missing"),
    ("landmarks", _landmarks_only, "no act_<muscle> columns"),
    ("broken", _broken, "not readable"),
    ("old", _old, "lacks long_gap, valid_points"),
    ("people", _people, "export person_0"),
])
def test_bad_analysis_folder(tmp_path, frames, case, make, needle):
    d = tmp_path / case
    if make: make(d, frames)
    for fmt in ("openface", "long"):
        with pytest.raises(FaceGPSError) as e:
            export_analysis(d, fmt)
        msg = str(e.value)
        assert needle in msg and str(d) in msg and "\n" not in msg and e.value.path == d
    assert not list(tmp_path.glob("*.csv"))


def test_bad_format_and_outputs(analysis, frames, tmp_path):
    with pytest.raises(FaceGPSError, match="unknown export format 'excel'; choose from openface, long"):
        export_analysis(analysis, "excel")
    with pytest.raises(FaceGPSError, match="analysis's own files"):
        export_analysis(analysis, "long", analysis / "frames.parquet")
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    with pytest.raises(FaceGPSError, match="is a file") as e:
        export_analysis(analysis, "openface", blocker / "out.csv")
    assert str(blocker) in str(e.value) and blocker.read_text() == "x"
    assert read_analysis_frames(analysis).equals(frames)                                    # nothing was touched


@pytest.mark.parametrize("earlier", [True, False])
def test_interrupted_export_leaves_no_finished_looking_file(analysis, tmp_path, earlier):
    out = tmp_path / "t.csv"
    before = export_analysis(analysis, "openface", out).read_bytes() if earlier else None
    if not earlier: assert not out.exists()

    def half_then_stop(self, path, *args, **kwargs):
        Path(path).write_text("frame,face_id,timestamp\n1,0,0.0\n")
        raise KeyboardInterrupt

    with mock.patch.object(pd.DataFrame, "to_csv", half_then_stop), pytest.raises(KeyboardInterrupt):
        export_analysis(analysis, "openface", out)
    assert (out.read_bytes() == before) if earlier else not out.exists()
    assert not list(tmp_path.glob(".*"))                                                    # no temporary file left


def test_cli_export_both_formats(analysis, frames, tmp_path):
    "`facegps export` writes what the Python API writes, prints its path, and a bad folder is one line, exit 2."
    import os, subprocess, sys
    exe = str(Path(sys.executable).parent / "facegps")
    env = {**os.environ, "FACEGPS_QUIET": "1"}
    for fmt, check in (("openface", check_openface), ("long", check_long)):
        out = tmp_path / f"cli_{fmt}.csv"
        r = subprocess.run([exe, "export", str(analysis), "--format", fmt, "-o", str(out)], capture_output=True, text=True, env=env)
        assert r.returncode == 0 and r.stdout.strip() == str(out), r.stderr
        check(pd.read_csv(out, float_precision="round_trip"), frames, 0.0)
    r = subprocess.run([exe, "export", str(tmp_path / "nope")], capture_output=True, text=True, env=env)
    assert r.returncode == 2 and r.stderr.startswith("facegps: error: ") and len(r.stderr.splitlines()) == 1, r.stderr
