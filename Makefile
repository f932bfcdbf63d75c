# pantiny_qgis developer tasks (GNU make).  Every target is idempotent and bootstraps
# what is missing on a fresh Debian 12 machine (see README.md, "Development environment").
#
#   make bootstrap   system packages, .venv, pip requirements, isolated QGIS profile .qgis/
#   make test        the whole pytest suite, headless (PYTEST_ARGS="-k foo" to narrow it)
#   make demo        scripts/demo.sh
#   make package     dist/pantiny_qgis-<version>.zip for the QGIS plugin repository
#   make clean       remove build outputs, caches and scratch folders (keeps .venv, .qgis)
#   make distclean   clean + remove .venv and the QGIS profile .qgis/

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := test
.DELETE_ON_ERROR:
.ONESHELL:

ROOT := $(patsubst %/,%,$(dir $(abspath $(lastword $(MAKEFILE_LIST)))))
VENV := $(ROOT)/.venv
PYTHON := $(VENV)/bin/python
REQ_STAMP := $(VENV)/.pantiny-requirements.sha256
PROFILE_INI := $(ROOT)/.qgis/profiles/default/QGIS/QGIS3.ini
PYTEST_ARGS ?=

# Debian packages the project needs (QGIS + bindings, GDAL, Xvfb for screenshots, venv,
# Chromium: a test renders the HTML report in a real browser, offline).
APT_PACKAGES := qgis python3-qgis qgis-providers python3-gdal gdal-bin python3-yaml \
	xvfb xauth python3-venv chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
ENV := source "$(ROOT)/env.sh"

.PHONY: bootstrap system-packages venv requirements profile test demo package clean distclean

bootstrap: system-packages venv requirements profile

# Install only when something is missing (no apt call at all on a ready machine).
system-packages:
	@missing=""
	for pkg in $(APT_PACKAGES); do
	  dpkg-query -W -f='$${Status}' "$$pkg" 2>/dev/null | grep -q 'install ok installed' \
	    || missing="$$missing $$pkg"
	done
	if [ ! -x /usr/bin/qgis_process.bin ] && [ -z "$$missing" ]; then missing="qgis"; fi
	if [ -n "$$missing" ]; then
	  echo "bootstrap: installing Debian packages:$$missing"
	  export DEBIAN_FRONTEND=noninteractive
	  $(SUDO) apt-get update
	  $(SUDO) apt-get install -y --no-install-recommends $(APT_PACKAGES)
	fi
	/usr/bin/python3 -c 'from osgeo import gdal; import qgis.core, yaml' \
	  || { echo "bootstrap: Debian's python3 cannot import GDAL/QGIS/yaml" >&2; exit 1; }

venv: system-packages
	@if [ ! -x "$(PYTHON)" ]; then
	  echo "bootstrap: creating $(VENV) from /usr/bin/python3 (--system-site-packages)"
	  /usr/bin/python3 -m venv --system-site-packages "$(VENV)"
	fi

# Reinstall only when requirements-dev.txt or constraints.txt changed (hash stamp).
requirements: venv
	@want=$$(cat "$(ROOT)/requirements-dev.txt" "$(ROOT)/constraints.txt" | sha256sum | cut -d' ' -f1)
	if [ "$$(cat "$(REQ_STAMP)" 2>/dev/null)" != "$$want" ]; then
	  echo "bootstrap: pip install -c constraints.txt -r requirements-dev.txt"
	  "$(PYTHON)" -m pip install -c "$(ROOT)/constraints.txt" -r "$(ROOT)/requirements-dev.txt"
	  echo "$$want" > "$(REQ_STAMP)"
	fi

profile: venv
	@$(ENV)
	"$(PYTHON)" "$(ROOT)/scripts/enable_plugin.py" "$$QGIS_CUSTOM_CONFIG_PATH" pantiny_qgis >/dev/null

test: bootstrap
	@$(ENV)
	cd "$(ROOT)"
	"$(PYTHON)" -m pytest $(PYTEST_ARGS)

demo: bootstrap
	@$(ENV)
	cd "$(ROOT)"
	bash scripts/demo.sh

package: bootstrap
	@cd "$(ROOT)"
	"$(PYTHON)" scripts/package.py --out dist

clean:
	@cd "$(ROOT)"
	rm -rf .qgis-settings .run .home dist build .pytest_cache demo-output
	find . \( -path ./.git -o -path ./.venv \) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +

distclean: clean
	@cd "$(ROOT)"
	rm -rf .venv .qgis
