//! 1-D convolution, `torch.nn.functional.conv1d`, on the 2-D kernels: an `[N, C, L]` input
//! is the `[N, C, 1, L]` image it already is in memory, and a `[O, C/g, k]` weight a
//! `[O, C/g, 1, k]` one, so the forward and both gradients are conv2d's im2col + GEMM with
//! no copy. Only the shapes are checked here, so that the messages speak of `L` and `k`.

use super::backward::{Conv2dGrads, backward_of_plan};
use super::forward::conv_forward;
use super::plan::{ConvPlan, check_groups};
use super::{Conv2dParams, Padding, batch_of_one};
use crate::ops::window::Window1d;
use crate::{Float, Result, Tensor, TensorError};

/// How much zero padding a 1-D convolution adds, like `F.conv1d`'s `padding=`.
///
/// ```
/// use ferrite_tensor::Padding1d;
/// assert_eq!(Padding1d::from(2), Padding1d::Explicit(2));
/// assert_ne!(Padding1d::Same, Padding1d::Valid);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Padding1d {
    /// `p` added on both sides.
    Explicit(usize),
    /// PyTorch's `"same"`: a total of `dilation * (k - 1)`, `total / 2` on the left and the
    /// rest on the right (stride must be 1).
    Same,
    /// PyTorch's `"valid"`: no padding.
    Valid,
}

impl From<usize> for Padding1d {
    /// `1` means `Padding1d::Explicit(1)`, as PyTorch's `padding=1`.
    fn from(p: usize) -> Self {
        Padding1d::Explicit(p)
    }
}

/// The hyper-parameters of a 1-D convolution, with `F.conv1d`'s defaults.
///
/// ```
/// use ferrite_tensor::{Conv1dParams, Padding1d};
/// let p = Conv1dParams::default().with_stride(2).with_padding(1).with_dilation(3).with_groups(2);
/// assert_eq!((p.stride, p.padding, p.dilation, p.groups), (2, Padding1d::Explicit(1), 3, 2));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conv1dParams {
    /// Step of the sliding window (default 1).
    pub stride: usize,
    /// Zero padding (default `Explicit(0)`).
    pub padding: Padding1d,
    /// Spacing between kernel taps (default 1).
    pub dilation: usize,
    /// Number of blocked connections from input to output channels (default 1).
    pub groups: usize,
}

impl Default for Conv1dParams {
    fn default() -> Self {
        Conv1dParams {
            stride: 1,
            padding: Padding1d::Explicit(0),
            dilation: 1,
            groups: 1,
        }
    }
}

impl Conv1dParams {
    /// Sets the stride.
    ///
    /// ```
    /// use ferrite_tensor::Conv1dParams;
    /// assert_eq!(Conv1dParams::default().with_stride(2).stride, 2);
    /// ```
    pub fn with_stride(mut self, stride: usize) -> Self {
        self.stride = stride;
        self
    }

    /// Sets the padding (`1`, `Padding1d::Same` or `Padding1d::Valid`).
    ///
    /// ```
    /// use ferrite_tensor::{Conv1dParams, Padding1d};
    /// assert_eq!(Conv1dParams::default().with_padding(Padding1d::Same).padding, Padding1d::Same);
    /// ```
    pub fn with_padding(mut self, padding: impl Into<Padding1d>) -> Self {
        self.padding = padding.into();
        self
    }

    /// Sets the dilation.
    ///
    /// ```
    /// use ferrite_tensor::Conv1dParams;
    /// assert_eq!(Conv1dParams::default().with_dilation(2).dilation, 2);
    /// ```
    pub fn with_dilation(mut self, dilation: usize) -> Self {
        self.dilation = dilation;
        self
    }

    /// Sets the number of groups.
    ///
    /// ```
    /// use ferrite_tensor::Conv1dParams;
    /// assert_eq!(Conv1dParams::default().with_groups(4).groups, 4);
    /// ```
    pub fn with_groups(mut self, groups: usize) -> Self {
        self.groups = groups;
        self
    }

    /// The padding actually applied for a kernel of `kernel` taps, `[left, right]`:
    /// `Explicit(p)` gives `[p, p]`, `Valid` zeros and `Same` `total / 2` on the left and the
    /// rest on the right of `total = dilation * (kernel - 1)`, as PyTorch.
    ///
    /// # Errors
    /// When the kernel size, stride or dilation is zero, or `Same` is combined with a stride
    /// other than 1.
    ///
    /// ```
    /// use ferrite_tensor::{Conv1dParams, Padding1d};
    /// let same = Conv1dParams::default().with_padding(Padding1d::Same);
    /// assert_eq!(same.resolve_padding(4)?, [1, 2]);
    /// assert_eq!(same.with_dilation(3).resolve_padding(3)?, [3, 3]);
    /// let err = same.with_stride(2).resolve_padding(3).unwrap_err();
    /// assert_eq!(err.to_string(), "conv1d: padding='same' is not supported for strided convolutions (stride 2)");
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn resolve_padding(&self, kernel: usize) -> Result<[usize; 2]> {
        Ok(self.window("conv1d", kernel)?.padding[0])
    }

    /// The output length of a convolution of `length` elements by a kernel of `kernel`
    /// taps: `floor((length + left + right - dilation * (kernel - 1) - 1) / stride) + 1`.
    ///
    /// # Errors
    /// As [`Conv1dParams::resolve_padding`], and when the dilated kernel is longer than the
    /// padded input.
    ///
    /// ```
    /// use ferrite_tensor::Conv1dParams;
    /// assert_eq!(Conv1dParams::default().with_stride(2).with_padding(1).output_size(10, 3)?, 5);
    /// assert!(Conv1dParams::default().output_size(2, 3).is_err());
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn output_size(&self, length: usize, kernel: usize) -> Result<usize> {
        Ok(self
            .window("conv1d", kernel)?
            .output_size("conv1d", [length])?[0])
    }

    /// The sliding window of a `kernel`-tap kernel, padding resolved; errors name `op`.
    fn window(&self, op: &'static str, kernel: usize) -> Result<Window1d> {
        let window = Window1d::new([kernel])
            .with_stride([self.stride])
            .with_dilation([self.dilation]);
        window.check(op)?;
        let padding = match self.padding {
            Padding1d::Explicit(p) => [p, p],
            Padding1d::Valid => [0, 0],
            Padding1d::Same => {
                if self.stride != 1 {
                    return Err(TensorError::invalid(
                        op,
                        format!(
                            "padding='same' is not supported for strided convolutions (stride {})",
                            self.stride
                        ),
                    ));
                }
                let total = window.axis(0).span().ok_or_else(|| {
                    TensorError::invalid(
                        op,
                        format!(
                            "kernel {kernel} with dilation {} is too large",
                            self.dilation
                        ),
                    )
                })? - 1;
                [total / 2, total - total / 2]
            }
        };
        Ok(window.with_padding([padding]))
    }

    /// The same convolution over a `[1, L]` plane with a `1 x k` kernel.
    fn to_conv2d(self) -> Conv2dParams {
        Conv2dParams {
            stride: [1, self.stride],
            padding: match self.padding {
                Padding1d::Explicit(p) => Padding::Explicit([0, p]),
                Padding1d::Same => Padding::Same,
                Padding1d::Valid => Padding::Valid,
            },
            dilation: [1, self.dilation],
            groups: self.groups,
        }
    }
}

/// A conv1d of a batched `[N, C, L]` input by a `[O, C/g, k]` weight, checked with 1-D
/// messages naming `op`, as the conv2d plan of its `[N, C, 1, L]` view; also its output
/// shape `[N, O, L_out]`.
fn lift(
    op: &'static str,
    input: &[usize],
    weight: &[usize],
    params: &Conv1dParams,
) -> Result<(ConvPlan, [usize; 3])> {
    let &[n, c, len] = input else {
        return Err(TensorError::shape(
            op,
            format!(
                "expected a 2-D (unbatched) [C, L] or 3-D [N, C, L] input, found shape {input:?}"
            ),
        ));
    };
    let &[o, c_per_group, k] = weight else {
        return Err(TensorError::shape(
            op,
            format!(
                "expected a 3-D weight [out_channels, in_channels / groups, kernel_size], found shape {weight:?}"
            ),
        ));
    };
    check_groups(op, input, weight, params.groups)?;
    let out_len = params.window(op, k)?.output_size(op, [len])?[0];
    let plan = ConvPlan::new(
        op,
        &[n, c, 1, len],
        &[o, c_per_group, 1, k],
        &params.to_conv2d(),
    )?;
    Ok((plan, [n, o, out_len]))
}

/// `[d0, d1, d2]` as `[d0, d1, 1, d2]`.
fn as_plane<T: Float>(t: &Tensor<T>) -> Result<Tensor<T>> {
    t.unsqueeze(2)
}

impl<T: Float> Tensor<T> {
    /// 1-D convolution (cross-correlation) like `torch.nn.functional.conv1d`:
    /// `out[n, o, x] = bias[o] + Σ_{c in group(o), j} weight[o, c, j] · padded[n, c, x·s + j·d]`.
    ///
    /// Computed by the conv2d kernels on a `[N, C, 1, L]` view (no copy), so it costs what
    /// a conv2d of the same size costs. `nn.Conv1d`'s other padding modes are a
    /// [`Tensor::pad`] first, as the `Conv1d` layer does.
    ///
    /// # Shapes
    /// - `self` (input): `[N, C, L]`, or unbatched `[C, L]`
    /// - `weight`: `[O, C / groups, k]`
    /// - `bias`: `[O]`
    /// - result: `[N, O, L_out]` (`[O, L_out]` unbatched), `L_out` =
    ///   [`Conv1dParams::output_size`]
    ///
    /// # Errors
    /// When the input is not 2-D or 3-D or the weight not 3-D; `groups` is 0 or does not divide
    /// both channel counts; the input channels differ from `weight.shape()[1] * groups`; the
    /// bias is not `[O]`; the stride, dilation or kernel size is zero; `Same` is used with a
    /// stride other than 1; the dilated kernel is longer than the padded input. Messages name
    /// `conv1d`.
    ///
    /// ```
    /// use ferrite_tensor::{Conv1dParams, Padding1d, Tensor};
    /// let x = Tensor::<f32>::from_vec(vec![1.0, 2.0, 3.0, 4.0], &[1, 1, 4])?;
    /// let w = Tensor::<f32>::from_vec(vec![1.0, 10.0], &[1, 1, 2])?;
    /// let y = x.conv1d(&w, None, &Conv1dParams::default())?;
    /// assert_eq!(y.to_vec(), vec![21.0, 32.0, 43.0]);
    /// let same = Conv1dParams::default().with_padding(Padding1d::Same);
    /// assert_eq!(x.conv1d(&w, None, &same)?.to_vec(), vec![21.0, 32.0, 43.0, 4.0]);
    /// // Unbatched [C, L].
    /// assert_eq!(x.reshape(&[1, 4])?.conv1d(&w, None, &same)?.shape(), &[1, 4]);
    /// let err = x.conv1d(&Tensor::zeros(&[1, 2, 2]), None, &same).unwrap_err();
    /// assert_eq!(
    ///     err.to_string(),
    ///     "conv1d: input has 1 channels but weight expects 2 (input [1, 1, 4], weight [1, 2, 2])"
    /// );
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn conv1d(
        &self,
        weight: &Tensor<T>,
        bias: Option<&Tensor<T>>,
        params: &Conv1dParams,
    ) -> Result<Tensor<T>> {
        const OP: &str = "conv1d";
        let (input, unbatched) = batch_of_one(self, 3)?;
        let (plan, [n, o, len]) = lift(OP, input.shape(), weight.shape(), params)?;
        let y = conv_forward(OP, &plan, &as_plane(&input)?, &as_plane(weight)?, bias)?;
        if unbatched {
            y.reshape(&[o as isize, len as isize])
        } else {
            y.reshape(&[n as isize, o as isize, len as isize])
        }
    }
}

/// The gradients of [`Tensor::conv1d`] with respect to its input, weight and bias (the
/// struct conv2d's gradients use), each computed only when `needs = [input, weight, bias]`
/// asks for it; by conv2d's kernels on `[N, C, 1, L]` views.
///
/// # Shapes
/// - `grad_output`: `[N, O, L_out]` (`[O, L_out]` for an unbatched input)
/// - `input`: `[N, C, L]` or `[C, L]`
/// - `weight`: `[O, C / groups, k]`
/// - result: gradients shaped like the input, the weight and `[O]`
///
/// # Errors
/// Every error of [`Tensor::conv1d`] (named `conv1d_backward`), and when `grad_output`
/// does not have the output's shape.
///
/// ```
/// use ferrite_tensor::{conv1d_backward, Conv1dParams, Tensor};
/// let x = Tensor::<f64>::from_vec(vec![1.0, 2.0, 3.0, 4.0], &[1, 1, 4])?;
/// let w = Tensor::<f64>::ones(&[1, 1, 2]);
/// let gy = Tensor::<f64>::ones(&[1, 1, 3]);
/// let g = conv1d_backward(&gy, &x, &w, &Conv1dParams::default(), [true, true, true])?;
/// assert_eq!(g.input.unwrap().to_vec(), vec![1.0, 2.0, 2.0, 1.0]);
/// assert_eq!(g.weight.unwrap().to_vec(), vec![6.0, 9.0]);
/// assert_eq!(g.bias.unwrap().to_vec(), vec![3.0]);
/// assert!(conv1d_backward(&x, &x, &w, &Conv1dParams::default(), [true; 3]).is_err());
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
pub fn conv1d_backward<T: Float>(
    grad_output: &Tensor<T>,
    input: &Tensor<T>,
    weight: &Tensor<T>,
    params: &Conv1dParams,
    needs: [bool; 3],
) -> Result<Conv2dGrads<T>> {
    const OP: &str = "conv1d_backward";
    let (x, unbatched) = batch_of_one(input, 3)?;
    let (plan, out_shape) = lift(OP, x.shape(), weight.shape(), params)?;
    let expected = if unbatched {
        &out_shape[1..]
    } else {
        &out_shape[..]
    };
    if grad_output.shape() != expected {
        return Err(TensorError::shape(
            OP,
            format!(
                "grad_output has shape {:?} but the output has shape {expected:?} (input {:?}, weight {:?})",
                grad_output.shape(),
                input.shape(),
                weight.shape()
            ),
        ));
    }
    let go = grad_output.reshape(&out_shape.map(|d| d as isize))?;
    let [go, x, w] = [&go, &x, weight].map(as_plane);
    let mut grads = backward_of_plan(OP, &plan, &go?, &x?, &w?, needs)?;
    let shape_of = |t: &Tensor<T>| t.shape().iter().map(|&d| d as isize).collect::<Vec<_>>();
    grads.input = grads
        .input
        .map(|g| g.reshape(&shape_of(input)))
        .transpose()?;
    grads.weight = grads
        .weight
        .map(|g| g.reshape(&shape_of(weight)))
        .transpose()?;
    Ok(grads)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seeded_rng;

    /// `out[n, o, x] = Σ_{c, j} w[o, c, j] · x[n, g·C/g + c, x·s + j·d − left]`.
    fn naive(x: &Tensor<f64>, w: &Tensor<f64>, p: &Conv1dParams) -> Tensor<f64> {
        let (xs, ws) = (x.shape(), w.shape());
        let [n, c, len] = [xs[0], xs[1], xs[2]];
        let [o, cg, k] = [ws[0], ws[1], ws[2]];
        let [left, _] = p.resolve_padding(k).unwrap();
        let out_len = p.output_size(len, k).unwrap();
        let (xv, wv) = (x.to_vec(), w.to_vec());
        let mut y = vec![0.0; n * o * out_len];
        for img in 0..n {
            for oc in 0..o {
                let grp = oc / (o / p.groups);
                for ox in 0..out_len {
                    let mut acc = 0.0;
                    for ci in 0..cg {
                        for j in 0..k {
                            let ix = (ox * p.stride + j * p.dilation) as isize - left as isize;
                            if ix >= 0 && (ix as usize) < len {
                                let ch = grp * cg + ci;
                                acc += wv[(oc * cg + ci) * k + j]
                                    * xv[(img * c + ch) * len + ix as usize];
                            }
                        }
                    }
                    y[(img * o + oc) * out_len + ox] = acc;
                }
            }
        }
        Tensor::from_vec(y, &[n, o, out_len]).unwrap()
    }

    #[test]
    fn forward_matches_the_definition() {
        let p = Conv1dParams::default;
        for (i, p) in [
            p(),
            p().with_stride(2).with_padding(1),
            p().with_dilation(2).with_padding(Padding1d::Same),
            p().with_padding(Padding1d::Same),
            p().with_stride(3).with_padding(Padding1d::Valid),
            p().with_groups(2).with_padding(3),
        ]
        .iter()
        .enumerate()
        {
            let x = Tensor::<f64>::randn(&[2, 4, 9], &mut seeded_rng(i as u64));
            let w = Tensor::<f64>::randn(&[6, 4 / p.groups, 4], &mut seeded_rng(9 + i as u64));
            let got = x.conv1d(&w, None, p).unwrap();
            let want = naive(&x, &w, p);
            assert_eq!(got.shape(), want.shape(), "{p:?}");
            for (a, b) in got.to_vec().iter().zip(want.to_vec()) {
                assert!((a - b).abs() < 1e-12, "{p:?}: {a} vs {b}");
            }
        }
    }

    #[test]
    fn errors_speak_of_one_dimension() {
        let x = Tensor::<f32>::zeros(&[1, 4, 6]);
        let w = Tensor::<f32>::zeros(&[2, 4, 3]);
        let p = Conv1dParams::default();
        let msg = |r: Result<Tensor<f32>>| r.unwrap_err().to_string();
        assert!(
            msg(Tensor::zeros(&[1, 1, 4, 6]).conv1d(&w, None, &p))
                .starts_with("conv1d: expected a 2-D (unbatched) [C, L] or 3-D [N, C, L] input")
        );
        assert!(msg(x.conv1d(&Tensor::zeros(&[2, 4, 3, 1]), None, &p)).contains("3-D weight"));
        assert!(msg(x.conv1d(&w, None, &p.with_groups(3))).contains("groups=3"));
        assert!(
            msg(x.conv1d(&w, None, &p.with_stride(0)))
                .contains("stride must be positive, found [0]")
        );
        assert!(msg(x.conv1d(&w, None, &p.with_dilation(0))).contains("dilation"));
        assert!(
            msg(x.conv1d(&w, None, &p.with_padding(Padding1d::Same).with_stride(2)))
                .contains("(stride 2)")
        );
        assert!(msg(x.conv1d(&Tensor::zeros(&[2, 4, 7]), None, &p)).contains("kernel [7]"));
        assert!(
            msg(x.conv1d(&w, Some(&Tensor::zeros(&[3])), &p))
                .starts_with("conv1d: bias must have shape [2]")
        );
        let gy = Tensor::<f32>::zeros(&[1, 2, 5]);
        assert!(
            conv1d_backward(&gy, &x, &w, &p, [true; 3])
                .unwrap_err()
                .to_string()
                .contains("[1, 2, 4]")
        );
        // Unbatched gradients keep the unbatched shape.
        let g = conv1d_backward(
            &Tensor::zeros(&[2, 4]),
            &Tensor::zeros(&[4, 6]),
            &w,
            &p,
            [true; 3],
        )
        .unwrap();
        assert_eq!(g.input.unwrap().shape(), &[4, 6]);
    }
}
