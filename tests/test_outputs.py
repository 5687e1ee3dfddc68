"""An output folder is never a finished-looking mix of two runs: a rerun killed with SIGKILL at several points."""
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


def analyze(video, out, *args):
    return subprocess.Popen([FACEGPS, "analyze", str(video), "-o", str(out), "--quiet", *args],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


def consistent(out: Path) -> str:
    "'unfinished' (no summary.json) or 'finished' after checking that every file belongs to the summary's run."
    if not (out / "summary.json").exists(): return "unfinished"
    s = json.loads((out / "summary.json").read_text())
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == sorted(s["outputs"])
    frames = pd.read_parquet(out / "frames.parquet")
    z = np.load(out / "displacement.npz")
    assert len(frames) == s["frames_read"] == z["disp"].shape[0] == z["confidence"].shape[0]
    assert s["parameters"]["max_frames"] in (None, len(frames))
    return "finished"


def wait_for(cond, proc, timeout=120.0):
    t0 = time.time()
    while not cond():
        assert proc.poll() is None, "the run ended before the point to kill it at"
        assert time.time() - t0 < timeout
        time.sleep(0.005)


@pytest.mark.parametrize("point", ["analysing", "writing"])
def test_a_rerun_killed_with_sigkill_never_leaves_a_mix(tmp_path, smile, point):
    out = tmp_path / "out"
    first = analyze(smile, out, "--max-frames", "30", "--no-overlay")
    assert first.wait(300) == 0 and consistent(out) == "finished"
    old = json.loads((out / "summary.json").read_text())
    rerun = analyze(smile, out, "--max-frames", "60")                           # other parameters, with overlay
    work = lambda: any(p.name.startswith(".facegps-work-") for p in out.iterdir())
    if point == "analysing":
        wait_for(lambda: work() and any(p.glob("raw.f32") for p in out.glob(".facegps-work-*")), rerun)
        time.sleep(0.3)
    else:
        wait_for(lambda: not (out / "summary.json").exists(), rerun)           # the old result is being replaced
    os.killpg(rerun.pid, signal.SIGKILL); rerun.wait()
    state = consistent(out)
    if point == "analysing":                                                   # nothing was touched yet
        assert state == "finished" and json.loads((out / "summary.json").read_text()) == old
    else:
        assert state == "unfinished"
    assert work()                                                              # SIGKILL: the work folder stays ...
    third = analyze(smile, out, "--max-frames", "20", "--no-overlay")
    assert third.wait(300) == 0 and consistent(out) == "finished"
    assert not work()                                                          # ... and the next run removes it
    s = json.loads((out / "summary.json").read_text())
    assert s["frames_read"] == 20 and not (out / "overlay.mp4").exists()        # no overlay left from the killed run
