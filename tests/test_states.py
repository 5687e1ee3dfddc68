"""Expression states (`facegps states`): the report on the smile sample, BIC and fixed K, determinism, DeepLabCut and
Anipose tracks in their exact formats, malformed files, and occluded or faceless frames kept out of the fit."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from facegps.measure.analyze import analyze_video
from facegps.studies.states import StatesError, decode, fit_states, load_analysis, read_anipose, read_dlc

FACEGPS = str(Path(sys.executable).parent / "facegps")
ENV = {**os.environ, "FACEGPS_QUIET": "1"}
PARTS = {"mouth_r": 61, "mouth_l": 291, "lip_top": 0, "lip_bottom": 17, "chin": 152, "nose": 1, "brow_r": 105,
         "brow_l": 334, "eye_r": 33, "eye_l": 263, "cheek_r": 50, "cheek_l": 280}


def run(*args):
    return subprocess.run([FACEGPS, *map(str, args)], capture_output=True, text=True, env=ENV, timeout=900)


@pytest.fixture(scope="module")
def smile_analysis(tmp_path_factory, smile):
    out = tmp_path_factory.mktemp("states") / "smile"
    analyze_video(smile, out, quiet=True, overlay=False)
    return out


def write_dlc(path, L, low=()):
    "A DeepLabCut CSV: header rows scorer / bodyparts / coords, an index column, x, y, likelihood per part."
    scorer = "DLC_resnet50_faceNov1shuffle1_100000"
    lines = [",".join(["scorer"] + [scorer] * 3 * len(PARTS)),
             ",".join(["bodyparts"] + [p for p in PARTS for _ in range(3)]),
             ",".join(["coords"] + ["x", "y", "likelihood"] * len(PARTS))]
    for t in range(len(L)):
        vals = []
        for j, i in enumerate(PARTS.values()):
            vals += [f"{L[t, i, 0]:.3f}", f"{L[t, i, 1]:.3f}", "0.05" if (t, j) in low else "0.98"]
        lines.append(",".join([str(t)] + vals))
    path.write_text("\n".join(lines) + "\n")
    return path


def write_anipose(path, L):
    "An Anipose 3-D CSV: <part>_x, _y, _z, _error, _score, _ncams per part, then M_ and center_ columns and fnum."
    cols = {}
    for p, i in PARTS.items():
        cols.update({f"{p}_x": L[:, i, 0], f"{p}_y": L[:, i, 1], f"{p}_z": L[:, i, 2], f"{p}_error": 1.2,
                     f"{p}_score": 0.9, f"{p}_ncams": 2})
    df = pd.DataFrame(cols)
    for k in range(9): df[f"M_{k // 3}{k % 3}"] = float(k % 4 == 0)
    for k in range(3): df[f"center_{k}"] = 0.0
    df["fnum"] = np.arange(len(L))
    df.to_csv(path, index=False)
    return path


def test_states_report_on_the_smile_sample_bic_and_fixed_k(tmp_path, smile):
    out = run("states", smile, "--n-states", "bic", "-o", tmp_path / "bic")
    assert out.returncode == 0, out.stderr
    html = (tmp_path / "bic" / "single_face_states.html").read_text()
    for part in ("Expression states", "Timeline", "The states", "Frequencies and dwell times", "Transitions",
                 "Head kinematics", "angular_speed", "translation_speed"):
        assert part in html, part
    assert html.count("<img") >= 5 and "not converging" not in html and "Traceback" not in html
    tables = tmp_path / "bic" / "single_face_states"
    meta = json.loads((tables / "model.json").read_text())
    assert meta["n_states_asked"] == "bic" and 2 <= meta["n_states"] <= 4 and meta["frames_used"] == 72
    states = pd.read_parquet(tables / "states.parquet")
    smile_state = meta["n_states"] - 1
    on = np.flatnonzero(states["state"].to_numpy(dtype=float, na_value=-1) == smile_state)
    on = on[on > 0]                                    # the reference frame (all channels 0) may share any state
    assert abs(on[0] - 19) <= 2 and abs(on[-1] - 69) <= 2            # judged from the video: the smile is 19–69
    assert {"state", "posterior", "frame", "time_s"} <= set(states.columns)
    assert set(pd.read_csv(tables / "kinematics_by_state.csv", header=[0, 1], index_col=0).columns.get_level_values(1)) >= \
        {"yaw_speed", "angular_speed", "translation_speed"}
    fixed = run("states", smile, "--n-states", "9", "-o", tmp_path / "nine")
    assert fixed.returncode == 0, fixed.stderr
    nine = json.loads((tmp_path / "nine" / "single_face_states" / "model.json").read_text())
    k = nine["n_states"]                       # 72 frames of 17 channels resolve at most 72 // 18 = 4 states
    assert nine["n_states_asked"] == 9 and 2 <= k <= 4 and "9 states asked" in nine["notes"][0]
    assert pd.read_csv(tmp_path / "nine" / "single_face_states" / "transitions.csv", index_col=0).shape == (k, k)
    assert "9 states asked" in (tmp_path / "nine" / "single_face_states.html").read_text()


def test_the_same_seed_gives_the_same_states(smile_analysis):
    rec = load_analysis(smile_analysis)
    a = decode(fit_states([rec], "muscles", 4, seed=3, quiet=True), rec)
    b = decode(fit_states([rec], "muscles", 4, seed=3, quiet=True), rec)
    assert a.equals(b)


def test_occluded_and_faceless_frames_never_enter_the_fit(tmp_path, smile_analysis, monkeypatch):
    """Frames with a hand over the face or no face are left out: the HMM never sees their values, and they get no
    state. Frames where only the flow lost channels (landmark-carried values) do enter."""
    folder = tmp_path / "occluded"
    shutil.copytree(smile_analysis, folder)
    frames = pd.read_parquet(folder / "frames.parquet")
    mouth = ["zygomaticus_major_R", "zygomaticus_major_L", "risorius_R", "risorius_L", "mentalis"]
    frames["hand_over_face"] = False
    frames.loc[40:49, "hand_over_face"] = True
    frames.loc[40:49, [f"act_{m}" for m in mouth]] = 50.0                # what a landmark-only value could say there
    frames.loc[20:25, [f"valid_{m}" for m in mouth]] = 0.0               # flow lost, landmarks carry: these stay in
    frames.loc[55, "face_found"] = False
    frames.to_parquet(folder / "frames.parquet", index=False)
    from hmmlearn.hmm import GaussianHMM
    seen, fit = [], GaussianHMM.fit
    def spy(self, X, lengths=None):
        seen.append((np.array(X), list(lengths))); return fit(self, X, lengths)
    monkeypatch.setattr(GaussianHMM, "fit", spy)
    rec = load_analysis(folder)
    model = fit_states([rec], "muscles", 3, seed=0, quiet=True)
    X, lengths = seen[0]
    assert len(X) == 72 - 11 and lengths == [40, 5, 16]                 # 0–39 | 50–54 | 56–71: gaps split the record
    from facegps.measure.outputs import iod_px
    raw = 100 * 50.0 / iod_px(json.loads((folder / "summary.json").read_text()))
    assert not np.isclose(X * model.scale_ + model.mean_, raw).any()      # the occluded values are nowhere in the fit
    states = decode(model, rec)["state"]
    assert states[40:50].isna().all() and pd.isna(states[55]) and states.drop(list(range(40, 50)) + [55]).notna().all()


def test_deeplabcut_and_anipose_tracks_through_the_same_report(tmp_path, smile_analysis):
    with np.load(smile_analysis / "displacement.npz") as z: L = z["landmarks"]
    dlc = write_dlc(tmp_path / "smileDLC_resnet50_faceNov1shuffle1_100000.csv", L, low={(30, 1), (31, 1)})
    rec = read_dlc(dlc)
    assert rec.points.shape == (72, 12, 2) and not rec.usable[30:32].any() and rec.usable.sum() == 70
    ani = write_anipose(tmp_path / "smile_3d.csv", L)
    assert read_anipose(ani).points.shape == (72, 12, 3)
    for track, n in ((dlc, 70), (ani, 72)):
        out = run("states", track, "--n-states", "3", "-o", tmp_path / "r")
        assert out.returncode == 0, out.stderr
        tables = tmp_path / "r" / f"{track.stem}_states"
        meta = json.loads((tables / "model.json").read_text())
        assert meta["features"] == "landmarks" and meta["frames_used"] == n
        assert "Head kinematics" in (tmp_path / "r" / f"{track.stem}_states.html").read_text()


@pytest.mark.parametrize("content, says", [
    ("scorer,a,a\nparts,nose,nose\ncoords,x,y\n0,1,2\n", "not a DeepLabCut CSV: its first column must start with scorer, bodyparts, coords, found scorer, parts, coords"),
    ("scorer,a,a,a\nbodyparts,nose,nose,nose\ncoords,x,y,z\n0,1,2,3\n",
     "not a DeepLabCut file: the coords row must hold x, y, likelihood, found ['x', 'y', 'z']"),
])
def test_a_malformed_track_is_one_clear_line(tmp_path, content, says):
    bad = tmp_path / "bad_track.csv"
    bad.write_text(content)
    with pytest.raises(StatesError): read_dlc(bad)
    out = run("states", bad, "-o", tmp_path / "r")
    assert out.returncode == 2 and out.stderr == f"facegps: error: {bad}: {says}\n", out.stderr
    assert not list((tmp_path / "r").glob("*.html")) if (tmp_path / "r").exists() else True


def test_one_model_over_a_batch_with_frequencies_per_subject(tmp_path, smile_frames):
    "Two videos of a batch, one model; states per video in states.parquet, frequencies per manifest column."
    from conftest import write_video
    a = write_video(tmp_path / "a.mp4", smile_frames[:50])
    b = write_video(tmp_path / "b.mp4", smile_frames[10:][::-1])
    (tmp_path / "manifest.csv").write_text("path,subject\na.mp4,s1\nb.mp4,s2\n")
    out = run("batch", tmp_path / "manifest.csv", "-o", tmp_path / "batch", "--workers", "1", "--no-overlay")
    assert out.returncode == 0, out.stderr
    out = run("states", tmp_path / "batch", "--n-states", "3", "--by", "subject", "-o", tmp_path / "r")
    assert out.returncode == 0, out.stderr
    tables = tmp_path / "r" / "batch_states"
    states = pd.read_parquet(tables / "states.parquet")
    assert sorted(states["video"].unique()) == ["a", "b"] and (states.groupby("video").size() == [50, 62]).all()
    freq = pd.read_csv(tables / "frequencies.csv", index_col=0)
    assert list(freq.index) == ["s1", "s2"] and np.allclose(freq.sum(axis=1), 1)


def blocks_track(path, T=300, lik=0.99, parts=5, fmt="dlc"):
    """A simple track: `parts` body parts, the last two (the mouth) 8 px higher in alternate 50-frame blocks, noise
    σ 0.5 px. Returns (path, blocks)."""
    rng = np.random.default_rng(1)
    base = np.array([[100, 100], [160, 100], [130, 140], [110, 180], [150, 180]], float)[:parts]
    blocks = (np.arange(T) // 50) % 2 == 1
    xy = base + rng.normal(0, 0.5, (T, parts, 2)); xy[blocks, -2:, 1] -= 8
    names = [f"p{i}" for i in range(parts)]
    if fmt == "dlc":
        cols = pd.MultiIndex.from_product([["DLC_resnet50"], names, ["x", "y", "likelihood"]])
        vals = np.concatenate([xy, np.full((T, parts, 1), lik)], 2).reshape(T, -1)
        df = pd.DataFrame(vals, columns=cols)
        df.columns.names = ["scorer", "bodyparts", "coords"]
        df.to_csv(path)
    else:
        df = pd.DataFrame({f"{n}_{c}": v for j, n in enumerate(names) for c, v in
                           (("x", xy[:, j, 0]), ("y", xy[:, j, 1]), ("z", 0.01 * xy[:, j, 0]), ("error", 1.0),
                            ("score", lik), ("ncams", 2))})
        df["fnum"] = np.arange(T); df.to_csv(path, index=False)
    return path, blocks


@pytest.mark.parametrize("fmt, n_states", [("dlc", None), ("dlc", "bic"), ("anipose", None)])
def test_a_simple_track_gives_its_two_blocks(tmp_path, fmt, n_states):
    "The default 9 states (and BIC) on a simple low-noise track: it fits, and the states are the two blocks."
    from sklearn.metrics import adjusted_rand_score
    track, blocks = blocks_track(tmp_path / ("blocks.csv" if fmt == "dlc" else "blocks_3d.csv"), fmt=fmt)
    out = run("states", track, "-o", tmp_path / "r", *(["--n-states", n_states] if n_states else []))
    assert out.returncode == 0, out.stderr
    tables = tmp_path / "r" / f"{track.stem}_states"
    states = pd.read_parquet(tables / "states.parquet")["state"].to_numpy(dtype=float)
    meta = json.loads((tables / "model.json").read_text())
    assert meta["n_states"] == 2 and adjusted_rand_score(blocks, states) >= 0.9, (meta, states)


@pytest.mark.parametrize("fmt", ["dlc", "anipose"])
@pytest.mark.parametrize("case, says", [
    ("few", "6 usable frames (in runs of 2 or more); the state model needs at least 10"),
    ("low", "fewer than 3 frames with every body part seen"),
])
def test_a_degenerate_track_is_one_clear_line(tmp_path, fmt, case, says):
    path = tmp_path / ("t.csv" if fmt == "dlc" else "t_3d.csv")
    track, _ = blocks_track(path, T=6 if case == "few" else 300, lik=0.05 if case == "low" else 0.99, fmt=fmt)
    out = run("states", track, "-o", tmp_path / "r")
    assert out.returncode == 2 and out.stderr.startswith(f"facegps: error: ") and says in out.stderr, out.stderr
    assert len(out.stderr.strip().splitlines()) == 1 and "Traceback" not in out.stderr
    assert not list((tmp_path / "r").glob("*.html")) if (tmp_path / "r").exists() else True


@pytest.mark.parametrize("degenerate", ["still", "twin"])
def test_a_still_or_duplicated_body_part_still_fits(tmp_path, degenerate):
    from sklearn.metrics import adjusted_rand_score
    track, blocks = blocks_track(tmp_path / "b.csv")
    rec = read_dlc(track)
    if degenerate == "still": rec.points[:, 0] = rec.points[0, 0]
    else: rec.points[:, 1] = rec.points[:, 0]
    model = fit_states([rec], "landmarks", 9, seed=0, quiet=True)
    assert adjusted_rand_score(blocks, decode(model, rec)["state"].to_numpy(dtype=float)) >= 0.9


def test_a_hostile_track_name_is_text_in_the_states_report(tmp_path, page_parts):
    """A DeepLabCut track named with markup, quotes, Markdown, matplotlib math that does not parse (`$\foo$` would stop
    the plot), a line break and a byte that is not UTF-8: the report is made, its tables written, nothing from the name
    is live, and the title, the heading, the tables' folder and the record's name show it as text (the byte as �)."""
    import html, re
    from facegps.view.report import plain_text
    from facegps.runs.runner import report_name
    track, _ = blocks_track(tmp_path / os.fsdecode(b'<img src=x onerror=alert(1)> "q" *b* $\\foo$\n# \xff.csv'), T=120)
    out = run("states", track, "--n-states", "2", "-o", tmp_path / "r")
    assert out.returncode == 0, out.stderr
    name = report_name(f"{track.stem}_states")
    page = (tmp_path / "r" / f"{name}.html").read_text(encoding="utf-8")
    parts = page_parts(page)
    assert not parts.live and "<img src=x" not in page, parts.live
    shown = plain_text(track.stem)
    assert parts.title == f"States: {plain_text(track.name)}" and parts.h1[0] == f"Expression states: {shown}"
    tables = re.search(r"Tables: <code>(.*?)</code>", page, re.S)
    assert tables and html.unescape(tables.group(1)) == f"{plain_text(name)}/" and (tmp_path / "r" / name).is_dir()
    assert json.loads((tmp_path / "r" / name / "model.json").read_text())["videos"] == [track.stem.replace("\udcff", "\ufffd")]
