"""``qlop predict --bundle ... --output`` rejects an unsupported file type before any scoring work."""

from __future__ import annotations

import subprocess
import sys


def test_bad_output_suffix_fails_first_in_one_line(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "from qlop.cli.main import main; main()",
            "predict",
            "--bundle",
            str(tmp_path),
            "--data",
            str(tmp_path / "missing.parquet"),
            "--output",
            "out.txt",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip() == "Error: --output: out.txt: use a .parquet or .csv file name"
    assert not (tmp_path / "out.txt").exists()
