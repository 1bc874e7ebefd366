//! The layers, one file per kind.

mod activation;
mod linear;
mod sequential;

pub use activation::{Flatten, Identity, ReLU, Sigmoid, Tanh};
pub use linear::Linear;
pub use sequential::Sequential;
