"""Where a packaged suite's data comes from, and a clear error when its package is missing."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version


def package_source(package: str, detail: str = "") -> str:
    """``"package X.Y.Z (detail)"``; ``ValueError`` naming the install when it is absent."""
    try:
        found = version(package)
    except PackageNotFoundError:
        extra = ("pip install --no-deps bfcl-eval mpmath" if package == "bfcl-eval"
                 else "pip install 'thinkact[eval]'")
        raise ValueError(f"this suite's data comes from the {package} package, which is not "
                         f"installed ({extra})") from None
    return f"{package} {found}" + (f" ({detail})" if detail else "")
