"""`facegps batch`: a folder or manifest of videos on Dask distributed, with failures listed and resumable runs."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

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
    from facegps.batch import VideoTask, is_done
    out, _ = mixed_batch
    t = VideoTask("smile", mixed_folder / "smile.mp4")
    assert is_done(out, t, dict(overlay=False, max_frames=36))
    assert not is_done(out, t, dict(overlay=False, max_frames=36, canonical="mesh"))


def test_interrupted_batch_resumes_without_recomputing(tmp_path, smile, carphone):
    src = tmp_path / "in"; src.mkdir()
    for i in range(3):
        (src / f"v{i}.mp4").write_bytes(Path(smile if i != 1 else carphone).read_bytes())
    out = tmp_path / "out"
    p = subprocess.Popen([FACEGPS, "batch", src, "-o", out, "--workers", "1", *FAST],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    first = out / "videos" / "v0" / "summary.json"
    deadline = time.time() + 300
    while not (out / "dataset" / "frames" / "video=v0").exists() and time.time() < deadline and p.poll() is None:
        time.sleep(0.2)
    os.killpg(p.pid, signal.SIGKILL)   # a hard stop: no clean-up code runs
    p.wait()
    assert first.exists(), "the first video did not finish before the interruption"
    finished = {v.name for v in (out / "videos").iterdir() if (v / "summary.json").exists()}
    assert finished != {"v0", "v1", "v2"}, "the batch ended before it could be interrupted"
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
    """The cluster recipe of the README, here with the scheduler and a worker as separate local processes."""
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
