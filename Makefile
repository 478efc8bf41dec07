# Two commands for a newcomer: `make demo` and `make test`. Both build .venv first.
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt
# torch comes first and pinned: the CUDA build also runs on CPU-only machines.
TORCH  := torch==2.14.1 torchvision==0.29.1

.PHONY: install install-test browser demo test lint bench clean

install: $(VENV)/.installed-base
install-test: $(VENV)/.installed-test

$(VENV)/.installed-base: pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) --upgrade pip
	$(PIP) $(TORCH)
	$(PIP) -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed-base
	$(PIP) -e ".[test,totalseg]"
	touch $@

demo: install
	rm -rf demo-output
	$(VENV)/bin/scorekit demo --out demo-output

# Debian's Chromium for the web form's end-to-end test (Playwright drives it; no browser
# download). Needs root, as on CI; elsewhere install the package once by hand.
browser:
	command -v chromium >/dev/null || { apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium; }

test: install-test browser
	$(VENV)/bin/ruff check .
	$(VENV)/bin/python -m pytest

bench: install
	$(PY) benchmarks/run_all.py --quick

clean:
	rm -rf $(VENV) demo-output .pytest_cache .ruff_cache
