"""Shared fixtures: real sample videos (fetched and verified by facegps.data) and videos derived from them."""
import os
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest

os.environ.setdefault("FACEGPS_QUIET", "1")

from facegps.data import sample_image, sample_video  # noqa: E402
from facegps.measure.video import VideoReader  # noqa: E402


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


class PageParts:
    """What a page holds that matters for its safety: every start tag with its attributes (`tags`), the text of its
    `<title>` and of each `<h1>` (links inside a heading left out), and the elements or attributes that could run
    code (`live`: script, svg, iframe, object, embed; an `on…` attribute; a `javascript:` href or src)."""
    def __init__(self, page: str):
        from html.parser import HTMLParser
        self.tags, self.title, self.h1, stack = [], "", [], []
        parts = self

        class Parser(HTMLParser):
            def handle_starttag(self, tag, attrs):
                parts.tags.append((tag, dict(attrs)))
                if tag in ("title", "h1", "a"): stack.append(tag)
                if tag == "h1": parts.h1.append("")

            def handle_endtag(self, tag):
                if stack and stack[-1] == tag: stack.pop()

            def handle_data(self, data):
                if stack[-1:] == ["title"]: parts.title += data
                elif stack[-1:] == ["h1"]: parts.h1[-1] += data

        Parser().feed(page)
        script = lambda k, v: k in ("href", "src") and (v or "").strip().lower().startswith("javascript:")
        self.live = [(t, a) for t, a in self.tags if t in ("script", "svg", "iframe", "object", "embed")
                     or any(k.startswith("on") or script(k, v) for k, v in a.items())]


@pytest.fixture(scope="session")
def page_parts():
    "`PageParts` of an HTML page's text."
    return PageParts
