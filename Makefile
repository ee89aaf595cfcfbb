# The two commands a new machine needs: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 5000
DEMO_CUSTOMERS ?= 2000

.PHONY: install run serve test bench clean translations browser

$(BIN)/.installed: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

install: $(BIN)/.installed

# Browser tests drive Debian's Chromium (Playwright never downloads a browser: closed
# networks). Installed here when missing and we are root; otherwise the browser tests say
# why they cannot run (they fail under CI=true, skip elsewhere). Quick when installed.
CHROMIUM ?= /usr/bin/chromium
BROWSER_PACKAGES := chromium fonts-noto-cjk

browser:
	@if [ -x $(CHROMIUM) ] && { ! command -v dpkg >/dev/null || \
			dpkg -s $(BROWSER_PACKAGES) >/dev/null 2>&1; }; then \
		exit 0; \
	elif [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then \
		echo "make browser: $(CHROMIUM) or CJK fonts missing and not root with apt-get:" \
			"install $(BROWSER_PACKAGES) yourself, or the browser tests cannot run"; \
	else \
		echo "make browser: installing $(BROWSER_PACKAGES) (Debian packages)"; \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get install -y -q $(BROWSER_PACKAGES) </dev/null \
		|| { apt-get update -q </dev/null \
		     && apt-get install -y -q $(BROWSER_PACKAGES) </dev/null; } \
		|| echo "make browser: could not install $(BROWSER_PACKAGES);" \
			"the browser tests will report it"; \
	fi

# Migrate the embedded SQLite database, load the demo bank through the feed pipeline
# (exit 3 = designed data-quality cases quarantined, expected), add demo workbench activity
# and three months of AUM history, run the nightly jobs (balances, generated tasks, won
# opportunities confirmed, tier evaluation and its follow-ups), then serve.
run: install
	$(BIN)/crm db upgrade
	$(BIN)/crm demo --customers $(DEMO_CUSTOMERS) || [ $$? -eq 3 ]
	$(BIN)/crm users demo --customers $(DEMO_CUSTOMERS)
	$(BIN)/crm workbench demo
	$(BIN)/crm tiers backfill --months 3
	$(BIN)/crm nightly
	$(BIN)/crm stats
	$(MAKE) --no-print-directory serve

serve: install
	@echo ""
	@echo "  CRM portal: http://$(HOST):$(PORT)/login"
	@echo "  Sign in as rm0001 (relationship manager), bm0001 (branch manager),"
	@echo "  ho0001 (analyst) or admin, password crm-demo-2026 (see 'crm users list')."
	@echo "  Feeds:      $(BIN)/crm batches   |   $(BIN)/crm quarantine list"
	@echo ""
	$(BIN)/gunicorn --bind $(HOST):$(PORT) --workers 2 --timeout 120 --access-logfile - wsgi:app

# The suite on SQLite and, when CRM_TEST_DATABASE_URL is set, the same suite on PostgreSQL at
# the same time (one core each; each run's output is shown when both have finished).
test: install browser
	@mkdir -p build
	@if [ -n "$$CRM_TEST_DATABASE_URL" ]; then \
		echo "== the suite on SQLite and on $$CRM_TEST_DATABASE_URL, side by side =="; \
		env -u CRM_TEST_DATABASE_URL $(BIN)/python -m pytest -q -p no:cacheprovider \
			> build/test-sqlite.log 2>&1 & lite=$$!; \
		$(BIN)/python -m pytest -q -p no:cacheprovider > build/test-postgresql.log 2>&1; \
		pg=$$?; wait $$lite; sqlite=$$?; \
		echo "== SQLite (exit $$sqlite) =="; cat build/test-sqlite.log; \
		echo "== PostgreSQL (exit $$pg) =="; cat build/test-postgresql.log; \
		[ $$sqlite -eq 0 ] && [ $$pg -eq 0 ]; \
	else \
		env -u CRM_TEST_DATABASE_URL $(BIN)/python -m pytest -q -p no:cacheprovider \
		&& echo "CRM_TEST_DATABASE_URL is not set: PostgreSQL run skipped"; \
	fi

# After adding or changing user-visible text: refresh the Chinese catalogue, then translate
# the new entries in portal/translations/zh/LC_MESSAGES/messages.po (a test lists any missing).
translations: install
	mkdir -p build
	$(BIN)/pybabel extract -F babel.cfg -k _l -o build/messages.pot .
	$(BIN)/pybabel update -i build/messages.pot -d portal/translations -l zh --no-fuzzy-matching

bench: install
	$(BIN)/python bench/ingest.py --customers 20000 --transactions 100000

clean:
	rm -rf $(VENV) build *.egg-info instance .pytest_cache
