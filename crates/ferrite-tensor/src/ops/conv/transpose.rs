//! Transposed 2-D convolution, `torch.nn.functional.conv_transpose2d`: the adjoint of a
//! conv2d, so it runs on conv2d's kernels with the roles swapped. With `X` the transposed
//! convolution's input and `Y` its output, it is the conv2d (same stride, padding, dilation,
//! groups) whose input is shaped like `Y` and whose output is shaped like `X`, with the
//! weight `[Cin, Cout/g, kh, kw]` read as conv2d's `[O, C/g, kh, kw]`:
//!
//! - forward `Y = conv2d_input_grad(X)` (GEMM + col2im, or a flipped conv for stride 1);
//! - input gradient `dX = conv2d(dY)`;
//! - weight gradient `dW = conv2d_weight_grad(grad_output = X, input = dY)`.

use rayon::prelude::*;

use super::backward::{Conv2dGrads, bias_grad, input_grad, weight_grad};
use super::forward::conv_forward;
use super::im2col::ColGeometry;
use super::plan::ConvPlan;
use super::{batch_of_one, unbatch};
use crate::ops::window::{Pair, Window2d};
use crate::{Float, Result, Tensor, TensorError};

/// The hyper-parameters of a transposed 2-D convolution, with
/// `F.conv_transpose2d`'s defaults.
///
/// ```
/// use ferrite_tensor::ConvTranspose2dParams;
/// let p = ConvTranspose2dParams::default().with_stride(2).with_padding(1).with_output_padding(1);
/// assert_eq!((p.stride, p.padding, p.output_padding), ([2, 2], [1, 1], [1, 1]));
/// assert_eq!((p.dilation, p.groups), ([1, 1], 1));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvTranspose2dParams {
    /// Step of the matching conv2d's window, `[sh, sw]` (default `[1, 1]`).
    pub stride: [usize; 2],
    /// Rows and columns removed from each side of the full output, `[ph, pw]` (default 0):
    /// `dilation * (k - 1) - padding` zeros around the input of the equivalent direct
    /// convolution.
    pub padding: [usize; 2],
    /// Extra rows/columns added at the bottom/right of the output, `[oh, ow]` (default 0);
    /// each must be smaller than the stride or the dilation of its dimension.
    pub output_padding: [usize; 2],
    /// Spacing between kernel taps, `[dh, dw]` (default `[1, 1]`).
    pub dilation: [usize; 2],
    /// Number of blocked connections from input to output channels (default 1).
    pub groups: usize,
}

impl Default for ConvTranspose2dParams {
    fn default() -> Self {
        ConvTranspose2dParams {
            stride: [1, 1],
            padding: [0, 0],
            output_padding: [0, 0],
            dilation: [1, 1],
            groups: 1,
        }
    }
}

impl ConvTranspose2dParams {
    /// Sets the stride (`2` or `[2, 1]`).
    ///
    /// ```
    /// use ferrite_tensor::ConvTranspose2dParams;
    /// assert_eq!(ConvTranspose2dParams::default().with_stride([2, 1]).stride, [2, 1]);
    /// ```
    pub fn with_stride(mut self, stride: impl Into<Pair>) -> Self {
        self.stride = stride.into().0;
        self
    }

    /// Sets the padding (`1` or `[1, 0]`).
    ///
    /// ```
    /// use ferrite_tensor::ConvTranspose2dParams;
    /// assert_eq!(ConvTranspose2dParams::default().with_padding(1).padding, [1, 1]);
    /// ```
    pub fn with_padding(mut self, padding: impl Into<Pair>) -> Self {
        self.padding = padding.into().0;
        self
    }

    /// Sets the output padding (`1` or `[1, 0]`).
    ///
    /// ```
    /// use ferrite_tensor::ConvTranspose2dParams;
    /// assert_eq!(ConvTranspose2dParams::default().with_output_padding([1, 0]).output_padding, [1, 0]);
    /// ```
    pub fn with_output_padding(mut self, output_padding: impl Into<Pair>) -> Self {
        self.output_padding = output_padding.into().0;
        self
    }

    /// Sets the dilation (`2` or `[2, 1]`).
    ///
    /// ```
    /// use ferrite_tensor::ConvTranspose2dParams;
    /// assert_eq!(ConvTranspose2dParams::default().with_dilation(2).dilation, [2, 2]);
    /// ```
    pub fn with_dilation(mut self, dilation: impl Into<Pair>) -> Self {
        self.dilation = dilation.into().0;
        self
    }

    /// Sets the number of groups.
    ///
    /// ```
    /// use ferrite_tensor::ConvTranspose2dParams;
    /// assert_eq!(ConvTranspose2dParams::default().with_groups(2).groups, 2);
    /// ```
    pub fn with_groups(mut self, groups: usize) -> Self {
        self.groups = groups;
        self
    }

    /// The output size of an `input_hw = [h, w]` input and a `kernel = [kh, kw]` kernel, per
    /// dimension `(h - 1)·stride - 2·padding + dilation·(kh - 1) + output_padding + 1`.
    ///
    /// # Errors
    /// When the kernel size, stride or dilation has a zero, an output padding is not smaller
    /// than its stride or its dilation, or the output size is below 1 or overflows.
    ///
    /// ```
    /// use ferrite_tensor::ConvTranspose2dParams;
    /// let p = ConvTranspose2dParams::default().with_stride(2).with_padding(1).with_output_padding(1);
    /// assert_eq!(p.output_size([3, 4], [3, 3])?, [6, 8]);
    /// assert!(p.with_output_padding(2).output_size([3, 4], [3, 3]).is_err());
    /// assert!(ConvTranspose2dParams::default().with_padding(3).output_size([1, 1], [3, 3]).is_err());
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn output_size(&self, input_hw: [usize; 2], kernel: [usize; 2]) -> Result<[usize; 2]> {
        self.window("conv_transpose2d", kernel)?;
        self.output_size_for("conv_transpose2d", input_hw, kernel)
    }

    /// The window of the matching conv2d; refuses a zero kernel size, stride or dilation
    /// and an output padding not below the stride nor the dilation. Errors name `op`.
    fn window(&self, op: &'static str, kernel: [usize; 2]) -> Result<Window2d> {
        let [ph, pw] = self.padding;
        let window = Window2d::new(kernel)
            .with_stride(self.stride)
            .with_dilation(self.dilation)
            .with_padding([[ph, ph], [pw, pw]]);
        window.check(op)?;
        for dim in 0..2 {
            let extra = self.output_padding[dim];
            if extra >= self.stride[dim] && extra >= self.dilation[dim] {
                return Err(TensorError::invalid(
                    op,
                    format!(
                        "output_padding must be smaller than either stride or dilation, found output_padding {:?} with stride {:?} and dilation {:?}",
                        self.output_padding, self.stride, self.dilation
                    ),
                ));
            }
        }
        Ok(window)
    }

    /// [`ConvTranspose2dParams::output_size`] with errors naming `op`, once the window is
    /// checked.
    fn output_size_for(
        &self,
        op: &'static str,
        input_hw: [usize; 2],
        kernel: [usize; 2],
    ) -> Result<[usize; 2]> {
        let mut out = [0; 2];
        for (dim, o) in out.iter_mut().enumerate() {
            let wide = |v: usize| v as i128;
            let size = (wide(input_hw[dim]) - 1) * wide(self.stride[dim])
                - 2 * wide(self.padding[dim])
                + wide(self.dilation[dim]) * (wide(kernel[dim]) - 1)
                + wide(self.output_padding[dim])
                + 1;
            *o = usize::try_from(size).ok().filter(|&s| s >= 1).ok_or_else(|| {
                TensorError::shape(
                    op,
                    format!(
                        "the output size is {} along dimension {dim}, must be at least 1 and fit usize (input {input_hw:?}, kernel {kernel:?}, stride {:?}, padding {:?}, dilation {:?}, output_padding {:?})",
                        size, self.stride, self.padding, self.dilation, self.output_padding
                    ),
                )
            })?;
        }
        Ok(out)
    }
}

/// The conv2d plan whose input gradient is this transposed convolution of a batched
/// `[N, Cin, H, W]` input by a `[Cin, Cout/g, kh, kw]` weight: conv2d's input is the
/// `[N, Cout, oh, ow]` output, its output the `[N, Cin, H, W]` input. Errors name `op`.
fn transposed_plan(
    op: &'static str,
    input: &[usize],
    weight: &[usize],
    params: &ConvTranspose2dParams,
) -> Result<ConvPlan> {
    let &[batch, cin, h, w] = input else {
        return Err(TensorError::shape(
            op,
            format!(
                "expected a 3-D (unbatched) [C_in, H, W] or 4-D [N, C_in, H, W] input, found shape {input:?}"
            ),
        ));
    };
    let &[w_cin, cout_per_group, kh, kw] = weight else {
        return Err(TensorError::shape(
            op,
            format!(
                "expected a 4-D weight [in_channels, out_channels / groups, kh, kw], found shape {weight:?}"
            ),
        ));
    };
    let groups = params.groups;
    if groups == 0 {
        return Err(TensorError::invalid(
            op,
            "groups must be at least 1, found 0",
        ));
    }
    if w_cin != cin {
        return Err(TensorError::shape(
            op,
            format!(
                "input has {cin} channels but weight expects {w_cin} (input {input:?}, weight {weight:?})"
            ),
        ));
    }
    if !cin.is_multiple_of(groups) {
        return Err(TensorError::invalid(
            op,
            format!("groups={groups} must divide the {cin} input channels (input {input:?})"),
        ));
    }
    let cout = cout_per_group.checked_mul(groups).ok_or_else(|| {
        TensorError::invalid(
            op,
            format!("{cout_per_group} x {groups} output channels overflow"),
        )
    })?;
    let window = params.window(op, [kh, kw])?;
    let output = params.output_size_for(op, [h, w], [kh, kw])?;
    Ok(ConvPlan {
        batch,
        in_channels: cout,
        out_channels: cin,
        groups,
        out_per_group: cin / groups,
        geom: ColGeometry {
            channels: cout_per_group,
            input: output,
            output: [h, w],
            window,
        },
    })
}

impl<T: Float> Tensor<T> {
    /// Transposed 2-D convolution like `torch.nn.functional.conv_transpose2d` (sometimes
    /// called a fractionally-strided convolution): input pixel `(ih, iw)` of channel `ci` adds
    /// `input · weight[ci, co, a, b]` at output `(ih·sh − ph + a·dh, iw·sw − pw + b·dw)` for
    /// the `Cout / groups` output channels `co` of its group, then the bias is added.
    ///
    /// It is the gradient of [`Tensor::conv2d`] with respect to its input, and runs on that
    /// kernel (a GEMM and col2im per image, or for stride 1 a direct convolution with the
    /// flipped kernel).
    ///
    /// # Shapes
    /// - `self` (input): `[N, Cin, H, W]`, or unbatched `[Cin, H, W]`
    /// - `weight`: `[Cin, Cout / groups, kh, kw]`
    /// - `bias`: `[Cout]`
    /// - result: `[N, Cout, oh, ow]` (`[Cout, oh, ow]` unbatched) with
    ///   `oh = (H − 1)·sh − 2·ph + dh·(kh − 1) + output_padding_h + 1`
    ///
    /// # Errors
    /// When the input is not 3-D or 4-D or the weight not 4-D; the input channels are not
    /// `weight.shape()[0]`; `groups` is 0 or does not divide them; the bias is not `[Cout]`;
    /// the stride, dilation or kernel size has a zero; an output padding is not smaller than
    /// its stride or its dilation; the output size is below 1.
    ///
    /// ```
    /// use ferrite_tensor::{ConvTranspose2dParams, Tensor};
    /// // A 2x2 kernel with stride 2 paints one copy of the kernel per input pixel.
    /// let x = Tensor::<f32>::from_vec(vec![1.0, 2.0], &[1, 1, 1, 2])?;
    /// let w = Tensor::<f32>::from_vec(vec![1.0, 2.0, 3.0, 4.0], &[1, 1, 2, 2])?;
    /// let y = x.conv_transpose2d(&w, None, &ConvTranspose2dParams::default().with_stride(2))?;
    /// assert_eq!(y.shape(), &[1, 1, 2, 4]);
    /// assert_eq!(y.to_vec(), vec![1.0, 2.0, 2.0, 4.0, 3.0, 4.0, 6.0, 8.0]);
    /// let bad = ConvTranspose2dParams::default().with_stride(2).with_output_padding(2);
    /// assert!(x.conv_transpose2d(&w, None, &bad).unwrap_err().to_string().contains("output_padding"));
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn conv_transpose2d(
        &self,
        weight: &Tensor<T>,
        bias: Option<&Tensor<T>>,
        params: &ConvTranspose2dParams,
    ) -> Result<Tensor<T>> {
        const OP: &str = "conv_transpose2d";
        let (input, unbatched) = batch_of_one(self, 4)?;
        let plan = transposed_plan(OP, input.shape(), weight.shape(), params)?;
        let cout = plan.in_channels;
        if let Some(b) = bias
            && b.shape() != [cout]
        {
            return Err(TensorError::shape(
                OP,
                format!(
                    "bias must have shape [{cout}] (one value per output channel), found {:?}",
                    b.shape()
                ),
            ));
        }
        let mut y = input_grad(OP, &plan, &input, weight)?;
        if let Some(b) = bias {
            add_bias(&mut y, &b.to_vec());
        }
        unbatch(y, unbatched)
    }
}

/// `y[n, c, ..] += bias[c]`, plane by plane in parallel.
fn add_bias<T: Float>(y: &mut Tensor<T>, bias: &[T]) {
    let plane: usize = y.shape()[2..].iter().product();
    if plane == 0 {
        return;
    }
    y.as_mut_slice()
        .par_chunks_mut(plane)
        .enumerate()
        .for_each(|(i, p)| {
            let b = bias[i % bias.len()];
            p.iter_mut().for_each(|v| *v += b);
        });
}

/// The gradients of [`Tensor::conv_transpose2d`] with respect to its input, weight and
/// bias, each computed only when `needs = [input, weight, bias]` asks for it: the input's is
/// a conv2d of the output gradient, the weight's conv2d's weight gradient with the roles of
/// input and output swapped, the bias's the output gradient summed per channel.
///
/// # Shapes
/// - `grad_output`: the output's shape, `[N, Cout, oh, ow]` (or `[Cout, oh, ow]`)
/// - `input`: `[N, Cin, H, W]` (or `[Cin, H, W]`)
/// - `weight`: `[Cin, Cout / groups, kh, kw]`
/// - result: gradients shaped like the input, the weight and `[Cout]`
///
/// # Errors
/// Every error of [`Tensor::conv_transpose2d`] (named `conv_transpose2d_backward`), and when
/// `grad_output` does not have the output's shape.
///
/// ```
/// use ferrite_tensor::{conv_transpose2d_backward, ConvTranspose2dParams, Tensor};
/// let x = Tensor::<f64>::from_vec(vec![1.0, 2.0], &[1, 1, 1, 2])?;
/// let w = Tensor::<f64>::ones(&[1, 1, 2, 2]);
/// let p = ConvTranspose2dParams::default().with_stride(2);
/// let gy = Tensor::<f64>::ones(&[1, 1, 2, 4]);
/// let g = conv_transpose2d_backward(&gy, &x, &w, &p, [true, true, true])?;
/// assert_eq!(g.input.unwrap().to_vec(), vec![4.0, 4.0]);
/// assert_eq!(g.weight.unwrap().to_vec(), vec![3.0; 4]);
/// assert_eq!(g.bias.unwrap().to_vec(), vec![8.0]);
/// assert!(conv_transpose2d_backward(&x, &x, &w, &p, [true; 3]).is_err());
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
pub fn conv_transpose2d_backward<T: Float>(
    grad_output: &Tensor<T>,
    input: &Tensor<T>,
    weight: &Tensor<T>,
    params: &ConvTranspose2dParams,
    needs: [bool; 3],
) -> Result<Conv2dGrads<T>> {
    const OP: &str = "conv_transpose2d_backward";
    let (x, unbatched) = batch_of_one(input, 4)?;
    let plan = transposed_plan(OP, x.shape(), weight.shape(), params)?;
    let out_shape = plan.input_shape();
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
    let go = batch_of_one(grad_output, 4)?.0;
    let [need_input, need_weight, need_bias] = needs;
    let input_grad = if need_input {
        Some(unbatch(
            conv_forward(OP, &plan, &go, weight, None)?,
            unbatched,
        )?)
    } else {
        None
    };
    Ok(Conv2dGrads {
        input: input_grad,
        weight: need_weight
            .then(|| weight_grad(OP, &plan, &x, &go))
            .transpose()?,
        bias: need_bias.then(|| bias_grad(&go)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seeded_rng;

    /// The definition: input pixel (ih, iw) of channel ci adds x·w[ci, co, a, b] at output
    /// (ih·s − p + a·d, iw·s − p + b·d) for the output channels co of its group.
    fn naive(x: &Tensor<f64>, w: &Tensor<f64>, p: &ConvTranspose2dParams) -> Tensor<f64> {
        let (xs, ws) = (x.shape(), w.shape());
        let [n, cin, h, wd] = [xs[0], xs[1], xs[2], xs[3]];
        let [cout_g, kh, kw] = [ws[1], ws[2], ws[3]];
        let [oh, ow] = p.output_size([h, wd], [kh, kw]).unwrap();
        let cout = cout_g * p.groups;
        let (xv, wv) = (x.to_vec(), w.to_vec());
        let mut y = vec![0.0; n * cout * oh * ow];
        for img in 0..n {
            for ci in 0..cin {
                let grp = ci / (cin / p.groups);
                for (ih, iw, co, a, b) in (0..h).flat_map(|ih| {
                    (0..wd).flat_map(move |iw| {
                        (0..cout_g).flat_map(move |co| {
                            (0..kh).flat_map(move |a| (0..kw).map(move |b| (ih, iw, co, a, b)))
                        })
                    })
                }) {
                    let y0 =
                        (ih * p.stride[0] + a * p.dilation[0]) as isize - p.padding[0] as isize;
                    let x0 =
                        (iw * p.stride[1] + b * p.dilation[1]) as isize - p.padding[1] as isize;
                    if y0 < 0 || x0 < 0 || y0 as usize >= oh || x0 as usize >= ow {
                        continue;
                    }
                    let oc = grp * cout_g + co;
                    let at = ((img * cout + oc) * oh + y0 as usize) * ow + x0 as usize;
                    y[at] += xv[((img * cin + ci) * h + ih) * wd + iw]
                        * wv[((ci * cout_g + co) * kh + a) * kw + b];
                }
            }
        }
        Tensor::from_vec(y, &[n, cout, oh, ow]).unwrap()
    }

    #[test]
    fn forward_matches_the_definition() {
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
                .with_padding([3, 1]),
            p().with_groups(2).with_padding(1),
            p().with_stride(3).with_padding(2),
            // Stride 1 with a padding beyond the kernel's reach: the col2im strategy.
            p().with_padding([1, 2]),
            p().with_dilation(2)
                .with_output_padding(1)
                .with_padding([0, 3]),
        ];
        for (i, p) in configs.iter().enumerate() {
            let x = Tensor::<f64>::randn(&[2, 4, 3, 5], &mut seeded_rng(i as u64));
            let w = Tensor::<f64>::randn(&[4, 6 / p.groups, 3, 2], &mut seeded_rng(9 + i as u64));
            let got = x.conv_transpose2d(&w, None, p).unwrap();
            let want = naive(&x, &w, p);
            assert_eq!(got.shape(), want.shape(), "{p:?}");
            for (a, b) in got.to_vec().iter().zip(want.to_vec()) {
                assert!((a - b).abs() < 1e-12, "{p:?}: {a} vs {b}");
            }
        }
    }

    #[test]
    fn errors_name_the_op_and_the_values() {
        let x = Tensor::<f32>::zeros(&[1, 4, 3, 3]);
        let w = Tensor::<f32>::zeros(&[4, 2, 3, 3]);
        let p = ConvTranspose2dParams::default();
        let msg = |r: Result<Tensor<f32>>| r.unwrap_err().to_string();
        assert_eq!(
            msg(x.conv_transpose2d(&Tensor::zeros(&[3, 2, 3, 3]), None, &p)),
            "conv_transpose2d: input has 4 channels but weight expects 3 (input [1, 4, 3, 3], weight [3, 2, 3, 3])"
        );
        assert!(
            msg(x.conv_transpose2d(&w, None, &p.with_groups(3)))
                .contains("groups=3 must divide the 4")
        );
        assert!(
            msg(x.conv_transpose2d(&w, None, &p.with_groups(0)))
                .contains("groups must be at least 1")
        );
        assert!(
            msg(x.conv_transpose2d(&w, Some(&Tensor::zeros(&[4])), &p))
                .contains("bias must have shape [2]")
        );
        assert!(msg(x.conv_transpose2d(&w, None, &p.with_stride([0, 1]))).contains("stride"));
        assert!(
            msg(x.conv_transpose2d(&w, None, &p.with_output_padding(1))).contains("output_padding")
        );
        assert!(msg(x.conv_transpose2d(&w, None, &p.with_padding(3))).contains("at least 1"));
        assert!(msg(Tensor::zeros(&[4, 3]).conv_transpose2d(&w, None, &p)).contains("4-D"));
        assert!(
            msg(x.conv_transpose2d(&Tensor::zeros(&[4, 2, 3]), None, &p)).contains("4-D weight")
        );
        let gy = Tensor::<f32>::zeros(&[1, 2, 4, 4]);
        assert!(
            conv_transpose2d_backward(&gy, &x, &w, &p, [true; 3])
                .unwrap_err()
                .to_string()
                .contains("grad_output")
        );
        // Empty batch: an empty output.
        let y = Tensor::<f32>::zeros(&[0, 4, 3, 3])
            .conv_transpose2d(&w, None, &p)
            .unwrap();
        assert_eq!(y.shape(), &[0, 2, 5, 5]);
    }
}
