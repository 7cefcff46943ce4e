"""No network: the whole suite runs with connections to anything but loopback refused, so a passing suite
proves whisperkit_nb makes no call the user did not ask for.

Every refusal happens in Python before the socket call, so nothing here sends a packet off the machine:
203.0.113.1 and 2001:db8::1 are documentation addresses that are never routed anyway, and each test checks
that the guard is in place before it tries anything.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import threading

import nbformat
import pytest
import pytest_socket
import whisperkit_netguard as netguard
from nbclient import NotebookClient

OFF_MACHINE = [("203.0.113.1", 443), ("huggingface.co", 443)]  # TEST-NET-3, and the hub by name
blocked_warning = pytest.mark.filterwarnings("ignore:A test tried to use socket")

# Run in a child process: proves the guard is installed there, then tries one connection and one lookup
# off the machine (refused before any packet) and a loopback round trip (works).
CHILD_PROBE = textwrap.dedent("""
    import json, socket, whisperkit_netguard as netguard
    installed = netguard.installed()
    result = {"installed": installed}
    if all(installed.values()):  # never try anything off the machine unguarded
        try:
            socket.create_connection(("203.0.113.1", 443), timeout=1)
        except OSError as err:
            result["connect"] = type(err).__name__
        try:
            socket.getaddrinfo("huggingface.co", 443)
        except OSError as err:
            result["lookup"] = type(err).__name__
        with socket.create_server(("127.0.0.1", 0)) as server:
            with socket.create_connection(server.getsockname()) as client, server.accept()[0] as peer:
                client.sendall(b"ping")
                result["loopback"] = peer.recv(4).decode()
    print(json.dumps(result))
""")


def _echo_once(server: socket.socket) -> None:
    peer, _ = server.accept()
    with peer:
        peer.sendall(peer.recv(16))


def _round_trip(family: int, address) -> bytes:
    with socket.socket(family, socket.SOCK_STREAM) as server:
        server.bind(address)
        server.listen(1)
        thread = threading.Thread(target=_echo_once, args=(server,))
        thread.start()
        target = server.getsockname()
        if family != getattr(socket, "AF_UNIX", None) and address[0] == "localhost":
            target = ("localhost", target[1])  # by name, as clients often connect
        with socket.socket(family, socket.SOCK_STREAM) as client:
            client.settimeout(10)
            client.connect(target)
            client.sendall(b"ping")
            reply = client.recv(16)
        thread.join(10)
    return reply


def _guarded_here() -> None:
    assert socket.socket.connect is not pytest_socket._true_connect, "pytest-socket's connect guard is not active"
    assert netguard.installed()["lookups"], "the name-lookup guard is not installed"


@blocked_warning
@pytest.mark.parametrize("address", OFF_MACHINE, ids=["ip", "hostname"])
def test_a_connection_off_the_machine_is_refused_before_any_packet(address):
    _guarded_here()
    with socket.socket() as sock, pytest.raises(pytest_socket.SocketConnectBlockedError, match="allowed"):
        sock.connect(address)
    with pytest.raises(pytest_socket.SocketConnectBlockedError):
        socket.create_connection(("203.0.113.1", 443), timeout=1)
    try:
        ipv6 = socket.socket(socket.AF_INET6)
    except OSError:
        return  # no IPv6 on this machine
    with ipv6, pytest.raises(pytest_socket.SocketConnectBlockedError):
        ipv6.connect(("2001:db8::1", 443, 0, 0))


def test_a_lookup_of_a_remote_name_is_refused_and_recorded():
    """pytest-socket checks connect() only; a client that resolves a name first (urllib3, httpx) would
    send a DNS query before its connect is refused. The lookup guard refuses it, and records it."""
    _guarded_here()
    for lookup in (lambda: socket.getaddrinfo("huggingface.co", 443), lambda: socket.gethostbyname("example.com")):
        with pytest.raises(socket.gaierror, match="test network guard"):
            lookup()
    refused = netguard.take_refusals()  # taken here: left in the log they would fail this test
    assert len(refused) == 2 and "huggingface.co" in refused[0] and "example.com" in refused[1]
    assert socket.getaddrinfo("localhost", 80) and socket.getaddrinfo("127.0.0.1", 80) and socket.getaddrinfo(None, 80)
    assert netguard.lookup_stays_local(socket.gethostname())  # jupyter_client looks up this machine's name


def test_loopback_and_unix_sockets_work(tmp_path):
    _guarded_here()
    assert _round_trip(socket.AF_INET, ("127.0.0.1", 0)) == b"ping"
    assert _round_trip(socket.AF_INET, ("localhost", 0)) == b"ping"
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
        ipv6 = True
    except OSError:
        ipv6 = False  # no IPv6 loopback on this machine: nothing to check
    if ipv6:
        assert _round_trip(socket.AF_INET6, ("::1", 0)) == b"ping"
    assert _round_trip(socket.AF_UNIX, str(tmp_path / "echo.sock")) == b"ping"


def _child_result(text: str) -> dict:
    return json.loads(text.strip().splitlines()[-1])


def test_python_processes_the_tests_start_are_guarded():
    done = subprocess.run([sys.executable, "-c", CHILD_PROBE], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    result = _child_result(done.stdout)
    assert result == {"installed": {"lookups": True, "connections": True}, "connect": "ConnectionRefusedByGuard",
                      "lookup": "LookupRefusedByGuard", "loopback": "ping"}
    refused = netguard.take_refusals()
    assert len(refused) == 2 and "203.0.113.1" in refused[0] and "huggingface.co" in refused[1]


def test_kernels_are_guarded(tmp_path):
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(CHILD_PROBE)])
    NotebookClient(notebook, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
                   ).execute()
    [output] = notebook.cells[0].outputs
    assert _child_result(output["text"]) == {"installed": {"lookups": True, "connections": True},
                                             "connect": "ConnectionRefusedByGuard", "lookup": "LookupRefusedByGuard",
                                             "loopback": "ping"}
    refused = netguard.take_refusals()
    assert len(refused) == 2 and all("ipykernel" in line for line in refused), refused


def test_with_offline_mode_unset_only_the_asked_for_hub_download_is_attempted(tmp_path):
    """HF_HUB_OFFLINE, TRANSFORMERS_OFFLINE and PYANNOTE_METRICS_ENABLED unset, as on a user's machine: the
    offline diarization pipeline makes no attempt at all (no hub check, no pyannote telemetry); asking for
    the hub model tiny.en attempts the hub only, is refused before any packet, and falls back to its
    offline pack with a warning."""
    script = textwrap.dedent("""
        import json, warnings, whisperkit_netguard as netguard
        assert all(netguard.installed().values()), "unguarded: try nothing"
        from whisperkit_nb.speakers import diarize
        from whisperkit_nb.engines.weights import resolve_model
        from whisperkit_nb.options import TranscribeOptions

        diarize.load_pipeline(TranscribeOptions(diarize=True, device="cpu"))
        offline_pipeline = netguard.take_refusals()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            source = resolve_model("tiny.en").source
        print(json.dumps({"offline_pipeline": offline_pipeline, "source": source,
                          "warnings": [str(w.message) for w in caught]}))
    """)
    env = {k: v for k, v in os.environ.items()
           if k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "PYANNOTE_METRICS_ENABLED")}
    env["HF_HOME"] = str(tmp_path / "hf")  # an empty hub cache: nothing to answer from but the hub
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stderr
    result = _child_result(done.stdout)
    assert result["offline_pipeline"] == [], "the offline pipeline tried the network"
    assert result["source"] == "offline-pack"
    assert any("hub unreachable" in w for w in result["warnings"]), result["warnings"]
    refused = netguard.take_refusals()
    assert refused and all("huggingface.co" in line for line in refused), refused
