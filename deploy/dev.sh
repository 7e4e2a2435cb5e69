#!/usr/bin/env bash
# One entry for a fresh machine: installs what is missing, then runs the main job or the tests.
#   bash deploy/dev.sh main   # the main job
#   bash deploy/dev.sh test   # lint, type-check and the test suite
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.venv
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
stamp="$venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)"
if [ ! -f "$stamp" ]; then
    "$venv/bin/pip" install --quiet --upgrade pip
    "$venv/bin/pip" install --quiet -e '.[dev]'
    touch "$stamp"
fi
export PATH="$PWD/$venv/bin:$PATH"
case "${1:-}" in
    main)
        shift
        exec gateway demo "$@"
        ;;
    test)
        shift
        ruff check gateway tests bench simulator
        ruff format --check gateway tests bench simulator
        mypy
        # The viewer's browser tests drive Debian's chromium; they skip without it.
        if ! command -v chromium >/dev/null; then
            (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) \
                >/dev/null 2>&1 || echo "chromium not installed: browser tests will skip" >&2
        fi
        exec pytest "$@"
        ;;
    *)
        echo "usage: bash deploy/dev.sh main|test [args...]" >&2
        exit 2
        ;;
esac
