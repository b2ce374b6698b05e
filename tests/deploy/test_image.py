"""The Dockerfile's build stages, replayed without a Docker engine (none runs on the dev/CI
machines): their COPY, ENV and RUN steps, in order, in a temporary /app, with the uv that runs
the suite; the resulting environment is what the runtime stage (production: the services
only) or the `full` stage (with the emulator and devstack) ships.

test_compose.py's static checks kept passing while the image could not be built (the
workspace gained tools/devstack, the dependency layer did not copy its pyproject.toml, and
uv refused the workspace); replaying the steps catches that kind of break.
"""

from __future__ import annotations

import itertools
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from qrecon.common import testing
from qrecon.devstack.stack import free_port
from qrecon.devstack.supervisor import ProcessSpec, Supervisor

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
BUILD_STAGE = "build"
FULL_BUILD_STAGE = "build-full"
SERVICE_PACKAGES = ("qrecon.common", "qrecon.ingest", "qrecon.sync", "qrecon.matcher")
TOOL_PACKAGES = ("qrecon.sim", "qrecon.devstack", "qrecon.world", "qrecon.matcher_eval")


@dataclass
class Stage:
    name: str
    base: str
    steps: list[tuple[str, str]] = field(default_factory=list)


def stages(text: str) -> dict[str, Stage]:
    """Instructions per stage name; continuation lines joined, comments dropped."""
    found: dict[str, Stage] = {}
    current: Stage | None = None
    for line in re.sub(r"\\\n", " ", text).splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, rest = line.partition(" ")
        if keyword.upper() == "FROM":
            words = rest.split()
            name = words[-1] if len(words) >= 3 and words[-2].upper() == "AS" else str(len(found))
            current = found[name] = Stage(name, words[0])
        elif current is not None:
            current.steps.append((keyword.upper(), rest.strip()))
    return found


def flags_and_args(rest: str) -> tuple[list[str], list[str]]:
    """`--from=build a b dest` -> (["--from=build"], ["a", "b", "dest"]); flags come first."""
    words = shlex.split(rest)
    flags = list(itertools.takewhile(lambda word: word.startswith("--"), words))
    return flags, words[len(flags) :]


def copy_into(app: Path, sources: list[str], destination: str) -> None:
    for source in sources:
        origin = ROOT / source
        target = app / destination
        if origin.is_dir():
            shutil.copytree(
                origin, target, ignore=shutil.ignore_patterns("__pycache__"), dirs_exist_ok=True
            )
        else:
            if destination.endswith("/") or len(sources) > 1:
                target = target / origin.name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(origin, target)


def replay(stage: Stage, app: Path) -> None:
    """COPY from the build context, ENV, RUN (cache mounts dropped) with /app as `app`."""
    env = {
        k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT")
    }
    env["UV_PYTHON"] = sys.executable  # the image's interpreter is 3.11, like the test's
    # The image copies uv into /bin; here the uv running the suite (`uv run` names it in $UV,
    # which matters where it is installed as `python3 -m uv`, off PATH).
    uv = os.environ.get("UV") or shutil.which("uv")
    assert uv is not None, "no uv: run the tests with `uv run pytest`"
    env["PATH"] = f"{Path(uv).parent}{os.pathsep}{env.get('PATH', '')}"
    for keyword, rest in stage.steps:
        if keyword == "COPY":
            flags, args = flags_and_args(rest)
            if not any(f.startswith("--from=") for f in flags):  # uv itself: the one on PATH
                copy_into(app, args[:-1], args[-1])
        elif keyword == "WORKDIR":
            assert rest == "/app", "the replay stands `app` for /app"
        elif keyword == "ENV":
            for word in shlex.split(rest):
                key, _, value = word.partition("=")
                env[key] = value
        elif keyword == "RUN":
            command = re.sub(r"--mount=\S+\s*", "", rest)
            result = subprocess.run(
                ["sh", "-c", command], cwd=app, env=env, capture_output=True, text=True
            )
            assert result.returncode == 0, f"RUN {command}\n{result.stderr}"


def replay_chain(name: str, app: Path) -> None:
    """A stage after the stages it is built `FROM`, in the same /app."""
    found = stages(DOCKERFILE.read_text())
    stage = found[name]
    if stage.base in found:
        replay_chain(stage.base, app)
    replay(stage, app)


@pytest.fixture(scope="module")
def image_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The virtual environment the runtime stage copies from the build stage (/app/.venv)."""
    app = tmp_path_factory.mktemp("app")
    replay_chain(BUILD_STAGE, app)
    return app / ".venv"


@pytest.fixture(scope="module")
def full_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The environment of `--target full` (compose's emulator profile)."""
    app = tmp_path_factory.mktemp("app-full")
    replay_chain(FULL_BUILD_STAGE, app)
    return app / ".venv"


def site_packages(venv: Path) -> Path:
    return next(venv.glob("lib/python3.*/site-packages"))


def test_the_runtime_stage_takes_the_build_stage_environment_and_is_the_default() -> None:
    found = stages(DOCKERFILE.read_text())
    runtime = found["runtime"]
    assert ("COPY", f"--from={BUILD_STAGE} --chown=app:app /app/.venv /app/.venv") in (
        runtime.steps
    )
    assert list(found)[-1] == "runtime"  # `docker build` without --target builds the last
    assert ("COPY", f"--from={FULL_BUILD_STAGE} --chown=app:app /app/.venv /app/.venv") in (
        found["full"].steps
    )


def test_the_dependency_sync_passes_on_the_files_copied_before_it(tmp_path: Path) -> None:
    """The first `uv sync` of the Dockerfile, with --dry-run, where only the COPY lines that
    precede it have put files: fails as the image build would when one is missing."""
    build = stages(DOCKERFILE.read_text())[BUILD_STAGE]
    first_sync = next(i for i, (k, rest) in enumerate(build.steps) if "uv sync" in rest)
    keyword, rest = build.steps[first_sync]
    assert keyword == "RUN"
    replay(Stage("dependencies", BUILD_STAGE, build.steps[:first_sync]), tmp_path)
    assert not (tmp_path / "libs/common/src").exists()  # the lock file and manifests alone
    dry_run = Stage("dry-run", BUILD_STAGE, [("RUN", f"{rest} --dry-run")])
    replay(dry_run, tmp_path)


def test_the_dependency_layer_copies_every_workspace_member() -> None:
    """uv cannot read the workspace, so cannot build, without each member's pyproject.toml."""
    build = stages(DOCKERFILE.read_text())[BUILD_STAGE]
    first_sync = next(i for i, (k, rest) in enumerate(build.steps) if "uv sync" in rest)
    copied = {
        source
        for keyword, rest in build.steps[:first_sync]
        if keyword == "COPY"
        for source in flags_and_args(rest)[1][:-1]
    }
    root = tomllib.loads((ROOT / "pyproject.toml").read_text())
    members = {
        str(path.relative_to(ROOT))
        for pattern in root["tool"]["uv"]["workspace"]["members"]
        for path in ROOT.glob(f"{pattern}/pyproject.toml")
    }
    assert members <= copied


def workspace_scripts() -> set[str]:
    """Console scripts of the workspace's members, as their pyproject files declare today."""
    scripts: set[str] = set()
    for pyproject in ROOT.glob("*/*/pyproject.toml"):
        scripts |= set(tomllib.loads(pyproject.read_text())["project"].get("scripts", {}))
    return scripts


def test_every_compose_command_runs_from_its_image(image_venv: Path, full_venv: Path) -> None:
    compose: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = {name: spec for name, spec in compose["services"].items() if "build" in spec}
    assert {"ingest", "sync", "matcher", "emulator"} <= set(services)
    scripts = workspace_scripts()
    for name, spec in services.items():
        command = spec["command"]
        # `topics` runs qrecon-topics, a console script of libs/common landing on another
        # branch: checked here from the moment the workspace declares it.
        if command[0] not in scripts:
            assert name == "topics", f"{name}: {command[0]} is no console script"
            continue
        target = spec["build"].get("target", "runtime")
        venv = {"runtime": image_venv, "full": full_venv}[target]
        # --help imports the command's modules: a dependency only the dev group has fails.
        result = subprocess.run(
            [str(venv / "bin" / command[0]), *command[1:], "--help"],
            capture_output=True,
            text=True,
            env={"PATH": f"{venv / 'bin'}:/usr/bin:/bin"},
        )
        assert result.returncode == 0, f"{name}: {command}\n{result.stderr}"


def data_files(root: Path, packages: tuple[str, ...]) -> set[str]:
    """Files other than Python under qrecon/<package>/ (migrations, templates, assets)."""
    return {
        str(path.relative_to(root))
        for package in packages
        for path in (root / package.replace(".", "/")).rglob("*")
        if path.is_file() and path.suffix not in (".py", ".pyc")
    }


def sources_data_files(packages: tuple[str, ...]) -> set[str]:
    return set().union(*(data_files(src, packages) for src in ROOT.glob("*/*/src")))


def test_every_data_file_of_the_services_is_in_the_production_image(image_venv: Path) -> None:
    """Migrations (and any template or asset) ship in the non-editable install."""
    sources = sources_data_files(SERVICE_PACKAGES)
    assert any(name.endswith(".sql") for name in sources)
    assert sources <= data_files(site_packages(image_venv), SERVICE_PACKAGES)


def test_every_data_file_is_in_the_full_image(full_venv: Path) -> None:
    packages = SERVICE_PACKAGES + TOOL_PACKAGES
    assert sources_data_files(packages) <= data_files(site_packages(full_venv), packages)


def test_the_production_image_holds_the_services_and_libs_common_only(image_venv: Path) -> None:
    site = site_packages(image_venv)
    for package in SERVICE_PACKAGES:
        assert (site / package.replace(".", "/") / "__init__.py").exists(), package
    for package in TOOL_PACKAGES:
        assert not (site / package.replace(".", "/")).exists(), package
    assert {p.name for p in (site / "qrecon").iterdir()} <= {"common", "ingest", "sync", "matcher"}
    assert not (image_venv / "bin" / "qonto-sim").exists()
    assert not (image_venv / "bin" / "qrecon-stack").exists()
    for script in ("qonto-ingest", "qonto-sync", "qonto-matcher"):
        assert (image_venv / "bin" / script).exists(), script


def test_the_full_image_adds_the_emulator_and_devstack(full_venv: Path) -> None:
    site = site_packages(full_venv)
    for package in SERVICE_PACKAGES + TOOL_PACKAGES:
        assert (site / package.replace(".", "/") / "__init__.py").exists(), package
    assert (full_venv / "bin" / "qonto-sim").exists()


def compose_environment(spec: dict[str, Any], variables: dict[str, str]) -> dict[str, str]:
    """What compose hands the container with only `variables` set on the host: `${X:-d}`
    becomes d, `${X:?message}` the value of X, a bare name stays unset."""

    def interpolate(value: str) -> str:
        value = re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", value)
        return re.sub(r"\$\{(\w+):\?[^}]*\}", lambda m: variables[m.group(1)], value)

    return {
        name: interpolate(str(value))
        for name, value in spec["environment"].items()
        if value is not None
    }


@pytest.mark.integration
def test_the_compose_services_get_ready_from_the_image(
    image_venv: Path, kafka_bootstrap: str, database_url: str, tmp_path: Path
) -> None:
    """Compose's environment (servers and ports swapped for this test's), the image's
    commands: each service answers /readyz, Kafka and PostgreSQL reachable."""
    compose: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    supervisor = Supervisor(tmp_path)
    prefix = testing.unique_prefix()
    started: list[str] = []
    # compose's one-shot `topics` service first, with the image's own command: the services
    # wait for it (the broker never auto-creates a topic)
    topics = compose["services"]["topics"]
    provisioned = subprocess.run(
        [str(image_venv / "bin" / topics["command"][0]), *topics["command"][1:]],
        env={
            **compose_environment(topics, {"POSTGRES_PASSWORD": "unused"}),
            "PATH": os.environ.get("PATH", ""),
            "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
            "KAFKA_TOPIC_PREFIX": prefix,
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert provisioned.returncode == 0, provisioned.stdout + provisioned.stderr
    try:
        for name in ("ingest", "sync", "matcher"):
            spec = compose["services"][name]
            assert f"{name.upper()}_PORT" in spec["environment"]
            port = free_port()
            secrets = {"POSTGRES_PASSWORD": "unused", "MATCHER_API_TOKEN": "test-token"}
            env = compose_environment(spec, secrets) | {
                "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
                "DATABASE_URL": database_url,
                "KAFKA_TOPIC_PREFIX": prefix,
                f"{name.upper()}_PORT": str(port),
            }
            started.append(name)
            supervisor.start(
                ProcessSpec(
                    name,
                    [str(image_venv / "bin" / spec["command"][0]), *spec["command"][1:]],
                    env,
                    health_url=f"http://127.0.0.1:{port}/readyz",
                    ready_timeout=120.0,
                )
            )
    finally:
        for name in started:
            supervisor.stop(name)
