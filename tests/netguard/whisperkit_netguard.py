"""Test-only network guard: refuses every connection and name lookup that would leave this machine, before
any packet is sent, and records each refusal in the file named by ``$WHISPERKIT_NB_NETGUARD_LOG``.

pytest-socket guards ``socket.connect`` in the pytest process. This module adds what it leaves open:
name lookups there (resolving a remote name is already a packet to the resolver), and, through the
``sitecustomize.py`` beside it on ``PYTHONPATH``, connections and lookups in the Python processes the tests
start (kernels, JupyterLab, the CLI). conftest.py fails the test during which anything was refused, even
when the code under test swallowed the error.

Not covered: sockets opened below Python (libzmq, Chromium, C++ extensions), ``_socket.socket`` used
directly, and child processes given an environment without this folder on ``PYTHONPATH``.
"""

from __future__ import annotations

import errno
import os
import socket

LOG_ENV = "WHISPERKIT_NB_NETGUARD_LOG"
LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"}
_real = {}


class ConnectionRefusedByGuard(ConnectionRefusedError):
    """A connection the guard refused: an OSError, as a real refusal would be, so code under test behaves
    as it would offline (and the recorded refusal still fails the test)."""


class LookupRefusedByGuard(socket.gaierror):
    """A name lookup the guard refused (a `socket.gaierror`, as an unresolvable name would raise)."""


def is_loopback_host(host: object) -> bool:
    """An address or name that stays on this machine: 127.0.0.0/8, ::1 (also IPv4-mapped), localhost."""
    import ipaddress

    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    if not isinstance(host, str):
        return False
    name = host.strip("[]").split("%", 1)[0].rstrip(".").lower()
    if name in LOCAL_NAMES or name.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return address.is_loopback or (mapped is not None and mapped.is_loopback)


def lookup_stays_local(host: object) -> bool:
    """A lookup that sends nothing out: no name (binding), an address literal, a loopback name or this
    machine's own name (jupyter_client asks for it; /etc/hosts answers)."""
    import ipaddress

    if host is None or host in ("", b""):
        return True
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    if not isinstance(host, str):
        return False
    try:
        ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
        return True  # parsed, never resolved: whether it may be reached is the connection guard's call
    except ValueError:
        pass
    return is_loopback_host(host) or _is_this_machine(host)


def _is_this_machine(host: object) -> bool:
    return isinstance(host, str) and host.rstrip(".").lower() == _real.get("hostname", "").lower()


def record(what: str) -> None:
    path = os.environ.get(LOG_ENV)
    if path:
        import sys

        line = f"pid {os.getpid()} ({' '.join(sys.argv[:2])[:120]}): refused {what}\n"
        with open(path, "a", encoding="utf-8") as log:
            log.write(line)


def take_refusals() -> list[str]:
    """The refusals recorded since the last call (in any process sharing the log), clearing the log."""
    path = os.environ.get(LOG_ENV)
    if not path or not os.path.exists(path):
        return []
    with open(path, "r+", encoding="utf-8") as log:
        lines = log.read().splitlines()
        log.seek(0)
        log.truncate()
    return lines


def install(*, connections: bool = True) -> None:
    """Guard name lookups (and, with ``connections``, ``connect``, ``connect_ex`` and ``sendto``)."""
    if _real:
        return
    _real.update(getaddrinfo=socket.getaddrinfo, gethostbyname=socket.gethostbyname,
                 gethostbyname_ex=socket.gethostbyname_ex, gethostbyaddr=socket.gethostbyaddr,
                 hostname=socket.gethostname())

    def guard_lookup(name: str):
        real = _real[name]

        def guarded(host, *args, **kwargs):
            # a reverse lookup asks the resolver about any address but loopback's, a forward one about names
            reverse = name == "gethostbyaddr"
            if not (is_loopback_host(host) or _is_this_machine(host) if reverse else lookup_stays_local(host)):
                record(f"{name}({host!r})")
                raise LookupRefusedByGuard(socket.EAI_NONAME, f"test network guard: lookup of {host!r} refused")
            return real(host, *args, **kwargs)

        guarded.__netguard__ = True
        setattr(socket, name, guarded)

    for name in ("getaddrinfo", "gethostbyname", "gethostbyname_ex", "gethostbyaddr"):
        guard_lookup(name)
    if connections:
        _guard_connections()


def _guard_connections() -> None:
    cls = socket.socket
    inet = {socket.AF_INET, getattr(socket, "AF_INET6", socket.AF_INET)}

    def check(sock, address) -> None:
        if sock.family in inet and not (isinstance(address, tuple) and is_loopback_host(address[0])):
            record(f"connection to {address!r}")
            raise ConnectionRefusedByGuard(f"test network guard: connection to {address!r} refused")

    real_connect, real_connect_ex, real_sendto = cls.connect, cls.connect_ex, cls.sendto

    def connect(self, address):
        check(self, address)
        return real_connect(self, address)

    def connect_ex(self, address):
        try:
            check(self, address)
        except ConnectionRefusedByGuard:
            return errno.ECONNREFUSED  # connect_ex reports failures as an errno
        return real_connect_ex(self, address)

    def sendto(self, data, *args):
        check(self, args[-1])
        return real_sendto(self, data, *args)

    for function in (connect, connect_ex, sendto):
        function.__netguard__ = True
        setattr(cls, function.__name__, function)


def installed() -> dict[str, bool]:
    """Which guards are in place in this process (tests check before they try anything)."""
    return {"lookups": getattr(socket.getaddrinfo, "__netguard__", False),
            "connections": getattr(socket.socket.connect, "__netguard__", False)}
