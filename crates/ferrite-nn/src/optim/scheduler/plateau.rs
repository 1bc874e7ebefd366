//! `torch.optim.lr_scheduler.ReduceLROnPlateau`.

use std::str::FromStr;

use ferrite_tensor::{Float, Result, TensorError};
use serde::{Deserialize, Serialize};

use super::next_epoch;
use crate::optim::Optimizer;

const OP: &str = "ReduceLROnPlateau";

/// Whether [`ReduceLROnPlateau`]'s metric should go down (a loss) or up (an accuracy).
///
/// ```
/// use ferrite_nn::optim::PlateauMode;
/// assert_eq!("max".parse::<PlateauMode>()?, PlateauMode::Max);
/// assert!("up".parse::<PlateauMode>().is_err());
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PlateauMode {
    /// Lower is better (PyTorch's default `"min"`).
    Min,
    /// Higher is better (`"max"`).
    Max,
}

impl FromStr for PlateauMode {
    type Err = TensorError;

    /// `"min"` or `"max"`; anything else is PyTorch's error.
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "min" => Ok(PlateauMode::Min),
            "max" => Ok(PlateauMode::Max),
            other => Err(TensorError::invalid(
                OP,
                format!("mode {other} is unknown!"),
            )),
        }
    }
}

/// Whether [`ReduceLROnPlateau`]'s `threshold` is relative to the best value or absolute.
///
/// ```
/// use ferrite_nn::optim::ThresholdMode;
/// assert_eq!("abs".parse::<ThresholdMode>()?, ThresholdMode::Abs);
/// assert!("pct".parse::<ThresholdMode>().is_err());
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ThresholdMode {
    /// Better means beyond `best * (1 ∓ threshold)` (PyTorch's default `"rel"`).
    Rel,
    /// Better means beyond `best ∓ threshold` (`"abs"`).
    Abs,
}

impl FromStr for ThresholdMode {
    type Err = TensorError;

    /// `"rel"` or `"abs"`; anything else is PyTorch's error.
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "rel" => Ok(ThresholdMode::Rel),
            "abs" => Ok(ThresholdMode::Abs),
            other => Err(TensorError::invalid(
                OP,
                format!("threshold mode {other} is unknown!"),
            )),
        }
    }
}

/// The settings of [`ReduceLROnPlateau`], with PyTorch's names and defaults.
///
/// ```
/// use ferrite_nn::optim::{PlateauMode, ReduceLROnPlateauConfig, ThresholdMode};
/// let c = ReduceLROnPlateauConfig::default();
/// assert_eq!((c.mode, c.factor, c.patience, c.threshold), (PlateauMode::Min, 0.1, 10, 1e-4));
/// assert_eq!((c.threshold_mode, c.cooldown, c.min_lr, c.eps), (ThresholdMode::Rel, 0, 0.0, 1e-8));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReduceLROnPlateauConfig {
    /// Lower (default) or higher is better.
    pub mode: PlateauMode,
    /// The learning rate is multiplied by it on a plateau (default 0.1; must be below 1).
    pub factor: f64,
    /// The number of epochs without improvement tolerated (default 10).
    pub patience: u64,
    /// How much better counts as better (default 1e-4).
    pub threshold: f64,
    /// Relative (default) or absolute threshold.
    pub threshold_mode: ThresholdMode,
    /// Epochs to wait after a reduction before counting bad epochs again (default 0).
    pub cooldown: u64,
    /// The lowest learning rate, for every group (default 0; see `min_lrs`).
    pub min_lr: f64,
    /// One lowest learning rate per parameter group, instead of `min_lr`.
    pub min_lrs: Option<Vec<f64>>,
    /// A reduction smaller than this is not applied (default 1e-8).
    pub eps: f64,
}

impl Default for ReduceLROnPlateauConfig {
    /// PyTorch's defaults.
    ///
    /// ```
    /// use ferrite_nn::optim::ReduceLROnPlateauConfig;
    /// assert_eq!(ReduceLROnPlateauConfig::default().patience, 10);
    /// ```
    fn default() -> Self {
        ReduceLROnPlateauConfig {
            mode: PlateauMode::Min,
            factor: 0.1,
            patience: 10,
            threshold: 1e-4,
            threshold_mode: ThresholdMode::Rel,
            cooldown: 0,
            min_lr: 0.0,
            min_lrs: None,
            eps: 1e-8,
        }
    }
}

/// Reduces the learning rate when a metric stops improving
/// (`torch.optim.lr_scheduler.ReduceLROnPlateau`): after more than `patience` epochs
/// without a better metric, each group's learning rate becomes
/// `max(lr * factor, min_lr)` (unless that changes it by `eps` or less), then `cooldown`
/// epochs pass before bad epochs count again.
///
/// Unlike the other schedulers it scales the optimizer's current learning rates and takes
/// the metric at each step: [`ReduceLROnPlateau::step`]`(optimizer, metric)`.
///
/// ```
/// use ferrite_autograd::Var;
/// use ferrite_nn::optim::{Optimizer, ReduceLROnPlateau, ReduceLROnPlateauConfig, Sgd, SgdConfig};
/// use ferrite_tensor::Tensor;
///
/// let mut opt = Sgd::new(vec![Var::parameter(Tensor::<f64>::ones(&[1]))], SgdConfig::new(0.1))?;
/// let config = ReduceLROnPlateauConfig { patience: 1, factor: 0.5, ..Default::default() };
/// let mut sched = ReduceLROnPlateau::new(&opt, config)?;
/// for val_loss in [1.0, 0.9, 0.95, 0.92] {
///     sched.step(&mut opt, val_loss)?;
/// }
/// assert_eq!(opt.lr(), 0.05); // two epochs without improvement on 0.9
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReduceLROnPlateau {
    config: ReduceLROnPlateauConfig,
    min_lrs: Vec<f64>,
    best: f64,
    num_bad_epochs: u64,
    cooldown_counter: u64,
    last_epoch: u64,
}

impl ReduceLROnPlateau {
    /// A scheduler for `optimizer` (which it does not change until a plateau).
    ///
    /// # Errors
    /// As PyTorch: `factor` of 1 or more (`Factor should be < 1.0.`), a `min_lrs` whose
    /// length is not the number of groups; also NaN settings or a negative `min_lr`.
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_nn::optim::{ReduceLROnPlateau, ReduceLROnPlateauConfig, Sgd, SgdConfig};
    /// use ferrite_tensor::Tensor;
    /// let opt = Sgd::new(vec![Var::parameter(Tensor::<f32>::ones(&[1]))], SgdConfig::new(0.1))?;
    /// let config = ReduceLROnPlateauConfig { factor: 1.0, ..Default::default() };
    /// assert!(ReduceLROnPlateau::new(&opt, config).unwrap_err().to_string().contains("Factor should be < 1.0"));
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn new<T: Float>(
        optimizer: &dyn Optimizer<T>,
        config: ReduceLROnPlateauConfig,
    ) -> Result<Self> {
        let invalid = |m: String| Err(TensorError::invalid(OP, m));
        if config.factor.is_nan() || config.factor >= 1.0 {
            return invalid(format!("Factor should be < 1.0 (found {})", config.factor));
        }
        if config.threshold.is_nan() || config.eps.is_nan() {
            return invalid(format!(
                "threshold and eps must be numbers, found {} and {}",
                config.threshold, config.eps
            ));
        }
        let groups = optimizer.num_groups();
        let min_lrs = match &config.min_lrs {
            None => vec![config.min_lr; groups],
            Some(list) if list.len() == groups => list.clone(),
            Some(list) => {
                return invalid(format!("expected {groups} min_lrs, got {}", list.len()));
            }
        };
        if let Some(bad) = min_lrs.iter().find(|lr| !(lr.is_finite() && **lr >= 0.0)) {
            return invalid(format!(
                "min_lr must be finite and non-negative, found {bad}"
            ));
        }
        let best = match config.mode {
            PlateauMode::Min => f64::INFINITY,
            PlateauMode::Max => f64::NEG_INFINITY,
        };
        Ok(ReduceLROnPlateau {
            config,
            min_lrs,
            best,
            num_bad_epochs: 0,
            cooldown_counter: 0,
            last_epoch: 0,
        })
    }

    /// Records the metric of the epoch that ended and reduces the learning rates on a
    /// plateau (PyTorch's `step(metrics)`).
    ///
    /// # Errors
    /// When `last_epoch` is at `u64::MAX`, or the optimizer has another number of groups
    /// than at construction; nothing changes then.
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_nn::optim::{Optimizer, ReduceLROnPlateau, ReduceLROnPlateauConfig, Sgd, SgdConfig};
    /// use ferrite_tensor::Tensor;
    /// let mut opt = Sgd::new(vec![Var::parameter(Tensor::<f32>::ones(&[1]))], SgdConfig::new(0.1))?;
    /// let mut sched = ReduceLROnPlateau::new(&opt, ReduceLROnPlateauConfig { patience: 0, ..Default::default() })?;
    /// sched.step(&mut opt, 1.0)?;
    /// sched.step(&mut opt, 1.0)?; // no improvement, patience 0: reduce
    /// assert!((opt.lr() - 0.01).abs() < 1e-9);
    /// assert_eq!((sched.last_epoch(), sched.best()), (2, 1.0));
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn step<T: Float>(&mut self, optimizer: &mut dyn Optimizer<T>, metric: f64) -> Result<()> {
        let epoch = next_epoch(OP, self.last_epoch)?;
        if optimizer.num_groups() != self.min_lrs.len() {
            return Err(TensorError::invalid(
                OP,
                format!(
                    "the optimizer has {} parameter groups but the scheduler was built for {}",
                    optimizer.num_groups(),
                    self.min_lrs.len()
                ),
            ));
        }
        let mut next = self.clone();
        next.last_epoch = epoch;
        if next.is_better(metric) {
            next.best = metric;
            next.num_bad_epochs = 0;
        } else {
            next.num_bad_epochs += 1;
        }
        if next.cooldown_counter > 0 {
            next.cooldown_counter -= 1;
            next.num_bad_epochs = 0;
        }
        if next.num_bad_epochs > next.config.patience {
            optimizer.set_lrs(&next.reduced(&optimizer.lrs()))?;
            next.cooldown_counter = next.config.cooldown;
            next.num_bad_epochs = 0;
        }
        *self = next;
        Ok(())
    }

    /// PyTorch's `_reduce_lr`: `max(lr * factor, min_lr)`, applied only if it lowers the
    /// learning rate by more than `eps`.
    fn reduced(&self, lrs: &[f64]) -> Vec<f64> {
        lrs.iter()
            .zip(&self.min_lrs)
            .map(|(&old, &min_lr)| {
                let new = (old * self.config.factor).max(min_lr);
                if old - new > self.config.eps {
                    new
                } else {
                    old
                }
            })
            .collect()
    }

    /// PyTorch's `is_better` (a NaN metric is never better).
    fn is_better(&self, a: f64) -> bool {
        let (best, threshold) = (self.best, self.config.threshold);
        match (self.config.mode, self.config.threshold_mode) {
            (PlateauMode::Min, ThresholdMode::Rel) => a < best * (1.0 - threshold),
            (PlateauMode::Min, ThresholdMode::Abs) => a < best - threshold,
            (PlateauMode::Max, ThresholdMode::Rel) => a > best * (threshold + 1.0),
            (PlateauMode::Max, ThresholdMode::Abs) => a > best + threshold,
        }
    }

    /// The best metric so far (`±inf` before the first step).
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_nn::optim::{ReduceLROnPlateau, ReduceLROnPlateauConfig, Sgd, SgdConfig};
    /// use ferrite_tensor::Tensor;
    /// let opt = Sgd::new(vec![Var::parameter(Tensor::<f32>::ones(&[1]))], SgdConfig::new(0.1))?;
    /// assert_eq!(ReduceLROnPlateau::new(&opt, Default::default())?.best(), f64::INFINITY);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn best(&self) -> f64 {
        self.best
    }

    /// The number of `step` calls so far.
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_nn::optim::{ReduceLROnPlateau, Sgd, SgdConfig};
    /// use ferrite_tensor::Tensor;
    /// let opt = Sgd::new(vec![Var::parameter(Tensor::<f32>::ones(&[1]))], SgdConfig::new(0.1))?;
    /// assert_eq!(ReduceLROnPlateau::new(&opt, Default::default())?.last_epoch(), 0);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn last_epoch(&self) -> u64 {
        self.last_epoch
    }
}
