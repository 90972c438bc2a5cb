"""Sphinx configuration of pydpdk's documentation (``make docs``).

The API reference is generated from the docstrings of the installed (or
editable) package, so the compiled extensions must import: build first.
Warnings are errors (``-W --keep-going -n`` in the Makefile).
"""

from __future__ import annotations

import pydpdk

project = "pydpdk"
author = "the pydpdk authors"
copyright = "the pydpdk authors"
version = release = pydpdk.__version__

extensions = [
    "sphinx.ext.autodoc",
    "numpydoc",
    "myst_parser",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build"]
# the narrative docs link to repository files outside docs/ (README, native/)
suppress_warnings = ["myst.xref_missing"]
myst_heading_anchors = 3

# autodoc: members in source order, signatures from the code (Cython embeds
# them as the first docstring line).
autodoc_member_order = "bysource"
# Members without a docstring are listed too: the reference shows everything
# public, documented or not.
autodoc_default_options = {"members": True, "undoc-members": True, "show-inheritance": True}
autodoc_typehints = "signature"
autodoc_preserve_defaults = True
autoclass_content = "class"

# numpydoc renders Parameters/Returns/Raises; it does not list members again
# (autodoc does) and does not invent cross-references from type prose.
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
# Sections checked (warnings, so errors here): every parameter documented
# (PR01) and none unknown (PR02), Returns (RT01), a docstring at all (GL08).
# Only on the modules already converted to numpydoc sections; widen the
# pattern below as the others are.
numpydoc_validation_checks = {"PR01", "PR02", "RT01", "GL08", "SS01"}
numpydoc_validation_exclude = {
    r"^(?!pydpdk$|pydpdk\.(PacketPool|Burst|Packet|PortBase|analysis|backend|pipeline|dpdk|"
    r"afpacket|pcap|udp|secure|errors)\b)",
    r"\.__\w+__$",
}

# Nitpicky: every cross-reference must resolve, except to the standard
# library and numpy, which are not part of this documentation (no network,
# hence no intersphinx).
nitpicky = True
nitpick_ignore_regex = [
    (r"py:(class|obj|data|exc)",
     r"(builtins\.)?(int|float|str|bytes|bytearray|bool|object|dict|list|tuple|set|"
     r"type|memoryview|None|Ellipsis|NoneType|BaseException|Exception|ValueError|"
     r"TypeError|OSError|RuntimeError|KeyError|IndexError|EOFError|"
     r"MemoryError|BufferError|TimeoutError|ProcessLookupError|NotImplementedError)"),
    (r"py:(class|obj|data|func|meth|attr)",
     r"(typing|typing_extensions|collections\.abc|types|enum|dataclasses|pathlib|os|time|"
     r"threading|contextlib|numpy|numpy\.typing|npt|np)\..*"),
    (r"py:(class|obj|data)", r"(Any|Self|Buffer|Iterable|Iterator|Sequence|Mapping|"
     r"Callable|Path|IntFlag|NDArray|ArrayLike|optional)"),
    # annotations Sphinx cannot split into references (quoted by postponed
    # evaluation, or variadic tuples) stay plain text
    (r"py:class", r"'?(dict|list|tuple|set)\[.*"),
    # private bases (pydpdk._burst, _fec, _pipeline, ...) are not documented:
    # the public classes that derive from them show their members
    (r"py:class", r"pydpdk\._\w+\.\w+"),
]

html_theme = "alabaster"
html_title = f"pydpdk {release}"
