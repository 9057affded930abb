//! Shared helpers for Canopy's integration tests; the scenarios live in `tests/`.
