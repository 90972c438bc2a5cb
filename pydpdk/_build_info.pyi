"""Type stub of the module meson generates from _build_info.py.in."""

from typing import Any

BUILD_INFO: dict[str, Any]
