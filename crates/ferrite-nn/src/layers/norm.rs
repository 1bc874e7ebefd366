//! `LayerNorm`, `GroupNorm` and `BatchNorm1d`: PyTorch's `nn.LayerNorm`, `nn.GroupNorm` and
//! `nn.BatchNorm1d`, and the functional [`batch_norm1d`]. The kernels are `ferrite_tensor`'s
//! `Tensor::layer_norm`, `Tensor::group_norm` and `Tensor::batch_norm`; the ops are
//! [`Var::layer_norm`], [`Var::group_norm`] and [`Var::batch_norm`]. Their parameters are not
//! random: constructors return the layer, and a setting PyTorch would refuse is reported by
//! `forward`, naming the layer.

use std::sync::Mutex;

use ferrite_autograd::Var;
use ferrite_tensor::{BatchNormOptions, Float, Result, Tensor, TensorError};

use crate::Module;
use crate::module::TrainingFlag;

/// `True` / `False`, as PyTorch prints them.
fn py_bool(b: bool) -> &'static str {
    if b { "True" } else { "False" }
}

/// A float written as Python's `repr` writes it (`1e-05`, `0.1`), so that `describe` reads
/// like PyTorch's module printout.
pub(crate) fn python_float(v: f64) -> String {
    let a = v.abs();
    if a != 0.0 && a.is_finite() && !(1e-4..1e16).contains(&a) {
        let s = format!("{v:e}");
        match s.split_once('e') {
            Some((mantissa, exp)) => {
                let (sign, digits) = match exp.strip_prefix('-') {
                    Some(d) => ('-', d),
                    None => ('+', exp),
                };
                format!("{mantissa}e{sign}{digits:0>2}")
            }
            None => s,
        }
    } else {
        format!("{v:?}")
    }
}

/// Layer normalisation over the trailing `normalized_shape` dims, like
/// `torch.nn.LayerNorm(normalized_shape, eps=1e-5, elementwise_affine=True, bias=True)`:
/// see [`Var::layer_norm`] for the formula.
///
/// Parameters (when `elementwise_affine`): `weight` (ones) and `bias` (zeros, unless
/// `with_bias(false)`), both of shape `normalized_shape`.
///
/// ```
/// use ferrite_autograd::Var;
/// use ferrite_nn::{LayerNorm, Module, ModuleExt};
/// use ferrite_tensor::{seeded_rng, Tensor};
/// let ln = LayerNorm::new(&[8]).with_eps(1e-6);
/// let x = Var::new(Tensor::<f32>::randn(&[4, 3, 8], &mut seeded_rng(0)));
/// let y = ln.forward(&x)?;
/// assert_eq!(y.shape(), vec![4, 3, 8]);
/// let names: Vec<String> = ln.named_parameters().into_iter().map(|(n, _)| n).collect();
/// assert_eq!(names, ["weight", "bias"]);
/// assert_eq!(ln.describe(), "LayerNorm((8,), eps=1e-06, elementwise_affine=True)");
/// assert!(ln.forward(&Var::new(Tensor::zeros(&[4, 7]))).is_err());
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
#[derive(Debug)]
pub struct LayerNorm<T: Float = f32> {
    normalized_shape: Vec<usize>,
    eps: f64,
    weight: Option<Var<T>>,
    bias: Option<Var<T>>,
}

impl<T: Float> LayerNorm<T> {
    /// Normalises over the trailing dims `normalized_shape`, with PyTorch's defaults:
    /// `eps = 1e-5`, a weight and a bias.
    ///
    /// ```
    /// use ferrite_nn::LayerNorm;
    /// let ln = LayerNorm::<f32>::new(&[2, 3]);
    /// assert_eq!(ln.weight().unwrap().shape(), vec![2, 3]);
    /// ```
    pub fn new(normalized_shape: &[usize]) -> Self {
        let shape = normalized_shape.to_vec();
        LayerNorm {
            weight: Some(Var::parameter(Tensor::ones(&shape))),
            bias: Some(Var::parameter(Tensor::zeros(&shape))),
            normalized_shape: shape,
            eps: 1e-5,
        }
    }

    /// Sets the ε added to the variance.
    ///
    /// ```
    /// use ferrite_nn::LayerNorm;
    /// assert_eq!(LayerNorm::<f32>::new(&[4]).with_eps(1e-3).eps(), 1e-3);
    /// ```
    pub fn with_eps(mut self, eps: f64) -> Self {
        self.eps = eps;
        self
    }

    /// Keeps (`true`, the default) or removes both learnable parameters (PyTorch's
    /// `elementwise_affine`); `true` creates them afresh (ones and zeros).
    ///
    /// ```
    /// use ferrite_nn::{LayerNorm, ModuleExt};
    /// assert!(LayerNorm::<f32>::new(&[4]).with_elementwise_affine(false).parameters().is_empty());
    /// ```
    pub fn with_elementwise_affine(mut self, affine: bool) -> Self {
        let shape = &self.normalized_shape;
        self.weight = affine.then(|| Var::parameter(Tensor::ones(shape)));
        self.bias = affine.then(|| Var::parameter(Tensor::zeros(shape)));
        self
    }

    /// Keeps (`true`, the default) or removes the bias alone (PyTorch's `bias`); without
    /// `elementwise_affine` there is none either way.
    ///
    /// ```
    /// use ferrite_nn::LayerNorm;
    /// let ln = LayerNorm::<f32>::new(&[4]).with_bias(false);
    /// assert!(ln.bias().is_none() && ln.weight().is_some());
    /// ```
    pub fn with_bias(mut self, bias: bool) -> Self {
        let affine = self.weight.is_some();
        self.bias = (bias && affine).then(|| Var::parameter(Tensor::zeros(&self.normalized_shape)));
        self
    }

    /// The trailing dims normalised over.
    ///
    /// ```
    /// use ferrite_nn::LayerNorm;
    /// assert_eq!(LayerNorm::<f32>::new(&[3, 4]).normalized_shape(), &[3, 4]);
    /// ```
    pub fn normalized_shape(&self) -> &[usize] {
        &self.normalized_shape
    }

    /// ε.
    ///
    /// ```
    /// use ferrite_nn::LayerNorm;
    /// assert_eq!(LayerNorm::<f32>::new(&[4]).eps(), 1e-5);
    /// ```
    pub fn eps(&self) -> f64 {
        self.eps
    }

    /// The elementwise scale (`normalized_shape`), when `elementwise_affine`.
    ///
    /// ```
    /// use ferrite_nn::LayerNorm;
    /// assert_eq!(LayerNorm::<f32>::new(&[2]).weight().unwrap().value().to_vec(), vec![1.0, 1.0]);
    /// ```
    pub fn weight(&self) -> Option<&Var<T>> {
        self.weight.as_ref()
    }

    /// The elementwise shift (`normalized_shape`), when `elementwise_affine` and `bias`.
    ///
    /// ```
    /// use ferrite_nn::LayerNorm;
    /// assert_eq!(LayerNorm::<f32>::new(&[2]).bias().unwrap().value().to_vec(), vec![0.0, 0.0]);
    /// ```
    pub fn bias(&self) -> Option<&Var<T>> {
        self.bias.as_ref()
    }
}

impl<T: Float> Module<T> for LayerNorm<T> {
    /// # Shapes
    /// - input: `[*, normalized_shape...]`
    /// - output: the input's shape
    fn forward(&self, input: &Var<T>) -> Result<Var<T>> {
        input.layer_norm(
            &self.normalized_shape,
            self.weight.as_ref(),
            self.bias.as_ref(),
            self.eps,
        )
    }

    fn type_name(&self) -> &'static str {
        "LayerNorm"
    }

    fn describe(&self) -> String {
        let dims: Vec<String> = self
            .normalized_shape
            .iter()
            .map(|d| d.to_string())
            .collect();
        // A Python tuple: `(8,)`, `(3, 4)`.
        let tuple = match dims.len() {
            1 => format!("({},)", dims[0]),
            _ => format!("({})", dims.join(", ")),
        };
        format!(
            "LayerNorm({tuple}, eps={}, elementwise_affine={})",
            python_float(self.eps),
            py_bool(self.weight.is_some())
        )
    }

    fn own_parameters(&self) -> Vec<(String, Var<T>)> {
        let mut out = Vec::new();
        out.extend(self.weight.clone().map(|w| ("weight".to_string(), w)));
        out.extend(self.bias.clone().map(|b| ("bias".to_string(), b)));
        out
    }
}

/// Group normalisation, like `torch.nn.GroupNorm(num_groups, num_channels, eps=1e-5,
/// affine=True)`: the channels of an `[N, C, *]` input split into `num_groups` groups, each
/// `(n, group)` normalised with its own statistics (see [`Var::group_norm`]).
///
/// Parameters (when `affine`): `weight` `[C]` (ones) and `bias` `[C]` (zeros). A
/// `num_groups` that does not divide `num_channels` (PyTorch refuses it when building) is
/// reported by `forward`.
///
/// ```
/// use ferrite_autograd::Var;
/// use ferrite_nn::{GroupNorm, Module, ModuleExt};
/// use ferrite_tensor::{seeded_rng, Tensor};
/// let gn = GroupNorm::new(4, 32);
/// let x = Var::new(Tensor::<f32>::randn(&[2, 32, 5, 5], &mut seeded_rng(0)));
/// assert_eq!(gn.forward(&x)?.shape(), vec![2, 32, 5, 5]);
/// assert_eq!(gn.describe(), "GroupNorm(4, 32, eps=1e-05, affine=True)");
/// let err = GroupNorm::<f32>::new(5, 32).forward(&x).unwrap_err();
/// assert_eq!(
///     err.to_string(),
///     "GroupNorm: num_channels must be divisible by num_groups, found num_channels 32 and num_groups 5"
/// );
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
#[derive(Debug)]
pub struct GroupNorm<T: Float = f32> {
    num_groups: usize,
    num_channels: usize,
    eps: f64,
    weight: Option<Var<T>>,
    bias: Option<Var<T>>,
}

impl<T: Float> GroupNorm<T> {
    /// `num_groups` groups over `num_channels` channels, `eps = 1e-5`, with a weight and a
    /// bias.
    ///
    /// ```
    /// use ferrite_nn::GroupNorm;
    /// assert_eq!(GroupNorm::<f32>::new(2, 6).weight().unwrap().shape(), vec![6]);
    /// ```
    pub fn new(num_groups: usize, num_channels: usize) -> Self {
        GroupNorm {
            num_groups,
            num_channels,
            eps: 1e-5,
            weight: Some(Var::parameter(Tensor::ones(&[num_channels]))),
            bias: Some(Var::parameter(Tensor::zeros(&[num_channels]))),
        }
    }

    /// Sets the ε added to the variance.
    ///
    /// ```
    /// use ferrite_nn::GroupNorm;
    /// assert_eq!(GroupNorm::<f32>::new(2, 6).with_eps(1e-3).eps(), 1e-3);
    /// ```
    pub fn with_eps(mut self, eps: f64) -> Self {
        self.eps = eps;
        self
    }

    /// Keeps (`true`, the default) or removes the learnable per-channel `weight` and `bias`;
    /// `true` creates them afresh (ones and zeros).
    ///
    /// ```
    /// use ferrite_nn::{GroupNorm, ModuleExt};
    /// assert!(GroupNorm::<f32>::new(2, 6).with_affine(false).parameters().is_empty());
    /// ```
    pub fn with_affine(mut self, affine: bool) -> Self {
        let c = self.num_channels;
        self.weight = affine.then(|| Var::parameter(Tensor::ones(&[c])));
        self.bias = affine.then(|| Var::parameter(Tensor::zeros(&[c])));
        self
    }

    /// The number of groups.
    ///
    /// ```
    /// use ferrite_nn::GroupNorm;
    /// assert_eq!(GroupNorm::<f32>::new(2, 6).num_groups(), 2);
    /// ```
    pub fn num_groups(&self) -> usize {
        self.num_groups
    }

    /// The number of channels `C` expected.
    ///
    /// ```
    /// use ferrite_nn::GroupNorm;
    /// assert_eq!(GroupNorm::<f32>::new(2, 6).num_channels(), 6);
    /// ```
    pub fn num_channels(&self) -> usize {
        self.num_channels
    }

    /// ε.
    ///
    /// ```
    /// use ferrite_nn::GroupNorm;
    /// assert_eq!(GroupNorm::<f32>::new(2, 6).eps(), 1e-5);
    /// ```
    pub fn eps(&self) -> f64 {
        self.eps
    }

    /// The per-channel scale `[C]`, when `affine`.
    ///
    /// ```
    /// use ferrite_nn::GroupNorm;
    /// assert_eq!(GroupNorm::<f32>::new(1, 2).weight().unwrap().value().to_vec(), vec![1.0, 1.0]);
    /// ```
    pub fn weight(&self) -> Option<&Var<T>> {
        self.weight.as_ref()
    }

    /// The per-channel shift `[C]`, when `affine`.
    ///
    /// ```
    /// use ferrite_nn::GroupNorm;
    /// assert_eq!(GroupNorm::<f32>::new(1, 2).bias().unwrap().value().to_vec(), vec![0.0, 0.0]);
    /// ```
    pub fn bias(&self) -> Option<&Var<T>> {
        self.bias.as_ref()
    }
}

impl<T: Float> Module<T> for GroupNorm<T> {
    /// # Shapes
    /// - input: `[N, num_channels, *]`
    /// - output: the input's shape
    fn forward(&self, input: &Var<T>) -> Result<Var<T>> {
        let (g, c) = (self.num_groups, self.num_channels);
        if g == 0 || c % g != 0 {
            return Err(TensorError::invalid(
                "GroupNorm",
                format!(
                    "num_channels must be divisible by num_groups, found num_channels {c} and \
                     num_groups {g}"
                ),
            ));
        }
        let shape = input.shape();
        if shape.len() >= 2 && shape[1] != c {
            return Err(TensorError::shape(
                "GroupNorm",
                format!(
                    "input has {} channels but the layer expects {c} (input {shape:?})",
                    shape[1]
                ),
            ));
        }
        input.group_norm(g, self.weight.as_ref(), self.bias.as_ref(), self.eps)
    }

    fn type_name(&self) -> &'static str {
        "GroupNorm"
    }

    fn describe(&self) -> String {
        format!(
            "GroupNorm({}, {}, eps={}, affine={})",
            self.num_groups,
            self.num_channels,
            python_float(self.eps),
            py_bool(self.weight.is_some())
        )
    }

    fn own_parameters(&self) -> Vec<(String, Var<T>)> {
        let mut out = Vec::new();
        out.extend(self.weight.clone().map(|w| ("weight".to_string(), w)));
        out.extend(self.bias.clone().map(|b| ("bias".to_string(), b)));
        out
    }
}

const BN1D: &str = "batch_norm1d";

/// Batch normalisation of an `[N, C]` or `[N, C, L]` input, like `F.batch_norm` with the
/// input check of `nn.BatchNorm1d`: statistics per channel over `N` (and `L`); see
/// [`Var::batch_norm`] for the formulas and the running-statistics update.
///
/// # Shapes
/// - input: `[N, C]` or `[N, C, L]`
/// - running_mean, running_var, weight, bias: `[C]`
/// - output: the input's shape
///
/// # Errors
/// When the input is not 2-D or 3-D (`batch_norm1d: ...`), and everything
/// [`Var::batch_norm`] refuses (`batch_norm: ...`), e.g. training with one value per channel.
///
/// ```
/// use ferrite_autograd::Var;
/// use ferrite_nn::{batch_norm1d, BatchNormOptions};
/// use ferrite_tensor::Tensor;
/// let x = Var::new(Tensor::<f64>::from_vec(vec![1.0, 3.0, 10.0, 30.0], &[2, 2])?);
/// let (mean, var) = (Var::new(Tensor::zeros(&[2])), Var::new(Tensor::ones(&[2])));
/// let opts = BatchNormOptions::default().with_training(true).with_eps(0.0);
/// let y = batch_norm1d(&x, Some(&mean), Some(&var), None, None, &opts)?;
/// let expected = [-1.0, -1.0, 1.0, 1.0]; // to an ulp (x·a + b per channel, as PyTorch)
/// assert!(y.value().to_vec().iter().zip(expected).all(|(y, e)| (y - e).abs() < 1e-15));
/// let one = Var::new(Tensor::<f64>::zeros(&[1, 2]));
/// assert!(batch_norm1d(&one, None, None, None, None, &opts).is_err()); // one value per channel
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
pub fn batch_norm1d<T: Float>(
    input: &Var<T>,
    running_mean: Option<&Var<T>>,
    running_var: Option<&Var<T>>,
    weight: Option<&Var<T>>,
    bias: Option<&Var<T>>,
    options: &BatchNormOptions,
) -> Result<Var<T>> {
    let shape = input.shape();
    if shape.len() != 2 && shape.len() != 3 {
        return Err(TensorError::shape(
            BN1D,
            format!("expected a 2-D [N, C] or 3-D [N, C, L] input, found shape {shape:?}"),
        ));
    }
    input.batch_norm(running_mean, running_var, weight, bias, options)
}

/// Batch normalisation of each channel of an `[N, C]` or `[N, C, L]` input, like
/// `torch.nn.BatchNorm1d(num_features, eps=1e-5, momentum=0.1, affine=True,
/// track_running_stats=True)`; see [`Var::batch_norm`] for the formulas.
///
/// Parameters: `weight` `[C]` (ones), `bias` `[C]` (zeros), when `affine`. Buffers:
/// `running_mean` (zeros), `running_var` (ones, updated with the unbiased batch variance)
/// and `num_batches_tracked` (0), when `track_running_stats`. `momentum` may be any float,
/// or `None` for PyTorch's cumulative average (`1 / num_batches_tracked`).
///
/// ```
/// use ferrite_autograd::Var;
/// use ferrite_nn::{BatchNorm1d, Module, ModuleExt};
/// use ferrite_tensor::{seeded_rng, Tensor};
/// let bn = BatchNorm1d::new(3).with_momentum(None);
/// let x = Var::new(Tensor::<f64>::randn(&[8, 3, 5], &mut seeded_rng(0)));
/// bn.forward(&x)?;
/// // Cumulative average after one batch: the batch mean itself.
/// let mean = x.value().mean(&[0, 2], false)?.to_vec();
/// let running = bn.running_mean().unwrap().value().to_vec();
/// assert!(mean.iter().zip(&running).all(|(a, b)| (a - b).abs() < 1e-12));
/// assert_eq!(bn.num_batches_tracked(), Some(1));
/// assert_eq!(bn.describe(), "BatchNorm1d(3, eps=1e-05, momentum=None, affine=True, track_running_stats=True)");
/// let err = bn.forward(&Var::new(Tensor::zeros(&[2, 3, 4, 4]))).unwrap_err();
/// assert_eq!(err.to_string(), "batch_norm1d: expected a 2-D [N, C] or 3-D [N, C, L] input, found shape [2, 3, 4, 4]");
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
#[derive(Debug)]
pub struct BatchNorm1d<T: Float = f32> {
    num_features: usize,
    eps: f64,
    momentum: Option<f64>,
    weight: Option<Var<T>>,
    bias: Option<Var<T>>,
    running: Option<RunningStats<T>>,
    training: TrainingFlag,
}

/// The buffers of a batch norm that tracks running statistics, and the exact batch count.
#[derive(Debug)]
struct RunningStats<T: Float> {
    mean: Var<T>,
    var: Var<T>,
    num_batches_tracked: Var<T>,
    /// The exact count, and the tensor last written to `num_batches_tracked` to show it:
    /// while the buffer still holds that very tensor the count is the truth; once something
    /// else was assigned to it (`load_state_dict`), the buffer's value is.
    counter: Mutex<(u64, Tensor<T>)>,
}

impl<T: Float> RunningStats<T> {
    fn new(c: usize) -> Self {
        let zero = Tensor::scalar(T::zero());
        RunningStats {
            mean: Var::new(Tensor::zeros(&[c])),
            var: Var::new(Tensor::ones(&[c])),
            num_batches_tracked: Var::new(zero.clone()),
            counter: Mutex::new((0, zero)),
        }
    }

    /// The count, adopting the buffer's value when it is not the tensor last written.
    fn synced(&self, counter: &mut (u64, Tensor<T>)) -> u64 {
        let current = self.num_batches_tracked.value();
        let ptr = |t: &Tensor<T>| t.as_slice().map(<[T]>::as_ptr);
        if ptr(&current).is_none() || ptr(&current) != ptr(&counter.1) {
            // A negative or NaN value counts as 0, a value past u64::MAX as u64::MAX.
            counter.0 = current.item().map_or(0, |v| v.as_f64() as u64);
            counter.1 = current;
        }
        counter.0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (u64, Tensor<T>)> {
        self.counter.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl<T: Float> BatchNorm1d<T> {
    /// `num_features` channels, PyTorch's defaults elsewhere; training mode.
    ///
    /// ```
    /// use ferrite_nn::BatchNorm1d;
    /// let bn = BatchNorm1d::<f32>::new(4);
    /// assert_eq!((bn.num_features(), bn.eps(), bn.momentum()), (4, 1e-5, Some(0.1)));
    /// ```
    pub fn new(num_features: usize) -> Self {
        let c = num_features;
        BatchNorm1d {
            num_features,
            eps: 1e-5,
            momentum: Some(0.1),
            weight: Some(Var::parameter(Tensor::ones(&[c]))),
            bias: Some(Var::parameter(Tensor::zeros(&[c]))),
            running: Some(RunningStats::new(c)),
            training: TrainingFlag::default(),
        }
    }

    /// Sets ε (a negative or non-finite ε is reported by `forward`).
    ///
    /// ```
    /// use ferrite_nn::BatchNorm1d;
    /// assert_eq!(BatchNorm1d::<f32>::new(4).with_eps(1e-3).eps(), 1e-3);
    /// ```
    pub fn with_eps(mut self, eps: f64) -> Self {
        self.eps = eps;
        self
    }

    /// Sets the momentum of the running statistics: any float (`0.2`), or `None` for a
    /// cumulative average.
    ///
    /// ```
    /// use ferrite_nn::BatchNorm1d;
    /// assert_eq!(BatchNorm1d::<f32>::new(4).with_momentum(1.5).momentum(), Some(1.5));
    /// assert_eq!(BatchNorm1d::<f32>::new(4).with_momentum(None).momentum(), None);
    /// ```
    pub fn with_momentum(mut self, momentum: impl Into<Option<f64>>) -> Self {
        self.momentum = momentum.into();
        self
    }

    /// Keeps (`true`, the default) or removes the learnable `weight` and `bias`; `true`
    /// creates them afresh.
    ///
    /// ```
    /// use ferrite_nn::{BatchNorm1d, ModuleExt};
    /// assert!(BatchNorm1d::<f32>::new(4).with_affine(false).parameters().is_empty());
    /// ```
    pub fn with_affine(mut self, affine: bool) -> Self {
        let c = self.num_features;
        self.weight = affine.then(|| Var::parameter(Tensor::ones(&[c])));
        self.bias = affine.then(|| Var::parameter(Tensor::zeros(&[c])));
        self
    }

    /// Keeps (`true`, the default) or removes the running statistics; without them the
    /// batch's statistics are used in both modes. `true` creates them afresh.
    ///
    /// ```
    /// use ferrite_nn::{BatchNorm1d, ModuleExt};
    /// assert!(BatchNorm1d::<f32>::new(4).with_track_running_stats(false).named_buffers().is_empty());
    /// ```
    pub fn with_track_running_stats(mut self, track: bool) -> Self {
        self.running = track.then(|| RunningStats::new(self.num_features));
        self
    }

    /// The number of channels `C`.
    ///
    /// ```
    /// use ferrite_nn::BatchNorm1d;
    /// assert_eq!(BatchNorm1d::<f32>::new(4).num_features(), 4);
    /// ```
    pub fn num_features(&self) -> usize {
        self.num_features
    }

    /// ε.
    ///
    /// ```
    /// use ferrite_nn::BatchNorm1d;
    /// assert_eq!(BatchNorm1d::<f32>::new(4).eps(), 1e-5);
    /// ```
    pub fn eps(&self) -> f64 {
        self.eps
    }

    /// The momentum (`None`: cumulative average).
    ///
    /// ```
    /// use ferrite_nn::BatchNorm1d;
    /// assert_eq!(BatchNorm1d::<f32>::new(4).momentum(), Some(0.1));
    /// ```
    pub fn momentum(&self) -> Option<f64> {
        self.momentum
    }

    /// The per-channel scale `[C]`, when `affine`.
    ///
    /// ```
    /// use ferrite_nn::BatchNorm1d;
    /// assert_eq!(BatchNorm1d::<f32>::new(2).weight().unwrap().value().to_vec(), vec![1.0, 1.0]);
    /// ```
    pub fn weight(&self) -> Option<&Var<T>> {
        self.weight.as_ref()
    }

    /// The per-channel shift `[C]`, when `affine`.
    ///
    /// ```
    /// use ferrite_nn::BatchNorm1d;
    /// assert_eq!(BatchNorm1d::<f32>::new(2).bias().unwrap().value().to_vec(), vec![0.0, 0.0]);
    /// ```
    pub fn bias(&self) -> Option<&Var<T>> {
        self.bias.as_ref()
    }

    /// The running mean `[C]`, when `track_running_stats`.
    ///
    /// ```
    /// use ferrite_nn::BatchNorm1d;
    /// assert_eq!(BatchNorm1d::<f32>::new(2).running_mean().unwrap().value().to_vec(), vec![0.0, 0.0]);
    /// ```
    pub fn running_mean(&self) -> Option<&Var<T>> {
        self.running.as_ref().map(|r| &r.mean)
    }

    /// The running (unbiased) variance `[C]`, when `track_running_stats`.
    ///
    /// ```
    /// use ferrite_nn::BatchNorm1d;
    /// assert_eq!(BatchNorm1d::<f32>::new(2).running_var().unwrap().value().to_vec(), vec![1.0, 1.0]);
    /// ```
    pub fn running_var(&self) -> Option<&Var<T>> {
        self.running.as_ref().map(|r| &r.var)
    }

    /// How many training batches have updated the running statistics (exact, like
    /// PyTorch's `int64` buffer; the `num_batches_tracked` buffer shows it converted to `T`).
    ///
    /// ```
    /// use ferrite_nn::BatchNorm1d;
    /// assert_eq!(BatchNorm1d::<f32>::new(2).num_batches_tracked(), Some(0));
    /// ```
    pub fn num_batches_tracked(&self) -> Option<u64> {
        let running = self.running.as_ref()?;
        let mut counter = running.lock();
        Some(running.synced(&mut counter))
    }

    /// The input check of `nn.BatchNorm1d` and the layer's channel count.
    fn check_input(&self, shape: &[usize]) -> Result<()> {
        if shape.len() != 2 && shape.len() != 3 {
            return Err(TensorError::shape(
                BN1D,
                format!("expected a 2-D [N, C] or 3-D [N, C, L] input, found shape {shape:?}"),
            ));
        }
        if shape[1] != self.num_features {
            return Err(TensorError::shape(
                BN1D,
                format!(
                    "input has {} channels but the layer expects {} (input {shape:?})",
                    shape[1], self.num_features
                ),
            ));
        }
        Ok(())
    }
}

impl<T: Float> Module<T> for BatchNorm1d<T> {
    /// Training mode: normalises with the batch's statistics and updates the running ones
    /// (and `num_batches_tracked`). Evaluation mode: normalises with the running statistics
    /// (with the batch's when the layer tracks none).
    ///
    /// # Shapes
    /// - input: `[N, num_features]` or `[N, num_features, L]`
    /// - output: the input's shape
    fn forward(&self, input: &Var<T>) -> Result<Var<T>> {
        self.check_input(&input.shape())?;
        let (w, b) = (self.weight.as_ref(), self.bias.as_ref());
        let training = self.training.get();
        let options = BatchNormOptions::new()
            .with_training(training || self.running.is_none())
            .with_eps(self.eps);
        let Some(running) = self.running.as_ref() else {
            return batch_norm1d(input, None, None, w, b, &options.with_momentum(0.0));
        };
        let (mean, var) = (Some(&running.mean), Some(&running.var));
        if !training {
            return batch_norm1d(input, mean, var, w, b, &options);
        }
        let mut counter = running.lock();
        // Refused before anything changes: the count cannot go past u64::MAX.
        let next = running.synced(&mut counter).checked_add(1).ok_or_else(|| {
            TensorError::invalid(
                BN1D,
                format!(
                    "num_batches_tracked is at its maximum {}: cannot count another batch",
                    u64::MAX
                ),
            )
        })?;
        // PyTorch's `exponential_average_factor`: the momentum, or 1 / batches seen.
        let factor = self.momentum.unwrap_or(1.0 / next as f64);
        let out = batch_norm1d(input, mean, var, w, b, &options.with_momentum(factor))?;
        let shown = Tensor::scalar(T::of(next as f64));
        running.num_batches_tracked.set_value(shown.clone())?;
        *counter = (next, shown);
        Ok(out)
    }

    fn type_name(&self) -> &'static str {
        "BatchNorm1d"
    }

    fn describe(&self) -> String {
        format!(
            "BatchNorm1d({}, eps={}, momentum={}, affine={}, track_running_stats={})",
            self.num_features,
            python_float(self.eps),
            self.momentum.map_or("None".to_string(), python_float),
            py_bool(self.weight.is_some()),
            py_bool(self.running.is_some())
        )
    }

    fn own_parameters(&self) -> Vec<(String, Var<T>)> {
        let mut out = Vec::new();
        out.extend(self.weight.clone().map(|w| ("weight".to_string(), w)));
        out.extend(self.bias.clone().map(|b| ("bias".to_string(), b)));
        out
    }

    fn own_buffers(&self) -> Vec<(String, Var<T>)> {
        let Some(r) = &self.running else {
            return Vec::new();
        };
        vec![
            ("running_mean".to_string(), r.mean.clone()),
            ("running_var".to_string(), r.var.clone()),
            (
                "num_batches_tracked".to_string(),
                r.num_batches_tracked.clone(),
            ),
        ]
    }

    fn set_training(&self, training: bool) {
        self.training.set(training);
    }

    fn is_training(&self) -> bool {
        self.training.get()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ModuleExt, Strict, load_state_dict, state_dict};
    use ferrite_tensor::seeded_rng;

    fn randn(shape: &[usize], seed: u64) -> Tensor<f64> {
        Tensor::randn(shape, &mut seeded_rng(seed))
    }

    #[test]
    fn batch_norm1d_tracks_like_pytorch_with_any_momentum() {
        for momentum in [Some(0.1), Some(1.5), Some(-0.5), None] {
            let bn = BatchNorm1d::<f64>::new(3).with_momentum(momentum);
            let mut rm = vec![0.0; 3];
            for (k, seed) in [1u64, 2, 3].iter().enumerate() {
                let x = randn(&[4, 3, 2], *seed);
                bn.forward(&Var::new(x.clone())).unwrap();
                let m = x.mean(&[0, 2], false).unwrap().to_vec();
                let f = momentum.unwrap_or(1.0 / (k + 1) as f64);
                rm.iter_mut()
                    .zip(&m)
                    .for_each(|(r, m)| *r = (1.0 - f) * *r + f * m);
            }
            let got = bn.running_mean().unwrap().value().to_vec();
            for (g, w) in got.iter().zip(&rm) {
                assert!((g - w).abs() < 1e-12, "{momentum:?}: {got:?} vs {rm:?}");
            }
            assert_eq!(bn.num_batches_tracked(), Some(3));
        }
    }

    #[test]
    fn batch_norm1d_modes_buffers_and_errors() {
        let bn = BatchNorm1d::<f64>::new(2);
        let names: Vec<String> = bn.named_buffers().into_iter().map(|(n, _)| n).collect();
        assert_eq!(
            names,
            ["running_mean", "running_var", "num_batches_tracked"]
        );
        let err = bn.forward(&Var::new(Tensor::zeros(&[1, 2]))).unwrap_err();
        assert!(
            err.to_string().contains("more than 1 value per channel"),
            "{err}"
        );
        let err = bn.forward(&Var::new(Tensor::zeros(&[4, 3]))).unwrap_err();
        assert!(
            err.to_string()
                .contains("3 channels but the layer expects 2"),
            "{err}"
        );
        bn.eval();
        // Evaluation with one sample is fine: the running statistics are used.
        let y = bn
            .forward(&Var::new(
                Tensor::from_vec(vec![2.0, 4.0], &[1, 2]).unwrap(),
            ))
            .unwrap();
        let s = (1.0f64 + 1e-5).sqrt();
        assert_eq!(y.value().to_vec(), vec![2.0 / s, 4.0 / s]);
        let untracked = BatchNorm1d::<f64>::new(2).with_track_running_stats(false);
        untracked.eval();
        assert!(
            untracked
                .forward(&Var::new(Tensor::zeros(&[1, 2])))
                .is_err()
        );
        let bad = BatchNorm1d::<f64>::new(2).with_eps(-1.0);
        assert!(
            bad.forward(&Var::new(Tensor::zeros(&[3, 2])))
                .unwrap_err()
                .to_string()
                .contains("eps")
        );
        // A loaded count replaces the layer's.
        let mut sd = state_dict(&bn);
        sd.insert("num_batches_tracked", Tensor::scalar(7.0));
        load_state_dict(&bn, &sd, Strict::Yes).unwrap();
        assert_eq!(bn.num_batches_tracked(), Some(7));
    }

    #[test]
    fn layer_and_group_norm_layers_match_their_ops_and_print_like_pytorch() {
        let x = Var::new(randn(&[2, 6, 3], 4));
        let ln = LayerNorm::<f64>::new(&[6, 3]).with_bias(false);
        assert_eq!(ln.named_parameters().len(), 1);
        let want = x
            .layer_norm(&[6, 3], ln.weight(), None, 1e-5)
            .unwrap()
            .value();
        assert_eq!(ln.forward(&x).unwrap().value().to_vec(), want.to_vec());
        assert_eq!(
            ln.describe(),
            "LayerNorm((6, 3), eps=1e-05, elementwise_affine=True)"
        );
        let gn = GroupNorm::<f64>::new(3, 6).with_affine(false).with_eps(0.1);
        assert_eq!(gn.describe(), "GroupNorm(3, 6, eps=0.1, affine=False)");
        assert!(gn.forward(&x).is_ok());
        assert!(GroupNorm::<f64>::new(0, 6).forward(&x).is_err());
        let err = GroupNorm::<f64>::new(2, 4).forward(&x).unwrap_err();
        assert!(
            err.to_string()
                .contains("6 channels but the layer expects 4"),
            "{err}"
        );
        assert!(LayerNorm::<f64>::new(&[]).forward(&x).is_err());
        assert_eq!(python_float(2.5e-7), "2.5e-07");
    }

    #[test]
    fn summary_lists_the_new_layers_with_their_shapes_and_reprs() {
        use crate::{Sequential, summary};
        let model = Sequential::<f32>::new()
            .add_module("gn", GroupNorm::new(2, 4))
            .add_module("gap", crate::AdaptiveAvgPool2d::new([None, Some(1)]))
            .add_module("ln", LayerNorm::new(&[5, 1]));
        let s = summary(&model, &[3, 4, 5, 6]).unwrap();
        let shapes: Vec<Vec<usize>> = s.rows.iter().map(|r| r.output_shape.clone()).collect();
        assert_eq!(
            shapes,
            [vec![3, 4, 5, 6], vec![3, 4, 5, 1], vec![3, 4, 5, 1]]
        );
        assert_eq!(
            s.rows[0].description,
            "GroupNorm(2, 4, eps=1e-05, affine=True)"
        );
        assert_eq!(
            s.rows[1].description,
            "AdaptiveAvgPool2d(output_size=(None, 1))"
        );
        assert_eq!(
            s.rows[2].description,
            "LayerNorm((5, 1), eps=1e-05, elementwise_affine=True)"
        );
        assert_eq!(s.total_params, 8 + 10);
        let bn = BatchNorm1d::<f32>::new(4);
        let s = summary(&bn, &[2, 4, 3]).unwrap();
        assert_eq!(s.rows[0].output_shape, vec![2, 4, 3]);
        assert_eq!(bn.num_batches_tracked(), Some(0)); // summary runs in evaluation mode
        assert!(bn.is_training());
    }
}
