"""Shared fixtures: real sample videos (fetched and verified by facegps.data) and videos derived from them."""
import os
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest

os.environ.setdefault("FACEGPS_QUIET", "1")

from facegps.data import sample_image, sample_video  # noqa: E402
from facegps.video import VideoReader  # noqa: E402


@pytest.fixture(scope="session")
def smile():
    return sample_video("smile")


@pytest.fixture(scope="session")
def carphone():
    return sample_video("carphone")


@pytest.fixture(scope="session")
def noface():
    return sample_video("noface")


def write_video(path: Path, frames, fps: float = 30.0) -> Path:
    """Write BGR `frames` to `path` with OpenCV (mp4v): for tests only."""
    frames = list(frames)
    h, w = frames[0].shape[:2]
    vw = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    for f in frames:
        vw.write(f)
    vw.release()
    return path


@pytest.fixture(scope="session")
def smile_frames(smile):
    return [f.color for f in VideoReader(smile)]


@pytest.fixture(scope="session")
def ffmpeg():
    import imageio_ffmpeg
    return imageio_ffmpeg.get_ffmpeg_exe()


@pytest.fixture(scope="session")
def truncated_video(tmp_path_factory, smile, ffmpeg):
    """The smile video remuxed with its index first (faststart), then cut to 40 % of its bytes:
    it opens, decodes part of the frames, then stops."""
    d = tmp_path_factory.mktemp("trunc")
    fast = d / "faststart.mp4"
    subprocess.run([ffmpeg, "-v", "error", "-y", "-i", str(smile), "-c", "copy", "-movflags", "+faststart", str(fast)],
                   check=True)
    data = fast.read_bytes()
    cut = d / "cut.mp4"
    cut.write_bytes(data[: int(len(data) * 0.4)])
    return cut
