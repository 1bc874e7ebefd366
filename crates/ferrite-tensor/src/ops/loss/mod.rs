//! The fused losses' kernels, named and computed as in `torch.nn.functional`, each with its
//! closed-form backward beside it:
//!
//! - class targets ([`class`]): [`Tensor::cross_entropy`] (class indices or probabilities)
//!   and [`Tensor::nll_loss`], with class weights, `ignore_index` and `[N, C, d1, ...]`
//!   inputs;
//! - elementwise ([`pointwise`]): [`Tensor::mse_loss`], [`Tensor::l1_loss`],
//!   [`Tensor::smooth_l1_loss`], [`Tensor::huber_loss`]; and ([`probability`])
//!   [`Tensor::binary_cross_entropy`], [`Tensor::binary_cross_entropy_with_logits`] and
//!   [`Tensor::kl_div`].
//!
//! The options of the class losses are in [`options`].
//!
//! The forward computes the loss directly, in `f64` whatever the element type, instead of a
//! chain of small ops. For cross-entropy this is also what keeps it numerically stable: the
//! gradient `softmax(x) - target` never goes through `exp(log(p))`.
//!
//! ```
//! use ferrite_tensor::{cross_entropy_backward, CrossEntropyOptions, Indices, Tensor};
//! let logits = Tensor::<f64>::zeros(&[2, 4]);
//! let target = Indices::from_classes(&[1, 3]);
//! let opts = CrossEntropyOptions::default();
//! let (loss, softmax) = logits.cross_entropy(&target, &opts)?;
//! assert!((loss.item()? - 4f64.ln()).abs() < 1e-12);
//! let grad = cross_entropy_backward(&Tensor::scalar(1.0), &softmax, &target, &opts)?;
//! assert_eq!(grad.to_vec()[..4], [0.125, -0.375, 0.125, 0.125]);
//! # Ok::<(), ferrite_tensor::TensorError>(())
//! ```

pub mod class;
pub mod options;
pub mod pointwise;
pub mod probability;
#[cfg(test)]
mod tests;

use std::str::FromStr;

use crate::{Float, Result, Tensor, TensorError};

pub use class::{cross_entropy_backward, nll_loss_backward};
pub use options::{CrossEntropyOptions, CrossEntropyTarget, NllLossOptions};
pub use pointwise::{
    LossGrads, huber_loss_backward, l1_loss_backward, mse_loss_backward, smooth_l1_loss_backward,
};
pub use probability::{
    binary_cross_entropy_backward, binary_cross_entropy_with_logits_backward, kl_div_backward,
};

/// How a loss combines the per-element losses, like PyTorch's `reduction` argument.
///
/// It parses from PyTorch's strings (`"mean"`, `"sum"`, `"none"`).
///
/// ```
/// use ferrite_tensor::Reduction;
/// assert_eq!(Reduction::default(), Reduction::Mean);
/// assert_eq!("none".parse::<Reduction>()?, Reduction::None);
/// assert!("batchmean".parse::<Reduction>().is_err());
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Reduction {
    /// The mean over the per-element losses (PyTorch's default, `"mean"`). The mean of
    /// nothing is NaN, as in PyTorch.
    #[default]
    Mean,
    /// The sum of the per-element losses (`"sum"`).
    Sum,
    /// No reduction: one loss per sample (or per element for the elementwise losses)
    /// (`"none"`).
    None,
}

impl FromStr for Reduction {
    type Err = TensorError;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "mean" => Ok(Reduction::Mean),
            "sum" => Ok(Reduction::Sum),
            "none" => Ok(Reduction::None),
            other => Err(TensorError::invalid(
                "reduction",
                format!("expected \"mean\", \"sum\" or \"none\", found \"{other}\""),
            )),
        }
    }
}

/// The reduction of [`Tensor::kl_div`], like its PyTorch `reduction` argument: the three
/// of [`Reduction`] plus `"batchmean"`, the sum divided by the batch size (the true
/// KL divergence per sample; PyTorch's default `"mean"` divides by the element count).
///
/// ```
/// use ferrite_tensor::{KlDivReduction, Reduction};
/// assert_eq!("batchmean".parse::<KlDivReduction>()?, KlDivReduction::BatchMean);
/// assert_eq!(KlDivReduction::from(Reduction::Sum), KlDivReduction::Sum);
/// assert!("avg".parse::<KlDivReduction>().is_err());
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KlDivReduction {
    /// The mean over all elements (`"mean"`, PyTorch's default).
    #[default]
    Mean,
    /// The sum divided by the size of the first dim (`"batchmean"`; the plain sum for a
    /// 0-d input).
    BatchMean,
    /// The sum (`"sum"`).
    Sum,
    /// No reduction (`"none"`).
    None,
}

impl From<Reduction> for KlDivReduction {
    fn from(r: Reduction) -> Self {
        match r {
            Reduction::Mean => KlDivReduction::Mean,
            Reduction::Sum => KlDivReduction::Sum,
            Reduction::None => KlDivReduction::None,
        }
    }
}

impl FromStr for KlDivReduction {
    type Err = TensorError;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "batchmean" => Ok(KlDivReduction::BatchMean),
            other => other.parse::<Reduction>().map(Into::into).map_err(|_| {
                TensorError::invalid(
                    "kl_div",
                    format!(
                        "reduction must be \"batchmean\", \"mean\", \"sum\" or \"none\", found \"{other}\""
                    ),
                )
            }),
        }
    }
}

/// A reduction as the kernels apply it: a total divided by `divisor`, or none.
#[derive(Debug, Clone, Copy)]
enum Reduced {
    Total { divisor: f64 },
    Elementwise,
}

impl Reduced {
    /// `reduction` over `count` losses whose mean divides by `mean_divisor`.
    fn new(reduction: Reduction, mean_divisor: f64) -> Self {
        match reduction {
            Reduction::Mean => Reduced::Total {
                divisor: mean_divisor,
            },
            Reduction::Sum => Reduced::Total { divisor: 1.0 },
            Reduction::None => Reduced::Elementwise,
        }
    }

    /// Combines the losses into the result tensor (`unreduced_shape` for no reduction).
    fn apply<T: Float>(self, losses: &[f64], unreduced_shape: &[usize]) -> Result<Tensor<T>> {
        match self {
            Reduced::Total { divisor } => {
                let sum: f64 = losses.iter().sum();
                Ok(Tensor::scalar(T::of(sum / divisor)))
            }
            Reduced::Elementwise => {
                Tensor::from_vec(losses.iter().map(|&l| T::of(l)).collect(), unreduced_shape)
            }
        }
    }

    /// d(result)/d(loss i) times the upstream gradient, for `count` losses: the backward of
    /// [`Reduced::apply`].
    fn scales<T: Float>(self, grad_output: &Tensor<T>, count: usize) -> Result<Scales> {
        match self {
            Reduced::Total { divisor } => {
                Ok(Scales::Uniform(grad_output.item()?.as_f64() / divisor))
            }
            Reduced::Elementwise => {
                if grad_output.numel() != count {
                    return Err(TensorError::shape(
                        "loss backward",
                        format!(
                            "expected a gradient with one value per loss ({count}), found shape {:?}",
                            grad_output.shape()
                        ),
                    ));
                }
                Ok(Scales::Each(
                    grad_output.as_array().iter().map(|v| v.as_f64()).collect(),
                ))
            }
        }
    }
}

/// The factor each loss's gradient is multiplied by.
pub(super) enum Scales {
    Uniform(f64),
    Each(Vec<f64>),
}

impl Scales {
    fn at(&self, i: usize) -> f64 {
        match self {
            Scales::Uniform(s) => *s,
            Scales::Each(v) => v[i],
        }
    }
}
