//! The one-cycle policy (`torch.optim.lr_scheduler.OneCycleLR`).

use std::str::FromStr;

use ferrite_tensor::{Float, Result, TensorError};
use serde::{Deserialize, Serialize};

use super::{LrScheduler, check_base_lr, next_epoch};
use crate::optim::Optimizer;

const OP: &str = "OneCycleLR";

/// How [`OneCycleLR`] goes from one value to the next within a phase.
///
/// ```
/// use ferrite_nn::optim::AnnealStrategy;
/// assert_eq!("cos".parse::<AnnealStrategy>()?, AnnealStrategy::Cos);
/// assert!("exp".parse::<AnnealStrategy>().is_err());
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AnnealStrategy {
    /// Cosine annealing (PyTorch's default `"cos"`).
    Cos,
    /// Linear annealing (`"linear"`).
    Linear,
}

impl FromStr for AnnealStrategy {
    type Err = TensorError;

    /// `"cos"` or `"linear"`; anything else is PyTorch's error.
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "cos" => Ok(AnnealStrategy::Cos),
            "linear" => Ok(AnnealStrategy::Linear),
            other => Err(TensorError::invalid(
                OP,
                format!("anneal_strategy must be one of 'cos' or 'linear', instead got {other}"),
            )),
        }
    }
}

impl AnnealStrategy {
    /// PyTorch's `_annealing_cos` / `_annealing_linear`, in its operation order.
    fn anneal(self, start: f64, end: f64, pct: f64) -> f64 {
        match self {
            AnnealStrategy::Cos => {
                let cos_out = (std::f64::consts::PI * pct).cos() + 1.0;
                end + (start - end) / 2.0 * cos_out
            }
            AnnealStrategy::Linear => (end - start) * pct + start,
        }
    }
}

/// The settings of [`OneCycleLR`], with PyTorch's names and defaults.
///
/// ```
/// use ferrite_nn::optim::{AnnealStrategy, OneCycleConfig};
/// let c = OneCycleConfig::new(0.1, 1000);
/// assert_eq!((c.pct_start, c.anneal_strategy, c.cycle_momentum), (0.3, AnnealStrategy::Cos, true));
/// assert_eq!((c.base_momentum, c.max_momentum, c.div_factor, c.final_div_factor), (0.85, 0.95, 25.0, 1e4));
/// let c = OneCycleConfig::with_epochs(0.1, 10, 100);
/// assert_eq!((c.total_steps, c.epochs, c.steps_per_epoch), (None, Some(10), Some(100)));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OneCycleConfig {
    /// The peak learning rate of every parameter group (see `max_lrs`).
    pub max_lr: f64,
    /// One peak learning rate per parameter group, instead of `max_lr` (PyTorch's list).
    pub max_lrs: Option<Vec<f64>>,
    /// The number of steps of the cycle; or `None` and `epochs * steps_per_epoch`.
    pub total_steps: Option<u64>,
    /// With `steps_per_epoch`, the cycle's length when `total_steps` is `None`.
    pub epochs: Option<u64>,
    /// With `epochs`, the cycle's length when `total_steps` is `None`.
    pub steps_per_epoch: Option<u64>,
    /// The fraction of the cycle spent increasing the learning rate (default 0.3).
    pub pct_start: f64,
    /// Cosine (default) or linear annealing.
    pub anneal_strategy: AnnealStrategy,
    /// Cycle the momentum (SGD's or RMSprop's `momentum`, Adam's `beta1`) inversely to the
    /// learning rate, between `base_momentum` and `max_momentum` (default true).
    pub cycle_momentum: bool,
    /// The lowest momentum, at the peak learning rate (default 0.85).
    pub base_momentum: f64,
    /// The highest momentum, at the start and end (default 0.95).
    pub max_momentum: f64,
    /// The initial learning rate is `max_lr / div_factor` (default 25).
    pub div_factor: f64,
    /// The final learning rate is `initial / final_div_factor` (default 1e4).
    pub final_div_factor: f64,
    /// Three phases: up, back down to the initial learning rate, then to the final one
    /// (default false: up, then down to the final one).
    pub three_phase: bool,
}

impl OneCycleConfig {
    /// A cycle of `total_steps` steps peaking at `max_lr`, with PyTorch's defaults.
    ///
    /// ```
    /// use ferrite_nn::optim::OneCycleConfig;
    /// assert_eq!(OneCycleConfig::new(0.1, 100).total_steps, Some(100));
    /// ```
    pub fn new(max_lr: f64, total_steps: u64) -> Self {
        OneCycleConfig {
            max_lr,
            max_lrs: None,
            total_steps: Some(total_steps),
            epochs: None,
            steps_per_epoch: None,
            pct_start: 0.3,
            anneal_strategy: AnnealStrategy::Cos,
            cycle_momentum: true,
            base_momentum: 0.85,
            max_momentum: 0.95,
            div_factor: 25.0,
            final_div_factor: 1e4,
            three_phase: false,
        }
    }

    /// A cycle of `epochs * steps_per_epoch` steps peaking at `max_lr`.
    ///
    /// ```
    /// use ferrite_nn::optim::OneCycleConfig;
    /// assert_eq!(OneCycleConfig::with_epochs(0.1, 3, 4).epochs, Some(3));
    /// ```
    pub fn with_epochs(max_lr: f64, epochs: u64, steps_per_epoch: u64) -> Self {
        OneCycleConfig {
            total_steps: None,
            epochs: Some(epochs),
            steps_per_epoch: Some(steps_per_epoch),
            ..OneCycleConfig::new(max_lr, 0)
        }
    }

    /// The number of steps of the cycle.
    ///
    /// # Errors
    /// As PyTorch: `total_steps` 0, `epochs` or `steps_per_epoch` 0, or neither set.
    fn total(&self) -> Result<u64> {
        let invalid = |m: String| Err(TensorError::invalid(OP, m));
        match (self.total_steps, self.epochs, self.steps_per_epoch) {
            (Some(0), ..) => invalid("Expected positive integer total_steps, but got 0".into()),
            (Some(total), ..) => Ok(total),
            (None, Some(0), Some(_)) => {
                invalid("Expected positive integer epochs, but got 0".into())
            }
            (None, Some(_), Some(0)) => {
                invalid("Expected positive integer steps_per_epoch, but got 0".into())
            }
            (None, Some(epochs), Some(steps)) => epochs.checked_mul(steps).map_or_else(
                || {
                    invalid(format!(
                        "epochs * steps_per_epoch overflows: {epochs} * {steps}"
                    ))
                },
                Ok,
            ),
            _ => {
                invalid("You must define either total_steps OR (epochs AND steps_per_epoch)".into())
            }
        }
    }
}

/// One phase: it ends at step `end_step` and goes from `start` to `end` (indices into
/// `[initial, max, min]`) and the momentum from `start_momentum` to `end_momentum`
/// (indices into `[max_momentum, base_momentum]`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
struct Phase {
    end_step: f64,
    start: usize,
    end: usize,
    start_momentum: usize,
    end_momentum: usize,
}

/// The one-cycle policy (`torch.optim.lr_scheduler.OneCycleLR`): the learning rate rises
/// from `max_lr / div_factor` to `max_lr`, then falls to `max_lr / div_factor /
/// final_div_factor`, in `total_steps` steps; with `cycle_momentum` the momentum (or
/// Adam's `beta1`) moves the other way between `max_momentum` and `base_momentum`. Call
/// [`LrScheduler::step`] after every batch.
///
/// As in PyTorch: construction sets each group's `initial_lr` to `max_lr / div_factor`, and
/// its learning rate and momentum to step 0's; stepping to step `total_steps` extrapolates
/// past the end of the last phase, one more step is an error; a phase of zero length that
/// a step falls in (e.g. `pct_start * total_steps == 1`, the first phase at step 0) is
/// PyTorch's division by zero, an error. One difference: PyTorch sets whatever the formula
/// gives, and at step `total_steps` linear annealing extrapolates below zero; the
/// optimizers here refuse a negative learning rate, so that step fails (cosine annealing
/// stays above the final learning rate and runs).
///
/// ```
/// use ferrite_autograd::Var;
/// use ferrite_nn::optim::{LrScheduler, OneCycleConfig, OneCycleLR, Optimizer, Sgd, SgdConfig};
/// use ferrite_tensor::Tensor;
///
/// let mut opt = Sgd::new(vec![Var::parameter(Tensor::<f64>::ones(&[1]))], SgdConfig::new(0.01))?;
/// let mut sched = OneCycleLR::new(&mut opt, OneCycleConfig::new(0.1, 10))?;
/// assert!((opt.lr() - 0.004).abs() < 1e-15); // max_lr / 25
/// assert_eq!(opt.hyper_param(0, "momentum"), Some(0.95));
/// for _ in 0..2 {
///     sched.step(&mut opt)?;
/// }
/// assert!((opt.lr() - 0.1).abs() < 1e-15); // the peak, at step pct_start * 10 - 1
/// assert!((opt.hyper_param(0, "momentum").unwrap() - 0.85).abs() < 1e-15);
/// for _ in 2..10 {
///     sched.step(&mut opt)?;
/// }
/// assert!(sched.step(&mut opt).is_err()); // past total_steps
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OneCycleLR {
    total_steps: u64,
    anneal_strategy: AnnealStrategy,
    phases: Vec<Phase>,
    /// Per group: `[initial, max, min]` learning rates.
    group_lrs: Vec<[f64; 3]>,
    /// `[max_momentum, base_momentum]`, when cycling it.
    momenta: Option<[f64; 2]>,
    /// `"momentum"` or `"beta1"`: what cycling the momentum sets.
    momentum_name: Option<String>,
    base_lrs: Vec<f64>,
    last_epoch: u64,
}

impl OneCycleLR {
    /// The schedule of `config` on `optimizer`, at step 0.
    ///
    /// # Errors
    /// As PyTorch: no cycle length (or a zero one), `pct_start` outside `[0, 1]`, a
    /// `max_lrs` whose length is not the number of groups, `cycle_momentum` on an optimizer
    /// without `momentum` nor `beta1` (Adagrad), a zero-length first phase; also negative or
    /// non-finite learning rates.
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_nn::optim::{Adagrad, AdagradConfig, OneCycleConfig, OneCycleLR};
    /// use ferrite_tensor::Tensor;
    /// let mut opt = Adagrad::new(vec![Var::parameter(Tensor::<f32>::ones(&[1]))], AdagradConfig::new(0.1))?;
    /// assert!(OneCycleLR::new(&mut opt, OneCycleConfig::new(0.1, 10)).is_err());
    /// let config = OneCycleConfig { cycle_momentum: false, ..OneCycleConfig::new(0.1, 10) };
    /// assert!(OneCycleLR::new(&mut opt, config).is_ok());
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn new<T: Float>(optimizer: &mut dyn Optimizer<T>, config: OneCycleConfig) -> Result<Self> {
        let total_steps = config.total()?;
        if !(0.0..=1.0).contains(&config.pct_start) {
            return Err(TensorError::invalid(
                OP,
                format!(
                    "Expected float between 0 and 1 pct_start, but got {}",
                    config.pct_start
                ),
            ));
        }
        let group_lrs = group_lrs(&config, optimizer.num_groups())?;
        let momentum_name = match config.cycle_momentum {
            false => None,
            true => Some(momentum_name(optimizer)?),
        };
        let scheduler = OneCycleLR {
            total_steps,
            anneal_strategy: config.anneal_strategy,
            phases: phases(config.pct_start, total_steps as f64, config.three_phase),
            base_lrs: group_lrs.iter().map(|g| g[0]).collect(),
            group_lrs,
            momenta: momentum_name
                .is_some()
                .then_some([config.max_momentum, config.base_momentum]),
            momentum_name: momentum_name.map(str::to_string),
            last_epoch: 0,
        };
        let first = scheduler.at(0)?;
        for (group, &lr) in scheduler.base_lrs.iter().enumerate() {
            optimizer.set_hyper_param(group, "initial_lr", lr)?;
        }
        scheduler.apply(&first, optimizer)?;
        Ok(scheduler)
    }

    /// The momentum (or `beta1`) of each group at `step`; `None` without `cycle_momentum`.
    ///
    /// # Errors
    /// As [`LrScheduler::lrs_at`].
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_nn::optim::{OneCycleConfig, OneCycleLR, Sgd, SgdConfig};
    /// use ferrite_tensor::Tensor;
    /// let mut opt = Sgd::new(vec![Var::parameter(Tensor::<f32>::ones(&[1]))], SgdConfig::new(0.1))?;
    /// let sched = OneCycleLR::new(&mut opt, OneCycleConfig::new(0.1, 10))?;
    /// assert_eq!(sched.momenta_at(0)?, Some(vec![0.95]));
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn momenta_at(&self, step: u64) -> Result<Option<Vec<f64>>> {
        Ok(self.at(step)?.1)
    }

    /// The learning rates and momenta at `step`: PyTorch's `get_lr`.
    fn at(&self, step: u64) -> Result<(Vec<f64>, Option<Vec<f64>>)> {
        if step > self.total_steps {
            return Err(TensorError::invalid(
                OP,
                format!(
                    "Tried to step {step} times. The specified number of total steps is {}",
                    self.total_steps
                ),
            ));
        }
        let step_num = step as f64;
        let mut start_step = 0.0;
        let last = self.phases.len() - 1;
        let (phase, pct) = self
            .phases
            .iter()
            .enumerate()
            .find_map(|(i, phase)| {
                if step_num <= phase.end_step || i == last {
                    return Some((phase, (step_num - start_step, phase.end_step - start_step)));
                }
                start_step = phase.end_step;
                None
            })
            .expect("the last phase always matches");
        let (done, length) = pct;
        if length == 0.0 {
            return Err(TensorError::invalid(
                OP,
                format!(
                    "step {step} falls in a phase of zero length (ending at step {}): \
                     division by zero, as in PyTorch; use another pct_start or total_steps",
                    phase.end_step
                ),
            ));
        }
        let pct = done / length;
        let anneal = |a: f64, b: f64| self.anneal_strategy.anneal(a, b, pct);
        let lrs = self
            .group_lrs
            .iter()
            .map(|g| anneal(g[phase.start], g[phase.end]))
            .collect();
        let momenta = self.momenta.map(|m| {
            let value = anneal(m[phase.start_momentum], m[phase.end_momentum]);
            vec![value; self.group_lrs.len()]
        });
        Ok((lrs, momenta))
    }

    /// Sets the learning rates, then the momenta.
    fn apply<T: Float>(
        &self,
        (lrs, momenta): &(Vec<f64>, Option<Vec<f64>>),
        optimizer: &mut dyn Optimizer<T>,
    ) -> Result<()> {
        optimizer.set_lrs(lrs)?;
        if let (Some(momenta), Some(name)) = (momenta, &self.momentum_name) {
            for (group, &m) in momenta.iter().enumerate() {
                optimizer.set_hyper_param(group, name, m)?;
            }
        }
        Ok(())
    }

    /// Sets the learning rates and momenta of `epoch` (for [`SequentialLR`](super::SequentialLR)).
    pub(super) fn apply_at<T: Float>(
        &self,
        epoch: u64,
        optimizer: &mut dyn Optimizer<T>,
    ) -> Result<()> {
        let values = self.at(epoch)?;
        self.apply(&values, optimizer)
    }
}

/// `[initial, max, min]` learning rates of each group.
fn group_lrs(config: &OneCycleConfig, groups: usize) -> Result<Vec<[f64; 3]>> {
    let max_lrs = match &config.max_lrs {
        None => vec![config.max_lr; groups],
        Some(list) if list.len() == groups => list.clone(),
        Some(list) => {
            return Err(TensorError::invalid(
                OP,
                format!("expected {groups} values for max_lr, got {}", list.len()),
            ));
        }
    };
    max_lrs
        .into_iter()
        .map(|max_lr| {
            let initial = max_lr / config.div_factor;
            let min = initial / config.final_div_factor;
            for lr in [max_lr, initial, min] {
                check_base_lr(OP, lr)?;
            }
            Ok([initial, max_lr, min])
        })
        .collect()
}

/// What cycling the momentum sets: `momentum`, else Adam's `beta1`.
fn momentum_name<T: Float>(optimizer: &dyn Optimizer<T>) -> Result<&'static str> {
    if optimizer.hyper_param(0, "momentum").is_some() {
        Ok("momentum")
    } else if optimizer.hyper_param(0, "beta1").is_some() {
        Ok("beta1")
    } else {
        Err(TensorError::invalid(
            OP,
            format!(
                "optimizer must support momentum or beta1 with `cycle_momentum` option \
                 enabled ('{}' has neither)",
                optimizer.kind()
            ),
        ))
    }
}

/// PyTorch's `_schedule_phases`: lr indices 0 initial, 1 max, 2 min; momentum indices 0
/// max, 1 base.
fn phases(pct_start: f64, total: f64, three_phase: bool) -> Vec<Phase> {
    let phase = |end_step, start, end, start_momentum, end_momentum| Phase {
        end_step,
        start,
        end,
        start_momentum,
        end_momentum,
    };
    if three_phase {
        vec![
            phase(pct_start * total - 1.0, 0, 1, 0, 1),
            phase(2.0 * pct_start * total - 2.0, 1, 0, 1, 0),
            phase(total - 1.0, 0, 2, 0, 0),
        ]
    } else {
        vec![
            phase(pct_start * total - 1.0, 0, 1, 0, 1),
            phase(total - 1.0, 1, 2, 1, 0),
        ]
    }
}

impl LrScheduler for OneCycleLR {
    fn lrs_at(&self, epoch: u64) -> Result<Vec<f64>> {
        Ok(self.at(epoch)?.0)
    }

    fn base_lrs(&self) -> &[f64] {
        &self.base_lrs
    }

    fn last_epoch(&self) -> u64 {
        self.last_epoch
    }

    /// Moves to the next step and sets its learning rates and, with `cycle_momentum`, its
    /// momenta.
    fn step<T: Float>(&mut self, optimizer: &mut dyn Optimizer<T>) -> Result<()> {
        let epoch = next_epoch(OP, self.last_epoch)?;
        self.apply_at(epoch, optimizer)?;
        self.last_epoch = epoch;
        Ok(())
    }
}
