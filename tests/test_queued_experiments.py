"""Queued experiments run in a copy of the project under .dvc/tmp/exps/<tmp>/: a relative
assets.mirror must still find the mirror there (resolved from the project's own folder), offline."""

import json
import os
import time

from conftest import MIRROR, make_repo, needs_mirror, set_params, sh

from yolo_cpu.paths import project_root

pytestmark = needs_mirror


def test_project_root_of_an_experiment_copy_is_the_project(tmp_path):
    assert project_root(tmp_path / "proj" / ".dvc" / "tmp" / "exps" / "tmpab12") == (tmp_path / "proj").resolve()
    assert project_root(tmp_path / "proj" / "sub") == (tmp_path / "proj" / "sub").resolve()


def test_two_queued_experiments_find_a_relative_mirror_offline(tmp_path):
    repo = make_repo(tmp_path / "repo")
    set_params(repo, {"assets": {"mirror": os.path.relpath(MIRROR, repo)}})  # as the default ../shared/assets
    sh(["git", "commit", "-qam", "relative mirror"], repo)
    env = {"YOLO_ASSETS_MIRROR": ""}  # the param alone says where the mirror is
    for seed in (1, 2):
        sh(
            ["dvc", "exp", "run", "--queue", "download", "-S", f"data.split_seed={seed}", "-n", f"seed{seed}"],
            repo,
            env=env,
        )
    sh(["dvc", "queue", "start", "-j", "1"], repo, env=env)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        status = sh(["dvc", "queue", "status"], repo, env=env).stdout
        if "Queued" not in status and "Running" not in status:
            break
        time.sleep(0.5)
    assert status.count("Success") == 2, status
    shown = json.loads(sh(["dvc", "exp", "show", "--json"], repo, env=env).stdout)
    runs = {
        r["name"]: r["data"]["metrics"]["metrics/download.json"]["data"]
        for e in shown
        for ex in (e.get("experiments") or [])
        for r in ex["revs"]
    }
    assert set(runs) == {"seed1", "seed2"}
    assert runs["seed1"]["eval_split_sha256"] != runs["seed2"]["eval_split_sha256"]
