//! The layers, one file per kind.

mod activation;
mod batchnorm;
mod conv;
mod conv1d;
mod conv_transpose;
mod dropout;
mod linear;
mod nonlinear;
mod pool;
mod sequential;
mod upsample;

pub use activation::{Flatten, Identity, ReLU, Sigmoid, Tanh};
pub use batchnorm::{BatchNorm2d, BatchNorm2dConfig, BatchNormOptions, batch_norm2d};
pub use conv::{Conv2d, Conv2dConfig, Pair};
pub use conv_transpose::{ConvTranspose2d, ConvTranspose2dConfig};
pub use conv1d::{Conv1d, Conv1dConfig};
pub use dropout::Dropout;
pub use linear::Linear;
pub use nonlinear::{
    ELU, GELU, Hardsigmoid, Hardswish, Hardtanh, LeakyReLU, LogSoftmax, ReLU6, SiLU, Softmax,
    Softplus,
};
pub use pool::{AvgPool2d, MaxPool2d};
pub use sequential::Sequential;
pub use upsample::Upsample;
