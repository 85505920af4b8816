# Shared by scripts/run and scripts/test (sourced, not executed): make .venv and install into it.
# A fresh Debian may lack python3-venv; as root we install it, otherwise we say what is missing.

ensure_venv() {
  if [ ! -x .venv/bin/python ]; then
    if ! python3 -m venv .venv 2>/dev/null; then
      rm -rf .venv
      if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
        apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null
        python3 -m venv .venv
      else
        echo "python3 -m venv failed: install Debian's python3-venv package" >&2
        exit 1
      fi
    fi
  fi
  .venv/bin/python -m pip install --quiet --upgrade pip
}

install_project() {
  # $1: the extras to install, e.g. "" or "[test]"
  .venv/bin/python -m pip install --quiet --editable ".$1"
}
