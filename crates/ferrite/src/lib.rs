//! # ferrite
//!
//! A small deep-learning framework in Rust: n-d tensors ([`tensor`]), define-by-run
//! autograd ([`autograd`]) and neural-network layers, losses, optimizers and data loading
//! ([`nn`]), with PyTorch's names, defaults and numbers. `use ferrite::prelude::*` brings in
//! what a training script needs.
//!
//! ```
//! use ferrite::prelude::*;
//!
//! // `Conv2d` and `Var` default to f32 (`Conv2d<f64>` for double precision).
//! // conv1: a 9x9 image, one 3x3 filter, stride 2 -> a 4x4 feature map.
//! let mut rng = seeded_rng(0);
//! let conv1: Conv2d = Conv2d::new(1, 1, 3).with_stride(2);
//! let x = Var::new(Tensor::randn(&[1, 1, 9, 9], &mut rng));
//! let y = conv1.forward(&x)?.relu()?;
//! assert_eq!(y.shape(), vec![1, 1, 4, 4]);
//!
//! y.sum_all()?.backward()?;
//! assert_eq!(conv1.weight().grad().unwrap().shape(), &[1, 1, 3, 3]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub use ferrite_autograd as autograd;
pub use ferrite_nn as nn;
pub use ferrite_tensor as tensor;

/// Everything a training script usually needs, in one `use`: tensors and `Var`, the layers
/// of a small CNN, `Module` with its derived methods (`ModuleExt`), the losses, optimizers,
/// the data loader and the MNIST digits.
pub mod prelude {
    pub use ferrite_autograd::{
        GradOptions, GradcheckOptions, NoGradGuard, Var, detect_anomaly, gradcheck, gradgradcheck,
        no_grad,
    };
    pub use ferrite_nn::data::{DataLoader, Mnist, Split};
    pub use ferrite_nn::loss::{
        BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, CrossEntropyOptions, HuberLoss, KLDivLoss,
        KlDivReduction, L1Loss, MSELoss, NLLLoss, NllLossOptions, Reduction, SmoothL1Loss,
        binary_cross_entropy, binary_cross_entropy_with_logits, cross_entropy, huber_loss, kl_div,
        l1_loss, mse_loss, nll_loss, smooth_l1_loss,
    };
    pub use ferrite_nn::optim::{
        Adagrad, AdagradConfig, CosineAnnealingLR, CosineAnnealingWarmRestarts, ExponentialLR,
        LinearLR, MultiStepLR, OneCycleConfig, OneCycleLR, ParamGroup, RMSprop, RMSpropConfig,
        ReduceLROnPlateau, ReduceLROnPlateauConfig, SequentialLR, StepLR, weight_decay_groups,
    };
    pub use ferrite_nn::optim::{Adam, AdamConfig, LrScheduler, Optimizer, Sgd, SgdConfig};
    pub use ferrite_nn::{
        AdaptiveAvgPool2d, AdaptiveMaxPool2d, BatchNorm1d, GroupNorm, LayerNorm, MaxUnpool2d,
    };
    pub use ferrite_nn::{
        AvgPool2d, BatchNorm2d, BatchNorm2dConfig, Conv2d, Conv2dConfig, Dropout, Dropout2d,
        Flatten, Identity, Linear, LinearConfig, MaxPool2d, Module, ModuleExt, ReLU, Residual,
        Sequential, Sigmoid, Tanh, init,
    };
    pub use ferrite_nn::{Conv1d, Conv1dConfig, ConvTranspose2d, ConvTranspose2dConfig, Upsample};
    pub use ferrite_nn::{
        ELU, GELU, Hardsigmoid, Hardswish, Hardtanh, LeakyReLU, LogSoftmax, ReLU6, SiLU, Softmax,
        Softplus,
    };
    pub use ferrite_tensor::{
        Float, Padding, PaddingMode, Rng, Tensor, TensorError, manual_seed, seeded_rng,
        with_default_rng,
    };
    pub use ferrite_tensor::{GeluApproximate, Indices, Mask};
    pub use ferrite_tensor::{InterpolateMode, InterpolateOptions, Padding1d};
}

// The guides in `docs/`: every ```rust block in them is compiled and run by `cargo test`
// (as doctests of these items, which exist only while doctests are collected).

/// `docs/README.md`
#[doc = include_str!("../../../docs/README.md")]
#[cfg(doctest)]
pub struct GuidesIndex;

/// `docs/architecture.md`
#[doc = include_str!("../../../docs/architecture.md")]
#[cfg(doctest)]
pub struct ArchitectureGuide;

/// `docs/conv1.md`
#[doc = include_str!("../../../docs/conv1.md")]
#[cfg(doctest)]
pub struct ConvOneGuide;

/// `docs/autograd.md`
#[doc = include_str!("../../../docs/autograd.md")]
#[cfg(doctest)]
pub struct AutogradGuide;

/// `docs/training.md`
#[doc = include_str!("../../../docs/training.md")]
#[cfg(doctest)]
pub struct TrainingGuide;

/// `docs/parity.md`
#[doc = include_str!("../../../docs/parity.md")]
#[cfg(doctest)]
pub struct ParityGuide;

/// `docs/performance.md`
#[doc = include_str!("../../../docs/performance.md")]
#[cfg(doctest)]
pub struct PerformanceGuide;

/// `docs/errors.md`
#[doc = include_str!("../../../docs/errors.md")]
#[cfg(doctest)]
pub struct ErrorsGuide;

/// `README.md` (the quick start)
#[doc = include_str!("../../../README.md")]
#[cfg(doctest)]
pub struct ReadmeQuickStart;
