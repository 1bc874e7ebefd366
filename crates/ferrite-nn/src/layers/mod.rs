//! The layers, one file per kind.

mod activation;
mod conv;
mod linear;
mod sequential;

pub use activation::{Flatten, Identity, ReLU, Sigmoid, Tanh};
pub use conv::{Conv2d, Conv2dConfig, Pair};
pub use linear::Linear;
pub use sequential::Sequential;
