# Sourced by scripts/test and scripts/serve: make .venv hold orcha (and an extra), installing when needed.
#   ensure_venv            # orcha alone
#   ensure_venv test       # orcha[test]
ensure_venv() {
  local extra="${1:-}" python="${PYTHON:-python3}" spec="." stamp
  if ! command -v "$python" >/dev/null 2>&1; then
    echo "== installing python3 (apt-get)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 python3-venv >/dev/null
  fi
  "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || {
    echo "orcha needs Python >= 3.11 (found: $("$python" --version 2>&1))" >&2
    return 1
  }
  if [ ! -x .venv/bin/python ]; then
    echo "== creating .venv" >&2
    "$python" -m venv .venv
  fi
  [ -n "$extra" ] && spec=".[$extra]"
  stamp=".venv/.orcha-installed${extra:+-$extra}"
  if [ -z "$extra" ] && [ -f .venv/.orcha-installed-test ] && [ .venv/.orcha-installed-test -nt pyproject.toml ]; then
    return 0  # the test install holds orcha too
  fi
  if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    echo "== installing orcha${extra:+[$extra]} into .venv" >&2
    .venv/bin/python -m pip install -q --upgrade pip >&2
    .venv/bin/python -m pip install -q -e "$spec" >&2
    touch "$stamp"
  fi
}
