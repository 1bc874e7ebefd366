//! Crate facade.
