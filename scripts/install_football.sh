#!/usr/bin/env bash
# Install Google Research Football (gfootball 2.10.2) into the project's .venv.
#
# Why a script and not just `pip install -e ".[football]"`: gfootball has no wheels on the package registry, its
# native engine needs Debian libraries, and its build script imports psutil, which pip's isolated
# build environment does not have, so it must be built with --no-build-isolation. The build takes
# ~10 minutes on 2 cores; the built wheel is cached (GFOOTBALL_WHEEL_CACHE, default
# ~/.cache/lookahead/wheels), so a second install only reinstalls it (seconds).
#
# Idempotent: every step is skipped or is a no-op when already done. Runs as root or with sudo for
# the Debian step; set GFOOTBALL_SKIP_APT=1 to skip it (e.g. when the libraries are known present).
# A new .venv is made by scripts/install.sh from PYTHON (default python3).
#
# The engine links Debian's Boost.Python, which is built for one Python version (the distribution's,
# e.g. 3.11 on Debian 12): the venv's Python must be that version, which is checked first.
set -euo pipefail
cd "$(dirname "$0")/.."

GFOOTBALL_VERSION=2.10.2
CACHE=${GFOOTBALL_WHEEL_CACHE:-$HOME/.cache/lookahead/wheels}
# gfootball's build_game_engine.sh runs `cmake . && make -j N` itself, with N = the CPU cores, fewer
# if free memory is short (one job per 0.5 GB above 1 GB); these cover any build step it leaves
# without -j (make reads MAKEFLAGS, `cmake --build` reads CMAKE_BUILD_PARALLEL_LEVEL).
CORES=$(nproc)
export MAKEFLAGS=${MAKEFLAGS:--j$CORES}
export CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-$CORES}
# The engine's CMakeLists.txt asks for CMake 3.4; CMake >= 4 refuses anything below 3.5 unless told.
export CMAKE_POLICY_VERSION_MINIMUM=${CMAKE_POLICY_VERSION_MINIMUM:-3.5}
export DEBIAN_FRONTEND=noninteractive

STEP="starting"
trap 'rc=$?; echo "install_football.sh: FAILED at step \"$STEP\": \`$BASH_COMMAND\` exited with code $rc (its output is above)." >&2; exit $rc' ERR

step() { STEP="$1"; echo "==> $1"; }

# "3.11" for the interpreter $1, or nothing if it does not run.
python_version() {
  "$1" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null || true
}

# The Python versions ("3.11") Boost.Python is built for, one per line: those of the installed
# libraries (libboost_python311.so.*), else that of the package apt would install for
# libboost-python-dev (libboost-all-dev pulls it in): libboost-python1.74.0 "Provides: ...-py311".
boost_python_versions() {
  local digits dev runtime
  digits=$(ls /usr/lib/*-linux-gnu/ /usr/lib/ /usr/local/lib/ 2>/dev/null \
    | sed -n 's/^libboost_python\(3[0-9][0-9]*\)\.so.*/\1/p' | sort -u || true)
  if [ -z "$digits" ] && command -v apt-cache >/dev/null; then
    dev=$(apt-cache depends libboost-python-dev 2>/dev/null \
      | sed -n 's/^ *Depends: \(libboost-python[0-9.]*-dev\)$/\1/p' | head -n 1 || true)
    runtime=$([ -z "$dev" ] || apt-cache depends "$dev" 2>/dev/null \
      | sed -n 's/^ *Depends: \(libboost-python[0-9.]*\)$/\1/p' | head -n 1 || true)
    digits=$([ -z "$runtime" ] || apt-cache show "$runtime" 2>/dev/null \
      | sed -n 's/^Provides:.*-py\(3[0-9]*\).*/\1/p' | head -n 1 || true)
  fi
  for d in $digits; do echo "${d:0:1}.${d:1}"; done
}

# Exit with a message unless the venv's Python (the one in .venv, else the one install.sh would use)
# is a version Boost.Python is built for.
check_boost_python() {
  local venv_python=.venv/bin/python venv_version boost_versions
  [ -x "$venv_python" ] || venv_python=${PYTHON:-python3}
  venv_version=$(python_version "$venv_python")
  if [ -z "$venv_version" ]; then
    echo "install_football.sh: cannot run the Python interpreter '$venv_python'; pick one with" \
      "PYTHON=python3.11 ./scripts/install_football.sh" >&2
    exit 1
  fi
  boost_versions=$(boost_python_versions | tr '\n' ' ' | sed 's/ $//')
  if [ -z "$boost_versions" ]; then
    echo "    warning: cannot tell which Python Boost.Python is built for (no libboost_python3*.so, no" \
      "libboost-python-dev in apt); the build needs it for Python $venv_version" >&2
  elif ! grep -qx "$venv_version" <<<"${boost_versions// /$'\n'}"; then
    echo "install_football.sh: Boost.Python is built for Python $boost_versions, but the venv's Python" \
      "('$venv_python') is $venv_version; gfootball's engine links both, so they must match. Make the" \
      "venv with that Python (rm -rf .venv; PYTHON=python${boost_versions##* } ./scripts/install_football.sh)" \
      "or install a Boost.Python built for Python $venv_version." >&2
    exit 1
  else
    echo "    Python $venv_version ($venv_python) matches Boost.Python (built for $boost_versions)"
  fi
}

step "check the venv's Python against Boost.Python's"
check_boost_python

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
  # The job count gfootball's build script will pass to make (see MAKEFLAGS above).
  JOBS=$("$PY" -c 'import os, psutil; free_gb = psutil.virtual_memory().available / 1e9
print(max(1, min(os.cpu_count(), int((free_gb - 1) / 0.5))))')
  step "build gfootball $GFOOTBALL_VERSION wheel into $CACHE (native build, make -j$JOBS: ~10 min on 2 cores)"
  [ "$JOBS" -ge "$CORES" ] \
    || echo "    note: $JOBS of $CORES cores: gfootball's build allows one job per 0.5 GB of free memory above 1 GB"
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
