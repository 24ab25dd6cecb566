//! `jwtauth serve`: the login service over HTTP (SPEC §9). It stands on the same core as the
//! command line — settings, keys, the shared `Verifier`, the user and revocation stores — and
//! maps the core's typed errors to HTTP statuses. Not built yet.
