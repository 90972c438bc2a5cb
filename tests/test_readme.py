"""The README's Python example runs as written."""

import re
import subprocess
import sys
from pathlib import Path

from conftest import requires_dpdk

README = Path(__file__).resolve().parent.parent / "README.md"


@requires_dpdk
def test_readme_example_runs():
    block = re.search(r"```python\n(.*?)```", README.read_text(), re.S).group(1)
    proc = subprocess.run([sys.executable, "-c", block], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "stopped_by" in proc.stdout


def test_readme_shows_the_ci_test_command():
    ci = (README.parent / ".ci" / "run").read_text()
    assert "make test" in ci and "make test" in README.read_text()
