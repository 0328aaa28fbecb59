"""The host endpoint's Windows transport: a named pipe, waited on with one I/O completion port.

The pipe (``app.door.client.pipe_name``: ``\\\\.\\pipe\\license-companion-<product>-<user SID>``)
carries the same JSON lines as the Unix socket; ``app.door.server.HostServer`` runs the protocol
over it through the seam in ``app.door.transport``. How each instance is made:

* byte mode (``PIPE_TYPE_BYTE | PIPE_READMODE_BYTE``): a stream of lines, as on the socket;
* ``PIPE_REJECT_REMOTE_CLIENTS``: only this computer;
* a protected DACL that allows only the current user (``D:P(A;;GA;;;<SID>)``): no other user,
  no inherited entries; the SID comes from this process's token;
* the first instance with ``FILE_FLAG_FIRST_PIPE_INSTANCE``: when it fails, another companion
  or some other program (a squatter) already holds the name, and we refuse to serve;
* always one spare instance waiting in ``ConnectNamedPipe``: the next is created as soon as a
  client takes the current one, so a client never finds no pipe (``ERROR_FILE_NOT_FOUND``).

I/O: every instance is bound to one completion port; reads and writes are overlapped
(``_overlapped``, the module behind asyncio's proactor) and their completions are collected
by the endpoint's I/O thread in ``select``. One read and at most one write are pending per
connection, so memory per client stays bounded. References: Microsoft's documentation
"CreateNamedPipe function", "Named Pipe Security and Access Rights", "I/O Completion Ports".
"""

from __future__ import annotations

import logging
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from app.door.endpoint import HostServerError
from app.door.transport import ACCEPT, READ, WRITE, Handle

log = logging.getLogger(__name__)

PIPE_ACCESS_DUPLEX = 0x00000003
FILE_FLAG_OVERLAPPED = 0x40000000
FILE_FLAG_FIRST_PIPE_INSTANCE = 0x00080000
PIPE_TYPE_BYTE = 0x0
PIPE_READMODE_BYTE = 0x0
PIPE_WAIT = 0x0
PIPE_REJECT_REMOTE_CLIENTS = 0x8
PIPE_UNLIMITED_INSTANCES = 255
BUFFER = 65536
ERROR_ACCESS_DENIED = 5
OPEN_MODE_FIRST = PIPE_ACCESS_DUPLEX | FILE_FLAG_OVERLAPPED | FILE_FLAG_FIRST_PIPE_INSTANCE
OPEN_MODE_MORE = PIPE_ACCESS_DUPLEX | FILE_FLAG_OVERLAPPED
PIPE_MODE = PIPE_TYPE_BYTE | PIPE_READMODE_BYTE | PIPE_WAIT | PIPE_REJECT_REMOTE_CLIENTS
WAKE_KEY = 1
SDDL_REVISION_1 = 1
DACL_SECURITY_INFORMATION = 0x4
SE_KERNEL_OBJECT = 6

CreatePipe = Callable[[str, int, int, int, int, int, int, int], int]


def user_only_sddl(sid: str) -> str:
    """The pipe's security descriptor: protected, one entry allowing ``sid`` everything."""
    return f"D:P(A;;GA;;;{sid})"


class _SecurityAttributes:
    """A SECURITY_ATTRIBUTES with the descriptor made from SDDL (freed by ``free``)."""

    def __init__(self, sddl: str) -> None:
        import ctypes
        from ctypes import wintypes

        class SECURITY_ATTRIBUTES(ctypes.Structure):
            _fields_ = [("nLength", wintypes.DWORD), ("lpSecurityDescriptor", ctypes.c_void_p),
                        ("bInheritHandle", wintypes.BOOL)]

        advapi32 = ctypes.WinDLL("advapi32", use_last_error=True)  # type: ignore[attr-defined]
        convert = advapi32.ConvertStringSecurityDescriptorToSecurityDescriptorW
        convert.argtypes = [wintypes.LPCWSTR, wintypes.DWORD, ctypes.POINTER(ctypes.c_void_p),
                            ctypes.c_void_p]
        convert.restype = wintypes.BOOL
        self._descriptor = ctypes.c_void_p()
        if not convert(sddl, SDDL_REVISION_1, ctypes.byref(self._descriptor), None):
            raise HostServerError("cannot build the pipe's security descriptor "
                                  f"(error {ctypes.get_last_error()})")  # type: ignore[attr-defined]
        self._struct = SECURITY_ATTRIBUTES(ctypes.sizeof(SECURITY_ATTRIBUTES),
                                           self._descriptor, False)
        self.address: int = ctypes.addressof(self._struct)

    def free(self) -> None:
        import ctypes

        if self._descriptor:
            ctypes.windll.kernel32.LocalFree(self._descriptor)  # type: ignore[attr-defined]
            self._descriptor = ctypes.c_void_p()


def dacl_sddl(handle: int) -> str:
    """The DACL of the object behind ``handle``, read back from Windows, as SDDL."""
    import ctypes
    from ctypes import wintypes

    advapi32 = ctypes.WinDLL("advapi32", use_last_error=True)  # type: ignore[attr-defined]
    get = advapi32.GetSecurityInfo
    get.argtypes = [wintypes.HANDLE, ctypes.c_int, wintypes.DWORD, ctypes.c_void_p,
                    ctypes.c_void_p, ctypes.POINTER(ctypes.c_void_p), ctypes.c_void_p,
                    ctypes.POINTER(ctypes.c_void_p)]
    get.restype = wintypes.DWORD
    dacl, descriptor = ctypes.c_void_p(), ctypes.c_void_p()
    err = get(handle, SE_KERNEL_OBJECT, DACL_SECURITY_INFORMATION, None, None,
              ctypes.byref(dacl), None, ctypes.byref(descriptor))
    if err:
        raise OSError(f"GetSecurityInfo failed (error {err})")
    to_string = advapi32.ConvertSecurityDescriptorToStringSecurityDescriptorW
    to_string.argtypes = [ctypes.c_void_p, wintypes.DWORD, wintypes.DWORD,
                          ctypes.POINTER(wintypes.LPWSTR), ctypes.c_void_p]
    to_string.restype = wintypes.BOOL
    text = wintypes.LPWSTR()
    try:
        if not to_string(descriptor, SDDL_REVISION_1, DACL_SECURITY_INFORMATION,
                         ctypes.byref(text), None):
            raise OSError(f"cannot convert the descriptor (error {ctypes.get_last_error()})"  # type: ignore[attr-defined]
                          )
        return text.value or ""
    finally:
        kernel32 = ctypes.windll.kernel32  # type: ignore[attr-defined]
        kernel32.LocalFree.argtypes = [ctypes.c_void_p]
        if text:
            kernel32.LocalFree(ctypes.cast(text, ctypes.c_void_p))
        kernel32.LocalFree(descriptor)


class PipeConn:
    """One connected pipe instance: non-blocking ``recv``/``send`` over overlapped I/O."""

    def __init__(self, transport: PipeTransport, handle: int) -> None:
        self.transport = transport
        self.handle = handle
        self.mask = 0
        self.data: object = None
        self.reading = False  # an overlapped read is pending
        self.received: bytes | None = None  # a finished read not yet taken (b"": the end)
        self.writing = False
        self.written: int | None = None  # a finished write's count (-1: broken) not yet taken
        self.closed = False

    def recv(self, size: int, /) -> bytes:
        if self.received is None:
            raise BlockingIOError
        data, self.received = self.received, None
        return data

    def send(self, data: bytes | bytearray, /) -> int:
        if self.writing:
            if self.written is None:
                raise BlockingIOError
            count, self.writing, self.written = self.written, False, None
            if count < 0:
                raise BrokenPipeError("the client closed the pipe")
            return count
        chunk = bytes(data[:BUFFER])
        ov = self.transport._overlapped.Overlapped(0)
        try:
            ov.WriteFile(self.handle, chunk)
        except OSError:
            raise BrokenPipeError("the client closed the pipe") from None
        self.transport._pending[ov.address] = (ov, self, "write")
        self.writing = True
        if not ov.pending:  # done at once; its completion packet is still collected
            self.transport._pending[ov.address] = (ov, None, "done")
            self.writing = False
            return int(ov.getresult())
        raise BlockingIOError

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.transport._conns.discard(self)
        self.transport._winapi.CloseHandle(self.handle)  # pending I/O ends, packets follow

    def _start_read(self) -> None:
        ov = self.transport._overlapped.Overlapped(0)
        try:
            ov.ReadFile(self.handle, BUFFER)
        except OSError:  # broken pipe: the client is gone
            self.received = b""
            return
        self.reading = True
        self.transport._pending[ov.address] = (ov, self, "read")

    def ready(self) -> int:
        mask = 0
        if self.mask & READ and self.received is not None:
            mask |= READ
        if self.mask & WRITE and (not self.writing or self.written is not None):
            mask |= WRITE
        return mask


class PipeTransport:
    """Serves ``name`` (see the module docstring).

    Args:
        name: ``\\\\.\\pipe\\...``.
        sid: the user admitted (default: this process's user).
        create: ``CreateNamedPipe`` (``_winapi``'s, or a stand-in that fails the way a held
            name does, for the tests of what Wine does not enforce).
    """

    def __init__(self, name: str, sid: str | None = None,
                 create: CreatePipe | None = None) -> None:
        self.address: Path | str = name
        self.name = name
        self._sid = sid
        self._create = create
        self._port = 0
        self._attributes: _SecurityAttributes | None = None
        self._spare = 0  # the instance waiting for the next client
        self._connected: list[int] = []  # instances a client reached, not yet accepted
        self._pending: dict[int, tuple[Any, PipeConn | int | None, str]] = {}
        self._conns: set[PipeConn] = set()
        self._winapi: Any = None
        self._overlapped: Any = None

    # -- listening ------------------------------------------------------------------------

    def open(self) -> None:
        if sys.platform != "win32":
            raise HostServerError("named pipes are served on Windows only")
        import _overlapped  # type: ignore[import-not-found]  # Windows only
        import _winapi

        from app.door.client import win_user_sid

        self._winapi, self._overlapped = _winapi, _overlapped
        if self._create is None:
            self._create = _winapi.CreateNamedPipe
        self._attributes = _SecurityAttributes(user_only_sddl(self._sid or win_user_sid()))
        self._port = _overlapped.CreateIoCompletionPort(_overlapped.INVALID_HANDLE_VALUE, 0,
                                                        0, 1)
        try:
            self._new_instance(first=True)
        except PermissionError:
            self.close()
            raise HostServerError(
                f"the pipe {self.name} is already held by another program (another companion, "
                "or one posing as it): refusing to serve there; quit the other program, or sign "
                "out and in again") from None
        except OSError as exc:
            self.close()
            raise HostServerError(f"cannot create the pipe {self.name}: {exc}") from None

    def _new_instance(self, first: bool) -> None:
        assert self._create is not None and self._attributes is not None
        handle = self._create(self.name, OPEN_MODE_FIRST if first else OPEN_MODE_MORE,
                              PIPE_MODE, PIPE_UNLIMITED_INSTANCES, BUFFER, BUFFER, 0,
                              self._attributes.address)
        self._overlapped.CreateIoCompletionPort(handle, self._port, 0, 0)
        ov = self._overlapped.Overlapped(0)
        try:
            connected = ov.ConnectNamedPipe(handle)
        except OSError:  # a client came and went between the two calls
            self._winapi.CloseHandle(handle)
            self._new_instance(first=False)
            return
        self._spare = handle
        if connected:  # a client was already there: no completion packet comes
            self._connected.append(handle)
            self._spare = 0
            self._new_instance(first=False)
        else:
            self._pending[ov.address] = (ov, handle, "connect")

    def spare_handle(self) -> int:
        """The instance waiting for the next client (0: none; for tests)."""
        return self._spare

    def accept(self) -> Handle | None:
        if not self._connected:
            return None
        conn = PipeConn(self, self._connected.pop(0))
        self._conns.add(conn)
        return conn

    # -- waiting --------------------------------------------------------------------------

    def register(self, handle: Handle, mask: int, data: object) -> None:
        assert isinstance(handle, PipeConn)
        handle.mask, handle.data = mask, data

    modify = register

    def unregister(self, handle: Handle) -> None:
        assert isinstance(handle, PipeConn)
        handle.mask, handle.data = 0, None

    def wake(self) -> None:
        if self._port:
            # A non-zero "overlapped" address: ``_overlapped`` raises for a packet without one.
            # It is never dereferenced; the key says it is a wake-up.
            self._overlapped.PostQueuedCompletionStatus(self._port, 0, WAKE_KEY, WAKE_KEY)

    def select(self, timeout: float | None) -> list[tuple[object, int]]:
        for conn in list(self._conns):  # one read pending for each connection we read
            if conn.mask & READ and not conn.reading and conn.received is None:
                conn._start_read()
        ready = self._ready()
        if ready:
            wait = 0
        elif timeout is None:
            wait = self._winapi.INFINITE
        else:
            wait = max(0, math.ceil(timeout * 1000))
        while True:
            status = self._overlapped.GetQueuedCompletionStatus(self._port, wait)
            if status is None:
                break
            wait = 0
            _err, _count, key, address = status
            if key != WAKE_KEY:
                self._complete(address)
        return self._ready()

    def _ready(self) -> list[tuple[object, int]]:
        ready: list[tuple[object, int]] = [(ACCEPT, READ)] if self._connected else []
        for conn in self._conns:
            mask = conn.ready()
            if mask and conn.data is not None:
                ready.append((conn.data, mask))
        return ready

    def _complete(self, address: int) -> None:
        entry = self._pending.pop(address, None)
        if entry is None:
            return
        ov, owner, kind = entry
        if kind == "connect":
            assert isinstance(owner, int)
            if owner != self._spare:
                return  # closed meanwhile
            self._spare = 0
            try:
                ov.getresult()
                self._connected.append(owner)
            except OSError:  # the client left before we saw it
                self._winapi.CloseHandle(owner)
            self._new_instance(first=False)
        elif isinstance(owner, PipeConn) and not owner.closed:
            if kind == "read":
                owner.reading = False
                try:
                    owner.received = bytes(ov.getresult())
                except OSError:
                    owner.received = b""
            elif kind == "write":
                try:
                    owner.written = int(ov.getresult())
                except OSError:
                    owner.written = -1

    # -- the end --------------------------------------------------------------------------

    def close(self) -> None:
        winapi = self._winapi
        for conn in list(self._conns):
            conn.close()
        for handle in [self._spare, *self._connected]:
            if handle:
                winapi.CloseHandle(handle)
        self._spare, self._connected = 0, []
        if self._port:
            while self._pending:  # the aborted operations' packets, then the port
                status = self._overlapped.GetQueuedCompletionStatus(self._port, 100)
                if status is None:
                    break
                self._pending.pop(status[3], None)
            winapi.CloseHandle(self._port)
            self._port = 0
        self._pending.clear()
        if self._attributes is not None:
            self._attributes.free()
            self._attributes = None
