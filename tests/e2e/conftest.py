"""Shared set-up for the end-to-end tests: a real Docker engine, an image built offline, a
non-root user, a registry on loopback.

Tests that need the engine fail (they are not skipped) when none answers: `scripts/setup-host`
starts one. The test images are written byte for byte (tests/images.py) and loaded here.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import subprocess
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import pytest

from repro.runner import labels
from repro.runner.container import HOME
from repro.store import Store
from tests.conftest import CHECKOUT, SHARED, Image, Project, make_repo, wait_for
from tests.images import BUSYBOX, WrittenImage, busybox_image

BUSYBOX_TAG = "repro-test/busybox:1"


@pytest.fixture(scope="session")
def docker_client() -> Iterator[docker.DockerClient]:
    try:
        client = docker.from_env()
        client.ping()
    except Exception as exc:
        pytest.fail(f"these tests need a Docker engine ({exc}); start one: sudo scripts/setup-host")
    yield client
    client.close()


def load_image(client: docker.DockerClient, image: WrittenImage, tag: str | None = None) -> str:
    """Load a written image into the engine (tagged ``tag``); return its ID, which the writer
    knew before the engine saw it."""
    (loaded,) = client.images.load(image.archive(tag))
    assert loaded.id == image.id, f"the engine loaded {loaded.id}, not the written {image.id}"
    return image.id


@pytest.fixture(scope="session")
def busybox(docker_client: docker.DockerClient) -> Image:
    """A 2 MB image: Debian's static busybox in an otherwise empty image, written byte for byte
    (tests/images.py), so it has the same ID on every machine with the same busybox."""
    if not BUSYBOX.is_file():
        pytest.fail("Debian's busybox-static is needed (/bin/busybox); install it: sudo scripts/setup-host")
    return Image(name=BUSYBOX_TAG, id=load_image(docker_client, busybox_image(BUSYBOX), BUSYBOX_TAG))


CACHESIM = CHECKOUT / "examples" / "cachesim"
CACHESIM_TAG = "repro-example/cachesim:bookworm"


@pytest.fixture(scope="session")
def cachesim_image(docker_client: docker.DockerClient) -> str:
    """The README example's image (debootstrap; built once per machine, by its own script)."""
    if shutil.which("debootstrap") is None:
        pytest.fail("the example's image needs debootstrap: scripts/setup-host --example (as root)")
    subprocess.run([str(CACHESIM / "build-image.sh"), CACHESIM_TAG], check=True, capture_output=True)
    return str(docker_client.images.get(CACHESIM_TAG).id)


def repro_containers(client: docker.DockerClient, store: Path) -> list[Any]:
    """Containers (running or not) that a run in ``store`` created (one removed while they are
    listed is left out, not an error: drivers remove theirs at any moment)."""
    return client.containers.list(all=True, filters={"label": f"{labels.STORE}={store}"}, ignore_removed=True)


def running_containers(client: docker.DockerClient, store: Path) -> list[Any]:
    return [c for c in repro_containers(client, store) if c.status == "running"]


# -- points that end when the test says so ------------------------------------------------------

GATE = f"{HOME}/gate-open"
"""The file a gated point waits for, inside its container: in HOME, a tmpfs of the container's
own that its user may write. The test opens the gate by running ``touch`` in the container, so
nothing on the host, nothing a point's key covers, and nothing in its outputs changes."""


def gated(before: str = "", after: str = "") -> list[str]:
    """A point's command: ``before``, then wait until the test opens the gate, then ``after``.

    A test that needs a point still running (or not yet finished) when it looks makes it wait
    for the test, not for a duration that a slow machine may outlast."""
    wait = f"until [ -e {GATE} ]; do sleep 0.05; done"
    return ["sh", "-c", "; ".join(part for part in (before, wait, after) if part)]


def open_gate(client: docker.DockerClient, container_id: str) -> bool:
    """Let the gated point in this (Docker) container go on; False if it no longer runs."""
    try:
        exit_code, output = client.containers.get(container_id).exec_run(["touch", GATE])
    except docker.errors.NotFound:
        return False
    except docker.errors.APIError as exc:  # 409: it stopped meanwhile
        if exc.status_code == 409:
            return False
        raise
    assert exit_code == 0, output
    return True


@contextmanager
def gates_opened(running: Callable[[], Iterable[str]], open_one: Callable[[str], bool]) -> Iterator[None]:
    """While the block runs, open the gate of every container ``running()`` names, as each
    appears (for points started later, by drivers the test does not step through)."""
    done = threading.Event()
    opened: set[str] = set()
    failures: list[BaseException] = []

    def keep_opening() -> None:
        while not done.is_set():
            try:
                for container_id in set(running()) - opened:
                    if open_one(container_id):
                        opened.add(container_id)
            except Exception as exc:  # reported by the test, not lost in the thread
                failures.append(exc)
                return
            done.wait(0.1)

    thread = threading.Thread(target=keep_opening, name="gates", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()
    if failures:
        raise failures[0]


def docker_gates_opened(client: docker.DockerClient, store: Path) -> contextlib.AbstractContextManager[None]:
    """:func:`gates_opened` for the Docker containers of runs in ``store``."""
    return gates_opened(
        lambda: [c.id for c in running_containers(client, store)],
        lambda container_id: open_gate(client, container_id),
    )


class Output:
    """What a spawned process prints, collected as it comes (a test waits for a line, then acts)."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self._out: list[str] = []
        self._err: list[str] = []
        self._readers = [
            threading.Thread(target=self._drain, args=(stream, lines), daemon=True)
            for stream, lines in ((process.stdout, self._out), (process.stderr, self._err))
        ]
        for reader in self._readers:
            reader.start()

    @staticmethod
    def _drain(stream: Any, lines: list[str]) -> None:
        with stream:
            for line in stream:
                lines.append(line)

    @property
    def out(self) -> str:
        return "".join(self._out)

    @property
    def err(self) -> str:
        return "".join(self._err)

    def wait(self, timeout: float = 600) -> int:
        """The exit code, once the process ended and all it printed is collected."""
        code = self.process.wait(timeout=timeout)
        for reader in self._readers:
            reader.join()
        return code

    def stop(self) -> None:
        """End the process if it still runs (a test that failed midway): see :func:`stop`."""
        stop(self.process, communicate=False)
        self.wait()


def stop(process: subprocess.Popen[str], *, communicate: bool = True) -> None:
    """End a process the test no longer waits for (it failed midway) as a user would: SIGTERM,
    so a driver stops and removes its containers (a SIGKILLed one leaves them behind, and the
    next check reports them instead of the first failure); SIGKILL only if it does not end."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        if communicate:
            process.communicate(timeout=120)
        else:
            process.wait(timeout=120)
    except subprocess.TimeoutExpired:
        process.kill()
        if communicate:
            process.communicate()


@pytest.fixture
def docker_project(project: Project, busybox: Image, docker_client: docker.DockerClient) -> Iterator[Project]:
    """A project whose manifests use the real busybox image; checks no container is left."""
    project.image = busybox
    yield project
    leftovers = repro_containers(docker_client, project.store)
    for container in leftovers:
        container.remove(force=True)
    assert not leftovers, f"containers left behind: {[c.name for c in leftovers]}"


# -- a non-root user that may use the engine --------------------------------------------------

NONROOT_USER = "repro-tester"


@pytest.fixture(scope="session")
def test_venvs() -> Iterator[Path]:
    """A folder for the venvs other users (and SLURM jobs) run: reachable by every user (0755),
    new for each session (two checkouts tested at once never share it), removed at its end."""
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="repro-test-venvs-", dir="/var/tmp"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@dataclass(frozen=True)
class User:
    name: str
    uid: int
    gid: int
    repro: Path
    """The `repro` command installed where this user can run it."""

    def own(self, path: Path) -> None:
        subprocess.run(["chown", "-R", f"{self.uid}:{self.gid}", str(path)], check=True)

    @property
    def runtime_dir(self) -> Path:
        return Path(f"/tmp/{self.name}-run")

    def env(self) -> dict[str, str]:
        return {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "HOME": f"/home/{self.name}",
            "LANG": "C.UTF-8",
            "XDG_RUNTIME_DIR": str(self.runtime_dir),
        }

    def command(self, args: list[str]) -> list[str]:
        """``args`` as this user: setpriv execs, so the process started is the command itself."""
        setpriv = shutil.which("setpriv") or "/usr/bin/setpriv"
        return [setpriv, f"--reuid={self.uid}", f"--regid={self.gid}", "--init-groups", "--", *args]

    def run(self, args: list[str], cwd: Path, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.command(args), cwd=cwd, env=self.env(), capture_output=True, text=True, **kwargs)

    def spawn(self, args: list[str], cwd: Path) -> subprocess.Popen[str]:
        return subprocess.Popen(
            self.command(args),
            cwd=cwd,
            env=self.env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )


def _reachable_by_all(path: Path) -> bool:
    """Whether every user may run ``path``: it and each folder above it are open to others."""
    try:
        if path.stat().st_mode & 0o005 != 0o005:
            return False
        return all(folder.stat().st_mode & 0o001 for folder in path.parents)
    except OSError:
        return False


def _python_candidates() -> Iterator[Path]:
    import sys

    # The interpreter running the tests first (its base, when it runs in a venv), then every
    # python3 on PATH: a pyenv shim or build in root's home is found, and passed over.
    yield Path(getattr(sys, "_base_executable", sys.executable))
    for folder in os.environ.get("PATH", "").split(os.pathsep):
        for name in ("python3", "python3.13", "python3.12", "python3.11"):
            yield Path(folder or ".") / name


@functools.cache
def shared_python() -> Path:
    """A python3 (3.11 or newer, with venv) that every user may run, for the venvs that other
    users and SLURM jobs run: the default interpreter may live in root's home (pyenv), which
    other users cannot read. Debian's python3 (python3-venv) is such a one."""
    seen: list[str] = []
    for candidate in _python_candidates():
        if not candidate.is_file():
            continue
        real = candidate.resolve()
        if str(real) in seen:
            continue
        seen.append(str(real))
        if not _reachable_by_all(real):
            continue
        check = "import sys, venv, ensurepip; assert sys.version_info >= (3, 11); print(sys.prefix)"
        probed = subprocess.run([str(real), "-c", check], capture_output=True, text=True)
        if probed.returncode == 0 and _reachable_by_all(Path(probed.stdout.strip())):
            return real
    tried = ", ".join(seen) or "none on PATH"
    pytest.fail(
        f"no python3 (3.11+, with venv) that other users can run (tried: {tried}); "
        "install Debian's: sudo scripts/setup-host",
        pytrace=False,
    )


def venv_with_repro(venv: Path, requirement: str) -> Path:
    """A new venv (on :func:`shared_python`, so every user can run it) holding ``requirement``
    (this checkout's repro, with extras); returns its ``repro`` command."""
    made = subprocess.run([str(shared_python()), "-m", "venv", str(venv)], capture_output=True, text=True)
    if made.returncode != 0:
        pytest.fail(f"cannot make a venv in {venv}: {made.stderr.strip()}", pytrace=False)
    installed = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", requirement],
        capture_output=True,
        text=True,
    )
    if installed.returncode != 0:
        pytest.fail(f"cannot install {requirement} into {venv}: {installed.stderr.strip()[-800:]}")
    return venv / "bin" / "repro"


def make_user(name: str, repro: Path, groups: tuple[str, ...] = ()) -> User:
    """An unprivileged user (made if missing) in ``groups``, running ``repro``."""
    if os.geteuid() != 0:
        pytest.fail("creating test users needs root; run the suite as root (as CI does)")
    import grp
    import pwd

    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        subprocess.run(["useradd", "--create-home", name], check=True)
        entry = pwd.getpwnam(name)
    for group in groups:
        if name not in grp.getgrnam(group).gr_mem:
            subprocess.run(["usermod", "--append", "--groups", group, name], check=True)
    user = User(name, entry.pw_uid, entry.pw_gid, repro)
    user.runtime_dir.mkdir(mode=0o700, exist_ok=True)
    os.chown(user.runtime_dir, user.uid, user.gid)
    return user


def load_into_podman(user: User, client: docker.DockerClient, image_id: str) -> None:
    """Copy an image from the Docker engine into ``user``'s rootless Podman storage (same ID)."""
    if shutil.which("podman") is None:
        pytest.fail("rootless tests need podman: sudo scripts/setup-host (podman, uidmap, slirp4netns)")
    tarball = user.runtime_dir / "image.tar"  # root's temp folders are closed to the user
    with tarball.open("wb") as out:
        for chunk in client.images.get(image_id).save():
            out.write(chunk)
    user.own(tarball)
    loaded = user.run(["podman", "load", "--quiet", "--input", str(tarball)], cwd=user.runtime_dir)
    tarball.unlink()
    assert loaded.returncode == 0, loaded.stderr


@pytest.fixture(scope="session")
def nonroot_user(docker_client: docker.DockerClient, test_venvs: Path) -> User:
    """An unprivileged user in the docker group, with this checkout's repro installed in a venv
    it can read (see :func:`shared_python`)."""
    return make_user(NONROOT_USER, venv_with_repro(test_venvs / "venv", str(CHECKOUT)), ("docker",))


@pytest.fixture
def nonroot_project(nonroot_user: User, busybox: Image, docker_client: docker.DockerClient) -> Iterator[Project]:
    """A git project owned by the non-root user (outside root's private temp folders)."""
    import tempfile

    root = Path(tempfile.mkdtemp(prefix="repro-nonroot-", dir="/tmp"))
    make_repo(root)
    proj = Project(root=root, image=busybox)
    proj.write("README", "experiment\n")
    proj.commit("initial")
    nonroot_user.own(root)
    yield proj
    leftovers = repro_containers(docker_client, proj.store)
    for container in leftovers:
        container.remove(force=True)
    shutil.rmtree(root, ignore_errors=True)
    assert not leftovers


def podman_containers(user: User, store: Path) -> list[str]:
    """The ids of the running containers of runs in ``store``, in ``user``'s rootless Podman."""
    listed = user.run(
        ["podman", "ps", "--quiet", "--no-trunc", "--filter", f"label={labels.STORE}={store}"], cwd=user.runtime_dir
    )
    assert listed.returncode == 0, listed.stderr
    return listed.stdout.split()


def open_podman_gate(user: User, container_id: str) -> bool:
    """Let the gated point in this container of ``user``'s Podman go on (see :func:`gated`);
    False if it no longer runs."""
    return user.run(["podman", "exec", container_id, "touch", GATE], cwd=user.runtime_dir).returncode == 0


def podman_gates_opened(user: User, store: Path) -> contextlib.AbstractContextManager[None]:
    """:func:`gates_opened` for ``user``'s Podman containers of runs in ``store``."""
    return gates_opened(lambda: podman_containers(user, store), lambda c: open_podman_gate(user, c))


# -- a registry on loopback (Debian's docker-registry) ----------------------------------------


@dataclass
class Registry:
    """A private registry on 127.0.0.1, which the engine trusts over plain HTTP."""

    host: str
    process: subprocess.Popen[bytes]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_registry(folder: Path) -> Registry:
    server = shutil.which("docker-registry")
    if server is None:
        pytest.fail("Debian's docker-registry is needed; install it: sudo scripts/setup-host")
    port = free_port()
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "config.yml"
    config.write_text(
        "version: 0.1\n"
        f"storage: {{filesystem: {{rootdirectory: {folder / 'data'}}}, delete: {{enabled: true}}}}\n"
        f"http: {{addr: 127.0.0.1:{port}}}\n"
        "log: {level: error}\n"
    )
    log = (folder / "registry.log").open("wb")
    process = subprocess.Popen([server, "serve", str(config)], stdout=log, stderr=log)
    log.close()
    registry = Registry(f"127.0.0.1:{port}", process)

    def answers() -> bool:
        import urllib.request

        try:
            with urllib.request.urlopen(f"http://{registry.host}/v2/", timeout=1) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    wait_for(answers, timeout=30)
    return registry


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    server = start_registry(tmp_path_factory.mktemp("registry"))
    yield server
    server.stop()


@pytest.fixture
def private_registry(tmp_path: Path) -> Iterator[Registry]:
    """A registry of this test's own, which it may stop."""
    server = start_registry(tmp_path / "registry")
    yield server
    server.stop()


def build_variant(client: docker.DockerClient, busybox: Image, tag: str, content: str) -> str:
    """An image on top of the busybox one whose /content.txt holds ``content``; returns its ID.

    Written, not built: the same content always gives the same ID, on every machine, whether
    or not the engine has built it before (a build cache would hand back an older image)."""
    base = busybox_image(BUSYBOX)
    assert base.id == busybox.id, "variants are made on the session's busybox image"
    return load_image(client, base.with_files({"content.txt": content.encode()}), tag)


def push(client: docker.DockerClient, reference: str) -> str:
    """Push ``repo:tag`` and return the registry (manifest) digest."""
    repository, tag = reference.rsplit(":", 1)
    for event in client.api.push(repository, tag=tag, stream=True, decode=True):
        if "error" in event:
            raise AssertionError(f"push of {reference} failed: {event['error']}")
    digests = client.images.get(reference).attrs["RepoDigests"]
    (digest,) = [d.split("@", 1)[1] for d in digests if d.startswith(repository + "@")]
    return str(digest)


def remove_image(client: docker.DockerClient, image_id: str) -> None:
    client.images.remove(image_id, force=True)
    assert _gone(client, image_id)


def _gone(client: docker.DockerClient, image_id: str) -> bool:
    try:
        client.images.get(image_id)
    except docker.errors.ImageNotFound:
        return True
    return False


# -- the community's RO-Crate tools, in a venv of their own -----------------------------------

ROCRATE_VENV = CHECKOUT / ".venv-rocrate"
ROCRATE_TOOLS = ["roc-validator==0.13.0", "runcrate==0.6.2"]
ROCRATE_CONTEXTS = SHARED / "rocrate-contexts"
"""JSON-LD contexts served to the tools where there is no internet (CI here); elsewhere they fetch them."""


@dataclass(frozen=True)
class CrateTools:
    """``rocrate-validator`` (roc-validator) and ``runcrate``, installed from PyPI: their pins
    conflict with repro's, so they get a venv of their own, as cffconvert does in scripts/test."""

    python: Path

    def run(self, tool: str, *args: str) -> subprocess.CompletedProcess[str]:
        contexts = str(ROCRATE_CONTEXTS) if ROCRATE_CONTEXTS.is_dir() else "-"
        launcher = Path(__file__).with_name("rocrate_tools.py")
        return subprocess.run(
            [str(self.python), str(launcher), contexts, tool, *args], capture_output=True, text=True, timeout=900
        )

    def validate(self, crate: Path, profile: str, skip: Iterable[str] = ()) -> dict[str, Any]:
        """The validator's JSON report on ``crate`` for ``profile`` at the RECOMMENDED level."""
        import json

        report = crate.parent / f"{crate.name}-{profile}-{uuid.uuid4().hex[:6]}.json"
        args = ["validate", "-p", profile, "-l", "recommended", "--skip-availability-check", "--no-cache"]
        if skip:
            args += ["-s", ",".join(sorted(skip))]
        ran = self.run("rocrate-validator", *args, "-f", "json", "-o", str(report), str(crate))
        if not report.is_file():
            raise AssertionError(f"the validator wrote no report: {ran.stdout[-2000:]}{ran.stderr[-2000:]}")
        result: dict[str, Any] = json.loads(report.read_text())
        report.unlink()
        return result


@pytest.fixture(scope="session")
def crate_tools() -> CrateTools:
    python = ROCRATE_VENV / "bin" / "python"
    if not python.exists():
        made = subprocess.run([str(shared_python()), "-m", "venv", str(ROCRATE_VENV)], capture_output=True, text=True)
        if made.returncode != 0:
            pytest.fail(f"cannot make a venv in {ROCRATE_VENV}: {made.stderr.strip()}", pytrace=False)
    installed = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *ROCRATE_TOOLS],
        capture_output=True,
        text=True,
    )
    if installed.returncode != 0:
        pytest.fail(f"cannot install {ROCRATE_TOOLS} into {ROCRATE_VENV}: {installed.stderr.strip()[-800:]}")
    return CrateTools(python)


# -- archived images, and tools that read OCI image layouts without repro ----------------------


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def hex_of(image_id: str) -> str:
    return image_id.removeprefix("sha256:")


def archived_run(project: Project, docker_client: docker.DockerClient, busybox: Image) -> tuple[str, str]:
    """A run whose image (a fresh busybox variant) is archived, then removed from the engine:
    (run id, image id)."""
    tag = f"repro-test/{unique('oci')}:1"
    image_id = build_variant(docker_client, busybox, tag, f"{tag}\n")
    project.manifest(image={"name": tag, "id": image_id}, command=["cp", "/content.txt", "/out/content.txt"])
    project.commit()
    ran = project.repro("run", "exp.yaml", "--archive")
    assert ran.code == 0, ran.err
    (row,) = Store(project.store).runs()
    remove_image(docker_client, image_id)
    return row.id, image_id


def need_tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"Debian's {name} is needed; install it: sudo scripts/setup-host")
    return found


@dataclass(frozen=True)
class Podman:
    """Root podman with a storage of its own (vfs, in a temp folder): nothing it loads touches
    the machine's podman images, and it is gone with the folder."""

    root: Path

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        command = [
            need_tool("podman"),
            "--root",
            str(self.root / "storage"),
            "--runroot",
            str(self.root / "run"),
            "--storage-driver",
            "vfs",
            *args,
        ]
        return subprocess.run(command, capture_output=True, text=True, timeout=600)

    def image_ids(self) -> set[str]:
        listed = self.run("images", "--no-trunc", "--format", "{{.ID}}")
        assert listed.returncode == 0, listed.stderr
        return {line if line.startswith("sha256:") else f"sha256:{line}" for line in listed.stdout.split()}


@pytest.fixture
def private_podman() -> Iterator[Podman]:
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="repro-podman-", dir="/var/tmp"))
    yield Podman(folder)
    subprocess.run(["rm", "-rf", str(folder)], check=False)


# -- sshd on loopback, for push and pull ---------------------------------------------------------


@dataclass(frozen=True)
class Sshd:
    port: int
    rsh: str
    """The remote shell rsync is to use (``$RSYNC_RSH``): ssh with the test's key."""

    def url(self, path: Path) -> str:
        return f"ssh://root@127.0.0.1:{self.port}{path}"


@pytest.fixture(scope="session")
def sshd() -> Iterator[Sshd]:
    """Debian's openssh-server on 127.0.0.1, with host and client keys of its own."""
    import tempfile

    daemon = shutil.which("sshd") or "/usr/sbin/sshd"
    if not Path(daemon).exists() or shutil.which("rsync") is None:
        pytest.fail("push/pull tests need openssh-server and rsync: scripts/setup-host (as root)")
    folder = Path(tempfile.mkdtemp(prefix="repro-sshd-"))
    for name in ("host_key", "client_key"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(folder / name)], check=True)
    (folder / "authorized_keys").write_text((folder / "client_key.pub").read_text())
    port = free_port()
    (folder / "sshd_config").write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {folder / 'host_key'}\nPidFile {folder / 'sshd.pid'}\n"
        f"AuthorizedKeysFile {folder / 'authorized_keys'}\nPermitRootLogin prohibit-password\n"
        "PasswordAuthentication no\nUsePAM no\nStrictModes no\n"
    )
    Path("/run/sshd").mkdir(exist_ok=True)  # the privilege separation folder sshd insists on
    process = subprocess.Popen([daemon, "-D", "-f", str(folder / "sshd_config")])
    rsh = (
        f"ssh -F /dev/null -i {folder / 'client_key'} -o BatchMode=yes -o StrictHostKeyChecking=no "
        f"-o UserKnownHostsFile={folder / 'known_hosts'} -o LogLevel=ERROR"
    )

    def answers() -> bool:
        probe = subprocess.run([*rsh.split(), "-p", str(port), "root@127.0.0.1", "true"], capture_output=True)
        return probe.returncode == 0

    try:
        wait_for(answers, timeout=30, interval=0.2)
        yield Sshd(port=port, rsh=rsh)
    finally:
        process.terminate()
        process.wait(timeout=10)
        shutil.rmtree(folder, ignore_errors=True)
