//! The forward convolution: im2col + one GEMM per image and group.

use rayon::prelude::*;

use super::plan::ConvPlan;
use super::{Conv2dParams, batch_of_one, im2col::im2col, mat, mat_mut, matmul_into, unbatch};
use crate::buffer::{self, Scratch};
use crate::checked_numel;
use crate::{Float, Result, Tensor, TensorError};

impl<T: Float> Tensor<T> {
    /// 2-D convolution (really cross-correlation) like `torch.nn.functional.conv2d`.
    ///
    /// `out[n, o, y, x] = bias[o] + sum over c in group(o), ki, kj of
    /// weight[o, c, ki, kj] * padded[n, c, y * sh + ki * dh, x * sw + kj * dw]`,
    /// where output channel block `g` (of `O / groups` channels) reads input channel block
    /// `g` (of `C / groups` channels) and `padded` is the input with zeros around it. For
    /// `nn.Conv2d`'s other padding modes, pad first with [`Tensor::pad`] and convolve with
    /// [`Padding::Valid`](crate::Padding::Valid), as the `Conv2d` layer does.
    ///
    /// # Shapes
    /// - `self` (input): `[N, C, H, W]`, or unbatched `[C, H, W]`
    /// - `weight`: `[O, C / groups, kh, kw]`
    /// - `bias`: `[O]`
    /// - result: `[N, O, oh, ow]` with `[oh, ow]` = [`Conv2dParams::output_size`] (`[O, oh, ow]`
    ///   for an unbatched input)
    ///
    /// # Errors
    /// When the input is not 3-D or 4-D or the weight not 4-D; `groups` is 0 or does not divide the input and
    /// output channels; the input channels differ from `weight.shape()[1] * groups`; the bias
    /// is not `[O]`; the stride or dilation has a zero or the kernel a zero size; `Same` is used
    /// with a stride other than 1; the dilated kernel is larger than the padded input.
    ///
    /// ```
    /// use ferrite_tensor::{seeded_rng, Conv2dParams, PadMode, Padding, Tensor};
    /// let x = Tensor::<f32>::ones(&[1, 1, 4, 4]);
    /// let w = Tensor::<f32>::ones(&[2, 1, 3, 3]);
    /// let b = Tensor::<f32>::from_vec(vec![0.0, 10.0], &[2])?;
    /// let y = x.conv2d(&w, Some(&b), &Conv2dParams::default())?;
    /// assert_eq!(y.shape(), &[1, 2, 2, 2]);
    /// assert_eq!(y.to_vec(), vec![9.0, 9.0, 9.0, 9.0, 19.0, 19.0, 19.0, 19.0]);
    ///
    /// // Zero padding: the corner sees 4 ones; replicate padding first: 9.
    /// let p = Conv2dParams::default().with_padding(Padding::Same);
    /// let w1 = Tensor::<f32>::ones(&[1, 1, 3, 3]);
    /// assert_eq!(x.conv2d(&w1, None, &p)?.to_vec()[0], 4.0);
    /// let replicated = x.pad(&[1, 1, 1, 1], PadMode::Replicate)?;
    /// let valid = p.with_padding(Padding::Valid);
    /// assert_eq!(replicated.conv2d(&w1, None, &valid)?.to_vec()[0], 9.0);
    ///
    /// // An unbatched [C, H, W] input gives an unbatched output.
    /// assert_eq!(x.reshape(&[1, 4, 4])?.conv2d(&w, Some(&b), &Conv2dParams::default())?.shape(), &[2, 2, 2]);
    ///
    /// // Channel mismatch.
    /// let x3 = Tensor::<f32>::randn(&[8, 3, 28, 28], &mut seeded_rng(0));
    /// let w16 = Tensor::<f32>::zeros(&[16, 1, 3, 3]);
    /// assert_eq!(
    ///     x3.conv2d(&w16, None, &Conv2dParams::default()).unwrap_err().to_string(),
    ///     "conv2d: input has 3 channels but weight expects 1 (input [8, 3, 28, 28], weight [16, 1, 3, 3])"
    /// );
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn conv2d(
        &self,
        weight: &Tensor<T>,
        bias: Option<&Tensor<T>>,
        params: &Conv2dParams,
    ) -> Result<Tensor<T>> {
        const OP: &str = "conv2d";
        let (input, unbatched) = batch_of_one(self, 4)?;
        let plan = ConvPlan::new(OP, input.shape(), weight.shape(), params)?;
        unbatch(conv_forward(OP, &plan, &input, weight, bias)?, unbatched)
    }
}

/// The forward convolution of a validated plan (also conv1d's and conv_transpose2d's input
/// gradient): checks the bias, then im2col + GEMM image by image. Errors name `op`.
pub(super) fn conv_forward<T: Float>(
    op: &'static str,
    plan: &ConvPlan,
    input: &Tensor<T>,
    weight: &Tensor<T>,
    bias: Option<&Tensor<T>>,
) -> Result<Tensor<T>> {
    if let Some(b) = bias
        && b.shape() != [plan.out_channels]
    {
        return Err(TensorError::shape(
            op,
            format!(
                "bias must have shape [{}] (one value per output channel), found {:?}",
                plan.out_channels,
                b.shape()
            ),
        ));
    }
    let out_shape = plan.output_shape();
    let out_len = checked_numel(op, &out_shape)?;
    // Each task writes its images' output rows: the bias first, then the products are
    // added onto it (without a bias the products overwrite the rows).
    let mut out = buffer::for_overwrite(out_len);
    if out_len > 0 {
        let b = bias.map(Tensor::contiguous);
        let bs = b.as_ref().map(|b| b.as_slice().expect("contiguous bias"));
        forward_images(plan, input, weight, bs, &mut out, plan.cols_len(op)?);
    }
    Tensor::from_vec(out, &out_shape)
}

/// `Y_g = W_g · unfold(X)_g (+ b) : [O/g, C/g·kh·kw] × [C/g·kh·kw, oh·ow]` for every image
/// (in parallel) and group, written into `out` (`[N, O, oh, ow]`). With `cols_len == 0`
/// (a pointwise convolution) the input is its own column matrix.
fn forward_images<T: Float>(
    plan: &ConvPlan,
    input: &Tensor<T>,
    weight: &Tensor<T>,
    bias: Option<&[T]>,
    out: &mut [T],
    cols_len: usize,
) {
    let g = plan.geom;
    let (col_rows, out_pixels, out_per_group) = (g.rows(), g.cols(), plan.out_per_group);
    let x = input.contiguous();
    let w = weight.contiguous();
    let xs = x.as_slice().expect("contiguous input");
    let ws = w.as_slice().expect("contiguous weight");
    let (image_len, group_len) = (plan.image_len(), plan.group_len());
    let weight_group_len = plan.weight_group_len();
    let out_group_len = out_per_group * out_pixels;
    out.par_chunks_mut(plan.out_channels * out_pixels)
        .enumerate()
        .for_each_init(
            || Scratch::for_overwrite(cols_len),
            |cols, (img, out_n)| {
                if let Some(bias) = bias {
                    for (row, &bv) in out_n.chunks_exact_mut(out_pixels).zip(bias) {
                        row.fill(bv);
                    }
                }
                let x_n = &xs[img * image_len..(img + 1) * image_len];
                for grp in 0..plan.groups {
                    let x_g = &x_n[grp * group_len..(grp + 1) * group_len];
                    let cols_view = if cols_len == 0 {
                        mat(x_g, col_rows, out_pixels)
                    } else {
                        im2col(x_g, &g, cols);
                        mat(cols, col_rows, out_pixels)
                    };
                    let w_g = &ws[grp * weight_group_len..(grp + 1) * weight_group_len];
                    let out_g = &mut out_n[grp * out_group_len..(grp + 1) * out_group_len];
                    matmul_into(
                        mat(w_g, out_per_group, col_rows),
                        cols_view,
                        mat_mut(out_g, out_per_group, out_pixels),
                        bias.is_some(),
                    );
                }
            },
        );
}
