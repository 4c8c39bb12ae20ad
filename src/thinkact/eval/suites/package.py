"""Where a packaged suite's data comes from, and a clear error when its package is missing."""

from __future__ import annotations

from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version


def package_source(package: str, detail: str = "") -> str:
    """``"package X.Y.Z (detail)"``; ``ValueError`` naming the install when it is absent."""
    try:
        found = version(package)
    except PackageNotFoundError:
        extra = ("pip install --no-deps bfcl-eval mpmath" if package == "bfcl-eval"
                 else "pip install 'thinkact[eval]' and pip install --no-deps inspect-evals"
                 if package == "inspect-evals" else "pip install 'thinkact[eval]'")
        raise ValueError(f"this suite's data comes from the {package} package, which is not "
                         f"installed ({extra})") from None
    return f"{package} {found}" + (f" ({detail})" if detail else "")


def pick(options: dict[str, str], key: str, known: Sequence[str], what: str) -> list[str]:
    """The comma list ``options[key]`` (default: all of ``known``), each one checked."""
    wanted = [x for x in options.pop(key, ",".join(known)).split(",") if x]
    unknown = set(wanted) - set(known)
    if unknown:
        raise ValueError(f"unknown {what} {sorted(unknown)}; known: {list(known)}")
    return wanted


def no_more(options: dict[str, str], suite: str, takes: str) -> None:
    """Refuse the options a suite's ``load`` did not take."""
    if options:
        raise ValueError(f"{suite} takes {takes}, not {sorted(options)}")
