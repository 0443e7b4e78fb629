#!/usr/bin/env bash
# Install Google Research Football (gfootball 2.10.2) into the project's .venv.
#
# Why a script and not just `pip install -e ".[football]"`: gfootball has no wheels on PyPI, its
# native engine needs Debian libraries, and its build script imports psutil, which pip's isolated
# build environment does not have, so it must be built with --no-build-isolation. The build takes
# ~10 minutes on 2 cores; the built wheel is cached (GFOOTBALL_WHEEL_CACHE, default
# ~/.cache/lookahead/wheels), so a second install only reinstalls it (seconds).
#
# Idempotent: every step is skipped or is a no-op when already done. Runs as root or with sudo for
# the Debian step; set GFOOTBALL_SKIP_APT=1 to skip it (e.g. when the libraries are known present).
set -euo pipefail
cd "$(dirname "$0")/.."

GFOOTBALL_VERSION=2.10.2
CACHE=${GFOOTBALL_WHEEL_CACHE:-$HOME/.cache/lookahead/wheels}
export MAKEFLAGS=${MAKEFLAGS:--j2}
export DEBIAN_FRONTEND=noninteractive

STEP="starting"
trap 'rc=$?; echo "install_football.sh: FAILED at step \"$STEP\": \`$BASH_COMMAND\` exited with code $rc (its output is above)." >&2; exit $rc' ERR

step() { STEP="$1"; echo "==> $1"; }

# The Debian libraries of ENVIRONMENTS.md (build tools, SDL2, boost, GL, python headers).
DEB_PACKAGES=(git cmake build-essential libgl1-mesa-dev libsdl2-dev libsdl2-image-dev
  libsdl2-ttf-dev libsdl2-gfx-dev libboost-all-dev libdirectfb-dev libst-dev mesa-utils xvfb
  x11vnc python3-dev)

if [ "${GFOOTBALL_SKIP_APT:-0}" != 1 ]; then
  step "check Debian packages"
  missing=()
  for p in "${DEB_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    step "apt-get install ${missing[*]}"
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
  else
    echo "    all ${#DEB_PACKAGES[@]} Debian packages present"
  fi
fi

step "project virtualenv (.venv)"
if [ ! -x .venv/bin/python ]; then
  ./scripts/install.sh
fi
# Activated, not just called: gfootball's build runs a bare `python3 -c "import psutil"`, which
# must find the venv's interpreter (and its psutil) first on PATH.
. .venv/bin/activate
PY=python

step "pip install build and run-time prerequisites (psutil six wheel setuptools<82 gym==0.25.2)"
"$PY" -m pip install --quiet psutil six wheel "setuptools<82" "gym==0.25.2"

step "pip install the project's football extra"
"$PY" -m pip install --quiet -e ".[football]"

# Wheels are specific to the Python version (e.g. cp311): only reuse one built for this one.
PYTAG=$("$PY" -c 'import sys; print("cp%d%d" % sys.version_info[:2])')
mkdir -p "$CACHE"
WHEEL=$(ls "$CACHE"/gfootball-"$GFOOTBALL_VERSION"-"$PYTAG"-*.whl 2>/dev/null | head -n 1 || true)
if [ -n "$WHEEL" ]; then
  step "use cached wheel $WHEEL"
else
  step "build gfootball $GFOOTBALL_VERSION wheel into $CACHE (native build, ~10 min with $MAKEFLAGS)"
  "$PY" -m pip wheel --no-build-isolation --no-deps "gfootball==$GFOOTBALL_VERSION" -w "$CACHE"
  WHEEL=$(ls "$CACHE"/gfootball-"$GFOOTBALL_VERSION"-"$PYTAG"-*.whl 2>/dev/null | head -n 1 || true)
  STEP="locate the built wheel"
  [ -n "$WHEEL" ] || { echo "no gfootball-$GFOOTBALL_VERSION wheel in $CACHE after the build" >&2; false; }
fi

# --no-deps: the football extra above holds gfootball's run-time requirements (see setup.py).
if [ "$("$PY" -m pip show gfootball 2>/dev/null | sed -n 's/^Version: //p')" = "$GFOOTBALL_VERSION" ]; then
  step "gfootball $GFOOTBALL_VERSION already installed in .venv"
else
  step "pip install $WHEEL"
  "$PY" -m pip install --quiet --no-deps "$WHEEL"
fi

step "verify: import gfootball and play one step of academy_3_vs_1_with_keeper"
"$PY" - <<'EOF'
import contextlib
import io

with contextlib.redirect_stderr(io.StringIO()):  # gym 0.25.2's "unmaintained" notice
    import gfootball.env as football_env

env = football_env.create_environment(
    env_name="academy_3_vs_1_with_keeper", representation="simple115v2",
    number_of_left_players_agent_controls=3, rewards="scoring,checkpoints")
obs = env.reset()
obs, reward, done, info = env.step([0, 0, 0])
env.close()
assert obs.shape == (3, 115), obs.shape
print("    gfootball OK: academy_3_vs_1_with_keeper obs", obs.shape)
EOF
STEP="done"
echo "==> gfootball $GFOOTBALL_VERSION installed in .venv"
