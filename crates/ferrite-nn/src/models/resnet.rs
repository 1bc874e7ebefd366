//! The tiny residual network of benchmark W8, built from [`Residual`] blocks.

use ferrite_tensor::Float;

use crate::{AdaptiveAvgPool2d, BatchNorm2d, Conv2d, Flatten, Linear, ReLU, Residual, Sequential};

/// ResNet's BasicBlock from `in_channels` to `out_channels`, the first conv strided by
/// `stride`, as torchvision writes it:
///
/// ```text
/// relu(bn2(conv2(relu(bn1(conv1(x))))) + downsample(x))
/// ```
///
/// The convs are 3x3 with padding 1 and no bias. `downsample` (a strided 1x1 conv without
/// bias, then a batch norm) is there when `stride != 1` or the channel counts differ;
/// otherwise the shortcut is the identity. Parameter names: `conv1.weight`, `bn1.weight`,
/// `bn1.bias`, `conv2.weight`, `bn2.*`, `downsample.0.weight`, `downsample.1.*` (and the
/// batch norms' buffers). The conv weights are drawn from the thread's default generator
/// in that order.
///
/// ```
/// use ferrite_autograd::Var;
/// use ferrite_nn::{models::basic_block, Module, ModuleExt};
/// use ferrite_tensor::Tensor;
/// let block = basic_block::<f32>(16, 32, 2);
/// let y = block.forward(&Var::new(Tensor::ones(&[2, 16, 28, 28])))?;
/// assert_eq!(y.shape(), vec![2, 32, 14, 14]);
/// assert_eq!(block.named_parameters()[6].0, "downsample.0.weight");
/// assert!(basic_block::<f32>(16, 16, 1).shortcut().is_none());
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
pub fn basic_block<T: Float>(
    in_channels: usize,
    out_channels: usize,
    stride: usize,
) -> Residual<T> {
    let conv3x3 = |cin, stride| {
        Conv2d::new(cin, out_channels, 3)
            .with_stride(stride)
            .with_padding(1)
            .with_bias(false)
    };
    let body = Sequential::new()
        .add_module("conv1", conv3x3(in_channels, stride))
        .add_module("bn1", BatchNorm2d::new(out_channels))
        .add_module("relu", ReLU)
        .add_module("conv2", conv3x3(out_channels, 1))
        .add_module("bn2", BatchNorm2d::new(out_channels));
    let block = Residual::new(body).with_activation(ReLU);
    if stride == 1 && in_channels == out_channels {
        return block;
    }
    let projection = Sequential::new()
        .append(
            Conv2d::new(in_channels, out_channels, 1)
                .with_stride(stride)
                .with_bias(false),
        )
        .append(BatchNorm2d::new(out_channels));
    block.with_shortcut("downsample", projection)
}

/// The tiny ResNet of benchmark W8 for 1-channel images (28x28 digits; any size works, the
/// pooling is global), 10 classes:
///
/// ```text
/// conv1 = Conv2d(1, 16, 3, padding=1, bias=False) -> bn1 -> relu      # 16 x H x W
/// layer1 = BasicBlock(16, 16, stride 1)   (identity shortcut)          # 16 x H x W
/// layer2 = BasicBlock(16, 32, stride 2)   (projection shortcut)        # 32 x H/2 x W/2
/// layer3 = BasicBlock(32, 64, stride 2)   (projection shortcut)        # 64 x H/4 x W/4
/// pool = AdaptiveAvgPool2d(1) -> flatten -> fc = Linear(64, 10)
/// ```
///
/// 77,754 parameters, named as PyTorch's `state_dict` of the W8 model names them
/// (`conv1.weight`, `bn1.running_mean`, `layer2.conv1.weight`, `layer2.downsample.0.weight`,
/// `fc.bias`, ...; see [`basic_block`]), so a PyTorch checkpoint loads strictly and a
/// ferrite one loads in PyTorch. The weights are PyTorch's default init drawn from the
/// thread's default generator, layer by layer: `manual_seed(s)` first makes them
/// reproducible. Batch norms start in training mode; call `eval()` for inference.
///
/// ```
/// use ferrite_autograd::Var;
/// use ferrite_nn::{models::tiny_resnet, Module, ModuleExt};
/// use ferrite_tensor::{manual_seed, Tensor};
/// manual_seed(0);
/// let model = tiny_resnet::<f32>();
/// assert_eq!(model.num_parameters(), 77_754);
/// assert_eq!(model.named_buffers().len(), 27);
/// model.eval();
/// let logits = model.forward(&Var::new(Tensor::zeros(&[2, 1, 28, 28])))?;
/// assert_eq!(logits.shape(), vec![2, 10]);
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
pub fn tiny_resnet<T: Float>() -> Sequential<T> {
    Sequential::new()
        .add_module(
            "conv1",
            Conv2d::new(1, 16, 3).with_padding(1).with_bias(false),
        )
        .add_module("bn1", BatchNorm2d::new(16))
        .add_module("relu", ReLU)
        .add_module("layer1", basic_block(16, 16, 1))
        .add_module("layer2", basic_block(16, 32, 2))
        .add_module("layer3", basic_block(32, 64, 2))
        .add_module("pool", AdaptiveAvgPool2d::new(1))
        .add_module("flatten", Flatten::new())
        .add_module("fc", Linear::new(64, 10))
}
