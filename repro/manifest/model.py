"""The manifest model: what a ``exp.yaml`` may say, and nothing else.

Validation here covers each field on its own (types, forms, pins). Checks that need the
file system or several fields at once (placeholders, mount sources, sensitive paths) are in
:mod:`repro.manifest.checks`, so that every problem can still be reported with its line.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    SerializerFunctionWrapHandler,
    field_serializer,
    field_validator,
    model_serializer,
    model_validator,
)

from repro.text import parse_duration, parse_memory, parse_tolerance

__all__ = [
    "DEVICES",
    "SECRET_NAME_PARTS",
    "Env",
    "EnvValue",
    "ImagePin",
    "Manifest",
    "Metrics",
    "Mount",
    "Resources",
    "Scalar",
    "SecretFromHost",
    "SecretValue",
    "Tolerances",
    "UpstreamRef",
    "check_scalar",
    "is_secret",
    "split_name",
]

Scalar = str | int | float | bool

_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_NAME = re.compile(r"[a-z0-9][a-z0-9._-]*")
_PARAM = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _scalar(value: Any) -> Scalar:
    """A parameter value: text that prints as it reads, a finite number, or a boolean."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"must be a finite number, not {value}")
    if isinstance(value, str) and not value.isprintable():
        raise ValueError(f"{value!r} holds a newline or control character; parameter values are printable text")
    if isinstance(value, (str, int, float, bool)):
        return value
    raise ValueError(f"must be a string, number or boolean, not {type(value).__name__}")


def check_scalar(value: Any) -> Scalar:
    """``value`` if it may be a parameter value (``--set`` values too); ValueError says why not."""
    return _scalar(value)


ScalarField = Annotated[Scalar, PlainValidator(_scalar)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def split_name(name: str) -> tuple[str, str | None]:
    """``reg:5000/lab/sim:1`` → ``("reg:5000/lab/sim", "1")``; no tag → ``(name, None)``."""
    slash = name.rfind("/")
    colon = name.rfind(":")
    return (name[:colon], name[colon + 1 :]) if colon > slash else (name, None)


class ImagePin(_Strict):
    """An image pinned by content.

    ``kind == "digest"``: ``name[:tag]@sha256:…``, the registry (manifest) digest, checked against
    the image's ``RepoDigests``. ``kind == "id"``: ``{name, id}``, the local image ID (config
    digest) of an image that was never pushed.
    """

    name: str
    kind: Literal["digest", "id"]
    digest: str

    @property
    def repository(self) -> str:
        """The name without its tag: ``reg:5000/lab/sim:1`` → ``reg:5000/lab/sim``."""
        return split_name(self.name)[0]

    @property
    def reference(self) -> str:
        """What the engine can look the image up by."""
        return f"{self.repository}@{self.digest}" if self.kind == "digest" else self.digest

    def __str__(self) -> str:
        return f"{self.name}@{self.digest}" if self.kind == "digest" else f"{self.name} (id {self.digest})"

    def as_written(self) -> str | dict[str, str]:
        """The manifest form: ``name@sha256:…`` or ``{name, id}``."""
        if self.kind == "digest":
            return f"{self.name}@{self.digest}"
        return {"name": self.name, "id": self.digest}

    @classmethod
    def parse(cls, value: Any) -> ImagePin:
        """Read the manifest's ``image`` value; refuse anything not pinned by content."""
        if isinstance(value, ImagePin):
            return value
        if isinstance(value, dict):
            unknown = sorted(set(value) - {"name", "id"})
            if unknown or not {"name", "id"} <= set(value):
                raise ValueError("the local-image form is {name: NAME, id: 'sha256:<64 hex>'}")
            name, image_id = value["name"], value["id"]
            if not isinstance(name, str) or not name:
                raise ValueError("name must be a non-empty string")
            if not isinstance(image_id, str) or not _DIGEST.fullmatch(image_id):
                raise ValueError(f"id {image_id!r} is not an image ID (sha256:<64 hex>)")
            return cls(name=name, kind="id", digest=image_id)
        if not isinstance(value, str) or not value.strip():
            raise ValueError("must be NAME[:TAG]@sha256:<digest> or {name: NAME, id: 'sha256:<id>'}")
        name, at, digest = value.partition("@")
        if not at:
            raise ValueError(
                f"image {value!r} is not pinned by content (a tag can move) — "
                "run: repro lock MANIFEST, or write NAME@sha256:<digest> or {name, id}"
            )
        if not _DIGEST.fullmatch(digest):
            raise ValueError(f"{digest!r} is not a sha256 digest (sha256:<64 lowercase hex>)")
        if not name or any(c.isspace() for c in name):
            raise ValueError(f"{name!r} is not an image name")
        return cls(name=name, kind="digest", digest=digest)


class SecretFromHost(_Strict):
    """An environment value taken from the invoking shell; never written to a record."""

    from_host: str = Field(pattern=rf"^{_ENV_NAME.pattern}$")
    secret: Literal[True] = True


class SecretValue(_Strict):
    """An environment value written in the manifest but marked secret: passed to the container,
    redacted in records (the point key still depends on it)."""

    value: str
    secret: Literal[True]

    @field_validator("value")
    @classmethod
    def _no_nul(cls, value: str) -> str:
        return _no_nul(value)


EnvValue = str | SecretFromHost | SecretValue

SECRET_NAME_PARTS = (
    "PASS",
    "PWD",
    "SECRET",
    "TOKEN",
    "KEY",
    "CRED",
    "AUTH",
    "PRIVATE",
    "CERT",
    "COOKIE",
    "SESSION",
    "SALT",
    "SIGNATURE",
)
"""An environment variable whose name holds one of these (in any case) is a secret: its value is
redacted in records. ``secret: true`` marks any other."""


def is_secret(name: str, value: EnvValue) -> bool:
    """Whether the environment entry ``name: value`` must never be written in clear."""
    upper = name.upper()
    return not isinstance(value, str) or any(part in upper for part in SECRET_NAME_PARTS)


def _no_nul(text: str) -> str:
    if "\x00" in text:
        raise ValueError("holds a NUL character, which no program can receive")
    return text


def _env_value(value: Any) -> EnvValue:
    if isinstance(value, (SecretFromHost, SecretValue)):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"must be a finite number, not {value}")
    if isinstance(value, (str, int, float)):
        return _no_nul(str(value))
    if isinstance(value, dict) and "from_host" in value:
        return SecretFromHost.model_validate(value)
    if isinstance(value, dict):
        return SecretValue.model_validate(value)
    raise ValueError("must be a string, a number, {from_host: NAME} or {value: TEXT, secret: true}")


Env = dict[str, Annotated[EnvValue, PlainValidator(_env_value)]]


class UpstreamRef(_Strict):
    """Another manifest's run whose outputs a mount shows (``from:``): checkpoint lineage."""

    manifest: str = Field(min_length=1)
    """The upstream manifest, relative to the manifest that names it."""
    point: dict[str, ScalarField] | None = None
    """The upstream's parameters, pinned as ``--set`` pins them: they must leave it one point
    (may be left out when it has one)."""
    path: str | None = None
    """A glob inside the upstream run's outputs that must match exactly one entry (default:
    all of its outputs)."""

    @field_validator("manifest")
    @classmethod
    def _manifest_path(cls, value: str) -> str:
        if "{" in value or "}" in value:
            raise ValueError("placeholders are not allowed in from.manifest")
        return _no_nul(value)

    @field_validator("path")
    @classmethod
    def _glob(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = _inside_outputs(value)
        parts = value.split("/")
        if any(part in ("", ".") for part in parts) or "**" in value:
            raise ValueError(f"{value!r} must be a glob of path parts (a/b*, no empty parts, no ** )")
        return value


class Mount(_Strict):
    """A host folder or file made visible in the container (``source``), or another run's
    outputs (``from``); read-only and hashed as input."""

    source: str | None = Field(default=None, min_length=1)
    upstream: UpstreamRef | None = Field(default=None, alias="from")
    target: str
    readonly: bool = True
    allow_sensitive: bool = False
    allow_outside: bool = False

    @field_validator("target")
    @classmethod
    def _absolute_target(cls, target: str) -> str:
        return _container_target(target)

    @model_validator(mode="after")
    def _source_or_from(self) -> Mount:
        if (self.source is None) == (self.upstream is None):
            raise ValueError("give either source (a host path) or from (another manifest's run), not both")
        if self.upstream is not None:
            if not self.readonly:
                raise ValueError("a from: mount is always read-only (readonly: false is not possible)")
            given = sorted({"allow_outside", "allow_sensitive"} & self.model_fields_set)
            if given:
                raise ValueError(f"{given[0]} does not apply to a from: mount (it shows a run's outputs)")
        return self

    @model_serializer(mode="wrap")
    def _as_written(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # The manifest's own spelling (`from`), and only the form this mount takes.
        data: dict[str, Any] = handler(self)
        upstream = data.pop("upstream", None)
        if self.upstream is None:
            return data
        data.pop("source", None)
        data.pop("allow_sensitive", None)
        data.pop("allow_outside", None)
        return {"from": upstream, **data}


def _memory(value: Any) -> int | str | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ValueError("must be a size like 512m or 2g, or a number of bytes")
    parse_memory(value)
    return value


def _timeout(value: Any) -> int | float | str | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError("must be a duration like 90s or 1h30m, or a number of seconds")
    parse_duration(value)
    return value


def _inside_outputs(path: str) -> str:
    """A path relative to the run's output folder, that stays inside it."""
    if path.startswith("/"):
        raise ValueError(f"{path!r} must be relative to the output folder (not absolute)")
    if ".." in path.replace("\\", "/").split("/"):
        raise ValueError(f"{path!r} must stay inside the output folder (no '..')")
    return path


def _dump(value: Any) -> Literal["last", "first"] | int:
    if value in ("last", "first"):
        return value  # type: ignore[no-any-return]  # one of the two literals, checked just above
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return value
    raise ValueError("must be last, first, or the number of a dump (1 for the first)")


class Metrics(_Strict):
    """Where a point's numbers are: an output file and its format (see :mod:`repro.results.metrics`)."""

    file: str = Field(min_length=1)
    format: Literal["gem5-stats", "json", "csv"]
    dump: Annotated[Literal["last", "first"] | int, PlainValidator(_dump)] = "last"
    """Which of the file's dumps holds the point's numbers: ``last`` (gem5 dumps again at exit),
    ``first``, or the Nth (from 1)."""

    @field_validator("file")
    @classmethod
    def _relative(cls, path: str) -> str:
        return _inside_outputs(path)


class FailOn(_Strict):
    """A pattern whose presence in an output marks the run failed, whatever its exit code
    (gem5 exits 0 after a simulated kernel panic)."""

    pattern: str
    file: str = "stdout"
    """``stdout``, ``stderr``, or a path in the output folder."""

    @field_validator("file")
    @classmethod
    def _relative(cls, path: str) -> str:
        return path if path in ("stdout", "stderr") else _inside_outputs(path)

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, pattern: str) -> str:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"not a regular expression: {exc}") from None
        return pattern


class MetricsNondeterminism(_Strict):
    """Metrics of the metrics file that are not judged (``{metrics: ["host*"]}``)."""

    metrics: list[str] = Field(min_length=1)


def _nondeterministic(value: Any) -> str | MetricsNondeterminism:
    if isinstance(value, str) and value:
        return value
    if isinstance(value, dict):
        return MetricsNondeterminism.model_validate(value)
    raise ValueError("must be a file glob, or {metrics: [NAME_GLOB, …]}")


def _tolerance(value: Any) -> str | float:
    """A tolerance as written (``1%`` or ``0.001``), once it reads as one."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError("must be a number (absolute, 0.001) or a percentage (relative, 1%)")
    parse_tolerance(value)
    return value if isinstance(value, str) else float(value)


Tolerances = dict[str, Annotated[str | float, PlainValidator(_tolerance)]]
"""Metric glob → how far its value may move in a rerun and still count as reproduced."""


class Resources(_Strict):
    """Limits for each point's container."""

    cpus: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    memory: Annotated[int | str | None, PlainValidator(_memory)] = None
    timeout: Annotated[int | float | str | None, PlainValidator(_timeout)] = None

    @property
    def memory_bytes(self) -> int | None:
        return None if self.memory is None else parse_memory(self.memory)

    @property
    def timeout_seconds(self) -> float | None:
        return None if self.timeout is None else parse_duration(self.timeout)


_KERNEL_FOLDERS = ("/proc", "/sys", "/dev")

DEVICES = ("/dev/kvm",)
"""The host devices a manifest may ask for (``devices:``): KVM, for gem5's KVM CPU."""


def _container_target(path: str) -> str:
    """A container path that a mount or the output folder may take: not the kernel's own."""
    path = _container_path(path)
    for folder in _KERNEL_FOLDERS:
        if path == folder or path.startswith(folder + "/"):
            raise ValueError(f"{path} is inside {folder}, which the container's kernel interfaces own")
    return path


def _container_path(path: str) -> str:
    if not path.startswith("/"):
        raise ValueError(f"{path!r} must be an absolute path in the container")
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise ValueError(f"{path!r} must not contain '..'")
    return "/" + "/".join(parts)


class Manifest(_Strict):
    """One experiment: an image pinned by content, a command, and the parameter space."""

    version: Literal[1]
    name: str = Field(pattern=rf"^{_NAME.pattern}$", max_length=100)
    description: str = ""
    image: Annotated[ImagePin, PlainValidator(ImagePin.parse)]
    command: list[Annotated[str, AfterValidator(_no_nul)]] = Field(min_length=1)
    params: dict[str, ScalarField] = Field(default_factory=dict)
    sweep: dict[str, list[ScalarField]] = Field(default_factory=dict)
    exclude: list[dict[str, ScalarField]] = Field(default_factory=list)
    points: list[dict[str, ScalarField]] = Field(default_factory=list)
    env: Env = Field(default_factory=dict)
    mounts: list[Mount] = Field(default_factory=list)
    outputs: str = "/out"
    workdir: str | None = None
    resources: Resources = Field(default_factory=Resources)
    network: Literal["none", "bridge"] = "none"
    user: str = "host"
    nondeterministic: list[Annotated[str | MetricsNondeterminism, PlainValidator(_nondeterministic)]] = Field(
        default_factory=list
    )
    metrics: Metrics | None = None
    tolerance: Tolerances = Field(default_factory=dict)
    """How far each metric (by glob) may move in a rerun: ``verify`` judges by it; the key ignores it."""
    fail_on: list[FailOn] = Field(default_factory=list)
    devices: list[str] = Field(default_factory=list)
    """Host devices the container may open; only :data:`DEVICES` (recorded, not in the point key)."""
    license: str | None = Field(default=None, max_length=200)
    """The licence of the experiment's results: an SPDX identifier (``CC-BY-4.0``) or a URL."""

    @field_validator("devices")
    @classmethod
    def _devices(cls, value: list[str]) -> list[str]:
        for device in value:
            if device not in DEVICES:
                raise ValueError(f"{device} cannot be passed to a container; the only device allowed is /dev/kvm")
        if len(set(value)) != len(value):
            raise ValueError("a device is named twice")
        return value

    @field_validator("license")
    @classmethod
    def _license(cls, value: str | None) -> str | None:
        if value is None or re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9.+-]*", value) or re.fullmatch(r"https?://\S+", value):
            return value
        raise ValueError("must be an SPDX licence identifier (e.g. CC-BY-4.0, MIT) or a URL")

    @property
    def nondeterministic_metrics(self) -> list[str]:
        return [name for entry in self.nondeterministic if not isinstance(entry, str) for name in entry.metrics]

    @field_serializer("nondeterministic")
    def _nondeterministic_as_written(self, entries: list[str | MetricsNondeterminism]) -> list[Any]:
        return [entry if isinstance(entry, str) else entry.model_dump() for entry in entries]

    @field_serializer("env")
    def _env_without_secrets(self, env: dict[str, EnvValue]) -> dict[str, Any]:
        # A dumped manifest never holds a secret in clear (and pydantic has no str schema to
        # warn about for the secret forms).
        return {
            name: value
            if isinstance(value, str)
            else {"from_host": value.from_host}
            if isinstance(value, SecretFromHost)
            else {"value": "<secret: redacted>", "secret": True}
            for name, value in env.items()
        }

    @field_serializer("image")
    def _image_as_written(self, image: ImagePin) -> str | dict[str, str]:
        # Serialise to the manifest form, so a resolved manifest in a record reads like the file.
        return image.as_written()

    @field_validator("command", mode="before")
    @classmethod
    def _command_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            raise ValueError("must be a list, e.g. [sh, -c, 'make run'] (no shell splitting is done)")
        if isinstance(value, list):
            return [_command_word(word) for word in value]
        return value

    @field_validator("params", "sweep")
    @classmethod
    def _param_names(cls, value: dict[str, Any]) -> dict[str, Any]:
        for name in value:
            if not _PARAM.fullmatch(name):
                raise ValueError(f"parameter name {name!r} must be an identifier (letters, digits, _)")
        return value

    @field_validator("sweep")
    @classmethod
    def _non_empty_axes(cls, value: dict[str, list[Scalar]]) -> dict[str, list[Scalar]]:
        for name, values in value.items():
            if not values:
                raise ValueError(f"sweep axis {name!r} has no values")
            if len({(type(v), v) for v in values}) != len(values):
                raise ValueError(f"sweep axis {name!r} repeats a value")
        return value

    @field_validator("env")
    @classmethod
    def _env_names(cls, value: dict[str, EnvValue]) -> dict[str, EnvValue]:
        for name in value:
            if not _ENV_NAME.fullmatch(name):
                raise ValueError(f"environment name {name!r} is not a valid variable name")
        return value

    @field_validator("outputs")
    @classmethod
    def _outputs_path(cls, value: str) -> str:
        value = _container_target(value)
        if value == "/":
            raise ValueError("the output folder cannot be the container's root")
        return value

    @field_validator("workdir")
    @classmethod
    def _workdir_path(cls, value: str | None) -> str | None:
        return None if value is None else _container_path(value)

    @field_validator("user")
    @classmethod
    def _user_mode(cls, value: str) -> str:
        if value in ("host", "root", "image") or re.fullmatch(r"\d+(:\d+)?", value):
            return value
        raise ValueError("must be host (the invoking uid:gid), root, image, or UID[:GID]")

    @property
    def param_names(self) -> list[str]:
        """Every parameter, defaults first, then sweep axes, in file order."""
        return [*self.params, *(name for name in self.sweep if name not in self.params)]


def _command_word(word: Any) -> Any:
    # YAML reads `[sleep, 1]` as a string and an int; a command word is always text.
    if isinstance(word, (int, float)) and not isinstance(word, bool):
        return str(word)
    return word
