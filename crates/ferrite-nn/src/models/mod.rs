//! Ready-made models, with PyTorch's parameter names so weights move both ways through
//! safetensors. [`small_cnn`] is the toy digit classifier of the `mnist` example, the
//! benchmarks and the end-to-end tests (PyTorch's own MNIST example has the same names);
//! [`tiny_resnet`] is the residual network of the `resnet` example (benchmark W8);
//! [`lenet5`] is the LeNet-5 of the tutorial.

mod lenet;
mod resnet;

pub use lenet::lenet5;
pub use resnet::{basic_block, tiny_resnet};

use ferrite_tensor::{Float, Result, TensorError, checked_numel};

use crate::{Conv2d, Flatten, Linear, MaxPool2d, ReLU, Sequential};

/// `SmallCnn` for single-channel images of `image_size` (`[28, 28]` for MNIST):
///
/// ```text
/// conv1 = Conv2d(1, 16, 3, padding=1) -> ReLU -> MaxPool2d(2)     # H -> H/2
/// conv2 = Conv2d(16, 32, 3, padding=1) -> ReLU -> MaxPool2d(2)    # H/2 -> H/4
/// flatten -> fc1 = Linear(32 * H/4 * W/4, 128) -> ReLU -> fc2 = Linear(128, 10)
/// ```
///
/// Parameter names: `conv1.weight`, `conv1.bias`, `conv2.*`, `fc1.*`, `fc2.*`, as in the
/// PyTorch version, so weights move between the two with safetensors. The weights are
/// drawn from the thread's default generator, layer by layer, weight then bias, like
/// `torch.manual_seed(s); SmallCnn()`: `manual_seed(s)` first makes them reproducible.
///
/// # Errors
/// When an image side is smaller than 4 (nothing would be left after two poolings), or
/// when the images are so large that `fc1`'s input count `32 * (H/4) * (W/4)` overflows
/// `usize` or its weight cannot be allocated (the message names `small_cnn` and the size).
///
/// ```
/// use ferrite_autograd::Var;
/// use ferrite_nn::{Module, models::small_cnn, ModuleExt};
/// use ferrite_tensor::{manual_seed, Tensor};
/// manual_seed(0);
/// let model = small_cnn::<f32>([28, 28])?;
/// assert_eq!(model.num_parameters(), 206_922);
/// let logits = model.forward(&Var::new(Tensor::zeros(&[2, 1, 28, 28])))?;
/// assert_eq!(logits.shape(), vec![2, 10]);
/// let err = small_cnn::<f32>([1 << 32, 1 << 32]).unwrap_err();
/// assert!(err.to_string().starts_with("small_cnn: images of 4294967296x4294967296"));
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
pub fn small_cnn<T: Float>(image_size: [usize; 2]) -> Result<Sequential<T>> {
    let [h, w] = image_size;
    if h < 4 || w < 4 {
        return Err(TensorError::invalid(
            "small_cnn",
            format!("images must be at least 4x4 (two 2x2 poolings), found {h}x{w}"),
        ));
    }
    // Checked before anything is drawn from the default generator.
    let too_large = |why: String| {
        TensorError::invalid(
            "small_cnn",
            format!("images of {h}x{w} are too large: {why}"),
        )
    };
    let fc1_in = 32usize
        .checked_mul(h / 4)
        .and_then(|n| n.checked_mul(w / 4))
        .ok_or_else(|| {
            too_large(format!(
                "fc1 would have 32 * {} * {} inputs, which overflows usize",
                h / 4,
                w / 4
            ))
        })?;
    checked_numel("Linear", &[128, fc1_in])
        .map_err(|e| too_large(format!("fc1 = Linear({fc1_in}, 128): {e}")))?;
    Ok(Sequential::new()
        .add_module("conv1", Conv2d::new(1, 16, 3).with_padding(1))
        .add_module("relu1", ReLU)
        .add_module("pool1", MaxPool2d::new(2))
        .add_module("conv2", Conv2d::new(16, 32, 3).with_padding(1))
        .add_module("relu2", ReLU)
        .add_module("pool2", MaxPool2d::new(2))
        .add_module("flatten", Flatten::new())
        .add_module("fc1", Linear::new(fc1_in, 128))
        .add_module("relu3", ReLU)
        .add_module("fc2", Linear::new(128, 10)))
}
