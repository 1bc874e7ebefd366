//! The options and target type of the class-target losses: [`CrossEntropyOptions`],
//! [`NllLossOptions`] and [`CrossEntropyTarget`].
//!
//! ```
//! use ferrite_tensor::{CrossEntropyOptions, NllLossOptions, Reduction};
//! let ce = CrossEntropyOptions::new().with_ignore_index(255).with_label_smoothing(0.1);
//! let nll: NllLossOptions = Reduction::Sum.into();
//! assert_eq!((ce.ignore_index, nll.ignore_index), (255, -100));
//! ```

use super::Reduction;
use crate::{Float, Indices, Result, Tensor, TensorError};

pub(super) const CROSS_ENTROPY: &str = "cross_entropy";

/// The settings of cross-entropy, with PyTorch's defaults: mean reduction, no label
/// smoothing, no class weights, `ignore_index = -100`.
///
/// The class weights are kept in `f64` whatever the input's element type, so that the
/// options stay one type for `f32` and `f64` models (they have `C` entries: converting them
/// costs nothing).
///
/// ```
/// use ferrite_tensor::{CrossEntropyOptions, Reduction, Tensor};
/// let o = CrossEntropyOptions::default()
///     .with_reduction(Reduction::Sum)
///     .with_label_smoothing(0.1)
///     .with_weight(&Tensor::<f32>::from_vec(vec![1.0, 2.0], &[2])?)
///     .with_ignore_index(0);
/// assert_eq!(o.reduction, Reduction::Sum);
/// assert_eq!(o.label_smoothing, 0.1);
/// assert_eq!(o.ignore_index, 0);
/// assert_eq!(o.weight.unwrap().to_vec(), vec![1.0, 2.0]);
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct CrossEntropyOptions {
    /// How the per-position losses are combined (default [`Reduction::Mean`]).
    pub reduction: Reduction,
    /// ε in `[0, 1]`: the target becomes `(1 - ε) · one_hot + ε / C` (default 0).
    pub label_smoothing: f64,
    /// A weight per class, shape `[C]` (default none: all 1).
    pub weight: Option<Tensor<f64>>,
    /// Targets equal to this contribute nothing (default -100). It may lie outside
    /// `0..C`; with probability targets it must be negative.
    pub ignore_index: i64,
}

impl Default for CrossEntropyOptions {
    fn default() -> Self {
        CrossEntropyOptions {
            reduction: Reduction::Mean,
            label_smoothing: 0.0,
            weight: None,
            ignore_index: -100,
        }
    }
}

impl CrossEntropyOptions {
    /// PyTorch's defaults (the same as [`Default`]).
    ///
    /// ```
    /// use ferrite_tensor::{CrossEntropyOptions, Reduction};
    /// assert_eq!(CrossEntropyOptions::new().reduction, Reduction::Mean);
    /// assert_eq!(CrossEntropyOptions::new().ignore_index, -100);
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the reduction.
    ///
    /// ```
    /// use ferrite_tensor::{CrossEntropyOptions, Reduction};
    /// let o = CrossEntropyOptions::new().with_reduction(Reduction::None);
    /// assert_eq!(o.reduction, Reduction::None);
    /// ```
    pub fn with_reduction(mut self, reduction: Reduction) -> Self {
        self.reduction = reduction;
        self
    }

    /// Sets the label smoothing ε (checked by the loss: it must lie in `[0, 1]`).
    ///
    /// ```
    /// use ferrite_tensor::CrossEntropyOptions;
    /// assert_eq!(CrossEntropyOptions::new().with_label_smoothing(0.1).label_smoothing, 0.1);
    /// ```
    pub fn with_label_smoothing(mut self, label_smoothing: f64) -> Self {
        self.label_smoothing = label_smoothing;
        self
    }

    /// Sets the class weights (`weight=` in PyTorch), one per class (checked by the loss:
    /// shape `[C]`). Any element type; kept in `f64`.
    ///
    /// ```
    /// use ferrite_tensor::{CrossEntropyOptions, Tensor};
    /// let o = CrossEntropyOptions::new().with_weight(&Tensor::<f64>::ones(&[3]));
    /// assert_eq!(o.weight.unwrap().shape(), &[3]);
    /// ```
    pub fn with_weight<W: Float>(mut self, weight: &Tensor<W>) -> Self {
        self.weight = Some(weight.cast());
        self
    }

    /// Sets the target value to ignore (`ignore_index=` in PyTorch).
    ///
    /// ```
    /// use ferrite_tensor::CrossEntropyOptions;
    /// assert_eq!(CrossEntropyOptions::new().with_ignore_index(255).ignore_index, 255);
    /// ```
    pub fn with_ignore_index(mut self, ignore_index: i64) -> Self {
        self.ignore_index = ignore_index;
        self
    }

    pub(super) fn check_smoothing(&self) -> Result<()> {
        let eps = self.label_smoothing;
        if !(0.0..=1.0).contains(&eps) {
            return Err(TensorError::invalid(
                CROSS_ENTROPY,
                format!("label_smoothing must be between 0 and 1, found {eps}"),
            ));
        }
        Ok(())
    }
}

/// The settings of [`Tensor::nll_loss`], with PyTorch's defaults: mean reduction, no class
/// weights, `ignore_index = -100`. A bare [`Reduction`] converts into it, so
/// `x.nll_loss(&target, Reduction::Sum)` works.
///
/// ```
/// use ferrite_tensor::{NllLossOptions, Reduction, Tensor};
/// let o = NllLossOptions::new().with_reduction(Reduction::Sum).with_ignore_index(0);
/// assert_eq!(o.reduction, Reduction::Sum);
/// assert_eq!(NllLossOptions::from(Reduction::None).ignore_index, -100);
/// let o = o.with_weight(&Tensor::<f32>::ones(&[4]));
/// assert_eq!(o.weight.unwrap().shape(), &[4]);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct NllLossOptions {
    /// How the per-position losses are combined (default [`Reduction::Mean`]).
    pub reduction: Reduction,
    /// A weight per class, shape `[C]` (default none: all 1).
    pub weight: Option<Tensor<f64>>,
    /// Targets equal to this contribute nothing (default -100); it may lie outside `0..C`.
    pub ignore_index: i64,
}

impl Default for NllLossOptions {
    fn default() -> Self {
        NllLossOptions {
            reduction: Reduction::Mean,
            weight: None,
            ignore_index: -100,
        }
    }
}

impl From<Reduction> for NllLossOptions {
    fn from(reduction: Reduction) -> Self {
        NllLossOptions::new().with_reduction(reduction)
    }
}

impl From<&NllLossOptions> for NllLossOptions {
    fn from(options: &NllLossOptions) -> Self {
        options.clone()
    }
}

impl NllLossOptions {
    /// PyTorch's defaults (the same as [`Default`]).
    ///
    /// ```
    /// use ferrite_tensor::NllLossOptions;
    /// assert!(NllLossOptions::new().weight.is_none());
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the reduction.
    ///
    /// ```
    /// use ferrite_tensor::{NllLossOptions, Reduction};
    /// assert_eq!(NllLossOptions::new().with_reduction(Reduction::Sum).reduction, Reduction::Sum);
    /// ```
    pub fn with_reduction(mut self, reduction: Reduction) -> Self {
        self.reduction = reduction;
        self
    }

    /// Sets the class weights, one per class (checked by the loss: shape `[C]`).
    ///
    /// ```
    /// use ferrite_tensor::{NllLossOptions, Tensor};
    /// let o = NllLossOptions::new().with_weight(&Tensor::<f64>::ones(&[3]));
    /// assert_eq!(o.weight.unwrap().numel(), 3);
    /// ```
    pub fn with_weight<W: Float>(mut self, weight: &Tensor<W>) -> Self {
        self.weight = Some(weight.cast());
        self
    }

    /// Sets the target value to ignore.
    ///
    /// ```
    /// use ferrite_tensor::NllLossOptions;
    /// assert_eq!(NllLossOptions::new().with_ignore_index(3).ignore_index, 3);
    /// ```
    pub fn with_ignore_index(mut self, ignore_index: i64) -> Self {
        self.ignore_index = ignore_index;
        self
    }
}

/// The target of [`Tensor::cross_entropy`]: class indices, or class probabilities with the
/// input's shape (PyTorch tells them apart by dtype; here by type). `&Indices` and
/// `&Tensor` convert into it, so both can be passed directly.
///
/// ```
/// use ferrite_tensor::{CrossEntropyOptions, CrossEntropyTarget, Indices, Tensor};
/// let x = Tensor::<f64>::zeros(&[1, 2]);
/// let probs = Tensor::from_vec(vec![0.5, 0.5], &[1, 2])?;
/// let opts = CrossEntropyOptions::new();
/// let (a, _) = x.cross_entropy(&probs, &opts)?;
/// let (b, _) = x.cross_entropy(&Indices::from_classes(&[1]), &opts)?;
/// assert_eq!(a.item()?, b.item()?);
/// assert!(matches!(CrossEntropyTarget::from(&probs), CrossEntropyTarget::Probabilities(_)));
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
#[derive(Debug, Clone, Copy)]
pub enum CrossEntropyTarget<'a, T: Float> {
    /// Class indices: `[N]`, `[N, d1, ...]`, or 0-d for a `[C]` input.
    Classes(&'a Indices),
    /// Class probabilities (need not be normalised), the input's shape.
    Probabilities(&'a Tensor<T>),
}

impl<'a, T: Float> From<&'a Indices> for CrossEntropyTarget<'a, T> {
    fn from(target: &'a Indices) -> Self {
        CrossEntropyTarget::Classes(target)
    }
}

impl<'a, T: Float> From<&'a Tensor<T>> for CrossEntropyTarget<'a, T> {
    fn from(target: &'a Tensor<T>) -> Self {
        CrossEntropyTarget::Probabilities(target)
    }
}
