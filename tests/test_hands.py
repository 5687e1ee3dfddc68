"""Hands over the face (facegps.measure.hands): a real hand over a real mouth, none on the samples, regions and covered points."""
import numpy as np
import pytest

from facegps.measure.hands import (Hands, HandTracker, hand_cover, hand_cutout, hand_over_mouth, hand_regions, hand_size,
                           hand_video, hand_video_truth, join_hands, no_hands, points_covered, region_mask, track_hands)
from facegps.measure.landmarks import track_landmarks
from facegps.measure.manifold import interocular_distance
from facegps.measure.video import VideoReader


@pytest.fixture(scope="module")
def hand_clip():
    "Frames 50-70 of the real hand-over-mouth video (the hand reaches the lips at frame 58)."
    return [f.color for f in VideoReader(hand_video(), max_frames=71)][50:]


@pytest.fixture(scope="module")
def clip_hands(hand_clip):
    return track_hands(hand_clip, stride=1, quiet=True)


def test_the_real_hand_is_found_when_it_reaches_the_mouth(clip_hands):
    covered, counted = hand_video_truth()
    truth = covered[50:71]
    n = clip_hands.n_hands
    assert (n[:6] == 0).all() and (n[-8:] == 1).all()            # frames 50-55 none; 63-70 one hand
    assert ((n > 0) == truth)[counted[50:71]].mean() >= 0.9
    h = clip_hands.hands[-1]
    assert h.points.shape == (1, 21, 2) and h.points.dtype == np.float32 and 0.5 < h.score[0] <= 1
    assert h.side[0] in ("Left", "Right")


def test_the_face_under_the_hand_is_flagged(hand_clip, clip_hands, tmp_path):
    faces = track_landmarks(hand_video(), max_frames=71, quiet=True).landmarks[50:]
    flag = hand_cover(clip_hands, faces).any(1)
    assert not flag[:6].any() and flag[-8:].all()
    mouth = hand_cover(clip_hands, faces)[-1][[13, 14, 0, 17]]     # lips: under the hand in frame 70
    assert mouth.any()


def test_no_hand_on_the_samples(smile, carphone):
    for path in (smile, carphone):
        tr = track_hands(path, stride=1, max_frames=8, quiet=True)
        assert tr.n_frames == 8 and (tr.n_hands == 0).all() and tr.ran.all()


def test_stride_runs_on_every_kth_frame_and_the_last_and_fills_between(hand_clip):
    tr = track_hands(hand_clip, stride=3, quiet=True)            # 21 frames: 0, 3, ..., 18 and the last, 20
    assert np.flatnonzero(tr.ran).tolist() == [0, 3, 6, 9, 12, 15, 18, 20]
    n = tr.n_hands
    for t in np.flatnonzero(~tr.ran):                             # a skipped frame has both neighbours' hands
        before, after = 3 * (t // 3), min(3 * (t // 3) + 3, 20)
        assert n[t] == n[before] + n[after]
    with pytest.raises(ValueError, match="stride"):
        track_hands(hand_clip[:2], stride=0)


def square_hand(x=100.0, y=100.0, s=40.0) -> np.ndarray:
    "21 landmarks (px) of a stylised open hand: wrist at (x, y + s), fingers up to y - s."
    pts = np.zeros((21, 2), np.float32)
    pts[0] = (x, y + s)
    for f, dx in enumerate((-0.8, -0.4, 0.0, 0.4, 0.8)):
        for j in range(4):
            pts[1 + 4 * f + j] = (x + dx * s, y - j * s / 3)
    return pts


def test_regions_and_covered_points():
    p = square_hand()
    assert hand_size(p)[0] == pytest.approx(48.0)                        # the palm's width (5 -> 17) beats its length, 40
    size = float(hand_size(p)[0])
    regs0, regs = hand_regions(p[None], (300, 300), 0.0), hand_regions(p[None], (300, 300), 0.3)
    assert len(regs) == 1
    assert points_covered(regs, p).all()
    edge = np.array([[100 + 0.8 * 40 + 0.2 * size, 100.0], [100 + 0.8 * 40 + 0.4 * size, 100.0]])
    assert points_covered(regs, edge).tolist() == [True, False]          # within the margin; beyond it
    assert points_covered(regs0, edge).tolist() == [False, False]
    assert points_covered(regs, [[np.nan, 100.0], [-10.0, -10.0]]).tolist() == [False, False]
    mask = region_mask(regs, (300, 300))
    grid = np.stack(np.meshgrid(np.arange(0, 300, 3.0), np.arange(0, 300, 3.0)), -1).reshape(-1, 2)
    assert (points_covered(regs, grid) != points_covered(mask, grid)).mean() < 0.01
    assert hand_regions(square_hand(-500, -500)[None], (300, 300)) == []  # a hand outside the frame: no region
    with pytest.raises(ValueError, match="margin"):
        hand_regions(p[None], (300, 300), -0.1)


def test_cover_needs_one_set_of_points_per_frame():
    h = Hands(square_hand()[None], np.ones(1, np.float32), ("Left",))
    assert len(join_hands([h, no_hands(), h])) == 2 and len(join_hands([])) == 0
    from facegps.measure.hands import HandTrack
    tr = HandTrack([h, no_hands()], np.ones(2, bool), 300, 300, 1, 0.0)
    pts = np.array([[[100.0, 100.0], [250.0, 250.0]], [[100.0, 100.0], [250.0, 250.0]]])
    assert hand_cover(tr, pts).tolist() == [[True, False], [False, False]]
    with pytest.raises(ValueError, match="frames"):
        hand_cover(tr, pts[:1])


def test_a_real_hand_pasted_over_the_smile_mouth_is_found(smile, hand_clip, clip_hands):
    src, pts = hand_clip[-1], clip_hands.hands[-1].points[0]            # frame 70: the hand across her mouth
    src_face = track_landmarks(hand_video(), max_frames=71, quiet=True).landmarks[70]
    alpha = hand_cutout(src.shape, pts)
    assert 0.99 < alpha.max() <= 1 and alpha.min() >= 0
    frames = [f.color for f in VideoReader(smile, max_frames=10)]
    faces = track_landmarks(smile, max_frames=10, quiet=True).landmarks
    new, truth = hand_over_mouth(frames, faces, src, alpha, pts, interocular_distance(src_face[:, :2]), first=3, last=9)
    assert not truth[:3].any() and truth[3:].any(1).all()
    assert all((a == b).all() for a, b in zip(new[:3], frames[:3]))
    tr = track_hands(new, stride=1, quiet=True)
    flag = hand_cover(tr, faces).any(1)
    assert not flag[:3].any() and flag[3:].mean() >= 0.8


def test_the_analysis_searches_for_hands_every_6th_frame_and_follows_one_every_3rd():
    """`analyze_video`'s landmark pass runs the hand tracker 6 frames after a run that saw no hand and 3 after one that
    saw a hand (`hand_search_stride`, `hand_stride`): on the real hand video, through the hand's arrival (frame 58)."""
    from facegps.measure.analyze import _landmark_frames
    from facegps.measure.hands import hand_video
    from facegps.measure.video import VideoReader
    hands, busy = dict(stride=3, search=6, found={}), dict(landmarks_s=0.0, hands_s=0.0)
    for _ in _landmark_frames(VideoReader(hand_video(), max_frames=90), 4, busy, quiet=True, hands=hands, stabilise=True):
        pass
    runs = sorted(hands["found"])
    steps = {k: b - k for k, b in zip(runs, runs[1:])}
    assert runs[:3] == [0, 6, 12] and all(s == (3 if len(hands["found"][k]) else 6) for k, s in steps.items())
    assert any(s == 3 for s in steps.values()) and any(s == 6 for s in steps.values())   # both strides were used
