//! Normalisation kernels. This file: batch normalisation, like PyTorch's `native_batch_norm`
//! and `native_batch_norm_backward`: the per-channel statistics, the normalisation, the
//! running-statistics update and the closed-form backward. `norm/layer.rs`: layer and group
//! normalisation, on the per-row kernel of `norm/rows.rs`.
//!
//! The input is `[N, C, *]`: channels on dim 1, every dim after it flattened, so
//! `BatchNorm1d` (`[N, C]`, `[N, C, L]`), `BatchNorm2d` and `BatchNorm3d` share these
//! kernels. The arithmetic is in `f64` whatever the element type; only the output is
//! rounded to `T`.
//!
//! ```
//! use ferrite_tensor::{batch_norm_backward, BatchNormOptions, Tensor};
//! // Two samples, one channel of two values each: mean 2.5, biased variance 1.25.
//! let x = Tensor::<f64>::from_vec(vec![1.0, 2.0, 3.0, 4.0], &[2, 1, 2])?;
//! let bn = x.batch_norm(None, None, None, None, &BatchNormOptions::new().with_training(true).with_eps(0.0))?;
//! let s = 1.25f64.sqrt();
//! let expected = [-1.5 / s, -0.5 / s, 0.5 / s, 1.5 / s];
//! // Within an ulp or two: the output is computed as x·a + b per channel (PyTorch's form).
//! assert!(bn.output.to_vec().iter().zip(expected).all(|(y, e)| (y - e).abs() < 1e-15));
//! let grads = batch_norm_backward(&Tensor::ones(&[2, 1, 2]), &bn.saved, [true, false, false])?;
//! assert!(grads.input.unwrap().to_vec().iter().all(|g| g.abs() < 1e-12)); // d(sum)/dx = 0
//! # Ok::<(), ferrite_tensor::TensorError>(())
//! ```

use rayon::prelude::*;

use crate::{Float, Result, Tensor, TensorError, buffer, parallel};

mod layer;
mod rows;

pub use layer::{group_norm_backward, layer_norm_backward};
pub use rows::{NormGrads, NormOutput, NormSaved};

const OP: &str = "batch_norm";

/// The settings of batch normalisation, with the defaults of `F.batch_norm`: evaluation
/// mode (`training = false`), `momentum = 0.1`, `eps = 1e-5`.
///
/// ```
/// use ferrite_tensor::BatchNormOptions;
/// let o = BatchNormOptions::default().with_training(true).with_momentum(0.3);
/// assert!(o.training);
/// assert_eq!((o.momentum, o.eps), (0.3, 1e-5));
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BatchNormOptions {
    /// Normalise with the batch's statistics and update the running ones (true), or
    /// normalise with the running statistics (false, the default).
    pub training: bool,
    /// Weight of the new batch in the running averages:
    /// `running = (1 - momentum) · running + momentum · batch` (default 0.1). A layer
    /// with PyTorch's `momentum=None` (a cumulative average) passes `1 / batches seen`
    /// here, as `nn.BatchNorm2d` does.
    pub momentum: f64,
    /// Added to the variance before the square root (default `1e-5`).
    pub eps: f64,
}

impl Default for BatchNormOptions {
    fn default() -> Self {
        BatchNormOptions {
            training: false,
            momentum: 0.1,
            eps: 1e-5,
        }
    }
}

impl BatchNormOptions {
    /// The defaults (the same as [`Default`]).
    ///
    /// ```
    /// use ferrite_tensor::BatchNormOptions;
    /// assert!(!BatchNormOptions::new().training);
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets training (batch statistics) or evaluation (running statistics) behaviour.
    ///
    /// ```
    /// use ferrite_tensor::BatchNormOptions;
    /// assert!(BatchNormOptions::new().with_training(true).training);
    /// ```
    pub fn with_training(mut self, training: bool) -> Self {
        self.training = training;
        self
    }

    /// Sets the momentum of the running averages.
    ///
    /// ```
    /// use ferrite_tensor::BatchNormOptions;
    /// assert_eq!(BatchNormOptions::new().with_momentum(0.3).momentum, 0.3);
    /// ```
    pub fn with_momentum(mut self, momentum: f64) -> Self {
        self.momentum = momentum;
        self
    }

    /// Sets the ε added to the variance.
    ///
    /// ```
    /// use ferrite_tensor::BatchNormOptions;
    /// assert_eq!(BatchNormOptions::new().with_eps(1e-3).eps, 1e-3);
    /// ```
    pub fn with_eps(mut self, eps: f64) -> Self {
        self.eps = eps;
        self
    }

    /// Refuses an `eps` that is negative or not finite, naming `op` in the error:
    /// [`Tensor::batch_norm`] checks its options with it, and a layer its configuration,
    /// before anything is computed. Every `momentum` is accepted, as PyTorch accepts every
    /// float (1.5 or −0.5 extrapolate: `running = (1 − m) · running + m · batch`).
    ///
    /// # Errors
    /// As said above.
    ///
    /// ```
    /// use ferrite_tensor::BatchNormOptions;
    /// let err = BatchNormOptions::new().with_eps(-1.0).check("BatchNorm2d").unwrap_err();
    /// assert_eq!(err.to_string(), "BatchNorm2d: eps must be finite and non-negative, found -1");
    /// assert!(BatchNormOptions::new().with_momentum(1.5).check("batch_norm").is_ok());
    /// assert!(BatchNormOptions::new().with_eps(0.0).check("batch_norm").is_ok());
    /// ```
    pub fn check(&self, op: &'static str) -> Result<()> {
        let eps = self.eps;
        if !(eps >= 0.0 && eps.is_finite()) {
            return Err(TensorError::invalid(
                op,
                format!("eps must be finite and non-negative, found {eps}"),
            ));
        }
        Ok(())
    }
}

/// What [`Tensor::batch_norm`] computes.
#[derive(Debug, Clone)]
pub struct BatchNormOutput<T: Float> {
    /// The normalised input, in the input's shape.
    pub output: Tensor<T>,
    /// The running mean after this batch: `Some` in training mode when running statistics
    /// were given. The kernel changes nothing in place; the caller stores it.
    pub running_mean: Option<Tensor<T>>,
    /// The running (unbiased) variance after this batch, like `running_mean`.
    pub running_var: Option<Tensor<T>>,
    /// What [`batch_norm_backward`] needs.
    pub saved: BatchNormSaved<T>,
}

/// What the forward of batch norm keeps for [`batch_norm_backward`] (built by
/// [`Tensor::batch_norm`] only).
#[derive(Debug, Clone)]
pub struct BatchNormSaved<T: Float> {
    shape: Vec<usize>,
    layout: ChannelLayout,
    mode: Saved<T>,
}

#[derive(Debug, Clone)]
enum Saved<T: Float> {
    /// Training mode: the input, and per channel the batch mean, `1 / sqrt(var + eps)` and
    /// the weight (ones without one). x̂ is recomputed in the backward rather than kept: it
    /// would be an `f64` copy of the input.
    BatchStats {
        input: Tensor<T>,
        mean: Vec<f64>,
        invstd: Vec<f64>,
        weight: Vec<f64>,
    },
    /// Evaluation mode: the input, and per channel the running mean,
    /// `1 / sqrt(running_var + eps)` and the fused `scale = invstd · weight`.
    RunningStats {
        input: Tensor<T>,
        mean: Vec<f64>,
        invstd: Vec<f64>,
        scale: Vec<f64>,
    },
}

/// Gradients of batch norm computed by [`batch_norm_backward`]; a field is `None` when not
/// requested.
#[derive(Debug, Clone)]
pub struct BatchNormGrads<T: Float> {
    /// Gradient with respect to the input, in the input's shape.
    pub input: Option<Tensor<T>>,
    /// Gradient with respect to the weight, `[C]`.
    pub weight: Option<Tensor<T>>,
    /// Gradient with respect to the bias, `[C]`.
    pub bias: Option<Tensor<T>>,
}

/// The planes of an `[N, C, *]` tensor: `batch` is `N`, `channels` is `C`, `inner` the
/// product of the dims after it (one plane of a sample and channel is `inner` contiguous
/// values), `count` the number of values per channel (`N · inner`).
#[derive(Debug, Clone, Copy)]
struct ChannelLayout {
    batch: usize,
    channels: usize,
    inner: usize,
    count: usize,
}

impl ChannelLayout {
    fn of(shape: &[usize]) -> Result<Self> {
        let &[n, channels, ref rest @ ..] = shape else {
            return Err(TensorError::shape(
                OP,
                format!("expected an input [N, C, *] with at least 2 dims, found shape {shape:?}"),
            ));
        };
        // Sub-products of an existing tensor's shape: they cannot overflow.
        let inner: usize = rest.iter().product();
        Ok(ChannelLayout {
            batch: n,
            channels,
            inner,
            count: n * inner,
        })
    }

    /// The row-major range of sample `n`'s plane of channel `ch`.
    fn plane(&self, n: usize, ch: usize) -> std::ops::Range<usize> {
        let start = (n * self.channels + ch) * self.inner;
        start..start + self.inner
    }

    /// Large enough to split over threads.
    fn parallel(&self) -> bool {
        self.count * self.channels >= PARALLEL_MIN
    }

    /// `Σ f(g, x, p[ch], q[ch])` over the values `g` of `gs` and `x` of `xs` of each
    /// channel `ch`, in `f64`, summed plane by plane in batch order (the bits depend on the
    /// shape only, not on the threads).
    fn channel_sums<T: Float>(
        &self,
        (gs, xs): (&[T], &[T]),
        [p, q]: [&[f64]; 2],
        f: impl Fn(f64, f64, f64, f64) -> f64 + Sync,
    ) -> Vec<f64> {
        if self.inner == 1 {
            return self.column_sums((gs, xs), [p, q], f);
        }
        let per_channel = |ch| {
            let plane_f = |g, x| f(g, x, p[ch], q[ch]);
            (0..self.batch)
                .map(|n| {
                    let plane = self.plane(n, ch);
                    plane_sum2(&gs[plane.clone()], &xs[plane], plane_f)
                })
                .sum()
        };
        if self.parallel() {
            (0..self.channels)
                .into_par_iter()
                .map(per_channel)
                .collect()
        } else {
            (0..self.channels).map(per_channel).collect()
        }
    }

    /// `Σ x` over the values of each channel, as [`channel_sums`](Self::channel_sums).
    fn channel_totals<T: Float>(&self, xs: &[T]) -> Vec<f64> {
        let unused = vec![0.0; self.channels];
        self.channel_sums((xs, xs), [&unused, &unused], |x, _, _, _| x)
    }

    /// [`channel_sums`](Self::channel_sums) of an `[N, C]` input: the rows (contiguous) are
    /// added one after the other into the channels' sums, a loop over the channels that
    /// vectorises; blocks of [`COLUMNS`] channels go to rayon's threads when large.
    fn column_sums<T: Float>(
        &self,
        (gs, xs): (&[T], &[T]),
        [p, q]: [&[f64]; 2],
        f: impl Fn(f64, f64, f64, f64) -> f64 + Sync,
    ) -> Vec<f64> {
        let c = self.channels;
        let mut sums = vec![0.0; c];
        let run = |start: usize, sums: &mut [f64]| {
            let cols = start..start + sums.len();
            let (p, q) = (&p[cols.clone()], &q[cols.clone()]);
            for n in 0..self.batch {
                let (g, x) = (&gs[n * c..][cols.clone()], &xs[n * c..][cols.clone()]);
                let terms = g.iter().zip(x).zip(p.iter().zip(q));
                for (s, ((g, x), (p, q))) in sums.iter_mut().zip(terms) {
                    *s += f(g.as_f64(), x.as_f64(), *p, *q);
                }
            }
        };
        if self.parallel() && c > COLUMNS {
            let blocks = sums.par_chunks_mut(COLUMNS).enumerate();
            blocks.for_each(|(b, sums)| run(b * COLUMNS, sums));
        } else {
            run(0, &mut sums);
        }
        sums
    }

    /// `g · a + x · b + c` per element, with `a`, `b`, `c` per channel (given in `f64`,
    /// applied in the element type), as a new tensor's values; every kernel of batch norm is
    /// this fused form, as in PyTorch's CPU kernels. Blocks of samples of a fixed size go to
    /// rayon's threads; the loops run over contiguous slices, so they vectorise.
    fn affine<T: Float>(&self, g: &[T], x: &[T], [a, b, c]: [&[f64]; 3]) -> Vec<T> {
        let len = self.count * self.channels;
        let mut out = buffer::for_overwrite(len);
        let row = self.channels * self.inner;
        let of = |v: &[f64]| v.iter().map(|&v| T::of(v)).collect::<Vec<T>>();
        let (a, b, c) = (of(a), of(b), of(c));
        parallel::rows_mut(&mut out, row, row, |n, o| {
            let (g, x) = (&g[n * row..][..row], &x[n * row..][..row]);
            if self.inner == 1 {
                // `[N, C]`: the channel is the position in the row.
                let abc = a.iter().zip(&b).zip(&c);
                for ((o, (&g, &x)), ((&a, &b), &c)) in o.iter_mut().zip(g.iter().zip(x)).zip(abc) {
                    *o = g * a + x * b + c;
                }
                return;
            }
            let planes = o
                .chunks_mut(self.inner)
                .zip(g.chunks(self.inner))
                .zip(x.chunks(self.inner));
            for (ch, ((o, g), x)) in planes.enumerate() {
                let (a, b, c) = (a[ch], b[ch], c[ch]);
                for ((o, &g), &x) in o.iter_mut().zip(g).zip(x) {
                    *o = g * a + x * b + c;
                }
            }
        });
        out
    }
}

/// Below this many elements batch norm runs on the calling thread.
const PARALLEL_MIN: usize = 1 << 15;
/// Channels per task of the sums over an `[N, C]` input.
const COLUMNS: usize = 128;

/// `Σ f(g, x)` over one plane of two tensors in `f64`, with four accumulators so the loop
/// vectorises; the order of the additions depends on the plane's length only.
fn plane_sum2<T: Float>(gs: &[T], xs: &[T], f: impl Fn(f64, f64) -> f64) -> f64 {
    let mut acc = [0.0f64; 4];
    let (mut gq, mut xq) = (gs.chunks_exact(4), xs.chunks_exact(4));
    for (g, x) in (&mut gq).zip(&mut xq) {
        for k in 0..4 {
            acc[k] += f(g[k].as_f64(), x[k].as_f64());
        }
    }
    let tail: f64 = gq
        .remainder()
        .iter()
        .zip(xq.remainder())
        .map(|(&g, &x)| f(g.as_f64(), x.as_f64()))
        .sum();
    (acc[0] + acc[1]) + (acc[2] + acc[3]) + tail
}

/// A per-channel tensor as `f64`s, checked to have shape `[C]`.
fn per_channel<T: Float>(
    name: &str,
    t: Option<&Tensor<T>>,
    channels: usize,
    input_shape: &[usize],
) -> Result<Option<Vec<f64>>> {
    let Some(t) = t else { return Ok(None) };
    if t.shape() != [channels] {
        return Err(TensorError::shape(
            OP,
            format!(
                "{name} has shape {:?} but the input has {channels} channels (input {input_shape:?})",
                t.shape()
            ),
        ));
    }
    Ok(Some(t.as_array().iter().map(|x| x.as_f64()).collect()))
}

fn to_tensor<T: Float>(values: &[f64]) -> Result<Tensor<T>> {
    Tensor::from_vec(values.iter().map(|&v| T::of(v)).collect(), &[values.len()])
}

impl<T: Float> Tensor<T> {
    /// Batch normalisation of each channel of an `[N, C, *]` input, like
    /// `F.batch_norm(input, running_mean, running_var, weight, bias, training, momentum, eps)`
    /// without autograd (`ferrite_autograd::Var::batch_norm` records it).
    ///
    /// `y = (x - mean) / sqrt(var + eps) · weight + bias`, per channel, where:
    /// - in training mode, `mean` and `var` are the batch's mean and biased variance over
    ///   `N` and every dim after `C`, and the running statistics (when given) come back
    ///   updated as `running = (1 - momentum) · running + momentum · batch`, with the
    ///   *unbiased* variance (`· n / (n - 1)`, `n` values per channel) for `running_var`,
    ///   as PyTorch does;
    /// - in evaluation mode, `mean` and `var` are the running statistics.
    ///
    /// # Shapes
    /// - `self`: `[N, C, *]`
    /// - running_mean, running_var, weight, bias: `[C]`
    /// - output: `self`'s shape
    ///
    /// # Errors
    /// When the options fail [`BatchNormOptions::check`], the input has fewer than 2 dims,
    /// a per-channel tensor is not `[C]`, only one of the running statistics is given,
    /// evaluation mode has no running statistics, or training mode has a single value per
    /// channel (as PyTorch refuses; an empty input gives an empty output).
    ///
    /// ```
    /// use ferrite_tensor::{BatchNormOptions, Tensor};
    /// let x = Tensor::<f64>::from_vec(vec![1.0, 3.0, 10.0, 30.0], &[2, 2])?;
    /// let (mean, var) = (Tensor::zeros(&[2]), Tensor::ones(&[2]));
    /// let opts = BatchNormOptions::default().with_training(true).with_eps(0.0);
    /// let bn = x.batch_norm(Some(&mean), Some(&var), None, None, &opts)?;
    /// // Channel 0 holds 1 and 10: mean 5.5, biased variance 20.25.
    /// let y = bn.output.to_vec(); // [-1, -1, 1, 1] to the last bit or so (x·a + b per channel)
    /// assert!(y.iter().zip([-1.0, -1.0, 1.0, 1.0]).all(|(y, e)| (y - e).abs() < 1e-15));
    /// assert_eq!(bn.running_mean.unwrap().to_vec()[0], 0.55); // 0.9 · 0 + 0.1 · 5.5
    /// let running_var = bn.running_var.unwrap().to_vec()[0];
    /// assert!((running_var - (0.9 + 0.1 * 40.5)).abs() < 1e-12); // unbiased: 40.5
    ///
    /// let err = x.batch_norm(None, None, None, None, &opts.with_training(false)).unwrap_err();
    /// assert_eq!(err.to_string(), "batch_norm: evaluation mode needs running_mean and running_var");
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn batch_norm(
        &self,
        running_mean: Option<&Tensor<T>>,
        running_var: Option<&Tensor<T>>,
        weight: Option<&Tensor<T>>,
        bias: Option<&Tensor<T>>,
        options: &BatchNormOptions,
    ) -> Result<BatchNormOutput<T>> {
        options.check(OP)?;
        let shape = self.shape();
        let layout = ChannelLayout::of(shape)?;
        let c = layout.channels;
        let weight = per_channel("weight", weight, c, shape)?;
        let bias = per_channel("bias", bias, c, shape)?;
        let mean = per_channel("running_mean", running_mean, c, shape)?;
        let var = per_channel("running_var", running_var, c, shape)?;
        let running = match (mean, var) {
            (Some(mean), Some(var)) => Some(RunningStats { mean, var }),
            (None, None) => None,
            _ => {
                return Err(TensorError::invalid(
                    OP,
                    "running_mean and running_var must be given together (or both left out)",
                ));
            }
        };
        let affine = Affine { weight, bias };
        if options.training {
            return normalize_with_batch_stats(self, layout, running, affine, options);
        }
        let Some(running) = running else {
            return Err(TensorError::invalid(
                OP,
                "evaluation mode needs running_mean and running_var",
            ));
        };
        normalize_with_running_stats(self, layout, &running, affine, options.eps)
    }
}

/// The running statistics, per channel.
struct RunningStats {
    mean: Vec<f64>,
    var: Vec<f64>,
}

/// The optional per-channel `weight` and `bias`.
struct Affine {
    weight: Option<Vec<f64>>,
    bias: Option<Vec<f64>>,
}

/// Evaluation mode: `y = x · scale + shift` per channel, as PyTorch's CPU kernel computes it.
fn normalize_with_running_stats<T: Float>(
    x: &Tensor<T>,
    layout: ChannelLayout,
    running: &RunningStats,
    affine: Affine,
    eps: f64,
) -> Result<BatchNormOutput<T>> {
    let c = layout.channels;
    let (rmean, rvar) = (&running.mean, &running.var);
    let invstd: Vec<f64> = rvar.iter().map(|v| 1.0 / (v + eps).sqrt()).collect();
    let scale: Vec<f64> = (0..c)
        .map(|ch| invstd[ch] * affine.weight.as_ref().map_or(1.0, |w| w[ch]))
        .collect();
    let shift: Vec<f64> = (0..c)
        .map(|ch| affine.bias.as_ref().map_or(0.0, |b| b[ch]) - rmean[ch] * scale[ch])
        .collect();
    let xs = x.row_major();
    let zeros = vec![0.0; c];
    let out = layout.affine(&xs, &xs, [&zeros, &scale, &shift]);
    Ok(BatchNormOutput {
        output: Tensor::from_vec(out, x.shape())?,
        running_mean: None,
        running_var: None,
        saved: BatchNormSaved {
            shape: x.shape().to_vec(),
            layout,
            mode: Saved::RunningStats {
                input: x.clone(),
                mean: rmean.clone(),
                invstd,
                scale,
            },
        },
    })
}

/// Training mode: normalises with the batch's statistics and computes the running
/// statistics after this batch.
fn normalize_with_batch_stats<T: Float>(
    x: &Tensor<T>,
    layout: ChannelLayout,
    running: Option<RunningStats>,
    affine: Affine,
    options: &BatchNormOptions,
) -> Result<BatchNormOutput<T>> {
    let (c, m) = (layout.channels, layout.count);
    // As PyTorch: exactly one value per channel is refused; none (an empty input) gives an
    // empty output and leaves the running statistics alone.
    if m == 1 {
        return Err(TensorError::invalid(
            OP,
            format!(
                "expected more than 1 value per channel when training, found input {:?}",
                x.shape()
            ),
        ));
    }
    let xs = x.row_major();
    let (mean, var) = channel_stats(&xs, layout);
    let invstd: Vec<f64> = var.iter().map(|v| 1.0 / (v + options.eps).sqrt()).collect();
    let weight = affine.weight.unwrap_or_else(|| vec![1.0; c]);
    let bias = affine.bias.unwrap_or_else(|| vec![0.0; c]);
    // `(x - mean) · invstd · weight + bias` as `x · alpha + beta`, as PyTorch's CPU kernel.
    let alpha: Vec<f64> = invstd.iter().zip(&weight).map(|(k, w)| k * w).collect();
    let beta: Vec<f64> = (0..c).map(|ch| bias[ch] - mean[ch] * alpha[ch]).collect();
    let out = layout.affine(&xs, &xs, [&vec![0.0; c], &alpha, &beta]);
    let (running_mean, running_var) = match running {
        Some(r) if m > 0 => {
            let (new_mean, new_var) = update_running_stats(&r, &mean, &var, m, options.momentum);
            (Some(to_tensor(&new_mean)?), Some(to_tensor(&new_var)?))
        }
        _ => (None, None),
    };
    Ok(BatchNormOutput {
        output: Tensor::from_vec(out, x.shape())?,
        running_mean,
        running_var,
        saved: BatchNormSaved {
            shape: x.shape().to_vec(),
            layout,
            mode: Saved::BatchStats {
                input: x.clone(),
                mean,
                invstd,
                weight,
            },
        },
    })
}

/// Per-channel mean and biased variance, in two passes (mean, then squared deviations) for
/// accuracy.
fn channel_stats<T: Float>(xs: &[T], layout: ChannelLayout) -> (Vec<f64>, Vec<f64>) {
    let m = layout.count as f64;
    let mean: Vec<f64> = layout.channel_totals(xs).iter().map(|s| s / m).collect();
    let squares = layout.channel_sums((xs, xs), [&mean, &mean], |_, x, mu, _| (x - mu) * (x - mu));
    (mean, squares.iter().map(|s| s / m).collect())
}

/// `running = (1 - momentum) · running + momentum · batch`, with the batch's variance made
/// unbiased (`· m / (m - 1)`, `m > 1` values per channel) as PyTorch does. Any `momentum`
/// works here; `1 / batches seen` gives the cumulative average of `momentum=None`.
fn update_running_stats(
    running: &RunningStats,
    mean: &[f64],
    var: &[f64],
    m: usize,
    momentum: f64,
) -> (Vec<f64>, Vec<f64>) {
    let mo = momentum;
    let unbias = m as f64 / (m - 1) as f64;
    let new_mean = (0..mean.len())
        .map(|ch| (1.0 - mo) * running.mean[ch] + mo * mean[ch])
        .collect();
    let new_var = (0..var.len())
        .map(|ch| (1.0 - mo) * running.var[ch] + mo * var[ch] * unbias)
        .collect();
    (new_mean, new_var)
}

/// The gradients of [`Tensor::batch_norm`] with respect to its input, weight and bias,
/// computing only those whose `needs` entry (input, weight, bias) is true. Like PyTorch's
/// `native_batch_norm_backward`. The running statistics get none.
///
/// In training mode the input's is the closed form
/// `dx = weight / sqrt(var + eps) · (g - mean(g) - x̂ · mean(g · x̂))` (means per channel),
/// `dweight = Σ g · x̂` and `dbias = Σ g`. In evaluation mode the statistics are constants:
/// `dx = g · weight / sqrt(running_var + eps)`.
///
/// # Shapes
/// - `grad_output`: the input's shape
/// - gradients: the input's shape; `[C]` for weight and bias
///
/// # Errors
/// When `grad_output` does not have the input's shape.
///
/// ```
/// use ferrite_tensor::{batch_norm_backward, BatchNormOptions, Tensor};
/// let x = Tensor::<f64>::from_vec(vec![1.0, 2.0, 4.0, 8.0], &[2, 2, 1])?;
/// let (mean, var) = (Tensor::zeros(&[2]), Tensor::full(&[2], 4.0));
/// let bn = x.batch_norm(Some(&mean), Some(&var), None, None, &BatchNormOptions::new().with_eps(0.0))?;
/// let grads = batch_norm_backward(&Tensor::ones(&[2, 2, 1]), &bn.saved, [true, true, true])?;
/// assert_eq!(grads.input.unwrap().to_vec(), vec![0.5; 4]); // 1 / sqrt(4)
/// assert_eq!(grads.weight.unwrap().to_vec(), vec![2.5, 5.0]); // Σ x / 2
/// assert_eq!(grads.bias.unwrap().to_vec(), vec![2.0, 2.0]);
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
pub fn batch_norm_backward<T: Float>(
    grad_output: &Tensor<T>,
    saved: &BatchNormSaved<T>,
    needs: [bool; 3],
) -> Result<BatchNormGrads<T>> {
    if grad_output.shape() != saved.shape {
        return Err(TensorError::shape(
            OP,
            format!(
                "grad_output has shape {:?} but the input had shape {:?}",
                grad_output.shape(),
                saved.shape
            ),
        ));
    }
    let gs = grad_output.row_major();
    match &saved.mode {
        Saved::BatchStats {
            input,
            mean,
            invstd,
            weight,
        } => batch_stats_backward(&gs, saved, input, mean, invstd, weight, needs),
        Saved::RunningStats {
            input,
            mean,
            invstd,
            scale,
        } => running_stats_backward(&gs, saved, input, mean, invstd, scale, needs),
    }
}

/// Training mode's backward: per channel `Σ g` and `Σ g · x̂` (x̂ recomputed from the
/// input), which give d(bias), d(weight) and, with a second pass, d(input).
fn batch_stats_backward<T: Float>(
    gs: &[T],
    saved: &BatchNormSaved<T>,
    input: &Tensor<T>,
    mean: &[f64],
    invstd: &[f64],
    weight: &[f64],
    needs: [bool; 3],
) -> Result<BatchNormGrads<T>> {
    let layout = saved.layout;
    let xs = input.row_major();
    let sum_g = layout.channel_totals(gs);
    let sum_gx = layout.channel_sums((gs, &xs), [mean, invstd], |g, x, mu, k| g * ((x - mu) * k));
    let input = if needs[0] {
        let mf = layout.count as f64;
        let scale: Vec<f64> = weight.iter().zip(invstd).map(|(w, k)| w * k).collect();
        let mean_g: Vec<f64> = sum_g.iter().map(|s| s / mf).collect();
        let mean_gx: Vec<f64> = sum_gx.iter().map(|s| s / mf).collect();
        // `scale · (g - mean_g - x̂ · mean_gx)` with `x̂ = (x - mean) · invstd`, expanded
        // to `g · a + x · b + c`.
        let b: Vec<f64> = (0..scale.len())
            .map(|ch| -scale[ch] * invstd[ch] * mean_gx[ch])
            .collect();
        let c: Vec<f64> = (0..scale.len())
            .map(|ch| scale[ch] * (invstd[ch] * mean_gx[ch] * mean[ch] - mean_g[ch]))
            .collect();
        let dx = layout.affine(gs, &xs, [&scale, &b, &c]);
        Some(Tensor::from_vec(dx, &saved.shape)?)
    } else {
        None
    };
    Ok(BatchNormGrads {
        input,
        weight: needs[1].then(|| to_tensor(&sum_gx)).transpose()?,
        bias: needs[2].then(|| to_tensor(&sum_g)).transpose()?,
    })
}

/// Evaluation mode's backward: the statistics are constants, so `dx = g · scale`.
fn running_stats_backward<T: Float>(
    gs: &[T],
    saved: &BatchNormSaved<T>,
    input: &Tensor<T>,
    mean: &[f64],
    invstd: &[f64],
    scale: &[f64],
    needs: [bool; 3],
) -> Result<BatchNormGrads<T>> {
    let layout = saved.layout;
    let dx = if needs[0] {
        let zeros = vec![0.0; scale.len()];
        let dx = layout.affine(gs, gs, [scale, &zeros, &zeros]);
        Some(Tensor::from_vec(dx, &saved.shape)?)
    } else {
        None
    };
    let dw = if needs[1] {
        let xs = input.row_major();
        let dw = layout.channel_sums((gs, &xs), [mean, invstd], |g, x, mu, k| g * (x - mu) * k);
        Some(to_tensor(&dw)?)
    } else {
        None
    };
    let db = if needs[2] {
        Some(to_tensor(&layout.channel_totals(gs))?)
    } else {
        None
    };
    Ok(BatchNormGrads {
        input: dx,
        weight: dw,
        bias: db,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seeded_rng;

    fn randn(shape: &[usize], seed: u64) -> Tensor<f64> {
        Tensor::randn(shape, &mut seeded_rng(seed))
    }

    /// The values of each channel of an `[N, C, *]` tensor, gathered by index arithmetic
    /// written out independently of the kernel's.
    fn channel_values(x: &Tensor<f64>) -> Vec<Vec<f64>> {
        let s = x.shape();
        let (n, c) = (s[0], s[1]);
        let inner: usize = s[2..].iter().product();
        let data = x.to_vec();
        (0..c)
            .map(|ch| {
                (0..n)
                    .flat_map(|i| data[(i * c + ch) * inner..(i * c + ch + 1) * inner].to_vec())
                    .collect()
            })
            .collect()
    }

    fn mean_and_var(v: &[f64]) -> (f64, f64) {
        let m = v.iter().sum::<f64>() / v.len() as f64;
        (
            m,
            v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / v.len() as f64,
        )
    }

    #[test]
    fn training_matches_a_naive_reference_for_every_rank() {
        // The last two are large enough to be split over threads.
        let shapes = [&[6, 3][..], &[4, 3, 5], &[2, 3, 2, 3], &[2, 3, 2, 1, 2]];
        for shape in shapes
            .into_iter()
            .chain([&[4, 3, 63, 47][..], &[12_000, 3]])
        {
            let x = randn(shape, 1);
            let (w, b) = (randn(&[3], 2), randn(&[3], 3));
            let (rm, rv) = (randn(&[3], 4), randn(&[3], 5).abs());
            let opts = BatchNormOptions::new()
                .with_training(true)
                .with_momentum(0.3);
            let bn = x
                .batch_norm(Some(&rm), Some(&rv), Some(&w), Some(&b), &opts)
                .unwrap();
            let y = channel_values(&bn.output);
            let (new_m, new_v) = (bn.running_mean.unwrap(), bn.running_var.unwrap());
            for (ch, vals) in channel_values(&x).iter().enumerate() {
                let (m, v) = mean_and_var(vals);
                let (wc, bc) = (w.to_vec()[ch], b.to_vec()[ch]);
                for (xv, yv) in vals.iter().zip(&y[ch]) {
                    let want = (xv - m) / (v + 1e-5).sqrt() * wc + bc;
                    assert!((yv - want).abs() < 1e-12, "{shape:?}: {yv} vs {want}");
                }
                let n = vals.len() as f64;
                let want_m = 0.7 * rm.to_vec()[ch] + 0.3 * m;
                let want_v = 0.7 * rv.to_vec()[ch] + 0.3 * v * n / (n - 1.0);
                assert!((new_m.to_vec()[ch] - want_m).abs() < 1e-12);
                assert!((new_v.to_vec()[ch] - want_v).abs() < 1e-12);
            }
        }
    }

    #[test]
    fn an_empty_batch_is_normalised_to_nothing_and_changes_no_statistic() {
        let x = Tensor::<f64>::zeros(&[0, 2, 3]);
        let (rm, rv) = (Tensor::zeros(&[2]), Tensor::ones(&[2]));
        let opts = BatchNormOptions::new().with_training(true);
        let bn = x
            .batch_norm(Some(&rm), Some(&rv), None, None, &opts)
            .unwrap();
        assert_eq!(bn.output.shape(), &[0, 2, 3]);
        assert!(bn.running_mean.is_none() && bn.running_var.is_none());
        let g = batch_norm_backward(&x, &bn.saved, [true; 3]).unwrap();
        assert_eq!(g.input.unwrap().shape(), &[0, 2, 3]);
        assert_eq!(g.weight.unwrap().to_vec(), vec![0.0, 0.0]);
    }

    #[test]
    fn any_momentum_extrapolates_like_pytorch() {
        let x = Tensor::<f64>::from_vec(vec![1.0, 3.0], &[2, 1]).unwrap();
        let (rm, rv) = (Tensor::full(&[1], 10.0), Tensor::full(&[1], 4.0));
        for m in [1.5, -0.5, 0.0, 1.0, 7.0] {
            let opts = BatchNormOptions::new().with_training(true).with_momentum(m);
            let bn = x
                .batch_norm(Some(&rm), Some(&rv), None, None, &opts)
                .unwrap();
            // Batch mean 2, unbiased variance 2.
            assert_eq!(
                bn.running_mean.unwrap().to_vec(),
                vec![(1.0 - m) * 10.0 + m * 2.0]
            );
            assert_eq!(
                bn.running_var.unwrap().to_vec(),
                vec![(1.0 - m) * 4.0 + m * 2.0]
            );
        }
    }

    #[test]
    fn evaluation_uses_the_running_stats() {
        let x = randn(&[2, 3, 4], 6);
        let (rm, rv) = (randn(&[3], 7), randn(&[3], 8).abs());
        let bn = x
            .batch_norm(Some(&rm), Some(&rv), None, None, &BatchNormOptions::new())
            .unwrap();
        assert!(bn.running_mean.is_none() && bn.running_var.is_none());
        for (ch, (xs, ys)) in channel_values(&x)
            .iter()
            .zip(channel_values(&bn.output))
            .enumerate()
        {
            for (xv, yv) in xs.iter().zip(ys) {
                let want = (xv - rm.to_vec()[ch]) / (rv.to_vec()[ch] + 1e-5).sqrt();
                assert!((yv - want).abs() < 1e-12);
            }
        }
    }

    /// Σ g · y as a function of the input, differentiated by central differences.
    fn numeric_input_grad(
        x: &Tensor<f64>,
        g: &Tensor<f64>,
        f: impl Fn(&Tensor<f64>) -> Tensor<f64>,
    ) -> Vec<f64> {
        let dot = |t: &Tensor<f64>| {
            f(t).mul(g)
                .unwrap()
                .sum(&[], false)
                .unwrap()
                .item()
                .unwrap()
        };
        let h = 1e-6;
        (0..x.numel())
            .map(|i| {
                let mut plus = x.clone();
                plus.as_mut_slice()[i] += h;
                let mut minus = x.clone();
                minus.as_mut_slice()[i] -= h;
                (dot(&plus) - dot(&minus)) / (2.0 * h)
            })
            .collect()
    }

    #[test]
    fn backward_matches_finite_differences_in_both_modes() {
        let (x, g, w, b) = (
            randn(&[3, 2, 4], 9),
            randn(&[3, 2, 4], 10),
            randn(&[2], 11),
            randn(&[2], 12),
        );
        let (rm, rv) = (randn(&[2], 13), randn(&[2], 14).abs().add_scalar(0.5));
        for training in [true, false] {
            let opts = BatchNormOptions::new().with_training(training);
            let run = |x: &Tensor<f64>| {
                x.batch_norm(Some(&rm), Some(&rv), Some(&w), Some(&b), &opts)
                    .unwrap()
            };
            let grads = batch_norm_backward(&g, &run(&x).saved, [true, true, true]).unwrap();
            let want = numeric_input_grad(&x, &g, |t| run(t).output);
            for (got, want) in grads.input.unwrap().to_vec().iter().zip(want) {
                assert!(
                    (got - want).abs() < 1e-6,
                    "training {training}: {got} vs {want}"
                );
            }
            // y = x̂ · w + b: dw = Σ g · x̂ and db = Σ g, x̂ being y with w = 1, b = 0.
            let xhat = x
                .batch_norm(Some(&rm), Some(&rv), None, None, &opts)
                .unwrap()
                .output;
            let (gs, xh) = (channel_values(&g), channel_values(&xhat));
            let dw = grads.weight.unwrap().to_vec();
            let db = grads.bias.unwrap().to_vec();
            for ch in 0..2 {
                let want_w: f64 = gs[ch].iter().zip(&xh[ch]).map(|(a, b)| a * b).sum();
                assert!((dw[ch] - want_w).abs() < 1e-12);
                assert!((db[ch] - gs[ch].iter().sum::<f64>()).abs() < 1e-12);
            }
        }
    }

    #[test]
    fn one_and_two_threads_give_the_same_bits() {
        let x = randn(&[5, 4, 61, 37], 7);
        let (w, b, g) = (randn(&[4], 8), randn(&[4], 9), randn(x.shape(), 10));
        let (rm, rv) = (randn(&[4], 11), randn(&[4], 12).abs());
        let run = |threads: usize| {
            crate::parallel::with_threads(threads, || {
                let mut bits = Vec::new();
                for training in [true, false] {
                    let opts = BatchNormOptions::new().with_training(training);
                    let bn = x
                        .batch_norm(Some(&rm), Some(&rv), Some(&w), Some(&b), &opts)
                        .unwrap();
                    let grads = batch_norm_backward(&g, &bn.saved, [true; 3]).unwrap();
                    for t in [bn.output, grads.input.unwrap(), grads.weight.unwrap()] {
                        bits.extend(t.to_vec().iter().map(|v| v.to_bits()));
                    }
                }
                bits
            })
        };
        assert_eq!(run(1), run(2));
    }

    #[test]
    fn computes_only_the_requested_gradients() {
        let x = randn(&[4, 2], 15);
        let bn = x
            .batch_norm(
                None,
                None,
                None,
                None,
                &BatchNormOptions::new().with_training(true),
            )
            .unwrap();
        let grads =
            batch_norm_backward(&Tensor::ones(&[4, 2]), &bn.saved, [false, true, false]).unwrap();
        assert!(grads.input.is_none() && grads.bias.is_none());
        assert_eq!(grads.weight.unwrap().shape(), &[2]);
        let err = batch_norm_backward(&Tensor::ones(&[2, 4]), &bn.saved, [true; 3]).unwrap_err();
        assert!(
            err.to_string().contains("grad_output has shape [2, 4]"),
            "{err}"
        );
    }

    #[test]
    fn refuses_bad_inputs() {
        let train = BatchNormOptions::new().with_training(true);
        let msg = |r: Result<BatchNormOutput<f64>>| r.unwrap_err().to_string();
        let x = Tensor::<f64>::zeros(&[3]);
        assert!(msg(x.batch_norm(None, None, None, None, &train)).contains("at least 2 dims"));
        let x = Tensor::<f64>::zeros(&[1, 2, 1]);
        assert!(msg(x.batch_norm(None, None, None, None, &train)).contains("more than 1 value"));
        let x = Tensor::<f64>::zeros(&[2, 2]);
        let w3 = Tensor::ones(&[3]);
        assert_eq!(
            msg(x.batch_norm(None, None, Some(&w3), None, &train)),
            "batch_norm: weight has shape [3] but the input has 2 channels (input [2, 2])"
        );
        let rm = Tensor::zeros(&[2]);
        assert!(msg(x.batch_norm(Some(&rm), None, None, None, &train)).contains("together"));
        assert!(
            msg(x.batch_norm(None, None, None, None, &train.with_eps(f64::NAN))).contains("eps")
        );
    }
}
