"""`facegps batch`: a folder or manifest of videos on Dask distributed, with failures listed and resumable runs."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

FACEGPS = str(Path(sys.executable).parent / "facegps")
BIN = Path(sys.executable).parent
FAST = ["--no-overlay", "--max-frames", "36", "--quiet"]   # keep CI short; the analysis itself is tested elsewhere


def run(*args, timeout=900):
    return subprocess.run([FACEGPS, *map(str, args)], capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def mixed_folder(tmp_path_factory, smile, carphone, noface):
    """The sample videos, a corrupt file and the video without a face, in one folder (copies, as a user would have)."""
    d = tmp_path_factory.mktemp("videos")
    for name, src in [("smile.mp4", smile), ("carphone.mp4", carphone), ("noface.mp4", noface)]:
        (d / name).write_bytes(Path(src).read_bytes())
    data = Path(smile).read_bytes()
    (d / "corrupt.mp4").write_bytes(data[:2000] + os.urandom(20000))   # a real header, then garbage
    return d


@pytest.fixture(scope="module")
def mixed_batch(mixed_folder, tmp_path_factory):
    out = tmp_path_factory.mktemp("batch")
    r = run("batch", mixed_folder, "-o", out, "--workers", "2", *FAST)
    return out, r


def test_batch_lists_the_two_failures_and_goes_on(mixed_batch):
    out, r = mixed_batch
    assert r.returncode == 1, r.stderr          # some videos failed
    s = pd.read_csv(out / "batch_summary.csv", keep_default_na=False).set_index("video")
    assert dict(s.status) == {"carphone": "done", "corrupt": "failed", "noface": "failed", "smile": "done"}
    assert "corrupt.mp4" in s.error["corrupt"] and s.error["corrupt"].startswith("VideoError")
    assert "no face in 36 of 36 frames" in s.error["noface"] and s.error["noface"].startswith("NoFaceError")
    assert "FAILED corrupt" in r.stderr and "FAILED noface" in r.stderr
    assert int(s.frames_with_face["smile"]) == 36 and float(s.peak_rss_mib["smile"]) > 50


def test_batch_dataset_is_partitioned_by_video(mixed_batch):
    out, _ = mixed_batch
    frames = pd.read_parquet(out / "dataset" / "frames")
    assert sorted(frames["video"].astype(str).unique()) == ["carphone", "smile"]
    assert len(frames) == 72 and {"time_s", "yaw", "pitch", "roll", "act_zygomaticus_major_L"} <= set(frames.columns)
    assert sorted(p.name for p in (out / "dataset" / "frames").iterdir()) == ["video=carphone", "video=smile"]
    videos = pd.read_parquet(out / "dataset" / "videos.parquet").set_index("video")
    assert sorted(videos.index) == ["carphone", "smile"]
    assert {"frames_with_face", "mean_abs_yaw", "peak_zygomaticus_major_L"} <= set(videos.columns)
    import duckdb
    n = duckdb.sql(f"select count(*) from read_parquet('{out}/dataset/frames/*/*.parquet', hive_partitioning=true) "
                   "where video = 'smile'").fetchall()[0][0]
    assert n == 36


def test_rerun_skips_finished_videos(mixed_batch, mixed_folder):
    out, _ = mixed_batch
    stamp = (out / "videos" / "smile" / "summary.json").stat().st_mtime_ns
    r = run("batch", mixed_folder, "-o", out, "--workers", "1", *FAST)
    assert r.returncode == 1
    s = pd.read_csv(out / "batch_summary.csv", keep_default_na=False).set_index("video")
    assert dict(s.status) == {"carphone": "skipped", "corrupt": "failed", "noface": "failed", "smile": "skipped"}
    assert (out / "videos" / "smile" / "summary.json").stat().st_mtime_ns == stamp   # not recomputed


def test_other_parameters_are_not_skipped(mixed_batch, mixed_folder, tmp_path):
    """A finished video analysed with other parameters is not 'done' for new ones."""
    from facegps.runs.batch import VideoTask, is_done
    out, _ = mixed_batch
    t = VideoTask("smile", mixed_folder / "smile.mp4")
    assert is_done(out, t, dict(overlay=False, max_frames=36))
    assert not is_done(out, t, dict(overlay=False, max_frames=36, canonical="mesh"))


def finished(summary_json):
    try: return "input" in json.loads(summary_json.read_text())
    except (OSError, ValueError): return False


def test_interrupted_batch_resumes_without_recomputing(tmp_path, smile, carphone):
    src = tmp_path / "in"; src.mkdir()
    for i in range(3):
        (src / f"v{i}.mp4").write_bytes(Path(smile if i != 1 else carphone).read_bytes())
    out = tmp_path / "out"
    p = subprocess.Popen([FACEGPS, "batch", src, "-o", out, "--workers", "1", *FAST],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    first = out / "videos" / "v0" / "summary.json"
    deadline = time.time() + 300
    while not finished(first) and time.time() < deadline and p.poll() is None:   # v0 done: its `input` record, written last
        time.sleep(0.2)
    os.killpg(p.pid, signal.SIGKILL)   # a hard stop: no clean-up code runs
    p.wait()
    assert finished(first), "the first video did not finish before the interruption"
    assert {v.name for v in (out / "videos").iterdir() if finished(v / "summary.json")} != {"v0", "v1", "v2"}, \
        "the batch ended before it could be interrupted"
    stamp = first.stat().st_mtime_ns
    r = run("batch", src, "-o", out, "--workers", "1", *FAST)
    assert r.returncode == 0, r.stderr
    s = pd.read_csv(out / "batch_summary.csv", keep_default_na=False).set_index("video")
    assert s.status["v0"] == "skipped" and set(s.status) <= {"skipped", "done"} and (s.status == "done").any()
    assert first.stat().st_mtime_ns == stamp
    assert len(pd.read_parquet(out / "dataset" / "frames")) == 3 * 36


def test_manifest_columns_reference_and_reports(tmp_path, smile):
    m = tmp_path / "manifest.csv"
    m.write_text(f"path,id,subject,label,reference\n{smile},s01_smile,s01,happy,2\n")
    out = tmp_path / "out"
    r = run("batch", m, "-o", out, "--workers", "1", "--report", *FAST)
    assert r.returncode == 0, r.stderr
    assert json.loads((out / "videos" / "s01_smile" / "summary.json").read_text())["reference_frame"] == 2
    assert (out / "videos" / "s01_smile.html").stat().st_size > 100_000
    frames = pd.read_parquet(out / "dataset" / "frames")
    assert set(frames["label"]) == {"happy"} and set(frames["subject"]) == {"s01"}


@pytest.mark.parametrize("bad,message", [("missing", "not found"), ("empty", "no videos found"),
                                         ("manifest", "no 'path' column")])
def test_bad_batch_input_is_a_clear_error(tmp_path, bad, message):
    target = {"missing": tmp_path / "nope", "empty": tmp_path / "empty", "manifest": tmp_path / "m.csv"}[bad]
    if bad == "empty": target.mkdir()
    if bad == "manifest": target.write_text("file,label\nx.mp4,a\n")
    r = run("batch", target, "-o", tmp_path / "out")
    assert r.returncode == 2 and str(target) in r.stderr and message in r.stderr, r.stderr


def test_batch_on_a_scheduler_and_worker_started_separately(tmp_path, smile):
    """The cluster recipe of the batch chapter (nbs/runs/03_batch), here with the scheduler and a worker as separate local processes."""
    sched_file = tmp_path / "scheduler.json"
    env = dict(os.environ)
    procs = [subprocess.Popen([str(BIN / "dask"), "scheduler", "--scheduler-file", str(sched_file), "--port", "0",
                               "--no-dashboard"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True, env=env)]
    try:
        deadline = time.time() + 60
        while not sched_file.exists() and time.time() < deadline: time.sleep(0.2)
        procs.append(subprocess.Popen([str(BIN / "dask"), "worker", "--scheduler-file", str(sched_file),
                                       "--nworkers", "1", "--nthreads", "1", "--no-dashboard"],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                      start_new_session=True, env=env))
        address = json.loads(sched_file.read_text())["address"]
        src = tmp_path / "in"; src.mkdir(); (src / "smile.mp4").write_bytes(Path(smile).read_bytes())
        r = run("batch", src, "-o", tmp_path / "out", "--scheduler", address, *FAST, timeout=600)
        assert r.returncode == 0, r.stderr
        s = pd.read_csv(tmp_path / "out" / "batch_summary.csv", keep_default_na=False)
        assert list(s.status) == ["done"] and int(s.frames_with_face[0]) == 36
        import psutil   # the task ran in a process under the separately started `dask worker`
        pid = int(s.worker[0].split(":")[1])
        assert procs[1].pid in [q.pid for q in psutil.Process(pid).parents()]
    finally:
        for p in procs:
            try: os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError: pass
        for p in procs: p.wait(timeout=30)


# --- ids, resume and flags: results that must not look right when they are not -----------------------------------

def summary_of(out, video_id):
    return json.loads((out / "videos" / video_id / "summary.json").read_text())


def rows_by_file(out):
    s = pd.read_csv(out / "batch_summary.csv", keep_default_na=False)
    return {Path(p).name: r for p, r in zip(s.path, s.to_dict("records"))}


def test_failed_videos_leave_no_folders(mixed_batch):
    out, _ = mixed_batch
    assert sorted(p.name for p in (out / "videos").iterdir()) == ["carphone", "smile"]
    assert sorted(p.name for p in (out / "dataset" / "frames").iterdir()) == ["video=carphone", "video=smile"]


def test_a_name_that_sanitises_to_another_files_id_gets_its_own(tmp_path, smile, carphone):
    """`a b.mp4` added beside a finished `a_b.mp4` is analysed, not 'skipped' with the other file's results."""
    src = tmp_path / "in"; src.mkdir()
    (src / "a_b.mp4").write_bytes(Path(smile).read_bytes())
    out = tmp_path / "out"
    assert run("batch", src, "-o", out, "--workers", "1", *FAST).returncode == 0
    (src / "a b.mp4").write_bytes(Path(carphone).read_bytes())
    r = run("batch", src, "-o", out, "--workers", "1", *FAST)
    assert r.returncode == 0, r.stderr
    rows = rows_by_file(out)
    assert rows["a_b.mp4"]["video"] == "a_b" and rows["a_b.mp4"]["status"] == "skipped"   # the finished one keeps its id
    new = rows["a b.mp4"]
    assert new["status"] == "done", new
    assert new["video"] != "a_b" and new["video"].startswith("a_b-"), new["video"]
    for name, row in rows.items():   # each id's outputs are its own file's
        assert summary_of(out, row["video"])["video"] == str((src / name).resolve())
    from facegps.runs.batch import find_videos
    assert {t.path.name: t.video_id for t in find_videos(src)} == {n: r["video"] for n, r in rows.items()}


def test_reordering_a_manifest_keeps_each_videos_id(tmp_path, smile, carphone):
    """Two rows whose file names collide: their ids (and so their results on resume) must not swap with the order."""
    for sub, src in [("x", smile), ("y", carphone)]:
        (tmp_path / sub).mkdir(); (tmp_path / sub / "clip.mp4").write_bytes(Path(src).read_bytes())
    m, out = tmp_path / "manifest.csv", tmp_path / "out"
    m.write_text("path,label\nx/clip.mp4,a\ny/clip.mp4,b\n")
    assert run("batch", m, "-o", out, "--workers", "1", *FAST).returncode == 0
    first = pd.read_csv(out / "batch_summary.csv", keep_default_na=False)
    assert len(set(first.video)) == 2
    m.write_text("path,label\ny/clip.mp4,b\nx/clip.mp4,a\n")
    r = run("batch", m, "-o", out, "--workers", "1", *FAST)
    assert r.returncode == 0, r.stderr
    again = pd.read_csv(out / "batch_summary.csv", keep_default_na=False)
    assert dict(zip(again.path, again.video)) == dict(zip(first.path, first.video))
    for row in again.to_dict("records"):
        assert row["status"] == "skipped"
        assert summary_of(out, row["video"])["video"] == str(Path(row["path"]).resolve())


@pytest.mark.parametrize("ids", [("s01", "s01"), ("s 01", "s_01")])
def test_two_rows_with_the_same_id_are_an_input_error_naming_both_files(tmp_path, smile, carphone, ids):
    m = tmp_path / "manifest.csv"
    m.write_text(f"path,id\n{smile},{ids[0]}\n{carphone},{ids[1]}\n")
    r = run("batch", m, "-o", tmp_path / "out", *FAST)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and str(smile) in lines[0] and str(carphone) in lines[0] and str(m) in lines[0], r.stderr
    assert not (tmp_path / "out" / "videos").exists()


def test_a_changed_video_is_recomputed_and_a_broken_one_leaves_nothing(tmp_path, smile, carphone):
    import hashlib
    import shutil
    from facegps.runs.batch import VideoTask, is_done
    src = tmp_path / "in"; src.mkdir()
    v = src / "v.mp4"
    v.write_bytes(Path(smile).read_bytes())
    out = tmp_path / "out"
    assert run("batch", src, "-o", out, "--workers", "1", *FAST).returncode == 0
    params = dict(overlay=False, max_frames=36)
    assert is_done(out, VideoTask("v", v), params)
    other = tmp_path / "copy.mp4"; shutil.copy2(v, other)   # same bytes, same mtime, another path
    assert not is_done(out, VideoTask("v", other), params)
    st = v.stat(); os.utime(v, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))   # touched: the file may have changed
    assert not is_done(out, VideoTask("v", v), params)

    v.write_bytes(Path(carphone).read_bytes())   # another video under the same name
    r = run("batch", src, "-o", out, "--workers", "1", *FAST)
    assert r.returncode == 0, r.stderr
    assert rows_by_file(out)["v.mp4"]["status"] == "done"
    recorded = summary_of(out, "v")["input"]
    assert recorded["path"] == str(v.resolve()) and recorded["size"] == v.stat().st_size
    assert recorded["sha256_first_mib"] == hashlib.sha256(v.read_bytes()[:1 << 20]).hexdigest()

    v.write_bytes(Path(smile).read_bytes()[:2000] + os.urandom(20000))   # now broken: the old results must go
    r = run("batch", src, "-o", out, "--workers", "1", *FAST)
    assert r.returncode == 1
    assert rows_by_file(out)["v.mp4"]["status"] == "failed"
    assert not (out / "videos" / "v").exists() and not (out / "dataset" / "frames" / "video=v").exists()
    assert not (out / "dataset" / "videos.parquet").exists()   # no video of this batch was analysed


@pytest.fixture(scope="module")
def flagged_batch(tmp_path_factory, truncated_video, smile_frames):
    """A video cut in the middle and a video with two faces (the smile video beside the face still)."""
    import cv2
    from conftest import write_video
    from facegps.data import sample_image
    d = tmp_path_factory.mktemp("flagged")
    (d / "cut.mp4").write_bytes(Path(truncated_video).read_bytes())
    small = cv2.resize(cv2.imread(str(sample_image("face"))), (250, 250))
    frames = []
    for f in smile_frames[:24]:
        canvas = np.zeros((360, 890, 3), np.uint8); canvas[:, :640] = f; canvas[:250, 640:] = small
        frames.append(canvas)
    write_video(d / "two_faces.mp4", frames)
    out = tmp_path_factory.mktemp("flagged_out")
    r = run("batch", d, "-o", out, "--workers", "2", *FAST)
    assert r.returncode == 0, r.stderr
    return out


def test_truncation_is_a_column(flagged_batch):
    out = flagged_batch
    s = pd.read_csv(out / "batch_summary.csv").set_index("video")
    cut_at = summary_of(out, "cut")["truncated_at"]
    assert 0 < cut_at < 36 and s.truncated_at["cut"] == cut_at and pd.isna(s.truncated_at["two_faces"])
    videos = pd.read_parquet(out / "dataset" / "videos.parquet").set_index("video")
    assert videos.truncated_at["cut"] == cut_at and pd.isna(videos.truncated_at["two_faces"])


def test_several_faces_are_a_column(flagged_batch, mixed_batch):
    s = pd.read_csv(flagged_batch / "batch_summary.csv").set_index("video")
    assert s.max_faces_seen["two_faces"] == 2 and s.max_faces_seen["cut"] == 1
    mixed = pd.read_csv(mixed_batch[0] / "batch_summary.csv").set_index("video")
    assert mixed.max_faces_seen["smile"] == 1 and pd.isna(mixed.max_faces_seen["noface"])


def test_a_folder_of_image_sequences_is_a_batch_of_videos(tmp_path, smile_frames):
    "CK+'s layout: every folder that holds images is one video; video files beside them still count."
    import cv2
    from facegps.runs.batch import find_videos
    from conftest import write_video
    for s, q in (("S005", "001"), ("S010", "002")):
        d = tmp_path / "cohn-kanade-images" / s / q
        d.mkdir(parents=True)
        for k, f in enumerate(smile_frames[:3]): cv2.imwrite(str(d / f"{s}_{q}_{k + 1:08d}.png"), f)
    write_video(tmp_path / "clip.mp4", smile_frames[:3])
    (tmp_path / "covers").mkdir()
    cv2.imwrite(str(tmp_path / "covers" / "clip.jpg"), smile_frames[0])      # a lone thumbnail is not a video
    tasks = find_videos(tmp_path)
    assert [t.video_id for t in tasks] == ["clip", "cohn-kanade-images__S005__001", "cohn-kanade-images__S010__002"]
    assert tasks[1].path.is_dir()
