"""Every Python example in the README runs as shown."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"
EXAMPLES = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.DOTALL)


def test_the_readme_has_examples() -> None:
    assert len(EXAMPLES) >= 5


@pytest.mark.parametrize("number", range(len(EXAMPLES)))
def test_a_readme_example_runs(
    number: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    example = EXAMPLES[number]
    for module in re.findall(r"^(?:import|from) (\w+)", example, re.MULTILINE):
        pytest.importorskip(module)
    monkeypatch.chdir(tmp_path)
    exec(compile(example, f"README.md example {number + 1}", "exec"), {"__name__": "__main__"})
