# Two commands matter: `make run` and `make test`. Everything else is what they call.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 5000

.PHONY: install run serve test lint browser bench bench-messages bench-insights drill mutate clean translations

install: $(VENV)/.installed

# Re-installs only when the dependency list changes; safe to run any number of times.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip 'setuptools>=78.1.1'
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

run: install
	$(BIN)/python -m app.bootstrap
	$(BIN)/flask --app wsgi db upgrade
	$(BIN)/flask --app wsgi demo seed
	$(BIN)/flask --app wsgi journeys publish --skip-invalid rulesets/*.yaml
	$(BIN)/flask --app wsgi rewards seeds publish > /dev/null
	# A made-up year of taps, rewards and messages, so the dashboard has something to show.
	AFTERTAP_DEMO=true $(BIN)/flask --app wsgi demo history --owners 1000 --days 365 --if-absent
	$(BIN)/flask --app wsgi insights refresh > /dev/null
	@echo ""
	@echo "Demo tap links (each works once, as a real tap does; reload one to see a replay):"
	@$(BIN)/flask --app wsgi demo links --base-url http://$(HOST):$(PORT)
	@echo ""
	@echo "More taps: http://$(HOST):$(PORT)/demo  or  $(BIN)/aftertap-tap SERIAL"
	@echo "Journey preview: http://$(HOST):$(PORT)/admin/preview  (user admin, password in instance/admin_password)"
	@echo "Dashboard and integrity alerts: http://$(HOST):$(PORT)/admin/insights  and  /admin/alerts (same user)"
	@echo "Owners' emails (confirmation, recovery links) are sent by the mail worker; they land in instance/outbox/ until AFTERTAP_SMTP_HOST is set."
	@echo "Rewards, odds and draw commitments: http://$(HOST):$(PORT)/rewards/terms/maison-aurelia"
	@echo "Serving on http://$(HOST):$(PORT)  (Ctrl-C to stop)"
	AFTERTAP_DEMO=true AFTERTAP_PUBLIC_BASE_URL=http://$(HOST):$(PORT) AFTERTAP_BIND=$(HOST):$(PORT) \
		$(BIN)/honcho --procfile Procfile start

# Built-in words: extract them into translations/messages.pot, merge into each language's .po,
# then compile the .mo files (committed: a clean clone serves every language; a test checks they
# match their .po). New language: pybabel init -i translations/messages.pot -d translations -l xx
translations: install
	$(BIN)/pybabel extract -F babel.cfg -k _l -k lazy_gettext -k translate_count:1,2 -o translations/messages.pot --no-location --omit-header .
	$(BIN)/pybabel update -i translations/messages.pot -d translations --no-fuzzy-matching --omit-header
	# --use-fuzzy: a .po without its header reads as fuzzy; no entry is (--no-fuzzy-matching).
	$(BIN)/pybabel compile -d translations --statistics --use-fuzzy

# Debian's Chromium for the browser tests (Playwright must not download a browser of its own).
browser:
	@scripts/ensure-chromium

# The whole suite on SQLite and PostgreSQL, then branch coverage of app/ (floor in pyproject.toml).
test: install browser
	$(BIN)/pytest --cov --cov-report=term

# ruff (style and bugs), import-linter (layers only point down; domains never import each other),
# mypy (types) on app/.
lint: install
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/mypy

# Where a tap's time goes (round trips, profile; in-process), then the tap under load beside the
# verify-only page (exits 1 while a target is missed).
bench: install
	$(BIN)/python bench/tap_inprocess.py --backend postgresql
	$(BIN)/python bench/tap_throughput.py --worker-class sync --workers 3 --threads 1

# Scheduled messages at scale (not in CI, a few minutes): 1,000,000 ownerships in a fresh
# PostgreSQL database, one tick of 50,000, two workers delivering 10,000 to a local SMTP sink.
bench-messages: install
	$(BIN)/python bench/messages_throughput.py

# Insights refresh (not in CI, about 4 min): 60 days of 30,000 taps a day in a fresh PostgreSQL
# database caught up, then one more day's refresh timed (target <= 2 s).
bench-insights: install
	$(BIN)/python bench/insights_refresh.py

# Fault drill (not in CI, about 90 s): a private PostgreSQL cluster, taps, reveals and owner pages
# under load, worker SIGKILLs and a database crash-restart, then every invariant from the database.
drill: install
	$(BIN)/python bench/fault_drill.py

# Mutation testing (not in CI; some 3,200 mutants at about one a second): mutmut mutates the
# security-critical modules and runs each mutant against their tests ([tool.mutmut] in
# pyproject.toml), then prints the score per module. What survives, and why: docs/testing.md.
mutate: install
	$(BIN)/mutmut run --max-children 2
	$(BIN)/python scripts/mutation_scores.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis test-artifacts
