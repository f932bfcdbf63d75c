# shellcheck shell=bash
# Environment for running QGIS headless against this checkout (see
# shared spec "QGIS platform reference", section 3).  Usage, from anywhere:
#
#     source env.sh            # bash or zsh
#     qgis_process plugins     # shell function calling /usr/bin/qgis_process.bin
#
# HOME is pointed at the scratch folder .home/ because QGIS writes ~/.cache/QGIS and
# ~/.config/Unknown Organization/ even with a custom profile.  Set PANTINY_KEEP_HOME=1
# before sourcing to keep your real HOME (the original is saved in PANTINY_REAL_HOME).

if [ -n "${BASH_SOURCE:-}" ]; then
    PANTINY_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
elif [ -n "${ZSH_VERSION:-}" ]; then
    # shellcheck disable=SC2296
    PANTINY_ROOT="$(cd "$(dirname "${(%):-%x}")" && pwd)"
else
    PANTINY_ROOT="${PANTINY_ROOT:-$PWD}"
fi
export PANTINY_ROOT

# Qt must not look for an X server (status 134 otherwise).
export QT_QPA_PLATFORM=offscreen
# Private runtime dir, mode 0700 as Qt expects.
export XDG_RUNTIME_DIR="$PANTINY_ROOT/.run"
mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"
# Isolated QGIS profile (profiles/default/QGIS/QGIS3.ini enables the plugin).
export QGIS_CUSTOM_CONFIG_PATH="$PANTINY_ROOT/.qgis"
# The folder that CONTAINS pantiny_qgis/.
export QGIS_PLUGINPATH="$PANTINY_ROOT"
# qgis_process derives its embedded Python prefix from the first python3 on PATH:
# the venv (built from /usr/bin/python3) must come first, and only once.
case ":$PATH:" in
    *":$PANTINY_ROOT/.venv/bin:"*) ;;
    *) export PATH="$PANTINY_ROOT/.venv/bin:$PATH" ;;
esac
if [ "${PANTINY_KEEP_HOME:-0}" != "1" ] && [ "${HOME:-}" != "$PANTINY_ROOT/.home" ]; then
    export PANTINY_REAL_HOME="${HOME:-}"
    export HOME="$PANTINY_ROOT/.home"
fi
mkdir -p "$HOME"

# Never the Debian wrapper /usr/bin/qgis_process (it passes --noversioncheck).
qgis_process() { /usr/bin/qgis_process.bin "$@"; }
