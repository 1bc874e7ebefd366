//! What every optimizer shares, written once: the parameter list, the step counts, the
//! buffers, the checks, and the state save/load through named buffers. An optimizer adds
//! only its [`UpdateRule`]: its hyper-parameters and PyTorch's update of one parameter.
//!
//! This mirrors PyTorch's split between the `Optimizer` base class (`param_groups`, `state`,
//! `zero_grad`, `state_dict`) and the functions `_single_tensor_sgd`, `_single_tensor_adam`.

use std::collections::{BTreeMap, HashSet};

use ferrite_autograd::Var;
use ferrite_tensor::{Float, Result, Tensor, TensorError};

use super::{Buffer, GroupState, Optimizer, OptimizerState, ParamGroup, ParamState};

/// One optimizer's maths: its hyper-parameters (the implementing type, e.g. [`SgdConfig`])
/// and PyTorch's update of one parameter from its gradient. [`Optim`] does the rest.
///
/// A new optimizer is a config struct, this trait, and a type alias
/// `pub type RMSprop<T = f32> = Optim<RMSpropConfig, T>;`.
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
/// assert_eq!(opt.state().param_groups[0].hyper_params["lr"], 0.5);
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

/// One parameter group: its hyper-parameters, the base learning rate schedulers start
/// from, and how many of the optimizer's parameters (the next ones in order) it holds.
#[derive(Debug, Clone)]
struct Group<R> {
    config: R,
    /// PyTorch's `group["initial_lr"]`, set by the first scheduler built on the optimizer.
    initial_lr: Option<f64>,
    len: usize,
}

/// An optimizer: the parameters in one or more groups, their step counts and buffers,
/// driven by an update rule `R`. [`Sgd`](super::Sgd), [`Adam`](super::Adam),
/// [`RMSprop`](super::RMSprop) and [`Adagrad`](super::Adagrad) are this type with their rule.
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
    /// Every parameter, group after group.
    params: Vec<Var<T>>,
    /// The hyper-parameters a group gets for what it does not set (PyTorch's `defaults`).
    defaults: R,
    groups: Vec<Group<R>>,
    /// One per parameter, in the same order.
    slots: Vec<Slot<R::Buffers<T>>>,
}

impl<R: UpdateRule, T: Float> std::fmt::Debug for Optim<R, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct(self.defaults.name())
            .field("params", &self.params.len())
            .field("groups", &self.groups)
            .finish()
    }
}

impl<R: UpdateRule, T: Float> Optim<R, T> {
    /// An optimizer for `params` (usually `model.parameters()`) with the hyper-parameters
    /// `config`: one parameter group.
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
        Self::with_groups(vec![ParamGroup::new(params)], config)
    }

    /// An optimizer over several parameter groups, each with its own hyper-parameters:
    /// what a group does not set comes from `defaults` (PyTorch's
    /// `SGD([{'params': ..., 'weight_decay': 0}, ...], lr=...)`). The parameters are
    /// ordered group after group ([`Optimizer::params`], the saved state).
    ///
    /// # Errors
    /// As [`Optim::new`] over all the groups' parameters (also a parameter in two groups),
    /// and when a group sets a hyper-parameter the rule does not have, or an invalid value.
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_nn::optim::{Optimizer, ParamGroup, Sgd, SgdConfig};
    /// use ferrite_tensor::Tensor;
    /// let weight = Var::parameter(Tensor::<f32>::ones(&[2, 4]));
    /// let bias = Var::parameter(Tensor::<f32>::zeros(&[2]));
    /// let opt = Sgd::with_groups(
    ///     vec![
    ///         ParamGroup::new(vec![weight]),
    ///         ParamGroup::new(vec![bias]).with_weight_decay(0.0).with_lr(0.01),
    ///     ],
    ///     SgdConfig::new(0.1).with_momentum(0.9).with_weight_decay(5e-4),
    /// )?;
    /// assert_eq!(opt.lrs(), vec![0.1, 0.01]);
    /// assert_eq!(opt.group_config(1).unwrap().weight_decay, 0.0);
    /// assert_eq!(opt.group_config(1).unwrap().momentum, 0.9);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn with_groups(groups: Vec<ParamGroup<T>>, defaults: R) -> Result<Self> {
        debug_assert_eq!(R::Buffers::<T>::default().as_ref().len(), R::BUFFERS.len());
        defaults.validate()?;
        let mut params = Vec::new();
        let mut built = Vec::with_capacity(groups.len());
        for (index, group) in groups.into_iter().enumerate() {
            built.push(configure(&defaults, index, &group)?);
            params.extend(group.into_params());
        }
        check_params(defaults.name(), &params)?;
        let slots = vec![Slot::default(); params.len()];
        Ok(Optim {
            params,
            defaults,
            groups: built,
            slots,
        })
    }

    /// Adds a parameter group (PyTorch's `add_param_group`): its parameters are appended,
    /// with fresh state, and what it does not set comes from the optimizer's defaults.
    ///
    /// # Errors
    /// When a parameter is already optimized (or twice in the group), is not a leaf, or
    /// the group sets an unknown or invalid hyper-parameter. Nothing changes then.
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_nn::optim::{Optimizer, ParamGroup, Sgd, SgdConfig};
    /// use ferrite_tensor::Tensor;
    /// let (a, b) = (Var::parameter(Tensor::<f32>::ones(&[2])), Var::parameter(Tensor::<f32>::ones(&[3])));
    /// let mut opt = Sgd::new(vec![a.clone()], SgdConfig::new(0.1))?;
    /// opt.add_param_group(ParamGroup::new(vec![b]).with_lr(0.5))?;
    /// assert_eq!((opt.num_groups(), opt.params().len()), (2, 2));
    /// assert!(opt.add_param_group(ParamGroup::new(vec![a])).is_err()); // already there
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn add_param_group(&mut self, group: ParamGroup<T>) -> Result<()> {
        let built = configure(&self.defaults, self.groups.len(), &group)?;
        let mut params = self.params.clone();
        params.extend(group.into_params());
        check_params(self.defaults.name(), &params)?;
        self.slots.resize(params.len(), Slot::default());
        self.params = params;
        self.groups.push(built);
        Ok(())
    }

    /// The hyper-parameters of the first parameter group: all of them for an optimizer
    /// built with [`Optim::new`] (a scheduler may have changed the learning rate).
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
        &self.groups[0].config
    }

    /// The hyper-parameters of parameter group `group`, `None` past the last group.
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_nn::optim::{Sgd, SgdConfig};
    /// use ferrite_tensor::Tensor;
    /// let opt = Sgd::new(vec![Var::parameter(Tensor::<f32>::ones(&[1]))], SgdConfig::new(0.1))?;
    /// assert_eq!(opt.group_config(0).map(|c| c.lr), Some(0.1));
    /// assert!(opt.group_config(1).is_none());
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn group_config(&self, group: usize) -> Option<&R> {
        self.groups.get(group).map(|g| &g.config)
    }

    /// The hyper-parameters groups start from (PyTorch's `optimizer.defaults`).
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_nn::optim::{Adam, AdamConfig};
    /// use ferrite_tensor::Tensor;
    /// let opt = Adam::new(vec![Var::parameter(Tensor::<f32>::ones(&[1]))], AdamConfig::new(0.1))?;
    /// assert_eq!(*opt.defaults(), AdamConfig::new(0.1));
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn defaults(&self) -> &R {
        &self.defaults
    }

    /// The group of parameter `index`, and the range of parameters of each group.
    fn group_ranges(&self) -> impl Iterator<Item = (&Group<R>, std::ops::Range<usize>)> {
        let mut start = 0;
        self.groups.iter().map(move |g| {
            let range = start..start + g.len;
            start += g.len;
            (g, range)
        })
    }

    fn group_mut(&mut self, group: usize) -> Result<&mut Group<R>> {
        let count = self.groups.len();
        let op = self.defaults.name();
        self.groups.get_mut(group).ok_or_else(|| {
            TensorError::invalid(
                op,
                format!("parameter group {group} does not exist (the optimizer has {count})"),
            )
        })
    }
}

/// A group's hyper-parameters: `defaults` with what `group` sets, checked.
fn configure<R: UpdateRule, T: Float>(
    defaults: &R,
    index: usize,
    group: &ParamGroup<T>,
) -> Result<Group<R>> {
    let mut config = defaults.clone();
    let mut initial_lr = None;
    for (name, &value) in group.options() {
        if name == "initial_lr" {
            check_lr(defaults.name(), value)?;
            initial_lr = Some(value);
        } else {
            set_named(&mut config, name, value).map_err(|e| {
                TensorError::invalid(defaults.name(), format!("parameter group {index}: {e}"))
            })?;
        }
    }
    config.validate()?;
    Ok(Group {
        config,
        initial_lr,
        len: group.params().len(),
    })
}

/// Sets the hyper-parameter `name` of `config` (a flag from `0.0` / `1.0`); the message
/// of the error lists the names there are.
fn set_named<R: UpdateRule>(
    config: &mut R,
    name: &str,
    value: f64,
) -> std::result::Result<(), String> {
    let known: Vec<&str> = config
        .clone()
        .hyper_params()
        .iter()
        .map(|(n, _)| *n)
        .collect();
    for (n, slot) in config.hyper_params() {
        if n != name {
            continue;
        }
        match slot {
            HyperParam::Float(v) => *v = value,
            HyperParam::Bool(flag) if value == 0.0 || value == 1.0 => *flag = value == 1.0,
            HyperParam::Bool(_) => {
                return Err(format!(
                    "hyper-parameter '{name}' is a flag: 0 or 1, found {value}"
                ));
            }
        }
        return Ok(());
    }
    Err(format!(
        "unknown hyper-parameter '{name}' (expected initial_lr or one of {known:?})"
    ))
}

/// The hyper-parameter `name` of `config` (a flag as `0.0` / `1.0`).
fn get_named<R: UpdateRule>(config: &R, name: &str) -> Option<f64> {
    config
        .clone()
        .hyper_params()
        .into_iter()
        .find(|(n, _)| *n == name)
        .map(|(_, value)| hyper_value(&value))
}

fn hyper_value(value: &HyperParam<'_>) -> f64 {
    match value {
        HyperParam::Float(value) => **value,
        HyperParam::Bool(flag) => f64::from(u8::from(**flag)),
    }
}

impl<R: UpdateRule, T: Float> Optimizer<T> for Optim<R, T> {
    fn step(&mut self) -> Result<()> {
        let op = self.defaults.name();
        let grads = collect_grads(op, &self.params)?;
        check_step_counters(op, &grads, |i| self.slots[i].step)?;
        let ranges: Vec<_> = self.group_ranges().map(|(_, r)| r).collect();
        for (group, range) in self.groups.iter().zip(ranges) {
            let params = &self.params[range.clone()];
            let slots = &mut self.slots[range.clone()];
            for ((param, slot), grad) in params.iter().zip(slots).zip(&grads[range]) {
                let Some(grad) = grad else { continue };
                let grad = grad.contiguous();
                let grad = grad.as_slice().expect("contiguous gradient");
                let step = slot.step + 1;
                param.update_value(|p| group.config.update(p, grad, &mut slot.buffers, step))?;
                slot.step = step;
            }
        }
        Ok(())
    }

    fn lr(&self) -> f64 {
        self.groups[0].config.lr()
    }

    fn set_lr(&mut self, lr: f64) -> Result<()> {
        check_lr(self.defaults.name(), lr)?;
        for group in &mut self.groups {
            group.config.set_lr(lr);
        }
        Ok(())
    }

    fn num_groups(&self) -> usize {
        self.groups.len()
    }

    fn hyper_param(&self, group: usize, name: &str) -> Option<f64> {
        let group = self.groups.get(group)?;
        if name == "initial_lr" {
            group.initial_lr
        } else {
            get_named(&group.config, name)
        }
    }

    fn set_hyper_param(&mut self, group: usize, name: &str, value: f64) -> Result<()> {
        let op = self.defaults.name();
        let g = self.group_mut(group)?;
        if name == "initial_lr" {
            check_lr(op, value)?;
            g.initial_lr = Some(value);
            return Ok(());
        }
        let mut config = g.config.clone();
        set_named(&mut config, name, value)
            .map_err(|e| TensorError::invalid(op, format!("parameter group {group}: {e}")))?;
        config.validate()?;
        g.config = config;
        Ok(())
    }

    fn set_lrs(&mut self, lrs: &[f64]) -> Result<()> {
        let op = self.defaults.name();
        if lrs.len() != self.groups.len() {
            return Err(TensorError::invalid(
                op,
                format!(
                    "got {} learning rates for {} parameter groups",
                    lrs.len(),
                    self.groups.len()
                ),
            ));
        }
        for &lr in lrs {
            check_lr(op, lr)?;
        }
        for (group, &lr) in self.groups.iter_mut().zip(lrs) {
            group.config.set_lr(lr);
        }
        Ok(())
    }

    fn params(&self) -> &[Var<T>] {
        &self.params
    }

    fn kind(&self) -> &'static str {
        self.defaults.kind()
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
        let param_groups = self.groups.iter().map(group_state).collect();
        OptimizerState {
            kind: self.kind().to_string(),
            param_groups,
            params,
        }
    }

    fn load_state(&mut self, state: OptimizerState) -> Result<()> {
        check_state_header(self.kind(), &self.params, &self.groups, &state)?;
        let mut groups = Vec::with_capacity(self.groups.len());
        let mut slots = Vec::with_capacity(self.slots.len());
        for ((group, saved), range) in self
            .groups
            .iter()
            .zip(&state.param_groups)
            .zip(self.group_ranges().map(|(_, r)| r))
        {
            let loaded = group_from(group, saved, &state.kind)?;
            for i in range {
                slots.push(load_slot::<R, T>(
                    i,
                    &self.params[i],
                    &state.params[i],
                    &loaded.config,
                )?);
            }
            groups.push(loaded);
        }
        self.groups = groups;
        self.slots = slots;
        Ok(())
    }
}

/// The saved form of a group.
fn group_state<R: UpdateRule>(group: &Group<R>) -> GroupState {
    let mut hyper_params: BTreeMap<String, f64> = group
        .config
        .clone()
        .hyper_params()
        .into_iter()
        .map(|(name, value)| (name.to_string(), hyper_value(&value)))
        .collect();
    if let Some(lr) = group.initial_lr {
        hyper_params.insert("initial_lr".to_string(), lr);
    }
    GroupState {
        hyper_params,
        num_params: group.len,
    }
}

/// A group rebuilt from its saved form (hyper-parameters checked; every one of the rule's
/// must be there, and no other but `initial_lr`).
fn group_from<R: UpdateRule>(group: &Group<R>, saved: &GroupState, kind: &str) -> Result<Group<R>> {
    let mut config = group.config.clone();
    let mut known = vec!["initial_lr"];
    for (name, slot) in config.hyper_params() {
        known.push(name);
        let value = hyper(&saved.hyper_params, kind, name)?;
        match slot {
            HyperParam::Float(v) => *v = value,
            HyperParam::Bool(flag) => *flag = as_flag(name, value)?,
        }
    }
    if let Some(name) = saved
        .hyper_params
        .keys()
        .find(|n| !known.contains(&n.as_str()))
    {
        return Err(TensorError::invalid(
            "load_state",
            format!(
                "the '{kind}' state has an unknown hyper-parameter '{name}' (expected {known:?})"
            ),
        ));
    }
    config.validate()?;
    let initial_lr = saved.hyper_params.get("initial_lr").copied();
    if let Some(lr) = initial_lr {
        check_lr(config.name(), lr)?;
    }
    Ok(Group {
        config,
        initial_lr,
        len: group.len,
    })
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

/// Checks the outer shape of a state before loading it: kind, number of parameters, and
/// the number and sizes of the parameter groups.
fn check_state_header<R: UpdateRule, T: Float>(
    kind: &'static str,
    params: &[Var<T>],
    groups: &[Group<R>],
    state: &OptimizerState,
) -> Result<()> {
    let invalid = |message: String| Err(TensorError::invalid("load_state", message));
    if state.kind != kind {
        return invalid(format!(
            "the state is of a '{}' optimizer but this optimizer is '{kind}'",
            state.kind
        ));
    }
    if state.params.len() != params.len() {
        return invalid(format!(
            "the state has {} parameters but this optimizer has {}",
            state.params.len(),
            params.len()
        ));
    }
    if state.param_groups.len() != groups.len() {
        return invalid(format!(
            "the state has {} parameter groups but this optimizer has {}",
            state.param_groups.len(),
            groups.len()
        ));
    }
    for (i, (saved, group)) in state.param_groups.iter().zip(groups).enumerate() {
        if saved.num_params != group.len {
            return invalid(format!(
                "parameter group {i} has {} parameters in the state but {} in this optimizer",
                saved.num_params, group.len
            ));
        }
    }
    Ok(())
}

/// A hyper-parameter from a saved group.
fn hyper(saved: &BTreeMap<String, f64>, kind: &str, name: &str) -> Result<f64> {
    saved.get(name).copied().ok_or_else(|| {
        TensorError::invalid(
            "load_state",
            format!("the '{kind}' state has no hyper-parameter '{name}'"),
        )
    })
}

/// A flag saved as 0 or 1.
fn as_flag(name: &str, value: f64) -> Result<bool> {
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
