"""numba's on-disk cache of tezip's kernels follows every source a kernel reaches.

A package named ``tezip_*`` (tracked like the default plugins) holds a kernel that inlines a
function and a constant of another module, and one that reaches it only through a second
module. Each run is a fresh process that loads the kernels from numba's cache.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tezip import kernelcache

PACKAGE = "tezip_cachecheck"

SOURCES = {
    "__init__.py": "from tezip import kernelcache  # noqa: F401\n",
    "constants.py": "STEP = 1\n",
    "elements.py": """
        from numba import njit
        from tezip_cachecheck.constants import STEP

        @njit(cache=True)
        def shifted(x):
            return x + STEP
        """,
    "middle.py": """
        from numba import njit
        from tezip_cachecheck import elements as el

        @njit(cache=True)
        def twice(x):
            return 2 * el.shifted(x)
        """,
    "kernels.py": """
        from numba import njit
        from tezip_cachecheck import middle

        @njit(cache=True)
        def scaled(x):
            return 10 * middle.twice(x)
        """,
    "helpers.py": "UNRELATED = 1\n",
}

RUN = """
from tezip_cachecheck.kernels import scaled
print(scaled(1), scaled.stats.cache_hits.get(scaled.signatures[0], 0))
"""


@pytest.fixture
def package(tmp_path: Path) -> Path:
    root = tmp_path / PACKAGE
    root.mkdir()
    for name, text in SOURCES.items():
        (root / name).write_text(textwrap.dedent(text))
    return tmp_path


def _run(root: Path) -> tuple[int, int]:
    """``scaled(1)`` and whether it came from the cache, in a fresh process."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), *sys.path])}
    env.pop("NUMBA_CACHE_DIR", None)
    output = subprocess.run(
        [sys.executable, "-c", RUN], env=env, capture_output=True, text=True, check=True
    ).stdout.split()
    return int(output[0]), int(output[1])


def _edit(path: Path, old: str, new: str) -> None:
    path.write_text(path.read_text().replace(old, new))


def test_a_kernel_compiles_again_when_a_module_it_reaches_changes(package: Path) -> None:
    assert _run(package) == (40, 0)  # compiled and stored
    assert _run(package) == (40, 1)  # loaded from the cache
    _edit(package / PACKAGE / "constants.py", "STEP = 1", "STEP = 2")
    assert _run(package) == (60, 0)  # a constant two imports away
    _edit(package / PACKAGE / "elements.py", "x + STEP", "x + STEP + 1")
    assert _run(package) == (80, 0)  # an inlined function two imports away
    assert _run(package) == (80, 1)


def test_a_change_outside_what_a_kernel_reaches_keeps_its_cache(package: Path) -> None:
    assert _run(package) == (40, 0)
    _edit(package / PACKAGE / "helpers.py", "= 1", "= 2")
    assert _run(package) == (40, 1)


def test_the_digest_covers_the_modules_imported_not_their_whole_packages() -> None:
    import tezip_rans.kernels  # noqa: F401  (loads the modules it names)

    reached = set(kernelcache._reachable("tezip_rans.kernels"))
    assert {"tezip_rans.kernels", "tezip_rans.elements", "tezip.parallel"} <= reached
    assert not reached & {"tezip", "tezip_rans", "tezip.api", "tezip.cli"}


def test_only_tezip_and_its_plugin_packages_are_tracked() -> None:
    assert kernelcache.is_tracked("tezip.costs")
    assert kernelcache.is_tracked("tezip_rans.elements")
    assert not kernelcache.is_tracked("numpy.linalg")
    assert not kernelcache.is_tracked("tezipper")


def test_tezip_kernels_are_located_by_it() -> None:
    from tezip import lookup
    from tezip_rans import elements

    for dispatcher in (lookup._gather, elements.predict):
        locator = dispatcher._cache._impl.locator
        assert isinstance(locator, kernelcache.FreshKernelLocator)
