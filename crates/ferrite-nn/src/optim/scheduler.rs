//! Learning-rate schedulers (`torch.optim.lr_scheduler.StepLR`, `CosineAnnealingLR`).
//!
//! As in PyTorch, a scheduler is created after its optimizer (it takes the optimizer's
//! current learning rate as its `base_lr`, at epoch 0) and [`LrScheduler::step`] is called
//! once per epoch, after that epoch's optimizer steps; it then sets the learning rate of
//! epoch `last_epoch + 1`.
//!
//! **Which of PyTorch's formulas.** `scheduler.step()` in PyTorch uses the recursive
//! ("chainable") `get_lr`, which derives each learning rate from the optimizer's current one;
//! `_get_closed_form_lr` gives the same values as a function of the epoch alone. The two agree
//! mathematically (also past `T_max`, where the cosine rises again with period `2 * T_max`)
//! and differ only by rounding, about 1e-16 relative. The schedulers here use the **closed
//! forms**, evaluated as PyTorch writes them in `f64`:
//!
//! * `StepLR`: `base_lr * gamma ** (last_epoch // step_size)`
//! * `CosineAnnealingLR`: `eta_min + (base_lr - eta_min) * (1 + cos(pi * last_epoch / T_max)) / 2`
//!
//! so a scheduler's state is just `base_lr` and `last_epoch` (plus its settings), it can be
//! saved and restored exactly, and rounding does not drift over long runs. The price: a
//! learning rate set on the optimizer by something else is overwritten at the next `step`
//! (PyTorch's recursive form would scale it instead).

use ferrite_tensor::{Float, Result, TensorError};
use serde::{Deserialize, Serialize};

use super::Optimizer;

/// What the schedulers share: a learning rate for each epoch, and `step` to move to the next
/// epoch and set the optimizer's learning rate.
///
/// ```
/// use ferrite_autograd::Var;
/// use ferrite_nn::optim::{LrScheduler, Optimizer, Sgd, SgdConfig, StepLR};
/// use ferrite_tensor::Tensor;
///
/// fn train<S: LrScheduler>(opt: &mut dyn Optimizer<f32>, sched: &mut S, epochs: usize) -> ferrite_tensor::Result<Vec<f64>> {
///     let mut lrs = Vec::new();
///     for _ in 0..epochs {
///         lrs.push(opt.lr());
///         // ... forward, backward, opt.step() for every batch ...
///         sched.step(opt)?;
///     }
///     Ok(lrs)
/// }
/// let mut opt = Sgd::new(vec![Var::parameter(Tensor::<f32>::ones(&[1]))], SgdConfig::new(1.0))?;
/// let mut sched = StepLR::new(&opt, 2, 0.5)?;
/// assert_eq!(train(&mut opt, &mut sched, 5)?, vec![1.0, 1.0, 0.5, 0.5, 0.25]);
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
pub trait LrScheduler {
    /// The learning rate of `epoch` (the closed form; epoch 0 gives `base_lr`).
    fn lr_at(&self, epoch: u64) -> f64;

    /// The learning rate the schedule started from (the optimizer's when it was created).
    fn base_lr(&self) -> f64;

    /// The number of `step` calls so far (PyTorch's `last_epoch`).
    fn last_epoch(&self) -> u64;

    /// The learning rate set by the last `step` (PyTorch's `get_last_lr()`).
    fn last_lr(&self) -> f64 {
        self.lr_at(self.last_epoch())
    }

    /// Moves to the next epoch and sets the optimizer's learning rate to its value.
    ///
    /// # Errors
    /// When the optimizer refuses the learning rate (negative or not finite), or when
    /// `last_epoch` is already `u64::MAX` (a restored scheduler: the count cannot go
    /// further, and wrapping to epoch 0 would restart the schedule); the epoch does not
    /// advance and the learning rate is not changed then.
    fn step<T: Float>(&mut self, optimizer: &mut dyn Optimizer<T>) -> Result<()>;
}

/// Multiplies the learning rate by `gamma` every `step_size` epochs
/// (`torch.optim.lr_scheduler.StepLR`): `lr = base_lr * gamma^(epoch / step_size)`.
///
/// Serializable with serde (its settings, `base_lr` and `last_epoch`); deserializing checks
/// the settings as [`StepLR::new`] does.
///
/// ```
/// use ferrite_autograd::Var;
/// use ferrite_nn::optim::{LrScheduler, Optimizer, Sgd, SgdConfig, StepLR};
/// use ferrite_tensor::Tensor;
///
/// let mut opt = Sgd::new(vec![Var::parameter(Tensor::<f32>::ones(&[1]))], SgdConfig::new(0.1))?;
/// let mut sched = StepLR::new(&opt, 3, 0.1)?;
/// for _ in 0..3 {
///     sched.step(&mut opt)?;
/// }
/// assert_eq!(sched.last_epoch(), 3);
/// assert!((opt.lr() - 0.01).abs() < 1e-15);
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "StepLRFields")]
pub struct StepLR {
    step_size: u64,
    gamma: f64,
    base_lr: f64,
    last_epoch: u64,
}

#[derive(Deserialize)]
struct StepLRFields {
    step_size: u64,
    gamma: f64,
    base_lr: f64,
    last_epoch: u64,
}

impl TryFrom<StepLRFields> for StepLR {
    type Error = TensorError;
    fn try_from(f: StepLRFields) -> Result<Self> {
        StepLR::check(f.step_size, f.gamma, f.base_lr)?;
        Ok(StepLR {
            step_size: f.step_size,
            gamma: f.gamma,
            base_lr: f.base_lr,
            last_epoch: f.last_epoch,
        })
    }
}

impl StepLR {
    /// A schedule starting from the optimizer's current learning rate, at epoch 0.
    ///
    /// # Errors
    /// When `step_size` is 0 or `gamma` is negative or not finite.
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_nn::optim::{LrScheduler, Sgd, SgdConfig, StepLR};
    /// use ferrite_tensor::Tensor;
    /// let opt = Sgd::new(vec![Var::parameter(Tensor::<f32>::ones(&[1]))], SgdConfig::new(0.1))?;
    /// let sched = StepLR::new(&opt, 30, 0.1)?;
    /// assert_eq!((sched.base_lr(), sched.last_epoch(), sched.last_lr()), (0.1, 0, 0.1));
    /// assert!(StepLR::new(&opt, 0, 0.1).is_err());
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn new<T: Float>(optimizer: &dyn Optimizer<T>, step_size: u64, gamma: f64) -> Result<Self> {
        let base_lr = optimizer.lr();
        Self::check(step_size, gamma, base_lr)?;
        Ok(StepLR {
            step_size,
            gamma,
            base_lr,
            last_epoch: 0,
        })
    }

    fn check(step_size: u64, gamma: f64, base_lr: f64) -> Result<()> {
        if step_size == 0 {
            return Err(TensorError::invalid(
                "StepLR",
                "step_size must be at least 1",
            ));
        }
        if !(gamma.is_finite() && gamma >= 0.0) {
            return Err(TensorError::invalid(
                "StepLR",
                format!("gamma must be finite and non-negative, found {gamma}"),
            ));
        }
        check_base_lr("StepLR", base_lr)
    }

    /// The number of epochs between two decays.
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_nn::optim::{Sgd, SgdConfig, StepLR};
    /// use ferrite_tensor::Tensor;
    /// let opt = Sgd::new(vec![Var::parameter(Tensor::<f32>::ones(&[1]))], SgdConfig::new(0.1))?;
    /// assert_eq!(StepLR::new(&opt, 30, 0.1)?.step_size(), 30);
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
    /// let opt = Sgd::new(vec![Var::parameter(Tensor::<f32>::ones(&[1]))], SgdConfig::new(0.1))?;
    /// assert_eq!(StepLR::new(&opt, 30, 0.5)?.gamma(), 0.5);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn gamma(&self) -> f64 {
        self.gamma
    }
}

impl LrScheduler for StepLR {
    fn lr_at(&self, epoch: u64) -> f64 {
        // Python: base_lr * gamma ** (last_epoch // step_size), a float power.
        self.base_lr * self.gamma.powf((epoch / self.step_size) as f64)
    }

    fn base_lr(&self) -> f64 {
        self.base_lr
    }

    fn last_epoch(&self) -> u64 {
        self.last_epoch
    }

    fn step<T: Float>(&mut self, optimizer: &mut dyn Optimizer<T>) -> Result<()> {
        self.last_epoch = advance("StepLR", self.last_epoch, |e| self.lr_at(e), optimizer)?;
        Ok(())
    }
}

/// Cosine annealing from `base_lr` down to `eta_min` over `t_max` epochs
/// (`torch.optim.lr_scheduler.CosineAnnealingLR`, without restarts):
/// `lr = eta_min + (base_lr - eta_min) * (1 + cos(pi * epoch / t_max)) / 2`.
/// Past `t_max` the learning rate rises again, as in PyTorch.
///
/// Serializable with serde (its settings, `base_lr` and `last_epoch`); deserializing checks
/// the settings as [`CosineAnnealingLR::new`] does.
///
/// ```
/// use ferrite_autograd::Var;
/// use ferrite_nn::optim::{CosineAnnealingLR, LrScheduler, Optimizer, Sgd, SgdConfig};
/// use ferrite_tensor::Tensor;
///
/// let mut opt = Sgd::new(vec![Var::parameter(Tensor::<f32>::ones(&[1]))], SgdConfig::new(0.1))?;
/// let mut sched = CosineAnnealingLR::new(&opt, 4, 0.0)?;
/// sched.step(&mut opt)?;
/// sched.step(&mut opt)?;
/// assert!((opt.lr() - 0.05).abs() < 1e-15); // halfway
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "CosineFields")]
pub struct CosineAnnealingLR {
    t_max: u64,
    eta_min: f64,
    base_lr: f64,
    last_epoch: u64,
}

#[derive(Deserialize)]
struct CosineFields {
    t_max: u64,
    eta_min: f64,
    base_lr: f64,
    last_epoch: u64,
}

impl TryFrom<CosineFields> for CosineAnnealingLR {
    type Error = TensorError;
    fn try_from(f: CosineFields) -> Result<Self> {
        CosineAnnealingLR::check(f.t_max, f.eta_min, f.base_lr)?;
        Ok(CosineAnnealingLR {
            t_max: f.t_max,
            eta_min: f.eta_min,
            base_lr: f.base_lr,
            last_epoch: f.last_epoch,
        })
    }
}

impl CosineAnnealingLR {
    /// A schedule starting from the optimizer's current learning rate, at epoch 0.
    ///
    /// # Errors
    /// When `t_max` is 0 or `eta_min` is negative or not finite.
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_nn::optim::{CosineAnnealingLR, LrScheduler, Sgd, SgdConfig};
    /// use ferrite_tensor::Tensor;
    /// let opt = Sgd::new(vec![Var::parameter(Tensor::<f32>::ones(&[1]))], SgdConfig::new(0.1))?;
    /// let sched = CosineAnnealingLR::new(&opt, 10, 0.001)?;
    /// assert_eq!(sched.lr_at(0), 0.1);
    /// assert!((sched.lr_at(10) - 0.001).abs() < 1e-15);
    /// assert!(CosineAnnealingLR::new(&opt, 0, 0.0).is_err());
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn new<T: Float>(optimizer: &dyn Optimizer<T>, t_max: u64, eta_min: f64) -> Result<Self> {
        let base_lr = optimizer.lr();
        Self::check(t_max, eta_min, base_lr)?;
        Ok(CosineAnnealingLR {
            t_max,
            eta_min,
            base_lr,
            last_epoch: 0,
        })
    }

    fn check(t_max: u64, eta_min: f64, base_lr: f64) -> Result<()> {
        if t_max == 0 {
            return Err(TensorError::invalid(
                "CosineAnnealingLR",
                "T_max must be at least 1",
            ));
        }
        if !(eta_min.is_finite() && eta_min >= 0.0) {
            return Err(TensorError::invalid(
                "CosineAnnealingLR",
                format!("eta_min must be finite and non-negative, found {eta_min}"),
            ));
        }
        check_base_lr("CosineAnnealingLR", base_lr)
    }

    /// The number of epochs from `base_lr` down to `eta_min`.
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_nn::optim::{CosineAnnealingLR, Sgd, SgdConfig};
    /// use ferrite_tensor::Tensor;
    /// let opt = Sgd::new(vec![Var::parameter(Tensor::<f32>::ones(&[1]))], SgdConfig::new(0.1))?;
    /// assert_eq!(CosineAnnealingLR::new(&opt, 50, 0.0)?.t_max(), 50);
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
    /// let opt = Sgd::new(vec![Var::parameter(Tensor::<f32>::ones(&[1]))], SgdConfig::new(0.1))?;
    /// assert_eq!(CosineAnnealingLR::new(&opt, 50, 1e-4)?.eta_min(), 1e-4);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn eta_min(&self) -> f64 {
        self.eta_min
    }
}

impl LrScheduler for CosineAnnealingLR {
    fn lr_at(&self, epoch: u64) -> f64 {
        // Python: eta_min + (base_lr - eta_min) * (1 + math.cos(math.pi * last_epoch / T_max)) / 2
        let angle = std::f64::consts::PI * epoch as f64 / self.t_max as f64;
        self.eta_min + (self.base_lr - self.eta_min) * (1.0 + angle.cos()) / 2.0
    }

    fn base_lr(&self) -> f64 {
        self.base_lr
    }

    fn last_epoch(&self) -> u64 {
        self.last_epoch
    }

    fn step<T: Float>(&mut self, optimizer: &mut dyn Optimizer<T>) -> Result<()> {
        self.last_epoch = advance(
            "CosineAnnealingLR",
            self.last_epoch,
            |e| self.lr_at(e),
            optimizer,
        )?;
        Ok(())
    }
}

/// What `step` does for every scheduler: moves to epoch `last_epoch + 1` (refused at
/// `u64::MAX` rather than wrapped to 0), sets the optimizer's learning rate to `lr_at` that
/// epoch, and returns the epoch. Nothing changes when an error is returned.
fn advance<T: Float>(
    op: &'static str,
    last_epoch: u64,
    lr_at: impl Fn(u64) -> f64,
    optimizer: &mut dyn Optimizer<T>,
) -> Result<u64> {
    let epoch = last_epoch.checked_add(1).ok_or_else(|| {
        TensorError::invalid(
            op,
            format!(
                "last_epoch is at its maximum {last_epoch}: cannot step to another epoch \
                 (the learning rate is left unchanged)"
            ),
        )
    })?;
    optimizer.set_lr(lr_at(epoch))?;
    Ok(epoch)
}

fn check_base_lr(op: &'static str, base_lr: f64) -> Result<()> {
    if !(base_lr.is_finite() && base_lr >= 0.0) {
        return Err(TensorError::invalid(
            op,
            format!("base_lr must be finite and non-negative, found {base_lr}"),
        ));
    }
    Ok(())
}
