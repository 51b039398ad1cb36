# Maestro: `make setup` once, then `make test`. See README.md.
VENV ?= .venv
PY := $(VENV)/bin/python
# DDS stays on this machine; each run gets its own domain unless the caller chose one.
export ROS_AUTOMATIC_DISCOVERY_RANGE := LOCALHOST
export ROS_DOMAIN_ID ?= $(shell echo $$(( $$$$ % 100 + 1 )))

.PHONY: setup setup-ray setup-libero test test-unit test-ros lint format clean bench bench-modules scenes demo bench-agent bench-sandbox bench-idle bench-programs bench-map

setup:
	bash scripts/setup.sh

# Optional: Ray for `maestro eval SPEC --executor ray` (~80 MB download, ~250 MB installed). Idempotent.
setup-ray:
	$(PY) -m pip install -q -e '.[ray]'

# Optional: LIBERO as a robot (`maestro launch libero`): its own venv .venv-libero (~2 GB; LIBERO needs
# mujoco 2.3.7 and numpy 1.26). Idempotent, pinned (requirements/libero.txt).
setup-libero:
	bash scripts/setup_libero.sh

test:
	@MAESTRO_VENV=$(VENV) bash scripts/check_env.sh
	$(PY) -m pytest test

test-unit:
	@MAESTRO_VENV=$(VENV) bash scripts/check_env.sh
	$(PY) -m pytest test/unit

test-ros:
	@MAESTRO_VENV=$(VENV) bash scripts/check_env.sh
	$(PY) -m pytest test/ros

lint:
	@MAESTRO_VENV=$(VENV) bash scripts/check_env.sh
	$(PY) -m ruff check . && $(PY) -m ruff format --check .

format:
	$(PY) -m ruff format . && $(PY) -m ruff check --fix .

clean:
	rm -rf build install log .pytest_cache test-artifacts

bench:
	@MAESTRO_VENV=$(VENV) bash scripts/check_env.sh
	$(PY) bench/sim_bench.py

scenes:
	@MAESTRO_VENV=$(VENV) bash scripts/check_env.sh
	$(VENV)/bin/maestro scenes --out scenes

bench-modules:
	@MAESTRO_VENV=$(VENV) bash scripts/check_env.sh
	$(PY) bench/modules_bench.py

demo:
	@MAESTRO_VENV=$(VENV) bash scripts/check_env.sh
	MAESTRO_VENV=$(VENV) bash scripts/demo.sh

bench-agent:
	@MAESTRO_VENV=$(VENV) bash scripts/check_env.sh
	$(PY) bench/agent_bench.py

bench-sandbox:
	@MAESTRO_VENV=$(VENV) bash scripts/check_env.sh
	$(PY) bench/sandbox_bench.py

bench-idle:
	@MAESTRO_VENV=$(VENV) bash scripts/check_env.sh
	$(PY) bench/idle_bench.py

bench-programs:
	@MAESTRO_VENV=$(VENV) bash scripts/check_env.sh
	$(PY) bench/program_sweep.py

bench-map:
	@MAESTRO_VENV=$(VENV) bash scripts/check_env.sh
	$(PY) bench/map_bench.py
