"""``files``: list, read, write and edit files inside the run's workspace, and nowhere else.

Every path is resolved to its real location (``..``, absolute paths and symlinks in any
component followed) and must stay under the workspace's real path; a symlink that leads out,
whether it is the file itself or a parent directory, is refused. Writes go to the resolved
path, so a link cannot redirect them after the check.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path
from typing import Any

from thinkact.messages import ToolSpec
from thinkact.tools.base import ToolContext, ToolError
from thinkact.untrusted import mark_untrusted

_DESCRIPTION = """\
Work with files in the run's workspace (the only place this tool can reach).
Actions:
- list: entries of a directory (default "."), dirs end with "/", files show their size. \
Set recursive=true to walk subdirectories.
- read: a text file with line numbers ("  12| text"); use start_line/end_line (1-based, \
inclusive) for a range of a long file.
- write: create or overwrite a file with content (parent folders are created).
- edit: replace old_string with new_string; old_string must occur exactly once (include \
surrounding lines to make it unique) unless replace_all=true.
Paths are relative to the workspace; paths leading outside it are refused."""

_PARAMETERS: dict[str, Any] = {
    "type": "object",
    "properties": {
        "action": {"type": "string", "enum": ["list", "read", "write", "edit"]},
        "path": {"type": "string", "description": "Path relative to the workspace."},
        "content": {"type": "string", "description": "write: the full new file content."},
        "start_line": {"type": "integer", "minimum": 1, "description": "read: first line."},
        "end_line": {"type": "integer", "minimum": 1, "description": "read: last line."},
        "old_string": {"type": "string", "description": "edit: exact text to replace."},
        "new_string": {"type": "string", "description": "edit: replacement text."},
        "replace_all": {"type": "boolean", "description": "edit: replace every occurrence."},
        "recursive": {"type": "boolean", "description": "list: include subdirectories."},
    },
    "required": ["action"],
    "additionalProperties": False,
}


class FilesTool:
    """The ``files`` tool, confined to ``workspace`` (default: the run's ``ctx.workspace``)."""

    def __init__(
        self, *, workspace: Path | str | None = None, max_read_bytes: int = 2_000_000,
        max_write_bytes: int = 10_000_000, max_list_entries: int = 500, name: str = "files",
    ) -> None:
        self.workspace = Path(workspace) if workspace is not None else None
        self.max_read_bytes = max_read_bytes
        self.max_write_bytes = max_write_bytes
        self.max_list_entries = max_list_entries
        self._spec = ToolSpec(name=name, description=_DESCRIPTION, parameters=_PARAMETERS)

    @property
    def spec(self) -> ToolSpec:
        return self._spec

    async def call(self, arguments: dict[str, Any], ctx: ToolContext) -> str:
        root = self.root(ctx)
        action = arguments.get("action")
        if action == "list":
            return self._list(root, arguments.get("path") or ".",
                              bool(arguments.get("recursive", False)))
        path_arg = arguments.get("path")
        if not isinstance(path_arg, str) or not path_arg.strip():
            raise ToolError(f"files {action}: 'path' is required")
        if action == "read":
            return self._read(root, path_arg, arguments.get("start_line"),
                              arguments.get("end_line"))
        if action == "write":
            content = arguments.get("content")
            if not isinstance(content, str):
                raise ToolError("files write: 'content' (string) is required")
            return self._write(root, path_arg, content)
        if action == "edit":
            old, new = arguments.get("old_string"), arguments.get("new_string")
            if not isinstance(old, str) or not isinstance(new, str):
                raise ToolError("files edit: 'old_string' and 'new_string' are required")
            return self._edit(root, path_arg, old, new, bool(arguments.get("replace_all")))
        raise ToolError(f"unknown action {action!r}; use list, read, write or edit")

    async def aclose(self) -> None:
        return None

    def root(self, ctx: ToolContext) -> Path:
        base = self.workspace or ctx.workspace
        base.mkdir(parents=True, exist_ok=True)
        return Path(os.path.realpath(base))

    def resolve(self, root: Path, path: str) -> Path:
        """The real path of ``path`` (relative to ``root``); refused if it leaves ``root``."""
        if "\x00" in path:
            raise ToolError("path contains a NUL byte")
        candidate = Path(path).expanduser()
        if not candidate.is_absolute():
            candidate = root / candidate
        real = Path(os.path.realpath(candidate))
        if real != root and root not in real.parents:
            raise ToolError(
                f"access denied: {path!r} resolves to {real}, which is outside the workspace "
                f"({root}); use a path inside the workspace"
            )
        return real

    def _display(self, root: Path, real: Path) -> str:
        return "." if real == root else real.relative_to(root).as_posix()

    def _list(self, root: Path, path: str, recursive: bool) -> str:
        folder = self.resolve(root, path)
        if not folder.exists():
            raise ToolError(f"no such directory: {path}")
        if not folder.is_dir():
            raise ToolError(f"{path} is a file, not a directory; use action=read")
        lines: list[str] = []
        walker = sorted(folder.rglob("*")) if recursive else sorted(folder.iterdir())
        for entry in walker:
            if len(lines) >= self.max_list_entries:
                lines.append(f"[... more entries not shown (limit {self.max_list_entries})]")
                break
            rel = entry.relative_to(folder).as_posix()
            if entry.is_symlink():
                target = os.path.realpath(entry)
                inside = Path(target) == root or root in Path(target).parents
                lines.append(f"{rel} -> {'(link)' if inside else '(link outside workspace)'}")
            elif entry.is_dir():
                lines.append(rel + "/")
            else:
                lines.append(f"{rel}  ({entry.stat().st_size} bytes)")
        head = f"{self._display(root, folder)}/ ({len(lines)} entries)"
        return head + ("\n" + "\n".join(lines) if lines else "\n(empty)")

    def _read(self, root: Path, path: str, start: Any, end: Any) -> str:
        real = self.resolve(root, path)
        if not real.exists():
            raise ToolError(f"no such file: {path}")
        if real.is_dir():
            raise ToolError(f"{path} is a directory; use action=list")
        with os.fdopen(_open_beneath(root, real, os.O_RDONLY), "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            if size > self.max_read_bytes and start is None and end is None:
                raise ToolError(f"{path} is {size} bytes; read a range with start_line/end_line")
            data = fh.read()
        if b"\x00" in data[:8192]:
            raise ToolError(f"{path} looks binary ({size} bytes); read it with python instead")
        lines = data.decode("utf-8", errors="replace").splitlines()
        first = int(start) if start is not None else 1
        last = int(end) if end is not None else len(lines)
        if lines and first > len(lines):
            raise ToolError(f"{path} has only {len(lines)} lines")
        if first < 1 or last < first:
            raise ToolError(f"bad line range {first}-{last}: start_line must be <= end_line")
        chosen = lines[first - 1:last]
        width = len(str(first + len(chosen) - 1))
        body = "\n".join(f"{n:>{width}}| {text}" for n, text in enumerate(chosen, first))
        shown = f"lines {first}-{first + len(chosen) - 1} of {len(lines)}" if chosen else "empty"
        return mark_untrusted(f"{self._display(root, real)} ({shown})\n{body}".rstrip("\n"),
                              self.spec.name)

    def _write(self, root: Path, path: str, content: str) -> str:
        real = self.resolve(root, path)
        if real == root or real.is_dir():
            raise ToolError(f"{path} is a directory")
        data = content.encode("utf-8")
        if len(data) > self.max_write_bytes:
            raise ToolError(f"content is {len(data)} bytes; the limit is {self.max_write_bytes}")
        existed = real.exists()
        _write_beneath(root, real, data)
        verb = "overwrote" if existed else "created"
        return f"{verb} {self._display(root, real)} ({len(data)} bytes)"

    def _edit(self, root: Path, path: str, old: str, new: str, replace_all: bool) -> str:
        real = self.resolve(root, path)
        if not real.is_file():
            raise ToolError(f"no such file: {path}")
        if not old:
            raise ToolError("old_string is empty; give the exact text to replace")
        if old == new:
            raise ToolError("old_string and new_string are identical; nothing to change")
        with os.fdopen(_open_beneath(root, real, os.O_RDONLY), "rb") as fh:
            text = fh.read().decode("utf-8")
        count = text.count(old)
        if count == 0:
            raise ToolError(f"old_string was not found in {path}; read the file and copy the "
                            "text exactly (whitespace and indentation included)")
        if count > 1 and not replace_all:
            raise ToolError(f"old_string occurs {count} times in {path}; add surrounding "
                            "lines to make it unique, or set replace_all=true")
        updated = text.replace(old, new) if replace_all else text.replace(old, new, 1)
        _write_beneath(root, real, updated.encode("utf-8"))
        return f"edited {self._display(root, real)}: replaced {count if replace_all else 1} " \
               f"occurrence{'s' if replace_all and count > 1 else ''}"


def _open_beneath(root: Path, real: Path, flags: int, make_dirs: bool = False) -> int:
    """An fd for ``real`` (already resolved inside ``root``), opened one component at a time
    relative to its parent's fd and never through a link: jailed code may swap a folder for a
    link to the host meanwhile, and the open must not follow it there. As root, what it
    creates is given to the workspace's owner, so the jail can still change it."""
    parts = real.relative_to(root).parts
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    owner = os.fstat(fd)
    give = os.geteuid() == 0 and owner.st_uid != 0
    try:
        for part in parts[:-1]:
            made = False
            if make_dirs:
                with contextlib.suppress(FileExistsError):
                    os.mkdir(part, 0o755, dir_fd=fd)
                    made = True
            inner = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
            os.close(fd)
            fd = inner
            if made and give:
                os.fchown(fd, owner.st_uid, owner.st_gid)
        try:
            out = os.open(parts[-1], flags | os.O_NOFOLLOW, 0o644, dir_fd=fd)
        except OSError as exc:
            raise ToolError(f"cannot open {real.name}: {exc.strerror}") from exc
        if stat.S_ISDIR(os.fstat(out).st_mode):
            os.close(out)
            raise ToolError(f"{real.name} is a directory")
        if give and flags & os.O_CREAT:
            os.fchown(out, owner.st_uid, owner.st_gid)
        return out
    except NotADirectoryError as exc:
        raise ToolError(f"cannot open {real.name}: a folder on its way changed") from exc
    except OSError as exc:  # a folder on its way is a link now, or gone
        raise ToolError(f"cannot open {real.name}: {exc.strerror}") from exc
    finally:
        os.close(fd)


def _write_beneath(root: Path, real: Path, data: bytes) -> None:
    fd = _open_beneath(root, real, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, make_dirs=True)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
