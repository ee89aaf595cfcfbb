# The two commands a new machine needs: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 5000
DEMO_CUSTOMERS ?= 2000

.PHONY: install run serve test bench clean

$(BIN)/.installed: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

install: $(BIN)/.installed

# Migrate the embedded SQLite database, load the demo bank through the feed pipeline
# (exit 3 = designed data-quality cases quarantined, expected), then serve.
run: install
	$(BIN)/crm db upgrade
	$(BIN)/crm demo --customers $(DEMO_CUSTOMERS) || [ $$? -eq 3 ]
	$(BIN)/crm users demo --customers $(DEMO_CUSTOMERS)
	$(BIN)/crm stats
	$(MAKE) --no-print-directory serve

serve: install
	@echo ""
	@echo "  CRM portal: http://$(HOST):$(PORT)/login"
	@echo "  Sign in as rm0001 (relationship manager), bm0001 (branch manager),"
	@echo "  ho0001 (analyst) or admin, password crm-demo-2026 (see 'crm users list')."
	@echo "  Feeds:      $(BIN)/crm batches   |   $(BIN)/crm quarantine list"
	@echo ""
	$(BIN)/gunicorn --bind $(HOST):$(PORT) --workers 2 --access-logfile - wsgi:app

test: install
	env -u CRM_TEST_DATABASE_URL $(BIN)/python -m pytest -q -p no:cacheprovider
	@if [ -n "$$CRM_TEST_DATABASE_URL" ]; then \
		echo "== the same suite on $$CRM_TEST_DATABASE_URL =="; \
		$(BIN)/python -m pytest -q -p no:cacheprovider; \
	else echo "CRM_TEST_DATABASE_URL is not set: PostgreSQL run skipped"; fi

bench: install
	$(BIN)/python bench/ingest.py --customers 20000 --transactions 100000

clean:
	rm -rf $(VENV) build *.egg-info instance .pytest_cache
