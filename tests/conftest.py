"""Test-wide setup: everything offline, caches inside the repo, fixtures built once per session.

No network: pytest-socket (``--allow-hosts`` and ``--allow-unix-socket`` in pyproject's addopts) refuses
connections from this process to anything but loopback; netguard/ refuses name lookups of remote hosts here,
and connections and lookups in every Python process the tests start (PYTHONPATH). A test during which the
guard refused anything fails, even when the code under test swallowed the error.
"""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# Set before anything imports huggingface_hub or pyannote: tests never touch the network.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["PYANNOTE_METRICS_ENABLED"] = "0"
os.environ.setdefault("WHISPERKIT_NB_CACHE", str(REPO / ".cache" / "whisperkit_nb"))
os.environ.setdefault("WHISPERKIT_NB_FIXTURES", str(REPO / ".cache" / "fixtures"))
sys.path.insert(0, str(Path(__file__).parent))

# Fresh Jupyter and IPython folders for every test session: settings, kernelspecs, runtime files or startup
# scripts left in the user's home by earlier runs (or by the user) never change what the tests see.
_JUPYTER_HOME = Path(tempfile.mkdtemp(prefix="whisperkit-jupyter-"))
atexit.register(shutil.rmtree, _JUPYTER_HOME, ignore_errors=True)
for _name, _folder in (("JUPYTER_CONFIG_DIR", "config"), ("JUPYTER_DATA_DIR", "data"),
                       ("JUPYTER_RUNTIME_DIR", "runtime"), ("IPYTHONDIR", "ipython")):
    os.environ[_name] = str(_JUPYTER_HOME / _folder)
os.environ["JUPYTER_PLATFORM_DIRS"] = "1"  # jupyter_core's future default; silences its deprecation warning

# `make test` runs the modules on pytest-xdist workers (one module per worker at a time). Each worker gets its
# share of the cores, set before torch loads, and so do the kernels and CLIs it starts (both engines and the VAD
# follow torch's count): two workers of 2 threads each on 2 cores would have OpenMP threads spin-waiting for a
# descheduled partner (see `one_torch_thread`), while a thread each keeps both cores busy.
XDIST_WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
if os.environ.get("PYTEST_XDIST_WORKER") and XDIST_WORKERS > 1:
    os.environ["OMP_NUM_THREADS"] = str(max(1, len(os.sched_getaffinity(0)) // XDIST_WORKERS))

import pytest  # noqa: E402

NETGUARD = Path(__file__).parent / "netguard"
CONTROLLER_LOG = pytest.StashKey[str | None]()
LOOPBACK_ONLY = "--allow-hosts=127.0.0.0/8,::1,localhost --allow-unix-socket"
sys.path.insert(0, str(NETGUARD))
import whisperkit_netguard as netguard  # noqa: E402


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    if config.getoption("--force-enable-socket"):
        return  # pytest-socket's explicit opt-out turns every guard off
    if not config.getoption("--allow-hosts") or not config.getoption("--allow-unix-socket"):
        raise pytest.UsageError(f"the tests run with sockets limited to loopback ({LOOPBACK_ONLY}, "
                                "pyproject.toml addopts); an overridden addopts lost them")
    # Each xdist worker keeps its own log, so a refusal fails its own test; the controller's log (inherited)
    # takes what a worker's last teardowns left, for the controller's `pytest_sessionfinish` to report.
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    config.stash[CONTROLLER_LOG] = os.environ.get(netguard.LOG_ENV) if worker else None
    if not os.environ.get(netguard.LOG_ENV) or config.stash[CONTROLLER_LOG]:
        handle, log = tempfile.mkstemp(prefix="whisperkit-netguard-", suffix=".log")
        os.close(handle)
        atexit.register(lambda: os.path.exists(log) and os.remove(log))
        os.environ[netguard.LOG_ENV] = log
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(NETGUARD), os.environ.get("PYTHONPATH")]))
    netguard.install(connections=False)  # connect() in this process is pytest-socket's to guard


# The modules that take longest, longest first (their seconds in fresh-clone `make test` runs, 2026-12-06: from
# 229 s down to 60 s); the others follow in file order. `--dist loadfile` hands the workers whole modules in
# collection order (the Makefile turns off xdist's own order, by number of tests, which put test_exports' 83 quick
# tests first and left a long module to start last while the other worker sat idle: 60-80 s of the wall time).
SLOWEST_MODULES = ("test_faults_interrupts", "test_quality", "test_corpus", "test_words", "test_features_decoding",
                   "test_transcribe_e2e", "test_ct2_engine", "test_notebooks", "test_diarize", "test_faults_secrets",
                   "test_faults_memory", "test_bench_smoke", "test_faults_oom", "test_torch_encoder", "test_browser",
                   "test_speaker_samples", "test_transformers_e2e")


def pytest_collection_modifyitems(items):
    rank = {name: index for index, name in enumerate(SLOWEST_MODULES)}
    items.sort(key=lambda item: rank.get(item.path.stem, len(rank)))  # stable: each module keeps its order


@pytest.fixture(autouse=True)
def _nothing_left_the_machine():
    """Fails the test if the guard refused a connection or lookup, here or in a process it started."""
    yield
    refused = netguard.take_refusals()
    if refused:
        pytest.fail("the network guard refused (nothing may leave the machine):\n" + "\n".join(refused))


def pytest_sessionfinish(session):
    refused = netguard.take_refusals()  # during the teardowns after the last test (kernels, servers)
    controller_log = session.config.stash.get(CONTROLLER_LOG, None)
    if refused and controller_log:
        with open(controller_log, "a", encoding="utf-8") as log:
            log.writelines(f"{os.environ['PYTEST_XDIST_WORKER']}: {line}\n" for line in refused)
    elif refused:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line("the network guard refused, after the last test:\n" + "\n".join(refused), red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(scope="module")
def one_torch_thread():
    """One torch intra-op thread while a module runs (modules ask for it with ``pytestmark``).

    On a shared 2-core runner, OpenMP threads that spin-wait for a descheduled partner make small batches
    5-10x slower (measured: one tiny.en batch 13 s instead of 1.1 s; a 3 s clip 4.8 s instead of 0.7 s;
    pyannote on the flite conversation over 100 s instead of 44 s), while one thread is steady.
    """
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def shell():
    """A real IPython shell with ``%load_ext whisperkit_nb`` run: the magics, the panels' refresh after each
    cell and the transcript DataFrame display, as in a notebook's kernel."""
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "whisperkit_nb")
    return shell


@pytest.fixture(scope="session")
def librivox():
    from assets import librivox_concat

    return librivox_concat()


@pytest.fixture(scope="session")
def sample():
    from assets import pyannote_sample

    return pyannote_sample()


@pytest.fixture(scope="session")
def long_english():
    """Five minutes of real English prompts with a 60 s digital-silence stretch inside."""
    from assets import asterisk_long

    return asterisk_long(minutes=5.0, silence_s=60.0)
