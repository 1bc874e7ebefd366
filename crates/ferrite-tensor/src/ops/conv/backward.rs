//! The gradients of [`Tensor::conv2d`], one function per input, each dispatching to named
//! strategies. The header of every strategy is the product it computes, per group `g` of
//! channels, with its shapes (`X` the input, `W` the weight, `dY` the output gradient,
//! `unfold` im2col and `fold` col2im).

use std::ops::Range;

use rayon::prelude::*;

use super::im2col::{ColGeometry, col2im, im2col, im2col_strided};
use super::plan::ConvPlan;
use super::{Conv2dParams, batch_of_one, checked_mul, mat, mat_mut, matmul_into, unbatch};
use crate::buffer::{self, Scratch};
use crate::ops::window::Window2d;
use crate::{Float, Result, Tensor, TensorError};

/// The gradients computed by [`conv2d_backward`]; a field is `None` when it was not requested.
///
/// # Shapes
/// - `input`: like the convolution's input, `[N, C, H, W]` (or `[C, H, W]`)
/// - `weight`: like the weight, `[O, C / groups, kh, kw]`
/// - `bias`: `[O]`
///
/// ```
/// use ferrite_tensor::{conv2d_backward, Conv2dParams, Tensor};
/// let x = Tensor::<f64>::ones(&[1, 1, 3, 3]);
/// let w = Tensor::<f64>::ones(&[1, 1, 3, 3]);
/// let gy = Tensor::<f64>::ones(&[1, 1, 1, 1]);
/// let grads = conv2d_backward(&gy, &x, &w, &Conv2dParams::default(), [false, true, true])?;
/// assert!(grads.input.is_none());
/// assert_eq!(grads.weight.unwrap().to_vec(), vec![1.0; 9]);
/// assert_eq!(grads.bias.unwrap().to_vec(), vec![1.0]);
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Conv2dGrads<T: Float> {
    /// Gradient with respect to the input, `[N, C, H, W]`.
    pub input: Option<Tensor<T>>,
    /// Gradient with respect to the weight, `[O, C / groups, kh, kw]`.
    pub weight: Option<Tensor<T>>,
    /// Gradient with respect to the bias, `[O]` (the sum of `grad_output` over `N, oh, ow`).
    pub bias: Option<Tensor<T>>,
}

/// Gradients of [`Tensor::conv2d`] with respect to its input, weight and bias, given the
/// gradient `grad_output` of the output: [`conv2d_input_grad`], [`conv2d_weight_grad`] and
/// [`conv2d_bias_grad`] with the shapes checked once, and the input and weight gradients
/// computed in one parallel pass when both are needed (each chunk of images does both while
/// its data is in cache; the same numbers as the separate functions).
///
/// `needs = [input, weight, bias]` selects which gradients are computed; the others are
/// `None` and cost nothing (the input gradient of a network's first layer is rarely needed
/// and is about a third of the work). Results are bit-identical whatever the number of
/// threads.
///
/// # Shapes
/// - `grad_output`: `[N, O, oh, ow]`, the shape of the convolution's output (`[O, oh, ow]`
///   for an unbatched input)
/// - `input`: `[N, C, H, W]`, or unbatched `[C, H, W]`
/// - `weight`: `[O, C / groups, kh, kw]`
/// - result: see [`Conv2dGrads`]
///
/// # Errors
/// Every error of [`Tensor::conv2d`] (named `conv2d_backward`), and when `grad_output` does
/// not have the output's shape.
///
/// ```
/// use ferrite_tensor::{conv2d_backward, Conv2dParams, Tensor};
/// let x = Tensor::<f64>::from_vec((0..9).map(f64::from).collect(), &[1, 1, 3, 3])?;
/// let w = Tensor::<f64>::ones(&[1, 1, 2, 2]);
/// let gy = Tensor::<f64>::ones(&[1, 1, 2, 2]);
/// let g = conv2d_backward(&gy, &x, &w, &Conv2dParams::default(), [true, true, true])?;
/// // Each input pixel is used by as many windows as cover it.
/// assert_eq!(g.input.unwrap().to_vec(), vec![1.0, 2.0, 1.0, 2.0, 4.0, 2.0, 1.0, 2.0, 1.0]);
/// // Each weight tap sees the sum of a 2x2 block of the input.
/// assert_eq!(g.weight.unwrap().to_vec(), vec![8.0, 12.0, 20.0, 24.0]);
/// assert_eq!(g.bias.unwrap().to_vec(), vec![4.0]);
/// let bad = Tensor::<f64>::ones(&[1, 1, 3, 3]);
/// assert!(conv2d_backward(&bad, &x, &w, &Conv2dParams::default(), [true; 3]).is_err());
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
pub fn conv2d_backward<T: Float>(
    grad_output: &Tensor<T>,
    input: &Tensor<T>,
    weight: &Tensor<T>,
    params: &Conv2dParams,
    needs: [bool; 3],
) -> Result<Conv2dGrads<T>> {
    const OP: &str = "conv2d_backward";
    let (input, unbatched) = batch_of_one(input, 4)?;
    let grad_output = if unbatched {
        batch_of_one(grad_output, 4)?.0
    } else {
        grad_output.clone()
    };
    let plan = ConvPlan::new(OP, input.shape(), weight.shape(), params)?;
    let mut grads = backward_of_plan(OP, &plan, &grad_output, &input, weight, needs)?;
    grads.input = grads.input.map(|g| unbatch(g, unbatched)).transpose()?;
    Ok(grads)
}

/// [`conv2d_backward`] of a validated plan, on batched tensors; errors name `op`.
pub(super) fn backward_of_plan<T: Float>(
    op: &'static str,
    plan: &ConvPlan,
    grad_output: &Tensor<T>,
    input: &Tensor<T>,
    weight: &Tensor<T>,
    needs: [bool; 3],
) -> Result<Conv2dGrads<T>> {
    plan.check_grad_output(op, grad_output.shape())?;
    let [need_input, need_weight, need_bias] = needs;
    let (input, weight) = match (need_input, need_weight) {
        (true, true) => {
            let (gi, gw) = input_and_weight_grad(op, plan, grad_output, input, weight)?;
            (Some(gi), Some(gw))
        }
        (true, false) => (Some(input_grad(op, plan, grad_output, weight)?), None),
        (false, true) => (None, Some(weight_grad(op, plan, grad_output, input)?)),
        (false, false) => (None, None),
    };
    Ok(Conv2dGrads {
        input,
        weight,
        bias: need_bias.then(|| bias_grad(grad_output)),
    })
}

/// The gradient of [`Tensor::conv2d`] with respect to its input.
///
/// # Shapes
/// - `grad_output`: `[N, O, oh, ow]` (`[O, oh, ow]` for an unbatched input)
/// - `weight`: `[O, C / groups, kh, kw]`
/// - `input_shape`: `[N, C, H, W]` or `[C, H, W]`, the shape of the forward input and of the
///   result
///
/// # Errors
/// Every error of [`Tensor::conv2d`] (named `conv2d_input_grad`), and when `grad_output`
/// does not have the output's shape.
///
/// ```
/// use ferrite_tensor::{conv2d_input_grad, Conv2dParams, Tensor};
/// let w = Tensor::<f64>::ones(&[1, 1, 2, 2]);
/// let gy = Tensor::<f64>::ones(&[1, 1, 2, 2]);
/// let gx = conv2d_input_grad(&gy, &w, &[1, 1, 3, 3], &Conv2dParams::default())?;
/// assert_eq!(gx.to_vec(), vec![1.0, 2.0, 1.0, 2.0, 4.0, 2.0, 1.0, 2.0, 1.0]);
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
pub fn conv2d_input_grad<T: Float>(
    grad_output: &Tensor<T>,
    weight: &Tensor<T>,
    input_shape: &[usize],
    params: &Conv2dParams,
) -> Result<Tensor<T>> {
    const OP: &str = "conv2d_input_grad";
    if input_shape.len() == 3 {
        let batched = [&[1], input_shape].concat();
        let go = batch_of_one(grad_output, 4)?.0;
        return conv2d_input_grad(&go, weight, &batched, params)?.squeeze(0);
    }
    let plan = ConvPlan::new(OP, input_shape, weight.shape(), params)?;
    plan.check_grad_output(OP, grad_output.shape())?;
    input_grad(OP, &plan, grad_output, weight)
}

/// The gradient of [`Tensor::conv2d`] with respect to its weight. Results do not depend on
/// the number of threads: the images are split into chunks by their shapes alone and the
/// chunks' partial sums added in order.
///
/// # Shapes
/// - `grad_output`: `[N, O, oh, ow]` (`[O, oh, ow]` for an unbatched input)
/// - `input`: `[N, C, H, W]` or `[C, H, W]`, the forward input
/// - `weight_shape`: `[O, C / groups, kh, kw]`, the shape of the weight and of the result
///
/// # Errors
/// Every error of [`Tensor::conv2d`] (named `conv2d_weight_grad`), and when `grad_output`
/// does not have the output's shape.
///
/// ```
/// use ferrite_tensor::{conv2d_weight_grad, Conv2dParams, Tensor};
/// let x = Tensor::<f64>::from_vec((0..9).map(f64::from).collect(), &[1, 1, 3, 3])?;
/// let gy = Tensor::<f64>::ones(&[1, 1, 2, 2]);
/// let gw = conv2d_weight_grad(&gy, &x, &[1, 1, 2, 2], &Conv2dParams::default())?;
/// assert_eq!(gw.to_vec(), vec![8.0, 12.0, 20.0, 24.0]);
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
pub fn conv2d_weight_grad<T: Float>(
    grad_output: &Tensor<T>,
    input: &Tensor<T>,
    weight_shape: &[usize],
    params: &Conv2dParams,
) -> Result<Tensor<T>> {
    const OP: &str = "conv2d_weight_grad";
    let (input, unbatched) = batch_of_one(input, 4)?;
    let grad_output = if unbatched {
        batch_of_one(grad_output, 4)?.0
    } else {
        grad_output.clone()
    };
    let plan = ConvPlan::new(OP, input.shape(), weight_shape, params)?;
    plan.check_grad_output(OP, grad_output.shape())?;
    weight_grad(OP, &plan, &grad_output, &input)
}

/// The gradient of a convolution with respect to its bias: `grad_output` summed over every
/// dimension but the channels (dimension 1). It does not depend on whether the convolution
/// had a bias.
///
/// # Shapes
/// - `grad_output`: `[N, O, ...]` (`[N, O, oh, ow]` for conv2d)
/// - result: `[O]`
///
/// # Errors
/// When `grad_output` has fewer than 2 dimensions.
///
/// ```
/// use ferrite_tensor::{conv2d_bias_grad, Tensor};
/// let gy = Tensor::<f64>::ones(&[2, 3, 2, 2]);
/// assert_eq!(conv2d_bias_grad(&gy)?.to_vec(), vec![8.0; 3]);
/// assert!(conv2d_bias_grad(&Tensor::<f64>::ones(&[3])).is_err());
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
pub fn conv2d_bias_grad<T: Float>(grad_output: &Tensor<T>) -> Result<Tensor<T>> {
    if grad_output.shape().len() < 2 {
        return Err(TensorError::shape(
            "conv2d_bias_grad",
            format!(
                "expected a grad_output [N, O, ...] with at least 2 dimensions, found shape {:?}",
                grad_output.shape()
            ),
        ));
    }
    Ok(bias_grad(grad_output))
}

/// `db[o] = Σ_{n, pixels} dY[n, o, pixels]` for a `[N, O, ...]` gradient, in parallel over
/// the channels, with eight running sums per channel (in a fixed order, so the result never
/// depends on the threads), which unlike one chain of additions can use SIMD.
pub(super) fn bias_grad<T: Float>(grad_output: &Tensor<T>) -> Tensor<T> {
    let shape = grad_output.shape();
    let (batch, channels) = (shape[0], shape[1]);
    let out_pixels: usize = shape[2..].iter().product();
    let go = grad_output.contiguous();
    let gos = go.as_slice().expect("contiguous grad_output");
    let sums: Vec<T> = (0..channels)
        .into_par_iter()
        .map(|oc| {
            let mut lanes = [T::zero(); 8];
            for img in 0..batch {
                let at = (img * channels + oc) * out_pixels;
                let mut chunks = gos[at..at + out_pixels].chunks_exact(8);
                for c in &mut chunks {
                    for (a, &v) in lanes.iter_mut().zip(c) {
                        *a += v;
                    }
                }
                for (a, &v) in lanes.iter_mut().zip(chunks.remainder()) {
                    *a += v;
                }
            }
            ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3]))
                + ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7]))
        })
        .collect();
    Tensor::from_vec(sums, &[channels]).expect("one sum per output channel")
}

/// How the input gradient of one image and group is computed.
enum InputGradStrategy<T> {
    /// 1x1 kernel, stride 1, no padding: [`input_grad_pointwise`].
    Pointwise,
    /// Stride 1: [`input_grad_flipped`] with this geometry (of the output gradient) and the
    /// flipped weight.
    Flipped(ColGeometry, Vec<T>),
    /// Anything else: [`input_grad_col2im`].
    Col2im,
}

impl<T: Float> InputGradStrategy<T> {
    /// The strategy the plan's shapes call for (`ws` is the contiguous weight) and the
    /// length of the column buffer it needs per image.
    fn choose(op: &'static str, plan: &ConvPlan, ws: &[T]) -> Result<(Self, usize)> {
        let g = &plan.geom;
        Ok(if g.is_pointwise() {
            (InputGradStrategy::Pointwise, 0)
        } else if let Some(flipped) = flipped_geometry(plan) {
            let len = checked_mul(op, flipped.rows(), flipped.cols())?;
            (
                InputGradStrategy::Flipped(flipped, flip_weight(ws, plan)),
                len,
            )
        } else {
            (InputGradStrategy::Col2im, plan.cols_len(op)?)
        })
    }

    /// The input gradient `gi_n` of one image from its output gradient `go_n`, group by
    /// group. `grad_cols` is overwritten entirely (by im2col or a non-accumulating product).
    fn image(&self, plan: &ConvPlan, ws: &[T], go_n: &[T], gi_n: &mut [T], grad_cols: &mut [T]) {
        let out_group_len = plan.out_per_group * plan.geom.cols();
        let (group_len, weight_group_len) = (plan.group_len(), plan.weight_group_len());
        for grp in 0..plan.groups {
            let go_g = &go_n[grp * out_group_len..(grp + 1) * out_group_len];
            let gi_g = &mut gi_n[grp * group_len..(grp + 1) * group_len];
            let w_range = grp * weight_group_len..(grp + 1) * weight_group_len;
            match self {
                InputGradStrategy::Pointwise => {
                    input_grad_pointwise(plan, go_g, &ws[w_range], gi_g)
                }
                InputGradStrategy::Flipped(fg, flipped) => {
                    input_grad_flipped(plan, fg, go_g, &flipped[w_range], grad_cols, gi_g)
                }
                InputGradStrategy::Col2im => {
                    input_grad_col2im(plan, go_g, &ws[w_range], grad_cols, gi_g)
                }
            }
        }
    }
}

/// The input gradient for a validated plan: one task per image, each group by the strategy
/// the shapes call for.
pub(super) fn input_grad<T: Float>(
    op: &'static str,
    plan: &ConvPlan,
    grad_output: &Tensor<T>,
    weight: &Tensor<T>,
) -> Result<Tensor<T>> {
    let image_len = plan.image_len();
    let mut grad_input = buffer::zeros(checked_mul(op, plan.batch, image_len)?);
    let out_image_len = plan.out_channels * plan.geom.cols();
    if image_len > 0 && out_image_len > 0 {
        let go = grad_output.contiguous();
        let gos = go.as_slice().expect("contiguous grad_output");
        let w = weight.contiguous();
        let ws = w.as_slice().expect("contiguous weight");
        let (strategy, grad_cols_len) = InputGradStrategy::choose(op, plan, ws)?;
        grad_input
            .par_chunks_mut(image_len)
            .enumerate()
            .for_each_init(
                || Scratch::for_overwrite(grad_cols_len),
                |grad_cols, (img, gi_n)| {
                    let go_n = &gos[img * out_image_len..(img + 1) * out_image_len];
                    strategy.image(plan, ws, go_n, gi_n, grad_cols);
                },
            );
    }
    Tensor::from_vec(grad_input, &plan.input_shape())
}

/// The input and weight gradients together, in one parallel pass over the weight
/// gradient's chunks of images: each task computes its images' weight-gradient products and
/// then their input gradients, while their output gradients are still in cache. The same
/// products, in the same order, as [`input_grad`] and [`weight_grad`].
fn input_and_weight_grad<T: Float>(
    op: &'static str,
    plan: &ConvPlan,
    grad_output: &Tensor<T>,
    input: &Tensor<T>,
    weight: &Tensor<T>,
) -> Result<(Tensor<T>, Tensor<T>)> {
    let (n, image_len) = (plan.batch, plan.image_len());
    let weight_len = plan.groups * plan.weight_group_len();
    let out_image_len = plan.out_channels * plan.geom.cols();
    if image_len == 0 || weight_len == 0 || n == 0 || out_image_len == 0 {
        // Nothing to share: zeros, or no work at all.
        let input_grad = input_grad(op, plan, grad_output, weight)?;
        return Ok((input_grad, weight_grad(op, plan, grad_output, input)?));
    }
    let mut grad_input = buffer::zeros(checked_mul(op, n, image_len)?);
    let cols_len = plan.cols_len(op)?;
    let schedule = WeightGradSchedule::new(n, weight_len, cols_len, cols_len == 0);
    let [go, x, w] = [grad_output, input, weight].map(Tensor::contiguous);
    let gos = go.as_slice().expect("contiguous grad_output");
    let xs = x.as_slice().expect("contiguous input");
    let ws = w.as_slice().expect("contiguous weight");
    let (strategy, grad_cols_len) = InputGradStrategy::choose(op, plan, ws)?;
    let mut partials = Scratch::zeros(checked_mul(op, schedule.chunks, weight_len)?);
    partials
        .par_chunks_mut(weight_len)
        .zip(grad_input.par_chunks_mut(schedule.per_chunk * image_len))
        .enumerate()
        .for_each(|(chunk, (partial, gi))| {
            let images = schedule.images(chunk, n);
            if cols_len == 0 {
                weight_grad_pointwise(plan, images.clone(), gos, xs, partial);
            } else {
                weight_grad_batched(plan, images.clone(), schedule.batch, gos, xs, partial);
            }
            let mut grad_cols = Scratch::for_overwrite(grad_cols_len);
            for (img, gi_n) in images.zip(gi.chunks_exact_mut(image_len)) {
                let go_n = &gos[img * out_image_len..(img + 1) * out_image_len];
                strategy.image(plan, ws, go_n, gi_n, &mut grad_cols);
            }
        });
    let mut grad_weight = buffer::zeros(weight_len);
    sum_partials_transposed(plan, &partials, &mut grad_weight);
    let [kh, kw] = plan.geom.window.kernel;
    let weight_shape = [plan.out_channels, plan.geom.channels, kh, kw];
    Ok((
        Tensor::from_vec(grad_input, &plan.input_shape())?,
        Tensor::from_vec(grad_weight, &weight_shape)?,
    ))
}

/// `dX_g = W_gᵀ · dY_g : [C/g, O/g] × [O/g, H·W]`, for a 1x1 kernel with stride 1 and no
/// padding, where the output pixels are the input pixels.
fn input_grad_pointwise<T: Float>(plan: &ConvPlan, go_g: &[T], w_g: &[T], gi_g: &mut [T]) {
    let (col_rows, out_pixels) = (plan.geom.rows(), plan.geom.cols());
    let w_g = mat(w_g, plan.out_per_group, col_rows);
    let go_g = mat(go_g, plan.out_per_group, out_pixels);
    matmul_into(w_g.t(), go_g, mat_mut(gi_g, col_rows, out_pixels), false);
}

/// `dX_g = flip(W)_g · unfold(dY)_g : [C/g, O/g·kh·kw] × [O/g·kh·kw, H·W]`, for stride 1.
///
/// With stride 1 the input gradient is itself a convolution: of the output gradient,
/// padded by `dilation * (k - 1) - padding`, with the kernel flipped and its channel axes
/// swapped. That is one product with a long inner dimension (`O/g·kh·kw`) written straight
/// into the input gradient, instead of a product with a short one (`O/g`) followed by a
/// scatter ([`input_grad_col2im`]).
fn input_grad_flipped<T: Float>(
    plan: &ConvPlan,
    flipped: &ColGeometry,
    go_g: &[T],
    flipped_w_g: &[T],
    grad_cols: &mut [T],
    gi_g: &mut [T],
) {
    let (col_rows, in_pixels) = (flipped.rows(), flipped.cols());
    let in_per_group = plan.geom.channels;
    im2col(go_g, flipped, grad_cols);
    matmul_into(
        mat(flipped_w_g, in_per_group, col_rows),
        mat(grad_cols, col_rows, in_pixels),
        mat_mut(gi_g, in_per_group, in_pixels),
        false,
    );
}

/// `dX_g = fold(W_gᵀ · dY_g) : [C/g·kh·kw, O/g] × [O/g, oh·ow]`, then col2im adds each
/// column back onto the input pixels it was read from. Used for strided convolutions.
fn input_grad_col2im<T: Float>(
    plan: &ConvPlan,
    go_g: &[T],
    w_g: &[T],
    grad_cols: &mut [T],
    gi_g: &mut [T],
) {
    let (col_rows, out_pixels) = (plan.geom.rows(), plan.geom.cols());
    let w_g = mat(w_g, plan.out_per_group, col_rows);
    let go_g = mat(go_g, plan.out_per_group, out_pixels);
    matmul_into(
        w_g.t(),
        go_g,
        mat_mut(grad_cols, col_rows, out_pixels),
        false,
    );
    col2im(grad_cols, &plan.geom, gi_g);
}

/// The geometry of [`input_grad_flipped`]'s convolution of the output gradient (`O/g`
/// channels of `[oh, ow]`, giving `[H, W]`), when the plan allows it: stride 1 and a
/// padding no larger than the dilated kernel's reach (`dilation * (k - 1)`); a pointwise
/// plan uses [`input_grad_pointwise`] instead.
fn flipped_geometry(plan: &ConvPlan) -> Option<ColGeometry> {
    let g = &plan.geom;
    let w = &g.window;
    let reach = [0, 1].map(|dim| w.dilation[dim] * (w.kernel[dim] - 1));
    let fits = (0..2).all(|dim| w.padding[dim][0] <= reach[dim]);
    if g.is_pointwise() || w.stride != [1, 1] || !fits {
        return None;
    }
    let padding = [0, 1].map(|dim| w.padding[dim].map(|p| reach[dim].saturating_sub(p)));
    Some(ColGeometry {
        channels: plan.out_per_group,
        input: g.output,
        output: g.input,
        window: Window2d::new(w.kernel)
            .with_dilation(w.dilation)
            .with_padding(padding),
    })
}

/// The weight rearranged for [`input_grad_flipped`]: per group `[C/g, O/g·kh·kw]`, tap
/// `(a, b)` of output channel `o` for input channel `c` holding `W[o, c, kh - 1 - a, kw - 1 - b]`.
fn flip_weight<T: Float>(ws: &[T], plan: &ConvPlan) -> Vec<T> {
    let taps = plan.geom.window.kernel[0] * plan.geom.window.kernel[1];
    let (in_per_group, out_per_group) = (plan.geom.channels, plan.out_per_group);
    let mut flipped = Vec::with_capacity(ws.len());
    for grp in 0..plan.groups {
        for c in 0..in_per_group {
            for oc in 0..out_per_group {
                let src = ((grp * out_per_group + oc) * in_per_group + c) * taps;
                flipped.extend(ws[src..src + taps].iter().rev());
            }
        }
    }
    flipped
}

/// At most this many elements of per-chunk partial weight gradients are held at once.
pub(super) const WEIGHT_PARTIALS_BUDGET: usize = 1 << 24;
/// At most this many chunks of images (the parallelism of the weight gradient).
pub(super) const MAX_CHUNKS: usize = 64;
/// At most this many elements in the column matrix of a batch of images whose weight
/// gradients are one product (512 KiB of `f32`, so that it stays in a core's L2 cache).
const BATCH_COLS_BUDGET: usize = 1 << 17;
/// At most this many images in such a batch.
const MAX_BATCH: usize = 16;
/// Batches are made small enough to give at least this many chunks (when there are images
/// enough), so that small batches still spread over the threads.
const MIN_TASKS: usize = 8;

/// How many chunks the `n` images are split into at most for the weight gradient, whose
/// partial sums (`weight_len` elements each) are then added in chunk order.
pub(super) fn weight_grad_chunks(n: usize, weight_len: usize) -> usize {
    let by_memory = (WEIGHT_PARTIALS_BUDGET / weight_len.max(1)).max(1);
    n.min(MAX_CHUNKS).min(by_memory)
}

/// How the images are split for the weight gradient. Depends only on the shapes, never on
/// the number of threads, so results are reproducible bit for bit.
#[derive(Debug, Clone, Copy)]
struct WeightGradSchedule {
    /// Images per chunk (one parallel task with its own partial sum); the last may have
    /// fewer.
    per_chunk: usize,
    /// Number of chunks.
    chunks: usize,
    /// Images whose products are computed as one, their columns side by side
    /// (`[C/g·kh·kw, batch·oh·ow]`): a long inner dimension that still fits the cache.
    batch: usize,
}

impl WeightGradSchedule {
    fn new(batch_size: usize, weight_len: usize, cols_len: usize, pointwise: bool) -> Self {
        let chunks = weight_grad_chunks(batch_size, weight_len);
        let batch = if pointwise {
            1
        } else {
            let fit = (BATCH_COLS_BUDGET / cols_len.max(1))
                .min(MAX_BATCH)
                .min(batch_size / MIN_TASKS)
                .max(1);
            1 << fit.ilog2()
        };
        let per_chunk = batch_size.div_ceil(chunks).max(batch);
        WeightGradSchedule {
            per_chunk,
            chunks: batch_size.div_ceil(per_chunk),
            batch,
        }
    }

    /// The images of chunk `chunk`.
    fn images(&self, chunk: usize, batch_size: usize) -> Range<usize> {
        chunk * self.per_chunk..((chunk + 1) * self.per_chunk).min(batch_size)
    }
}

/// The weight gradient for a validated plan: each chunk of images adds its products into
/// its own partial sum, then the partial sums are added in chunk order.
///
/// The partial sums are kept transposed per group, `[C/g·kh·kw, O/g]`: computing
/// `dW_gᵀ = unfold(X)_g · dY_gᵀ` writes an output whose rows are the short output-channel
/// axis, which the GEMM does markedly faster than `dW_g = dY_g · unfold(X)_gᵀ` (about 1.5x
/// for 32 images of 64 channels of 32x32 into 64 channels with 3x3 kernels).
pub(super) fn weight_grad<T: Float>(
    op: &'static str,
    plan: &ConvPlan,
    grad_output: &Tensor<T>,
    input: &Tensor<T>,
) -> Result<Tensor<T>> {
    let g = plan.geom;
    let weight_len = plan.groups * plan.weight_group_len();
    let mut grad_weight = buffer::zeros(weight_len);
    let n = plan.batch;
    if weight_len > 0 && n > 0 && g.cols() > 0 {
        let cols_len = plan.cols_len(op)?;
        let pointwise = cols_len == 0;
        let schedule = WeightGradSchedule::new(n, weight_len, cols_len, pointwise);
        let go = grad_output.contiguous();
        let gos = go.as_slice().expect("contiguous grad_output");
        let x = input.contiguous();
        let xs = x.as_slice().expect("contiguous input");
        let mut partials = Scratch::zeros(checked_mul(op, schedule.chunks, weight_len)?);
        partials
            .par_chunks_mut(weight_len)
            .enumerate()
            .for_each(|(chunk, partial)| {
                let images = schedule.images(chunk, n);
                if pointwise {
                    weight_grad_pointwise(plan, images, gos, xs, partial);
                } else {
                    weight_grad_batched(plan, images, schedule.batch, gos, xs, partial);
                }
            });
        sum_partials_transposed(plan, &partials, &mut grad_weight);
    }
    let [kh, kw] = g.window.kernel;
    Tensor::from_vec(grad_weight, &[plan.out_channels, g.channels, kh, kw])
}

/// `dW_gᵀ += X_g · dY_gᵀ : [C/g, H·W] × [H·W, O/g]` for each image of `images`, for a 1x1
/// kernel with stride 1 and no padding (the input is its own column matrix).
fn weight_grad_pointwise<T: Float>(
    plan: &ConvPlan,
    images: Range<usize>,
    gos: &[T],
    xs: &[T],
    partial: &mut [T],
) {
    let (col_rows, out_pixels, out_per_group) =
        (plan.geom.rows(), plan.geom.cols(), plan.out_per_group);
    let (image_len, group_len) = (plan.image_len(), plan.group_len());
    let out_image_len = plan.out_channels * out_pixels;
    for img in images {
        let go_n = &gos[img * out_image_len..(img + 1) * out_image_len];
        for grp in 0..plan.groups {
            let go_g = &go_n[grp * out_per_group * out_pixels..][..out_per_group * out_pixels];
            let x_g = &xs[img * image_len + grp * group_len..][..group_len];
            let gwt_g = &mut partial[grp * plan.weight_group_len()..][..plan.weight_group_len()];
            matmul_into(
                mat(x_g, col_rows, out_pixels),
                mat(go_g, out_per_group, out_pixels).t(),
                mat_mut(gwt_g, col_rows, out_per_group),
                true,
            );
        }
    }
}

/// `dW_gᵀ += unfold(X)_g · dY_gᵀ : [C/g·kh·kw, B·oh·ow] × [B·oh·ow, O/g]` for the images of
/// `images`, `B = batch` at a time: their columns and output gradients side by side make
/// the product's inner dimension long.
fn weight_grad_batched<T: Float>(
    plan: &ConvPlan,
    images: Range<usize>,
    batch: usize,
    gos: &[T],
    xs: &[T],
    partial: &mut [T],
) {
    let g = &plan.geom;
    let (col_rows, out_pixels, out_per_group) = (g.rows(), g.cols(), plan.out_per_group);
    let (image_len, group_len) = (plan.image_len(), plan.group_len());
    let out_image_len = plan.out_channels * out_pixels;
    // Both are overwritten before they are read.
    let mut go_batch = Scratch::for_overwrite(plan.out_channels * batch * out_pixels);
    let mut cols_batch = Scratch::for_overwrite(col_rows * batch * out_pixels);
    for start in images.clone().step_by(batch) {
        let sub = start..(start + batch).min(images.end);
        let batch_pixels = sub.len() * out_pixels;
        // The output gradients of the batch side by side: [O, batch * oh * ow].
        for (j, img) in sub.clone().enumerate() {
            let go_n = &gos[img * out_image_len..(img + 1) * out_image_len];
            for (oc, row) in go_n.chunks_exact(out_pixels).enumerate() {
                go_batch[oc * batch_pixels + j * out_pixels..][..out_pixels].copy_from_slice(row);
            }
        }
        for grp in 0..plan.groups {
            for (j, img) in sub.clone().enumerate() {
                let x_g = &xs[img * image_len + grp * group_len..][..group_len];
                im2col_strided(x_g, g, &mut cols_batch[j * out_pixels..], batch_pixels);
            }
            let go_g =
                &go_batch[grp * out_per_group * batch_pixels..][..out_per_group * batch_pixels];
            let gwt_g = &mut partial[grp * plan.weight_group_len()..][..plan.weight_group_len()];
            matmul_into(
                mat(
                    &cols_batch[..col_rows * batch_pixels],
                    col_rows,
                    batch_pixels,
                ),
                mat(go_g, out_per_group, batch_pixels).t(),
                mat_mut(gwt_g, col_rows, out_per_group),
                true,
            );
        }
    }
}

/// `dW_g = Σ_chunks (dW_gᵀ)ᵀ : [O/g, C/g·kh·kw]`: adds the partial sums in chunk order,
/// reading each group's transposed `[C/g·kh·kw, O/g]` partial into the weight's layout
/// (in parallel over the weight's rows).
fn sum_partials_transposed<T: Float>(plan: &ConvPlan, partials: &[T], grad_weight: &mut [T]) {
    let (col_rows, out_per_group) = (plan.geom.rows(), plan.out_per_group);
    if col_rows == 0 {
        return;
    }
    let weight_group_len = plan.weight_group_len();
    let weight_len = plan.groups * weight_group_len;
    let rows_per_task = (4096 / col_rows).max(1);
    grad_weight
        .par_chunks_mut(col_rows)
        .enumerate()
        .with_min_len(rows_per_task)
        .for_each(|(row, dst)| {
            let (grp, oc) = (row / out_per_group, row % out_per_group);
            for partial in partials.chunks_exact(weight_len) {
                let part_g = &partial[grp * weight_group_len..(grp + 1) * weight_group_len];
                for (tap, d) in dst.iter_mut().enumerate() {
                    *d += part_g[tap * out_per_group + oc];
                }
            }
        });
}
