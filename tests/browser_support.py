"""Shared by the notebook-layer tests: Debian's Chromium through Playwright, a JupyterLab server, the
offline environment for kernels, and a harness page that renders the player's ES module with a stand-in
widget model (no Jupyter needed)."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"  # Debian's; Playwright's own browser download is not reachable
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
    "--autoplay-policy=no-user-gesture-required",
]
# Kernels started by nbclient or JupyterLab: offline, fast demo model, caches inside the repo.
KERNEL_ENV = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "PYANNOTE_METRICS_ENABLED": "0",
    "WHISPERKIT_NB_DEMO_MODEL": os.environ.get("WHISPERKIT_NB_DEMO_MODEL", "tiny.en"),  # docs screenshot: base
    "WHISPERKIT_NB_CACHE": os.environ.get("WHISPERKIT_NB_CACHE", str(REPO / ".cache" / "whisperkit_nb")),
    "WHISPERKIT_NB_FIXTURES": os.environ.get("WHISPERKIT_NB_FIXTURES", str(REPO / ".cache" / "fixtures")),
    "MPLBACKEND": "module://matplotlib_inline.backend_inline",
}


@contextlib.contextmanager
def chromium() -> Iterator[object]:
    """A headless Debian Chromium driven by Playwright (fails, never skips, when either is missing)."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        raise RuntimeError(f"{CHROMIUM} not found: apt-get install chromium (make setup does)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


PLAYER_STATE = ("title", "audio_url", "duration", "peaks", "segments", "speakers", "colors", "speaker_names",
                "unsure_below", "silence_s", "can_undo", "can_redo", "static_key")


def render_player_page(browser, player, *, width: int = 1000, kernel: bool = False) -> object:
    """A page showing ``player`` through player.js with a stand-in model at ``window.model``.

    The stand-in keeps ``state`` (the synced traits), calls change handlers on ``set`` and counts
    ``save_changes`` calls, which is the whole model API the front end uses. With ``kernel=True`` it also
    has the comm's half: ``send`` hands the message to the real `Player` in this process, then delivers
    what the player sent back (``msg:custom``) and sets every trait that changed, as the comm would; a
    ``save_changes`` sends the changed traits to the player too.
    """
    from whisperkit_nb.notebook.player import HERE

    page = browser.new_page(viewport={"width": width, "height": 800})
    errors: list[str] = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    page.errors = errors
    page.set_content(f"<html><head><style>{(HERE / 'player.css').read_text()}</style></head>"
                     "<body><div id='host'></div></body></html>")
    state = {name: getattr(player, name) for name in PLAYER_STATE}
    if kernel:
        page.expose_function("wkKernel", lambda content: _deliver(player, content))
        page.expose_function("wkSync", lambda changed: _sync(player, changed))
    page.evaluate(
        """async ([source, state, kernel]) => {
          const module = await import(URL.createObjectURL(new Blob([source], { type: "text/javascript" })));
          const handlers = {};
          const fire = (event, ...args) => (handlers[event] || []).forEach((h) => h(...args));
          const apply = (reply) => {
            for (const [key, value] of Object.entries(reply.state)) {
              if (JSON.stringify(window.model.state[key]) === JSON.stringify(value)) continue;
              window.model.state[key] = value; // from the kernel: not sent back
              fire("change:" + key);
            }
            for (const content of reply.messages) fire("msg:custom", content, []);
          };
          window.model = {
            state, saved: 0, sent: [],
            get(key) { return this.state[key]; },
            set(key, value) {
              this.state[key] = value;
              this.dirty = { ...(this.dirty || {}), [key]: value };
              fire("change:" + key);
            },
            on(event, handler) { (handlers[event] = handlers[event] || []).push(handler); },
            off() {},
            async save_changes() {
              this.saved += 1;
              const dirty = this.dirty || {};
              this.dirty = {};
              if (kernel) apply(await window.wkSync(dirty));
            },
            async send(content) {
              this.sent.push(content);
              if (kernel) apply(await window.wkKernel(content));
            },
          };
          module.default.render({ model: window.model, el: document.getElementById("host") });
        }""",
        [(HERE / "player.js").read_text(), state, kernel],
    )
    page.wait_for_selector(".wk-player .wk-line")
    return page


def _replies(player) -> list:
    sent: list = []
    player.send = lambda content, buffers=None: sent.append(content)
    return sent


def _state(player, sent: list) -> dict:
    return {"state": {name: getattr(player, name) for name in PLAYER_STATE}, "messages": sent}


def _deliver(player, content: dict) -> dict:
    """The player's handling of one front-end message, as the comm would carry it back."""
    sent = _replies(player)
    player._message(player, content, [])
    return _state(player, sent)


def _sync(player, changed: dict) -> dict:
    sent = _replies(player)
    for name, value in changed.items():
        setattr(player, name, value)
    return _state(player, sent)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def jupyterlab(root: Path, token: str = "whisperkit-test") -> Iterator[str]:
    """JupyterLab on 127.0.0.1 (a free port, a known token, no browser) serving ``root``; yields its URL."""
    port = free_port()
    runtime = root / ".jupyter-runtime"
    settings = root / ".lab-settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True, exist_ok=True)
    (settings / "notification.jupyterlab-settings").write_text('{"fetchNews": "false", "checkForUpdates": false}')
    env = os.environ | KERNEL_ENV | {"JUPYTER_RUNTIME_DIR": str(runtime), "JUPYTER_CONFIG_DIR": str(root / ".jupyter"),
                                     "JUPYTER_DATA_DIR": str(root / ".jupyter-data"),
                                     "IPYTHONDIR": str(root / ".ipython"),
                                     "JUPYTERLAB_SETTINGS_DIR": str(root / ".lab-settings")}
    ARTIFACTS.mkdir(exist_ok=True)
    log = (ARTIFACTS / "jupyterlab.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
         "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
         f"--LabApp.workspaces_dir={root / '.workspaces'}", "--LabApp.news_url=", "--LabApp.extension_manager=readonly",
         "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate", "--ServerApp.terminals_enabled=False",
         "--LabApp.expose_app_in_browser=True",  # window.jupyterapp: run commands without clicking menus
         *(["--allow-root"] if os.geteuid() == 0 else [])],
        cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if server.poll() is not None:
                raise RuntimeError(f"JupyterLab exited with {server.returncode}; see {log.name}")
            try:
                with urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2) as reply:
                    json.load(reply)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"JupyterLab did not answer on {url} within 60 s; see {log.name}") from None
                time.sleep(0.5)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


def start_kernel_session(url: str, path: str, token: str = "whisperkit-test") -> str:
    """Start the notebook's python3 kernel through the server's REST API; returns the kernel id.

    A notebook opened while its session exists connects to that session: JupyterLab never shows its kernel
    chooser, which it does when a cold machine is still starting the kernel as the page asks for one. (The
    server reports the kernel "starting" until a client talks to it, so readiness is awaited on the page.)
    """
    body = json.dumps({"path": path, "name": path, "type": "notebook", "kernel": {"name": "python3"}}).encode()
    request = urllib.request.Request(f"{url}/api/sessions?token={token}", data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as reply:
        return json.load(reply)["kernel"]["id"]
