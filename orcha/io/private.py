"""Private files and folders on this machine: created safely, owned by the user, never written through a link.

Everything orcha keeps for itself (the API token, the agents' MCP secrets, checkouts, pane logs, artifacts)
lives under the user's own data, state and runtime directories (``platformdirs``), or under a path the user
chose. A folder is created ``0700``; a secret file is created ``0600`` with ``O_CREAT|O_EXCL|O_NOFOLLOW``, so a
file or a symlink planted by another local user is refused, never written through.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from pathlib import Path

from orcha.errors import OrchaError
from orcha.paths import data_dir, runtime_dir, state_dir

__all__ = [
    "PrivateFileExistsError",
    "PrivatePathError",
    "check_private",
    "create_private_file",
    "data_dir",
    "ensure_private_dir",
    "publish_private_file",
    "read_private_file",
    "remove_private_file",
    "runtime_dir",
    "state_dir",
]


class PrivatePathError(OrchaError):
    """A private file or folder is missing, not ours, open to others, or a link."""

    code = "private_path"


class PrivateFileExistsError(PrivatePathError):
    """A private file that orcha was about to create is already there (perhaps planted by someone else)."""


def ensure_private_dir(path: str | os.PathLike[str]) -> Path:
    """Create ``path`` (and missing parents) mode 0700, or check an existing one; return it.

    An existing folder must be a real directory (not a link), owned by the user and writable by no one else
    (one that others can only read is made 0700); anything else raises :class:`PrivatePathError` rather
    than using a folder someone else controls. Missing parents are created 0700 too; parents that already
    exist are left as they are (they may be shared, like ``/home``).
    """
    folder = Path(os.path.abspath(path))
    missing = [folder, *(p for p in folder.parents if not os.path.lexists(p))]
    try:
        for step in reversed(missing):
            with contextlib.suppress(FileExistsError):
                os.mkdir(step, 0o700)
    except OSError as exc:
        raise PrivatePathError(f"cannot create the private folder {folder}: {exc.strerror or exc}") from None
    except ValueError as exc:  # an embedded NUL
        raise PrivatePathError(f"cannot create the private folder {str(folder)!r}: {exc}") from None
    _tighten(folder)
    check_private(folder, directory=True)
    return folder


def _tighten(folder: Path) -> None:
    """A folder of ours that others may read but not write (an older orcha made it 0755) becomes 0700."""
    with contextlib.suppress(OSError):
        info = os.lstat(folder)
        own = stat.S_ISDIR(info.st_mode) and info.st_uid == os.getuid()
        if own and info.st_mode & 0o077 and not info.st_mode & 0o022:
            os.chmod(folder, 0o700, follow_symlinks=False)


def check_private(path: str | os.PathLike[str], *, directory: bool) -> None:
    """Raise :class:`PrivatePathError` unless ``path`` is the user's own file/folder, closed to others."""
    try:
        info = os.lstat(path)
    except OSError as exc:
        raise PrivatePathError(f"{path}: {exc.strerror or exc}") from None
    kind = "folder" if directory else "file"
    if stat.S_ISLNK(info.st_mode):
        raise PrivatePathError(f"{path} is a symbolic link; orcha's private {kind}s are never links")
    if directory != stat.S_ISDIR(info.st_mode) or (not directory and not stat.S_ISREG(info.st_mode)):
        raise PrivatePathError(f"{path} is not a {'directory' if directory else 'regular file'}")
    if info.st_uid != os.getuid():
        raise PrivatePathError(f"{path} belongs to uid {info.st_uid}, not to you (uid {os.getuid()})")
    if info.st_mode & 0o077:
        raise PrivatePathError(
            f"{path} is open to other users (mode {stat.S_IMODE(info.st_mode):o}); make it private: "
            f"chmod {'700' if directory else '600'} {path}"
        )


def create_private_file(path: str | os.PathLike[str], data: bytes) -> Path:
    """Create ``path`` mode 0600 and write ``data``; its folder is made private first.

    The file must not exist: ``O_CREAT|O_EXCL|O_NOFOLLOW`` refuses a pre-created file or a planted symlink
    (raises :class:`PrivatePathError`).
    """
    target = Path(os.path.abspath(path))
    ensure_private_dir(target.parent)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(target, flags, 0o600)
    except FileExistsError:
        raise PrivateFileExistsError(
            f"{target} already exists; orcha never writes a secret through a file or a link it did not create"
        ) from None
    except (OSError, ValueError) as exc:
        raise PrivatePathError(f"cannot create {target}: {getattr(exc, 'strerror', None) or exc}") from None
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)
    return target


def read_private_file(path: str | os.PathLike[str]) -> bytes:
    """The content of a private file; raises :class:`PrivatePathError` if it is a link, not ours or open to
    others, and ``FileNotFoundError`` if it does not exist."""
    flags = os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise PrivatePathError(f"cannot read {path}: {exc.strerror or exc} (is it a link?)") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
            check_private(path, directory=False)  # says exactly what is wrong
            raise PrivatePathError(f"{path} is not a private regular file")
        chunks = []
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def publish_private_file(path: str | os.PathLike[str], data: bytes) -> bool:
    """Create the private file ``path`` atomically: readers see it complete or not at all.

    Returns ``False`` (and writes nothing) when ``path`` already exists: the first writer wins, so two
    processes racing to create the same secret agree on one.
    """
    target = Path(os.path.abspath(path))
    scratch = create_private_file(target.with_name(f".{target.name}.{secrets.token_hex(8)}"), data)
    try:
        os.link(scratch, target)
    except FileExistsError:
        return False
    except OSError as exc:
        raise PrivatePathError(f"cannot create {target}: {exc.strerror or exc}") from None
    finally:
        os.unlink(scratch)
    return True


def remove_private_file(path: str | os.PathLike[str]) -> None:
    """Remove a private file if it is there (never follows a link: a link is removed, not its target)."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
