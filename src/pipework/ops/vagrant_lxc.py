"""``pipework vagrant-lxc install|uninstall|status [--path FILE]``: vagrant-lxc runs this pipework.

vagrant-lxc ships its own copy of the original shell script (``scripts/pipework`` in
its gem directory) and runs it, through sudo, for every private network; that copy
fails on LXC >= 3.1 ("Found more than one container matching"). Installing puts in
its place a two-line ``/bin/sh`` script that execs this pipework with the same
arguments, and keeps the original:

- a file of a Debian package (``dpkg-query -S``) is diverted (``dpkg-divert
  --package pipework``) to ``FILE.distrib``, so an upgrade or a reinstall of the
  package writes its version there and leaves ours in place;
- any other file (a ``vagrant plugin install``, a gem) is kept as ``FILE.orig``.

The original is never rewritten: it is the same inode, hard-linked to its new name
before ours is renamed over the old one (so there is no moment without a script at
FILE), and renamed back by ``uninstall``; byte for byte, with its mode and owner.
Everything is checked before the first change (the command answers ``--version``
as pipework), and a failing step undoes the ones before it. Changes are made under
an ``flock`` of the file's directory and through its fd, never by path again: the
directory of a ``vagrant plugin install`` belongs to a user, who could otherwise
move it between two steps and have root change files elsewhere.
"""

from __future__ import annotations

import os
import sys

from .._lowlevel.programs import capture, which
from ..errors import CommandError, HostStateError, UsageError

#: the second line of the script ``install`` writes; how ours is told from any other
MARK = "# pipework vagrant-lxc wrapper"
BACKUP_SUFFIX = ".orig"
DIVERT_SUFFIX = ".distrib"
PACKAGE = "pipework"
USAGE = """\
usage: pipework vagrant-lxc install [--path FILE]    vagrant-lxc's script runs this pipework
       pipework vagrant-lxc uninstall [--path FILE]  put vagrant-lxc's own script back
       pipework vagrant-lxc status [--path FILE]     which is in place (exit 0: ours, 3: not)
FILE is found through dpkg (package vagrant-lxc), ~/.vagrant.d/gems and the gem paths
unless given. A file of a Debian package is diverted (dpkg-divert) to FILE.distrib, so
upgrades keep ours; any other is kept as FILE.orig.
"""

#: where gems live: ``GEMDIR/gems/vagrant-lxc-VERSION/scripts/pipework``
GEM_DIRS = (
    "/usr/share/rubygems-integration/*",
    "/var/lib/gems/*",
    "/usr/lib/ruby/gems/*",
    "/usr/local/lib/ruby/gems/*",
    "/opt/vagrant/embedded/gems",
    "/opt/vagrant/embedded/gems/*",
)
IN_GEM_DIR = "gems/vagrant-lxc-*/scripts/pipework"


def run_vagrant_lxc_verb(args: list[str]) -> int:
    if not args or args[0] in ("-h", "--help", "help"):
        (sys.stdout if args else sys.stderr).write(USAGE)
        return 0 if args else 2
    verb, rest = args[0], args[1:]
    if verb not in ("install", "uninstall", "status"):
        raise UsageError(f"unknown vagrant-lxc verb {verb!r}: install, uninstall or status")
    path = _parse_path(verb, rest)
    path = path if path is not None else locate()
    from .._lowlevel.terminal import printable

    if verb == "status":
        line, installed = Target.examine(path, None).status()
        sys.stdout.write(printable(line) + "\n")
        return 0 if installed else 3
    # a second install or uninstall waits for this one; every change is made through
    # this directory's fd: a user who owns a directory above it (a vagrant plugin in a
    # home directory) cannot send a later step elsewhere by renaming directories
    with _locked(os.path.dirname(path)) as dir_fd:
        target = Target.examine(path, dir_fd)
        done = target.install() if verb == "install" else target.uninstall()
        sys.stdout.write(printable(done) + "\n")
        command = target.ours()
    loose = writable_by_others(command[0]) if verb == "install" and command else None
    if loose:
        sys.stderr.write(
            f"pipework: warning: {printable(loose)} may be changed by others than root, and "
            "vagrant-lxc runs it as root: install pipework where only root can write\n"
        )
    return 0


class _locked:
    """An exclusive ``flock`` on a directory, held for a with-block."""

    def __init__(self, directory: str) -> None:
        self.directory = directory
        self.fd = -1

    def __enter__(self) -> int:
        import fcntl

        try:
            self.fd = os.open(self.directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError as exc:
            raise HostStateError(f"cannot open {self.directory}: {exc.strerror}") from None
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self.fd

    def __exit__(self, *exc: object) -> None:
        os.close(self.fd)


def _parse_path(verb: str, rest: list[str]) -> str | None:
    if not rest:
        return None
    if rest[0].startswith("--path="):
        rest = ["--path", rest[0][len("--path=") :], *rest[1:]]
    if rest[0] != "--path" or len(rest) != 2 or not rest[1]:
        raise UsageError(f"pipework vagrant-lxc {verb} takes only --path FILE, got {rest!r}")
    path = os.path.abspath(rest[1])
    if os.path.isdir(path):
        raise UsageError(f"--path {rest[1]!r} is a directory: give vagrant-lxc's scripts/pipework")
    if not os.path.isdir(os.path.dirname(path)):
        raise UsageError(f"--path {rest[1]!r}: no directory {os.path.dirname(path)}")
    return path


# --- finding vagrant-lxc's script ------------------------------------------------


def locate() -> str:
    """vagrant-lxc's ``scripts/pipework``: the one copy found, or an error naming them all."""
    found = candidates()
    if len(found) == 1:
        return found[0]
    if not found:
        raise HostStateError(
            "cannot find vagrant-lxc's scripts/pipework (no package vagrant-lxc, nothing in "
            "~/.vagrant.d/gems/*/gems or the gem paths)",
            hint="give it with --path FILE",
        )
    raise HostStateError(
        f"several copies of vagrant-lxc's scripts/pipework: {', '.join(found)}",
        hint="choose one with --path FILE",
    )


def candidates() -> list[str]:
    """Every ``scripts/pipework`` of a vagrant-lxc this host has, each file once."""
    found = _from_dpkg() + _from_gem_dirs(_vagrant_gem_dirs() + _gem_env_dirs())
    if not found and which("gem"):
        found = _from_gem_dirs(_gem_command_dirs())
    unique: dict[str, str] = {}
    for path in found:
        unique.setdefault(os.path.realpath(path), path)
    return sorted(unique.values())


def _from_dpkg() -> list[str]:
    if not which("dpkg-query"):
        return []
    code, out, _ = capture(["dpkg-query", "-L", "vagrant-lxc"], what="dpkg-query")
    return (
        [line for line in out.splitlines() if line.endswith("/scripts/pipework")]
        if not code
        else []
    )


def _vagrant_gem_dirs() -> list[str]:
    """The plugin gem directories of every user's vagrant (``vagrant plugin install``):
    run as root, the user who runs vagrant is another one."""
    import pwd

    homes = {os.path.join(entry.pw_dir, ".vagrant.d") for entry in pwd.getpwall()}
    homes.add(os.path.expanduser("~/.vagrant.d"))
    if os.environ.get("VAGRANT_HOME"):
        homes.add(os.environ["VAGRANT_HOME"])
    return [os.path.join(home, "gems", "*") for home in sorted(homes)]


def _gem_env_dirs() -> list[str]:
    return [
        directory
        for name in ("GEM_HOME", "GEM_PATH")
        for directory in os.environ.get(name, "").split(os.pathsep)
        if directory
    ] + list(GEM_DIRS)


def _gem_command_dirs() -> list[str]:
    """Ruby's own gem path: starting ruby costs a tenth of a second, so only when the
    usual places had nothing."""
    code, out, _ = capture(["gem", "env", "gempath"], what="gem env", timeout=30)
    return out.strip().split(os.pathsep) if not code and out.strip() else []


def _from_gem_dirs(patterns: list[str]) -> list[str]:
    import glob

    return [
        path
        for pattern in patterns
        for path in glob.glob(os.path.join(glob.escape(pattern).replace("[*]", "*"), IN_GEM_DIR))
        if os.path.isfile(path) or os.path.islink(path)
    ]


# --- what runs in its place --------------------------------------------------------


def this_pipework() -> list[str]:
    """The command that runs this pipework, as stable as the installation allows.

    The installed command (or the .pyz) is the path the user ran, which pip keeps
    across upgrades of the package and of Python; the interpreter and the package's
    directory, by contrast, change with both. ``python -m pipework`` leaves only the
    interpreter, run isolated so that no working directory of vagrant's is searched.
    """
    path = os.path.abspath(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    if path and os.path.basename(path) != "__main__.py" and os.path.isfile(path):
        if os.access(path, os.X_OK):
            return [path]
        import zipfile

        if zipfile.is_zipfile(path):  # a .pyz run as ``python3 pipework.pyz``
            return [sys.executable, "-I", "-S", path]
    return [sys.executable, "-I", "-m", "pipework"]


def writable_by_others(path: str) -> str | None:
    """The first of ``path`` and the directories above it that a user other than root
    may change (owns it, or may write it: a sticky directory's entries excepted)."""
    import stat

    current = os.path.abspath(path)
    for _ in range(256):  # bounded: a path has at most PATH_MAX/2 components
        try:
            info = os.stat(current)
        except OSError:
            return None
        sticky = stat.S_ISDIR(info.st_mode) and info.st_mode & stat.S_ISVTX
        if info.st_uid != 0 or (info.st_mode & 0o022 and not sticky):
            return current
        parent = os.path.dirname(current)
        if parent == current:
            return None
        current = parent
    return None


def _check_runs_pipework(command: list[str], path: str) -> None:
    """Nothing is changed for a command that does not answer ``--version`` as pipework,
    or that is the very file it would replace."""
    if os.path.exists(command[0]) and os.path.samefile(command[0], path):
        raise HostStateError(f"{path} is the pipework being run: it cannot run itself")
    try:
        code, out, err = capture([*command, "--version"], what="pipework", timeout=60)
    except CommandError:
        code, out, err = 127, "", f"cannot run {command[0]}"
    if code or not out.startswith("pipework "):
        raise HostStateError(
            f"the command to put in {path} does not run pipework ({' '.join(command)}): "
            f"{' '.join(err.split()) or out.strip() or f'exit {code}'}",
            hint="run `pipework vagrant-lxc install` from the installed command or the .pyz",
        )


def wrapper_text(command: list[str]) -> str:
    import shlex

    return (
        f"#!/bin/sh\n{MARK}: `pipework vagrant-lxc uninstall` puts vagrant-lxc's own back\n"
        f'exec {" ".join(shlex.quote(word) for word in command)} "$@"\n'
    )


def _wrapper_command(text: str) -> list[str] | None:
    """The command our wrapper runs, or None when ``text`` is not our wrapper."""
    import shlex

    lines = text.splitlines()
    if len(lines) != 3 or not lines[1].startswith(MARK) or not lines[2].startswith("exec "):
        return None
    try:
        words = shlex.split(lines[2])
    except ValueError:
        return None
    return words[1:-1] if words[-1:] == ["$@"] else None


# --- the file and its states ---------------------------------------------------------


class Target:
    """vagrant-lxc's script at ``path``: who owns it, where its original is kept."""

    def __init__(
        self,
        path: str,
        dir_fd: int | None,
        package: str | None,
        diverted_by: str | None,
        divert_to: str | None,
    ) -> None:
        self.path = path
        self.name = os.path.basename(path)
        self.dir_fd = dir_fd  # the file's directory, opened once: every change goes through it
        self.package = package  # the Debian package the file belongs to
        self.diverted_by = diverted_by  # the package (or LOCAL) diverting it, if any
        self.divert_to = divert_to

    @classmethod
    def examine(cls, path: str, dir_fd: int | None) -> Target:
        package = diverted_by = divert_to = None
        if which("dpkg-query"):
            code, out, _ = capture(["dpkg-query", "-S", path], what="dpkg-query -S")
            for line in out.splitlines() if not code else []:
                owner, _, owned = line.partition(": ")
                if owned == path and not owner.startswith("diversion by "):
                    package = owner.split(",")[0].split(":")[0]
        if which("dpkg-divert"):
            code, out, _ = capture(["dpkg-divert", "--listpackage", path], what="dpkg-divert")
            diverted_by = (out.strip() or None) if not code else None
            if diverted_by:
                code, out, _ = capture(["dpkg-divert", "--truename", path], what="dpkg-divert")
                divert_to = out.strip() if not code and out.strip() != path else None
        return cls(path, dir_fd, package, diverted_by, divert_to)

    @property
    def kept_at(self) -> str:
        """Where the original is kept while ours is installed."""
        if self.diverted_by == PACKAGE and self.divert_to:
            return self.divert_to
        return self.path + (DIVERT_SUFFIX if self.package else BACKUP_SUFFIX)

    @property
    def kept_name(self) -> str:
        """``kept_at``'s name in the file's directory (the only directory changed)."""
        if os.path.dirname(self.kept_at) != os.path.dirname(self.path):
            raise HostStateError(
                f"{self.path} is diverted to another directory ({self.kept_at})",
                hint=f"dpkg-divert --list {PACKAGE} shows it; remove that diversion first",
            )
        return os.path.basename(self.kept_at)

    def _at(self, name: str) -> str:
        """``name`` in the file's directory: relative to its fd when there is one."""
        return name if self.dir_fd is not None else os.path.join(os.path.dirname(self.path), name)

    def _exists(self, name: str) -> bool:
        try:
            os.stat(self._at(name), dir_fd=self.dir_fd, follow_symlinks=False)
        except FileNotFoundError:
            return False
        return True

    def ours(self) -> list[str] | None:
        """The command our wrapper at ``path`` runs; None when the file is not ours."""
        flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
        try:
            fd = os.open(self._at(self.name), flags, dir_fd=self.dir_fd)
        except OSError:
            return None
        try:
            with os.fdopen(fd, "rb") as f:
                head = f.read(4097)
            return _wrapper_command(head.decode()) if len(head) <= 4096 else None
        except (OSError, UnicodeDecodeError):  # a directory, a device, not text
            return None

    def status(self) -> tuple[str, bool]:
        command = self.ours()
        if self.diverted_by and self.diverted_by != PACKAGE:
            return (
                f"diverted by {self.diverted_by}: {self.path} is diverted to {self.divert_to} "
                "by another package; pipework leaves it alone",
                False,
            )
        if command is not None:
            runs = " ".join(command)
            if not os.access(command[0], os.X_OK):
                runs += " (which is missing: run `pipework vagrant-lxc install` again)"
            kept = self.kept_at
            if not os.path.lexists(kept):
                where = f"the original is missing ({kept} does not exist)"
            elif self.diverted_by == PACKAGE:
                where = f"the original is kept as {kept} (dpkg-divert by {PACKAGE})"
            else:
                where = f"the original is kept as {kept}"
            return f"installed: {self.path} runs {runs}; {where}", True
        if self.diverted_by == PACKAGE:
            return (
                f"not installed: {self.path} is diverted by {PACKAGE} but is not its wrapper; "
                "`pipework vagrant-lxc uninstall` cannot tell what it is, look at it",
                False,
            )
        if not os.path.lexists(self.path):
            how = (
                f"apt-get install --reinstall {self.package}"
                if self.package
                else "reinstall the vagrant-lxc plugin"
            )
            return f"original missing: {self.path} does not exist; {how} puts it back", False
        owner = f" (package {self.package})" if self.package else ""
        return f"not installed: {self.path} is vagrant-lxc's own script{owner}", False

    # --- install -----------------------------------------------------------------

    def install(self) -> str:
        command = this_pipework()
        current = self.ours()
        if self.diverted_by and self.diverted_by != PACKAGE:
            raise HostStateError(
                f"{self.path} is diverted by {self.diverted_by} (to {self.divert_to})",
                hint="pipework does not divert a file another package diverts",
            )
        if current == command:
            return f"already installed: {self.path} runs {' '.join(command)}; nothing changed"
        if current is None:
            if self.diverted_by == PACKAGE:
                raise HostStateError(
                    f"{self.path} is diverted by {PACKAGE} but is not its wrapper",
                    hint=f"look at it; `dpkg-divert --package {PACKAGE} --rename --remove "
                    f"{self.path}` gives back {self.kept_at}",
                )
            if not self._exists(self.name):
                raise HostStateError(
                    f"{self.path} does not exist: nothing to replace",
                    hint="reinstall vagrant-lxc, or give its scripts/pipework with --path",
                )
            if self._exists(self.kept_name):
                raise HostStateError(
                    f"{self.kept_at} exists already; pipework keeps the original there",
                    hint="move it away first",
                )
        _check_runs_pipework(command, self.path)
        temporary = self._write_temporary(wrapper_text(command))
        try:
            if current is None:
                self._keep_original()
            try:
                os.rename(temporary, self.name, src_dir_fd=self.dir_fd, dst_dir_fd=self.dir_fd)
            except OSError as exc:
                if current is None:
                    self._forget_original()
                raise HostStateError(f"cannot write {self.path}: {exc.strerror}") from None
        finally:
            if self._exists(temporary):
                os.unlink(temporary, dir_fd=self.dir_fd)
        if current is not None:
            return (
                f"installed: {self.path} now runs {' '.join(command)} (it ran {' '.join(current)})"
            )
        how = (
            f"diverted by dpkg-divert to {self.kept_at}"
            if self.package
            else f"kept as {self.kept_at}"
        )
        return f"installed: {self.path} runs {' '.join(command)}; the original is {how}"

    def _write_temporary(self, text: str) -> str:
        """Our wrapper, written beside the file with the original's owner and mode; its name."""
        import secrets

        temporary = f".pipework-vagrant-lxc.{secrets.token_hex(4)}"
        try:
            info = os.stat(self.name, dir_fd=self.dir_fd)
            mode, owner = info.st_mode & 0o7777, (info.st_uid, info.st_gid)
        except OSError:
            mode, owner = 0o755, None
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        try:
            fd = os.open(temporary, flags, 0o700, dir_fd=self.dir_fd)
            with os.fdopen(fd, "w") as script:
                script.write(text)
                script.flush()
                if owner is not None:
                    os.fchown(fd, *owner)
                os.fchmod(fd, mode | 0o100)
        except OSError as exc:
            if self._exists(temporary):
                os.unlink(temporary, dir_fd=self.dir_fd)
            directory = os.path.dirname(self.path)
            raise HostStateError(f"cannot write into {directory}: {exc.strerror}") from None
        return temporary

    def _keep_original(self) -> None:
        if self.package:
            self._divert("--add")
        try:
            os.link(
                self.name,
                self.kept_name,
                src_dir_fd=self.dir_fd,
                dst_dir_fd=self.dir_fd,
                follow_symlinks=False,
            )
        except OSError as exc:
            if self.package:
                self._divert("--remove")
            raise HostStateError(
                f"cannot keep the original as {self.kept_at}: {exc.strerror}"
            ) from None

    def _forget_original(self) -> None:
        """Undo ``_keep_original`` (the file itself was never changed)."""
        os.unlink(self.kept_name, dir_fd=self.dir_fd)
        if self.package:
            self._divert("--remove")

    def _divert(self, action: str) -> None:
        # the files are moved here, so that FILE is never missing; --no-rename said
        # explicitly, as dpkg means to make --rename the default
        argv = ["dpkg-divert", "--package", PACKAGE, "--no-rename"]
        if action == "--add":
            argv += ["--divert", self.kept_at]
        argv += [action, self.path]
        code, out, err = capture(argv, what="dpkg-divert")
        if code:
            raise CommandError(
                f"dpkg-divert {action} {self.path} failed: {' '.join((err or out).split())}",
                returncode=code,
            )

    # --- uninstall ---------------------------------------------------------------

    def uninstall(self) -> str:
        current = self.ours()
        kept, kept_name = self.kept_at, self.kept_name
        ours_diverted = self.diverted_by == PACKAGE
        if current is None:
            if ours_diverted:
                raise HostStateError(
                    f"{self.path} is diverted by {PACKAGE} but is not its wrapper; not touching it",
                    hint=f"look at it and at {kept}",
                )
            return f"not installed: {self.path} is not pipework's; nothing changed"
        if not self._exists(kept_name):
            if not ours_diverted:
                raise HostStateError(
                    f"{self.path} is pipework's but the original is not kept at {kept}",
                    hint="reinstall vagrant-lxc to get its script back",
                )
            # the package was removed (its files with it) while diverted
            os.unlink(self.name, dir_fd=self.dir_fd)
            self._divert("--remove")
            return (
                f"uninstalled: removed {self.path} and the diversion; the original was gone "
                f"already ({kept}): apt-get install --reinstall {self.package or 'vagrant-lxc'}"
            )
        if ours_diverted:
            self._divert("--remove")
        try:
            os.rename(kept_name, self.name, src_dir_fd=self.dir_fd, dst_dir_fd=self.dir_fd)
        except OSError as exc:
            if ours_diverted:
                self._divert("--add")
            raise HostStateError(f"cannot put {kept} back at {self.path}: {exc.strerror}") from None
        return f"uninstalled: {self.path} is vagrant-lxc's own script again"
