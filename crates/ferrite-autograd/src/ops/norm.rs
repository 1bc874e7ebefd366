//! `batch_norm`: forward by the `ferrite-tensor` kernel, which also returns the updated
//! running statistics (stored here, in place, into their `Var`s), backward by its closed-form
//! backward kernel.

use ferrite_tensor::{BatchNormOptions, Float, Result, batch_norm_backward};

use crate::Var;

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
    /// assert_eq!(y.value().to_vec(), vec![-1.0, -1.0, 1.0, 1.0]);
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
    }
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
}
