//! The schedulers whose learning rate is a function of the epoch alone.

use ferrite_tensor::{Float, Result, TensorError};
use serde::{Deserialize, Serialize};

use super::{LrScheduler, advance, initial_lrs, per_group};
use crate::optim::Optimizer;

/// The "division by zero" PyTorch raises for a period of 0 once past epoch 0.
fn zero_period(op: &'static str, name: &str) -> TensorError {
    TensorError::invalid(
        op,
        format!("{name} is 0: the learning rate past epoch 0 divides by zero"),
    )
}

/// A new closed-form scheduler: base learning rates from the optimizer, then epoch 0's
/// learning rates set on it.
fn start<T: Float, S: LrScheduler>(
    optimizer: &mut dyn Optimizer<T>,
    op: &'static str,
    build: impl FnOnce(Vec<f64>) -> S,
) -> Result<S> {
    let scheduler = build(initial_lrs(op, optimizer)?);
    optimizer.set_lrs(&scheduler.lrs_at(0)?)?;
    Ok(scheduler)
}

fn check_gamma(op: &'static str, gamma: f64) -> Result<()> {
    if !(gamma.is_finite() && gamma >= 0.0) {
        return Err(TensorError::invalid(
            op,
            format!("gamma must be finite and non-negative, found {gamma}"),
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------

/// Multiplies the learning rate by `gamma` every `step_size` epochs
/// (`torch.optim.lr_scheduler.StepLR`): `lr = base_lr * gamma^(epoch / step_size)`.
///
/// A `step_size` of 0 constructs, as in PyTorch, and fails at the first `step`.
/// Serializable with serde (settings, `base_lrs`, `last_epoch`).
///
/// ```
/// use ferrite_autograd::Var;
/// use ferrite_nn::optim::{LrScheduler, Optimizer, Sgd, SgdConfig, StepLR};
/// use ferrite_tensor::Tensor;
///
/// let mut opt = Sgd::new(vec![Var::parameter(Tensor::<f32>::ones(&[1]))], SgdConfig::new(0.1))?;
/// let mut sched = StepLR::new(&mut opt, 3, 0.1)?;
/// for _ in 0..3 {
///     sched.step(&mut opt)?;
/// }
/// assert_eq!(sched.last_epoch(), 3);
/// assert!((opt.lr() - 0.01).abs() < 1e-15);
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepLR {
    step_size: u64,
    gamma: f64,
    base_lrs: Vec<f64>,
    last_epoch: u64,
}

impl StepLR {
    /// A schedule from the optimizer's base learning rates, at epoch 0.
    ///
    /// # Errors
    /// When `gamma` is negative or not finite, or a base learning rate is invalid.
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_nn::optim::{LrScheduler, Optimizer, Sgd, SgdConfig, StepLR};
    /// use ferrite_tensor::Tensor;
    /// let mut opt = Sgd::new(vec![Var::parameter(Tensor::<f32>::ones(&[1]))], SgdConfig::new(0.1))?;
    /// let sched = StepLR::new(&mut opt, 30, 0.1)?;
    /// assert_eq!((sched.base_lrs(), sched.last_epoch(), sched.last_lr()), (&[0.1][..], 0, 0.1));
    /// let mut zero = StepLR::new(&mut opt, 0, 0.1)?; // as PyTorch: fails at the first step
    /// assert!(zero.step(&mut opt).is_err());
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn new<T: Float>(
        optimizer: &mut dyn Optimizer<T>,
        step_size: u64,
        gamma: f64,
    ) -> Result<Self> {
        check_gamma("StepLR", gamma)?;
        start(optimizer, "StepLR", |base_lrs| StepLR {
            step_size,
            gamma,
            base_lrs,
            last_epoch: 0,
        })
    }

    /// The number of epochs between two decays.
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_nn::optim::{Sgd, SgdConfig, StepLR};
    /// use ferrite_tensor::Tensor;
    /// let mut opt = Sgd::new(vec![Var::parameter(Tensor::<f32>::ones(&[1]))], SgdConfig::new(0.1))?;
    /// assert_eq!(StepLR::new(&mut opt, 30, 0.1)?.step_size(), 30);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn step_size(&self) -> u64 {
        self.step_size
    }

    /// The decay factor.
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_nn::optim::{Sgd, SgdConfig, StepLR};
    /// use ferrite_tensor::Tensor;
    /// let mut opt = Sgd::new(vec![Var::parameter(Tensor::<f32>::ones(&[1]))], SgdConfig::new(0.1))?;
    /// assert_eq!(StepLR::new(&mut opt, 30, 0.5)?.gamma(), 0.5);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn gamma(&self) -> f64 {
        self.gamma
    }
}

impl LrScheduler for StepLR {
    fn lrs_at(&self, epoch: u64) -> Result<Vec<f64>> {
        if epoch == 0 {
            return Ok(self.base_lrs.clone());
        }
        if self.step_size == 0 {
            return Err(zero_period("StepLR", "step_size"));
        }
        // Python: base_lr * gamma ** (last_epoch // step_size), a float power.
        let power = self.gamma.powf((epoch / self.step_size) as f64);
        per_group(&self.base_lrs, |b| b * power)
    }

    fn base_lrs(&self) -> &[f64] {
        &self.base_lrs
    }

    fn last_epoch(&self) -> u64 {
        self.last_epoch
    }

    fn step<T: Float>(&mut self, optimizer: &mut dyn Optimizer<T>) -> Result<()> {
        self.last_epoch = advance("StepLR", self.last_epoch, |e| self.lrs_at(e), optimizer)?;
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------

/// Multiplies the learning rate by `gamma` at each milestone epoch
/// (`torch.optim.lr_scheduler.MultiStepLR`): `lr = base_lr * gamma^k`, `k` the number of
/// milestones `<= epoch`. A milestone given twice counts twice; the order does not matter.
///
/// ```
/// use ferrite_autograd::Var;
/// use ferrite_nn::optim::{LrScheduler, MultiStepLR, Optimizer, Sgd, SgdConfig};
/// use ferrite_tensor::Tensor;
///
/// let mut opt = Sgd::new(vec![Var::parameter(Tensor::<f64>::ones(&[1]))], SgdConfig::new(1.0))?;
/// let mut sched = MultiStepLR::new(&mut opt, &[2, 4], 0.5)?;
/// let mut lrs = vec![opt.lr()];
/// for _ in 0..5 {
///     sched.step(&mut opt)?;
///     lrs.push(opt.lr());
/// }
/// assert_eq!(lrs, vec![1.0, 1.0, 0.5, 0.5, 0.25, 0.25]);
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MultiStepLR {
    /// Sorted.
    milestones: Vec<u64>,
    gamma: f64,
    base_lrs: Vec<f64>,
    last_epoch: u64,
}

impl MultiStepLR {
    /// A schedule from the optimizer's base learning rates, at epoch 0.
    ///
    /// # Errors
    /// When `gamma` is negative or not finite, or a base learning rate is invalid.
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_nn::optim::{LrScheduler, MultiStepLR, Sgd, SgdConfig};
    /// use ferrite_tensor::Tensor;
    /// let mut opt = Sgd::new(vec![Var::parameter(Tensor::<f32>::ones(&[1]))], SgdConfig::new(0.1))?;
    /// let sched = MultiStepLR::new(&mut opt, &[5, 5], 0.1)?;
    /// assert!((sched.lrs_at(5)?[0] - 0.001).abs() < 1e-15); // a repeated milestone counts twice
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn new<T: Float>(
        optimizer: &mut dyn Optimizer<T>,
        milestones: &[u64],
        gamma: f64,
    ) -> Result<Self> {
        check_gamma("MultiStepLR", gamma)?;
        let mut milestones = milestones.to_vec();
        milestones.sort_unstable();
        start(optimizer, "MultiStepLR", |base_lrs| MultiStepLR {
            milestones,
            gamma,
            base_lrs,
            last_epoch: 0,
        })
    }
}

impl LrScheduler for MultiStepLR {
    fn lrs_at(&self, epoch: u64) -> Result<Vec<f64>> {
        // Python: base_lr * gamma ** bisect_right(milestones, last_epoch)
        let passed = self.milestones.partition_point(|&m| m <= epoch);
        let power = self.gamma.powf(passed as f64);
        per_group(&self.base_lrs, |b| b * power)
    }

    fn base_lrs(&self) -> &[f64] {
        &self.base_lrs
    }

    fn last_epoch(&self) -> u64 {
        self.last_epoch
    }

    fn step<T: Float>(&mut self, optimizer: &mut dyn Optimizer<T>) -> Result<()> {
        self.last_epoch = advance(
            "MultiStepLR",
            self.last_epoch,
            |e| self.lrs_at(e),
            optimizer,
        )?;
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------

/// Multiplies the learning rate by `gamma` every epoch
/// (`torch.optim.lr_scheduler.ExponentialLR`): `lr = base_lr * gamma^epoch`.
///
/// ```
/// use ferrite_autograd::Var;
/// use ferrite_nn::optim::{ExponentialLR, LrScheduler, Optimizer, Sgd, SgdConfig};
/// use ferrite_tensor::Tensor;
///
/// let mut opt = Sgd::new(vec![Var::parameter(Tensor::<f64>::ones(&[1]))], SgdConfig::new(1.0))?;
/// let mut sched = ExponentialLR::new(&mut opt, 0.5)?;
/// sched.step(&mut opt)?;
/// sched.step(&mut opt)?;
/// assert_eq!(opt.lr(), 0.25);
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExponentialLR {
    gamma: f64,
    base_lrs: Vec<f64>,
    last_epoch: u64,
}

impl ExponentialLR {
    /// A schedule from the optimizer's base learning rates, at epoch 0.
    ///
    /// # Errors
    /// When `gamma` is negative or not finite, or a base learning rate is invalid.
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_nn::optim::{ExponentialLR, Sgd, SgdConfig};
    /// use ferrite_tensor::Tensor;
    /// let mut opt = Sgd::new(vec![Var::parameter(Tensor::<f32>::ones(&[1]))], SgdConfig::new(0.1))?;
    /// assert!(ExponentialLR::new(&mut opt, f64::NAN).is_err());
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn new<T: Float>(optimizer: &mut dyn Optimizer<T>, gamma: f64) -> Result<Self> {
        check_gamma("ExponentialLR", gamma)?;
        start(optimizer, "ExponentialLR", |base_lrs| ExponentialLR {
            gamma,
            base_lrs,
            last_epoch: 0,
        })
    }
}

impl LrScheduler for ExponentialLR {
    fn lrs_at(&self, epoch: u64) -> Result<Vec<f64>> {
        // Python: base_lr * gamma ** last_epoch
        let power = self.gamma.powf(epoch as f64);
        per_group(&self.base_lrs, |b| b * power)
    }

    fn base_lrs(&self) -> &[f64] {
        &self.base_lrs
    }

    fn last_epoch(&self) -> u64 {
        self.last_epoch
    }

    fn step<T: Float>(&mut self, optimizer: &mut dyn Optimizer<T>) -> Result<()> {
        self.last_epoch = advance(
            "ExponentialLR",
            self.last_epoch,
            |e| self.lrs_at(e),
            optimizer,
        )?;
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------

/// `eta_min + (base - eta_min) * (1 + cos(pi * t / period)) / 2`, as PyTorch writes it.
fn cosine(base: f64, eta_min: f64, t: f64, period: f64) -> f64 {
    eta_min + (base - eta_min) * (1.0 + (std::f64::consts::PI * t / period).cos()) / 2.0
}

/// Cosine annealing from `base_lr` down to `eta_min` over `t_max` epochs
/// (`torch.optim.lr_scheduler.CosineAnnealingLR`):
/// `lr = eta_min + (base_lr - eta_min) * (1 + cos(pi * epoch / t_max)) / 2`.
/// Past `t_max` the learning rate rises again, as in PyTorch. A `t_max` of 0 constructs, as
/// in PyTorch, and fails at the first `step`.
///
/// ```
/// use ferrite_autograd::Var;
/// use ferrite_nn::optim::{CosineAnnealingLR, LrScheduler, Optimizer, Sgd, SgdConfig};
/// use ferrite_tensor::Tensor;
///
/// let mut opt = Sgd::new(vec![Var::parameter(Tensor::<f32>::ones(&[1]))], SgdConfig::new(0.1))?;
/// let mut sched = CosineAnnealingLR::new(&mut opt, 4, 0.0)?;
/// sched.step(&mut opt)?;
/// sched.step(&mut opt)?;
/// assert!((opt.lr() - 0.05).abs() < 1e-15); // halfway
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CosineAnnealingLR {
    t_max: u64,
    eta_min: f64,
    base_lrs: Vec<f64>,
    last_epoch: u64,
}

impl CosineAnnealingLR {
    /// A schedule from the optimizer's base learning rates, at epoch 0.
    ///
    /// # Errors
    /// When `eta_min` is negative or not finite, or a base learning rate is invalid.
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_nn::optim::{CosineAnnealingLR, LrScheduler, Sgd, SgdConfig};
    /// use ferrite_tensor::Tensor;
    /// let mut opt = Sgd::new(vec![Var::parameter(Tensor::<f32>::ones(&[1]))], SgdConfig::new(0.1))?;
    /// let sched = CosineAnnealingLR::new(&mut opt, 10, 0.001)?;
    /// assert_eq!(sched.lrs_at(0)?, vec![0.1]);
    /// assert!((sched.lrs_at(10)?[0] - 0.001).abs() < 1e-15);
    /// assert!(CosineAnnealingLR::new(&mut opt, 10, -1.0).is_err());
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn new<T: Float>(
        optimizer: &mut dyn Optimizer<T>,
        t_max: u64,
        eta_min: f64,
    ) -> Result<Self> {
        if !(eta_min.is_finite() && eta_min >= 0.0) {
            return Err(TensorError::invalid(
                "CosineAnnealingLR",
                format!("eta_min must be finite and non-negative, found {eta_min}"),
            ));
        }
        start(optimizer, "CosineAnnealingLR", |base_lrs| {
            CosineAnnealingLR {
                t_max,
                eta_min,
                base_lrs,
                last_epoch: 0,
            }
        })
    }

    /// The number of epochs from `base_lr` down to `eta_min`.
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_nn::optim::{CosineAnnealingLR, Sgd, SgdConfig};
    /// use ferrite_tensor::Tensor;
    /// let mut opt = Sgd::new(vec![Var::parameter(Tensor::<f32>::ones(&[1]))], SgdConfig::new(0.1))?;
    /// assert_eq!(CosineAnnealingLR::new(&mut opt, 50, 0.0)?.t_max(), 50);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn t_max(&self) -> u64 {
        self.t_max
    }

    /// The smallest learning rate, reached at epoch `t_max`.
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_nn::optim::{CosineAnnealingLR, Sgd, SgdConfig};
    /// use ferrite_tensor::Tensor;
    /// let mut opt = Sgd::new(vec![Var::parameter(Tensor::<f32>::ones(&[1]))], SgdConfig::new(0.1))?;
    /// assert_eq!(CosineAnnealingLR::new(&mut opt, 50, 1e-4)?.eta_min(), 1e-4);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn eta_min(&self) -> f64 {
        self.eta_min
    }
}

impl LrScheduler for CosineAnnealingLR {
    fn lrs_at(&self, epoch: u64) -> Result<Vec<f64>> {
        if epoch == 0 {
            return Ok(self.base_lrs.clone());
        }
        if self.t_max == 0 {
            return Err(zero_period("CosineAnnealingLR", "T_max"));
        }
        // Python: eta_min + (base_lr - eta_min) * (1 + math.cos(math.pi * last_epoch / T_max)) / 2
        let (t, period) = (epoch as f64, self.t_max as f64);
        per_group(&self.base_lrs, |b| cosine(b, self.eta_min, t, period))
    }

    fn base_lrs(&self) -> &[f64] {
        &self.base_lrs
    }

    fn last_epoch(&self) -> u64 {
        self.last_epoch
    }

    fn step<T: Float>(&mut self, optimizer: &mut dyn Optimizer<T>) -> Result<()> {
        self.last_epoch = advance(
            "CosineAnnealingLR",
            self.last_epoch,
            |e| self.lrs_at(e),
            optimizer,
        )?;
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------

/// Cosine annealing with warm restarts (SGDR,
/// `torch.optim.lr_scheduler.CosineAnnealingWarmRestarts`): the first cycle lasts `t_0`
/// epochs, each next one `t_mult` times longer; within a cycle
/// `lr = eta_min + (base_lr - eta_min) * (1 + cos(pi * t_cur / t_i)) / 2`.
///
/// `t_cur` and `t_i` are computed from the epoch in integers, exactly as PyTorch's `step()`
/// counts them (`t_cur += 1`; at `t_cur >= t_i`, `t_cur -= t_i` and `t_i *= t_mult`).
///
/// ```
/// use ferrite_autograd::Var;
/// use ferrite_nn::optim::{CosineAnnealingWarmRestarts, LrScheduler, Sgd, SgdConfig};
/// use ferrite_tensor::Tensor;
///
/// let mut opt = Sgd::new(vec![Var::parameter(Tensor::<f64>::ones(&[1]))], SgdConfig::new(0.1))?;
/// let sched = CosineAnnealingWarmRestarts::new(&mut opt, 2, 2, 0.0)?;
/// // cycles: epochs 0-1 (t_i 2), 2-5 (t_i 4), 6-13 (t_i 8): restarts at 2 and 6
/// assert_eq!(sched.lrs_at(2)?, vec![0.1]);
/// assert_eq!(sched.lrs_at(6)?, vec![0.1]);
/// assert!((sched.lrs_at(4)?[0] - 0.05).abs() < 1e-15);
/// assert!(CosineAnnealingWarmRestarts::new(&mut opt, 0, 1, 0.0).is_err());
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CosineAnnealingWarmRestarts {
    t_0: u64,
    t_mult: u64,
    eta_min: f64,
    base_lrs: Vec<f64>,
    last_epoch: u64,
}

impl CosineAnnealingWarmRestarts {
    /// A schedule from the optimizer's base learning rates, at epoch 0.
    ///
    /// # Errors
    /// As PyTorch: `t_0` below 1 (`Expected positive integer T_0`), `t_mult` below 1
    /// (`Expected integer T_mult >= 1`); also a negative or non-finite `eta_min`.
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_nn::optim::{CosineAnnealingWarmRestarts, Sgd, SgdConfig};
    /// use ferrite_tensor::Tensor;
    /// let mut opt = Sgd::new(vec![Var::parameter(Tensor::<f32>::ones(&[1]))], SgdConfig::new(0.1))?;
    /// let err = CosineAnnealingWarmRestarts::new(&mut opt, 10, 0, 0.0).unwrap_err();
    /// assert!(err.to_string().contains("T_mult"));
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn new<T: Float>(
        optimizer: &mut dyn Optimizer<T>,
        t_0: u64,
        t_mult: u64,
        eta_min: f64,
    ) -> Result<Self> {
        const OP: &str = "CosineAnnealingWarmRestarts";
        if t_0 < 1 {
            return Err(TensorError::invalid(
                OP,
                format!("Expected positive integer T_0, but got {t_0}"),
            ));
        }
        if t_mult < 1 {
            return Err(TensorError::invalid(
                OP,
                format!("Expected integer T_mult >= 1, but got {t_mult}"),
            ));
        }
        if !(eta_min.is_finite() && eta_min >= 0.0) {
            return Err(TensorError::invalid(
                OP,
                format!("eta_min must be finite and non-negative, found {eta_min}"),
            ));
        }
        start(optimizer, OP, |base_lrs| CosineAnnealingWarmRestarts {
            t_0,
            t_mult,
            eta_min,
            base_lrs,
            last_epoch: 0,
        })
    }

    /// `(t_cur, t_i)` at `epoch`, as PyTorch's step-by-step counting reaches them.
    fn position(&self, epoch: u64) -> (u64, u64) {
        let t_0 = self.t_0.max(1);
        if self.t_mult <= 1 {
            return (epoch % t_0, t_0);
        }
        // The cycles grow geometrically: at most 64 of them fit in a u64 epoch.
        let (mut t_cur, mut t_i) = (epoch, t_0);
        while t_cur >= t_i {
            t_cur -= t_i;
            match t_i.checked_mul(self.t_mult) {
                Some(next) => t_i = next,
                None => break, // longer than any epoch can reach
            }
        }
        (t_cur, t_i)
    }
}

impl LrScheduler for CosineAnnealingWarmRestarts {
    fn lrs_at(&self, epoch: u64) -> Result<Vec<f64>> {
        let (t_cur, t_i) = self.position(epoch);
        let (t, period) = (t_cur as f64, t_i as f64);
        per_group(&self.base_lrs, |b| cosine(b, self.eta_min, t, period))
    }

    fn base_lrs(&self) -> &[f64] {
        &self.base_lrs
    }

    fn last_epoch(&self) -> u64 {
        self.last_epoch
    }

    fn step<T: Float>(&mut self, optimizer: &mut dyn Optimizer<T>) -> Result<()> {
        self.last_epoch = advance(
            "CosineAnnealingWarmRestarts",
            self.last_epoch,
            |e| self.lrs_at(e),
            optimizer,
        )?;
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------

/// Scales the learning rate by a factor going linearly from `start_factor` to
/// `end_factor` over `total_iters` epochs, then stays (`torch.optim.lr_scheduler.LinearLR`;
/// a warm-up with `start_factor < 1`):
/// `lr = base_lr * (start + (end - start) * min(epoch, total_iters) / total_iters)`.
/// With `total_iters` 0 the factor stays `start_factor`, as PyTorch's `step()` gives.
///
/// ```
/// use ferrite_autograd::Var;
/// use ferrite_nn::optim::{LinearLR, LrScheduler, Optimizer, Sgd, SgdConfig};
/// use ferrite_tensor::Tensor;
///
/// let mut opt = Sgd::new(vec![Var::parameter(Tensor::<f64>::ones(&[1]))], SgdConfig::new(0.1))?;
/// let mut warmup = LinearLR::new(&mut opt, 0.25, 1.0, 3)?;
/// assert_eq!(opt.lr(), 0.025); // set at construction, as PyTorch does
/// for _ in 0..3 {
///     warmup.step(&mut opt)?;
/// }
/// assert_eq!(opt.lr(), 0.1);
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinearLR {
    start_factor: f64,
    end_factor: f64,
    total_iters: u64,
    base_lrs: Vec<f64>,
    last_epoch: u64,
}

impl LinearLR {
    /// A schedule from the optimizer's base learning rates; sets epoch 0's learning rate
    /// (`base_lr * start_factor`). PyTorch's defaults are `start_factor = 1/3`,
    /// `end_factor = 1`, `total_iters = 5`.
    ///
    /// # Errors
    /// As PyTorch: `start_factor` outside `(0, 1]`, `end_factor` outside `[0, 1]`.
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_nn::optim::{LinearLR, Sgd, SgdConfig};
    /// use ferrite_tensor::Tensor;
    /// let mut opt = Sgd::new(vec![Var::parameter(Tensor::<f32>::ones(&[1]))], SgdConfig::new(0.1))?;
    /// let err = LinearLR::new(&mut opt, 0.0, 1.0, 4).unwrap_err();
    /// assert!(err.to_string().contains("Starting multiplicative factor"));
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn new<T: Float>(
        optimizer: &mut dyn Optimizer<T>,
        start_factor: f64,
        end_factor: f64,
        total_iters: u64,
    ) -> Result<Self> {
        // `!(0 < x <= 1)` also refuses NaN.
        if !(start_factor > 0.0 && start_factor <= 1.0) {
            return Err(TensorError::invalid(
                "LinearLR",
                format!(
                    "Starting multiplicative factor expected to be greater than 0 and less or \
                     equal to 1, found {start_factor}"
                ),
            ));
        }
        if !(0.0..=1.0).contains(&end_factor) {
            return Err(TensorError::invalid(
                "LinearLR",
                format!(
                    "Ending multiplicative factor expected to be between 0 and 1, found {end_factor}"
                ),
            ));
        }
        start(optimizer, "LinearLR", |base_lrs| LinearLR {
            start_factor,
            end_factor,
            total_iters,
            base_lrs,
            last_epoch: 0,
        })
    }
}

impl LrScheduler for LinearLR {
    fn lrs_at(&self, epoch: u64) -> Result<Vec<f64>> {
        if self.total_iters == 0 {
            return per_group(&self.base_lrs, |b| b * self.start_factor);
        }
        // Python: base_lr * (start_factor + (end_factor - start_factor)
        //                    * min(total_iters, last_epoch) / total_iters)
        let done = epoch.min(self.total_iters) as f64;
        let span = self.end_factor - self.start_factor;
        let factor = self.start_factor + span * done / self.total_iters as f64;
        per_group(&self.base_lrs, |b| b * factor)
    }

    fn base_lrs(&self) -> &[f64] {
        &self.base_lrs
    }

    fn last_epoch(&self) -> u64 {
        self.last_epoch
    }

    fn step<T: Float>(&mut self, optimizer: &mut dyn Optimizer<T>) -> Result<()> {
        self.last_epoch = advance("LinearLR", self.last_epoch, |e| self.lrs_at(e), optimizer)?;
        Ok(())
    }
}
