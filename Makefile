# One command each: `make train` and `make test` set everything up first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup train seed test gradcheck clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

## train the default (quick) preset on the shipped MNIST, print the test accuracy
train: $(STAMP)
	$(BIN)/digitnet train --out runs/quick

## the classic recipe from the blog post, then the evaluation it never had
seed: $(STAMP)
	$(BIN)/digitnet train --preset seed --out runs/seed

gradcheck: $(STAMP)
	$(BIN)/digitnet gradcheck

## every test
test: $(STAMP)
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) runs .pytest_cache
