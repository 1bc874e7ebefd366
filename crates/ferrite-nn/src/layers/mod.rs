//! The layers, one file per kind.
//!
//! Every layer is built the same way, like its PyTorch constructor: `Layer::new(required
//! arguments)` returns the layer itself (no `Result`, no generator argument), random
//! parameters drawn from the thread's default generator (`ferrite_tensor::manual_seed`),
//! then one `with_*` setter per keyword argument. Settings that make no layer are
//! remembered and returned as the error of `forward`. Layers with random parameters also
//! have `from_config(config, &mut rng) -> Result<Self>`, drawing from a generator of your
//! own and refusing bad settings at once.

mod activation;
mod batchnorm;
mod conv;
mod conv1d;
mod conv_transpose;
mod dropout;
mod linear;
mod nonlinear;
mod norm;
mod pool;
mod residual;
mod sequential;
mod upsample;

pub use activation::{Flatten, Identity, ReLU, Sigmoid, Tanh};
pub use batchnorm::{BatchNorm2d, BatchNorm2dConfig, BatchNormOptions, batch_norm2d};
pub use conv::{Conv2d, Conv2dConfig, Pair};
pub use conv_transpose::{ConvTranspose2d, ConvTranspose2dConfig};
pub use conv1d::{Conv1d, Conv1dConfig};
pub use dropout::{Dropout, Dropout2d};
pub use linear::{Linear, LinearConfig};
pub use nonlinear::{
    ELU, GELU, Hardsigmoid, Hardswish, Hardtanh, LeakyReLU, LogSoftmax, ReLU6, SiLU, Softmax,
    Softplus,
};
pub use norm::{BatchNorm1d, GroupNorm, LayerNorm, batch_norm1d};
pub use pool::{AdaptiveAvgPool2d, AdaptiveMaxPool2d, AvgPool2d, MaxPool2d, MaxUnpool2d};
pub use residual::Residual;
pub use sequential::Sequential;

use ferrite_tensor::{Float, Result, Rng, Tensor};

/// A bias for a layer whose weight has `weight_shape`, drawn as PyTorch's `reset_parameters`
/// draws it: `U(-1/√fan_in, 1/√fan_in)`. For a bias asked back (`with_bias(true)`) after
/// the layer was drawn without one.
pub(crate) fn default_bias<T: Float>(weight_shape: &[usize], rng: &mut Rng) -> Result<Tensor<T>> {
    let (fan_in, _) = crate::init::fan_in_and_fan_out(weight_shape)?;
    let bound = 1.0 / (fan_in.max(1) as f64).sqrt();
    Tensor::try_uniform(&[weight_shape[0]], T::of(-bound), T::of(bound), rng)
}
pub use upsample::Upsample;
