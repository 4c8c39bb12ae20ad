"""The files tool on a real directory tree, including escape attempts through symlinks."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from thinkact.tools.base import ToolContext, ToolError
from thinkact.tools.builtin.files import FilesTool
from thinkact.untrusted import is_marked


@pytest.fixture
def tree(tmp_path: Path) -> tuple[Path, Path]:
    ws = tmp_path / "ws"
    outside = tmp_path / "outside"
    ws.mkdir()
    outside.mkdir()
    (outside / "secret.txt").write_text("TOP SECRET\n")
    (ws / "notes.txt").write_text("".join(f"line {i}\n" for i in range(1, 21)))
    (ws / "sub").mkdir()
    (ws / "sub" / "a.py").write_text("x = 1\n")
    return ws, outside


@pytest.fixture
def files() -> FilesTool:
    return FilesTool()


def ctx_for(ws: Path) -> ToolContext:
    return ToolContext(run_id="r", workspace=ws)


async def call(tool: FilesTool, ws: Path, **args: object) -> str:
    return await tool.call(dict(args), ctx_for(ws))


async def test_read_with_line_numbers_and_range(files: FilesTool, tree: tuple[Path, Path]) -> None:
    ws, _ = tree
    out = await call(files, ws, action="read", path="notes.txt", start_line=3, end_line=5)
    assert is_marked(out)
    body = [ln for ln in out.splitlines() if "| line" in ln]
    assert body == ["3| line 3", "4| line 4", "5| line 5"]
    assert "lines 3-5 of 20" in out
    whole = await call(files, ws, action="read", path="notes.txt")
    assert "20| line 20" in whole and "lines 1-20 of 20" in whole
    with pytest.raises(ToolError, match="only 20 lines"):
        await call(files, ws, action="read", path="notes.txt", start_line=50)


async def test_write_creates_parents_and_list_shows_it(
    files: FilesTool, tree: tuple[Path, Path]
) -> None:
    ws, _ = tree
    out = await call(files, ws, action="write", path="new/deep/f.txt", content="hi\n")
    assert "created new/deep/f.txt" in out
    assert (ws / "new" / "deep" / "f.txt").read_text() == "hi\n"
    out = await call(files, ws, action="write", path="new/deep/f.txt", content="bye\n")
    assert "overwrote" in out and (ws / "new/deep/f.txt").read_text() == "bye\n"
    listing = await call(files, ws, action="list", recursive=True)
    assert "new/deep/f.txt  (4 bytes)" in listing and "sub/" in listing
    flat = await call(files, ws, action="list")
    assert "notes.txt" in flat and "sub/a.py" not in flat


async def test_edit_exact_once_rule(files: FilesTool, tree: tuple[Path, Path]) -> None:
    ws, _ = tree
    (ws / "e.txt").write_text("alpha\nbeta\nalpha\n")
    with pytest.raises(ToolError, match="occurs 2 times"):
        await call(files, ws, action="edit", path="e.txt", old_string="alpha", new_string="A")
    assert (ws / "e.txt").read_text() == "alpha\nbeta\nalpha\n"  # untouched on refusal
    with pytest.raises(ToolError, match="not found"):
        await call(files, ws, action="edit", path="e.txt", old_string="gamma", new_string="G")
    await call(files, ws, action="edit", path="e.txt", old_string="alpha\nbeta",
               new_string="ALPHA\nbeta")
    assert (ws / "e.txt").read_text() == "ALPHA\nbeta\nalpha\n"
    out = await call(files, ws, action="edit", path="e.txt", old_string="a", new_string="@",
                     replace_all=True)
    assert "replaced 3 occurrences" in out
    assert (ws / "e.txt").read_text() == "ALPHA\nbet@\n@lph@\n"


@pytest.mark.parametrize("path", ["../outside/secret.txt", "../../etc/passwd",
                                  "sub/../../outside/secret.txt", "/etc/passwd"])
async def test_refuses_paths_outside(files: FilesTool, tree: tuple[Path, Path], path: str) -> None:
    ws, _ = tree
    with pytest.raises(ToolError, match="outside the workspace"):
        await call(files, ws, action="read", path=path)
    with pytest.raises(ToolError, match="outside the workspace"):
        await call(files, ws, action="write", path=path, content="pwned")


async def test_refuses_absolute_path_to_sibling(files: FilesTool, tree: tuple[Path, Path]) -> None:
    ws, outside = tree
    with pytest.raises(ToolError, match="outside the workspace"):
        await call(files, ws, action="read", path=str(outside / "secret.txt"))
    # An absolute path that is inside the workspace is fine.
    out = await call(files, ws, action="read", path=str(ws / "sub" / "a.py"))
    assert "1| x = 1" in out


async def test_refuses_file_symlink_escape(files: FilesTool, tree: tuple[Path, Path]) -> None:
    ws, outside = tree
    os.symlink(outside / "secret.txt", ws / "link.txt")
    with pytest.raises(ToolError, match="outside the workspace"):
        await call(files, ws, action="read", path="link.txt")
    with pytest.raises(ToolError, match="outside the workspace"):
        await call(files, ws, action="write", path="link.txt", content="pwned")
    with pytest.raises(ToolError, match="outside the workspace"):
        await call(files, ws, action="edit", path="link.txt", old_string="TOP", new_string="x")
    assert (outside / "secret.txt").read_text() == "TOP SECRET\n"
    # A dangling link to a new file outside must not create it either.
    os.symlink(outside / "created.txt", ws / "dangling")
    with pytest.raises(ToolError, match="outside the workspace"):
        await call(files, ws, action="write", path="dangling", content="pwned")
    assert not (outside / "created.txt").exists()


async def test_refuses_directory_symlink_escape(files: FilesTool, tree: tuple[Path, Path]) -> None:
    ws, outside = tree
    os.symlink(outside, ws / "door")
    with pytest.raises(ToolError, match="outside the workspace"):
        await call(files, ws, action="read", path="door/secret.txt")
    with pytest.raises(ToolError, match="outside the workspace"):
        await call(files, ws, action="write", path="door/new.txt", content="pwned")
    with pytest.raises(ToolError, match="outside the workspace"):
        await call(files, ws, action="list", path="door")
    assert sorted(p.name for p in outside.iterdir()) == ["secret.txt"]
    listing = await call(files, ws, action="list")
    assert "door -> (link outside workspace)" in listing


async def test_symlink_inside_workspace_is_allowed(
    files: FilesTool, tree: tuple[Path, Path]
) -> None:
    ws, _ = tree
    os.symlink(ws / "sub", ws / "alias")
    assert "x = 1" in await call(files, ws, action="read", path="alias/a.py")


async def test_workspace_itself_behind_symlink(tmp_path: Path) -> None:
    real = tmp_path / "real_ws"
    real.mkdir()
    (real / "f.txt").write_text("ok\n")
    os.symlink(real, tmp_path / "ws_link")
    tool = FilesTool(workspace=tmp_path / "ws_link")
    out = await tool.call({"action": "read", "path": "f.txt"}, ToolContext())
    assert "1| ok" in out


async def test_clear_errors(files: FilesTool, tree: tuple[Path, Path]) -> None:
    ws, _ = tree
    with pytest.raises(ToolError, match="no such file"):
        await call(files, ws, action="read", path="missing.txt")
    with pytest.raises(ToolError, match="is a directory"):
        await call(files, ws, action="read", path="sub")
    with pytest.raises(ToolError, match="'path' is required"):
        await call(files, ws, action="read")
    with pytest.raises(ToolError, match="unknown action"):
        await call(files, ws, action="delete", path="notes.txt")
    (ws / "bin.dat").write_bytes(b"\x00\x01\x02")
    with pytest.raises(ToolError, match="binary"):
        await call(files, ws, action="read", path="bin.dat")


@pytest.mark.parametrize("action", ["write", "read", "edit"])
async def test_a_folder_swapped_for_a_link_after_the_check_is_not_followed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, action: str
) -> None:
    # jailed code can race the tool: between the path check and the open it swaps a folder
    # for a link to the host; the open must refuse rather than follow it
    ws, host = tmp_path / "ws", tmp_path / "host"
    (ws / "sub").mkdir(parents=True)
    (ws / "sub" / "f.txt").write_text("mine")
    host.mkdir()
    (host / "f.txt").write_text("TOPSECRET")
    checked = FilesTool.resolve

    def swap_after_check(self: FilesTool, root: Path, path: str) -> Path:
        real = checked(self, root, path)
        if (ws / "sub").is_dir() and not (ws / "sub").is_symlink():
            (ws / "sub").rename(ws / "was-sub")
            (ws / "sub").symlink_to(host)
        return real

    monkeypatch.setattr(FilesTool, "resolve", swap_after_check)
    args = {"write": {"content": "x"}, "read": {},
            "edit": {"old_string": "TOPSECRET", "new_string": "x"}}[action]
    with pytest.raises(ToolError, match="cannot open"):
        await call(FilesTool(), ws, action=action, path="sub/f.txt", **args)
    assert (host / "f.txt").read_text() == "TOPSECRET" and sorted(os.listdir(host)) == ["f.txt"]
