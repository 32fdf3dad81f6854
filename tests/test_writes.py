"""Result files are written atomically, and what is at the path is respected.

A rename swaps in a new plain file, which is right for a plain file and
wrong for a symbolic link, a device or a pipe; and it would replace a
read-only file behind its owner's back.
"""

from __future__ import annotations

import os
import stat
import threading

import pytest

from manual_backprop import NetworkSpec, SpecError
from manual_backprop.spec import write_atomic


def test_a_new_file_gets_the_permissions_of_a_plain_open(tmp_path):
    umask = os.umask(0o022)
    try:
        write_atomic(tmp_path / "out.json", b"{}")
    finally:
        os.umask(umask)

    assert stat.S_IMODE((tmp_path / "out.json").stat().st_mode) == 0o644
    assert (tmp_path / "out.json").read_bytes() == b"{}"
    assert os.listdir(tmp_path) == ["out.json"]  # no temporary left behind


def test_a_replaced_file_keeps_its_permission_bits(tmp_path):
    target = tmp_path / "out.json"
    target.write_bytes(b"old")
    target.chmod(0o640)

    write_atomic(target, b"new")

    assert target.read_bytes() == b"new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640


def test_a_read_only_file_is_refused_and_kept(tmp_path):
    target = tmp_path / "out.json"
    target.write_bytes(b"keep me")
    target.chmod(0o444)

    with pytest.raises(SpecError, match=r"read-only.*chmod u\+w"):
        write_atomic(target, b"new")

    assert target.read_bytes() == b"keep me"


def test_a_symbolic_link_keeps_pointing_at_the_file_it_names(tmp_path):
    real = tmp_path / "real.json"
    real.write_bytes(b"old")
    link = tmp_path / "link.json"
    link.symlink_to(real)

    write_atomic(link, b"new")

    assert link.is_symlink()
    assert real.read_bytes() == b"new"


def test_a_dangling_link_creates_the_file_it_names(tmp_path):
    link = tmp_path / "link.json"
    link.symlink_to(tmp_path / "later.json")

    write_atomic(link, b"new")

    assert link.is_symlink()
    assert (tmp_path / "later.json").read_bytes() == b"new"


def test_a_named_pipe_is_written_into_not_replaced(tmp_path):
    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    received = []
    reader = threading.Thread(target=lambda: received.append(pipe.read_bytes()))
    reader.start()

    NetworkSpec((2, 1), ("linear",), "mean_squared_error").save(pipe)
    reader.join(timeout=10)

    assert stat.S_ISFIFO(pipe.stat().st_mode)
    assert received and received[0].startswith(b"{")


def test_dev_null_stays_a_device():
    write_atomic("/dev/null", b"nothing")

    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
