//! The module forms of the class-target losses, named as in `torch.nn`: [`NLLLoss`] and
//! [`CrossEntropyLoss`], holding an [`NllLossOptions`] / [`CrossEntropyOptions`], with
//! `with_*` setters and a `forward(input, target)` method (not a
//! [`Module`](crate::Module): two inputs). Invalid options are reported by `forward`.
//!
//! ```
//! use ferrite_autograd::Var;
//! use ferrite_nn::loss::{CrossEntropyLoss, Indices};
//! use ferrite_tensor::Tensor;
//! let loss = CrossEntropyLoss::new().with_weight(&Tensor::<f32>::ones(&[4]));
//! assert!(loss.forward(&Var::new(Tensor::<f32>::zeros(&[2, 3])), &Indices::from_classes(&[0, 1])).is_err());
//! ```

use ferrite_autograd::Var;
use ferrite_tensor::{
    CrossEntropyOptions, CrossEntropyTarget, Float, Indices, NllLossOptions, Reduction, Result,
    Tensor,
};

/// `nn.NLLLoss`: negative log-likelihood of class indices, see
/// [`nll_loss`](super::nll_loss); the options are an [`NllLossOptions`].
///
/// ```
/// use ferrite_autograd::Var;
/// use ferrite_nn::loss::{Indices, NLLLoss, Reduction};
/// use ferrite_tensor::Tensor;
/// let loss = NLLLoss::new().with_ignore_index(0).with_reduction(Reduction::Sum);
/// let logp = Var::new(Tensor::<f64>::from_vec(vec![-0.1, -2.0, -3.0, -0.5], &[2, 2])?);
/// assert_eq!(loss.forward(&logp, &Indices::from_classes(&[0, 1]))?.item()?, 0.5);
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NLLLoss {
    /// Reduction, class weights and `ignore_index`.
    pub options: NllLossOptions,
}

impl NLLLoss {
    /// PyTorch's defaults: no weights, `ignore_index = -100`, mean reduction.
    ///
    /// ```
    /// use ferrite_nn::loss::NLLLoss;
    /// assert_eq!(NLLLoss::new().options.ignore_index, -100);
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the class weights, one per class (checked by `forward`).
    ///
    /// ```
    /// use ferrite_nn::loss::NLLLoss;
    /// use ferrite_tensor::Tensor;
    /// assert!(NLLLoss::new().with_weight(&Tensor::<f32>::ones(&[3])).options.weight.is_some());
    /// ```
    pub fn with_weight<W: Float>(mut self, weight: &Tensor<W>) -> Self {
        self.options = self.options.with_weight(weight);
        self
    }

    /// Sets the target value to ignore.
    ///
    /// ```
    /// use ferrite_nn::loss::NLLLoss;
    /// assert_eq!(NLLLoss::new().with_ignore_index(255).options.ignore_index, 255);
    /// ```
    pub fn with_ignore_index(mut self, ignore_index: i64) -> Self {
        self.options = self.options.with_ignore_index(ignore_index);
        self
    }

    /// Sets the reduction.
    ///
    /// ```
    /// use ferrite_nn::loss::{NLLLoss, Reduction};
    /// assert_eq!(NLLLoss::new().with_reduction(Reduction::Sum).options.reduction, Reduction::Sum);
    /// ```
    pub fn with_reduction(mut self, reduction: Reduction) -> Self {
        self.options = self.options.with_reduction(reduction);
        self
    }

    /// The loss of log-probabilities `input` against class indices `target`.
    ///
    /// # Errors
    /// As [`nll_loss`](super::nll_loss).
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_nn::loss::{Indices, NLLLoss};
    /// use ferrite_tensor::Tensor;
    /// let logp = Var::new(Tensor::<f32>::zeros(&[2, 3]));
    /// assert!(NLLLoss::new().forward(&logp, &Indices::from_classes(&[0, 3])).is_err());
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn forward<T: Float>(&self, input: &Var<T>, target: &Indices) -> Result<Var<T>> {
        input.nll_loss(target, &self.options)
    }
}

/// `nn.CrossEntropyLoss`: cross-entropy of logits against class indices or probabilities,
/// see [`cross_entropy`](super::cross_entropy); the options are a [`CrossEntropyOptions`].
///
/// ```
/// use ferrite_autograd::Var;
/// use ferrite_nn::loss::{CrossEntropyLoss, Indices};
/// use ferrite_tensor::Tensor;
/// let loss = CrossEntropyLoss::new().with_label_smoothing(0.1).with_ignore_index(255);
/// let logits = Var::new(Tensor::<f32>::zeros(&[3, 4]));
/// let y = loss.forward(&logits, &Indices::from_classes(&[1, 255, 3]))?;
/// assert!((y.item()? - 4f32.ln()).abs() < 1e-6);
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CrossEntropyLoss {
    /// Reduction, label smoothing, class weights and `ignore_index`.
    pub options: CrossEntropyOptions,
}

impl CrossEntropyLoss {
    /// PyTorch's defaults: no weights, `ignore_index = -100`, mean reduction, no smoothing.
    ///
    /// ```
    /// use ferrite_nn::loss::CrossEntropyLoss;
    /// assert_eq!(CrossEntropyLoss::new().options.label_smoothing, 0.0);
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the class weights, one per class (checked by `forward`).
    ///
    /// ```
    /// use ferrite_nn::loss::CrossEntropyLoss;
    /// use ferrite_tensor::Tensor;
    /// let loss = CrossEntropyLoss::new().with_weight(&Tensor::<f32>::ones(&[3]));
    /// assert!(loss.options.weight.is_some());
    /// ```
    pub fn with_weight<W: Float>(mut self, weight: &Tensor<W>) -> Self {
        self.options = self.options.with_weight(weight);
        self
    }

    /// Sets the target value to ignore.
    ///
    /// ```
    /// use ferrite_nn::loss::CrossEntropyLoss;
    /// assert_eq!(CrossEntropyLoss::new().with_ignore_index(0).options.ignore_index, 0);
    /// ```
    pub fn with_ignore_index(mut self, ignore_index: i64) -> Self {
        self.options = self.options.with_ignore_index(ignore_index);
        self
    }

    /// Sets the reduction.
    ///
    /// ```
    /// use ferrite_nn::loss::{CrossEntropyLoss, Reduction};
    /// let loss = CrossEntropyLoss::new().with_reduction(Reduction::None);
    /// assert_eq!(loss.options.reduction, Reduction::None);
    /// ```
    pub fn with_reduction(mut self, reduction: Reduction) -> Self {
        self.options = self.options.with_reduction(reduction);
        self
    }

    /// Sets the label smoothing ε (checked by `forward`: it must lie in `[0, 1]`).
    ///
    /// ```
    /// use ferrite_nn::loss::CrossEntropyLoss;
    /// assert_eq!(CrossEntropyLoss::new().with_label_smoothing(0.2).options.label_smoothing, 0.2);
    /// ```
    pub fn with_label_smoothing(mut self, label_smoothing: f64) -> Self {
        self.options = self.options.with_label_smoothing(label_smoothing);
        self
    }

    /// The loss of logits `input` against `target`: a `&Indices` of classes or a `&Tensor`
    /// of probabilities.
    ///
    /// # Errors
    /// As [`cross_entropy`](super::cross_entropy).
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_nn::loss::CrossEntropyLoss;
    /// use ferrite_tensor::Tensor;
    /// let logits = Var::new(Tensor::<f64>::zeros(&[2, 2]));
    /// let probs = Tensor::<f64>::full(&[2, 2], 0.5);
    /// assert!((CrossEntropyLoss::new().forward(&logits, &probs)?.item()? - 2f64.ln()).abs() < 1e-12);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn forward<'a, T: Float + 'a>(
        &self,
        input: &Var<T>,
        target: impl Into<CrossEntropyTarget<'a, T>>,
    ) -> Result<Var<T>> {
        input.cross_entropy(target, &self.options)
    }
}
