#!/usr/bin/env bash
# Placeholder: the end-to-end demo is written later.
set -euo pipefail
echo "demo not yet implemented"
exit 1
