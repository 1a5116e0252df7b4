#!/usr/bin/env bash
# Makes `import autostem` work without pip (docs/python.md): writes one file, autostem.pth,
# holding the absolute path of <build>/python (the built autostem package: the extension
# autostem/_core.*.so next to the pure-Python files), into the site-packages directory of the
# python3 the module was built for — the user's own (`python3 -m site --user-site`), also when
# run as root, so nothing system-wide changes; AUTOSTEM_PYTHON_SITE=DIR writes it to DIR
# instead (e.g. /usr/local/lib/python3.11/dist-packages for every user of the machine).
# Idempotent: run again, it leaves a correct file alone and replaces one naming another build.
# Undo: rm "$(python3 -m site --user-site)/autostem.pth".
# Usage: scripts/install-python.sh [BUILD_DIR]   (default build)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
if [ ! -f "$build/python/autostem/__init__.py" ] || ! ls "$build"/python/autostem/_core.*.so >/dev/null 2>&1; then
  echo "install-python: $build/python/autostem is not built (scripts/build.sh --target autostem_py;" \
       "it needs the Debian packages pybind11-dev and python3-dev)" >&2
  exit 1
fi
pkg_parent=$(cd "$build/python" && pwd)
py=$(sed -n 's/^AUTOSTEM_PYTHON3:INTERNAL=//p' "$build/CMakeCache.txt" 2>/dev/null || true)
py=${py:-/usr/bin/python3}
if [ -n "${AUTOSTEM_PYTHON_SITE:-}" ]; then
  site_dir=$AUTOSTEM_PYTHON_SITE
else
  # A virtual environment (or python -s) has no user site: then its own site-packages.
  site_dir=$("$py" -c 'import site, sysconfig
print(site.getusersitepackages() if site.ENABLE_USER_SITE else sysconfig.get_path("purelib"))')
fi
mkdir -p "$site_dir"
pth="$site_dir/autostem.pth"
if [ -f "$pth" ] && [ "$(cat "$pth")" = "$pkg_parent" ]; then
  echo "install-python: $pth already points at $pkg_parent"
else
  if [ -f "$pth" ]; then echo "install-python: replacing $pth (it named $(cat "$pth"))"; fi
  printf '%s\n' "$pkg_parent" > "$pth"
  echo "install-python: wrote $pth -> $pkg_parent"
fi
# Check with a clean environment: an import that works only thanks to PYTHONPATH proves nothing.
if ver=$(cd / && env -u PYTHONPATH "$py" -c 'import autostem; print(autostem.__version__)' 2>&1); then
  echo "install-python: '$py -c \"import autostem\"' works (autostem $ver)"
else
  echo "install-python: $py still cannot import autostem: $ver" >&2
  exit 1
fi
