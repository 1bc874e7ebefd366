//! `BatchNorm2d`: per-channel batch normalisation, PyTorch's `nn.BatchNorm2d`, and its
//! functional form [`batch_norm2d`]. The numeric kernel and its backward are
//! `ferrite_tensor`'s `Tensor::batch_norm` and `batch_norm_backward`, the op is
//! [`Var::batch_norm`]; this file holds the configuration and the layer.

use std::sync::{Mutex, MutexGuard};

use ferrite_autograd::Var;
pub use ferrite_tensor::BatchNormOptions;
use ferrite_tensor::{Float, Result, Tensor, TensorError, checked_numel};

use crate::Module;
use crate::module::TrainingFlag;

const OP: &str = "batch_norm2d";

/// Batch normalisation over `(N, H, W)` for each channel of an `[N, C, H, W]` input, like
/// `F.batch_norm(input, running_mean, running_var, weight, bias, training, momentum, eps)`
/// on a 4-D input: [`Var::batch_norm`] (which has the formulas) after checking that the
/// input is 4-D, as `nn.BatchNorm2d` does.
///
/// # Shapes
/// - input: `[N, C, H, W]`
/// - running_mean, running_var, weight, bias: `[C]`
/// - output: `[N, C, H, W]`
///
/// # Errors
/// When the input is not 4-D (`batch_norm2d: ...`), and everything [`Var::batch_norm`]
/// refuses (`batch_norm: ...`).
///
/// ```
/// use ferrite_autograd::Var;
/// use ferrite_nn::{batch_norm2d, BatchNormOptions};
/// use ferrite_tensor::Tensor;
/// let x = Var::parameter(Tensor::<f64>::from_vec(vec![1.0, 3.0, 10.0, 30.0], &[2, 2, 1, 1])?);
/// let (mean, var) = (Var::new(Tensor::zeros(&[2])), Var::new(Tensor::ones(&[2])));
/// let opts = BatchNormOptions::default().with_training(true).with_eps(0.0);
/// let y = batch_norm2d(&x, Some(&mean), Some(&var), None, None, &opts)?;
/// // Channel 0 holds 1 and 10: mean 5.5, biased variance 20.25.
/// let expected = [-1.0, -1.0, 1.0, 1.0]; // to an ulp (x·a + b per channel, as PyTorch)
/// assert!(y.value().to_vec().iter().zip(expected).all(|(y, e)| (y - e).abs() < 1e-15));
/// assert_eq!(mean.value().to_vec()[0], 0.55); // 0.9 · 0 + 0.1 · 5.5
///
/// let flat = Var::new(Tensor::<f64>::zeros(&[2, 2]));
/// let err = batch_norm2d(&flat, Some(&mean), Some(&var), None, None, &opts).unwrap_err();
/// assert_eq!(err.to_string(), "batch_norm2d: expected a 4-D input [N, C, H, W], found shape [2, 2]");
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
pub fn batch_norm2d<T: Float>(
    input: &Var<T>,
    running_mean: Option<&Var<T>>,
    running_var: Option<&Var<T>>,
    weight: Option<&Var<T>>,
    bias: Option<&Var<T>>,
    options: &BatchNormOptions,
) -> Result<Var<T>> {
    let shape = input.shape();
    if shape.len() != 4 {
        return Err(TensorError::shape(
            OP,
            format!("expected a 4-D input [N, C, H, W], found shape {shape:?}"),
        ));
    }
    input.batch_norm(running_mean, running_var, weight, bias, options)
}

/// The settings of a [`BatchNorm2d`], with PyTorch's argument names and defaults.
///
/// The cumulative moving average of PyTorch's `momentum=None` is not supported.
///
/// ```
/// use ferrite_nn::BatchNorm2dConfig;
/// let c = BatchNorm2dConfig::new(16).with_momentum(0.01);
/// assert_eq!((c.num_features, c.eps, c.momentum), (16, 1e-5, 0.01));
/// assert!(c.affine && c.track_running_stats);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BatchNorm2dConfig {
    /// The number of channels `C` of the input.
    pub num_features: usize,
    /// Added to the variance before the square root (default `1e-5`).
    pub eps: f64,
    /// Weight of each new batch in the running statistics (default 0.1).
    pub momentum: f64,
    /// Whether the layer has a learnable per-channel `weight` and `bias` (default true).
    pub affine: bool,
    /// Whether the layer keeps running statistics for evaluation mode (default true);
    /// without them it always normalises with the batch's statistics.
    pub track_running_stats: bool,
}

impl BatchNorm2dConfig {
    /// `num_features` channels, PyTorch's defaults elsewhere.
    ///
    /// ```
    /// use ferrite_nn::BatchNorm2dConfig;
    /// assert_eq!(BatchNorm2dConfig::new(8).momentum, 0.1);
    /// ```
    pub fn new(num_features: usize) -> Self {
        BatchNorm2dConfig {
            num_features,
            eps: 1e-5,
            momentum: 0.1,
            affine: true,
            track_running_stats: true,
        }
    }
    /// Sets ε.
    ///
    /// ```
    /// use ferrite_nn::BatchNorm2dConfig;
    /// assert_eq!(BatchNorm2dConfig::new(8).with_eps(1e-3).eps, 1e-3);
    /// ```
    pub fn with_eps(mut self, eps: f64) -> Self {
        self.eps = eps;
        self
    }
    /// Sets the momentum of the running statistics.
    ///
    /// ```
    /// use ferrite_nn::BatchNorm2dConfig;
    /// assert_eq!(BatchNorm2dConfig::new(8).with_momentum(0.01).momentum, 0.01);
    /// ```
    pub fn with_momentum(mut self, momentum: f64) -> Self {
        self.momentum = momentum;
        self
    }
    /// Keeps (`true`) or removes (`false`) the learnable `weight` and `bias`.
    ///
    /// ```
    /// use ferrite_nn::BatchNorm2dConfig;
    /// assert!(!BatchNorm2dConfig::new(8).with_affine(false).affine);
    /// ```
    pub fn with_affine(mut self, affine: bool) -> Self {
        self.affine = affine;
        self
    }
    /// Keeps (`true`) or removes (`false`) the running statistics.
    ///
    /// ```
    /// use ferrite_nn::BatchNorm2dConfig;
    /// assert!(!BatchNorm2dConfig::new(8).with_track_running_stats(false).track_running_stats);
    /// ```
    pub fn with_track_running_stats(mut self, track_running_stats: bool) -> Self {
        self.track_running_stats = track_running_stats;
        self
    }
}

/// Batch normalisation of each channel of an `[N, C, H, W]` input, like
/// `torch.nn.BatchNorm2d`: see [`Var::batch_norm`] for the formulas.
///
/// Parameters: `weight` `[C]` (ones) and `bias` `[C]` (zeros), when `affine`.
/// Buffers: `running_mean` `[C]` (zeros), `running_var` `[C]` (ones) and
/// `num_batches_tracked` `[]` (a count, 0), when `track_running_stats`; the names and order
/// are those of PyTorch's `state_dict`. The buffers are updated by `forward` in training
/// mode (it takes `&self`: they are [`Var`]s updated in place).
///
/// ```
/// use ferrite_autograd::Var;
/// use ferrite_nn::{BatchNorm2d, Module, ModuleExt};
/// use ferrite_tensor::{seeded_rng, Tensor};
/// let bn = BatchNorm2d::new(16);
/// let x = Var::new(Tensor::<f32>::randn(&[8, 16, 5, 5], &mut seeded_rng(0)));
/// let y = bn.forward(&x)?; // training mode: batch statistics, running stats updated
/// assert_eq!(y.shape(), vec![8, 16, 5, 5]);
/// assert_eq!(bn.num_batches_tracked(), Some(1));
/// bn.eval(); // evaluation mode: running statistics
/// let names: Vec<String> = bn.named_buffers().into_iter().map(|(n, _)| n).collect();
/// assert_eq!(names, ["running_mean", "running_var", "num_batches_tracked"]);
///
/// let err = bn.forward(&Var::new(Tensor::zeros(&[8, 3, 28, 28]))).unwrap_err();
/// assert_eq!(
///     err.to_string(),
///     "batch_norm2d: input has 3 channels but the layer expects 16 (input [8, 3, 28, 28])"
/// );
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
#[derive(Debug)]
pub struct BatchNorm2d<T: Float = f32> {
    config: BatchNorm2dConfig,
    weight: Option<Var<T>>,
    bias: Option<Var<T>>,
    running_mean: Option<Var<T>>,
    running_var: Option<Var<T>>,
    num_batches_tracked: Option<Var<T>>,
    /// The exact count behind the `num_batches_tracked` buffer.
    counter: Mutex<BatchCounter<T>>,
    training: TrainingFlag,
    /// Why the settings make no layer (`forward` returns it), when they do not.
    invalid: Option<TensorError>,
}

/// The exact number of batches tracked, and the tensor last written to the buffer to show
/// it. While the buffer still holds that very tensor, `count` is the truth; once something
/// else was assigned to the buffer (`load_state_dict`), the buffer's value is.
#[derive(Debug)]
struct BatchCounter<T: Float> {
    count: u64,
    shown: Tensor<T>,
}

impl<T: Float> BatchCounter<T> {
    fn new(shown: Tensor<T>) -> Self {
        BatchCounter { count: 0, shown }
    }

    /// Adopts the buffer's value when it is not the tensor this counter wrote.
    fn sync(&mut self, buffer: &Var<T>) {
        let current = buffer.value();
        let ptr = |t: &Tensor<T>| t.as_slice().map(<[T]>::as_ptr);
        let same = ptr(&current).is_some() && ptr(&current) == ptr(&self.shown);
        if !same {
            // A negative or NaN value counts as 0, a value past u64::MAX as u64::MAX.
            self.count = current.item().map_or(0, |v| v.as_f64() as u64);
            self.shown = current;
        }
    }
}

impl<T: Float> BatchNorm2d<T> {
    /// `num_features` channels, like `nn.BatchNorm2d(num_features)`: PyTorch's defaults
    /// (`eps` 1e-5, `momentum` 0.1, `affine`, `track_running_stats`) and initial values,
    /// in training mode. Then one setter per keyword argument.
    ///
    /// Settings that make no layer (0 features, a negative or non-finite `eps`, a
    /// `momentum` outside `[0, 1]`) are not refused here: the layer remembers why and
    /// [`forward`](Module::forward) returns the error (naming `BatchNorm2d`).
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_nn::{BatchNorm2d, Module, ModuleExt};
    /// use ferrite_tensor::Tensor;
    /// let bn = BatchNorm2d::<f32>::new(16).with_momentum(0.01);
    /// assert_eq!(bn.config().momentum, 0.01);
    /// let bad = BatchNorm2d::<f32>::new(0);
    /// let err = bad.forward(&Var::new(Tensor::zeros(&[2, 0, 1, 1]))).unwrap_err();
    /// assert_eq!(err.to_string(), "BatchNorm2d: num_features must be positive, found 0");
    /// ```
    pub fn new(num_features: usize) -> Self {
        Self::from_settings(BatchNorm2dConfig::new(num_features))
    }

    /// The layer for `config`, or one that remembers why `config` makes no layer (with
    /// empty parameters and buffers).
    fn from_settings(config: BatchNorm2dConfig) -> Self {
        Self::from_config(config).unwrap_or_else(|e| {
            let mut empty = Self::build(config, 0);
            empty.invalid = Some(e);
            empty
        })
    }

    /// Sets ε, added to the variance before the square root.
    ///
    /// ```
    /// use ferrite_nn::BatchNorm2d;
    /// assert_eq!(BatchNorm2d::<f32>::new(8).with_eps(1e-3).config().eps, 1e-3);
    /// ```
    pub fn with_eps(self, eps: f64) -> Self {
        Self::from_settings(self.config.with_eps(eps))
    }

    /// Sets the momentum of the running statistics.
    ///
    /// ```
    /// use ferrite_nn::BatchNorm2d;
    /// assert_eq!(BatchNorm2d::<f32>::new(8).with_momentum(0.01).config().momentum, 0.01);
    /// ```
    pub fn with_momentum(self, momentum: f64) -> Self {
        Self::from_settings(self.config.with_momentum(momentum))
    }

    /// Keeps (`true`) or removes (`false`) the learnable `weight` and `bias`.
    ///
    /// ```
    /// use ferrite_nn::{BatchNorm2d, ModuleExt};
    /// assert!(BatchNorm2d::<f32>::new(4).with_affine(false).named_parameters().is_empty());
    /// ```
    pub fn with_affine(self, affine: bool) -> Self {
        Self::from_settings(self.config.with_affine(affine))
    }

    /// Keeps (`true`) or removes (`false`) the running statistics; without them the layer
    /// normalises with the batch's statistics in both modes.
    ///
    /// ```
    /// use ferrite_nn::BatchNorm2d;
    /// assert!(BatchNorm2d::<f32>::new(4).with_track_running_stats(false).running_var().is_none());
    /// ```
    pub fn with_track_running_stats(self, track_running_stats: bool) -> Self {
        Self::from_settings(self.config.with_track_running_stats(track_running_stats))
    }

    /// A layer in training mode with the settings of `config`, PyTorch's initial values.
    ///
    /// # Errors
    /// When `num_features` is zero, or `eps` is negative or not finite (every `momentum`
    /// is accepted, as in PyTorch).
    ///
    /// ```
    /// use ferrite_nn::{BatchNorm2d, BatchNorm2dConfig, Module, ModuleExt};
    /// let bn = BatchNorm2d::<f32>::from_config(BatchNorm2dConfig::new(4).with_affine(false))?;
    /// assert!(bn.named_parameters().is_empty());
    /// assert!(BatchNorm2d::<f32>::from_config(BatchNorm2dConfig::new(0)).is_err());
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn from_config(config: BatchNorm2dConfig) -> Result<Self> {
        let c = config.num_features;
        if c == 0 {
            return Err(TensorError::invalid(
                "BatchNorm2d",
                "num_features must be positive, found 0",
            ));
        }
        BatchNormOptions::new()
            .with_eps(config.eps)
            .with_momentum(config.momentum)
            .check("BatchNorm2d")?;
        checked_numel("BatchNorm2d", &[c])?;
        Ok(Self::build(config, c))
    }

    /// The layer for `config` with parameters and buffers of `c` channels.
    fn build(config: BatchNorm2dConfig, c: usize) -> Self {
        let affine = config.affine;
        let track = config.track_running_stats;
        let zero = Tensor::scalar(T::zero());
        BatchNorm2d {
            config,
            weight: affine.then(|| Var::parameter(Tensor::ones(&[c]))),
            bias: affine.then(|| Var::parameter(Tensor::zeros(&[c]))),
            running_mean: track.then(|| Var::new(Tensor::zeros(&[c]))),
            running_var: track.then(|| Var::new(Tensor::ones(&[c]))),
            num_batches_tracked: track.then(|| Var::new(zero.clone())),
            counter: Mutex::new(BatchCounter::new(zero)),
            training: TrainingFlag::default(),
            invalid: None,
        }
    }

    /// The layer's settings.
    ///
    /// ```
    /// use ferrite_nn::BatchNorm2d;
    /// let bn = BatchNorm2d::<f32>::new(8);
    /// assert_eq!(bn.config().num_features, 8);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn config(&self) -> &BatchNorm2dConfig {
        &self.config
    }

    /// The per-channel scale `[C]`, when `affine`.
    ///
    /// ```
    /// use ferrite_nn::BatchNorm2d;
    /// let bn = BatchNorm2d::<f32>::new(2);
    /// assert_eq!(bn.weight().unwrap().value().to_vec(), vec![1.0, 1.0]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn weight(&self) -> Option<&Var<T>> {
        self.weight.as_ref()
    }

    /// The per-channel shift `[C]`, when `affine`.
    ///
    /// ```
    /// use ferrite_nn::BatchNorm2d;
    /// let bn = BatchNorm2d::<f32>::new(2);
    /// assert_eq!(bn.bias().unwrap().value().to_vec(), vec![0.0, 0.0]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn bias(&self) -> Option<&Var<T>> {
        self.bias.as_ref()
    }

    /// The running mean `[C]`, when `track_running_stats`.
    ///
    /// ```
    /// use ferrite_nn::BatchNorm2d;
    /// let bn = BatchNorm2d::<f32>::new(2);
    /// assert_eq!(bn.running_mean().unwrap().value().to_vec(), vec![0.0, 0.0]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn running_mean(&self) -> Option<&Var<T>> {
        self.running_mean.as_ref()
    }

    /// The running (unbiased) variance `[C]`, when `track_running_stats`.
    ///
    /// ```
    /// use ferrite_nn::BatchNorm2d;
    /// let bn = BatchNorm2d::<f32>::new(2).with_track_running_stats(false);
    /// assert!(bn.running_var().is_none());
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn running_var(&self) -> Option<&Var<T>> {
        self.running_var.as_ref()
    }

    /// How many training batches have updated the running statistics, when
    /// `track_running_stats`: an exact count, like PyTorch's `int64` buffer.
    ///
    /// The `num_batches_tracked` buffer (in [`named_buffers`](crate::ModuleExt::named_buffers) and
    /// the state dict) shows this count converted to `T`, which is exact up to 2^24 for
    /// `f32` and 2^53 for `f64`; the layer itself keeps counting exactly beyond. A value
    /// assigned to the buffer (by [`load_state_dict`](crate::load_state_dict)) replaces
    /// the count (a negative or NaN value counts as 0).
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_nn::{load_state_dict, state_dict, BatchNorm2d, Module, Strict, ModuleExt};
    /// use ferrite_tensor::Tensor;
    /// let bn = BatchNorm2d::<f32>::new(1);
    /// assert_eq!(bn.num_batches_tracked(), Some(0));
    /// let mut sd = state_dict(&bn);
    /// sd.insert("num_batches_tracked", Tensor::scalar(16_777_216.0)); // 2^24
    /// load_state_dict(&bn, &sd, Strict::Yes)?;
    /// for _ in 0..3 {
    ///     bn.forward(&Var::new(Tensor::from_vec(vec![0.0, 1.0], &[2, 1, 1, 1])?))?;
    /// }
    /// // An f32 buffer alone would be stuck at 2^24 (2^24 + 1 rounds back to 2^24).
    /// assert_eq!(bn.num_batches_tracked(), Some(16_777_219));
    /// assert_eq!(state_dict(&bn).get("num_batches_tracked").unwrap().item()?, 16_777_220.0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn num_batches_tracked(&self) -> Option<u64> {
        let buffer = self.num_batches_tracked.as_ref()?;
        let mut counter = lock(&self.counter);
        counter.sync(buffer);
        Some(counter.count)
    }
}

impl<T: Float> Module<T> for BatchNorm2d<T> {
    /// Training mode: normalises with the batch's statistics and updates the running ones
    /// (and `num_batches_tracked`). Evaluation mode: normalises with the running statistics
    /// (with the batch's when the layer tracks none).
    ///
    /// # Shapes
    /// - input: `[N, num_features, H, W]`
    /// - output: the input's shape
    fn forward(&self, input: &Var<T>) -> Result<Var<T>> {
        if let Some(e) = &self.invalid {
            return Err(e.clone());
        }
        let shape = input.shape();
        if shape.len() == 4 && shape[1] != self.config.num_features {
            return Err(TensorError::shape(
                OP,
                format!(
                    "input has {} channels but the layer expects {} (input {shape:?})",
                    shape[1], self.config.num_features
                ),
            ));
        }
        // Without running statistics there is nothing else to normalise with: the batch's
        // statistics are used in both modes, as in PyTorch.
        // The momentum given to the op is PyTorch's `exponential_average_factor`: a
        // cumulative average (`momentum=None`) would pass `1 / num_batches_tracked` here.
        let options = BatchNormOptions {
            training: self.training.get() || self.running_mean.is_none(),
            momentum: self.config.momentum,
            eps: self.config.eps,
        };
        let (running_mean, running_var) = (self.running_mean.as_ref(), self.running_var.as_ref());
        let run = || {
            batch_norm2d(
                input,
                running_mean,
                running_var,
                self.weight.as_ref(),
                self.bias.as_ref(),
                &options,
            )
        };
        let tracked = self
            .num_batches_tracked
            .as_ref()
            .filter(|_| self.training.get());
        let Some(buffer) = tracked else {
            return run();
        };
        let mut counter = lock(&self.counter);
        counter.sync(buffer);
        // Refused before anything changes: the count cannot go past u64::MAX.
        let next = counter.count.checked_add(1).ok_or_else(|| {
            TensorError::invalid(
                OP,
                format!(
                    "num_batches_tracked is at its maximum {}: cannot count another batch",
                    u64::MAX
                ),
            )
        })?;
        let out = run()?;
        let shown = Tensor::scalar(T::of(next as f64));
        buffer.set_value(shown.clone())?;
        counter.count = next;
        counter.shown = shown;
        Ok(out)
    }

    fn type_name(&self) -> &'static str {
        "BatchNorm2d"
    }

    fn describe(&self) -> String {
        let c = &self.config;
        let py_bool = |b: bool| if b { "True" } else { "False" };
        format!(
            "BatchNorm2d({}, eps={}, momentum={}, affine={}, track_running_stats={})",
            c.num_features,
            python_float(c.eps),
            python_float(c.momentum),
            py_bool(c.affine),
            py_bool(c.track_running_stats)
        )
    }

    fn own_parameters(&self) -> Vec<(String, Var<T>)> {
        let mut out = Vec::new();
        if let (Some(w), Some(b)) = (&self.weight, &self.bias) {
            out.push(("weight".to_string(), w.clone()));
            out.push(("bias".to_string(), b.clone()));
        }
        out
    }

    fn own_buffers(&self) -> Vec<(String, Var<T>)> {
        let mut out = Vec::new();
        if let (Some(m), Some(v), Some(n)) = (
            &self.running_mean,
            &self.running_var,
            &self.num_batches_tracked,
        ) {
            out.push(("running_mean".to_string(), m.clone()));
            out.push(("running_var".to_string(), v.clone()));
            out.push(("num_batches_tracked".to_string(), n.clone()));
        }
        out
    }

    fn set_training(&self, training: bool) {
        self.training.set(training);
    }

    fn is_training(&self) -> bool {
        self.training.get()
    }
}

fn lock<U>(m: &Mutex<U>) -> MutexGuard<'_, U> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A float written as Python's `repr` writes it (`1e-05`, `0.1`), so that `describe` reads
/// like PyTorch's module printout.
fn python_float(v: f64) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ModuleExt;
    use ferrite_tensor::seeded_rng;

    fn randn(shape: &[usize], seed: u64) -> Tensor<f64> {
        Tensor::randn(shape, &mut seeded_rng(seed))
    }

    /// Per-channel mean and biased variance of an `[N, C, H, W]` tensor, by brute force.
    fn channel_stats(x: &Tensor<f64>) -> (Vec<f64>, Vec<f64>) {
        let s = x.shape();
        let (n, c, hw) = (s[0], s[1], s[2] * s[3]);
        let data = x.to_vec();
        let mut mean = vec![0.0; c];
        let mut var = vec![0.0; c];
        for ch in 0..c {
            let vals: Vec<f64> = (0..n)
                .flat_map(|i| data[(i * c + ch) * hw..(i * c + ch + 1) * hw].to_vec())
                .collect();
            let m = vals.iter().sum::<f64>() / vals.len() as f64;
            mean[ch] = m;
            var[ch] = vals.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / vals.len() as f64;
        }
        (mean, var)
    }

    #[test]
    fn layer_updates_running_stats_and_uses_them_in_eval() {
        let bn = BatchNorm2d::<f64>::new(3).with_momentum(0.2);
        let batches = [
            randn(&[4, 3, 2, 2], 10),
            randn(&[4, 3, 2, 2], 11).mul_scalar(3.0),
        ];
        let (mut rm, mut rv) = (vec![0.0; 3], vec![1.0; 3]);
        for x in &batches {
            let y = bn.forward(&Var::new(x.clone())).unwrap();
            let (mean, var) = channel_stats(x);
            // The output is normalised with the batch's statistics.
            let (ym, yv) = channel_stats(&y.value());
            for ch in 0..3 {
                assert!(ym[ch].abs() < 1e-12);
                assert!((yv[ch] - var[ch] / (var[ch] + 1e-5)).abs() < 1e-12);
                rm[ch] = 0.8 * rm[ch] + 0.2 * mean[ch];
                rv[ch] = 0.8 * rv[ch] + 0.2 * var[ch] * 16.0 / 15.0;
            }
        }
        let got_m = bn.running_mean().unwrap().value().to_vec();
        let got_v = bn.running_var().unwrap().value().to_vec();
        for ch in 0..3 {
            assert!((got_m[ch] - rm[ch]).abs() < 1e-12, "{got_m:?} vs {rm:?}");
            assert!((got_v[ch] - rv[ch]).abs() < 1e-12, "{got_v:?} vs {rv:?}");
        }
        assert_eq!(bn.num_batches_tracked(), Some(2));

        bn.eval();
        let x = randn(&[2, 3, 1, 2], 12);
        let y = bn.forward(&Var::new(x.clone())).unwrap().value().to_vec();
        for (i, (xv, yv)) in x.to_vec().iter().zip(y).enumerate() {
            let ch = (i / 2) % 3;
            let expected = (xv - rm[ch]) / (rv[ch] + 1e-5).sqrt();
            assert!((yv - expected).abs() < 1e-12);
        }
        // Evaluation does not touch the buffers.
        assert_eq!(bn.running_mean().unwrap().value().to_vec(), got_m);
        assert_eq!(bn.num_batches_tracked(), Some(2));
    }

    #[test]
    fn without_running_stats_always_uses_the_batch() {
        let bn = BatchNorm2d::<f64>::new(2).with_track_running_stats(false);
        assert!(bn.named_buffers().is_empty());
        bn.eval();
        let x = randn(&[3, 2, 2, 2], 13);
        let y = bn.forward(&Var::new(x)).unwrap();
        let (ym, _) = channel_stats(&y.value());
        assert!(ym.iter().all(|m| m.abs() < 1e-12));
        assert_eq!(bn.num_batches_tracked(), None);
    }

    #[test]
    fn names_like_pytorch() {
        let bn = BatchNorm2d::<f32>::new(16);
        let params: Vec<String> = bn.named_parameters().into_iter().map(|(n, _)| n).collect();
        assert_eq!(params, ["weight", "bias"]);
        assert_eq!(
            bn.describe(),
            "BatchNorm2d(16, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)"
        );
        assert_eq!(python_float(1e-3), "0.001");
        assert_eq!(python_float(2.5e-7), "2.5e-07");
        assert_eq!(python_float(1.0), "1.0");
        assert_eq!(bn.weight().unwrap().value().to_vec(), vec![1.0; 16]);
        assert_eq!(bn.running_var().unwrap().value().to_vec(), vec![1.0; 16]);
    }

    #[test]
    fn refuses_bad_inputs() {
        let bn = BatchNorm2d::<f64>::new(2);
        let err = bn
            .forward(&Var::new(Tensor::zeros(&[2, 2, 3])))
            .unwrap_err();
        assert!(err.to_string().contains("4-D"), "{err}");
        let err = bn
            .forward(&Var::new(Tensor::zeros(&[1, 2, 1, 1])))
            .unwrap_err();
        assert!(err.to_string().contains("more than 1 value"), "{err}");
        let x = Var::new(Tensor::<f64>::zeros(&[2, 2, 2, 2]));
        let eval = BatchNormOptions::new();
        assert!(batch_norm2d(&x, None, None, None, None, &eval).is_err());
        let rm = Var::new(Tensor::zeros(&[2]));
        assert!(batch_norm2d(&x, Some(&rm), None, None, None, &eval).is_err());
        let w3 = Var::new(Tensor::ones(&[3]));
        let err =
            batch_norm2d(&x, None, None, Some(&w3), None, &eval.with_training(true)).unwrap_err();
        assert!(err.to_string().contains("weight has shape [3]"), "{err}");
        assert!(
            BatchNorm2d::<f32>::from_config(BatchNorm2dConfig::new(2).with_momentum(1.5)).is_ok()
        );
        assert!(BatchNorm2d::<f32>::from_config(BatchNorm2dConfig::new(2).with_eps(-1.0)).is_err());
        let x = Var::new(Tensor::<f32>::zeros(&[2, 2, 2, 2]));
        let err = BatchNorm2d::<f32>::new(2)
            .with_eps(-1.0)
            .forward(&x)
            .unwrap_err();
        assert_eq!(err.op(), "BatchNorm2d");
        // A later setter that fixes the settings makes a layer again.
        let fixed = BatchNorm2d::<f32>::new(2).with_eps(-1.0).with_eps(1e-3);
        assert!(fixed.forward(&x).is_ok());
    }
}
