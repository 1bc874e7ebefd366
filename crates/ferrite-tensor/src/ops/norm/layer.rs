//! Layer and group normalisation, like PyTorch's `native_layer_norm` and `native_group_norm`
//! and their backward functions, on the shared row kernel of [`super::rows`].

use super::rows::{self, NormGrads, NormOutput, NormSaved, RowLayout};
use crate::{Float, Result, Tensor, TensorError};

impl<T: Float> Tensor<T> {
    /// Layer normalisation over the trailing `normalized_shape` dims, like
    /// `F.layer_norm(input, normalized_shape, weight, bias, eps)` without autograd
    /// (`ferrite_autograd::Var::layer_norm` records it).
    ///
    /// Each slice over the last `normalized_shape.len()` dims is normalised with its own mean
    /// and biased variance: `y = (x − mean) / sqrt(var + eps) · weight + bias`, `weight` and
    /// `bias` elementwise (shape `normalized_shape`, optional). Any `eps` is accepted, as in
    /// PyTorch.
    ///
    /// # Shapes
    /// - `self`: `[*, normalized_shape...]`
    /// - weight, bias: `normalized_shape`
    /// - output: `self`'s shape
    ///
    /// # Errors
    /// When `normalized_shape` is empty, the input's trailing dims are not `normalized_shape`,
    /// or a weight or bias does not have that shape.
    ///
    /// ```
    /// use ferrite_tensor::Tensor;
    /// let x = Tensor::<f64>::from_vec(vec![1.0, 3.0, 10.0, 30.0], &[2, 2])?;
    /// let ln = x.layer_norm(&[2], None, Some(&Tensor::full(&[2], 5.0)), 0.0)?;
    /// assert_eq!(ln.output.to_vec(), vec![4.0, 6.0, 4.0, 6.0]);
    /// let err = x.layer_norm(&[3], None, None, 1e-5).unwrap_err();
    /// assert_eq!(
    ///     err.to_string(),
    ///     "layer_norm: given normalized_shape [3], expected an input of shape [*, 3], found [2, 2]"
    /// );
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn layer_norm(
        &self,
        normalized_shape: &[usize],
        weight: Option<&Tensor<T>>,
        bias: Option<&Tensor<T>>,
        eps: f64,
    ) -> Result<NormOutput<T>> {
        const OP: &str = "layer_norm";
        let shape = self.shape();
        if normalized_shape.is_empty() {
            return Err(TensorError::invalid(
                OP,
                "expected normalized_shape to hold at least one dim, found []",
            ));
        }
        if !shape.ends_with(normalized_shape) {
            return Err(TensorError::shape(
                OP,
                format!(
                    "given normalized_shape {normalized_shape:?}, expected an input of shape \
                     [*, {}], found {shape:?}",
                    join(normalized_shape)
                ),
            ));
        }
        let w = rows::param(OP, "weight", weight, normalized_shape, shape)?;
        let b = rows::param(OP, "bias", bias, normalized_shape, shape)?;
        let lead = shape.len() - normalized_shape.len();
        let layout = RowLayout {
            rows: shape[..lead].iter().product(),
            segs: normalized_shape.iter().product(),
            inner: 1,
            period: 1,
        };
        rows::normalize(OP, self, layout, normalized_shape.to_vec(), (w, b), eps)
    }

    /// Group normalisation, like `F.group_norm(input, num_groups, weight, bias, eps)` without
    /// autograd (`ferrite_autograd::Var::group_norm` records it).
    ///
    /// The `C` channels (dim 1) are split into `num_groups` groups of `C / num_groups`
    /// consecutive channels; each `(n, group)` is normalised with the mean and biased
    /// variance over its channels and all positions after them, then each channel is scaled
    /// by `weight[c]` and shifted by `bias[c]` (both optional).
    ///
    /// # Shapes
    /// - `self`: `[N, C, *]`
    /// - weight, bias: `[C]`
    /// - output: `self`'s shape
    ///
    /// # Errors
    /// When the input has fewer than 2 dims, `num_groups` is 0 or does not divide `C`, or a
    /// weight or bias is not `[C]`.
    ///
    /// ```
    /// use ferrite_tensor::Tensor;
    /// // One sample, 2 channels of 2 values, one group: all 4 values together.
    /// let x = Tensor::<f64>::from_vec(vec![1.0, 2.0, 3.0, 4.0], &[1, 2, 2])?;
    /// let gn = x.group_norm(1, None, None, 0.0)?;
    /// let s = 1.25f64.sqrt();
    /// assert_eq!(gn.output.to_vec(), vec![-1.5 / s, -0.5 / s, 0.5 / s, 1.5 / s]);
    /// let err = x.group_norm(3, None, None, 1e-5).unwrap_err();
    /// assert_eq!(
    ///     err.to_string(),
    ///     "group_norm: expected the number of channels to be divisible by num_groups, \
    ///      found 2 channels (input [1, 2, 2]) and num_groups 3"
    /// );
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn group_norm(
        &self,
        num_groups: usize,
        weight: Option<&Tensor<T>>,
        bias: Option<&Tensor<T>>,
        eps: f64,
    ) -> Result<NormOutput<T>> {
        const OP: &str = "group_norm";
        let shape = self.shape();
        let &[n, c, ref rest @ ..] = shape else {
            return Err(TensorError::shape(
                OP,
                format!("expected an input [N, C, *] with at least 2 dims, found shape {shape:?}"),
            ));
        };
        if num_groups == 0 || c % num_groups != 0 {
            return Err(TensorError::invalid(
                OP,
                format!(
                    "expected the number of channels to be divisible by num_groups, found {c} \
                     channels (input {shape:?}) and num_groups {num_groups}"
                ),
            ));
        }
        let w = rows::param(OP, "weight", weight, &[c], shape)?;
        let b = rows::param(OP, "bias", bias, &[c], shape)?;
        let layout = RowLayout {
            rows: n * num_groups,
            segs: c / num_groups,
            inner: rest.iter().product(),
            period: num_groups,
        };
        rows::normalize(OP, self, layout, vec![c], (w, b), eps)
    }
}

fn join(dims: &[usize]) -> String {
    dims.iter()
        .map(|d| d.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The gradients of [`Tensor::layer_norm`] with respect to its input, weight and bias,
/// computing only those whose `needs` entry (input, weight, bias) is true. Like PyTorch's `native_layer_norm_backward`:
/// with `g' = g · weight` and `x̂ = (x − mean) · rstd`, per row
/// `dx = rstd · (g' − mean(g') − x̂ · mean(g' · x̂))`, `dweight = Σ g · x̂`, `dbias = Σ g`
/// (sums over the leading dims).
///
/// # Shapes
/// - `grad_output`: the input's shape
/// - gradients: the input's shape; `normalized_shape` for weight and bias
///
/// # Errors
/// When `grad_output` does not have the input's shape, or `saved` comes from another op.
///
/// ```
/// use ferrite_tensor::{layer_norm_backward, Tensor};
/// let x = Tensor::<f64>::from_vec(vec![1.0, 3.0, 10.0, 30.0], &[2, 2])?;
/// let ln = x.layer_norm(&[2], Some(&Tensor::ones(&[2])), None, 0.0)?;
/// let g = Tensor::from_vec(vec![1.0, 0.0, 0.0, 0.0], &[2, 2])?;
/// let grads = layer_norm_backward(&g, &ln.saved, [true, true, false])?;
/// assert_eq!(grads.weight.unwrap().to_vec(), vec![-1.0, 0.0]); // x̂ of element 0 is -1
/// assert!(grads.bias.is_none());
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
pub fn layer_norm_backward<T: Float>(
    grad_output: &Tensor<T>,
    saved: &NormSaved<T>,
    needs: [bool; 3],
) -> Result<NormGrads<T>> {
    backward_of("layer_norm", grad_output, saved, needs)
}

/// The gradients of [`Tensor::group_norm`] with respect to its input, weight and bias, like
/// PyTorch's `native_group_norm_backward`: the formulas of [`layer_norm_backward`] with the
/// means over each `(n, group)` and `weight[c]` per channel; `dweight[c]` and `dbias[c]` sum
/// over `N` and the positions of channel `c`.
///
/// # Shapes
/// - `grad_output`: the input's shape
/// - gradients: the input's shape; `[C]` for weight and bias
///
/// # Errors
/// When `grad_output` does not have the input's shape, or `saved` comes from another op.
///
/// ```
/// use ferrite_tensor::{group_norm_backward, Tensor};
/// let x = Tensor::<f64>::from_vec(vec![1.0, 2.0, 3.0, 4.0], &[2, 2])?;
/// let gn = x.group_norm(2, None, Some(&Tensor::zeros(&[2])), 1e-5)?;
/// let grads = group_norm_backward(&Tensor::ones(&[2, 2]), &gn.saved, [true, false, true])?;
/// assert_eq!(grads.bias.unwrap().to_vec(), vec![2.0, 2.0]);
/// // One value per (n, group): the output is constant, so the input gets no gradient.
/// assert_eq!(grads.input.unwrap().to_vec(), vec![0.0; 4]);
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
pub fn group_norm_backward<T: Float>(
    grad_output: &Tensor<T>,
    saved: &NormSaved<T>,
    needs: [bool; 3],
) -> Result<NormGrads<T>> {
    backward_of("group_norm", grad_output, saved, needs)
}

fn backward_of<T: Float>(
    op: &'static str,
    grad_output: &Tensor<T>,
    saved: &NormSaved<T>,
    needs: [bool; 3],
) -> Result<NormGrads<T>> {
    if saved.op != op {
        return Err(TensorError::invalid(
            op,
            format!("expected what {op} saved, found what {} saved", saved.op),
        ));
    }
    rows::backward(grad_output, saved, needs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seeded_rng;

    fn randn(shape: &[usize], seed: u64) -> Tensor<f64> {
        Tensor::randn(shape, &mut seeded_rng(seed))
    }

    /// Naive group norm: per (n, group), two-pass mean and variance, written independently.
    fn naive_group_norm(
        x: &Tensor<f64>,
        groups: usize,
        w: &[f64],
        b: &[f64],
        eps: f64,
    ) -> Vec<f64> {
        let s = x.shape();
        let (n, c) = (s[0], s[1]);
        let inner: usize = s[2..].iter().product();
        let data = x.to_vec();
        let per = c / groups * inner;
        let mut out = vec![0.0; data.len()];
        for i in 0..n * groups {
            let vals = &data[i * per..(i + 1) * per];
            let m = vals.iter().sum::<f64>() / per as f64;
            let v = vals.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / per as f64;
            for (k, xv) in vals.iter().enumerate() {
                let ch = (i % groups) * (c / groups) + k / inner;
                out[i * per + k] = (xv - m) / (v + eps).sqrt() * w[ch] + b[ch];
            }
        }
        out
    }

    #[test]
    fn group_norm_matches_a_naive_reference() {
        for (shape, groups) in [
            (&[2, 6, 5][..], 3),
            (&[3, 4], 2),
            (&[2, 4, 2, 3], 1),
            (&[1, 4, 3], 4),
        ] {
            let c = shape[1];
            let x = randn(shape, 1).add_scalar(100.0);
            let (w, b) = (randn(&[c], 2), randn(&[c], 3));
            let got = x
                .group_norm(groups, Some(&w), Some(&b), 1e-5)
                .unwrap()
                .output
                .to_vec();
            let want = naive_group_norm(&x, groups, &w.to_vec(), &b.to_vec(), 1e-5);
            for (g, w) in got.iter().zip(&want) {
                assert!((g - w).abs() < 1e-10, "{shape:?}: {g} vs {w}");
            }
        }
    }

    #[test]
    fn layer_norm_is_group_norm_with_one_group_per_row() {
        let x = randn(&[3, 4, 5], 4);
        let ln = x.layer_norm(&[4, 5], None, None, 1e-5).unwrap().output;
        let gn = x.group_norm(1, None, None, 1e-5).unwrap().output;
        for (a, b) in ln.to_vec().iter().zip(gn.to_vec()) {
            assert!((a - b).abs() < 1e-12);
        }
    }

    /// Σ g · f(x) differentiated by central differences, for every element of `x`.
    fn numeric_grad(
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
                let (mut p, mut m) = (x.clone(), x.clone());
                p.as_mut_slice()[i] += h;
                m.as_mut_slice()[i] -= h;
                (dot(&p) - dot(&m)) / (2.0 * h)
            })
            .collect()
    }

    fn close(got: &Tensor<f64>, want: &[f64]) {
        for (a, b) in got.to_vec().iter().zip(want) {
            assert!((a - b).abs() < 1e-6, "{a} vs {b}");
        }
    }

    #[test]
    fn backward_matches_finite_differences() {
        let x = randn(&[2, 6, 3], 5);
        let g = randn(&[2, 6, 3], 6);
        let (w, b) = (randn(&[6], 7), randn(&[6], 8));
        let gn = |x: &Tensor<f64>, w: &Tensor<f64>, b: &Tensor<f64>| {
            x.group_norm(3, Some(w), Some(b), 1e-5).unwrap().output
        };
        let grads = group_norm_backward(
            &g,
            &x.group_norm(3, Some(&w), Some(&b), 1e-5).unwrap().saved,
            [true; 3],
        )
        .unwrap();
        close(
            grads.input.as_ref().unwrap(),
            &numeric_grad(&x, &g, |t| gn(t, &w, &b)),
        );
        close(
            grads.weight.as_ref().unwrap(),
            &numeric_grad(&w, &g, |t| gn(&x, t, &b)),
        );
        close(
            grads.bias.as_ref().unwrap(),
            &numeric_grad(&b, &g, |t| gn(&x, &w, t)),
        );

        let (w, b) = (randn(&[6, 3], 9), randn(&[6, 3], 10));
        let ln = |x: &Tensor<f64>, w: &Tensor<f64>, b: &Tensor<f64>| {
            x.layer_norm(&[6, 3], Some(w), Some(b), 1e-5)
                .unwrap()
                .output
        };
        let saved = x
            .layer_norm(&[6, 3], Some(&w), Some(&b), 1e-5)
            .unwrap()
            .saved;
        let grads = layer_norm_backward(&g, &saved, [true; 3]).unwrap();
        close(
            grads.input.as_ref().unwrap(),
            &numeric_grad(&x, &g, |t| ln(t, &w, &b)),
        );
        close(
            grads.weight.as_ref().unwrap(),
            &numeric_grad(&w, &g, |t| ln(&x, t, &b)),
        );
        close(
            grads.bias.as_ref().unwrap(),
            &numeric_grad(&b, &g, |t| ln(&x, &w, t)),
        );
        assert!(group_norm_backward(&g, &saved, [true; 3]).is_err());
        assert!(layer_norm_backward(&Tensor::zeros(&[2, 3, 6]), &saved, [true; 3]).is_err());
    }

    #[test]
    fn group_norm_without_spatial_dims_backward_matches_finite_differences() {
        // [N, C]: one element per channel, the per-element path of the backward.
        let (x, g) = (randn(&[3, 6], 30), randn(&[3, 6], 31));
        let (w, b) = (randn(&[6], 32), randn(&[6], 33));
        let gn = |x: &Tensor<f64>, w: &Tensor<f64>, b: &Tensor<f64>| {
            x.group_norm(2, Some(w), Some(b), 1e-5).unwrap().output
        };
        let saved = x.group_norm(2, Some(&w), Some(&b), 1e-5).unwrap().saved;
        let grads = group_norm_backward(&g, &saved, [true; 3]).unwrap();
        close(
            grads.input.as_ref().unwrap(),
            &numeric_grad(&x, &g, |t| gn(t, &w, &b)),
        );
        close(
            grads.weight.as_ref().unwrap(),
            &numeric_grad(&w, &g, |t| gn(&x, t, &b)),
        );
        close(
            grads.bias.as_ref().unwrap(),
            &numeric_grad(&b, &g, |t| gn(&x, &w, t)),
        );
    }

    #[test]
    fn large_inputs_split_into_blocks_give_the_same_numbers() {
        // 64 rows of 1024: parallel blocks; the same rows one by one must agree exactly.
        let x = randn(&[64, 1024], 11);
        let g = randn(&[64, 1024], 12);
        let w = randn(&[1024], 13);
        let big = x.layer_norm(&[1024], Some(&w), None, 1e-5).unwrap();
        let grads = layer_norm_backward(&g, &big.saved, [true, true, false]).unwrap();
        let mut dw = vec![0.0; 1024];
        for r in 0..64 {
            let xr = x.narrow(0, r, 1).unwrap();
            let gr = g.narrow(0, r, 1).unwrap();
            let one = xr.layer_norm(&[1024], Some(&w), None, 1e-5).unwrap();
            assert_eq!(
                one.output.to_vec(),
                big.output.narrow(0, r, 1).unwrap().to_vec()
            );
            let gr1 = layer_norm_backward(&gr, &one.saved, [true, true, false]).unwrap();
            let want = grads
                .input
                .as_ref()
                .unwrap()
                .narrow(0, r, 1)
                .unwrap()
                .to_vec();
            assert_eq!(gr1.input.unwrap().to_vec(), want);
            dw.iter_mut()
                .zip(gr1.weight.unwrap().to_vec())
                .for_each(|(a, b)| *a += b);
        }
        close(grads.weight.as_ref().unwrap(), &dw);
    }

    #[test]
    fn refuses_bad_arguments() {
        let x = Tensor::<f64>::zeros(&[2, 6, 3]);
        let msg = |r: Result<NormOutput<f64>>| r.unwrap_err().to_string();
        assert!(msg(x.layer_norm(&[], None, None, 1e-5)).contains("at least one dim"));
        assert!(msg(x.layer_norm(&[6], None, None, 1e-5)).contains("[*, 6]"));
        let w = Tensor::ones(&[2]);
        assert_eq!(
            msg(x.layer_norm(&[3], Some(&w), None, 1e-5)),
            "layer_norm: expected weight of shape [3], found [2] (input [2, 6, 3])"
        );
        assert!(msg(x.group_norm(0, None, None, 1e-5)).contains("num_groups 0"));
        assert!(msg(x.group_norm(4, None, None, 1e-5)).contains("num_groups 4"));
        assert!(
            msg(Tensor::<f64>::zeros(&[6]).group_norm(1, None, None, 1e-5))
                .contains("at least 2 dims")
        );
        assert!(msg(x.group_norm(2, None, Some(&w), 1e-5)).contains("expected bias of shape [6]"));
        // Empty batches and empty rows are fine.
        assert_eq!(
            Tensor::<f64>::zeros(&[0, 4])
                .group_norm(2, None, None, 1e-5)
                .unwrap()
                .output
                .shape(),
            &[0, 4]
        );
        assert_eq!(
            Tensor::<f64>::zeros(&[3, 0])
                .layer_norm(&[0], None, None, 1e-5)
                .unwrap()
                .output
                .shape(),
            &[3, 0]
        );
    }

    #[test]
    fn norms_give_the_same_bits_with_one_and_three_threads() {
        // Several blocks of rows, f32 and f64, all gradients; batch norm over [N, C] too.
        fn bits<T: Float>(x: &Tensor<T>, w: &Tensor<T>) -> Vec<u64> {
            let mut out = Vec::new();
            let wc = Tensor::<T>::ones(&[64]);
            let x4 = x.reshape(&[32, 64, 8, -1]).unwrap();
            let ln = x.layer_norm(&[256], Some(w), Some(w), 1e-5).unwrap();
            let g = Tensor::ones(x.shape());
            let lg = layer_norm_backward(&g, &ln.saved, [true; 3]).unwrap();
            let gn = x4.group_norm(8, Some(&wc), Some(&wc), 1e-5).unwrap();
            let gg = group_norm_backward(&Tensor::ones(x4.shape()), &gn.saved, [true; 3]);
            let gg = gg.unwrap();
            let opts = crate::BatchNormOptions::new().with_training(true);
            let bn = x.batch_norm(None, None, Some(w), Some(w), &opts).unwrap();
            let bg = crate::batch_norm_backward(&g, &bn.saved, [true; 3]).unwrap();
            for grads in [
                [lg.input, lg.weight, lg.bias],
                [gg.input, gg.weight, gg.bias],
                [bg.input, bg.weight, bg.bias],
            ] {
                out.extend(grads.into_iter().map(Option::unwrap));
            }
            out.extend([ln.output, gn.output, bn.output]);
            out.iter()
                .flat_map(|v| v.to_vec().into_iter().map(|v| v.as_f64().to_bits()))
                .collect()
        }
        let x = randn(&[512, 256], 5).mul_scalar(2.0).add_scalar(3.0);
        let w = randn(&[256], 6);
        let run = |threads| {
            crate::parallel::with_threads(threads, || {
                let mut b = bits(&x, &w);
                b.extend(bits(&x.cast::<f32>(), &w.cast::<f32>()));
                b
            })
        };
        assert_eq!(run(1), run(3));
    }
}
