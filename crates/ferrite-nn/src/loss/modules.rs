//! The module forms of the elementwise losses, named as in `torch.nn` (`nn.MSELoss()`, ...):
//! a struct holding the options, built with `new()` and `with_*` setters, and a
//! `forward(input, target)` method. They are not [`Module`](crate::Module)s, which take one
//! input. Invalid options (a negative β, a weight of the wrong shape) are reported by
//! `forward`, naming the loss.

use ferrite_autograd::Var;
use ferrite_tensor::{Float, KlDivReduction, Reduction, Result, Tensor};

/// `nn.MSELoss`: the mean squared error, see [`mse_loss`](super::mse_loss).
///
/// ```
/// use ferrite_autograd::Var;
/// use ferrite_nn::loss::{MSELoss, Reduction};
/// use ferrite_tensor::Tensor;
/// let loss = MSELoss::new().with_reduction(Reduction::Sum);
/// let y = Var::new(Tensor::<f64>::from_vec(vec![1.0, 2.0], &[2])?);
/// assert_eq!(loss.forward(&y, &Var::new(Tensor::zeros(&[2])))?.item()?, 5.0);
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct MSELoss {
    /// The reduction (default mean).
    pub reduction: Reduction,
}

impl MSELoss {
    /// PyTorch's defaults: mean reduction.
    ///
    /// ```
    /// use ferrite_nn::loss::{MSELoss, Reduction};
    /// assert_eq!(MSELoss::new().reduction, Reduction::Mean);
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the reduction.
    ///
    /// ```
    /// use ferrite_nn::loss::{MSELoss, Reduction};
    /// assert_eq!(MSELoss::new().with_reduction(Reduction::None).reduction, Reduction::None);
    /// ```
    pub fn with_reduction(mut self, reduction: Reduction) -> Self {
        self.reduction = reduction;
        self
    }

    /// The loss of `input` against `target` (same shape; both differentiable).
    ///
    /// # Errors
    /// When the shapes differ.
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_nn::loss::MSELoss;
    /// use ferrite_tensor::Tensor;
    /// let y = Var::new(Tensor::<f32>::ones(&[3]));
    /// assert_eq!(MSELoss::new().forward(&y, &Var::new(Tensor::zeros(&[3])))?.item()?, 1.0);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn forward<T: Float>(&self, input: &Var<T>, target: &Var<T>) -> Result<Var<T>> {
        input.mse_loss(target, self.reduction)
    }
}

/// `nn.L1Loss`: the mean absolute error, see [`l1_loss`](super::l1_loss).
///
/// ```
/// use ferrite_autograd::Var;
/// use ferrite_nn::loss::L1Loss;
/// use ferrite_tensor::Tensor;
/// let y = Var::new(Tensor::<f64>::from_vec(vec![1.0, -3.0], &[2])?);
/// assert_eq!(L1Loss::new().forward(&y, &Var::new(Tensor::zeros(&[2])))?.item()?, 2.0);
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct L1Loss {
    /// The reduction (default mean).
    pub reduction: Reduction,
}

impl L1Loss {
    /// PyTorch's defaults: mean reduction.
    ///
    /// ```
    /// use ferrite_nn::loss::{L1Loss, Reduction};
    /// assert_eq!(L1Loss::new().reduction, Reduction::Mean);
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the reduction.
    ///
    /// ```
    /// use ferrite_nn::loss::{L1Loss, Reduction};
    /// assert_eq!(L1Loss::new().with_reduction(Reduction::Sum).reduction, Reduction::Sum);
    /// ```
    pub fn with_reduction(mut self, reduction: Reduction) -> Self {
        self.reduction = reduction;
        self
    }

    /// The loss of `input` against `target` (same shape; both differentiable).
    ///
    /// # Errors
    /// When the shapes differ.
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_nn::loss::L1Loss;
    /// use ferrite_tensor::Tensor;
    /// let y = Var::new(Tensor::<f32>::ones(&[3]));
    /// assert!(L1Loss::new().forward(&y, &Var::new(Tensor::zeros(&[2]))).is_err());
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn forward<T: Float>(&self, input: &Var<T>, target: &Var<T>) -> Result<Var<T>> {
        input.l1_loss(target, self.reduction)
    }
}

/// `nn.SmoothL1Loss`: see [`smooth_l1_loss`](super::smooth_l1_loss); β defaults to 1.
///
/// ```
/// use ferrite_autograd::Var;
/// use ferrite_nn::loss::{Reduction, SmoothL1Loss};
/// use ferrite_tensor::Tensor;
/// let loss = SmoothL1Loss::new().with_beta(0.5).with_reduction(Reduction::Sum);
/// let y = Var::new(Tensor::<f64>::from_vec(vec![0.25, 2.0], &[2])?);
/// assert_eq!(loss.forward(&y, &Var::new(Tensor::zeros(&[2])))?.item()?, 0.0625 + 1.75);
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SmoothL1Loss {
    /// The reduction (default mean).
    pub reduction: Reduction,
    /// Where the loss turns from quadratic to linear (default 1; must be ≥ 0).
    pub beta: f64,
}

impl Default for SmoothL1Loss {
    fn default() -> Self {
        SmoothL1Loss {
            reduction: Reduction::Mean,
            beta: 1.0,
        }
    }
}

impl SmoothL1Loss {
    /// PyTorch's defaults: mean reduction, β = 1.
    ///
    /// ```
    /// use ferrite_nn::loss::SmoothL1Loss;
    /// assert_eq!(SmoothL1Loss::new().beta, 1.0);
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the reduction.
    ///
    /// ```
    /// use ferrite_nn::loss::{Reduction, SmoothL1Loss};
    /// assert_eq!(SmoothL1Loss::new().with_reduction(Reduction::Sum).reduction, Reduction::Sum);
    /// ```
    pub fn with_reduction(mut self, reduction: Reduction) -> Self {
        self.reduction = reduction;
        self
    }

    /// Sets β (checked by `forward`: it must be ≥ 0; 0 gives the L1 loss).
    ///
    /// ```
    /// use ferrite_nn::loss::SmoothL1Loss;
    /// assert_eq!(SmoothL1Loss::new().with_beta(0.0).beta, 0.0);
    /// ```
    pub fn with_beta(mut self, beta: f64) -> Self {
        self.beta = beta;
        self
    }

    /// The loss of `input` against `target` (same shape; both differentiable).
    ///
    /// # Errors
    /// When the shapes differ or β is negative.
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_nn::loss::SmoothL1Loss;
    /// use ferrite_tensor::Tensor;
    /// let y = Var::new(Tensor::<f32>::ones(&[2]));
    /// let t = Var::new(Tensor::zeros(&[2]));
    /// assert!(SmoothL1Loss::new().with_beta(-1.0).forward(&y, &t).is_err());
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn forward<T: Float>(&self, input: &Var<T>, target: &Var<T>) -> Result<Var<T>> {
        input.smooth_l1_loss(target, self.reduction, self.beta)
    }
}

/// `nn.HuberLoss`: see [`huber_loss`](super::huber_loss); δ defaults to 1.
///
/// ```
/// use ferrite_autograd::Var;
/// use ferrite_nn::loss::{HuberLoss, Reduction};
/// use ferrite_tensor::Tensor;
/// let loss = HuberLoss::new().with_delta(2.0).with_reduction(Reduction::Sum);
/// let y = Var::new(Tensor::<f64>::from_vec(vec![1.0, 3.0], &[2])?);
/// assert_eq!(loss.forward(&y, &Var::new(Tensor::zeros(&[2])))?.item()?, 0.5 + 4.0);
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HuberLoss {
    /// The reduction (default mean).
    pub reduction: Reduction,
    /// Where the loss turns from quadratic to linear (default 1; must be > 0).
    pub delta: f64,
}

impl Default for HuberLoss {
    fn default() -> Self {
        HuberLoss {
            reduction: Reduction::Mean,
            delta: 1.0,
        }
    }
}

impl HuberLoss {
    /// PyTorch's defaults: mean reduction, δ = 1.
    ///
    /// ```
    /// use ferrite_nn::loss::HuberLoss;
    /// assert_eq!(HuberLoss::new().delta, 1.0);
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the reduction.
    ///
    /// ```
    /// use ferrite_nn::loss::{HuberLoss, Reduction};
    /// assert_eq!(HuberLoss::new().with_reduction(Reduction::None).reduction, Reduction::None);
    /// ```
    pub fn with_reduction(mut self, reduction: Reduction) -> Self {
        self.reduction = reduction;
        self
    }

    /// Sets δ (checked by `forward`: it must be > 0).
    ///
    /// ```
    /// use ferrite_nn::loss::HuberLoss;
    /// assert_eq!(HuberLoss::new().with_delta(0.5).delta, 0.5);
    /// ```
    pub fn with_delta(mut self, delta: f64) -> Self {
        self.delta = delta;
        self
    }

    /// The loss of `input` against `target` (same shape; both differentiable).
    ///
    /// # Errors
    /// When the shapes differ or δ is not positive.
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_nn::loss::HuberLoss;
    /// use ferrite_tensor::Tensor;
    /// let y = Var::new(Tensor::<f32>::ones(&[2]));
    /// let t = Var::new(Tensor::zeros(&[2]));
    /// assert!(HuberLoss::new().with_delta(0.0).forward(&y, &t).is_err());
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn forward<T: Float>(&self, input: &Var<T>, target: &Var<T>) -> Result<Var<T>> {
        input.huber_loss(target, self.reduction, self.delta)
    }
}

/// `nn.KLDivLoss`: see [`kl_div`](super::kl_div). The reduction defaults to mean as in
/// PyTorch; [`KlDivReduction::BatchMean`] is the KL divergence per sample.
///
/// ```
/// use ferrite_autograd::Var;
/// use ferrite_nn::loss::{KLDivLoss, KlDivReduction};
/// use ferrite_tensor::Tensor;
/// let loss = KLDivLoss::new().with_reduction(KlDivReduction::BatchMean).with_log_target(true);
/// let logp = Var::new(Tensor::<f64>::full(&[2, 3], -(3f64.ln())));
/// assert_eq!(loss.forward(&logp, &logp)?.item()?, 0.0);
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct KLDivLoss {
    /// The reduction (default mean).
    pub reduction: KlDivReduction,
    /// Whether the target holds log-probabilities (default false).
    pub log_target: bool,
}

impl KLDivLoss {
    /// PyTorch's defaults: mean reduction, probabilities as target.
    ///
    /// ```
    /// use ferrite_nn::loss::KLDivLoss;
    /// assert!(!KLDivLoss::new().log_target);
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the reduction (a [`KlDivReduction`] or a [`Reduction`]).
    ///
    /// ```
    /// use ferrite_nn::loss::{KLDivLoss, KlDivReduction, Reduction};
    /// assert_eq!(KLDivLoss::new().with_reduction(Reduction::Sum).reduction, KlDivReduction::Sum);
    /// ```
    pub fn with_reduction(mut self, reduction: impl Into<KlDivReduction>) -> Self {
        self.reduction = reduction.into();
        self
    }

    /// Sets whether the target holds log-probabilities.
    ///
    /// ```
    /// use ferrite_nn::loss::KLDivLoss;
    /// assert!(KLDivLoss::new().with_log_target(true).log_target);
    /// ```
    pub fn with_log_target(mut self, log_target: bool) -> Self {
        self.log_target = log_target;
        self
    }

    /// The loss of log-probabilities `input` against `target` (same shape; both
    /// differentiable).
    ///
    /// # Errors
    /// When the shapes differ.
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_nn::loss::KLDivLoss;
    /// use ferrite_tensor::Tensor;
    /// let x = Var::new(Tensor::<f32>::zeros(&[2]));
    /// assert!(KLDivLoss::new().forward(&x, &Var::new(Tensor::zeros(&[3]))).is_err());
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn forward<T: Float>(&self, input: &Var<T>, target: &Var<T>) -> Result<Var<T>> {
        input.kl_div(target, self.reduction, self.log_target)
    }
}

/// `nn.BCELoss`: binary cross-entropy on probabilities, see
/// [`binary_cross_entropy`](super::binary_cross_entropy).
///
/// ```
/// use ferrite_autograd::Var;
/// use ferrite_nn::loss::BCELoss;
/// use ferrite_tensor::Tensor;
/// let loss = BCELoss::new().with_weight(Tensor::<f64>::from_vec(vec![2.0, 0.0], &[2])?);
/// let p = Var::new(Tensor::full(&[2], 0.5));
/// let t = Var::new(Tensor::ones(&[2]));
/// assert!((loss.forward(&p, &t)?.item()? - 2f64.ln()).abs() < 1e-12);
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
#[derive(Debug, Clone)]
pub struct BCELoss<T: Float> {
    /// A weight per element, broadcast to the input (default none).
    pub weight: Option<Tensor<T>>,
    /// The reduction (default mean).
    pub reduction: Reduction,
}

impl<T: Float> Default for BCELoss<T> {
    fn default() -> Self {
        BCELoss {
            weight: None,
            reduction: Reduction::Mean,
        }
    }
}

impl<T: Float> BCELoss<T> {
    /// PyTorch's defaults: no weight, mean reduction.
    ///
    /// ```
    /// use ferrite_nn::loss::BCELoss;
    /// assert!(BCELoss::<f32>::new().weight.is_none());
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the weight (checked by `forward`: it must broadcast to the input).
    ///
    /// ```
    /// use ferrite_nn::loss::BCELoss;
    /// use ferrite_tensor::Tensor;
    /// assert!(BCELoss::new().with_weight(Tensor::<f32>::ones(&[3])).weight.is_some());
    /// ```
    pub fn with_weight(mut self, weight: Tensor<T>) -> Self {
        self.weight = Some(weight);
        self
    }

    /// Sets the reduction.
    ///
    /// ```
    /// use ferrite_nn::loss::{BCELoss, Reduction};
    /// assert_eq!(BCELoss::<f32>::new().with_reduction(Reduction::Sum).reduction, Reduction::Sum);
    /// ```
    pub fn with_reduction(mut self, reduction: Reduction) -> Self {
        self.reduction = reduction;
        self
    }

    /// The loss of probabilities `input` against `target` (same shape; both
    /// differentiable).
    ///
    /// # Errors
    /// When the shapes differ, the weight does not broadcast, or an input lies outside
    /// `[0, 1]`.
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_nn::loss::BCELoss;
    /// use ferrite_tensor::Tensor;
    /// let p = Var::new(Tensor::<f32>::full(&[2], 2.0));
    /// assert!(BCELoss::new().forward(&p, &Var::new(Tensor::ones(&[2]))).is_err());
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn forward(&self, input: &Var<T>, target: &Var<T>) -> Result<Var<T>> {
        input.binary_cross_entropy(target, self.weight.as_ref(), self.reduction)
    }
}

/// `nn.BCEWithLogitsLoss`: binary cross-entropy on logits, stable, see
/// [`binary_cross_entropy_with_logits`](super::binary_cross_entropy_with_logits).
///
/// ```
/// use ferrite_autograd::Var;
/// use ferrite_nn::loss::BCEWithLogitsLoss;
/// use ferrite_tensor::Tensor;
/// let loss = BCEWithLogitsLoss::new().with_pos_weight(Tensor::<f64>::full(&[1], 3.0));
/// let x = Var::new(Tensor::zeros(&[4, 1]));
/// let t = Var::new(Tensor::ones(&[4, 1]));
/// assert!((loss.forward(&x, &t)?.item()? - 3.0 * 2f64.ln()).abs() < 1e-12);
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
#[derive(Debug, Clone)]
pub struct BCEWithLogitsLoss<T: Float> {
    /// A weight per element, broadcast to the input (default none).
    pub weight: Option<Tensor<T>>,
    /// A weight of the positive targets, broadcast to the input: `[C]` weighs each class
    /// of the last dim (default none).
    pub pos_weight: Option<Tensor<T>>,
    /// The reduction (default mean).
    pub reduction: Reduction,
}

impl<T: Float> Default for BCEWithLogitsLoss<T> {
    fn default() -> Self {
        BCEWithLogitsLoss {
            weight: None,
            pos_weight: None,
            reduction: Reduction::Mean,
        }
    }
}

impl<T: Float> BCEWithLogitsLoss<T> {
    /// PyTorch's defaults: no weights, mean reduction.
    ///
    /// ```
    /// use ferrite_nn::loss::BCEWithLogitsLoss;
    /// assert!(BCEWithLogitsLoss::<f32>::new().pos_weight.is_none());
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the weight (checked by `forward`: it must broadcast to the input).
    ///
    /// ```
    /// use ferrite_nn::loss::BCEWithLogitsLoss;
    /// use ferrite_tensor::Tensor;
    /// assert!(BCEWithLogitsLoss::new().with_weight(Tensor::<f32>::ones(&[3])).weight.is_some());
    /// ```
    pub fn with_weight(mut self, weight: Tensor<T>) -> Self {
        self.weight = Some(weight);
        self
    }

    /// Sets the weight of the positives (checked by `forward`: it must broadcast to the
    /// input).
    ///
    /// ```
    /// use ferrite_nn::loss::BCEWithLogitsLoss;
    /// use ferrite_tensor::Tensor;
    /// let loss = BCEWithLogitsLoss::new().with_pos_weight(Tensor::<f32>::ones(&[3]));
    /// assert!(loss.pos_weight.is_some());
    /// ```
    pub fn with_pos_weight(mut self, pos_weight: Tensor<T>) -> Self {
        self.pos_weight = Some(pos_weight);
        self
    }

    /// Sets the reduction.
    ///
    /// ```
    /// use ferrite_nn::loss::{BCEWithLogitsLoss, Reduction};
    /// let loss = BCEWithLogitsLoss::<f32>::new().with_reduction(Reduction::None);
    /// assert_eq!(loss.reduction, Reduction::None);
    /// ```
    pub fn with_reduction(mut self, reduction: Reduction) -> Self {
        self.reduction = reduction;
        self
    }

    /// The loss of logits `input` against `target` (same shape; both differentiable).
    ///
    /// # Errors
    /// When the shapes differ, or the weight or pos_weight does not broadcast.
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_nn::loss::BCEWithLogitsLoss;
    /// use ferrite_tensor::Tensor;
    /// let loss = BCEWithLogitsLoss::new().with_pos_weight(Tensor::<f32>::ones(&[3]));
    /// assert!(loss.forward(&Var::new(Tensor::zeros(&[2, 2])), &Var::new(Tensor::zeros(&[2, 2]))).is_err());
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn forward(&self, input: &Var<T>, target: &Var<T>) -> Result<Var<T>> {
        input.binary_cross_entropy_with_logits(
            target,
            self.weight.as_ref(),
            self.pos_weight.as_ref(),
            self.reduction,
        )
    }
}
