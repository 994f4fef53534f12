"""Shared set-up for the end-to-end tests: a real Docker engine, an image built offline, a
non-root user, a registry on loopback.

Tests that need the engine fail (they are not skipped) when none answers: `scripts/setup-host`
starts one. The busybox image is built here from Debian's static busybox, FROM scratch.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import textwrap
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import pytest

from repro.runner import labels
from repro.store import Store
from tests.conftest import CHECKOUT, SHARED, Image, Project, make_repo, wait_for

BUSYBOX = Path("/bin/busybox")


@pytest.fixture(scope="session")
def docker_client() -> Iterator[docker.DockerClient]:
    try:
        client = docker.from_env()
        client.ping()
    except Exception as exc:
        pytest.fail(f"these tests need a Docker engine ({exc}); start one: sudo scripts/setup-host")
    yield client
    client.close()


@pytest.fixture(scope="session")
def busybox(docker_client: docker.DockerClient, tmp_path_factory: pytest.TempPathFactory) -> Image:
    """A 2 MB image: Debian's static busybox in an otherwise empty image."""
    if not BUSYBOX.is_file():
        pytest.fail("Debian's busybox-static is needed (/bin/busybox); install it: sudo scripts/setup-host")
    context = tmp_path_factory.mktemp("busybox")
    shutil.copy(BUSYBOX, context / "busybox")
    (context / "Dockerfile").write_text(
        textwrap.dedent(
            """\
            FROM scratch
            COPY busybox /bin/busybox
            RUN ["/bin/busybox", "--install", "-s", "/bin"]
            CMD ["/bin/sh"]
            """
        )
    )
    image, _ = docker_client.images.build(path=str(context), tag="repro-test/busybox:1", rm=True)
    return Image(name="repro-test/busybox:1", id=str(image.id))


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
    """Containers (running or not) that a run in ``store`` created."""
    return client.containers.list(all=True, filters={"label": f"{labels.STORE}={store}"})


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
TEST_VENVS = Path("/opt/repro-tests") / hashlib.sha256(str(CHECKOUT).encode()).hexdigest()[:12]
"""Venvs other users (and SLURM jobs) can run, one set per checkout: two checkouts tested at
once on one machine must not install their repro over each other's."""
NONROOT_VENV = TEST_VENVS / "venv"


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


def venv_with_repro(venv: Path, requirement: str) -> Path:
    """A venv (Debian's python3: readable by every user) holding this checkout's repro, with
    ``requirement``'s dependencies; returns its ``repro`` command."""
    python = venv / "bin" / "python"
    if not python.exists():
        made = subprocess.run(["/usr/bin/python3", "-m", "venv", str(venv)], capture_output=True, text=True)
        if made.returncode != 0:
            pytest.fail(f"cannot make a venv with Debian's python3 ({made.stderr.strip()}); run scripts/setup-host")
    # Dependencies once; then this checkout's repro itself, every session.
    for args in ([requirement], ["--no-deps", "--force-reinstall", str(CHECKOUT)]):
        installed = subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *args],
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
def nonroot_user(docker_client: docker.DockerClient) -> User:
    """An unprivileged user in the docker group, with repro installed in a venv it can read.

    The machine's default Python lives in root's home, which other users cannot read, so the
    venv is built on Debian's python3 and holds this checkout's repro.
    """
    return make_user(NONROOT_USER, venv_with_repro(NONROOT_VENV, str(CHECKOUT)), ("docker",))


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
    """An image on top of the busybox one whose /content.txt holds ``content``; returns its ID."""
    import tempfile

    with tempfile.TemporaryDirectory() as context:
        (Path(context) / "content.txt").write_text(content)
        (Path(context) / "Dockerfile").write_text(f"FROM {busybox.id}\nCOPY content.txt /content.txt\n")
        image, _ = client.images.build(path=context, tag=tag, rm=True)
    return str(image.id)


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
        made = subprocess.run(["/usr/bin/python3", "-m", "venv", str(ROCRATE_VENV)], capture_output=True, text=True)
        if made.returncode != 0:
            pytest.fail(f"cannot make a venv with Debian's python3 ({made.stderr.strip()}); run scripts/setup-host")
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
