# Two commands: `make demo` and `make test`. Each sets up everything on a fresh Debian machine
# with Python 3.11 (system packages via apt-get when missing, a .venv with the project editable).

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
SYS_PKGS := iverilog ngspice libngspice0 libngspice0-dev verilator
PYTEST_ARGS ?=

.PHONY: demo test quick setup sysdeps lint bench clean

demo: setup
	$(VENV)/bin/neuropaste demo --out demo-out

test: setup
	$(PY) -m pytest -n 2 --dist worksteal $(PYTEST_ARGS)

quick: setup
	$(PY) -m pytest -n 2 --dist worksteal -m "not slow" $(PYTEST_ARGS)

lint: setup
	$(VENV)/bin/ruff check .

setup: sysdeps $(STAMP)

sysdeps:
	@need=""; \
	for tool in iverilog ngspice verilator; do command -v $$tool >/dev/null 2>&1 || need=1; done; \
	ls /usr/lib/*/libngspice.so /usr/lib/libngspice.so >/dev/null 2>&1 || need=1; \
	$(PYTHON) -c "import ensurepip" >/dev/null 2>&1 || extra=python3-venv; \
	if [ -n "$$need$$extra" ]; then \
		sudo=""; [ "$$(id -u)" -ne 0 ] && sudo=sudo; \
		echo "installing system packages: $(SYS_PKGS) $$extra"; \
		$$sudo apt-get update -qq && \
		$$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
			$(SYS_PKGS) $$extra; \
	fi

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

bench: setup
	$(PY) bench/reference.py

clean:
	rm -rf demo-out build .pytest_cache
