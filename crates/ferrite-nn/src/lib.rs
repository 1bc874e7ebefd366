//! # ferrite-nn
//!
//! Neural-network building blocks for ferrite. For now: [`data`], reading IDX files and the
//! MNIST digits, datasets, and a seeded, batching data loader.
#![deny(missing_docs)]

pub mod data;
