"""Landmarks on real videos, several faces, faces that leave and come back, and no face at all."""
import cv2
import numpy as np
import pytest

from conftest import write_video
from facegps.data import sample_image
from facegps.measure.landmarks import NoFaceError, require_face, track_landmarks


@pytest.fixture(scope="module")
def smile_track(smile):
    return track_landmarks(smile)


def test_landmarks_in_every_frame_of_smile(smile_track):
    t = smile_track
    assert t.n_frames == 72 and t.face_found.all() and not np.isnan(t.landmarks).any()
    assert (t.n_faces == 1).all()


def test_landmarks_in_every_frame_of_carphone(carphone):
    t = track_landmarks(carphone)
    assert t.n_frames == 120 and t.face_found.all()
    # the head moves in this video: the face centre travels several pixels
    centre = t.landmarks[..., :2].mean(1)
    assert np.ptp(centre, axis=0).max() > 5


def test_noface_gives_nan_and_a_clear_error(noface):
    t = track_landmarks(noface)
    assert t.n_with_face == 0 and np.isnan(t.landmarks).all() and not t.face_found.any()
    with pytest.raises(NoFaceError, match=rf"no_face\.mp4: no face in {t.n_frames} of {t.n_frames} frames"):
        require_face(t)


def test_face_leaves_and_comes_back(tmp_path, smile_frames, smile_track):
    """Synthetic gap with a known truth: frames 20-29 of the real smile video blanked out."""
    frames = [f if not 20 <= i < 30 else np.zeros_like(f) for i, f in enumerate(smile_frames)]
    t = track_landmarks(write_video(tmp_path / "gap.mp4", frames))
    assert not t.face_found[20:30].any() and np.isnan(t.landmarks[20:30]).all()
    assert t.face_found[:20].all() and t.face_found[30:].all()
    # after the gap the same face is found again, where it was
    err = np.abs(t.landmarks[35, :, :2] - smile_track.landmarks[35, :, :2]).mean()
    assert err < 10, err


def test_two_faces_follow_the_largest(tmp_path, smile_frames):
    """Two real faces side by side: the smile video (large) and the face still (small)."""
    still = cv2.imread(str(sample_image("face")))
    small = cv2.resize(still, (250, 250))
    frames = []
    for f in smile_frames[:20]:
        canvas = np.zeros((360, 890, 3), np.uint8)
        canvas[:, :640] = f
        canvas[:250, 640:] = small
        frames.append(canvas)
    t = track_landmarks(write_video(tmp_path / "two.mp4", frames), max_faces=2)
    assert t.face_found.all() and (t.n_faces == 2).sum() >= 15
    assert (t.landmarks[:, :, 0].mean(1) < 640).all(), "the followed face is the large one on the left, every frame"
