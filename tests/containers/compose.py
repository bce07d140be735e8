"""docker/compose.yml's services run with a container engine's own ``run``, for the container test.

Debian's podman-compose (1.0.3) neither waits on ``depends_on`` conditions nor drops services
an override turns off, so the test reads the compose file itself, as compose reads it: the
override's mappings merged into the file's and its other values replacing them, ``${VAR}``
interpolated from the variables given, services with a profile left off. Each remaining
service becomes one ``podman run`` (image, command, environment, volumes, network mode,
restart policy, stop grace period, read-only root, tmpfs, capabilities), started in
``depends_on`` order, each condition awaited as compose awaits it (health checks run with
``exec``). A key this reader does not know is refused, so compose.yml cannot gain a setting
that the test would silently drop.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

# What a started service may say; "build" is `make images`' (the images are built first),
# "ports" and "networks" do not apply on the host's network, the only one the test uses.
SERVICE_KEYS = {
    "build", "image", "command", "environment", "volumes", "depends_on", "restart", "healthcheck",
    "stop_grace_period", "network_mode", "networks", "ports", "profiles", "read_only", "tmpfs", "cap_drop",
    "security_opt",
}  # fmt: skip
LABEL = "io.ageweb.test-project"

_VARIABLE = re.compile(r"\$(?:(\$)|\{(\w+)(?:(:?[-?])((?:[^{}]|\{[^{}]*\})*))?\}|(\w+))")


def interpolate(text: str, variables: Mapping[str, str]) -> str:
    """Compose's interpolation: ``$$``, ``${V}``, ``${V:-default}``, ``${V-default}``,
    ``${V:?error}``, ``${V?error}``; a required variable that is missing raises."""

    def value(match: re.Match[str]) -> str:
        dollar, name, operator, word, bare = match.groups()
        if dollar:
            return "$"
        name = name or bare
        present = name in variables
        current = variables.get(name, "")
        unset = not current if operator in (":-", ":?") else not present
        if operator and unset:
            if operator.endswith("?"):
                raise KeyError(f"{name}: {word or 'required'}")
            return interpolate(word or "", variables)
        return current

    return _VARIABLE.sub(value, text)


def _interpolated(node: Any, variables: Mapping[str, str]) -> Any:
    if isinstance(node, str):
        return interpolate(node, variables)
    if isinstance(node, dict):
        return {key: _interpolated(item, variables) for key, item in node.items()}
    if isinstance(node, list):
        return [_interpolated(item, variables) for item in node]
    return node


def merge(base: Any, over: Any) -> Any:
    """An override laid over a compose file: mappings merged key by key, anything else replaced."""
    if isinstance(base, dict) and isinstance(over, dict):
        return {**base, **{key: merge(base.get(key), item) for key, item in over.items()}}
    return over


def load(files: list[Path], variables: Mapping[str, str]) -> dict[str, Any]:
    """The compose files merged in order and interpolated."""
    merged: dict[str, Any] = {}
    for path in files:
        merged = merge(merged, yaml.safe_load(path.read_text()))
    result: dict[str, Any] = _interpolated(merged, variables)
    return result


@dataclass
class Project:
    """The started services of one compose project, named ``{name}-{service}`` and labelled."""

    files: list[Path]
    variables: Mapping[str, str]
    name: str
    engine: str = "podman"
    config: dict[str, Any] = field(init=False)

    def __post_init__(self) -> None:
        self.config = load(self.files, self.variables)
        for service, spec in self.services().items():
            unknown = set(spec) - SERVICE_KEYS
            if unknown:
                raise ValueError(f"{service}: the container test does not know {sorted(unknown)}")
            if spec.get("network_mode") != "host":
                raise ValueError(f"{service}: the container test runs services on the host's network only")

    def services(self) -> dict[str, dict[str, Any]]:
        """The services compose would start: those without a profile."""
        every: dict[str, dict[str, Any]] = self.config["services"]
        return {name: spec for name, spec in every.items() if not spec.get("profiles")}

    def container(self, service: str) -> str:
        return f"{self.name}-{service}"

    def order(self) -> list[str]:
        """The services, each after those it depends on."""
        services, done = self.services(), []
        while len(done) < len(services):
            ready = [s for s in services if s not in done and set(self._depends(s)) <= set(done)]
            if not ready:
                raise ValueError(f"depends_on has a cycle among {sorted(set(services) - set(done))}")
            done += ready
        return done

    def _depends(self, service: str) -> dict[str, str]:
        """What ``service`` waits for, among the started services: name -> condition."""
        depends = self.services()[service].get("depends_on", {})
        if isinstance(depends, list):
            depends = {name: {"condition": "service_started"} for name in depends}
        return {name: spec["condition"] for name, spec in depends.items() if name in self.services()}

    def run_command(self, service: str) -> list[str]:
        """The engine's ``run`` for one service, as compose would create its container."""
        spec, name = self.services()[service], self.container(service)
        command = [self.engine, "run", "--detach", "--name", name, "--hostname", name,
                   "--label", f"{LABEL}={self.name}", "--label", f"com.docker.compose.service={service}",
                   "--network", "host", "--restart", str(spec.get("restart", "no"))]  # fmt: skip
        if spec.get("read_only"):
            command.append("--read-only")
        command += [f"--tmpfs={path}" for path in spec.get("tmpfs", [])]
        command += [f"--cap-drop={cap}" for cap in spec.get("cap_drop", [])]
        command += [f"--security-opt={option}" for option in spec.get("security_opt", [])]
        if "stop_grace_period" in spec:
            command += ["--stop-timeout", str(_seconds(spec["stop_grace_period"]))]
        for key, value in (spec.get("environment") or {}).items():
            command += ["--env", f"{key}={'' if value is None else value}"]
        for volume in spec.get("volumes", []):
            source, target = volume.split(":")[:2]
            if source.startswith((".", "/")):
                raise ValueError(f"{service}: the container test mounts named volumes only, not {source}")
            command += ["--volume", f"{self.name}_{source}:{target}"]
        command.append(spec["image"])
        return command + [str(part) for part in spec.get("command", [])]

    def start(self, *, timeout: float = 300) -> dict[str, float]:
        """As ``compose up --wait``: each service starts as soon as what it depends on meets its
        condition (services that do not wait for each other start side by side), then every
        service with a health check is waited for; seconds from the start to ready for each."""
        for volume in self.config.get("volumes", {}):
            self._engine("volume", "create", "--label", f"{LABEL}={self.name}", f"{self.name}_{volume}")
        began, deadline = time.monotonic(), time.monotonic() + timeout
        pending, met, timings = self.order(), set[tuple[str, str]](), {}
        while pending:
            looked: set[tuple[str, str]] = set()  # each condition asked once a round, whoever waits for it
            for service in list(pending):
                needs = set(self._depends(service).items())
                for need in needs - met - looked:
                    looked.add(need)
                    if need[0] not in pending and self._meets(*need):
                        met.add(need)
                if needs <= met:
                    subprocess.run(self.run_command(service), check=True, capture_output=True, text=True)
                    pending.remove(service)
            if pending and time.monotonic() > deadline:
                waiting = {s: sorted(n for n, _ in set(self._depends(s).items()) - met) for s in pending}
                raise TimeoutError(f"not started after {timeout} s, waiting for: {waiting}")
            if pending:
                time.sleep(0.5)
        for service in self.order():
            condition = "service_healthy" if self.has_healthcheck(service) else ""
            self.await_condition(service, condition, max(deadline - time.monotonic(), 1.0))
            timings[service] = time.monotonic() - began
        return timings

    def has_healthcheck(self, service: str) -> bool:
        return "test" in self.services()[service].get("healthcheck", {})

    def await_condition(self, service: str, condition: str, timeout: float) -> None:
        """Wait as compose waits: for exit 0, for the health check to pass, or not at all."""
        deadline = time.monotonic() + timeout
        while not self._meets(service, condition):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{service} not {condition} after {timeout} s:\n{self.logs(service)}")
            time.sleep(0.5)

    def _meets(self, service: str, condition: str) -> bool:
        """``service`` meets compose's ``condition`` now: exited 0, healthy, or (any other) started;
        RuntimeError if it was to complete and exited otherwise."""
        if condition == "service_completed_successfully":
            state = self.state(service)
            if state["Status"] == "exited" and state["ExitCode"] != 0:
                raise RuntimeError(f"{service} exited with {state['ExitCode']}:\n{self.logs(service)}")
            return bool(state["Status"] == "exited")
        if condition == "service_healthy":
            return self.healthy(service)
        return True

    def healthy(self, service: str) -> bool:
        """The service's compose health check passes now (run with exec in its container)."""
        test = self.services()[service]["healthcheck"]["test"]
        command = test[1:] if test[0] == "CMD" else ["sh", "-c", test[1]]
        try:
            result = subprocess.run([self.engine, "exec", self.container(service), *command],
                                    capture_output=True, timeout=60)  # fmt: skip
        except subprocess.TimeoutExpired:
            return False
        return result.returncode == 0

    def state(self, service: str) -> dict[str, Any]:
        out = self._engine("inspect", "--format", "{{json .State}}", self.container(service))
        state: dict[str, Any] = json.loads(out)
        return state

    def logs(self, service: str, tail: int = 60) -> str:
        result = subprocess.run([self.engine, "logs", "--tail", str(tail), self.container(service)],
                                capture_output=True, text=True)  # fmt: skip
        return result.stdout + result.stderr

    def remove(self) -> list[str]:
        """Remove every container and volume of this project (by label), whatever state they are
        in; returns the names of containers still there afterwards (none, or the test fails)."""
        label = f"label={LABEL}={self.name}"
        names = self._engine("ps", "--all", "--filter", label, "--format", "{{.Names}}").split()
        if names:
            subprocess.run([self.engine, "rm", "--force", "--time", "10", *names], capture_output=True)
        volumes = self._engine("volume", "ls", "--filter", label, "--format", "{{.Name}}").split()
        if volumes:
            subprocess.run([self.engine, "volume", "rm", "--force", *volumes], capture_output=True)
        return self._engine("ps", "--all", "--filter", label, "--format", "{{.Names}}").split()

    def _engine(self, *args: str) -> str:
        return subprocess.run([self.engine, *args], check=True, capture_output=True, text=True).stdout.strip()


def _seconds(duration: str | int) -> int:
    """Compose's durations as whole seconds: "2m", "30s", "1m30s", or a number."""
    if isinstance(duration, int):
        return duration
    units = {"h": 3600, "m": 60, "s": 1}
    return int(sum(float(n) * units[u] for n, u in re.findall(r"([\d.]+)([hms])", duration)))
