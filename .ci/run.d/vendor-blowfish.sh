#!/usr/bin/env bash
# The vendored, patched blowfish crate (vendor/blowfish/UPSTREAM.md) is not a member of the
# jwtauth build's tests: run its own known-answer tests (Blowfish BE and LE block vectors),
# with the bcrypt feature jwtauth uses. tests/bcrypt_vectors.rs checks the bcrypt hashes.
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo test --locked --all-features --manifest-path vendor/blowfish/Cargo.toml \
  --target-dir target/vendor-blowfish --lib --tests
