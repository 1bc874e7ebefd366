//! # ferrite-tensor
//!
//! n-dimensional `f32`/`f64` tensors on top of [`ndarray`]: creation, NumPy broadcasting,
//! elementwise maths, reductions, shape operations, matrix products, and the numeric kernels
//! of convolution and pooling together with their backward kernels. There is no autograd
//! here: `ferrite-autograd` builds the graph on top of these functions.
//!
//! ```
//! use ferrite_tensor::{seeded_rng, Conv2dParams, Tensor};
//! let x = Tensor::<f32>::randn(&[1, 1, 9, 9], &mut seeded_rng(0));
//! let w = Tensor::<f32>::randn(&[1, 1, 3, 3], &mut seeded_rng(1));
//! let y = x.conv2d(&w, None, &Conv2dParams::default().with_stride([2, 2]))?;
//! assert_eq!(y.shape(), &[1, 1, 4, 4]);
//! # Ok::<(), ferrite_tensor::TensorError>(())
//! ```
#![deny(missing_docs)]
#![deny(unsafe_code)] // one audited exception: the call into the `gemm` crate, in `gemm.rs`

pub mod buffer;
mod error;
mod float;
pub mod gemm;
mod lanes;
pub mod ops;
mod parallel;
mod random;
mod tensor;

pub use error::{Result, TensorError};
pub use float::{Float, exp_f32, one_plus_erf_f32};
pub use ops::activation::GeluApproximate;
pub use ops::binary::broadcast_shapes;
pub use ops::conv::{
    Conv1dParams, Conv2dGrads, Conv2dParams, ConvTranspose2dParams, Padding, Padding1d,
    PaddingMode, conv_transpose2d_backward, conv1d_backward, conv2d_backward, conv2d_bias_grad,
    conv2d_input_grad, conv2d_weight_grad,
};
pub use ops::dropout::{dropout_mask, dropout2d_mask};
pub use ops::index::{gather_backward, index_select_backward};
pub use ops::indices::Indices;
pub use ops::linear::{LinearGrads, linear_backward};
pub use ops::loss::{
    CrossEntropyOptions, CrossEntropyTarget, KlDivReduction, LossGrads, NllLossOptions, Reduction,
    binary_cross_entropy_backward, binary_cross_entropy_with_logits_backward,
    cross_entropy_backward, huber_loss_backward, kl_div_backward, l1_loss_backward,
    mse_loss_backward, nll_loss_backward, smooth_l1_loss_backward,
};
pub use ops::mask::Mask;
pub use ops::matmul::{MatmulGrads, matmul_backward};
pub use ops::norm::{
    BatchNormGrads, BatchNormOptions, BatchNormOutput, BatchNormSaved, NormGrads, NormOutput,
    NormSaved, batch_norm_backward, group_norm_backward, layer_norm_backward,
};
pub use ops::pad::{PadMode, pad_backward};
pub use ops::pool::{
    AdaptiveSize, Pool2dParams, Unpool2dParams, adaptive_avg_pool2d_backward, avg_pool2d_backward,
    max_pool2d_backward, max_unpool2d_backward,
};
pub use ops::reduce::logsumexp_backward;
pub use ops::resize::{InterpolateMode, InterpolateOptions, ScaleFactor, interpolate_backward};
pub use ops::window::{Pair, Window, Window1d, Window2d, WindowAxis};
pub use tensor::{Tensor, checked_numel, normalize_dim};

pub use random::{Rng, manual_seed, seeded_rng, with_default_rng};
