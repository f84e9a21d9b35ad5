"""The one atomic write: all or nothing, the mode asked for, and synced (file and folder) on disk."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from habase.atomic import atomic_file, read_mapping, write_atomic


def test_replaces_the_content_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "join.json"
    write_atomic(target, '{"a": 1}')
    write_atomic(target, b'{"a": 2}')
    assert target.read_text() == '{"a": 2}'
    assert os.listdir(target.parent) == ["join.json"]


def test_a_failed_write_keeps_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "state.json"
    write_atomic(target, "old")
    with pytest.raises(RuntimeError), atomic_file(target) as file:
        file.write(b"half of the new")
        raise RuntimeError("disk gone")
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["state.json"]


def test_mode_is_exact_and_default_follows_the_umask(tmp_path: Path) -> None:
    write_atomic(tmp_path / "secret", b"s", mode=0o600)
    write_atomic(tmp_path / "unit", "u", mode=0o644)
    old = os.umask(0o027)
    try:
        write_atomic(tmp_path / "plain", "p")
    finally:
        os.umask(old)
    modes = {name: (tmp_path / name).stat().st_mode & 0o777 for name in ("secret", "unit", "plain")}
    assert modes == {"secret": 0o600, "unit": 0o644, "plain": 0o640}


CHILD = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from habase.atomic import write_atomic
    write_atomic(Path(sys.argv[1]), "durable", durable=sys.argv[2] == "1")
    """
)


def _traced(tmp_path: Path, durable: bool) -> list[str]:
    log = tmp_path / f"strace-{durable}.log"
    target = tmp_path / "data" / "join.json"
    subprocess.run(
        ["strace", "-f", "-y", "-e", "trace=fsync,fdatasync,rename,renameat,renameat2", "-o", str(log),
         sys.executable, "-c", CHILD, str(target), "1" if durable else "0"],
        check=True, timeout=60, cwd=Path(__file__).parents[2],
    )  # fmt: skip
    assert target.read_text() == "durable"
    return [line for line in log.read_text().splitlines() if re.search(r"\b(fsync|fdatasync|rename)", line)]


@pytest.mark.skipif(shutil.which("strace") is None, reason="strace is in the Makefile's DEB_PACKAGES")
def test_the_file_then_the_rename_in_its_folder_are_synced(tmp_path: Path) -> None:
    calls = _traced(tmp_path, durable=True)
    data = tmp_path / "data"
    synced = [line for line in calls if "sync(" in line]
    assert len(synced) == 2, calls
    assert ".join.json." in synced[0] and synced[0].rstrip().endswith("= 0")  # the temporary, before
    assert any("rename" in line for line in calls[calls.index(synced[0]) : calls.index(synced[1])])
    assert f"<{data}>" in synced[1] and synced[1].rstrip().endswith("= 0")  # the folder, after the rename
    assert not [line for line in _traced(tmp_path, durable=False) if "sync(" in line]


def test_read_mapping_gives_what_was_written_or_none(tmp_path: Path) -> None:
    write_atomic(tmp_path / "ok.json", '{"member": true}')
    write_atomic(tmp_path / "list.json", "[1]")
    write_atomic(tmp_path / "half.json", '{"mem')
    assert read_mapping(tmp_path / "ok.json") == {"member": True}
    assert [read_mapping(tmp_path / n) for n in ("list.json", "half.json", "missing.json")] == [None] * 3
