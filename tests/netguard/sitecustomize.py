"""Puts the test network guard (whisperkit_netguard) into every Python process started with this folder on
PYTHONPATH: conftest.py adds it for the whole test session, so kernels, JupyterLab and the CLI run guarded.

It shadows any other sitecustomize (the test virtualenv's interpreter has none)."""

import whisperkit_netguard

whisperkit_netguard.install()
