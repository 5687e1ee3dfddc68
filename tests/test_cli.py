"""The `facegps` command: help, version, the main job, clear errors on bad input (more in test_bad_inputs.py), a
clean console (native log lines only with --verbose; progress bars and errors on the terminal)."""
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import facegps

FACEGPS = str(Path(sys.executable).parent / "facegps")


def run(*args):
    return subprocess.run([FACEGPS, *map(str, args)], capture_output=True, text=True, timeout=600)


def test_version():
    r = run("--version")
    assert r.returncode == 0 and r.stdout.strip() == f"facegps {facegps.__version__}"


@pytest.mark.parametrize("cmd", ["demo", "landmarks", "analyze", "report", "batch", "bench", "fetch"])
def test_help_explains_each_command(cmd):
    r = run(cmd, "--help")
    assert r.returncode == 0 and len(r.stdout) > 200 and "--verbose" in r.stdout


@pytest.mark.parametrize("cmd", ["analyze", "report", "batch"])
def test_help_lists_the_values_each_option_may_take(cmd):
    from facegps.measure.mks import MUSCLES
    r = run(cmd, "--help")
    assert r.returncode == 0, r.stderr
    text = " ".join(r.stdout.split())                          # argparse wraps lines
    for allowed in ["--canonical {pose,mesh}", "--flow {lk,dis}", "must be an integer from 1 to 6; default: 3",
                    "must be an odd integer >= 3; default: 9", "must be in (0, 1]", "must be an integer >= 1; default: 4",
                    "must be > 0; default: 1.0", "must be a frame index >= 0; default: None", *MUSCLES]:
        assert allowed in text, allowed
    assert "must be an integer >= 1; default 4" in " ".join(run("landmarks", "--help").stdout.split())


def test_top_level_help_and_usage_errors():
    r = run("--help")
    assert r.returncode == 0 and all(c in r.stdout for c in ["demo", "analyze", "batch", "fetch", "exit code"])
    r = run()
    assert r.returncode == 2 and r.stderr == ("facegps: error: the following arguments are required: COMMAND "
                                              "(see 'facegps --help')\n")
    r = run("analyse", "clip.mp4")
    assert r.returncode == 2 and len(r.stderr.splitlines()) == 1 and "invalid choice: 'analyse'" in r.stderr


# the main job (`facegps demo`, the smile report) is tested in test_report.py


def test_landmarks_job(tmp_path):
    from facegps.data import sample_video
    smile = sample_video("smile")
    r = run("landmarks", smile, "-o", tmp_path / "lm", "--quiet")
    assert r.returncode == 0, r.stderr
    out = tmp_path / "lm"
    assert sorted(p.name for p in out.iterdir()) == ["canonical.png", "frames.parquet", "landmarks.npz", "summary.json"]
    assert pd.read_parquet(out / "frames.parquet").face_found.all()


def test_missing_file_is_a_clear_error(tmp_path):
    r = run("landmarks", tmp_path / "nope.mp4", "-o", tmp_path / "o")
    assert r.returncode == 2 and f"{tmp_path / 'nope.mp4'}: file not found" in r.stderr
    assert "Traceback" not in r.stderr


def test_text_renamed_mp4_is_a_clear_error(tmp_path):
    bad = tmp_path / "report.mp4"
    bad.write_text("minutes of the meeting\n")
    r = run("landmarks", bad, "-o", tmp_path / "o")
    assert r.returncode == 2 and f"{bad}: not a readable video" in r.stderr and "Traceback" not in r.stderr


def test_noface_is_a_clear_error_and_keeps_the_frame_table(tmp_path, noface):
    r = run("landmarks", noface, "-o", tmp_path / "o", "--quiet")
    assert r.returncode == 2 and "no_face.mp4: no face in" in r.stderr and "Traceback" not in r.stderr
    table = pd.read_parquet(tmp_path / "o" / "frames.parquet")  # what was measured is not lost
    assert len(table) > 90 and not table.face_found.any()
    assert not (tmp_path / "o" / "summary.json").exists()
    assert not [p for p in (tmp_path / "o").iterdir() if p.name.startswith(".")], "no half-written temp files"


NATIVE_NOISE = ("W0000", "XNNPACK", "absl::InitializeLog")


def test_native_log_lines_only_with_verbose(tmp_path, smile):
    r = run("analyze", smile, "-o", tmp_path / "quiet", "--max-frames", "3", "--no-overlay")
    assert r.returncode == 0 and r.stderr == "", r.stderr
    r = run("analyze", smile, "-o", tmp_path / "verbose", "--max-frames", "3", "--no-overlay", "--verbose")
    assert r.returncode == 0 and any(n in r.stderr for n in NATIVE_NOISE), r.stderr


def test_progress_bars_and_errors_reach_the_terminal(tmp_path, smile):
    """On a terminal (a pty of 100 columns) with progress on: the tqdm bar and the one-line error are there, the
    native log lines are not."""
    import fcntl, os, pty, struct, termios
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "FACEGPS_QUIET")}
    primary, secondary = pty.openpty()
    fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    p = subprocess.Popen([FACEGPS, "analyze", str(smile), "-o", str(tmp_path / "o"), "--max-frames", "12",
                          "--no-overlay", "--reference", "40"], stdout=subprocess.DEVNULL, stderr=secondary, env=env)
    os.close(secondary)
    seen = b""
    while True:
        try: chunk = os.read(primary, 4096)
        except OSError: break                                     # the command closed the terminal
        if not chunk: break
        seen += chunk
    os.close(primary)
    assert p.wait(timeout=300) == 2
    text = seen.decode()
    assert "analyze single_face.mp4:" in text and "frame/s" in text, text                 # the bar
    assert text.endswith(f"facegps: error: {smile}: reference frame 40 is out of range: the video has 12 frames "
                         "(0 to 11)\r\n"), text
    assert not any(n in text for n in NATIVE_NOISE), text


def test_fetch_prints_paths():
    r = run("fetch", "smile", "face")
    assert r.returncode == 0 and "single_face.mp4" in r.stdout and "single_face.jpg" in r.stdout
