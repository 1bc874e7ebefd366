//! The layers, one file per kind.

mod activation;
mod batchnorm;
mod conv;
mod dropout;
mod linear;
mod nonlinear;
mod norm;
mod pool;
mod sequential;

pub use activation::{Flatten, Identity, ReLU, Sigmoid, Tanh};
pub use batchnorm::{BatchNorm2d, BatchNorm2dConfig, BatchNormOptions, batch_norm2d};
pub use conv::{Conv2d, Conv2dConfig, Pair};
pub use dropout::Dropout;
pub use linear::Linear;
pub use nonlinear::{
    ELU, GELU, Hardsigmoid, Hardswish, Hardtanh, LeakyReLU, LogSoftmax, ReLU6, SiLU, Softmax,
    Softplus,
};
pub use norm::{BatchNorm1d, GroupNorm, LayerNorm, batch_norm1d};
pub use pool::{AdaptiveAvgPool2d, AdaptiveMaxPool2d, AvgPool2d, MaxPool2d, MaxUnpool2d};
pub use sequential::Sequential;
