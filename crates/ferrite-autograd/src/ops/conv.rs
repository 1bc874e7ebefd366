//! The convolutions: `conv2d`, `conv1d` and `conv_transpose2d`. Forward by the
//! `ferrite-tensor` kernels (im2col + GEMM), backward by their gradient kernels, each
//! gradient computed only when its input needs it.

use ferrite_tensor::{
    Conv1dParams, Conv2dGrads, Conv2dParams, ConvTranspose2dParams, Float, Padding, Padding1d,
    Result, Tensor, conv_transpose2d_backward, conv1d_backward, conv2d_backward,
};

use crate::Var;
use crate::ops::conv_grad::conv2d_double_backward;
use crate::ops::double::recomputed;

/// Records a convolution-like op `name` of `input`, `weight` and an optional `bias` whose
/// forward value is `value` and whose three gradients `backward(g, x, w, needs)` computes.
fn record<T: Float>(
    name: &'static str,
    value: Tensor<T>,
    (input, weight, bias): (&Var<T>, &Var<T>, Option<&Var<T>>),
    backward: impl Fn(&Tensor<T>, &Tensor<T>, &Tensor<T>, [bool; 3]) -> Result<Conv2dGrads<T>>
    + Send
    + Sync
    + 'static,
) -> Result<Var<T>> {
    let (x, w) = (input.value(), weight.value());
    let mut inputs = vec![input, weight];
    inputs.extend(bias);
    Var::from_op(name, value, &inputs, move |g, grads| {
        // One call for all three: conv2d's computes the input and weight gradients in one
        // parallel pass over the images when both are needed.
        let needs = [grads.needs(0), grads.needs(1), grads.needs(2)];
        let all = backward(g, &x, &w, needs)?;
        grads.put(0, all.input);
        grads.put(1, all.weight);
        grads.put(2, all.bias);
        Ok(())
    })
}

impl<T: Float> Var<T> {
    /// 2-D convolution like `torch.nn.functional.conv2d` (zero padding; the `Conv2d` layer
    /// adds `nn.Conv2d`'s other padding modes with [`Var::pad`]).
    ///
    /// # Shapes
    /// - `self`: `[N, C, H, W]`, or unbatched `[C, H, W]`
    /// - `weight`: `[O, C / groups, kh, kw]`
    /// - `bias`: `[O]`
    /// - result: `[N, O, H_out, W_out]` (`[O, H_out, W_out]` unbatched),
    ///   `H_out = floor((H + pt + pb − d·(kh − 1) − 1) / s) + 1`
    ///
    /// # Errors
    /// When the channels disagree with the weight, groups do not divide the channels, the
    /// dilated kernel is larger than the padded input, or a shape has the wrong rank.
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_tensor::{Conv2dParams, Tensor};
    /// let x = Var::new(Tensor::<f64>::ones(&[1, 1, 4, 4]));
    /// let w = Var::parameter(Tensor::<f64>::ones(&[1, 1, 3, 3]));
    /// let y = x.conv2d(&w, None, &Conv2dParams::default())?;
    /// assert_eq!(y.value().to_vec(), vec![9.0; 4]);
    /// y.sum_all()?.backward()?;
    /// assert_eq!(w.grad().unwrap().to_vec(), vec![4.0; 9]);
    /// // Unbatched [C, H, W] input.
    /// let x = Var::parameter(Tensor::<f64>::ones(&[1, 4, 4]));
    /// let y = x.conv2d(&w, None, &Conv2dParams::default())?;
    /// assert_eq!(y.shape(), vec![1, 2, 2]);
    /// y.sum_all()?.backward()?;
    /// assert_eq!(x.grad().unwrap().shape(), &[1, 4, 4]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn conv2d(
        &self,
        weight: &Var<T>,
        bias: Option<&Var<T>>,
        params: &Conv2dParams,
    ) -> Result<Var<T>> {
        let b: Option<Tensor<T>> = bias.map(|b| b.value());
        let value = self.value().conv2d(&weight.value(), b.as_ref(), params)?;
        let params = *params;
        record(
            "conv2d",
            value,
            (self, weight, bias),
            move |g, x, w, needs| conv2d_backward(g, x, w, &params, needs),
        )
        .map(|y| y.with_double_backward(conv2d_double_backward(params)))
    }

    /// 1-D convolution like `torch.nn.functional.conv1d` (zero padding; the `Conv1d` layer
    /// adds `nn.Conv1d`'s other padding modes with [`Var::pad`]). Runs on the conv2d kernels
    /// (see [`Tensor::conv1d`]).
    ///
    /// # Shapes
    /// - `self`: `[N, C, L]`, or unbatched `[C, L]`
    /// - `weight`: `[O, C / groups, k]`
    /// - `bias`: `[O]`
    /// - result: `[N, O, L_out]` (`[O, L_out]` unbatched),
    ///   `L_out = floor((L + left + right − d·(k − 1) − 1) / s) + 1`
    ///
    /// # Errors
    /// As [`Tensor::conv1d`]: wrong ranks, channels or groups, a bias not `[O]`, zero
    /// stride/dilation/kernel, `"same"` with a stride, a kernel longer than the padded input.
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_tensor::{Conv1dParams, Tensor};
    /// let x = Var::parameter(Tensor::<f64>::ones(&[2, 3, 8]));
    /// let w = Var::parameter(Tensor::<f64>::ones(&[4, 3, 3]));
    /// let y = x.conv1d(&w, None, &Conv1dParams::default().with_padding(1))?;
    /// assert_eq!(y.shape(), vec![2, 4, 8]);
    /// y.sum_all()?.backward()?;
    /// // Each weight tap sees every input element but one per channel and image.
    /// assert_eq!(w.grad().unwrap().to_vec()[0], 14.0);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn conv1d(
        &self,
        weight: &Var<T>,
        bias: Option<&Var<T>>,
        params: &Conv1dParams,
    ) -> Result<Var<T>> {
        let b: Option<Tensor<T>> = bias.map(|b| b.value());
        let value = self.value().conv1d(&weight.value(), b.as_ref(), params)?;
        let params = *params;
        record(
            "conv1d",
            value,
            (self, weight, bias),
            move |g, x, w, needs| conv1d_backward(g, x, w, &params, needs),
        )
        .map(|y| y.with_double_backward(recomputed(move |v| conv1d_composite(v, &params))))
    }

    /// Transposed 2-D convolution like `torch.nn.functional.conv_transpose2d`, the
    /// gradient of conv2d with respect to its input (see [`Tensor::conv_transpose2d`]).
    /// Backward: the input gradient is a conv2d of the output gradient, the weight gradient
    /// conv2d's weight gradient with input and output swapped.
    ///
    /// # Shapes
    /// - `self`: `[N, Cin, H, W]`, or unbatched `[Cin, H, W]`
    /// - `weight`: `[Cin, Cout / groups, kh, kw]`
    /// - `bias`: `[Cout]`
    /// - result: `[N, Cout, H_out, W_out]`,
    ///   `H_out = (H − 1)·s − 2·p + d·(kh − 1) + output_padding + 1`
    ///
    /// # Errors
    /// As [`Tensor::conv_transpose2d`].
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_tensor::{ConvTranspose2dParams, Tensor};
    /// let x = Var::parameter(Tensor::<f64>::ones(&[1, 2, 3, 3]));
    /// let w = Var::parameter(Tensor::<f64>::ones(&[2, 4, 2, 2]));
    /// let p = ConvTranspose2dParams::default().with_stride(2);
    /// let y = x.conv_transpose2d(&w, None, &p)?;
    /// assert_eq!(y.shape(), vec![1, 4, 6, 6]);
    /// y.sum_all()?.backward()?;
    /// assert_eq!(x.grad().unwrap().to_vec(), vec![16.0; 18]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn conv_transpose2d(
        &self,
        weight: &Var<T>,
        bias: Option<&Var<T>>,
        params: &ConvTranspose2dParams,
    ) -> Result<Var<T>> {
        let b: Option<Tensor<T>> = bias.map(|b| b.value());
        let value = self
            .value()
            .conv_transpose2d(&weight.value(), b.as_ref(), params)?;
        let params = *params;
        record(
            "conv_transpose2d",
            value,
            (self, weight, bias),
            move |g, x, w, needs| conv_transpose2d_backward(g, x, w, &params, needs),
        )
        .map(|y| {
            y.with_double_backward(recomputed(move |v| conv_transpose2d_composite(v, &params)))
        })
    }
}

/// conv1d as a conv2d over a height of 1 (the recomputation its double backward
/// differentiates): `v` is the input, the weight and the optional bias.
fn conv1d_composite<T: Float>(v: &[Var<T>], params: &Conv1dParams) -> Result<Var<T>> {
    let padding = match params.padding {
        Padding1d::Explicit(p) => Padding::Explicit([0, p]),
        Padding1d::Same => Padding::Same,
        Padding1d::Valid => Padding::Valid,
    };
    let params2 = Conv2dParams {
        stride: [1, params.stride],
        padding,
        dilation: [1, params.dilation],
        groups: params.groups,
    };
    let (x, w) = (v[0].unsqueeze(-2)?, v[1].unsqueeze(-2)?);
    x.conv2d(&w, v.get(2), &params2)?.squeeze(-2)
}

/// conv_transpose2d as the input gradient of a conv2d (the recomputation its double
/// backward differentiates): `v` is the input, the weight and the optional bias.
fn conv_transpose2d_composite<T: Float>(
    v: &[Var<T>],
    params: &ConvTranspose2dParams,
) -> Result<Var<T>> {
    let unbatched = v[0].shape().len() == 3;
    let x = if unbatched {
        v[0].unsqueeze(0)?
    } else {
        v[0].clone()
    };
    let (xs, ws) = (x.shape(), v[1].shape());
    let size = |i: usize| {
        let p = params;
        (xs[2 + i] - 1) * p.stride[i] + p.dilation[i] * (ws[2 + i] - 1) + p.output_padding[i] + 1
            - 2 * p.padding[i]
    };
    let out_shape = [xs[0], ws[1] * params.groups, size(0), size(1)];
    let params2 = Conv2dParams {
        stride: params.stride,
        padding: Padding::Explicit(params.padding),
        dilation: params.dilation,
        groups: params.groups,
    };
    let mut y = Var::conv2d_input_grad(&x, &v[1], &out_shape, &params2)?;
    if let Some(b) = v.get(2) {
        y = y.add(&b.reshape(&[-1, 1, 1])?)?;
    }
    if unbatched { y.squeeze(0) } else { Ok(y) }
}

#[cfg(test)]
mod tests {
    use ferrite_tensor::{PadMode, Padding1d, seeded_rng};

    use super::*;
    use crate::{GradcheckOptions, gradcheck};

    fn randn(shape: &[usize], seed: u64) -> Tensor<f64> {
        Tensor::randn(shape, &mut seeded_rng(seed))
    }

    fn names(n: usize) -> GradcheckOptions {
        GradcheckOptions::default().with_input_names(&["input", "weight", "bias"][..n])
    }

    #[test]
    fn conv1d_gradcheck_across_parameters() {
        let configs = [
            Conv1dParams::default(),
            Conv1dParams::default().with_stride(2).with_padding(1),
            Conv1dParams::default().with_dilation(2).with_padding(2),
            Conv1dParams::default()
                .with_padding(Padding1d::Same)
                .with_dilation(2),
            Conv1dParams::default()
                .with_padding(Padding1d::Valid)
                .with_stride(3),
            Conv1dParams::default().with_groups(2).with_padding(1),
        ];
        for (i, p) in configs.iter().enumerate() {
            let s = i as u64;
            let inputs = [
                randn(&[2, 4, 9], s),
                randn(&[6, 4 / p.groups, 3], 10 + s),
                randn(&[6], 20 + s),
            ];
            gradcheck(|v| v[0].conv1d(&v[1], Some(&v[2]), p), &inputs, &names(3)).unwrap();
        }
        // Unbatched, no bias, and a padding mode as the layer applies it.
        let p = Conv1dParams::default();
        let inputs = [randn(&[3, 7], 30), randn(&[2, 3, 4], 31)];
        gradcheck(|v| v[0].conv1d(&v[1], None, &p), &inputs, &names(2)).unwrap();
        let inputs = [randn(&[2, 3, 7], 32), randn(&[2, 3, 3], 33)];
        gradcheck(
            |v| v[0].pad(&[2, 2], PadMode::Reflect)?.conv1d(&v[1], None, &p),
            &inputs,
            &names(2),
        )
        .unwrap();
    }

    #[test]
    fn conv_transpose2d_gradcheck_across_parameters() {
        let p = ConvTranspose2dParams::default;
        let configs = [
            p(),
            p().with_stride(2).with_padding(1).with_output_padding(1),
            p().with_stride([2, 3])
                .with_padding([1, 0])
                .with_output_padding([1, 2]),
            p().with_dilation(2).with_stride(2).with_output_padding(1),
            p().with_dilation([2, 1])
                .with_output_padding([1, 0])
                .with_padding([0, 1]),
            p().with_groups(2).with_padding(1),
            p().with_padding(2),
        ];
        for (i, p) in configs.iter().enumerate() {
            let s = i as u64;
            let inputs = [
                randn(&[2, 4, 3, 4], s),
                randn(&[4, 6 / p.groups, 3, 2], 10 + s),
                randn(&[6], 20 + s),
            ];
            gradcheck(
                |v| v[0].conv_transpose2d(&v[1], Some(&v[2]), p),
                &inputs,
                &names(3),
            )
            .unwrap_or_else(|e| panic!("{p:?}: {e}"));
        }
        let inputs = [randn(&[2, 3, 4], 30), randn(&[2, 3, 3, 3], 31)];
        let p = p().with_stride([1, 2]);
        gradcheck(
            |v| v[0].conv_transpose2d(&v[1], None, &p),
            &inputs,
            &names(2),
        )
        .unwrap();
    }

    #[test]
    fn conv2d_unbatched_gradcheck() {
        let p = Conv2dParams::default().with_stride(2).with_padding(1);
        let inputs = [
            randn(&[2, 5, 6], 1),
            randn(&[3, 2, 3, 3], 2),
            randn(&[3], 3),
        ];
        gradcheck(|v| v[0].conv2d(&v[1], Some(&v[2]), &p), &inputs, &names(3)).unwrap();
    }

    #[test]
    fn conv_transpose2d_is_the_input_gradient_of_conv2d() {
        // <conv2d(y), x> = <y, conv_transpose2d(x)> with the same weight and parameters.
        let p2 = Conv2dParams::default()
            .with_stride([2, 3])
            .with_padding([1, 2])
            .with_dilation([2, 1])
            .with_groups(2);
        let pt = ConvTranspose2dParams::default()
            .with_stride([2, 3])
            .with_padding([1, 2])
            .with_dilation([2, 1])
            .with_groups(2);
        let w = randn(&[4, 3, 3, 2], 1);
        let x = randn(&[2, 4, 4, 3], 2);
        let yt = x.conv_transpose2d(&w, None, &pt).unwrap();
        let y = randn(yt.shape(), 3);
        let c = y.conv2d(&w, None, &p2).unwrap();
        assert_eq!(c.shape(), x.shape());
        let lhs: f64 = c.to_vec().iter().zip(x.to_vec()).map(|(a, b)| a * b).sum();
        let rhs: f64 = y.to_vec().iter().zip(yt.to_vec()).map(|(a, b)| a * b).sum();
        assert!(
            (lhs - rhs).abs() < 1e-10 * lhs.abs().max(1.0),
            "{lhs} vs {rhs}"
        );
    }
}
