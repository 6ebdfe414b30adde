# Two entry points for a fresh machine (see README):
#   make demo   install, then run the main job on the embedded store
#   make test   install, then lint, type-check, start Neo4j and run every test
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
NEO4J_HOME ?= .neo4j/test
NEO4J_PORT ?= 7697

.PHONY: install demo test lint neo4j-start neo4j-stop bench clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(BIN)/.installed

demo: install
	$(BIN)/ringfence demo --accounts 100000 --seed 7 --out demo-out

lint: install
	$(BIN)/ruff check ringfence tests bench
	$(BIN)/mypy

# Neo4j is provisioned from Maven Central and started by the project itself;
# the test session reads its address and password from $(NEO4J_HOME)/env.
test: lint
	$(BIN)/ringfence neo4j start --home $(NEO4J_HOME) --port $(NEO4J_PORT) \
		--env-file $(NEO4J_HOME)/env > /dev/null
	set -a; . $(NEO4J_HOME)/env; set +a; \
		$(BIN)/python -m pytest -q -p no:cacheprovider; rc=$$?; \
		$(BIN)/ringfence neo4j stop --home $(NEO4J_HOME); exit $$rc

clean:
	rm -rf demo-out .pytest_cache .mypy_cache .ruff_cache
