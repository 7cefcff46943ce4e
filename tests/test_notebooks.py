"""Every notebook in notebooks/, and the Colab notebook minus its cells tagged ``colab-only``, executed
headlessly in a real kernel, offline (nbclient). Executed copies go to test-artifacts/notebooks/.

The quickstart is the exception: tests/test_browser.py runs it in JupyterLab (Run All), checks what its cells
printed and wrote there, and drives its player; a second, headless run would only repeat that work."""

from __future__ import annotations

import nbformat
import pytest
from browser_support import ARTIFACTS, KERNEL_ENV, REPO
from nbclient import NotebookClient

NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
COLAB = REPO / "colab" / "whisperkit_colab.ipynb"
COLAB_ONLY = "colab-only"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"


def test_the_notebooks_are_there():
    assert {p.name for p in NOTEBOOKS} == {"quickstart.ipynb", "interview_corpus.ipynb"}, "each notebook has its test"
    assert COLAB.is_file()


def execute(path, tmp_path, monkeypatch) -> nbformat.NotebookNode:
    """Run ``path`` (without its colab-only cells) in a fresh kernel; cwd is a scratch copy of its folder."""
    for name, value in KERNEL_ENV.items():
        monkeypatch.setenv(name, value)  # the kernel inherits them
    notebook = nbformat.read(path, as_version=4)
    notebook.cells = [c for c in notebook.cells if COLAB_ONLY not in c.metadata.get("tags", [])]
    workdir = tmp_path / path.parent.name
    workdir.mkdir()
    (tmp_path / "tests").symlink_to(REPO / "tests")  # notebooks reach the fixture builders as ../tests
    client = NotebookClient(notebook, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(workdir)}})
    try:
        client.execute()
    finally:
        out = ARTIFACTS / "notebooks"
        out.mkdir(parents=True, exist_ok=True)
        nbformat.write(notebook, out / path.name)
    return notebook


def outputs(notebook) -> list[dict]:
    return [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]


def players(notebook) -> list[dict]:
    """Synced state of every transcript player the notebook displayed."""
    state = notebook.metadata.get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    shown = {o["data"][WIDGET_VIEW]["model_id"] for o in outputs(notebook) if WIDGET_VIEW in o.get("data", {})}
    return [state[m]["state"] for m in shown if m in state and "segments" in state[m]["state"]]


def test_interview_corpus(tmp_path, monkeypatch):
    notebook = execute(REPO / "notebooks" / "interview_corpus.ipynb", tmp_path, monkeypatch)
    [player] = players(notebook)
    assert player["title"].endswith("interview_1.wav") and len(player["speakers"]) >= 2
    assert any("image/png" in o.get("data", {}) for o in outputs(notebook)), "the matplotlib plot"
    html = "".join(o.get("data", {}).get("text/html", "") for o in outputs(notebook))
    assert "words_per_minute" in html and "keyword" in html
    printed = "".join(o.get("text", "") for o in outputs(notebook))
    assert "num_speakers=2: 2 speakers" in printed and "num_speakers=3: 3 speakers" in printed, "re-run diarization"


def test_colab_notebook_minus_colab_only_cells(tmp_path, monkeypatch):
    tagged = [c for c in nbformat.read(COLAB, as_version=4).cells if COLAB_ONLY in c.metadata.get("tags", [])]
    sources = "\n".join(c.source for c in tagged)
    for needs_colab in ("pip install", "drive.mount", "files.upload", "userdata.get", "enable_custom_widget_manager"):
        assert needs_colab in sources, needs_colab
    notebook = execute(COLAB, tmp_path, monkeypatch)
    [player] = players(notebook)
    assert len(player["segments"]) >= 5 and len(player["speakers"]) == 2


@pytest.mark.parametrize("path", [*NOTEBOOKS, COLAB], ids=lambda p: p.name)
def test_notebooks_are_committed_without_outputs(path):
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    code = [c for c in notebook.cells if c.cell_type == "code"]
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in code)
