"""What may enter an image: .dockerignore and docker/Dockerfile's COPY lines, read as docker reads them.

The build context is the repository root; .dockerignore leaves out everything, then lets in
what serving needs. Its rules are applied here to the files of this checkout and to the paths
where data, secrets and local state would be, so nothing of UTKFace, no .env and no test can
reach an image. tests/containers/ builds the images and looks inside them.
"""

from __future__ import annotations

import functools
import os
import re
import shlex
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "docker" / "Dockerfile"
# What the images are made from (the context's top level), and nothing else.
SERVING = {"manage.py", "requirements/base.txt", "ageweb", "accounts", "estimator", "templates", "static", "ml",
           "docker/gunicorn.conf.py", "docker/nginx"}  # fmt: skip
UTKFACE_NAME = re.compile(r"^\d{1,3}_[01]_[0-4]_\d{8,17}\.jpg", re.IGNORECASE)  # age_gender_race_date.jpg


def _regex(pattern: str) -> re.Pattern[str]:
    """A .dockerignore pattern (Go's filepath.Match plus "**") as a regular expression."""
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out)


@functools.cache
def rules() -> list[tuple[bool, re.Pattern[str]]]:
    lines = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()]
    patterns = [line for line in lines if line and not line.startswith("#")]
    return [(p.startswith("!"), _regex(p.lstrip("!").strip("/"))) for p in patterns]


def in_context(path: str) -> bool:
    """Whether docker sends ``path`` with the build context: the last rule that matches the
    path or one of its folders decides ("!" lets it in)."""
    folders = path.split("/")
    candidates = ["/".join(folders[: i + 1]) for i in range(len(folders))]
    sent = True
    for let_in, regex in rules():
        if any(regex.fullmatch(candidate) for candidate in candidates):
            sent = let_in
    return sent


def _let_in_below(folder: str) -> bool:
    """Whether some "!" rule could let in a path below ``folder`` (its fixed start names it)."""
    lines = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()]
    starts = [re.split(r"[*?\[]", line[1:].strip("/"))[0] for line in lines if line.startswith("!")]
    return any(start == "" or start.startswith(f"{folder}/") for start in starts)


@functools.cache
def sent_files() -> tuple[str, ...]:
    """The paths of this checkout (files and folders, .git aside) that the context holds;
    folders left out, with nothing below them let in again, are not walked."""
    sent = []
    for folder, dirs, files in os.walk(ROOT):
        here = Path(folder).relative_to(ROOT)
        paths = {name: str(here / name) if str(here) != "." else name for name in files + dirs}
        sent += [path for path in paths.values() if in_context(path)]
        dirs[:] = [d for d in dirs if d != ".git" and (in_context(paths[d]) or _let_in_below(paths[d]))]
    return tuple(sent)


def copied_sources() -> list[str]:
    """The context paths docker/Dockerfile copies (COPY without --from; ADD is not used)."""
    sources = []
    for line in DOCKERFILE.read_text().splitlines():
        words = shlex.split(line) if line.startswith(("COPY ", "ADD ")) else []
        if words and not any(w.startswith("--from=") for w in words):
            assert words[0] == "COPY", line
            sources += [w for w in words[1:-1] if not w.startswith("--")]
    return sources


def test_the_context_is_nothing_but_what_the_images_serve_from() -> None:
    sent = sent_files()
    assert sent, "the context would be empty"
    for path in sent:
        assert any(path == top or path.startswith(f"{top}/") or top.startswith(f"{path}/") for top in SERVING), path
    needed = ("manage.py", "ml/models/age101/model.tflite", "ml/inference.py", "docker/nginx/ageweb.conf.template")
    assert all(in_context(path) for path in needed)


@pytest.mark.parametrize(
    "path",
    [
        "data/UTKFace.tar.gz", "data/UTKFace/23_1_0_20170116221457238.jpg.chip.jpg",
        "UTKFace/1_0_0_20161219140623097.jpg", "ml/data/UTKFace.tar.gz", "ml/models/data/faces.npz",
        "estimator/data/x.jpg", ".env", "ageweb/.env", ".env.production", "runs/age101/export/model.keras",
        "ml/models/age101/runs/stage3/history.csv",
        ".venv/bin/python", "media/photos/a.jpg", "estimator/media/a.jpg", "db.sqlite3", "db.sqlite3-wal",
        "tests/photos.py", "tools/soak.py", "docs/scaling.md", "ml/studies/bench.py", "ml/training/train.py",
        "ml/training/configs/age101.yaml", ".git/config", "estimator/__pycache__/models.cpython-311.pyc",
    ],
)  # fmt: skip
def test_data_secrets_state_tests_and_training_never_enter_the_context(path: str) -> None:
    assert not in_context(path)


def test_no_file_of_utkface_is_in_the_context_of_this_checkout() -> None:
    sent = sent_files()
    assert not [p for p in sent if UTKFACE_NAME.match(Path(p).name) or "utkface" in p.lower()]


def test_the_dockerfile_copies_only_what_the_context_lets_in_and_never_all_of_it() -> None:
    sources = copied_sources()
    assert sources and "." not in sources and "./" not in sources
    for source in sources:
        assert any(source == top or source.startswith(f"{top}/") for top in SERVING) and in_context(source), source


def test_the_app_image_leaves_out_the_keras_models_and_their_runtime_unless_built_for_the_gpu() -> None:
    text = DOCKERFILE.read_text()
    source_stage = text[text.index("AS source") : text.index("AS static")]
    assert 'ARG TENSORFLOW=""' in source_stage
    keras_only_for_the_gpu = (
        'if [ -z "$TENSORFLOW" ]; then rm -rf ml/training && find ml/models -name model.keras -delete'
    )
    assert keras_only_for_the_gpu in source_stage
    assert in_context("ml/training/runtime.py") and in_context("ml/models/age101/model.keras")  # for the GPU build
    gpu = yaml.safe_load((ROOT / "docker" / "compose.gpu.yml").read_text())["services"]["worker"]["build"]
    assert "TENSORFLOW" in gpu["args"] and gpu["target"] == "app"


def test_make_images_builds_every_image_the_compose_file_names_and_both_run_as_no_root() -> None:
    services = yaml.safe_load((ROOT / "docker" / "compose.yml").read_text())["services"]
    named = {(s["build"]["target"], s["image"]) for s in services.values() if "build" in s}
    assert named == {("app", "ageweb:latest"), ("proxy", "ageweb-proxy:latest")}
    script = (ROOT / "docker" / "build-images.sh").read_text()
    for target, image in named:
        assert f"{target}) image={image.split(':')[0]}:$TAG" in script
    assert "images:\n\tdocker/build-images.sh" in (ROOT / "Makefile").read_text()
    text = DOCKERFILE.read_text()
    for stage, user in (("AS proxy", "USER 101:101"), ("AS app", "USER 10001:10001")):
        assert user in text[text.index(stage) :].split("\nFROM ")[0], stage
    assert text.count("\nFROM ${BASE}") == 2 and "ARG BASE=debian:bookworm-slim" in text


def test_the_proxy_listens_on_an_unprivileged_port_in_compose() -> None:
    nginx = yaml.safe_load((ROOT / "docker" / "compose.yml").read_text())["services"]["nginx"]
    assert nginx["environment"]["NGINX_PORT"] == "8080" and nginx["ports"][0].endswith(":8080")
    assert "http://127.0.0.1:8080/" in nginx["healthcheck"]["test"][-1]
