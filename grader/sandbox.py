"""A sandbox for one submission's grading run: bubblewrap (Debian's ``bubblewrap``), rlimits, a throw-away uid.

What the command inside sees and may do (a grader run as root, as in CI; run by another user, bubblewrap makes a
user namespace instead, the sandbox keeps that user's uid and its process limit counts the user's own processes
too -- that path is not exercised by the tests here):

- a file system built from an allow-list, read-only: the system (``/usr``, ``/etc``, ``/sys``), the Python
  installation and virtual environment, the course's data, and what the caller lends (``readonly=``); every
  other path -- the repository, ``exercises/solutions``, other submissions, the grader's files, home folders --
  does not exist there. ``overlays=`` puts a folder in place of another (the grader shows a reduced copy of the
  ``book`` package, without the answer key);
- never the test splits' labels (:data:`HELD_OUT_FILES`): the checkers score trained models on them, so they
  are the answer key of those questions. Wherever the course's data sits among the folders shown (the Debian
  data set, the repository's ``data/``, ``COURSE_DATA_DIR``, the download cache), ``/dev/null`` is bound over
  each such file: a device node, which cannot be opened there (the sandbox's mounts allow no devices);
  :mod:`book.data` reads a device in place of a labels file as held out (:func:`book.data.held_out`), so the
  notebooks' own set-up still loads the rest;
- writable: a private ``/tmp`` and ``/dev/shm`` (size-limited tmpfs, gone with the sandbox) and the folders in
  ``writable=`` (the run's scratch folder, which the grader reads afterwards as untrusted data);
- its own PID, network (loopback only), IPC and UTS namespaces: it cannot see or signal any process outside,
  and it has no network;
- a uid of its own, drawn at random for each run and owning nothing on the host (processes and files of two
  runs never share a uid), no capabilities, ``no_new_privs`` (set-uid programs do not elevate);
- rlimits: address space, processes + threads of that uid, CPU seconds, file size, open files, no core dumps;
  and the grader stops a run whose writable folders grow past ``Limits.disk_bytes`` (checked twice a second).

When the command ends or is killed, every process it started dies with it: the sandbox's PID 1 is
bubblewrap, and when it goes the kernel kills the whole PID namespace (``--die-with-parent`` ties it to the
grader). Nothing is left in ``/tmp``.

The grader (:mod:`grader`) refuses class grading where :func:`mechanism` finds nothing usable, unless it is
told ``--no-sandbox`` (and then says so in every grade).
"""

from __future__ import annotations

import functools
import os
import secrets
import shutil
import signal
import site
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

INSTALL_HINT = ("install Debian's bubblewrap (scripts/setup_system.sh sandbox, or apt-get install bubblewrap), "
                "or grade with --no-sandbox only for notebooks you trust")
UID_RANGE = (1_000_000_000, 1_100_000_000)  # far above real users and the usual subuid ranges
# Another range of sandbox uids, "LOW-HIGH" within [UID_RANGE[0], 2**32 - 2]: graders that run side by side and
# must tell their sandboxes' processes and files apart (the test suite's hostile batch) each take their own.
UID_RANGE_ENV = "COURSE_SANDBOX_UIDS"
MAX_UID = 2**32 - 2  # (uid_t)-1 is "no uid"


def uid_range() -> tuple[int, int]:
    """The range sandbox uids are drawn from: ``COURSE_SANDBOX_UIDS`` when set, else :data:`UID_RANGE`."""
    text = os.environ.get(UID_RANGE_ENV, "").strip()
    if not text:
        return UID_RANGE
    try:
        low, high = (int(part) for part in text.split("-"))
    except ValueError:
        low = high = -1
    if not UID_RANGE[0] <= low < high <= MAX_UID or high - low < 1000:
        raise ValueError(f"{UID_RANGE_ENV}={text!r}: expected LOW-HIGH with {UID_RANGE[0]} <= LOW, LOW + 1000 <= "
                         f"HIGH <= {MAX_UID} (far above real users), e.g. 1100000000-1200000000; or unset it")
    return low, high


def _draw_uid() -> int:
    low, high = uid_range()
    return secrets.randbelow(high - low) + low
SYSTEM_DIRS = ("/usr", "/etc", "/sys")
_RUNNING: set = set()  # the runs in progress, so that an interrupted grader can stop them all
_RUNNING_LOCK = threading.Lock()
ROOT_LINKS = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
# the files of the course's data sets that no sandbox shows: the test splits' labels (MNIST and Fashion-MNIST
# name them alike: book.data.FILES["test_labels"]; a test checks they agree, this module does not import torch),
# gzipped or not, in every layout book.data reads (and torchvision's raw/ folders)
HELD_OUT_FILES = ("t10k-labels-idx1-ubyte", "t10k-labels-idx1-ubyte.gz")
DATA_DIRS = ("/usr/share/datasets",)  # where Debian's data sets sit (inside /usr, shown with the system)
HELD_OUT_DEPTH = 5  # how deep below a data folder they are looked for (<folder>/FashionMNIST/raw/...)


@dataclass(frozen=True)
class Limits:
    """Resource limits of one sandboxed run (per process for memory and CPU, per sandbox for processes)."""

    memory_bytes: int = 6 << 30       # address space of each process (torch maps ~1.5 GiB before any work)
    processes: int = 512              # processes and threads of the sandbox's uid
    cpu_seconds: int = 900            # CPU time of each process
    file_bytes: int = 256 << 20       # largest file it may write
    open_files: int = 1024
    tmp_bytes: int = 512 << 20        # /tmp and /dev/shm, each
    disk_bytes: int = 1 << 30         # everything in the writable folders together (checked twice a second)


@functools.lru_cache(maxsize=1)
def _probe() -> tuple[str | None, str]:
    """(mechanism, why not) found on this machine, tried once: bubblewrap must really build a sandbox here."""
    bwrap = shutil.which("bwrap")
    if not bwrap:
        return None, "bubblewrap (bwrap) is not installed"
    if os.geteuid() == 0:
        for tool in ("setpriv", "prlimit"):
            if not shutil.which(tool):
                return None, f"{tool} (util-linux) is missing"
    try:
        trial = Sandbox(limits=Limits(cpu_seconds=30)).command(["true"])
        done = subprocess.run(trial, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError) as exc:
        return None, f"bubblewrap could not start: {exc}"
    if done.returncode != 0:
        return None, f"bubblewrap cannot build a sandbox here: {done.stderr.strip()[-300:] or done.returncode}"
    return "bubblewrap", ""


def mechanism() -> str | None:
    """"bubblewrap" when sandboxes work on this machine, else None (see :func:`unavailable_reason`)."""
    return _probe()[0]


def unavailable_reason() -> str:
    return f"{_probe()[1]}: {INSTALL_HINT}"


def _python_dirs() -> list[Path]:
    """The folders a Python process of this environment reads: installation, virtual environment, site."""
    dirs = {Path(sys.prefix), Path(sys.base_prefix), Path(sys.exec_prefix), Path(sys.base_exec_prefix),
            Path(sys.executable).parent, Path(os.path.realpath(sys.executable)).parent.parent}
    dirs.update(Path(p) for p in site.getsitepackages())
    return sorted(d for d in dirs if d.is_dir())


def held_out_files(folders) -> list[Path]:
    """The files of :data:`HELD_OUT_FILES` under ``folders`` (at most :data:`HELD_OUT_DEPTH` levels down), as
    the paths a process sees them at (links followed to their targets too)."""
    found: set[Path] = set()
    for folder in folders:
        folder = Path(folder)
        if not folder.is_dir():
            continue
        base = len(folder.parts)
        for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
            if len(Path(dirpath).parts) - base >= HELD_OUT_DEPTH:
                dirnames.clear()
            for name in filenames:
                if name in HELD_OUT_FILES:
                    path = Path(dirpath) / name
                    found.add(path)
                    if path.is_symlink():
                        found.add(path.resolve())
    return sorted(found)


def _outermost(paths) -> list[Path]:
    """Only the paths not inside another one of them (binding a parent shows its children)."""
    out: list[Path] = []
    for p in sorted(set(paths), key=lambda p: len(p.parts)):
        if not any(p == q or q in p.parents for q in out):
            out.append(p)
    return out


@dataclass
class Sandbox:
    """One sandboxed run: what to show read-only, what is writable, what replaces what, the limits."""

    readonly: list[Path] = field(default_factory=list)
    writable: list[Path] = field(default_factory=list)
    overlays: dict[Path, Path] = field(default_factory=dict)  # path inside -> folder shown there (read-only)
    limits: Limits = field(default_factory=Limits)
    uid: int = field(default_factory=_draw_uid)

    @property
    def privileged(self) -> bool:
        """Run by root: bubblewrap builds the sandbox without a user namespace, then drops to ``uid``."""
        return os.geteuid() == 0

    def prepare(self) -> None:
        """Give the sandbox's uid the writable folders (root only; otherwise they are already the user's)."""
        if self.privileged:
            for folder in self.writable:
                os.chown(folder, self.uid, self.uid)
                folder.chmod(0o700)

    def _mount_args(self) -> list[str]:
        args: list[str] = ["--proc", "/proc", "--dev", "/dev"]
        for tmp in ("/tmp", "/dev/shm"):  # first: later binds may go inside them (a scratch folder in /tmp)
            args += ["--perms", "1777", "--size", str(self.limits.tmp_bytes), "--tmpfs", tmp]
        made: set[Path] = {Path("/tmp"), Path("/dev"), Path("/dev/shm"), Path("/proc")}

        def parents(path: Path):  # mount points need their folders, readable by the sandbox's uid
            for parent in reversed(path.parents):
                if parent != Path("/") and parent not in made:
                    made.add(parent)
                    args.extend(["--perms", "0755", "--dir", str(parent)])

        for link in ROOT_LINKS:
            if os.path.islink(link):
                args += ["--symlink", os.readlink(link), link]
            elif os.path.isdir(link):
                args += ["--ro-bind", link, link]
        shown = _outermost([Path(d) for d in SYSTEM_DIRS if os.path.isdir(d)] + _python_dirs()
                           + [Path(p) for p in self.readonly if Path(p).exists()])
        for path in shown:
            parents(path)
            args += ["--ro-bind", str(path), str(path)]
            made.add(path)
        for inside, folder in self.overlays.items():
            parents(Path(inside))
            args += ["--ro-bind", str(folder), str(inside)]
        for folder in self.writable:
            parents(Path(folder))
            args += ["--bind", str(folder), str(folder)]
        data = [Path(p) for p in self.readonly] + [Path(d) for d in DATA_DIRS]
        for path in held_out_files(data):  # last: over the binds that show them
            if any(path == s or s in path.parents for s in shown):
                args += ["--ro-bind", "/dev/null", str(path)]
        return args + ["--remount-ro", "/"]

    def command(self, argv: list[str], cwd: Path | str = "/tmp") -> list[str]:
        """The command line that runs ``argv`` in this sandbox (environment: pass ``env=`` to Popen)."""
        limits = self.limits
        prlimit = ["prlimit", f"--as={limits.memory_bytes}", f"--nproc={limits.processes}",
                   f"--cpu={limits.cpu_seconds}", f"--fsize={limits.file_bytes}", f"--nofile={limits.open_files}",
                   "--core=0", "--"]
        bwrap = ["bwrap", "--die-with-parent", "--new-session", "--unshare-pid", "--unshare-net", "--unshare-ipc",
                 "--unshare-uts", "--unshare-cgroup-try", "--hostname", "sandbox"]
        if self.privileged:
            inner = ["setpriv", f"--reuid={self.uid}", f"--regid={self.uid}", "--clear-groups", "--no-new-privs",
                     "--"]
            # rlimits after bubblewrap (root, which ignores them) so that they bind the sandbox's uid
            return bwrap + self._mount_args() + ["--chdir", str(cwd)] + prlimit + inner + list(argv)
        # unprivileged: a user namespace; processes count towards the user's own limit, so leave room for theirs
        bwrap += ["--unshare-user", "--disable-userns"]
        return prlimit[:2] + [f"--nproc={limits.processes + _own_processes()}"] + prlimit[3:] + bwrap \
            + self._mount_args() + ["--chdir", str(cwd)] + list(argv)

    def run(self, argv: list[str], *, cwd: Path, env: dict[str, str], timeout: float, output,
            started=None) -> int | None:
        """Run ``argv`` in the sandbox, its output to the open file ``output``; the exit status, or None when it
        ran past ``timeout`` seconds (then the whole sandbox is killed). ``started()``, if given, is called
        once the sandbox is starting (work to overlap with it); if it raises, the sandbox is killed."""
        self.prepare()
        return _supervise(self.command(argv, cwd), cwd=None, env=env, timeout=timeout, output=output,
                          watch=list(self.writable), quota=self.limits.disk_bytes, started=started)


def disk_usage(folders, limit: int) -> int:
    """Bytes under ``folders`` (allocated or apparent, whichever is larger), counting no further than ``limit``;
    a folder holding more than 100,000 entries counts as over any limit."""
    total, entries, todo = 0, 0, [str(f) for f in folders]
    while todo and total <= limit:
        try:
            with os.scandir(todo.pop()) as it:
                for entry in it:
                    entries += 1
                    if entries > 100_000:
                        return limit + 1
                    try:
                        info = entry.stat(follow_symlinks=False)
                    except OSError:
                        continue
                    total += max(info.st_size, getattr(info, "st_blocks", 0) * 512)
                    if entry.is_dir(follow_symlinks=False):
                        todo.append(entry.path)
        except OSError:
            continue
    return total


OVER_QUOTA = -1000  # what a run stopped for writing too much returns instead of an exit status


def _supervise(command: list[str], *, cwd, env, timeout: float, output, watch=(), quota: int = 0,
               started=None) -> int | None:
    """Run ``command`` to its end (its exit status) or ``timeout`` (None); with ``watch``, kill it as soon as
    those folders hold more than ``quota`` bytes (OVER_QUOTA)."""
    import time

    proc = subprocess.Popen(command, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=output,
                            stderr=subprocess.STDOUT, start_new_session=True)
    with _RUNNING_LOCK:
        _RUNNING.add(proc)
    deadline = time.monotonic() + timeout
    try:
        if started is not None:
            started()
        while True:
            try:
                return proc.wait(timeout=min(0.5, max(0.0, deadline - time.monotonic())) if watch else timeout)
            except subprocess.TimeoutExpired:
                if not watch or time.monotonic() >= deadline:
                    return None
                if disk_usage(watch, quota) > quota:
                    return OVER_QUOTA
    finally:
        _kill_group(proc)
        with _RUNNING_LOCK:
            _RUNNING.discard(proc)


def stop_all() -> None:
    """Kill every run in progress (the grader was interrupted)."""
    with _RUNNING_LOCK:
        running = list(_RUNNING)
    for proc in running:
        _kill_group(proc)


def _kill_group(proc: subprocess.Popen) -> None:
    """Kill the run's process group -- bubblewrap, and with it the sandbox's PID namespace -- and reap it.
    Unsandboxed, this also ends what the run started in its session (not what escaped it with setsid)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()


def _own_processes() -> int:
    uid = os.getuid()
    count = 0
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                if entry.stat().st_uid == uid:
                    count += len(os.listdir(f"/proc/{entry.name}/task"))
            except OSError:
                continue
    return count


def run_unsandboxed(argv: list[str], *, cwd: Path, env: dict[str, str], timeout: float, output,
                    started=None) -> int | None:
    """The same call without a sandbox (``--no-sandbox``, or a learner grading their own notebook)."""
    return _supervise(argv, cwd=cwd, env=env, timeout=timeout, output=output, started=started)


def remove_tree(path: Path) -> None:
    """Remove a scratch folder whatever the sandbox did to it (read-only folders, odd names, deep nesting)."""
    def retry(func, name, _exc):
        try:
            os.chmod(os.path.dirname(name), 0o700)
            if os.path.isdir(name) and not os.path.islink(name):
                os.chmod(name, 0o700)
            func(name)
        except OSError:
            pass

    if path.exists():
        shutil.rmtree(path, onerror=retry)
        if path.exists():  # a second pass after the permissions were opened up
            shutil.rmtree(path, ignore_errors=True)


def readable_tree(folder: Path) -> None:
    """Let any uid -- the sandbox's, drawn at random -- read the files under ``folder`` and walk its folders
    (folders 0755, files 0644: read, never write)."""
    for sub in [folder, *[p for p in folder.rglob("*") if p.is_dir()]]:
        sub.chmod(0o755)
        for f in sub.iterdir():
            if f.is_file():
                f.chmod(0o644)
