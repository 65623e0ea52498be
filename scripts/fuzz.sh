#!/usr/bin/env bash
# Runs every cargo-fuzz target in fuzz/ for a while and turns each crash
# into a regression input.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]    (default 60 s, every target)
#
# Needs the nightly toolchain (libFuzzer's sanitizer flags); installs
# cargo-fuzz when it is missing. New corpus entries stay in fuzz/corpus/<target>
# (commit the useful ones). A crashing input is copied into
# fuzz/corpus/<target>/regression-<name>, where `cargo test -p rta-core --test
# fuzz_corpus` replays it on every test run, and the script exits 1 naming
# it: fix the decoder, keep the file.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

secs="${1:-60}"
shift || true
if [ $# -gt 0 ]; then targets=("$@"); else
  targets=()
  for f in fuzz_targets/*.rs; do targets+=("$(basename "$f" .rs)"); done
fi

command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked
rustup toolchain list | grep -q '^nightly' || {
  echo "scripts/fuzz.sh needs the nightly toolchain (rustup toolchain install nightly)" >&2
  exit 2
}

crashed=()
for t in "${targets[@]}"; do
  echo "==> fuzzing $t for ${secs}s"
  mkdir -p "corpus/$t" "artifacts/$t"
  # -rss_limit_mb and -timeout make slow or memory-hungry inputs findings too.
  if ! cargo +nightly fuzz run "$t" "corpus/$t" -- \
      -max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1; then
    for a in artifacts/"$t"/*; do
      [ -f "$a" ] || continue
      name="regression-$(basename "$a")"
      cp "$a" "corpus/$t/$name"
      crashed+=("fuzz/corpus/$t/$name")
    done
  fi
done

if [ ${#crashed[@]} -gt 0 ]; then
  echo "crashing inputs, now regression inputs of rta-core/tests/fuzz_corpus.rs:" >&2
  printf '  %s\n' "${crashed[@]}" >&2
  exit 1
fi
echo "no crashes"
