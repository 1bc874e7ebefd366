//! `batch_norm`, `layer_norm` and `group_norm`: forward by the `ferrite-tensor` kernels
//! (batch norm's also returns the updated running statistics, stored here, in place, into
//! their `Var`s), backward by their closed-form backward kernels.

use ferrite_tensor::{
    BatchNormOptions, Float, NormGrads, NormOutput, Result, Tensor, batch_norm_backward,
    group_norm_backward, layer_norm_backward,
};

use crate::Var;
use crate::ops::double::recomputed;

impl<T: Float> Var<T> {
    /// Batch normalisation of each channel of an `[N, C, *]` input, like
    /// `F.batch_norm(input, running_mean, running_var, weight, bias, training, momentum, eps)`:
    /// `y = (x - mean) / sqrt(var + eps) · weight + bias` per channel, with the batch's
    /// statistics in training mode (and the running ones updated in place) and the running
    /// statistics in evaluation mode. See [`Tensor::batch_norm`](ferrite_tensor::Tensor::batch_norm)
    /// for the formulas.
    ///
    /// Gradients flow to `self`, `weight` and `bias`, never to the running statistics; the
    /// backward is [`batch_norm_backward`]'s closed form.
    ///
    /// # Shapes
    /// - `self`: `[N, C, *]`
    /// - running_mean, running_var, weight, bias: `[C]`
    /// - result: `self`'s shape
    ///
    /// # Errors
    /// Everything [`Tensor::batch_norm`](ferrite_tensor::Tensor::batch_norm) refuses, and a
    /// running statistic that is not a leaf (it cannot be updated).
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_tensor::{BatchNormOptions, Tensor};
    /// let x = Var::parameter(Tensor::<f64>::from_vec(vec![1.0, 3.0, 10.0, 30.0], &[2, 2])?);
    /// let (mean, var) = (Var::new(Tensor::zeros(&[2])), Var::new(Tensor::ones(&[2])));
    /// let opts = BatchNormOptions::default().with_training(true).with_eps(0.0);
    /// let y = x.batch_norm(Some(&mean), Some(&var), None, None, &opts)?;
    /// // Channel 0 holds 1 and 10: mean 5.5, biased variance 20.25.
    /// let expected = [-1.0, -1.0, 1.0, 1.0]; // to an ulp (x·a + b per channel, as PyTorch)
    /// assert!(y.value().to_vec().iter().zip(expected).all(|(y, e)| (y - e).abs() < 1e-15));
    /// assert_eq!(mean.value().to_vec()[0], 0.55); // 0.9 · 0 + 0.1 · 5.5
    /// assert!((var.value().to_vec()[0] - (0.9 + 0.1 * 40.5)).abs() < 1e-12); // unbiased: 40.5
    ///
    /// // Any momentum, as in PyTorch: 1.5 extrapolates past the batch mean 5.5.
    /// let (mean, var) = (Var::new(Tensor::zeros(&[2])), Var::new(Tensor::ones(&[2])));
    /// x.batch_norm(Some(&mean), Some(&var), None, None, &opts.with_momentum(1.5))?;
    /// assert_eq!(mean.value().to_vec()[0], 8.25); // -0.5 · 0 + 1.5 · 5.5
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn batch_norm(
        &self,
        running_mean: Option<&Var<T>>,
        running_var: Option<&Var<T>>,
        weight: Option<&Var<T>>,
        bias: Option<&Var<T>>,
        options: &BatchNormOptions,
    ) -> Result<Var<T>> {
        let value = |v: Option<&Var<T>>| v.map(Var::value);
        let (mean, var) = (value(running_mean), value(running_var));
        // The statistics the forward normalizes with, for the double backward.
        let stats = (!options.training).then(|| (mean.clone(), var.clone()));
        let eps = options.eps;
        let (w, b) = (value(weight), value(bias));
        let out = self.value().batch_norm(
            mean.as_ref(),
            var.as_ref(),
            w.as_ref(),
            b.as_ref(),
            options,
        )?;
        if let (Some(mean), Some(var), Some(new_mean), Some(new_var)) =
            (running_mean, running_var, out.running_mean, out.running_var)
        {
            mean.set_value(new_mean)?;
            var.set_value(new_var)?;
        }

        let mut inputs = vec![self];
        inputs.extend(weight);
        inputs.extend(bias);
        let (has_weight, has_bias) = (weight.is_some(), bias.is_some());
        // Without a weight, the bias is input 1.
        let bias_slot = 1 + usize::from(has_weight);
        let saved = out.saved;
        let affine = (has_weight, has_bias);
        Var::from_op("batch_norm", out.output, &inputs, move |g, grads| {
            let needs = [
                grads.needs(0),
                has_weight && grads.needs(1),
                has_bias && grads.needs(bias_slot),
            ];
            let fused = batch_norm_backward(g, &saved, needs)?;
            grads.put(0, fused.input);
            if has_weight {
                grads.put(1, fused.weight);
            }
            if has_bias {
                grads.put(bias_slot, fused.bias);
            }
            Ok(())
        })
        .map(|y| {
            y.with_double_backward(recomputed(move |v| {
                let dims: Vec<isize> = (0..v[0].shape().len() as isize)
                    .filter(|&d| d != 1)
                    .collect();
                let normalized = match &stats {
                    Some((Some(mean), Some(var))) => {
                        let per_channel =
                            |t: &Tensor<T>| channel_column(&Var::new(t.clone()), &v[0]);
                        let (mean, var) = (per_channel(mean)?, per_channel(var)?);
                        v[0].sub(&mean)?.div(&var.add_scalar(T::of(eps))?.sqrt()?)?
                    }
                    _ => standardize(&v[0], &dims, eps)?,
                };
                scale_shift(normalized, v, affine, |p| channel_column(p, &v[0]))
            }))
        })
    }
}

/// `(x − mean) / √(var + eps)` over `dims` with the biased variance, in differentiable ops
/// (the recomputation the norms' double backwards differentiate).
fn standardize<T: Float>(x: &Var<T>, dims: &[isize], eps: f64) -> Result<Var<T>> {
    let d = x.sub(&x.mean(dims, true)?)?;
    let var = d.mul(&d)?.mean(dims, true)?;
    d.div(&var.add_scalar(T::of(eps))?.sqrt()?)
}

/// `y · weight + bias` for the optional affine parameters in `v[1..]`, each laid out by
/// `layout` to broadcast against `y`.
fn scale_shift<T: Float>(
    mut y: Var<T>,
    v: &[Var<T>],
    (has_weight, has_bias): (bool, bool),
    layout: impl Fn(&Var<T>) -> Result<Var<T>>,
) -> Result<Var<T>> {
    if has_weight {
        y = y.mul(&layout(&v[1])?)?;
    }
    if has_bias {
        y = y.add(&layout(&v[1 + usize::from(has_weight)])?)?;
    }
    Ok(y)
}

/// A per-channel `[C]` vector shaped `[C, 1, ...]` to broadcast against `x` `[N, C, ...]`.
fn channel_column<T: Float>(p: &Var<T>, x: &Var<T>) -> Result<Var<T>> {
    let mut shape = vec![-1isize];
    shape.resize(x.shape().len().saturating_sub(1), 1);
    p.reshape(&shape)
}

impl<T: Float> Var<T> {
    /// Layer normalisation over the trailing `normalized_shape` dims, like
    /// `F.layer_norm(input, normalized_shape, weight, bias, eps)`:
    /// `y = (x − mean) / sqrt(var + eps) · weight + bias`, mean and biased variance over each
    /// slice of the last dims. See [`Tensor::layer_norm`](ferrite_tensor::Tensor::layer_norm).
    ///
    /// Gradients flow to `self`, `weight` and `bias` (the fused closed form of
    /// [`layer_norm_backward`]).
    ///
    /// # Shapes
    /// - `self`: `[*, normalized_shape...]`
    /// - weight, bias: `normalized_shape`
    /// - result: `self`'s shape
    ///
    /// # Errors
    /// Everything [`Tensor::layer_norm`](ferrite_tensor::Tensor::layer_norm) refuses.
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_tensor::Tensor;
    /// let x = Var::parameter(Tensor::<f64>::from_vec(vec![1.0, 3.0, 10.0, 30.0], &[2, 2])?);
    /// let w = Var::parameter(Tensor::from_vec(vec![1.0, 2.0], &[2])?);
    /// let y = x.layer_norm(&[2], Some(&w), None, 0.0)?;
    /// assert_eq!(y.value().to_vec(), vec![-1.0, 2.0, -1.0, 2.0]);
    /// y.sum_all()?.backward()?;
    /// assert_eq!(w.grad().unwrap().to_vec(), vec![-2.0, 2.0]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn layer_norm(
        &self,
        normalized_shape: &[usize],
        weight: Option<&Var<T>>,
        bias: Option<&Var<T>>,
        eps: f64,
    ) -> Result<Var<T>> {
        let (w, b) = (weight.map(Var::value), bias.map(Var::value));
        let out = self
            .value()
            .layer_norm(normalized_shape, w.as_ref(), b.as_ref(), eps)?;
        let affine = (weight.is_some(), bias.is_some());
        let k = normalized_shape.len() as isize;
        let y = record_affine_norm("layer_norm", self, weight, bias, out, layer_norm_backward)?;
        Ok(y.with_double_backward(recomputed(move |v| {
            let n = v[0].shape().len() as isize;
            let dims: Vec<isize> = (n - k..n).collect();
            scale_shift(
                standardize(&v[0], &dims, eps)?,
                v,
                affine,
                |p| Ok(p.clone()),
            )
        })))
    }

    /// Group normalisation, like `F.group_norm(input, num_groups, weight, bias, eps)`: the
    /// channels split into `num_groups` groups, each `(n, group)` normalised with its mean and
    /// biased variance, then `· weight[c] + bias[c]`. See
    /// [`Tensor::group_norm`](ferrite_tensor::Tensor::group_norm).
    ///
    /// Gradients flow to `self`, `weight` and `bias` ([`group_norm_backward`]).
    ///
    /// # Shapes
    /// - `self`: `[N, C, *]`
    /// - weight, bias: `[C]`
    /// - result: `self`'s shape
    ///
    /// # Errors
    /// Everything [`Tensor::group_norm`](ferrite_tensor::Tensor::group_norm) refuses (fewer
    /// than 2 dims, `num_groups` not dividing `C`, a weight or bias that is not `[C]`).
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_tensor::Tensor;
    /// let x = Var::parameter(Tensor::<f64>::from_vec(vec![1.0, 3.0, 10.0, 30.0], &[1, 2, 2])?);
    /// let y = x.group_norm(2, None, None, 0.0)?; // each channel alone
    /// assert_eq!(y.value().to_vec(), vec![-1.0, 1.0, -1.0, 1.0]);
    /// assert!(x.group_norm(3, None, None, 1e-5).is_err());
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn group_norm(
        &self,
        num_groups: usize,
        weight: Option<&Var<T>>,
        bias: Option<&Var<T>>,
        eps: f64,
    ) -> Result<Var<T>> {
        let (w, b) = (weight.map(Var::value), bias.map(Var::value));
        let out = self
            .value()
            .group_norm(num_groups, w.as_ref(), b.as_ref(), eps)?;
        let affine = (weight.is_some(), bias.is_some());
        let y = record_affine_norm("group_norm", self, weight, bias, out, group_norm_backward)?;
        Ok(y.with_double_backward(recomputed(move |v| {
            let shape: Vec<isize> = v[0].shape().iter().map(|&d| d as isize).collect();
            let grouped = v[0].reshape(&[shape[0], num_groups as isize, -1])?;
            let y = standardize(&grouped, &[2], eps)?.reshape(&shape)?;
            scale_shift(y, v, affine, |p| channel_column(p, &v[0]))
        })))
    }
}

/// The backward kernel of layer or group norm.
type NormBackward<T> = fn(
    &ferrite_tensor::Tensor<T>,
    &ferrite_tensor::NormSaved<T>,
    [bool; 3],
) -> Result<NormGrads<T>>;

/// Records a layer or group norm whose inputs are `x` and the optional `weight` and `bias`
/// (a bias without a weight is input 1).
fn record_affine_norm<T: Float>(
    name: &'static str,
    x: &Var<T>,
    weight: Option<&Var<T>>,
    bias: Option<&Var<T>>,
    out: NormOutput<T>,
    backward: NormBackward<T>,
) -> Result<Var<T>> {
    let mut inputs = vec![x];
    inputs.extend(weight);
    inputs.extend(bias);
    let (has_weight, has_bias) = (weight.is_some(), bias.is_some());
    let bias_slot = 1 + usize::from(has_weight);
    let saved = out.saved;
    Var::from_op(name, out.output, &inputs, move |g, grads| {
        let needs = [
            grads.needs(0),
            has_weight && grads.needs(1),
            has_bias && grads.needs(bias_slot),
        ];
        let fused = backward(g, &saved, needs)?;
        grads.put(0, fused.input);
        if has_weight {
            grads.put(1, fused.weight);
        }
        if has_bias {
            grads.put(bias_slot, fused.bias);
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use ferrite_tensor::{Tensor, seeded_rng};

    use super::*;
    use crate::{GradcheckOptions, gradcheck};

    fn randn(shape: &[usize], seed: u64) -> Tensor<f64> {
        Tensor::randn(shape, &mut seeded_rng(seed))
    }

    #[test]
    fn training_mode_gradcheck_input_weight_bias() {
        let x = randn(&[3, 2, 2, 3], 1);
        let w = randn(&[2], 2);
        let b = randn(&[2], 3);
        let opts = BatchNormOptions::new().with_training(true);
        gradcheck(
            |v: &[Var<f64>]| v[0].batch_norm(None, None, Some(&v[1]), Some(&v[2]), &opts),
            &[x.clone(), w, b.clone()],
            &GradcheckOptions::default().with_input_names(&["input", "weight", "bias"]),
        )
        .unwrap();
        // Without affine parameters, and with running statistics to update.
        gradcheck(
            |v: &[Var<f64>]| {
                let rm = Var::new(Tensor::zeros(&[2]));
                let rv = Var::new(Tensor::ones(&[2]));
                v[0].batch_norm(Some(&rm), Some(&rv), None, None, &opts)
            },
            &[x],
            &GradcheckOptions::default(),
        )
        .unwrap();
        // A bias without a weight: the bias is the second input.
        gradcheck(
            |v: &[Var<f64>]| v[0].batch_norm(None, None, None, Some(&v[1]), &opts),
            &[randn(&[4, 2, 3], 4), b],
            &GradcheckOptions::default().with_input_names(&["input", "bias"]),
        )
        .unwrap();
    }

    #[test]
    fn eval_mode_gradcheck_input_weight_bias() {
        let rm = Var::new(randn(&[3], 4));
        let rv = Var::new(randn(&[3], 5).abs().add_scalar(0.5));
        let opts = BatchNormOptions::new();
        gradcheck(
            |v: &[Var<f64>]| v[0].batch_norm(Some(&rm), Some(&rv), Some(&v[1]), Some(&v[2]), &opts),
            &[randn(&[2, 3, 2, 2], 6), randn(&[3], 7), randn(&[3], 8)],
            &GradcheckOptions::default().with_input_names(&["input", "weight", "bias"]),
        )
        .unwrap();
    }

    #[test]
    fn layer_norm_and_group_norm_gradcheck_every_affine_combination() {
        let names = ["input", "weight", "bias"];
        for (w, b) in [(true, true), (true, false), (false, true), (false, false)] {
            let mut inputs = vec![randn(&[2, 3, 4], 20)];
            let mut used = vec![names[0]];
            if w {
                inputs.push(randn(&[3, 4], 21));
                used.push(names[1]);
            }
            if b {
                inputs.push(randn(&[3, 4], 22));
                used.push(names[2]);
            }
            let opts = GradcheckOptions::default().with_input_names(&used);
            gradcheck(
                |v: &[Var<f64>]| {
                    let (wv, bv) = (w.then(|| &v[1]), b.then(|| &v[1 + usize::from(w)]));
                    v[0].layer_norm(&[3, 4], wv, bv, 1e-5)
                },
                &inputs,
                &opts,
            )
            .unwrap();
            let mut inputs = vec![randn(&[2, 6, 3], 23)];
            if w {
                inputs.push(randn(&[6], 24));
            }
            if b {
                inputs.push(randn(&[6], 25));
            }
            gradcheck(
                |v: &[Var<f64>]| {
                    let (wv, bv) = (w.then(|| &v[1]), b.then(|| &v[1 + usize::from(w)]));
                    v[0].group_norm(3, wv, bv, 1e-5)
                },
                &inputs,
                &opts,
            )
            .unwrap();
        }
    }
}
