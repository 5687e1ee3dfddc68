"""Bad and unusual inputs through `facegps analyze` and `facegps batch`, as a user types them.

Each failure must be exactly one line on stderr naming the file (or option) and the problem, with its exit code,
no traceback, no native log line (MediaPipe, FFmpeg, OpenCV: nothing is ignored here) and no output that looks
finished (no summary.json). The unusual inputs that must work (a unicode path, a path with spaces, a video cut in
the middle) must leave stderr empty but for their one warning. Small inputs: derived clips of a few frames,
--max-frames and --no-overlay, so that the whole file runs in about a minute on 2 cores.
"""
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import write_video

FACEGPS = str(Path(sys.executable).parent / "facegps")
ENV = {**os.environ, "FACEGPS_QUIET": "1"}
FAST = ["--max-frames", "8", "--no-overlay"]


def run(*args, timeout=300):
    return subprocess.run([FACEGPS, *map(str, args)], capture_output=True, text=True, timeout=timeout, env=ENV)


def finished_outputs(out: Path) -> list:
    "Files under `out` that would make it look finished (a summary.json) or half-written (a temp or work file)."
    if not out.exists(): return []
    return [p for p in out.rglob("*") if p.name == "summary.json" or p.name.startswith(".")]


@dataclass
class Inputs:
    "The bad and unusual inputs, made once for the module."
    clip: Path        # 12 frames of the smile sample (a face throughout)
    long: Path        # the smile sample forward then backward: 144 frames
    one: Path         # a single frame with a face
    text: Path        # a text file named .mp4
    jpeg: Path        # the sample JPEG named .mp4
    empty: Path       # 0 bytes
    folder: Path      # a folder named like a video
    cut_index: Path   # the smile sample cut before its index (moov atom at the end)
    cut_middle: Path  # the smile sample with its index first, cut at 40 % of its bytes
    noface: Path
    unicode: Path     # the clip under a non-ASCII name
    spaces: Path      # the clip in a folder with spaces in its name
    regular: Path     # a regular file (an output folder cannot go under it)
    empty_dir: Path
    no_path_csv: Path
    missing_csv: Path
    bad_frame: Path   # an image sequence (folder of PNGs) whose second image is a text file
    mixed: Path       # an image sequence whose second image has another size


@pytest.fixture(scope="module")
def inp(tmp_path_factory, smile, smile_frames, noface, truncated_video):
    from facegps.data import sample_image
    d = tmp_path_factory.mktemp("bad inputs")
    clip = write_video(d / "clip.mp4", smile_frames[:12])
    long = write_video(d / "long.mp4", smile_frames + smile_frames[::-1])
    one = write_video(d / "one_frame.mp4", smile_frames[:1])
    (d / "minutes.mp4").write_text("minutes of the meeting\n")
    (d / "photo.mp4").write_bytes(Path(sample_image("face")).read_bytes())
    (d / "empty.mp4").write_bytes(b"")
    (d / "folder.mp4").mkdir()
    data = Path(smile).read_bytes()
    (d / "cut_index.mp4").write_bytes(data[: len(data) // 2])
    (d / "vidéo_表情 ü.mp4").write_bytes(clip.read_bytes())
    (d / "my clips").mkdir()
    (d / "my clips" / "smile clip.mp4").write_bytes(clip.read_bytes())
    (d / "regular.txt").write_text("a file\n")
    (d / "no videos").mkdir()
    (d / "no_path.csv").write_text(f"file,subject\n{clip.name},s1\n")
    (d / "missing.csv").write_text("path,subject\nnot_there.mp4,s1\n")
    import cv2
    for name in ("bad frame", "mixed"):
        (d / name).mkdir()
        cv2.imwrite(str(d / name / "001.png"), smile_frames[0])
    (d / "bad frame" / "002.png").write_text("not an image\n")
    cv2.imwrite(str(d / "mixed" / "002.png"), cv2.resize(smile_frames[1], (320, 180)))
    return Inputs(clip, long, one, d / "minutes.mp4", d / "photo.mp4", d / "empty.mp4", d / "folder.mp4",
                  d / "cut_index.mp4", truncated_video, Path(noface), d / "vidéo_表情 ü.mp4",
                  d / "my clips" / "smile clip.mp4", d / "regular.txt", d / "no videos", d / "no_path.csv",
                  d / "missing.csv", d / "bad frame", d / "mixed")


# (id, the command line from the inputs and an output folder, exit code, what its one stderr line must contain)
FAILURES = [
    ("missing file", lambda i, o: ["analyze", i.clip.parent / "nope.mp4", "-o", o],
     2, lambda i: [f"{i.clip.parent / 'nope.mp4'}: file not found"]),
    ("directory as video", lambda i, o: ["analyze", i.folder, "-o", o],
     2, lambda i: [f"{i.folder}: a folder with no images (an image sequence needs .png"]),
    ("image sequence with an unreadable image", lambda i, o: ["analyze", i.bad_frame, "-o", o, *FAST],
     2, lambda i: [f"{i.bad_frame}: unreadable image 002.png (not a valid image file)"]),
    ("image sequence of mixed sizes", lambda i, o: ["analyze", i.mixed, "-o", o, *FAST],
     2, lambda i: [f"{i.mixed}: mixed image sizes: 002.png is 320×180, the first image is 640×360"]),
    ("empty file", lambda i, o: ["analyze", i.empty, "-o", o],
     2, lambda i: [f"{i.empty}: file is empty (0 bytes)"]),
    ("text renamed .mp4", lambda i, o: ["analyze", i.text, "-o", o],
     2, lambda i: [f"{i.text}: not a readable video"]),
    ("JPEG renamed .mp4", lambda i, o: ["analyze", i.jpeg, "-o", o],
     2, lambda i: [f"{i.jpeg}: not a video: the file is a JPEG image"]),
    ("cut before the index", lambda i, o: ["analyze", i.cut_index, "-o", o],
     2, lambda i: [f"{i.cut_index}: not a readable video", "cut before its index"]),
    ("no face", lambda i, o: ["analyze", i.noface, "-o", o, "--max-frames", "15", "--no-overlay"],
     2, lambda i: [f"{i.noface}: no face in 15 of 15 frames"]),
    ("--landmarks-from a folder without an analysis", lambda i, o: ["analyze", i.clip, "-o", o, "--landmarks-from", i.empty_dir],
     2, lambda i: [f"{i.empty_dir}: no finished analysis here (no summary.json): cannot read its landmarks"]),
    ("report --landmarks-from a folder without an analysis", lambda i, o: ["report", i.clip, "-o", o, "--landmarks-from", i.empty_dir, *FAST],
     2, lambda i: [f"{i.empty_dir}: no finished analysis here (no summary.json): cannot read its landmarks", "the executed notebook"]),
    ("batch --reuse-landmarks with --report", lambda i, o: ["batch", i.empty_dir, "-o", o, "--report", "--reuse-landmarks"],
     2, lambda i: ["reusing landmarks is for analyses; not with a report"]),
    ("--landmarks-from with --faces all", lambda i, o: ["analyze", i.clip, "-o", o, "--faces", "all", "--landmarks-from", i.empty_dir],
     2, lambda i: ["--landmarks-from: takes one face's landmarks; not with --faces all"]),
    ("--canonical", lambda i, o: ["analyze", i.clip, "-o", o, "--canonical", "front"],
     2, lambda i: ["argument --canonical: invalid choice: 'front' (choose from 'pose', 'mesh')"]),
    ("--flow", lambda i, o: ["analyze", i.clip, "-o", o, "--flow", "farneback"],
     2, lambda i: ["argument --flow: invalid choice: 'farneback' (choose from 'lk', 'dis')"]),
    ("--register-region", lambda i, o: ["analyze", i.clip, "-o", o, "--register-region", "cheeks"],
     2, lambda i: ["argument --register-region: invalid choice: 'cheeks' (choose from 'face', 'upper')"]),
    ("bench --configs", lambda i, o: ["bench", "accuracy", "--configs", "fastest"],
     2, lambda i: ["argument --configs: invalid choice: 'fastest'"]),
    ("bench invariance --clips", lambda i, o: ["bench", "invariance", "--clips", "no-such-clip.mp4"],
     2, lambda i: ["no-such-clip.mp4: not a sample video name nor a video file"]),
    ("--disagreement-scale", lambda i, o: ["analyze", i.clip, "-o", o, "--disagreement-scale", "0"],
     2, lambda i: ["argument --disagreement-scale: must be > 0 (canonical px), got 0.0"]),
    ("--hand-stride 0", lambda i, o: ["analyze", i.clip, "-o", o, "--hand-stride", "0"],
     2, lambda i: ["argument --hand-stride: must be an integer from 1 to 30 (frames), got 0"]),
    ("--prewarp-full below --prewarp-start", lambda i, o: ["analyze", i.clip, "-o", o, "--prewarp-full", "1"],
     2, lambda i: ["argument --prewarp-full: must be >= prewarp_start (3.0), got 1.0"]),
    ("--density", lambda i, o: ["analyze", i.clip, "-o", o, "--density", "9"],
     2, lambda i: ["argument --density: must be an integer from 1 to 6, got 9"]),
    ("--density not a number", lambda i, o: ["analyze", i.clip, "-o", o, "--density", "three"],
     2, lambda i: ["argument --density: 'three' is not an integer"]),
    ("--sigma-iod", lambda i, o: ["analyze", i.clip, "-o", o, "--sigma-iod", "0"],
     2, lambda i: ["argument --sigma-iod: must be in (0, 1]", "got 0.0"]),
    ("--lk-win", lambda i, o: ["analyze", i.clip, "-o", o, "--lk-win", "4"],
     2, lambda i: ["argument --lk-win: must be an odd integer >= 3, got 4"]),
    ("--muscle-weights unknown muscle", lambda i, o: ["analyze", i.clip, "-o", o, "--muscle-weights", '{"smile": 1}'],
     2, lambda i: ["argument --muscle-weights: unknown muscle(s) ['smile']", "zygomaticus_major_R"]),
    ("--muscle-weights not JSON", lambda i, o: ["analyze", i.clip, "-o", o, "--muscle-weights", "{smile: 1}"],
     2, lambda i: ["argument --muscle-weights: not valid JSON"]),
    ("--max-faces 0", lambda i, o: ["analyze", i.clip, "-o", o, "--max-faces", "0"],
     2, lambda i: ["argument --max-faces: must be an integer >= 1, got 0"]),
    ("negative --overlay-scale", lambda i, o: ["analyze", i.clip, "-o", o, "--overlay-scale", "-1"],
     2, lambda i: ["argument --overlay-scale: must be > 0, got -1.0"]),
    ("output under /proc", lambda i, o: ["analyze", i.clip, "-o", "/proc/facegps-out", *FAST],
     2, lambda i: ["/proc/facegps-out: cannot create the output folder ("]),
    ("output under a regular file", lambda i, o: ["analyze", i.clip, "-o", i.regular / "out", *FAST],
     2, lambda i: [f"{i.regular / 'out'}: cannot create the output folder: {i.regular} is a file"]),
    ("output is a regular file", lambda i, o: ["analyze", i.clip, "-o", i.regular, *FAST],
     2, lambda i: [f"{i.regular}: is a file, not a folder"]),
    ("reference out of range", lambda i, o: ["analyze", i.clip, "-o", o, "--reference", "50", *FAST],
     2, lambda i: [f"{i.clip}: reference frame 50 is out of range: the video has 8 frames (0 to 7)"]),
    ("batch: missing input", lambda i, o: ["batch", i.clip.parent / "nowhere", "-o", o, "--workers", "1"],
     2, lambda i: [f"{i.clip.parent / 'nowhere'}: not found"]),
    ("batch: empty folder", lambda i, o: ["batch", i.empty_dir, "-o", o, "--workers", "1"],
     2, lambda i: [f"{i.empty_dir}: no videos found"]),
    ("batch: manifest without a path column", lambda i, o: ["batch", i.no_path_csv, "-o", o, "--workers", "1"],
     2, lambda i: [f"{i.no_path_csv}: manifest has no 'path' column (columns: ['file', 'subject'])"]),
    ("batch: bad option", lambda i, o: ["batch", i.empty_dir, "-o", o, "--density", "0"],
     2, lambda i: ["facegps batch: error: argument --density: must be an integer from 1 to 6, got 0"]),
    ("batch: --workers 0", lambda i, o: ["batch", i.empty_dir, "-o", o, "--workers", "0"],
     2, lambda i: ["facegps batch: error: argument --workers: must be an integer >= 1"]),
    ("batch: output under a regular file", lambda i, o: ["batch", i.empty_dir, "-o", i.regular / "out"],
     2, lambda i: [f"{i.regular / 'out'}: cannot create the output folder: {i.regular} is a file"]),
    # one bad video never stops a batch: it is listed (exit code 1), on one line
    ("batch: manifest naming a missing file", lambda i, o: ["batch", i.missing_csv, "-o", o, "--workers", "1", *FAST],
     1, lambda i: ["facegps: FAILED not_there: VideoError:", f"{i.missing_csv.parent / 'not_there.mp4'}: file not found"]),
    ("study: not a CK+ folder", lambda i, o: ["study", "ckplus", i.empty_dir, "-o", o],
     2, lambda i: [f"{i.empty_dir}: not a CK+ folder: it has no cohn-kanade-images/ inside"]),
    ("study: a stand-in into a folder that holds other files", lambda i, o: ["study", "ckplus", i.clip.parent, "--make-standin", "-o", o],
     2, lambda i: [f"{i.clip.parent}: exists and is not empty; give a new folder"]),
    ("study hidden: not a study folder", lambda i, o: ["study", "hidden", i.empty_dir, "-o", o],
     2, lambda i: [f"{i.empty_dir}: not a study folder: it needs ckplus/ (CK+ as it ships) and optionally hidden/"]),
    ("study hidden: no GPU", lambda i, o: ["study", "hidden", i.empty_dir, "-o", o, "--device", "gpu"],
     2, lambda i: ["no GPU visible to JAX", "use --device cpu"]),
    ("enhance: missing video", lambda i, o: ["enhance", i.clip.parent / "nowhere.mp4", "-o", o],
     2, lambda i: [f"{i.clip.parent / 'nowhere.mp4'}: file not found"]),
    ("enhance: --size 0", lambda i, o: ["enhance", i.clip, "-o", o, "--size", "0"],
     2, lambda i: ["argument --size: must be an integer >= 1, got '0'"]),
    ("fetch: unknown name", lambda i, o: ["fetch", "smiles"],
     2, lambda i: ["facegps: error: unknown sample name 'smiles'; choose from carphone, dlib_identity, dlib_shape5, face, fer_model, hands, multi_face, noface, smile, still_anger, still_disgust, still_happy, still_surprise"]),
]


@pytest.mark.parametrize("argv, code, says", [c[1:] for c in FAILURES], ids=[c[0] for c in FAILURES])
def test_failure_is_one_line(inp, tmp_path, argv, code, says):
    out = tmp_path / "out"
    r = run(*argv(inp, out))
    lines = r.stderr.splitlines()
    assert r.returncode == code and len(lines) == 1, (r.returncode, r.stderr)
    assert "Traceback" not in r.stderr
    for s in says(inp): assert s in lines[0], (s, lines[0])
    assert lines[0].startswith("facegps")
    assert not finished_outputs(out), finished_outputs(out)


def test_one_frame_video(inp, tmp_path):
    """A one-frame video has nothing to measure. analyze_video does not say so yet (it writes a result of zeros);
    this accepts that, or the explicit error it should raise, but never a traceback or noise."""
    out = tmp_path / "out"
    r = run("analyze", inp.one, "-o", out, "--no-overlay")
    assert "Traceback" not in r.stderr
    if r.returncode == 0:
        assert r.stderr == "" and (out / "summary.json").exists()
    else:
        lines = r.stderr.splitlines()
        assert r.returncode == 2 and len(lines) == 1 and f"{inp.one}: only 1 frame" in lines[0], r.stderr
        assert not finished_outputs(out)


def test_video_cut_in_the_middle_is_read_with_one_warning(inp, tmp_path):
    out = tmp_path / "out"
    r = run("analyze", inp.cut_middle, "-o", out, "--no-overlay")
    lines = r.stderr.splitlines()
    assert r.returncode == 0 and len(lines) == 1, r.stderr
    assert lines[0].startswith(f"facegps: warning: {inp.cut_middle}: decoding stopped at frame ")
    assert (out / "summary.json").exists()


@pytest.mark.parametrize("which", ["unicode", "spaces"])
def test_unusual_paths_work(inp, tmp_path, which):
    video = getattr(inp, which)
    out = tmp_path / ("résultats ü 表情" if which == "unicode" else "out dir/with spaces")
    r = run("analyze", video, "-o", out, "--max-frames", "6", "--no-overlay")
    assert r.returncode == 0 and r.stderr == "", r.stderr
    assert "6 of 6 frames with a face" in r.stdout and (out / "summary.json").exists()
    assert sorted(p.name for p in out.iterdir()) == ["displacement.npz", "frames.parquet", "summary.json"]


def test_ctrl_c_before_the_first_frame_leaves_no_landmark_thread(inp, tmp_path, monkeypatch):
    """A Ctrl-C while the main thread still prepares (here: while it builds the smoothing basis, before it has asked
    for a frame) stops and joins the landmark thread: a daemon thread left inside MediaPipe aborts the process at exit
    (a CI run once ended with SIGABRT, after printing the right line)."""
    import threading
    import facegps.measure.analyze as analyze
    from facegps.cli import main
    def interrupted(*args, **kw):
        time.sleep(0.3)                                        # the landmark thread is inside MediaPipe by now
        raise KeyboardInterrupt
    monkeypatch.setattr(analyze, "default_basis", interrupted)
    assert main(["analyze", str(inp.long), "-o", str(tmp_path / "out"), "--no-overlay", "--quiet"]) == 130
    assert not [t.name for t in threading.enumerate() if t.name.startswith("facegps-")]
    assert not finished_outputs(tmp_path / "out"), finished_outputs(tmp_path / "out")


def test_ctrl_c_during_an_analysis(inp, tmp_path):
    """SIGINT to the command's process group (what Ctrl-C in a terminal does) once it has started working:
    one line, exit code 130, no traceback, nothing left that looks finished (nor its work folder)."""
    out = tmp_path / "out"
    p = subprocess.Popen([FACEGPS, "analyze", str(inp.long), "-o", str(out), "--no-overlay"], env=ENV,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                         # a shell may start background jobs with SIGINT ignored; a terminal's job has the default
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        t0 = time.monotonic()
        while not list(out.glob(".facegps-work-*")):
            assert p.poll() is None, p.communicate()
            assert time.monotonic() - t0 < 120, "the analysis never started"
            time.sleep(0.02)
        time.sleep(0.3)                                        # into the landmarks and the flow
        assert p.poll() is None, "finished before it could be interrupted"
        os.killpg(p.pid, signal.SIGINT)
        _, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None: p.kill()
    assert p.returncode == 130 and err == "facegps: interrupted; nothing finished was changed\n", (p.returncode, err)
    assert not finished_outputs(out), finished_outputs(out)
