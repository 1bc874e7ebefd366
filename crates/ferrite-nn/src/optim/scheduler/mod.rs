//! Learning-rate schedulers, as `torch.optim.lr_scheduler`: [`StepLR`], [`MultiStepLR`],
//! [`ExponentialLR`], [`CosineAnnealingLR`], [`CosineAnnealingWarmRestarts`], [`LinearLR`],
//! [`OneCycleLR`] (with momentum cycling), [`SequentialLR`] and [`ReduceLROnPlateau`].
//!
//! As in PyTorch, a scheduler is created after its optimizer and sets the learning rate of
//! epoch 0 at once (e.g. [`LinearLR`]'s `start_factor`). Each call of
//! [`LrScheduler::step`] moves to the next epoch (`last_epoch + 1`) and sets that epoch's
//! learning rate in every parameter group. Whether an "epoch" is an epoch or an iteration
//! is up to the caller: call `step` after every batch for [`OneCycleLR`] or a warm-up
//! counted in iterations, after every epoch for the others.
//!
//! **Base learning rates.** Like PyTorch's `group["initial_lr"]`, the first scheduler built
//! on an optimizer records each group's current learning rate as the group's `initial_lr`
//! ([`Optimizer::hyper_param`]); every scheduler then starts from it, so several schedulers
//! built on the same optimizer (for [`SequentialLR`]) share the same base learning rates
//! even though the first changed the learning rate already. [`OneCycleLR`] sets
//! `initial_lr` to `max_lr / div_factor`, as PyTorch does.
//!
//! **Which of PyTorch's formulas.** `scheduler.step()` in PyTorch uses the recursive
//! ("chainable") `get_lr`, which derives each learning rate from the optimizer's current one;
//! `_get_closed_form_lr` gives the same values as a function of the epoch alone. The two agree
//! mathematically and differ only by rounding, about 1e-16 relative. The schedulers here use
//! the **closed forms**, evaluated as PyTorch writes them in `f64` (see each type), so a
//! scheduler's state is its settings, its base learning rates and `last_epoch`; it can be
//! saved and restored exactly (serde), and rounding does not drift over long runs. The price:
//! a learning rate set on the optimizer by something else is overwritten at the next `step`
//! (PyTorch's recursive form would scale it instead). [`ReduceLROnPlateau`] has no closed
//! form: it scales the optimizer's current learning rates, as in PyTorch.
//!
//! Errors come where PyTorch raises them: invalid settings at construction, and the errors
//! PyTorch only meets while computing a learning rate (a division by zero for `StepLR` with
//! `step_size` 0, stepping [`OneCycleLR`] past `total_steps`) at the `step` that meets them.
//! A `step` that fails changes nothing.

mod closed;
mod one_cycle;
mod plateau;
mod sequential;

use ferrite_tensor::{Float, Result, TensorError};

use super::Optimizer;

pub use closed::{
    CosineAnnealingLR, CosineAnnealingWarmRestarts, ExponentialLR, LinearLR, MultiStepLR, StepLR,
};
pub use one_cycle::{AnnealStrategy, OneCycleConfig, OneCycleLR};
pub use plateau::{PlateauMode, ReduceLROnPlateau, ReduceLROnPlateauConfig, ThresholdMode};
pub use sequential::{Scheduler, SequentialLR};

/// What the epoch-driven schedulers share: a learning rate for each parameter group at each
/// epoch, and `step` to move to the next epoch and set the optimizer's learning rates.
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
/// let mut sched = StepLR::new(&mut opt, 2, 0.5)?;
/// assert_eq!(train(&mut opt, &mut sched, 5)?, vec![1.0, 1.0, 0.5, 0.5, 0.25]);
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
pub trait LrScheduler {
    /// The learning rate of each parameter group at `epoch` (the closed form).
    ///
    /// # Errors
    /// Where PyTorch's computation raises (e.g. `StepLR` with `step_size` 0 past epoch 0,
    /// `OneCycleLR` past `total_steps`).
    fn lrs_at(&self, epoch: u64) -> Result<Vec<f64>>;

    /// The learning rate each group's schedule starts from (PyTorch's `base_lrs`).
    fn base_lrs(&self) -> &[f64];

    /// The number of `step` calls so far (PyTorch's `last_epoch`).
    fn last_epoch(&self) -> u64;

    /// The learning rates set by the last `step` (PyTorch's `get_last_lr()`).
    fn last_lrs(&self) -> Vec<f64> {
        self.lrs_at(self.last_epoch())
            .unwrap_or_else(|_| self.base_lrs().to_vec())
    }

    /// The learning rate of the first parameter group set by the last `step`.
    fn last_lr(&self) -> f64 {
        self.last_lrs().first().copied().unwrap_or(f64::NAN)
    }

    /// Moves to the next epoch and sets the optimizer's learning rates to its values.
    ///
    /// # Errors
    /// When the learning rate of the next epoch cannot be computed ([`LrScheduler::lrs_at`]),
    /// when the optimizer refuses it (negative or not finite, or another number of parameter
    /// groups), or when `last_epoch` is already `u64::MAX` (a restored scheduler: the count
    /// cannot go further, and wrapping to epoch 0 would restart the schedule); the epoch
    /// does not advance and the learning rates are not changed then.
    fn step<T: Float>(&mut self, optimizer: &mut dyn Optimizer<T>) -> Result<()>;
}

/// The base learning rates of a new scheduler: each group's `initial_lr`, recorded from its
/// current learning rate by the first scheduler built on the optimizer (PyTorch's
/// `group.setdefault("initial_lr", group["lr"])`).
fn initial_lrs<T: Float>(op: &'static str, optimizer: &mut dyn Optimizer<T>) -> Result<Vec<f64>> {
    let mut base = Vec::with_capacity(optimizer.num_groups());
    for group in 0..optimizer.num_groups() {
        let lr = match optimizer.hyper_param(group, "initial_lr") {
            Some(lr) => lr,
            None => optimizer.hyper_param(group, "lr").unwrap_or(f64::NAN),
        };
        check_base_lr(op, lr)?;
        base.push(lr);
    }
    for (group, &lr) in base.iter().enumerate() {
        optimizer.set_hyper_param(group, "initial_lr", lr)?;
    }
    Ok(base)
}

/// What `step` does for the closed-form schedulers: moves to epoch `last_epoch + 1`
/// (refused at `u64::MAX` rather than wrapped to 0), sets the optimizer's learning rates to
/// `lrs_at` that epoch, and returns the epoch. Nothing changes when an error is returned.
fn advance<T: Float>(
    op: &'static str,
    last_epoch: u64,
    lrs_at: impl Fn(u64) -> Result<Vec<f64>>,
    optimizer: &mut dyn Optimizer<T>,
) -> Result<u64> {
    let epoch = next_epoch(op, last_epoch)?;
    optimizer.set_lrs(&lrs_at(epoch)?)?;
    Ok(epoch)
}

/// `last_epoch + 1`, refused at `u64::MAX`.
fn next_epoch(op: &'static str, last_epoch: u64) -> Result<u64> {
    last_epoch.checked_add(1).ok_or_else(|| {
        TensorError::invalid(
            op,
            format!(
                "last_epoch is at its maximum {last_epoch}: cannot step to another epoch \
                 (the learning rate is left unchanged)"
            ),
        )
    })
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

/// `base_lrs.map(f)`, for the schedules whose every group follows the same formula.
fn per_group(base_lrs: &[f64], f: impl Fn(f64) -> f64) -> Result<Vec<f64>> {
    Ok(base_lrs.iter().map(|&b| f(b)).collect())
}
