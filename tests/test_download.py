"""`dvc repro download` in a temporary git+DVC repo, with good and bad inputs."""

import json

import pytest
from conftest import MIRROR, make_mirror, make_repo, needs_mirror, set_params, sh, write_sums

from yolo_cpu.pipeline.stage import read_results

pytestmark = needs_mirror
OUTPUTS = ("models/yolov5n.onnx", "data/eval", "data/calib", "metrics/download.json", "details/download.json")


def repro_download(repo, mirror=None, check=True):
    """`dvc repro download`, with YOLO_ASSETS_MIRROR pointing at `mirror` when given."""
    return sh(["dvc", "repro", "download"], repo, check, env={"YOLO_ASSETS_MIRROR": str(mirror)} if mirror else None)


def assert_no_outputs(repo):
    for rel in OUTPUTS:
        assert not (repo / rel).exists(), f"partial output left behind: {rel}"
    assert not list((repo / "data").glob(".*tmp*")) if (repo / "data").exists() else True


def test_download_produces_seeded_disjoint_splits(tmp_path):
    repo = make_repo(tmp_path / "repo")
    repro_download(repo)
    ev = sorted(p.name for p in (repo / "data/eval/images").iterdir())
    ca = sorted(p.name for p in (repo / "data/calib/images").iterdir())
    assert len(ev) == 12 and len(ca) == 20 and not set(ev) & set(ca)
    assert len(list((repo / "data/eval/labels").iterdir())) == 12
    gt = json.loads((repo / "data/eval/instances.json").read_text())
    assert {im["file_name"] for im in gt["images"]} == set(ev)
    assert len(gt["categories"]) == 80 and all(a["category_id"] <= 90 for a in gt["annotations"])
    m = read_results("download", repo)
    assert m["model_fetched_from"] == "mirror" and m["eval_images"] == 12 and len(m["model_source_sha256"]) == 64
    assert m["eval_objects"] == sum(len(p.read_text().splitlines()) for p in (repo / "data/eval/labels").iterdir())
    # same seed in a second repo: same split; another seed: another split
    other = make_repo(tmp_path / "other", {"data": {"eval_images": 12, "calib_images": 20, "split_seed": 5}})
    repro_download(other)
    assert sorted(p.name for p in (other / "data/eval/images").iterdir()) != ev


def test_corrupted_mirror_file_fails_naming_it(tmp_path):
    mirror = make_mirror(tmp_path / "mirror", 32)
    victim = sorted((mirror / "coco/images/val2017").iterdir())[3]
    victim.write_bytes(victim.read_bytes()[:-100] + b"x" * 100)
    repo = make_repo(tmp_path / "repo")
    proc = repro_download(repo, mirror, check=False)
    assert proc.returncode != 0
    assert f"checksum mismatch for mirror file {victim}" in proc.stderr
    assert_no_outputs(repo)


def test_undecodable_image_errors_or_is_skipped_and_counted(tmp_path):
    mirror = make_mirror(tmp_path / "mirror", 32)
    victim = sorted((mirror / "coco/images/val2017").iterdir())[5]
    victim.write_bytes(b"\xff\xd8 this is not really a jpeg")
    write_sums(mirror)  # checksums match: the file itself is bad
    repo = make_repo(tmp_path / "repo")
    proc = repro_download(repo, mirror, check=False)
    assert proc.returncode != 0 and "cannot be decoded (" in proc.stderr and str(victim) in proc.stderr
    assert_no_outputs(repo)
    set_params(repo, {"data": {"bad_input": "skip"}})
    repro_download(repo, mirror)
    m = read_results("download", repo)
    assert m["skipped_images"] == 1 and victim.name in m["skipped"][0]
    assert m["eval_images"] + m["calib_images"] == 31


def test_too_many_images_and_unknown_key_fail_before_work(tmp_path):
    repo = make_repo(tmp_path / "repo", {"data": {"eval_images": 900, "calib_images": 316}})
    proc = sh(["dvc", "repro", "download"], repo, check=False)
    assert proc.returncode != 0
    assert "eval_images=900 + data.calib_images=316 = 1216 images, but the source has only 1000" in proc.stderr
    assert_no_outputs(repo)
    set_params(repo, {"data": {"eval_images": 12, "calib_images": 16, "eval_imgs": 3}})
    proc = sh(["dvc", "repro", "download"], repo, check=False)
    assert proc.returncode != 0 and "unknown key data.eval_imgs" in proc.stderr
    assert_no_outputs(repo)


def test_mirror_env_pointing_nowhere_is_an_error(tmp_path):
    repo = make_repo(tmp_path / "repo")
    proc = repro_download(repo, tmp_path / "no-such-mirror", check=False)
    assert proc.returncode != 0 and "YOLO_ASSETS_MIRROR=" in proc.stderr and "is not a folder" in proc.stderr


def test_offline_url_download_fails_cleanly(tmp_path):
    """Without a mirror the stage uses the public URLs; offline that fails, names the URL, leaves nothing."""
    from yolo_cpu.data import assets

    dest = tmp_path / "x.onnx"
    with pytest.raises(assets.AssetError) as e:
        assets.fetch_url("http://127.0.0.1:9/yolov5n.onnx", dest, timeout_s=2, retries=1, deadline_s=5)
    assert "http://127.0.0.1:9/yolov5n.onnx" in str(e.value) and "YOLO_ASSETS_MIRROR" in str(e.value)
    assert not dest.exists() and not list(tmp_path.iterdir())


class _Server:
    """A loopback HTTP server whose behaviour a test sets: body, announced length, status."""

    def __init__(self) -> None:
        import http.server
        import threading

        self.body, self.announced, self.status, self.requests, self.send_length = b"", None, 200, 0, True
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                outer.requests += 1
                self.send_response(outer.status)
                if outer.send_length:
                    self.send_header("Content-Length", str(outer.announced or len(outer.body)))
                self.end_headers()
                if outer.status == 200:
                    self.wfile.write(outer.body)  # fewer bytes than announced: the connection closes early
                self.close_connection = True

            def log_message(self, *args) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/model.onnx"


def test_a_truncated_download_is_never_kept_and_a_whole_one_is(tmp_path):
    import hashlib

    from yolo_cpu.data import assets

    server = _Server()
    real = (MIRROR / "models" / "yolov5n.onnx").read_bytes()
    server.body, server.announced = real[: len(real) // 2], len(real)  # closes early despite Content-Length
    dest = tmp_path / "cache" / "model.onnx"
    with pytest.raises(assets.AssetError) as e:
        assets.fetch_url(server.url, dest, timeout_s=5, retries=1, deadline_s=10)
    assert server.url in str(e.value) and f"of the {len(real)} bytes it announced" in str(e.value)
    assert server.requests == 2 and not dest.exists() and not list(dest.parent.iterdir())  # retried, nothing kept
    server.body, server.announced = real, None  # the server is fixed: the next run gets every byte
    assert assets.fetch_url(server.url, dest, timeout_s=5, retries=1, deadline_s=10) == hashlib.sha256(real).hexdigest()
    server.httpd.shutdown()


def test_a_4xx_is_final_at_once_and_a_size_cap_holds(tmp_path):
    from yolo_cpu.data import assets

    server = _Server()
    server.status = 404
    with pytest.raises(assets.AssetError, match=r"answered HTTP 404 .*check the URL") as e:
        assets.fetch_url(server.url, tmp_path / "m.onnx", timeout_s=5, retries=3, deadline_s=10)
    assert server.requests == 1 and "YOLO_ASSETS_MIRROR" not in str(e.value)
    server.status, server.body = 200, b"x" * (3 * 2**20)
    with pytest.raises(assets.AssetError, match=r"announces 3 MB, more than assets.max_download_mb=1"):
        assets.fetch_url(server.url, tmp_path / "m.onnx", timeout_s=5, retries=0, deadline_s=10, max_download_mb=1)
    assert not list(tmp_path.iterdir())
    server.httpd.shutdown()


def test_a_body_cut_short_without_a_length_or_an_html_page_is_never_kept(tmp_path):
    """A server that sends no Content-Length and stops halfway, then one that serves its error page as the
    model: neither is kept (so no later run reuses it), each is named with the URL and why; once the
    server sends the real bytes they are kept. A user's own URL gets no offline-mirror hint."""
    import hashlib

    from yolo_cpu.data import assets

    server = _Server()
    real = (MIRROR / "models" / "yolov5n.onnx").read_bytes()
    dest = tmp_path / "cache" / "model.onnx"
    server.send_length, server.body = False, real[: len(real) // 2]
    with pytest.raises(assets.AssetError) as e:
        assets.fetch_url(server.url, dest, timeout_s=5, retries=1, deadline_s=10, mirror_hint=False)
    assert server.url in str(e.value) and "are no .onnx file: it does not parse as ONNX" in str(e.value)
    assert "nothing was kept" in str(e.value) and "YOLO_ASSETS_MIRROR" not in str(e.value)
    assert server.requests == 2 and not dest.exists() and not list(dest.parent.iterdir())
    server.body = b"<!DOCTYPE html><html><body>Service Unavailable</body></html>\n"
    with pytest.raises(assets.AssetError, match="it is an HTML or XML page, not the file"):
        assets.fetch_url(server.url, dest, timeout_s=5, retries=0, deadline_s=10)
    assert not list(dest.parent.iterdir())
    server.body = real
    assert assets.fetch_url(server.url, dest, timeout_s=5, retries=0, deadline_s=10) == hashlib.sha256(real).hexdigest()
    server.httpd.shutdown()


def test_a_damaged_file_in_the_download_cache_is_fetched_again(tmp_path, capsys):
    """A cached release model, ONNX or zip that is cut short is not whole: it is named and fetched again
    rather than reused; a whole one is reused."""
    from yolo_cpu.data import assets

    real = (MIRROR / "models" / "yolov5n.onnx").read_bytes()
    whole, cut = tmp_path / "whole.onnx", tmp_path / "cut.onnx"
    whole.write_bytes(real)
    cut.write_bytes(real[:-50])
    page = tmp_path / "page.zip"
    page.write_bytes(b"<html>moved</html>")
    assert assets.usable_cached(whole) and not assets.usable_cached(cut) and not assets.usable_cached(page)
    out = capsys.readouterr().out
    assert f"the cached {cut} is damaged (it does not parse as ONNX" in out and f"the cached {page} is damaged" in out
