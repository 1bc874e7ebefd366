//! Optimizers, learning-rate schedulers and gradient clipping, named and computed as in
//! `torch.optim` and `torch.nn.utils`.
//!
//! Every optimizer holds the [`Var`]s it updates (usually `model.parameters()`) and
//! implements [`Optimizer`]: call [`Optimizer::step`] after `backward` and
//! [`Optimizer::zero_grad`] before the next one. The update rules follow PyTorch's
//! single-tensor (`foreach=False`) implementations operation by operation, so that results
//! agree with `torch.optim` to rounding: the scalar factors (bias corrections, step sizes,
//! `1 - dampening`, ...) are computed in `f64` exactly as Python computes them, and the
//! elementwise arithmetic runs in the parameter's own type in PyTorch's order. (PyTorch's
//! vectorized CPU kernels fuse some multiply-adds, in `add(.., alpha=..)` and `lerp`, so the
//! last bit can differ: against the reference cases in `f64` the largest difference is
//! below 4e-16 relative.)
//!
//! Each optimizer is an [`UpdateRule`], its hyper-parameters with PyTorch's update of one
//! parameter, driven by the generic [`Optim`], which owns the parameter list, the step
//! counts and buffers, the parameter groups, the checks and the saved state: [`Sgd`] is
//! `Optim<SgdConfig>`, [`Adam`] is `Optim<AdamConfig>`, AdamW is [`Adam`] with
//! [`AdamConfig::adamw`], [`RMSprop`] is `Optim<RMSpropConfig>` and [`Adagrad`] is
//! `Optim<AdagradConfig>`. [`Optim::with_groups`] takes [`ParamGroup`]s, each with its own
//! hyper-parameters (e.g. [`weight_decay_groups`]: no decay on biases and norm weights).
//!
//! The learning-rate schedulers (see [`LrScheduler`]) set the learning rate of every group:
//! [`StepLR`], [`MultiStepLR`], [`ExponentialLR`], [`CosineAnnealingLR`],
//! [`CosineAnnealingWarmRestarts`], [`LinearLR`], [`OneCycleLR`], [`SequentialLR`] and
//! [`ReduceLROnPlateau`].
//!
//! ```
//! use ferrite_autograd::Var;
//! use ferrite_nn::optim::{LrScheduler, Optimizer, Sgd, SgdConfig, StepLR};
//! use ferrite_nn::{Linear, Module, ModuleExt};
//! use ferrite_tensor::{seeded_rng, Tensor};
//!
//! let mut rng = seeded_rng(0);
//! let model = Linear::new(3, 1);
//! let mut opt = Sgd::new(model.parameters(), SgdConfig::new(0.1).with_momentum(0.9))?;
//! let mut sched = StepLR::new(&mut opt, 10, 0.1)?;
//! let x = Var::new(Tensor::<f32>::randn(&[8, 3], &mut rng));
//! let mut losses = Vec::new();
//! for _epoch in 0..3 {
//!     opt.zero_grad();
//!     let loss = model.forward(&x)?.mul(&model.forward(&x)?)?.mean(&[], false)?; // mean(y^2)
//!     loss.backward()?;
//!     opt.step()?;
//!     sched.step(&mut opt)?;
//!     losses.push(loss.item()?);
//! }
//! assert!(losses[2] < losses[0]);
//! # Ok::<(), ferrite_tensor::TensorError>(())
//! ```

mod adagrad;
mod adam;
mod base;
mod clip;
mod group;
mod rmsprop;
mod scheduler;
mod sgd;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use ferrite_autograd::Var;
use ferrite_tensor::{Float, Result, Tensor};
use serde::{Deserialize, Serialize};

pub use adagrad::{Adagrad, AdagradConfig};
pub use adam::{Adam, AdamConfig};
pub use base::{HyperParam, Optim, UpdateRule};
pub use clip::clip_grad_norm;
pub use group::{ParamGroup, weight_decay_groups};
pub use rmsprop::{RMSprop, RMSpropConfig};
pub use scheduler::{
    AnnealStrategy, CosineAnnealingLR, CosineAnnealingWarmRestarts, ExponentialLR, LinearLR,
    LrScheduler, MultiStepLR, OneCycleConfig, OneCycleLR, PlateauMode, ReduceLROnPlateau,
    ReduceLROnPlateauConfig, Scheduler, SequentialLR, StepLR, ThresholdMode,
};
pub use sgd::{Sgd, SgdConfig};

/// What every optimizer does: update its parameters from their gradients, clear the
/// gradients, expose its learning rate to schedulers, and save/restore its state.
///
/// ```
/// use ferrite_autograd::Var;
/// use ferrite_nn::optim::{Optimizer, Sgd, SgdConfig};
/// use ferrite_tensor::Tensor;
///
/// let w = Var::parameter(Tensor::<f64>::from_vec(vec![1.0, 2.0], &[2])?);
/// let mut opt: Box<dyn Optimizer<f64>> = Box::new(Sgd::new(vec![w.clone()], SgdConfig::new(0.5))?);
/// w.sum_all()?.backward()?; // grad = [1, 1]
/// opt.step()?;
/// assert_eq!(w.value().to_vec(), vec![0.5, 1.5]);
/// opt.zero_grad();
/// assert!(w.grad().is_none());
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
pub trait Optimizer<T: Float = f32> {
    /// Applies one update to every parameter that has a gradient; parameters whose gradient
    /// is `None` are skipped and their state is left untouched (as in PyTorch).
    ///
    /// # Errors
    /// When a gradient's shape differs from its parameter's, or when the step counter of a
    /// parameter to update is at `u64::MAX` (a restored state: it cannot count another
    /// step, and a wrapped count would restart Adam's bias corrections at 0 and make the
    /// parameter NaN). Nothing is updated then.
    fn step(&mut self) -> Result<()>;

    /// Clears the gradient of every parameter (sets it to `None`, PyTorch's default
    /// `set_to_none=True`).
    fn zero_grad(&self) {
        for p in self.params() {
            p.zero_grad();
        }
    }

    /// The learning rate of the first parameter group (of every group for an optimizer
    /// built with one).
    fn lr(&self) -> f64;

    /// Sets the learning rate of every parameter group.
    ///
    /// # Errors
    /// When `lr` is negative or not finite (`Invalid learning rate`).
    fn set_lr(&mut self, lr: f64) -> Result<()>;

    /// The number of parameter groups (1 unless built with groups).
    fn num_groups(&self) -> usize;

    /// The hyper-parameter `name` of parameter group `group`, by its saved name (`lr`,
    /// `momentum`, `beta1`, ...; a flag as `0.0` / `1.0`; `initial_lr`, the learning rate
    /// schedulers start from, once a scheduler has set it). `None` for an unknown name or
    /// group.
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_nn::optim::{Adam, AdamConfig, Optimizer};
    /// use ferrite_tensor::Tensor;
    /// let mut opt = Adam::new(vec![Var::parameter(Tensor::<f32>::ones(&[1]))], AdamConfig::new(0.1))?;
    /// assert_eq!(opt.hyper_param(0, "beta1"), Some(0.9));
    /// assert_eq!(opt.hyper_param(0, "momentum"), None);
    /// opt.set_hyper_param(0, "beta1", 0.85)?;
    /// assert_eq!(opt.config().betas.0, 0.85);
    /// assert!(opt.set_hyper_param(0, "beta1", 1.5).is_err()); // checked like the constructor
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    fn hyper_param(&self, group: usize, name: &str) -> Option<f64>;

    /// Sets the hyper-parameter `name` of parameter group `group` (what schedulers call,
    /// e.g. OneCycleLR's momentum cycling).
    ///
    /// # Errors
    /// When the group or the name does not exist, or the value is invalid for the rule (as
    /// its constructor checks); nothing changes then.
    fn set_hyper_param(&mut self, group: usize, name: &str, value: f64) -> Result<()>;

    /// The learning rate of each parameter group.
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_nn::optim::{Optimizer, Sgd, SgdConfig};
    /// use ferrite_tensor::Tensor;
    /// let opt = Sgd::new(vec![Var::parameter(Tensor::<f32>::ones(&[1]))], SgdConfig::new(0.1))?;
    /// assert_eq!(opt.lrs(), vec![0.1]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    fn lrs(&self) -> Vec<f64> {
        (0..self.num_groups())
            .map(|g| self.hyper_param(g, "lr").unwrap_or(f64::NAN))
            .collect()
    }

    /// Sets the learning rate of each parameter group (what schedulers call).
    ///
    /// # Errors
    /// When there is not one learning rate per group, or one is negative or not finite;
    /// nothing changes then.
    fn set_lrs(&mut self, lrs: &[f64]) -> Result<()>;

    /// The parameters being optimized, in the order they were given.
    fn params(&self) -> &[Var<T>];

    /// The optimizer's kind: `"sgd"`, `"adam"`, `"adamw"`, `"rmsprop"` or `"adagrad"` (the
    /// `kind` of its state).
    fn kind(&self) -> &'static str;

    /// A snapshot of the parameter groups' hyper-parameters and the per-parameter state
    /// (step counts and buffers, in parameter order), serializable with serde. Values are stored as `f64`,
    /// which holds `f32` exactly, so saving and loading is lossless for both types.
    fn state(&self) -> OptimizerState;

    /// Restores hyper-parameters and per-parameter state saved by [`Optimizer::state`]
    /// (like `load_state_dict`). Nothing changes when an error is returned.
    ///
    /// # Errors
    /// When the state is of another kind, has another number of parameters or groups (or
    /// groups of other sizes), a buffer whose
    /// shape differs from its parameter's, a missing or unknown buffer or hyper-parameter,
    /// or invalid hyper-parameters; the message names what differs.
    fn load_state(&mut self, state: OptimizerState) -> Result<()>;
}

/// The saved state of an optimizer: what `optimizer.state_dict()` holds in PyTorch.
///
/// `param_groups` has one entry per parameter group, with its hyper-parameters by PyTorch
/// name (`lr`, `momentum`, `betas` split into `beta1` and `beta2`, ..., and `initial_lr` once
/// a scheduler has set it), booleans stored as `0.0` / `1.0`, and its number of parameters
/// (a group holds the next parameters in order). `params` has one entry per parameter, in
/// the optimizer's parameter order.
///
/// Saving and restoring is bit-exact, so a resumed run continues exactly as an uninterrupted
/// one, as long as the serialization format round-trips `f64` exactly: with `serde_json`,
/// enable its `float_roundtrip` feature (its default parser may be off by one unit in the
/// last place); binary formats are exact.
///
/// ```
/// use ferrite_autograd::Var;
/// use ferrite_nn::optim::{Adam, AdamConfig, Optimizer};
/// use ferrite_tensor::Tensor;
///
/// let w = Var::parameter(Tensor::<f32>::ones(&[2, 3]));
/// let mut opt = Adam::new(vec![w.clone()], AdamConfig::new(0.01))?;
/// w.sum_all()?.backward()?;
/// opt.step()?;
/// let state = opt.state();
/// assert_eq!(state.kind, "adam");
/// assert_eq!(state.param_groups[0].hyper_params["lr"], 0.01);
/// assert_eq!(state.param_groups[0].num_params, 1);
/// assert_eq!(state.params[0].step, 1);
/// assert_eq!(state.params[0].buffers["exp_avg"].shape, vec![2, 3]);
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OptimizerState {
    /// The optimizer's kind: `"sgd"`, `"adam"`, `"adamw"`, `"rmsprop"` or `"adagrad"`.
    pub kind: String,
    /// The hyper-parameters of each parameter group.
    pub param_groups: Vec<GroupState>,
    /// The state of each parameter, in parameter order.
    pub params: Vec<ParamState>,
}

/// The saved hyper-parameters of one parameter group (an entry of PyTorch's
/// `state_dict()["param_groups"]`).
///
/// ```
/// use ferrite_nn::optim::GroupState;
/// let g = GroupState { hyper_params: [("lr".to_string(), 0.1)].into(), num_params: 2 };
/// assert_eq!(g.hyper_params["lr"], 0.1);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupState {
    /// The hyper-parameters by PyTorch name.
    pub hyper_params: BTreeMap<String, f64>,
    /// How many parameters the group holds.
    pub num_params: usize,
}

/// The saved state of one parameter: how many updates it received and its buffers
/// (`momentum_buffer`; `exp_avg`, `exp_avg_sq`, `max_exp_avg_sq`). A parameter that was
/// never updated has step 0 and no buffers. (PyTorch's SGD keeps no step count; here it is
/// recorded for every optimizer, and Adam's bias corrections use it.)
///
/// ```
/// use ferrite_nn::optim::ParamState;
/// let fresh = ParamState::default();
/// assert_eq!(fresh.step, 0);
/// assert!(fresh.buffers.is_empty());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ParamState {
    /// The number of updates applied to this parameter.
    pub step: u64,
    /// The buffers by PyTorch name.
    pub buffers: BTreeMap<String, Buffer>,
}

/// A saved tensor: its shape and its elements in row-major order, as `f64`.
///
/// ```
/// use ferrite_nn::optim::Buffer;
/// use ferrite_tensor::Tensor;
/// let b = Buffer::from_tensor(&Tensor::<f32>::full(&[2], 0.5));
/// assert_eq!(b, Buffer { shape: vec![2], data: vec![0.5, 0.5] });
/// assert_eq!(b.to_tensor::<f32>()?.to_vec(), vec![0.5f32, 0.5]);
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Buffer {
    /// The size of each dimension.
    pub shape: Vec<usize>,
    /// The elements in row-major order.
    pub data: Vec<f64>,
}

impl Buffer {
    /// Saves a tensor (exactly: `f64` holds every `f32`).
    ///
    /// ```
    /// use ferrite_nn::optim::Buffer;
    /// use ferrite_tensor::Tensor;
    /// assert_eq!(Buffer::from_tensor(&Tensor::<f64>::zeros(&[1, 2])).data, vec![0.0, 0.0]);
    /// ```
    pub fn from_tensor<T: Float>(tensor: &Tensor<T>) -> Self {
        Buffer {
            shape: tensor.shape().to_vec(),
            data: tensor.to_vec().into_iter().map(Float::as_f64).collect(),
        }
    }

    /// Rebuilds the tensor (rounding to nearest for `f32`).
    ///
    /// # Errors
    /// When the number of elements does not match the shape.
    ///
    /// ```
    /// use ferrite_nn::optim::Buffer;
    /// let bad = Buffer { shape: vec![3], data: vec![1.0] };
    /// assert!(bad.to_tensor::<f64>().is_err());
    /// ```
    pub fn to_tensor<T: Float>(&self) -> Result<Tensor<T>> {
        Tensor::from_vec(self.data.iter().map(|&x| T::of(x)).collect(), &self.shape)
    }
}
