"""Creating a container: a refusal rootless Podman gives transiently is tried again; any other
refusal is the point's error at once. (A fake engine API: the real one cannot be made to give
this refusal on demand.)"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import docker.errors
import pytest

from repro.errors import EngineError
from repro.runner.container import BindMount, ContainerSpec, create_container


class FakeApi:
    def __init__(self, refusals: list[str]) -> None:
        self.refusals = refusals
        self.calls = 0

    def create_host_config(self, **options: Any) -> dict[str, Any]:
        return dict(options)

    def create_container(self, **options: Any) -> dict[str, str]:
        self.calls += 1
        if self.refusals:
            raise docker.errors.APIError("refused", explanation=self.refusals.pop(0))
        return {"Id": "c0ffee"}


def engine(refusals: list[str]) -> Any:
    return SimpleNamespace(client=SimpleNamespace(api=FakeApi(refusals)))


SPEC = ContainerSpec(
    image_id="sha256:" + "1" * 64,
    command=("true",),
    env={},
    mounts=(),
    outputs=BindMount(source=Path("/tmp/out"), target="/out", readonly=False),
    user="1000:1000",
    workdir=None,
    network="none",
)
TRANSIENT = "container create: keep-id requires additional UIDs or GIDs defined in /etc/subuid and /etc/subgid"


def test_a_transient_rootless_refusal_is_tried_again() -> None:
    fake = engine([TRANSIENT])
    assert create_container(fake, SPEC) == "c0ffee"
    assert fake.client.api.calls == 2


def test_a_lasting_refusal_is_reported_after_three_tries_and_others_at_once() -> None:
    lasting = engine([TRANSIENT] * 3)
    with pytest.raises(EngineError, match="keep-id requires"):
        create_container(lasting, SPEC)
    assert lasting.client.api.calls == 3
    other = engine(["no such image"])
    with pytest.raises(EngineError, match="refused to create the container: no such image"):
        create_container(other, SPEC)
    assert other.client.api.calls == 1
