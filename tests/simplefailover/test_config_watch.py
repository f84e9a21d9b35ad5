"""ConfigWatch: a saved change is reported once, after it has settled; nothing else is."""

from __future__ import annotations

import os
from pathlib import Path

from habase.config_watch import ConfigWatch


class FakeStat:
    """A file whose (mtime, size, inode) the test sets; None: the file is missing."""

    def __init__(self) -> None:
        self.now: tuple[int, int, int] | None = (1, 100, 7)

    def __call__(self, path: Path) -> os.stat_result:
        if self.now is None:
            raise FileNotFoundError(path)
        mtime, size, inode = self.now
        return os.stat_result((0o100644, inode, 0, 1, 0, 0, size, 0, 0, 0, 0, 0, 0, 0, 0, 0, mtime, 0, 0))


def test_a_change_is_reported_once_after_it_settles() -> None:
    stat = FakeStat()
    watch = ConfigWatch(Path("config.yaml"), stat)
    assert not watch.changed()  # nothing happened
    stat.now = (2, 50, 7)  # the editor truncated and is writing
    assert not watch.changed()
    stat.now = (3, 120, 8)  # ... and renamed its new file over it
    assert not watch.changed()  # seen once: not settled yet
    assert watch.changed()  # the same twice: reload
    assert not watch.changed()  # once only


def test_a_missing_file_is_no_change_and_settle_forgets_a_pending_one() -> None:
    stat = FakeStat()
    watch = ConfigWatch(Path("config.yaml"), stat)
    stat.now = None  # being replaced, or deleted by mistake: keep the running config
    assert not watch.changed() and not watch.changed()
    stat.now = (5, 100, 7)
    assert not watch.changed()
    watch.settle()  # a SIGHUP reload read it meanwhile
    assert not watch.changed()


def test_the_real_file(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("a: 1\n")
    watch = ConfigWatch(path)
    path.write_text("a: 22\n")
    assert not watch.changed() and watch.changed()
