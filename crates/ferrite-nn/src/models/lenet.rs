//! LeNet-5, as PyTorch's tutorials write it for 28x28 digits.

use ferrite_tensor::Float;

use crate::{Conv2d, Flatten, Linear, MaxPool2d, ReLU, Sequential};

/// LeNet-5 for 1-channel 28x28 images, 10 classes (the model of the
/// `04_train_lenet` example):
///
/// ```text
/// conv1 = Conv2d(1, 6, 5, padding=2) -> ReLU -> MaxPool2d(2)     # 6 x 14 x 14
/// conv2 = Conv2d(6, 16, 5) -> ReLU -> MaxPool2d(2)                # 16 x 5 x 5
/// flatten -> fc1 = Linear(400, 120) -> ReLU -> fc2 = Linear(120, 84) -> ReLU -> fc3 = Linear(84, 10)
/// ```
///
/// 61,706 parameters named `conv1.weight`, `conv1.bias`, `conv2.*`, `fc1.*`, `fc2.*`,
/// `fc3.*`, as the attributes of the PyTorch class, drawn from the thread's default
/// generator in that order (`manual_seed(0); lenet5()` gives the example's weights).
///
/// ```
/// use ferrite_autograd::Var;
/// use ferrite_nn::{models::lenet5, Module, ModuleExt};
/// use ferrite_tensor::{manual_seed, Tensor};
/// manual_seed(0);
/// let model = lenet5::<f32>();
/// assert_eq!(model.num_parameters(), 61_706);
/// let logits = model.forward(&Var::new(Tensor::zeros(&[2, 1, 28, 28])))?;
/// assert_eq!(logits.shape(), vec![2, 10]);
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
pub fn lenet5<T: Float>() -> Sequential<T> {
    Sequential::new()
        .add_module("conv1", Conv2d::new(1, 6, 5).with_padding(2))
        .add_module("relu1", ReLU)
        .add_module("pool1", MaxPool2d::new(2))
        .add_module("conv2", Conv2d::new(6, 16, 5))
        .add_module("relu2", ReLU)
        .add_module("pool2", MaxPool2d::new(2))
        .add_module("flatten", Flatten::new())
        .add_module("fc1", Linear::new(16 * 5 * 5, 120))
        .add_module("relu3", ReLU)
        .add_module("fc2", Linear::new(120, 84))
        .add_module("relu4", ReLU)
        .add_module("fc3", Linear::new(84, 10))
}
