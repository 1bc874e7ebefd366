//! Parameter groups: parameters that share hyper-parameters different from the
//! optimizer's defaults (PyTorch's `param_groups`), e.g. no weight decay on biases.

use std::collections::BTreeMap;

use ferrite_autograd::Var;
use ferrite_tensor::Float;

/// Parameters with their own hyper-parameters, for [`Optim::with_groups`] and
/// [`Optim::add_param_group`]: PyTorch's `{'params': ..., 'lr': ..., 'weight_decay': ...}`.
/// What a group does not set comes from the optimizer's defaults.
///
/// Hyper-parameters are set by their saved name ([`ParamGroup::with_option`]; flags are
/// `0.0` / `1.0`), with shortcuts for the common ones. A name the optimizer does not have
/// (`momentum` for Adam) is an error when the optimizer is built. `initial_lr` is accepted
/// too: the learning rate schedulers start from.
///
/// ```
/// use ferrite_autograd::Var;
/// use ferrite_nn::optim::{Adam, AdamConfig, Optimizer, ParamGroup};
/// use ferrite_tensor::Tensor;
///
/// let w = Var::parameter(Tensor::<f32>::ones(&[3, 3]));
/// let b = Var::parameter(Tensor::<f32>::zeros(&[3]));
/// let opt = Adam::with_groups(
///     vec![
///         ParamGroup::new(vec![w]).with_option("beta1", 0.8),
///         ParamGroup::new(vec![b]).with_weight_decay(0.0),
///     ],
///     AdamConfig::adamw(1e-3),
/// )?;
/// assert_eq!(opt.group_config(0).unwrap().betas, (0.8, 0.999));
/// assert_eq!(opt.hyper_param(1, "weight_decay"), Some(0.0));
/// assert_eq!(opt.hyper_param(0, "weight_decay"), Some(0.01));
/// let err = Adam::with_groups(vec![ParamGroup::new(vec![Var::parameter(Tensor::<f32>::ones(&[1]))]).with_momentum(0.9)], AdamConfig::new(1e-3));
/// assert!(err.unwrap_err().to_string().contains("unknown hyper-parameter 'momentum'"));
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
///
/// [`Optim::with_groups`]: super::Optim::with_groups
/// [`Optim::add_param_group`]: super::Optim::add_param_group
#[derive(Debug, Clone)]
pub struct ParamGroup<T: Float = f32> {
    params: Vec<Var<T>>,
    options: BTreeMap<String, f64>,
}

impl<T: Float> ParamGroup<T> {
    /// A group of `params` that takes every hyper-parameter from the optimizer's defaults.
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_nn::optim::ParamGroup;
    /// use ferrite_tensor::Tensor;
    /// let g = ParamGroup::new(vec![Var::parameter(Tensor::<f32>::ones(&[2]))]);
    /// assert_eq!(g.params().len(), 1);
    /// assert!(g.options().is_empty());
    /// ```
    pub fn new(params: Vec<Var<T>>) -> Self {
        ParamGroup {
            params,
            options: BTreeMap::new(),
        }
    }

    /// Sets the hyper-parameter `name` (its saved name: `lr`, `momentum`, `beta1`,
    /// `nesterov` as `0.0` / `1.0`, ...) for this group.
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_nn::optim::ParamGroup;
    /// use ferrite_tensor::Tensor;
    /// let g = ParamGroup::new(vec![Var::parameter(Tensor::<f32>::ones(&[2]))]).with_option("nesterov", 1.0);
    /// assert_eq!(g.options()["nesterov"], 1.0);
    /// ```
    pub fn with_option(mut self, name: &str, value: f64) -> Self {
        self.options.insert(name.to_string(), value);
        self
    }

    /// Sets this group's learning rate.
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_nn::optim::ParamGroup;
    /// use ferrite_tensor::Tensor;
    /// let g = ParamGroup::new(vec![Var::parameter(Tensor::<f32>::ones(&[2]))]).with_lr(0.01);
    /// assert_eq!(g.options()["lr"], 0.01);
    /// ```
    pub fn with_lr(self, lr: f64) -> Self {
        self.with_option("lr", lr)
    }

    /// Sets this group's weight decay (`0.0`: none, the usual choice for biases and norm
    /// weights).
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_nn::optim::ParamGroup;
    /// use ferrite_tensor::Tensor;
    /// let g = ParamGroup::new(vec![Var::parameter(Tensor::<f32>::ones(&[2]))]).with_weight_decay(0.0);
    /// assert_eq!(g.options()["weight_decay"], 0.0);
    /// ```
    pub fn with_weight_decay(self, weight_decay: f64) -> Self {
        self.with_option("weight_decay", weight_decay)
    }

    /// Sets this group's momentum (SGD, RMSprop).
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_nn::optim::ParamGroup;
    /// use ferrite_tensor::Tensor;
    /// let g = ParamGroup::new(vec![Var::parameter(Tensor::<f32>::ones(&[2]))]).with_momentum(0.5);
    /// assert_eq!(g.options()["momentum"], 0.5);
    /// ```
    pub fn with_momentum(self, momentum: f64) -> Self {
        self.with_option("momentum", momentum)
    }

    /// The parameters of the group.
    ///
    /// ```
    /// use ferrite_nn::optim::ParamGroup;
    /// assert!(ParamGroup::<f32>::new(vec![]).params().is_empty());
    /// ```
    pub fn params(&self) -> &[Var<T>] {
        &self.params
    }

    /// The hyper-parameters this group sets, by name.
    ///
    /// ```
    /// use ferrite_nn::optim::ParamGroup;
    /// assert_eq!(ParamGroup::<f32>::new(vec![]).with_lr(0.5).options().len(), 1);
    /// ```
    pub fn options(&self) -> &BTreeMap<String, f64> {
        &self.options
    }

    pub(super) fn into_params(self) -> Vec<Var<T>> {
        self.params
    }
}

/// Splits a model's parameters into two groups: those that get `weight_decay`, then those
/// that get none (biases, whose name ends in `bias`, and every 1-D parameter, which covers
/// the weights of batch, layer and group norms), the common recipe for SGD and AdamW. Both
/// groups are returned, in that order, even if one is empty.
///
/// ```
/// use ferrite_autograd::Var;
/// use ferrite_nn::optim::{weight_decay_groups, Optimizer, Sgd, SgdConfig};
/// use ferrite_tensor::Tensor;
///
/// // What `model.named_parameters()` gives for a conv and a batch norm:
/// let p = |shape: &[usize]| Var::parameter(Tensor::<f32>::ones(shape));
/// let named = vec![
///     ("conv.weight".to_string(), p(&[4, 1, 3, 3])),
///     ("conv.bias".to_string(), p(&[4])),
///     ("bn.weight".to_string(), p(&[4])),
///     ("bn.bias".to_string(), p(&[4])),
/// ];
/// let groups = weight_decay_groups(named, 5e-4);
/// assert_eq!((groups[0].params().len(), groups[1].params().len()), (1, 3));
/// let opt = Sgd::with_groups(groups, SgdConfig::new(0.1).with_momentum(0.9))?;
/// assert_eq!(opt.hyper_param(0, "weight_decay"), Some(5e-4));
/// assert_eq!(opt.hyper_param(1, "weight_decay"), Some(0.0));
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
pub fn weight_decay_groups<T: Float>(
    named_parameters: Vec<(String, Var<T>)>,
    weight_decay: f64,
) -> Vec<ParamGroup<T>> {
    let (no_decay, decay): (Vec<_>, Vec<_>) = named_parameters
        .into_iter()
        .partition(|(name, p)| name.ends_with("bias") || p.shape().len() <= 1);
    let params = |named: Vec<(String, Var<T>)>| named.into_iter().map(|(_, p)| p).collect();
    vec![
        ParamGroup::new(params(decay)).with_weight_decay(weight_decay),
        ParamGroup::new(params(no_decay)).with_weight_decay(0.0),
    ]
}
