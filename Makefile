PYTHON ?= python

.PHONY: check lint test bench

# default: lint, then the tests
check: lint test

lint:
	$(PYTHON) -m ruff check .

test:
	$(PYTHON) -m pytest

bench:
	$(PYTHON) benchmarks/bench_ops.py --quick
