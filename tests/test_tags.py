"""`facegps tag`: references from the tagged video and from photos, one person and every person, bad references."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from conftest import write_video
from facegps.data import sample_image, sample_video
from facegps.measure.video import VideoReader

FACEGPS = str(Path(sys.executable).parent / "facegps")


def run(*args):
    return subprocess.run([FACEGPS, *map(str, args)], capture_output=True, text=True,
                          env={**os.environ, "FACEGPS_QUIET": "1"}, timeout=900)


def test_tag_the_smile_from_two_of_its_frames(tmp_path, smile):
    refs = tmp_path / "refs"; refs.mkdir()
    (refs / "refs.csv").write_text("tag,video,frame\nneutral,,3\nsmile,,30\n")
    out = run("tag", smile, "--refs", refs, "-o", tmp_path / "r")
    assert out.returncode == 0, out.stderr
    tables = tmp_path / "r" / "single_face_tags"
    html = (tmp_path / "r" / "single_face_tags.html").read_text()
    assert "Appearance rate" in html and "Expression summary" in html and html.count("<img") >= 2
    t = pd.read_parquet(tables / "tags.parquet")
    assert (t.loc[40:69, "tag"] == "smile").all() and (t.loc[8:15, "tag"] == "neutral").mean() >= 0.9
    seg = pd.read_csv(tables / "segments.csv")
    smile_seg = seg[seg["tag"] == "smile"].iloc[0]
    assert abs(smile_seg["first_frame"] - 19) <= 2 and len(seg[seg["tag"] == "smile"]) == 1
    rates = pd.read_csv(tables / "appearance.csv", index_col=0)
    assert rates.loc["person_0", "smile"] > 0.6 and len(pd.read_csv(tables / "clusters.csv")) == 10
    assert json.loads((tables / "tags.json").read_text())["threshold"] == 0.8


def test_tag_every_person_from_photos(tmp_path, smile_frames):
    car = [cv2.resize(f.color, (440, 360)) for f in VideoReader(sample_video("carphone"))][:72]
    video = write_video(tmp_path / "two.mp4", [np.hstack([a, b]) for a, b in zip(smile_frames, car)])
    refs = tmp_path / "refs"; refs.mkdir()
    shutil.copy(sample_image("still_happy"), refs / "smile.jpg")
    out = run("tag", video, "--refs", refs, "--faces", "all", "--embedding", "fer", "--threshold", "0.9", "-o", tmp_path / "r")
    assert out.returncode == 0, out.stderr
    rates = pd.read_csv(tmp_path / "r" / "two_tags" / "appearance.csv", index_col=0)
    assert list(rates.index) == ["person_0", "person_1"]
    assert rates.loc["person_0", "smile"] > rates.loc["person_1", "smile"]       # the smiling man smiles more


@pytest.mark.parametrize("make, says", [
    (lambda d: None, "no reference: put images named by their tag (smile.png) or a refs.csv in it"),
    (lambda d: (d / "refs.csv").write_text("tag,video,frame\nsmile,,x\n"), "refs.csv: row 2: frame 'x' is not a frame index"),
    (lambda d: (d / "refs.csv").write_text("tag,video,frame\nsmile,,999\n"), "reference frame 999 is out of range (0–71)"),
])
def test_bad_references_are_one_clear_line(tmp_path, smile, make, says):
    refs = tmp_path / "refs"; refs.mkdir()
    make(refs)
    out = run("tag", smile, "--refs", refs, "-o", tmp_path / "r")
    assert out.returncode == 2 and out.stderr.count("\n") == 1 and says in out.stderr, out.stderr


def test_photos_saved_from_the_video_just_work(tmp_path, smile):
    "`facegps tag VIDEO --refs REFS` with crying.png / laughing.png-style frames saved from the video: auto → facegps."
    frames = [f.color for f in VideoReader(smile)]
    refs = tmp_path / "refs"; refs.mkdir()
    cv2.imwrite(str(refs / "neutral.png"), frames[3]); cv2.imwrite(str(refs / "smile.jpg"), frames[30])
    out = run("tag", smile, "--refs", refs, "-o", tmp_path / "r")
    assert out.returncode == 0, out.stderr
    assert "facegps (auto): every reference is a video frame (neutral.png = frame 3, smile.jpg = frame 30" in out.stdout
    tables = tmp_path / "r" / "single_face_tags"
    meta = json.loads((tables / "tags.json").read_text())
    assert meta["embedding"] == "facegps" and meta["embedding_asked"] == "auto" and meta["threshold"] == 0.8
    t = pd.read_parquet(tables / "tags.parquet")
    assert (t.loc[40:69, "tag"] == "smile").all() and (t.loc[8:15, "tag"] == "neutral").mean() >= 0.9
    assert "every reference is a video frame" in (tmp_path / "r" / "single_face_tags.html").read_text()
    shutil.copy(sample_image("still_happy"), refs / "smile_2.jpg")            # a photo of someone else: fer, said so
    out = run("tag", smile, "--refs", refs, "-o", tmp_path / "r2")
    assert out.returncode == 0 and "fer (auto): smile_2.jpg is a photo, not" in out.stdout, out.stdout + out.stderr
    out = run("tag", smile, "--refs", refs, "--embedding", "facegps", "-o", tmp_path / "r3")
    assert out.returncode == 2 and "smile_2.jpg: not a frame of the tagged video" in out.stderr, out.stderr


def test_a_hostile_video_and_tag_name_are_text_in_the_tags_report(tmp_path, smile, page_parts):
    "Markup, Markdown, matplotlib math and a byte that is not UTF-8 in the video's and a tag's names: shown as text."
    from facegps.view.report import plain_text
    from facegps.runs.runner import report_name
    video = tmp_path / os.fsdecode(b'<img src=x onerror=alert(1)> *b* $\\foo$ \xff.mp4')
    shutil.copy(smile, video)
    refs = tmp_path / "refs"; refs.mkdir()
    (refs / "refs.csv").write_text("tag,video,frame\n<b>neutral$\\x$,,3\nsmile,,30\n")
    out = run("tag", video, "--refs", refs, "-o", tmp_path / "r")
    assert out.returncode == 0, out.stderr
    page = (tmp_path / "r" / f"{report_name(video.stem + '_tags')}.html").read_text(encoding="utf-8")
    parts = page_parts(page)
    assert not parts.live and "<img src=x" not in page and "<b>neutral" not in page, parts.live
    assert parts.h1[0] == f"Expression tags: {plain_text(video.name)}"
    assert "&lt;b&gt;neutral" in page                                     # the tag, shown as text
