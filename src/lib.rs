//! Bazaar: the root package exists to own the whole-system tests in `tests/`.
