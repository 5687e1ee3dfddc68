"""The action-unit renderer (`facegps.bench.actionunits`): the library, fields, truth, head warp and videos."""
import numpy as np
import pytest

from facegps.bench.actionunits import (ACTION_UNITS, HeadWarp, au_amplitude, au_curve, au_displacement_at, au_field,
                                 au_truth, face_frame, fold_margin, forward_displacement, head_curves, intensity_for,
                                 mirror_map, real_face, render_au_video, render_frame, rotation)
from facegps.measure.manifold import load_template
from facegps.measure.pose import euler_angles

TPL = load_template()
FACE = np.c_[TPL["points"], TPL["points3d"][:, 2]]          # the canonical template as a face in a 256×256 image
SHAPE = (256, 256, 3)


def texture(shape=SHAPE, seed=0):
    "A smooth random texture (uint8 BGR) to render on."
    import cv2
    rng = np.random.default_rng(seed)
    img = cv2.GaussianBlur(rng.uniform(0, 255, shape).astype(np.float32), (0, 0), 2.0)
    return np.clip(img, 0, 255).astype(np.uint8)


def test_library_sides_and_mirror():
    mm = mirror_map()
    assert mm[61] == 291 and mm[291] == 61 and mm[1] == 1
    mid = TPL["points"][[1, 4, 152, 10], 0].mean()
    for au in ACTION_UNITS.values():
        for b in au.bumps:
            assert np.isclose(np.hypot(*b.direction), 1)
            assert (TPL["points"][b.landmark, 0] < mid) if b.mirror else abs(TPL["points"][b.landmark, 0] - mid) < 2
    assert set(ACTION_UNITS) >= {"AU1", "AU2", "AU4", "AU6", "AU7", "AU9", "AU10", "AU12", "AU14", "AU15", "AU17",
                                 "AU20", "AU23", "AU24", "AU26"}


def test_field_zero_linear_and_directions():
    assert not au_field(FACE, SHAPE, {"AU12": 0}).any()
    u1 = au_field(FACE, SHAPE, {"AU12": 1.0})
    assert np.allclose(au_field(FACE, SHAPE, {"AU12": 0.5}), 0.5 * u1, atol=1e-5)
    c = au_displacement_at(FACE[[61, 291]], FACE, {"AU12": 1.0})
    assert c[0, 0] < 0 < c[1, 0] and (c[:, 1] < 0).all()                                   # up and out
    assert (au_displacement_at(FACE[[61, 291]], FACE, {"AU15": 1.0})[:, 1] > 0).all()       # down
    assert (au_displacement_at(FACE[[107, 336]], FACE, {"AU1": 1.0})[:, 1] < 0).all()       # inner brows up
    with pytest.raises(KeyError): au_field(FACE, SHAPE, {"AU99": 1})
    assert min(fold_margin(au_field(FACE, SHAPE, {k: 1.0})) for k in ACTION_UNITS) > 0.3


def test_field_turns_with_the_face():
    o = face_frame(FACE)[0]
    a = np.radians(30)
    rolled = FACE.copy()
    rolled[:, :2] = (FACE[:, :2] - o) @ np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]]).T + o
    v0 = au_displacement_at(FACE[[61]], FACE, {"AU12": 1})[0]
    v1 = au_displacement_at(rolled[[61]], rolled, {"AU12": 1})[0]
    assert np.isclose(np.degrees(np.arctan2(v1[1], v1[0]) - np.arctan2(v0[1], v0[0])), 30, atol=0.1)


def test_forward_displacement_is_the_fixed_point():
    x = FACE[:, :2].astype(float)
    aus = {"AU12": 2.0, "AU26": 1.0}
    d = forward_displacement(x, FACE, aus)
    assert np.abs(x + d - au_displacement_at(x + d, FACE, aus) - x).max() < 1e-4
    i = intensity_for("AU12", FACE, 0.15, at=(61, 291))
    assert np.isclose(au_amplitude("AU12", FACE, i, at=(61, 291)), 0.15, rtol=1e-4)


def test_truth_on_the_template_is_the_image_displacement():
    curve = au_curve(10, 2, 4, 6)
    tr = au_truth(FACE, {"AU12": curve})
    assert tr["truth"].shape == tr["truth_px"].shape == (10, len(tr["points"]), 2)
    assert np.allclose(tr["truth"], tr["truth_px"], atol=1e-3)      # canonical = image on the template itself
    assert not tr["truth"][:3].any() and np.abs(tr["truth"][4]).max() > 1


def test_curves():
    c = au_curve(30, 5, 10, 15)
    assert c[:6].max() == 0 and np.allclose(c[10:16], 1) and c[20:].max() == 0
    with pytest.raises(ValueError): au_curve(30, 10, 5, 15)
    h = head_curves(30, yaw=20, scale=0.05)
    assert h["yaw"][0] == 0 and np.isclose(np.abs(h["yaw"]).max(), 20, atol=0.5) and h["scale"][0] == 1


def test_head_warp_identity_similarity_and_rotation():
    W = HeadWarp(FACE, SHAPE)
    mx, my, lm = W.maps({})
    yy, xx = np.mgrid[0:256, 0:256]
    assert np.array_equal(mx, xx) and np.array_equal(my, yy) and np.allclose(lm, FACE)
    img = texture()
    assert np.array_equal(render_frame(img, W)[0], img)
    lm = W.landmarks(dict(yaw=10, pitch=-5, roll=7))
    assert np.allclose(euler_angles(rotation(10, -5, 7)), (10, -5, 7))
    c = FACE.mean(0)
    assert np.allclose(lm, (FACE - c) @ rotation(10, -5, 7).T + c)
    mx, my, lm = W.maps(dict(yaw=15))
    assert np.isfinite(mx).all() and np.isfinite(my).all()
    import cv2
    back = lambda p: np.array([cv2.remap(m, np.float32([[p[0]]]), np.float32([[p[1]]]), cv2.INTER_LINEAR)[0, 0] for m in (mx, my)])
    assert np.linalg.norm(back(lm[1, :2]) - FACE[1, :2]) < 0.5                          # the nose tip maps back


def test_render_video_and_its_truth(tmp_path):
    from facegps.measure.video import VideoReader
    n = 8
    out = render_au_video(tmp_path / "v.mp4", texture(), FACE, n, {"AU12": au_curve(n, 1, 3, 4)},
                          head_curves(n, roll=5, shift=4, yaw=10), noise_sigma=2, seed=1)
    frames = list(VideoReader(tmp_path / "v.mp4"))
    assert len(frames) == n and frames[0].color.shape == SHAPE
    assert out["truth"].shape == (n, len(out["points"]), 2) and out["landmarks"].shape == (n, 468, 3)
    assert out["fold_margin"] > 0 and np.isclose(out["iod_px"], TPL["iod"]) and out["head"]["yaw"].shape == (n,)
    with pytest.raises(ValueError, match="folds"):
        render_au_video(tmp_path / "bad.mp4", texture(), FACE, 3, {"AU12": [0, 12, 0]})
    assert not (tmp_path / "bad.mp4").exists()                                           # nothing half-written


def test_mediapipe_follows_a_rendered_head_turn(tmp_path):
    from facegps.measure.landmarks import track_landmarks
    from facegps.measure.pose import head_poses
    img, lm = real_face("carphone")
    n = 16
    head = head_curves(n, yaw=20)
    render_au_video(tmp_path / "turn.mp4", img, lm, n, {}, head, noise_sigma=2)
    track = track_landmarks(tmp_path / "turn.mp4", quiet=True)
    assert track.face_found.all()
    assert np.corrcoef(head_poses(track.landmarks)[:, 0], head["yaw"])[0, 1] > 0.9
