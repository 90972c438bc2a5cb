"""Sphinx configuration of pydpdk's documentation (``make docs``).

The API reference is generated from the docstrings of the installed (or
editable) package, so the compiled extensions must import: build first.
Warnings are errors (``-W --keep-going -n`` in the Makefile).
"""

from __future__ import annotations

import ast
import enum
import inspect
import re
from pathlib import Path
from typing import Any

import numpydoc.validate

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
# (PR01) with a description (PR07, "name : type" spelled right: PR10) and
# none unknown (PR02), Returns with a description (RT01, RT03), a docstring
# at all (GL08), a summary line (SS01: catches compiled methods whose only
# "docstring" is the signature Cython embeds).  Only on the modules converted to numpydoc
# sections (every public module).
numpydoc_validation_checks = {"PR01", "PR02", "PR07", "PR10", "RT01", "RT03", "GL08", "SS01"}
numpydoc_validation_exclude = {
    r"^(?!pydpdk$|pydpdk\.(PacketPool|Burst|Packet|PortBase|analysis|backend|pipeline|dpdk|"
    r"afpacket|pcap|udp|secure|errors|backends|demo|gateway|fec|fec_config|nexthop|gateway_mq)\b)",
    r"\.__\w+__$",
    # Handle.closed is a readonly attribute declared in _handle.pxd, where
    # Cython cannot attach a docstring; the Handle class documents it.
    r"\.closed$",
}


def _signature_parameters(validator: Any) -> tuple[str, ...]:
    """Parameter names of a compiled (Cython) class, for PR01/PR02.

    numpydoc takes them from ``inspect.signature``, which has nothing for an
    extension type, so every documented parameter would be "unknown".
    Cython embeds the constructor's signature as the class docstring's first
    line (``embedsignature``): read the names from there.  Enum classes are
    called with a member's value, not constructed: nothing to document.
    """
    obj = validator.obj
    if inspect.isclass(obj) and issubclass(obj, enum.Enum):
        return ()
    params: tuple[str, ...] = _plain_signature_parameters(validator)
    if params or not inspect.isclass(obj):
        return params
    first = (obj.__doc__ or "").split("\n", 1)[0]
    m = re.fullmatch(rf"{re.escape(obj.__name__)}\((.*)\)", first)
    if not m:
        return params
    names = [_arg_name(arg) for arg in _split_args(m.group(1))]
    return tuple(n for n in names if n not in ("", "*", "/", "self"))


def _split_args(text: str) -> list[str]:
    """The comma-separated arguments of a signature's text, nesting kept."""
    args, depth, start = [], 0, 0
    for i, ch in enumerate(text + ","):
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "," and depth == 0:
            args.append(text[start:i].strip())
            start = i + 1
    return [a for a in args if a]


def _arg_name(arg: str) -> str:
    """``"unsigned int capacity=4096"`` -> ``"capacity"``, ``"**encap"`` kept."""
    arg = re.sub(r"\s+(not|or)\s+None$", "", arg.split("=", 1)[0].split(":", 1)[0].strip())
    if arg in ("*", "/"):
        return arg
    words = re.findall(r"\w+", arg)
    return re.match(r"\**", arg).group(0) + words[-1] if words else ""


def _stub_keyword_only(obj: type) -> set[str] | None:
    """Keyword-only parameters of a compiled class's ``__init__`` per its stub.

    The stubs are checked against the runtime by ``mypy.stubtest``.
    """
    module = obj.__module__.rpartition(".")[2]
    stub = Path(pydpdk.__file__).parent / f"{module}.pyi"
    if not stub.is_file():
        return None
    for node in ast.walk(ast.parse(stub.read_text())):
        if isinstance(node, ast.ClassDef) and node.name == obj.__name__:
            for item in node.body:
                if isinstance(item, ast.FunctionDef) and item.name == "__init__":
                    return {a.arg for a in item.args.kwonlyargs}
    return None


def _fix_class_signature(app: Any, what: str, name: str, obj: Any, options: Any,
                         signature: str | None, return_annotation: str | None) -> Any:
    """Put the ``*`` of a compiled class's signature where the code has it.

    Cython's embedded constructor signature (the class docstring's first
    line) places the keyword-only marker one parameter too late (it counts
    ``self``), so ``Port(device, pool, rx_queues=1, *, ...)`` would show
    *rx_queues* as positional.  The marker goes before the first parameter
    the stub declares keyword-only.
    """
    if what != "class" or not signature or not inspect.isclass(obj) \
            or not obj.__module__.startswith("pydpdk._"):
        return None
    kwonly = _stub_keyword_only(obj)
    if kwonly is None:
        return None
    args = [a for a in _split_args(signature.strip()[1:-1]) if a != "*"]
    for i, arg in enumerate(args):
        if _arg_name(arg) in kwonly:
            args.insert(i, "*")
            break
    return f"({', '.join(args)})", return_annotation


def setup(app: Any) -> None:
    # before numpydoc's handler of the same event (default priority 500)
    app.connect("autodoc-process-signature", _fix_class_signature, priority=400)


_plain_signature_parameters = numpydoc.validate.Validator.signature_parameters.fget
numpydoc.validate.Validator.signature_parameters = property(_signature_parameters)


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
