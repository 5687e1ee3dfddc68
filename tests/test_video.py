"""Video reading on real files and on broken ones."""
import warnings

import numpy as np
import pytest

from facegps.measure.video import TruncatedVideoWarning, VideoError, VideoReader, probe_video


def test_carphone_streams_with_container_timestamps(carphone):
    r = VideoReader(carphone)
    times = [f.time_s for f in r]
    assert r.decoded == 120 and (r.info.width, r.info.height) == (176, 144)
    assert np.allclose(np.diff(times), 1 / 29.97, atol=1e-3)


def test_max_frames_stops_early(smile):
    r = VideoReader(smile, max_frames=5)
    assert [f.index for f in r] == [0, 1, 2, 3, 4] and r.truncated_at is None


def test_missing_file(tmp_path):
    with pytest.raises(VideoError, match=r"missing\.mp4: file not found"):
        VideoReader(tmp_path / "missing.mp4")


def test_text_file_renamed_mp4(tmp_path):
    p = tmp_path / "notes.mp4"
    p.write_text("Dear diary, this is not a video.\n" * 20)
    with pytest.raises(VideoError, match=r"notes\.mp4: not a readable video"):
        probe_video(p)


def test_empty_file(tmp_path):
    p = tmp_path / "empty.mp4"
    p.touch()
    with pytest.raises(VideoError, match="empty"):
        VideoReader(p)


def test_truncated_file_keeps_decoded_frames_and_says_where(truncated_video):
    r = VideoReader(truncated_video)
    with pytest.warns(TruncatedVideoWarning, match=r"decoding stopped at frame \d+ of 72"):
        frames = list(r)
    assert 0 < len(frames) < 72 and r.truncated_at == len(frames)
    assert frames[-1].color.shape == (360, 640, 3)


def test_noface_video_decodes_without_truncation_warning(noface):
    r = VideoReader(noface)
    with warnings.catch_warnings():
        warnings.simplefilter("error", TruncatedVideoWarning)
        n = sum(1 for _ in r)
    assert n == r.decoded > 90


def test_rotation_metadata_is_applied(tmp_path, smile, ffmpeg):
    import subprocess
    rotated = tmp_path / "phone.mp4"
    subprocess.run([ffmpeg, "-v", "error", "-y", "-display_rotation", "90", "-i", str(smile), "-c", "copy", str(rotated)],
                   check=True)
    info = probe_video(rotated)
    assert info.rotation in (90, 270) and (info.width, info.height) == (360, 640)
    first = next(iter(VideoReader(rotated)))
    assert first.color.shape == (640, 360, 3) and first.gray.shape == (640, 360)
