//! What every optimizer shares, written once: the parameter list, the step counts, the
//! buffers, the checks, and the state save/load through named buffers. An optimizer adds
//! only its [`UpdateRule`]: its hyper-parameters and PyTorch's update of one parameter.
//!
//! This mirrors PyTorch's split between the `Optimizer` base class (`param_groups`, `state`,
//! `zero_grad`, `state_dict`) and the functions `_single_tensor_sgd`, `_single_tensor_adam`.

use std::collections::HashSet;

use ferrite_autograd::Var;
use ferrite_tensor::{Float, Result, Tensor, TensorError};

use super::{Buffer, Optimizer, OptimizerState, ParamState};

/// One optimizer's maths: its hyper-parameters (the implementing type, e.g. [`SgdConfig`])
/// and PyTorch's update of one parameter from its gradient. [`Optim`] does the rest.
///
/// A new optimizer is a config struct, this trait, and a type alias
/// `pub type Rmsprop<T = f32> = Optim<RmspropConfig, T>;`.
///
/// ```
/// use ferrite_autograd::Var;
/// use ferrite_nn::optim::{HyperParam, Optim, Optimizer, UpdateRule};
/// use ferrite_tensor::{Float, Result, Tensor};
///
/// /// Sign descent: `p = p - lr * sign(g)`.
/// #[derive(Debug, Clone)]
/// struct SignSgd { lr: f64 }
///
/// impl UpdateRule for SignSgd {
///     type Buffers<T: Float> = [Option<Vec<T>>; 0];
///     const BUFFERS: &'static [&'static str] = &[];
///     fn name(&self) -> &'static str { "SignSGD" }
///     fn kind(&self) -> &'static str { "signsgd" }
///     fn lr(&self) -> f64 { self.lr }
///     fn set_lr(&mut self, lr: f64) { self.lr = lr }
///     fn validate(&self) -> Result<()> { Ok(()) }
///     fn hyper_params(&mut self) -> Vec<(&'static str, HyperParam<'_>)> {
///         vec![("lr", HyperParam::Float(&mut self.lr))]
///     }
///     fn update<T: Float>(&self, param: &mut [T], grad: &[T], _: &mut Self::Buffers<T>, _: u64) {
///         let lr = T::of(self.lr);
///         for (p, &g) in param.iter_mut().zip(grad) {
///             *p -= lr * g.signum();
///         }
///     }
/// }
///
/// let w = Var::parameter(Tensor::<f64>::from_vec(vec![1.0, 1.0], &[2])?);
/// let mut opt = Optim::new(vec![w.clone()], SignSgd { lr: 0.5 })?;
/// w.set_grad(Some(Tensor::from_vec(vec![3.0, -0.1], &[2])?))?;
/// opt.step()?;
/// assert_eq!(w.value().to_vec(), vec![0.5, 1.5]);
/// assert_eq!(opt.state().hyper_params["lr"], 0.5);
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
///
/// [`SgdConfig`]: super::SgdConfig
pub trait UpdateRule: Clone + std::fmt::Debug {
    /// The buffers of one parameter, one slot per name of [`UpdateRule::BUFFERS`] in that
    /// order (`None` until the rule creates it): `[Option<Vec<T>>; N]`.
    type Buffers<T: Float>: Default + Clone + AsRef<[Option<Vec<T>>]> + AsMut<[Option<Vec<T>>]>;

    /// The names of the buffers, as PyTorch's `state` names them (`"momentum_buffer"`).
    const BUFFERS: &'static [&'static str];

    /// The name in error messages, PyTorch's class name (`"SGD"`).
    fn name(&self) -> &'static str;

    /// The kind of the saved state (`"sgd"`).
    fn kind(&self) -> &'static str;

    /// The learning rate.
    fn lr(&self) -> f64;

    /// Replaces the learning rate (already checked).
    fn set_lr(&mut self, lr: f64);

    /// Checks the hyper-parameters as PyTorch's constructor does.
    ///
    /// # Errors
    /// When one is out of its range; the message names it and its value.
    fn validate(&self) -> Result<()>;

    /// The saved hyper-parameters by PyTorch name, writable so that loading a state can set
    /// them (booleans are saved as `0.0` / `1.0`).
    fn hyper_params(&mut self) -> Vec<(&'static str, HyperParam<'_>)>;

    /// The buffers a parameter that was updated at least once must have in a saved state.
    fn required_buffers(&self) -> &'static [&'static str] {
        &[]
    }

    /// Updates one parameter in place from its gradient (same length, row-major), with its
    /// buffers, at its `step`-th update (counted from 1): PyTorch's `_single_tensor_*` for
    /// that parameter, operation by operation.
    fn update<T: Float>(
        &self,
        param: &mut [T],
        grad: &[T],
        buffers: &mut Self::Buffers<T>,
        step: u64,
    );
}

/// A writable hyper-parameter, as [`UpdateRule::hyper_params`] lists them.
///
/// ```
/// use ferrite_nn::optim::HyperParam;
/// let (mut lr, mut nesterov) = (0.1, false);
/// let mut params = vec![("lr", HyperParam::Float(&mut lr)), ("nesterov", HyperParam::Bool(&mut nesterov))];
/// if let HyperParam::Bool(b) = &mut params[1].1 {
///     **b = true;
/// }
/// drop(params);
/// assert!(nesterov);
/// ```
#[derive(Debug)]
pub enum HyperParam<'a> {
    /// A number.
    Float(&'a mut f64),
    /// A flag, saved as `0.0` or `1.0`.
    Bool(&'a mut bool),
}

/// The state of one parameter: how many updates it received and its buffers.
#[derive(Debug, Clone, Default)]
struct Slot<B> {
    step: u64,
    buffers: B,
}

/// An optimizer: the parameters, their step counts and buffers, driven by an update rule
/// `R`. [`Sgd`](super::Sgd) and [`Adam`](super::Adam) are this type with their rule.
///
/// ```
/// use ferrite_autograd::Var;
/// use ferrite_nn::optim::{Optim, Optimizer, SgdConfig};
/// use ferrite_tensor::Tensor;
///
/// let w = Var::parameter(Tensor::<f64>::from_vec(vec![1.0, 2.0], &[2])?);
/// let mut opt = Optim::new(vec![w.clone()], SgdConfig::new(0.5))?; // the same as Sgd::new
/// w.sum_all()?.backward()?;
/// opt.step()?;
/// assert_eq!(w.value().to_vec(), vec![0.5, 1.5]);
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
pub struct Optim<R: UpdateRule, T: Float = f32> {
    params: Vec<Var<T>>,
    /// The hyper-parameters (one group: parameter groups would keep one per group).
    config: R,
    /// One per parameter, in the same order.
    slots: Vec<Slot<R::Buffers<T>>>,
}

impl<R: UpdateRule, T: Float> std::fmt::Debug for Optim<R, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct(self.config.name())
            .field("params", &self.params.len())
            .field("config", &self.config)
            .finish()
    }
}

impl<R: UpdateRule, T: Float> Optim<R, T> {
    /// An optimizer for `params` (usually `model.parameters()`) with the hyper-parameters
    /// `config`.
    ///
    /// # Errors
    /// When the configuration is invalid ([`UpdateRule::validate`]), the list is empty, a
    /// parameter is not a leaf, or a parameter appears twice.
    ///
    /// ```
    /// use ferrite_nn::optim::{Adam, AdamConfig, Sgd, SgdConfig};
    /// use ferrite_nn::{Linear, Module, ModuleExt};
    /// let model: Linear = Linear::new(2, 2);
    /// assert!(Sgd::new(model.parameters(), SgdConfig::new(0.1)).is_ok());
    /// assert!(Sgd::<f32>::new(vec![], SgdConfig::new(0.1)).is_err());
    /// let err = Adam::new(model.parameters(), AdamConfig::new(-1.0)).unwrap_err();
    /// assert!(err.to_string().contains("Invalid learning rate"));
    /// ```
    pub fn new(params: Vec<Var<T>>, config: R) -> Result<Self> {
        debug_assert_eq!(R::Buffers::<T>::default().as_ref().len(), R::BUFFERS.len());
        config.validate()?;
        check_params(config.name(), &params)?;
        let slots = vec![Slot::default(); params.len()];
        Ok(Optim {
            params,
            config,
            slots,
        })
    }

    /// The hyper-parameters in use.
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_nn::optim::{Sgd, SgdConfig};
    /// use ferrite_tensor::Tensor;
    /// let opt = Sgd::new(vec![Var::parameter(Tensor::<f32>::ones(&[1]))], SgdConfig::new(0.1))?;
    /// assert_eq!(opt.config().lr, 0.1);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn config(&self) -> &R {
        &self.config
    }

    /// The hyper-parameters of `state`, checked, in a copy of this optimizer's config.
    fn config_from(&self, state: &OptimizerState) -> Result<R> {
        let mut config = self.config.clone();
        for (name, slot) in config.hyper_params() {
            match slot {
                HyperParam::Float(value) => *value = hyper(state, name)?,
                HyperParam::Bool(flag) => *flag = hyper_bool(state, name)?,
            }
        }
        config.validate()?;
        Ok(config)
    }
}

impl<R: UpdateRule, T: Float> Optimizer<T> for Optim<R, T> {
    fn step(&mut self) -> Result<()> {
        let op = self.config.name();
        let grads = collect_grads(op, &self.params)?;
        check_step_counters(op, &grads, |i| self.slots[i].step)?;
        for ((param, slot), grad) in self.params.iter().zip(&mut self.slots).zip(grads) {
            let Some(grad) = grad else { continue };
            let grad = grad.contiguous();
            let grad = grad.as_slice().expect("contiguous gradient");
            let step = slot.step + 1;
            param.update_value(|p| self.config.update(p, grad, &mut slot.buffers, step))?;
            slot.step = step;
        }
        Ok(())
    }

    fn lr(&self) -> f64 {
        self.config.lr()
    }

    fn set_lr(&mut self, lr: f64) -> Result<()> {
        check_lr(self.config.name(), lr)?;
        self.config.set_lr(lr);
        Ok(())
    }

    fn params(&self) -> &[Var<T>] {
        &self.params
    }

    fn kind(&self) -> &'static str {
        self.config.kind()
    }

    fn state(&self) -> OptimizerState {
        let params = self
            .params
            .iter()
            .zip(&self.slots)
            .map(|(param, slot)| {
                let shape = param.shape();
                let buffers = R::BUFFERS
                    .iter()
                    .zip(slot.buffers.as_ref())
                    .filter_map(|(&name, buffer)| {
                        let data = buffer.as_ref()?.iter().map(|&x| x.as_f64()).collect();
                        let shape = shape.clone();
                        Some((name.to_string(), Buffer { shape, data }))
                    })
                    .collect();
                ParamState {
                    step: slot.step,
                    buffers,
                }
            })
            .collect();
        let hyper_params = self
            .config
            .clone()
            .hyper_params()
            .into_iter()
            .map(|(name, value)| {
                let value = match value {
                    HyperParam::Float(value) => *value,
                    HyperParam::Bool(flag) => f64::from(u8::from(*flag)),
                };
                (name.to_string(), value)
            })
            .collect();
        OptimizerState {
            kind: self.kind().to_string(),
            hyper_params,
            params,
        }
    }

    fn load_state(&mut self, state: OptimizerState) -> Result<()> {
        check_state_header(self.kind(), &self.params, &state)?;
        let config = self.config_from(&state)?;
        let slots = self
            .params
            .iter()
            .zip(&state.params)
            .enumerate()
            .map(|(i, (param, saved))| load_slot::<R, T>(i, param, saved, &config))
            .collect::<Result<Vec<_>>>()?;
        self.config = config;
        self.slots = slots;
        Ok(())
    }
}

/// One parameter's saved step count and buffers, checked against the rule's buffer names
/// and the parameter's shape.
fn load_slot<R: UpdateRule, T: Float>(
    index: usize,
    param: &Var<T>,
    saved: &ParamState,
    config: &R,
) -> Result<Slot<R::Buffers<T>>> {
    let required = if saved.step == 0 {
        &[]
    } else {
        config.required_buffers()
    };
    check_buffer_names(index, saved, R::BUFFERS, required)?;
    if let (0, Some(name)) = (saved.step, saved.buffers.keys().next()) {
        return Err(TensorError::invalid(
            "load_state",
            format!("parameter {index}: step 0 but it has a buffer '{name}'"),
        ));
    }
    let mut buffers = R::Buffers::<T>::default();
    for (&name, buffer) in R::BUFFERS.iter().zip(buffers.as_mut()) {
        *buffer = load_buffer(index, param, saved, name)?.map(|t| t.to_vec());
    }
    Ok(Slot {
        step: saved.step,
        buffers,
    })
}

// ---------------------------------------------------------------------------------------
// Checks shared by the optimizers.

/// Checks the parameter list given to an optimizer: not empty, leaves only, no duplicates.
fn check_params<T: Float>(op: &'static str, params: &[Var<T>]) -> Result<()> {
    if params.is_empty() {
        return Err(TensorError::invalid(
            op,
            "optimizer got an empty parameter list",
        ));
    }
    let mut seen = HashSet::new();
    for (i, p) in params.iter().enumerate() {
        if !p.is_leaf() {
            return Err(TensorError::invalid(
                op,
                format!(
                    "can't optimize a non-leaf Var (parameter {i} is the result of '{}')",
                    p.op()
                ),
            ));
        }
        if !seen.insert(p.id()) {
            return Err(TensorError::invalid(
                op,
                format!("parameter {i} appears more than once in the parameter list"),
            ));
        }
    }
    Ok(())
}

/// `Invalid learning rate` unless `lr` is finite and non-negative.
pub(super) fn check_lr(op: &'static str, lr: f64) -> Result<()> {
    if !(lr.is_finite() && lr >= 0.0) {
        return Err(TensorError::invalid(
            op,
            format!("Invalid learning rate: {lr}"),
        ));
    }
    Ok(())
}

/// An error unless `value >= 0` (NaN is refused too).
pub(super) fn check_non_negative(op: &'static str, what: &str, value: f64) -> Result<()> {
    if value.is_nan() || value < 0.0 {
        return Err(TensorError::invalid(
            op,
            format!("Invalid {what} value: {value}"),
        ));
    }
    Ok(())
}

/// Refuses a step when a parameter that has a gradient (`Some` in `grads`) has a step
/// counter (`steps(i)`) at `u64::MAX`: the count cannot go further.
fn check_step_counters<T: Float>(
    op: &'static str,
    grads: &[Option<Tensor<T>>],
    steps: impl Fn(usize) -> u64,
) -> Result<()> {
    for (i, grad) in grads.iter().enumerate() {
        if grad.is_some() && steps(i) == u64::MAX {
            return Err(TensorError::invalid(
                op,
                format!(
                    "parameter {i}: the step counter is at its maximum {}, it cannot count \
                     another step; nothing was updated",
                    u64::MAX
                ),
            ));
        }
    }
    Ok(())
}

/// The gradients of the parameters (`None` where there is none), after checking that every
/// gradient has its parameter's shape.
fn collect_grads<T: Float>(op: &'static str, params: &[Var<T>]) -> Result<Vec<Option<Tensor<T>>>> {
    params
        .iter()
        .enumerate()
        .map(|(i, p)| match p.grad() {
            Some(g) if g.shape() != p.shape().as_slice() => Err(TensorError::shape(
                op,
                format!(
                    "parameter {i} has shape {:?} but its gradient has shape {:?}",
                    p.shape(),
                    g.shape()
                ),
            )),
            other => Ok(other),
        })
        .collect()
}

/// Checks the outer shape of a state before loading it: kind and number of parameters.
fn check_state_header<T: Float>(
    kind: &'static str,
    params: &[Var<T>],
    state: &OptimizerState,
) -> Result<()> {
    if state.kind != kind {
        return Err(TensorError::invalid(
            "load_state",
            format!(
                "the state is of a '{}' optimizer but this optimizer is '{kind}'",
                state.kind
            ),
        ));
    }
    if state.params.len() != params.len() {
        return Err(TensorError::invalid(
            "load_state",
            format!(
                "the state has {} parameters but this optimizer has {}",
                state.params.len(),
                params.len()
            ),
        ));
    }
    Ok(())
}

/// A hyper-parameter from a saved state.
fn hyper(state: &OptimizerState, name: &str) -> Result<f64> {
    state.hyper_params.get(name).copied().ok_or_else(|| {
        TensorError::invalid(
            "load_state",
            format!("the '{}' state has no hyper-parameter '{name}'", state.kind),
        )
    })
}

/// A boolean hyper-parameter (stored as 0 or 1) from a saved state.
fn hyper_bool(state: &OptimizerState, name: &str) -> Result<bool> {
    let value = hyper(state, name)?;
    if value == 0.0 {
        Ok(false)
    } else if value == 1.0 {
        Ok(true)
    } else {
        Err(TensorError::invalid(
            "load_state",
            format!("hyper-parameter '{name}' must be 0 or 1, found {value}"),
        ))
    }
}

/// Checks the buffer names of one parameter's saved state: every name in `allowed`, every
/// name of `required` present.
fn check_buffer_names(
    index: usize,
    state: &ParamState,
    allowed: &[&str],
    required: &[&str],
) -> Result<()> {
    if let Some(name) = state
        .buffers
        .keys()
        .find(|name| !allowed.contains(&name.as_str()))
    {
        return Err(TensorError::invalid(
            "load_state",
            format!("parameter {index}: unknown buffer '{name}' (expected {allowed:?})"),
        ));
    }
    if let Some(name) = required.iter().find(|&&n| !state.buffers.contains_key(n)) {
        return Err(TensorError::invalid(
            "load_state",
            format!(
                "parameter {index}: buffer '{name}' is missing (step {})",
                state.step
            ),
        ));
    }
    Ok(())
}

/// One saved buffer as a tensor of the parameter's shape.
fn load_buffer<T: Float>(
    index: usize,
    param: &Var<T>,
    state: &ParamState,
    name: &str,
) -> Result<Option<Tensor<T>>> {
    let Some(buffer) = state.buffers.get(name) else {
        return Ok(None);
    };
    let expected = param.shape();
    if buffer.shape != expected {
        return Err(TensorError::shape(
            "load_state",
            format!(
                "parameter {index}: buffer '{name}' has shape {:?} but the parameter has shape {expected:?}",
                buffer.shape
            ),
        ));
    }
    let tensor = buffer.to_tensor::<T>().map_err(|e| {
        TensorError::shape(
            "load_state",
            format!("parameter {index}: buffer '{name}': {e}"),
        )
    })?;
    Ok(Some(tensor))
}
