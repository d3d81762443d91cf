"""File-system errors are user errors: one line naming the path and the reason, exit 2, nothing partial.

The classes: a read-only run directory, a full disk, a path that is a directory where a file is
expected (and a file where a directory is), a config that is not UTF-8 text. Each one used to end in
a Python traceback from ``qlop/atomic.py`` or the config reader.
"""

from __future__ import annotations

import errno
import json

import pytest
from hardening_helpers import (
    DATA_ONLY,
    assert_complete_or_none,
    is_root,
    one_error_line,
    small_pipeline,
    tmpfs,
)

from qlop import atomic
from qlop.errors import FileSystemError, file_error, is_environmental

# -- the one translation ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("exc", "path", "action", "message"),
    [
        (
            PermissionError(errno.EACCES, "Permission denied", "/ro/.data.parquet.x1.tmp"),
            "/ro/data.parquet",
            "write",
            "/ro/data.parquet: cannot write: permission denied (check the permissions, or use another directory)",
        ),
        (
            OSError(errno.EROFS, "Read-only file system"),
            "/ro/run",
            "write",
            "/ro/run: cannot write: the file system is read-only (use another directory)",
        ),
        (
            OSError("Error writing bytes to file. Detail: [errno 28] No space left on device"),
            "/full/x.parquet",
            "write",
            "/full/x.parquet: cannot write: no space left on the device (free some space, or use another directory)",
        ),
        (
            IsADirectoryError(errno.EISDIR, "Is a directory", "/r/config.json"),
            "/r/config.json",
            "read",
            "/r/config.json: cannot read: it is a directory, not a file",
        ),
        (
            NotADirectoryError(errno.ENOTDIR, "Not a directory", "/r/file"),
            "/r/file/run/manifest.json",
            "write",
            "/r/file/run/manifest.json: cannot write: a part of the path is a file, not a directory (/r/file)",
        ),
    ],
)
def test_os_errors_become_one_line_naming_path_and_reason(exc, path, action, message):
    assert is_environmental(exc)
    error = file_error(exc, path, action)
    assert isinstance(error, FileSystemError) and isinstance(error, OSError) and error.exit_code == 2
    assert str(error) == message


def test_a_bug_shaped_os_error_is_not_hidden():
    assert not is_environmental(FileExistsError(errno.EEXIST, "File exists", "/x"))
    assert not is_environmental(ValueError("x"))


# -- atomic writes ---------------------------------------------------------------------------


def test_atomic_write_into_a_read_only_directory(read_only_dir):
    target = read_only_dir / "data.parquet"
    with pytest.raises(FileSystemError, match=rf"^{target}: cannot write: (the file system is read-only|permission)"):
        atomic.write_text(target, "x")
    assert list(read_only_dir.iterdir()) == []


@pytest.mark.skipif(not is_root(), reason="mounting a small tmpfs needs root (CI runs as root)")
def test_atomic_write_on_a_full_disk_leaves_nothing(tmp_path):
    import pandas as pd

    with tmpfs(tmp_path / "full", "64k") as disk:
        frame = pd.DataFrame({"x": range(200_000)})
        with pytest.raises(FileSystemError, match=rf"^{disk / 'big.parquet'}: cannot write: no space left"):  # noqa
            atomic.write_parquet(frame, disk / "big.parquet")
        with pytest.raises(FileSystemError, match="no space left"):
            atomic.write_bytes(disk / "big.bin", b"x" * 200_000)
        with pytest.raises(FileSystemError, match="no space left"):
            with atomic.atomic_dir(disk / "export") as tmp:
                (tmp / "model.onnx").write_bytes(b"x" * 200_000)
        assert list(disk.iterdir()) == []


def test_atomic_write_onto_a_directory_or_through_a_file(tmp_path):
    (tmp_path / "config.json").mkdir()
    with pytest.raises(FileSystemError, match=r"config.json: cannot write: it is a directory, not a file"):
        atomic.write_json(tmp_path / "config.json", {"a": 1})
    (tmp_path / "afile").write_text("x")
    with pytest.raises(FileSystemError, match=r"afile/run/x.json: cannot write: a part of the path is a file"):
        atomic.write_json(tmp_path / "afile" / "run" / "x.json", {})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile", "config.json"]
    assert list((tmp_path / "config.json").iterdir()) == []


# -- through the CLI -------------------------------------------------------------------------


def test_run_into_a_read_only_directory_is_one_line(run_qlop, tmp_path, read_only_dir):
    config = tmp_path / "c.toml"
    config.write_text(DATA_ONLY)
    proc = run_qlop("run", "-c", config, "--run-dir", read_only_dir / "run")
    line = one_error_line(proc)
    assert line.startswith(f"Error: {read_only_dir / 'run'}") and (
        "read-only" in line or "permission denied" in line
    ), line
    assert list(read_only_dir.iterdir()) == []


@pytest.mark.skipif(not is_root(), reason="mounting a small tmpfs needs root (CI runs as root)")
def test_run_on_a_full_disk_is_one_line_and_leaves_whole_artefacts(run_qlop, tmp_path):
    config = tmp_path / "c.toml"
    config.write_text(small_pipeline())
    with tmpfs(tmp_path / "disk", "96k") as disk:
        proc = run_qlop("run", "-c", config, "--run-dir", disk / "run")
        line = one_error_line(proc)
        assert "cannot write: no space left on the device" in line, line
        assert_complete_or_none(disk / "run")
        manifest = json.loads((disk / "run" / "manifest.json").read_text())
        assert manifest["status"] == "failed" and "no space left" in manifest["error"]


def test_config_that_is_not_utf8_is_one_line(run_qlop, tmp_path):
    config = tmp_path / "latin1.toml"
    config.write_bytes('name = "caf\u00e9"\n'.encode("latin-1"))
    line = one_error_line(run_qlop("config", "validate", config))
    assert line == f"Error: {config}: not UTF-8 text (byte 0xe9 on line 1); save the config as UTF-8"
    bom = tmp_path / "bom.toml"
    bom.write_bytes(b"\xef\xbb\xbf" + DATA_ONLY.encode())
    assert run_qlop("config", "validate", bom).returncode == 0


def test_unreadable_config_and_missing_config(run_qlop, tmp_path, read_only_dir):
    missing = one_error_line(run_qlop("config", "validate", tmp_path / "nope.toml"))
    assert "nope.toml" in missing
    loop = tmp_path / "loop.toml"
    loop.symlink_to(loop)
    line = one_error_line(run_qlop("config", "validate", loop))
    assert line.startswith(f"Error: {loop}: cannot read the config file: too many levels of symbolic links"), line


def test_runs_dir_through_a_file_is_one_line(run_qlop, tmp_path):
    (tmp_path / "afile").write_text("x")
    config = tmp_path / "c.toml"
    config.write_text(f'runs_dir = "{tmp_path / "afile" / "runs"}"\n' + DATA_ONLY)
    line = one_error_line(run_qlop("run", "-c", config))
    assert "afile" in line and "a part of the path is a file, not a directory" in line, line


def test_a_run_artefact_that_is_a_directory_is_one_line(run_qlop, tmp_path):
    config = tmp_path / "c.toml"
    config.write_text(DATA_ONLY)
    run_dir = tmp_path / "run"
    (run_dir / "data.parquet").mkdir(parents=True)
    line = one_error_line(run_qlop("run", "-c", config, "--run-dir", run_dir))
    assert line.startswith(f"Error: {run_dir / 'data.parquet'}: cannot write: it is a directory, not a file") or (
        "data.parquet" in line and "is a directory" in line
    ), line
    assert_complete_or_none(run_dir)
