import errno

import pytest

import pydpdk
from pydpdk.errors import EalError, PydpdkError, error_from_errno


def test_build_info_describes_this_build():
    info = pydpdk.BUILD_INFO
    assert info["version"] == pydpdk.__version__
    assert isinstance(info["dpdk"], bool)
    assert isinstance(info["pcap"], bool)


@pytest.mark.parametrize(
    ("code", "cls"),
    [
        (errno.ENOENT, FileNotFoundError),
        (-errno.EPERM, PermissionError),
        (errno.EEXIST, FileExistsError),
    ],
)
def test_errno_maps_to_builtin_oserror_subclass(code, cls):
    exc = error_from_errno(code, "cannot open port")
    assert type(exc) is cls
    assert exc.errno == abs(code)
    assert str(exc).startswith("[Errno")
    assert "cannot open port" in str(exc)


def test_pydpdk_class_keeps_errno_and_library_text():
    exc = error_from_errno(-errno.EINVAL, "rte_eal_init failed", EalError, "Invalid argument (EAL)")
    assert isinstance(exc, PydpdkError) and isinstance(exc, OSError)
    assert exc.errno == errno.EINVAL
    assert "Invalid argument (EAL)" in str(exc)


def test_package_import_is_cheap_and_names_load_on_use():
    import subprocess
    import sys

    code = ("import sys, pydpdk; assert 'numpy' not in sys.modules; "
            "assert pydpdk.Pipeline.__name__ == 'Pipeline'; assert 'numpy' in sys.modules; "
            "print(pydpdk.fec.default_kernel())")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        pydpdk.nope  # noqa: B018
