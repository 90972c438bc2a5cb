"""Type stubs for pydpdk._dpdk_lcore."""

from typing import Any

JOB_CAPSULE: bytes

def launch(lcore: int, job: Any) -> None: ...
def wait(lcore: int) -> int: ...
