//! [`SequentialLR`] and [`Scheduler`], any of the epoch-driven schedulers.

use ferrite_tensor::{Float, Result, TensorError};
use serde::{Deserialize, Serialize};

use super::{
    CosineAnnealingLR, CosineAnnealingWarmRestarts, ExponentialLR, LinearLR, LrScheduler,
    MultiStepLR, OneCycleLR, StepLR, initial_lrs, next_epoch,
};
use crate::optim::Optimizer;

const OP: &str = "SequentialLR";

/// Any of the epoch-driven schedulers, for [`SequentialLR`] or for code that chooses the
/// schedule at run time. Every scheduler converts into it with `.into()`.
///
/// ```
/// use ferrite_autograd::Var;
/// use ferrite_nn::optim::{ExponentialLR, LrScheduler, Optimizer, Scheduler, Sgd, SgdConfig, StepLR};
/// use ferrite_tensor::Tensor;
///
/// let mut opt = Sgd::new(vec![Var::parameter(Tensor::<f64>::ones(&[1]))], SgdConfig::new(1.0))?;
/// let mut sched: Scheduler = if true {
///     ExponentialLR::new(&mut opt, 0.5)?.into()
/// } else {
///     StepLR::new(&mut opt, 10, 0.1)?.into()
/// };
/// sched.step(&mut opt)?;
/// assert_eq!(opt.lr(), 0.5);
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Scheduler {
    /// [`StepLR`].
    StepLR(StepLR),
    /// [`MultiStepLR`].
    MultiStepLR(MultiStepLR),
    /// [`ExponentialLR`].
    ExponentialLR(ExponentialLR),
    /// [`CosineAnnealingLR`].
    CosineAnnealingLR(CosineAnnealingLR),
    /// [`CosineAnnealingWarmRestarts`].
    CosineAnnealingWarmRestarts(CosineAnnealingWarmRestarts),
    /// [`LinearLR`].
    LinearLR(LinearLR),
    /// [`OneCycleLR`].
    OneCycleLR(OneCycleLR),
}

impl From<StepLR> for Scheduler {
    fn from(s: StepLR) -> Self {
        Scheduler::StepLR(s)
    }
}

impl From<MultiStepLR> for Scheduler {
    fn from(s: MultiStepLR) -> Self {
        Scheduler::MultiStepLR(s)
    }
}

impl From<ExponentialLR> for Scheduler {
    fn from(s: ExponentialLR) -> Self {
        Scheduler::ExponentialLR(s)
    }
}

impl From<CosineAnnealingLR> for Scheduler {
    fn from(s: CosineAnnealingLR) -> Self {
        Scheduler::CosineAnnealingLR(s)
    }
}

impl From<CosineAnnealingWarmRestarts> for Scheduler {
    fn from(s: CosineAnnealingWarmRestarts) -> Self {
        Scheduler::CosineAnnealingWarmRestarts(s)
    }
}

impl From<LinearLR> for Scheduler {
    fn from(s: LinearLR) -> Self {
        Scheduler::LinearLR(s)
    }
}

impl From<OneCycleLR> for Scheduler {
    fn from(s: OneCycleLR) -> Self {
        Scheduler::OneCycleLR(s)
    }
}

impl Scheduler {
    /// Sets the learning rates (and OneCycleLR's momenta) of `epoch`.
    fn apply_at<T: Float>(&self, epoch: u64, optimizer: &mut dyn Optimizer<T>) -> Result<()> {
        match self {
            Scheduler::OneCycleLR(s) => s.apply_at(epoch, optimizer),
            other => optimizer.set_lrs(&other.lrs_at(epoch)?),
        }
    }
}

impl LrScheduler for Scheduler {
    fn lrs_at(&self, epoch: u64) -> Result<Vec<f64>> {
        match self {
            Scheduler::StepLR(s) => s.lrs_at(epoch),
            Scheduler::MultiStepLR(s) => s.lrs_at(epoch),
            Scheduler::ExponentialLR(s) => s.lrs_at(epoch),
            Scheduler::CosineAnnealingLR(s) => s.lrs_at(epoch),
            Scheduler::CosineAnnealingWarmRestarts(s) => s.lrs_at(epoch),
            Scheduler::LinearLR(s) => s.lrs_at(epoch),
            Scheduler::OneCycleLR(s) => s.lrs_at(epoch),
        }
    }

    fn base_lrs(&self) -> &[f64] {
        match self {
            Scheduler::StepLR(s) => s.base_lrs(),
            Scheduler::MultiStepLR(s) => s.base_lrs(),
            Scheduler::ExponentialLR(s) => s.base_lrs(),
            Scheduler::CosineAnnealingLR(s) => s.base_lrs(),
            Scheduler::CosineAnnealingWarmRestarts(s) => s.base_lrs(),
            Scheduler::LinearLR(s) => s.base_lrs(),
            Scheduler::OneCycleLR(s) => s.base_lrs(),
        }
    }

    fn last_epoch(&self) -> u64 {
        match self {
            Scheduler::StepLR(s) => s.last_epoch(),
            Scheduler::MultiStepLR(s) => s.last_epoch(),
            Scheduler::ExponentialLR(s) => s.last_epoch(),
            Scheduler::CosineAnnealingLR(s) => s.last_epoch(),
            Scheduler::CosineAnnealingWarmRestarts(s) => s.last_epoch(),
            Scheduler::LinearLR(s) => s.last_epoch(),
            Scheduler::OneCycleLR(s) => s.last_epoch(),
        }
    }

    fn step<T: Float>(&mut self, optimizer: &mut dyn Optimizer<T>) -> Result<()> {
        match self {
            Scheduler::StepLR(s) => s.step(optimizer),
            Scheduler::MultiStepLR(s) => s.step(optimizer),
            Scheduler::ExponentialLR(s) => s.step(optimizer),
            Scheduler::CosineAnnealingLR(s) => s.step(optimizer),
            Scheduler::CosineAnnealingWarmRestarts(s) => s.step(optimizer),
            Scheduler::LinearLR(s) => s.step(optimizer),
            Scheduler::OneCycleLR(s) => s.step(optimizer),
        }
    }
}

/// Runs schedulers one after the other (`torch.optim.lr_scheduler.SequentialLR`):
/// `schedulers[0]` until epoch `milestones[0]`, where `schedulers[1]` starts at its own
/// epoch 0, and so on; e.g. a linear warm-up then cosine annealing.
///
/// As PyTorch: construction sets the learning rates back to the base ones and applies
/// `schedulers[0]` at its epoch 0; at a step reaching a milestone the next scheduler
/// restarts at its epoch 0, other steps advance the active scheduler by one. With sorted
/// milestones, the learning rate at epoch `t` is `schedulers[i]` at epoch
/// `t - milestones[i - 1]`. `ReduceLROnPlateau` cannot be part of it ([`Scheduler`] has no
/// such variant), as in PyTorch.
///
/// ```
/// use ferrite_autograd::Var;
/// use ferrite_nn::optim::{CosineAnnealingLR, LinearLR, LrScheduler, Optimizer, SequentialLR, Sgd, SgdConfig};
/// use ferrite_tensor::Tensor;
///
/// let mut opt = Sgd::new(vec![Var::parameter(Tensor::<f64>::ones(&[1]))], SgdConfig::new(0.1))?;
/// let warmup = LinearLR::new(&mut opt, 0.1, 1.0, 3)?;
/// let cosine = CosineAnnealingLR::new(&mut opt, 6, 0.0)?;
/// let mut sched = SequentialLR::new(&mut opt, vec![warmup.into(), cosine.into()], &[3])?;
/// let mut lrs = vec![opt.lr()];
/// for _ in 0..6 {
///     sched.step(&mut opt)?;
///     lrs.push(opt.lr());
/// }
/// assert!((lrs[0] - 0.01).abs() < 1e-15 && (lrs[2] - 0.07).abs() < 1e-15);
/// assert_eq!(lrs[3], 0.1); // the cosine starts at the milestone
/// assert!((lrs[6] - 0.05).abs() < 1e-15); // halfway down
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SequentialLR {
    schedulers: Vec<Scheduler>,
    milestones: Vec<u64>,
    /// The epoch of each scheduler; `None` before it ran (PyTorch's `last_epoch` -1).
    epochs: Vec<Option<u64>>,
    base_lrs: Vec<f64>,
    last_epoch: u64,
}

impl SequentialLR {
    /// Schedulers built on `optimizer` (in the order given), switching at `milestones`.
    ///
    /// # Errors
    /// As PyTorch: no scheduler, or not exactly one milestone fewer than schedulers; also a
    /// scheduler with another number of groups than the optimizer, or an error of
    /// `schedulers[0]` at its epoch 0.
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_nn::optim::{ExponentialLR, SequentialLR, Sgd, SgdConfig, StepLR};
    /// use ferrite_tensor::Tensor;
    /// let mut opt = Sgd::new(vec![Var::parameter(Tensor::<f32>::ones(&[1]))], SgdConfig::new(0.1))?;
    /// let a = ExponentialLR::new(&mut opt, 0.9)?;
    /// let b = StepLR::new(&mut opt, 2, 0.5)?;
    /// let err = SequentialLR::new(&mut opt, vec![a.into(), b.into()], &[2, 4]).unwrap_err();
    /// assert!(err.to_string().contains("one more than the number of milestone points"));
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn new<T: Float>(
        optimizer: &mut dyn Optimizer<T>,
        schedulers: Vec<Scheduler>,
        milestones: &[u64],
    ) -> Result<Self> {
        if schedulers.is_empty() {
            return Err(TensorError::invalid(
                OP,
                "SequentialLR expects at least one scheduler",
            ));
        }
        if milestones.len() + 1 != schedulers.len() {
            return Err(TensorError::invalid(
                OP,
                format!(
                    "Sequential Schedulers expects number of schedulers provided to be one more \
                     than the number of milestone points, but got number of schedulers {} and \
                     the number of milestones to be equal to {}",
                    schedulers.len(),
                    milestones.len()
                ),
            ));
        }
        let groups = optimizer.num_groups();
        if let Some(i) = schedulers.iter().position(|s| s.base_lrs().len() != groups) {
            return Err(TensorError::invalid(
                OP,
                format!(
                    "scheduler {i} was built for {} parameter groups but the optimizer has {groups}",
                    schedulers[i].base_lrs().len()
                ),
            ));
        }
        let base_lrs = initial_lrs(OP, optimizer)?;
        // PyTorch resets the learning rates to initial_lr, then runs schedulers[0]'s
        // initial step: only the latter is visible.
        schedulers[0].apply_at(0, optimizer)?;
        let mut epochs = vec![None; schedulers.len()];
        epochs[0] = Some(0);
        Ok(SequentialLR {
            schedulers,
            milestones: milestones.to_vec(),
            epochs,
            base_lrs,
            last_epoch: 0,
        })
    }

    /// Python's `bisect_right(milestones, epoch)` (also for unsorted milestones).
    fn bisect_right(&self, epoch: u64) -> usize {
        let (mut lo, mut hi) = (0, self.milestones.len());
        while lo < hi {
            let mid = (lo + hi) / 2;
            if epoch < self.milestones[mid] {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        lo
    }
}

impl LrScheduler for SequentialLR {
    /// With sorted milestones: `schedulers[i]` at epoch `epoch - milestones[i - 1]`.
    fn lrs_at(&self, epoch: u64) -> Result<Vec<f64>> {
        let index = self.bisect_right(epoch);
        let local = match index {
            0 => epoch,
            i => epoch.saturating_sub(self.milestones[i - 1]),
        };
        self.schedulers[index].lrs_at(local)
    }

    fn base_lrs(&self) -> &[f64] {
        &self.base_lrs
    }

    fn last_epoch(&self) -> u64 {
        self.last_epoch
    }

    fn step<T: Float>(&mut self, optimizer: &mut dyn Optimizer<T>) -> Result<()> {
        let epoch = next_epoch(OP, self.last_epoch)?;
        let index = self.bisect_right(epoch);
        let local = if index > 0 && self.milestones[index - 1] == epoch {
            0
        } else {
            match self.epochs[index] {
                None => 0,
                Some(e) => next_epoch(OP, e)?,
            }
        };
        self.schedulers[index].apply_at(local, optimizer)?;
        self.epochs[index] = Some(local);
        self.last_epoch = epoch;
        Ok(())
    }
}
