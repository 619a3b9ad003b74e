# Type stubs of the daemon3143 package (see its module docstring).
import os
import types
from typing import Any, Callable, Dict, IO, Iterable, Literal, Optional, Union

from . import pidfile as pidfile

_Path = Union[str, bytes, "os.PathLike[str]", "os.PathLike[bytes]"]
_File = Union[int, IO[Any]]
_Action = Union[None, str, int, Callable[[int, Optional[types.FrameType]], Any]]

library_path: str

class DaemonError(OSError):
    message: str
    def __init__(self, errno: int, message: str) -> None: ...

def version() -> str: ...
def holder(path: _Path) -> int: ...
def notify(state: Union[str, bytes]) -> bool: ...

class PidFile:
    def __init__(self, pidfile: _Path) -> None: ...
    @property
    def path(self) -> str: ...
    @property
    def holder(self) -> int: ...
    def acquire(self) -> None: ...
    def release(self) -> None: ...
    def __enter__(self) -> "PidFile": ...
    def __exit__(self, *exc: object) -> None: ...

class DaemonContext:
    chroot_directory: Optional[_Path]
    working_directory: _Path
    umask: int
    uid: Optional[int]
    gid: Optional[int]
    initgroups: bool
    prevent_core: bool
    detach_process: Optional[bool]
    files_preserve: Optional[Iterable[_File]]
    pidfile: Optional[PidFile]
    stdin: Optional[_File]
    stdout: Optional[_File]
    stderr: Optional[_File]
    signal_map: Dict[int, _Action]
    ready: Literal["on_open", "manual"]
    ready_timeout: Optional[float]
    def __init__(
        self,
        chroot_directory: Optional[_Path] = ...,
        working_directory: _Path = ...,
        umask: int = ...,
        uid: Optional[int] = ...,
        gid: Optional[int] = ...,
        prevent_core: bool = ...,
        detach_process: Optional[bool] = ...,
        files_preserve: Optional[Iterable[_File]] = ...,
        pidfile: Optional[PidFile] = ...,
        stdin: Optional[_File] = ...,
        stdout: Optional[_File] = ...,
        stderr: Optional[_File] = ...,
        signal_map: Optional[Dict[int, _Action]] = ...,
        *,
        initgroups: bool = ...,
        ready: Literal["on_open", "manual"] = ...,
        ready_timeout: Optional[float] = ...,
    ) -> None: ...
    @property
    def is_open(self) -> bool: ...
    def open(self) -> None: ...
    def close(self) -> None: ...
    def terminate(self, signal_number: int, stack_frame: Optional[types.FrameType]) -> None: ...
    def notify_ready(self) -> None: ...
    def notify_failure(self, message: Optional[str] = ..., status: int = ...) -> None: ...
    @property
    def notify_error(self) -> str: ...
    @property
    def signal_fd(self) -> int: ...
    def fileno(self) -> int: ...
    def next_signal(self) -> int: ...
    def __enter__(self) -> "DaemonContext": ...
    def __exit__(self, *exc: object) -> None: ...
