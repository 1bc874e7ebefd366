//! 2-D convolution: parameters, output-size arithmetic, forward and backward kernels.
//!
//! The kernels follow PyTorch's `nn.Conv2d` / `F.conv2d` exactly (stride, padding, dilation,
//! groups, bias, padding modes) and are built as im2col + GEMM: for each image and group the
//! receptive fields are unrolled into a column matrix `[C/groups * kh * kw, oh * ow]` and
//! multiplied by the weight matrix with [`crate::gemm::gemm_serial`]. Images are processed in
//! parallel with `rayon`; every reduction across images is done in a fixed order, so the
//! results are bit-identical whatever the number of threads.

use ndarray::{ArrayView2, ArrayViewMut2};
use rayon::prelude::*;

use crate::buffer::{self, Scratch};
use crate::checked_numel;
use crate::gemm::gemm_serial;
use crate::{Float, Result, Tensor, TensorError};

mod im2col;
#[cfg(test)]
mod tests;

use im2col::{ColGeometry, col2im, im2col, im2col_strided};

/// How much zero (or mode) padding a convolution adds, like PyTorch's `padding=` argument.
///
/// ```
/// use ferrite_tensor::Padding;
/// let p = Padding::Explicit([1, 1]);
/// assert_ne!(p, Padding::Same);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Padding {
    /// `[ph, pw]` added on both sides of each spatial dimension.
    Explicit([usize; 2]),
    /// PyTorch's `"same"`: output size equals input size (stride must be 1); an odd total
    /// padding puts the extra row/column at the bottom/right.
    Same,
    /// PyTorch's `"valid"`: no padding.
    Valid,
}

/// What the padded border holds, like PyTorch's `padding_mode=`.
///
/// ```
/// use ferrite_tensor::PaddingMode;
/// assert_eq!(PaddingMode::default(), PaddingMode::Zeros);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PaddingMode {
    /// Zeros (the default).
    #[default]
    Zeros,
    /// Mirror without repeating the edge: `[a b c]` padded by 1 gives `[b a b c b]`.
    Reflect,
    /// Repeat the edge: `[a b c]` padded by 1 gives `[a a b c c]`.
    Replicate,
    /// Wrap around: `[a b c]` padded by 1 gives `[c a b c a]`.
    Circular,
}

/// The hyper-parameters of a 2-D convolution, with PyTorch's defaults.
///
/// ```
/// use ferrite_tensor::{Conv2dParams, Padding};
/// let p = Conv2dParams::default().with_stride([2, 2]).with_padding(Padding::Explicit([1, 1]));
/// assert_eq!(p.stride, [2, 2]);
/// assert_eq!(p.groups, 1);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conv2dParams {
    /// Step of the sliding window, `[sh, sw]` (default `[1, 1]`).
    pub stride: [usize; 2],
    /// Padding (default `Explicit([0, 0])`).
    pub padding: Padding,
    /// Spacing between kernel taps, `[dh, dw]` (default `[1, 1]`).
    pub dilation: [usize; 2],
    /// Number of blocked connections from input to output channels (default 1).
    pub groups: usize,
    /// What the padded border holds (default zeros).
    pub padding_mode: PaddingMode,
}

impl Default for Conv2dParams {
    fn default() -> Self {
        Conv2dParams {
            stride: [1, 1],
            padding: Padding::Explicit([0, 0]),
            dilation: [1, 1],
            groups: 1,
            padding_mode: PaddingMode::Zeros,
        }
    }
}

impl Conv2dParams {
    /// Sets the stride.
    pub fn with_stride(mut self, stride: [usize; 2]) -> Self {
        self.stride = stride;
        self
    }
    /// Sets the padding.
    pub fn with_padding(mut self, padding: Padding) -> Self {
        self.padding = padding;
        self
    }
    /// Sets the dilation.
    pub fn with_dilation(mut self, dilation: [usize; 2]) -> Self {
        self.dilation = dilation;
        self
    }
    /// Sets the number of groups.
    pub fn with_groups(mut self, groups: usize) -> Self {
        self.groups = groups;
        self
    }
    /// Sets the padding mode.
    pub fn with_padding_mode(mut self, padding_mode: PaddingMode) -> Self {
        self.padding_mode = padding_mode;
        self
    }
}

impl Conv2dParams {
    /// The padding actually applied for a kernel of size `kernel = [kh, kw]`, as
    /// `[top, bottom, left, right]`.
    ///
    /// `Explicit([ph, pw])` gives `[ph, ph, pw, pw]` and `Valid` gives zeros. `Same` pads a
    /// total of `dilation * (kernel - 1)` per dimension, `total / 2` before and the rest after
    /// (the extra row/column goes to the bottom/right), exactly like PyTorch.
    ///
    /// # Shapes
    /// - `kernel`: `[kh, kw]`
    /// - result: `[top, bottom, left, right]`
    ///
    /// # Errors
    /// When the stride or dilation has a zero, or `Same` is combined with a stride other than
    /// 1 (PyTorch: "padding='same' is not supported for strided convolutions").
    ///
    /// ```
    /// use ferrite_tensor::{Conv2dParams, Padding};
    /// let same = Conv2dParams::default().with_padding(Padding::Same);
    /// assert_eq!(same.resolve_padding([3, 4])?, [1, 1, 1, 2]);
    /// let dilated = same.with_dilation([2, 1]);
    /// assert_eq!(dilated.resolve_padding([3, 3])?, [2, 2, 1, 1]);
    /// let explicit = Conv2dParams::default().with_padding(Padding::Explicit([1, 2]));
    /// assert_eq!(explicit.resolve_padding([3, 3])?, [1, 1, 2, 2]);
    /// assert!(same.with_stride([2, 2]).resolve_padding([3, 3]).is_err());
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn resolve_padding(&self, kernel: [usize; 2]) -> Result<[usize; 4]> {
        self.resolve_padding_for("conv2d", kernel)
    }

    /// The output size `[oh, ow]` of a convolution of an `input_hw = [h, w]` input by a
    /// `kernel = [kh, kw]` kernel: per dimension
    /// `floor((h + pad_before + pad_after - dilation * (k - 1) - 1) / stride) + 1`.
    ///
    /// # Shapes
    /// - `input_hw`: `[h, w]` (before padding)
    /// - `kernel`: `[kh, kw]`
    /// - result: `[oh, ow]`
    ///
    /// # Errors
    /// When the stride or dilation has a zero, the kernel has a zero size, `Same` padding is
    /// used with a stride other than 1, the dilated kernel is larger than the padded input, or
    /// a size overflows `usize`. The messages name `conv2d`.
    ///
    /// ```
    /// use ferrite_tensor::{Conv2dParams, Padding};
    /// let p = Conv2dParams::default().with_stride([2, 2]);
    /// assert_eq!(p.output_size([9, 9], [3, 3])?, [4, 4]);
    /// let p = Conv2dParams::default().with_padding(Padding::Explicit([1, 0])).with_dilation([2, 2]);
    /// assert_eq!(p.output_size([7, 8], [3, 3])?, [5, 4]);
    /// let err = Conv2dParams::default().output_size([2, 2], [3, 3]).unwrap_err();
    /// assert!(err.to_string().starts_with("conv2d: "));
    /// assert!(Conv2dParams::default().with_stride([0, 1]).output_size([5, 5], [3, 3]).is_err());
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn output_size(&self, input_hw: [usize; 2], kernel: [usize; 2]) -> Result<[usize; 2]> {
        self.output_size_for("conv2d", input_hw, kernel)
    }

    /// Refuses a zero stride or dilation.
    fn check_stride_dilation(&self, op: &'static str) -> Result<()> {
        if self.stride.contains(&0) {
            return Err(TensorError::invalid(
                op,
                format!("stride must be positive, found {:?}", self.stride),
            ));
        }
        if self.dilation.contains(&0) {
            return Err(TensorError::invalid(
                op,
                format!("dilation must be positive, found {:?}", self.dilation),
            ));
        }
        Ok(())
    }

    /// [`Conv2dParams::resolve_padding`] with errors naming `op`.
    fn resolve_padding_for(&self, op: &'static str, kernel: [usize; 2]) -> Result<[usize; 4]> {
        self.check_stride_dilation(op)?;
        match self.padding {
            Padding::Explicit([ph, pw]) => Ok([ph, ph, pw, pw]),
            Padding::Valid => Ok([0; 4]),
            Padding::Same => {
                if self.stride != [1, 1] {
                    return Err(TensorError::invalid(
                        op,
                        format!(
                            "padding='same' is not supported for strided convolutions (stride {:?})",
                            self.stride
                        ),
                    ));
                }
                let mut pad = [0; 4];
                for i in 0..2 {
                    let total = self.dilation[i]
                        .checked_mul(kernel[i].saturating_sub(1))
                        .ok_or_else(|| {
                            TensorError::invalid(
                                op,
                                format!(
                                    "kernel {kernel:?} with dilation {:?} is too large",
                                    self.dilation
                                ),
                            )
                        })?;
                    pad[2 * i] = total / 2;
                    pad[2 * i + 1] = total - total / 2;
                }
                Ok(pad)
            }
        }
    }

    /// [`Conv2dParams::output_size`] with errors naming `op`.
    fn output_size_for(
        &self,
        op: &'static str,
        input_hw: [usize; 2],
        kernel: [usize; 2],
    ) -> Result<[usize; 2]> {
        self.check_stride_dilation(op)?;
        if kernel.contains(&0) {
            return Err(TensorError::invalid(
                op,
                format!("kernel size must be positive, found {kernel:?}"),
            ));
        }
        let pad = self.resolve_padding_for(op, kernel)?;
        let overflow = || {
            TensorError::invalid(
                op,
                format!(
                    "sizes overflow: input {input_hw:?}, kernel {kernel:?}, padding {pad:?}, dilation {:?}",
                    self.dilation
                ),
            )
        };
        let mut padded = [0; 2];
        let mut span = [0; 2];
        for i in 0..2 {
            padded[i] = input_hw[i]
                .checked_add(pad[2 * i])
                .and_then(|v| v.checked_add(pad[2 * i + 1]))
                .ok_or_else(overflow)?;
            span[i] = self.dilation[i]
                .checked_mul(kernel[i] - 1)
                .and_then(|v| v.checked_add(1))
                .ok_or_else(overflow)?;
        }
        if span[0] > padded[0] || span[1] > padded[1] {
            return Err(TensorError::shape(
                op,
                format!(
                    "kernel {kernel:?} (spanning {span:?} with dilation {:?}) is larger than the padded input {padded:?} (input {input_hw:?}, padding [top, bottom, left, right] {pad:?})",
                    self.dilation
                ),
            ));
        }
        Ok([
            (padded[0] - span[0]) / self.stride[0] + 1,
            (padded[1] - span[1]) / self.stride[1] + 1,
        ])
    }
}

/// `a * b`, or an error naming `op` when the product overflows `usize`.
fn checked_mul(op: &'static str, a: usize, b: usize) -> Result<usize> {
    a.checked_mul(b)
        .ok_or_else(|| TensorError::invalid(op, format!("size {a} x {b} overflows")))
}

/// Everything a convolution kernel needs to know, validated once.
#[derive(Debug, Clone, Copy)]
struct ConvPlan {
    /// Batch size.
    n: usize,
    /// Input channels.
    c: usize,
    /// Input height and width, before any padding.
    hw: [usize; 2],
    /// Output channels.
    o: usize,
    /// Groups.
    groups: usize,
    /// Output channels per group.
    og: usize,
    /// Resolved padding `[top, bottom, left, right]`.
    pad: [usize; 4],
    /// `Some(mode)` when the input is padded explicitly with [`pad2d`] (a non-zero padding
    /// mode with a non-zero padding) before a convolution without padding.
    explicit: Option<PaddingMode>,
    /// The per-group geometry the kernels see (on the explicitly padded input, if any).
    geom: ColGeometry,
}

impl ConvPlan {
    /// Validates shapes and parameters of a convolution of `input` by `weight`.
    fn new(
        op: &'static str,
        input: &[usize],
        weight: &[usize],
        params: &Conv2dParams,
    ) -> Result<ConvPlan> {
        let &[n, c, h, w] = input else {
            return Err(TensorError::shape(
                op,
                format!("expected a 4-D input [N, C, H, W], found shape {input:?}"),
            ));
        };
        let &[o, wc, kh, kw] = weight else {
            return Err(TensorError::shape(
                op,
                format!(
                    "expected a 4-D weight [out_channels, in_channels / groups, kh, kw], found shape {weight:?}"
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
        if o % groups != 0 {
            return Err(TensorError::invalid(
                op,
                format!("groups={groups} must divide the {o} output channels (weight {weight:?})"),
            ));
        }
        if c % groups != 0 {
            return Err(TensorError::invalid(
                op,
                format!("groups={groups} must divide the {c} input channels (input {input:?})"),
            ));
        }
        if wc.checked_mul(groups) != Some(c) {
            let expects = match wc.checked_mul(groups) {
                Some(e) => e.to_string(),
                None => format!("{wc} x {groups}"),
            };
            let groups_note = if groups > 1 {
                format!(", groups={groups}")
            } else {
                String::new()
            };
            return Err(TensorError::shape(
                op,
                format!(
                    "input has {c} channels but weight expects {expects} (input {input:?}, weight {weight:?}{groups_note})"
                ),
            ));
        }
        let [oh, ow] = params.output_size_for(op, [h, w], [kh, kw])?;
        let pad = params.resolve_padding_for(op, [kh, kw])?;
        let explicit = (params.padding_mode != PaddingMode::Zeros && pad != [0; 4])
            .then_some(params.padding_mode);
        let geom = if let Some(mode) = explicit {
            check_pad(op, [h, w], pad, mode)?;
            // Cannot overflow: output_size_for checked these sums.
            let (hp, wp) = (h + pad[0] + pad[1], w + pad[2] + pad[3]);
            // The kernels read the padded input, which must fit in memory.
            checked_numel(op, &[n, c, hp, wp]).map_err(|_| {
                TensorError::invalid(
                    op,
                    format!(
                        "{} padding {pad:?} (top, bottom, left, right) of input {input:?} gives \
                         a padded input [{n}, {c}, {hp}, {wp}] with more elements than memory \
                         can hold",
                        format!("{mode:?}").to_lowercase()
                    ),
                )
            })?;
            ColGeometry {
                c: wc,
                h: hp,
                w: wp,
                kh,
                kw,
                sh: params.stride[0],
                sw: params.stride[1],
                dh: params.dilation[0],
                dw: params.dilation[1],
                pt: 0,
                pl: 0,
                oh,
                ow,
            }
        } else {
            ColGeometry {
                c: wc,
                h,
                w,
                kh,
                kw,
                sh: params.stride[0],
                sw: params.stride[1],
                dh: params.dilation[0],
                dw: params.dilation[1],
                pt: pad[0],
                pl: pad[2],
                oh,
                ow,
            }
        };
        Ok(ConvPlan {
            n,
            c,
            hw: [h, w],
            o,
            groups,
            og: o / groups,
            pad,
            explicit,
            geom,
        })
    }

    /// The output shape `[N, O, oh, ow]`.
    fn output_shape(&self) -> [usize; 4] {
        [self.n, self.o, self.geom.oh, self.geom.ow]
    }

    /// The input the kernels read: padded with the padding mode if needed, contiguous.
    fn prepare_input<T: Float>(&self, input: &Tensor<T>) -> Tensor<T> {
        match self.explicit {
            Some(mode) => pad2d_unchecked(input, self.pad, mode),
            None => input.contiguous(),
        }
    }

    /// Elements of one image of the (padded) input the kernels read: `C * h * w`.
    fn image_len(&self) -> usize {
        self.c * self.geom.h * self.geom.w
    }

    /// Elements of one group of one image of that input: `C/groups * h * w`.
    fn group_len(&self) -> usize {
        self.geom.c * self.geom.h * self.geom.w
    }

    /// The size of the column buffer of one image and group (0 for pointwise convolutions,
    /// which use the input directly).
    fn cols_len(&self, op: &'static str) -> Result<usize> {
        if self.geom.is_pointwise() {
            Ok(0)
        } else {
            checked_mul(op, self.geom.rows(), self.geom.cols())
        }
    }
}

/// A row-major `[rows, cols]` view of `data` (which must hold exactly that many elements).
fn mat<T>(data: &[T], rows: usize, cols: usize) -> ArrayView2<'_, T> {
    ArrayView2::from_shape((rows, cols), data).expect("buffer matches the matrix shape")
}

/// A mutable row-major `[rows, cols]` view of `data`.
fn mat_mut<T>(data: &mut [T], rows: usize, cols: usize) -> ArrayViewMut2<'_, T> {
    ArrayViewMut2::from_shape((rows, cols), data).expect("buffer matches the matrix shape")
}

/// [`gemm_serial`], with an empty inner dimension handled here (`c = 0`, or unchanged when
/// accumulating).
fn matmul_into<T: Float>(
    a: ArrayView2<T>,
    b: ArrayView2<T>,
    mut c: ArrayViewMut2<T>,
    accumulate: bool,
) {
    if a.ncols() == 0 {
        if !accumulate {
            c.fill(T::zero());
        }
        return;
    }
    gemm_serial(a, b, c, accumulate);
}

impl<T: Float> Tensor<T> {
    /// 2-D convolution (really cross-correlation) like `torch.nn.functional.conv2d`, with
    /// `nn.Conv2d`'s `padding_mode`.
    ///
    /// `out[n, o, y, x] = bias[o] + sum over c in group(o), ki, kj of
    /// weight[o, c, ki, kj] * padded[n, c, y * sh + ki * dh, x * sw + kj * dw]`,
    /// where output channel block `g` (of `O / groups` channels) reads input channel block
    /// `g` (of `C / groups` channels). With a padding mode other than zeros the input is first
    /// padded with [`pad2d`] and the convolution itself uses no padding, as in PyTorch.
    ///
    /// # Shapes
    /// - `self` (input): `[N, C, H, W]`
    /// - `weight`: `[O, C / groups, kh, kw]`
    /// - `bias`: `[O]`
    /// - result: `[N, O, oh, ow]` with `[oh, ow]` = [`Conv2dParams::output_size`]
    ///
    /// # Errors
    /// When the input or weight is not 4-D; `groups` is 0 or does not divide the input and
    /// output channels; the input channels differ from `weight.shape()[1] * groups`; the bias
    /// is not `[O]`; the stride or dilation has a zero or the kernel a zero size; `Same` is used
    /// with a stride other than 1; the dilated kernel is larger than the padded input;
    /// `Reflect` padding is not smaller than the input (or `Circular` padding larger than it,
    /// or `Replicate` padding of an empty dimension).
    ///
    /// ```
    /// use ferrite_tensor::{seeded_rng, Conv2dParams, Padding, PaddingMode, Tensor};
    /// let x = Tensor::<f32>::ones(&[1, 1, 4, 4]);
    /// let w = Tensor::<f32>::ones(&[2, 1, 3, 3]);
    /// let b = Tensor::<f32>::from_vec(vec![0.0, 10.0], &[2])?;
    /// let y = x.conv2d(&w, Some(&b), &Conv2dParams::default())?;
    /// assert_eq!(y.shape(), &[1, 2, 2, 2]);
    /// assert_eq!(y.to_vec(), vec![9.0, 9.0, 9.0, 9.0, 19.0, 19.0, 19.0, 19.0]);
    ///
    /// // Zero padding: the corner sees 4 ones; replicate padding: 9.
    /// let p = Conv2dParams::default().with_padding(Padding::Same);
    /// let w1 = Tensor::<f32>::ones(&[1, 1, 3, 3]);
    /// assert_eq!(x.conv2d(&w1, None, &p)?.to_vec()[0], 4.0);
    /// let p = p.with_padding_mode(PaddingMode::Replicate);
    /// assert_eq!(x.conv2d(&w1, None, &p)?.to_vec()[0], 9.0);
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
        let plan = ConvPlan::new(OP, self.shape(), weight.shape(), params)?;
        if let Some(b) = bias
            && b.shape() != [plan.o]
        {
            return Err(TensorError::shape(
                OP,
                format!(
                    "bias must have shape [{}] (one value per output channel), found {:?}",
                    plan.o,
                    b.shape()
                ),
            ));
        }
        let out_shape = plan.output_shape();
        let out_len = checked_numel(OP, &out_shape)?;
        let b = bias.map(Tensor::contiguous);
        let bs = b.as_ref().map(|b| b.as_slice().expect("contiguous bias"));
        let g = plan.geom;
        let (k, l, og) = (g.rows(), g.cols(), plan.og);
        // Each task writes its images' output rows: the bias first, then the products are
        // added onto it (without a bias the products overwrite the rows).
        let mut out = buffer::for_overwrite(out_len);
        if out_len > 0 {
            let cols_len = plan.cols_len(OP)?;
            let x = plan.prepare_input(self);
            let w = weight.contiguous();
            let xs = x.as_slice().expect("contiguous input");
            let ws = w.as_slice().expect("contiguous weight");
            let (image_len, group_len) = (plan.image_len(), plan.group_len());
            out.par_chunks_mut(plan.o * l).enumerate().for_each_init(
                || Scratch::for_overwrite(cols_len),
                |cols, (img, out_n)| {
                    if let Some(bs) = bs {
                        for (row, &bv) in out_n.chunks_exact_mut(l).zip(bs) {
                            row.fill(bv);
                        }
                    }
                    let x_n = &xs[img * image_len..(img + 1) * image_len];
                    for grp in 0..plan.groups {
                        let x_g = &x_n[grp * group_len..(grp + 1) * group_len];
                        let cols_view = if cols_len == 0 {
                            mat(x_g, k, l)
                        } else {
                            im2col(x_g, &g, cols);
                            mat(cols, k, l)
                        };
                        let w_g = mat(&ws[grp * og * k..(grp + 1) * og * k], og, k);
                        let out_g = mat_mut(&mut out_n[grp * og * l..(grp + 1) * og * l], og, l);
                        matmul_into(w_g, cols_view, out_g, bs.is_some());
                    }
                },
            );
        }
        Tensor::from_vec(out, &out_shape)
    }
}

/// The gradients computed by [`conv2d_backward`]; a field is `None` when it was not requested.
///
/// # Shapes
/// - `input`: like the convolution's input, `[N, C, H, W]`
/// - `weight`: like the weight, `[O, C / groups, kh, kw]`
/// - `bias`: `[O]`
///
/// ```
/// use ferrite_tensor::{conv2d_backward, Conv2dParams, Tensor};
/// let x = Tensor::<f64>::ones(&[1, 1, 3, 3]);
/// let w = Tensor::<f64>::ones(&[1, 1, 3, 3]);
/// let gy = Tensor::<f64>::ones(&[1, 1, 1, 1]);
/// let grads = conv2d_backward(&x, &w, &gy, &Conv2dParams::default(), [false, true, true])?;
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

/// At most this many elements of per-chunk partial weight gradients are held at once.
const WEIGHT_PARTIALS_BUDGET: usize = 1 << 24;
/// At most this many chunks of images (the parallelism of the weight gradient).
const MAX_CHUNKS: usize = 64;
/// At most this many elements in the column matrix of a batch of images whose weight
/// gradients are one product (512 KiB of `f32`, so that it stays in a core's L2 cache).
const BATCH_COLS_BUDGET: usize = 1 << 17;
/// At most this many images in such a batch.
const MAX_BATCH: usize = 16;
/// Batches are made small enough to give at least this many tasks (when there are images
/// enough).
const MIN_TASKS: usize = 8;

/// How many chunks the `n` images are split into for the weight gradient, whose partial sums
/// (`weight_len` elements each) are then added in chunk order. Depends only on the shapes,
/// never on the number of threads, so results are reproducible bit for bit.
fn weight_grad_chunks(n: usize, weight_len: usize) -> usize {
    let by_memory = (WEIGHT_PARTIALS_BUDGET / weight_len.max(1)).max(1);
    n.min(MAX_CHUNKS).min(by_memory)
}

/// Gradients of [`Tensor::conv2d`] with respect to its input, weight and bias, given the
/// gradient `grad_output` of the output.
///
/// `needs = [input, weight, bias]` selects which gradients are computed; the others are
/// `None` and cost nothing (the input gradient of a network's first layer is rarely needed
/// and is about a third of the work). The bias gradient does not depend on whether the
/// convolution had a bias: it is `grad_output` summed over `N, oh, ow`.
///
/// With a padding mode other than zeros the input gradient is computed for the padded input
/// and folded back with [`pad2d_backward`]. Results are bit-identical whatever the number of
/// threads.
///
/// # Shapes
/// - `input`: `[N, C, H, W]`
/// - `weight`: `[O, C / groups, kh, kw]`
/// - `grad_output`: `[N, O, oh, ow]`, the shape of the convolution's output
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
/// let g = conv2d_backward(&x, &w, &gy, &Conv2dParams::default(), [true, true, true])?;
/// // Each input pixel is used by as many windows as cover it.
/// assert_eq!(g.input.unwrap().to_vec(), vec![1.0, 2.0, 1.0, 2.0, 4.0, 2.0, 1.0, 2.0, 1.0]);
/// // Each weight tap sees the sum of a 2x2 block of the input.
/// assert_eq!(g.weight.unwrap().to_vec(), vec![8.0, 12.0, 20.0, 24.0]);
/// assert_eq!(g.bias.unwrap().to_vec(), vec![4.0]);
/// let bad = Tensor::<f64>::ones(&[1, 1, 3, 3]);
/// assert!(conv2d_backward(&x, &w, &bad, &Conv2dParams::default(), [true; 3]).is_err());
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
pub fn conv2d_backward<T: Float>(
    input: &Tensor<T>,
    weight: &Tensor<T>,
    grad_output: &Tensor<T>,
    params: &Conv2dParams,
    needs: [bool; 3],
) -> Result<Conv2dGrads<T>> {
    const OP: &str = "conv2d_backward";
    let plan = ConvPlan::new(OP, input.shape(), weight.shape(), params)?;
    let out_shape = plan.output_shape();
    if grad_output.shape() != out_shape {
        return Err(TensorError::shape(
            OP,
            format!(
                "grad_output has shape {:?} but the output has shape {out_shape:?} (input {:?}, weight {:?})",
                grad_output.shape(),
                input.shape(),
                weight.shape()
            ),
        ));
    }
    let [need_input, need_weight, need_bias] = needs;
    let go = grad_output.contiguous();
    let gos = go.as_slice().expect("contiguous grad_output");
    let g = plan.geom;
    let (n, o, og) = (plan.n, plan.o, plan.og);
    let (k, l) = (g.rows(), g.cols());

    let bias = need_bias.then(|| {
        let sums: Vec<T> = (0..o)
            .into_par_iter()
            .map(|oc| {
                // Eight running sums (in a fixed order, so the result never depends on the
                // threads), which unlike one chain of additions can use SIMD.
                let mut lanes = [T::zero(); 8];
                for img in 0..n {
                    let row = &gos[(img * o + oc) * l..(img * o + oc + 1) * l];
                    let mut chunks = row.chunks_exact(8);
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
        Tensor::from_vec(sums, &[o]).expect("one sum per output channel")
    });

    let weight_len = weight.numel();
    let image_len = plan.image_len();
    let group_len = plan.group_len();
    let mut grad_input = if need_input {
        Some(buffer::zeros(checked_mul(OP, n, image_len)?))
    } else {
        None
    };
    let mut grad_weight = need_weight.then(|| buffer::zeros(weight_len));

    if (need_input || need_weight) && n > 0 && o > 0 && l > 0 {
        let cols_len = plan.cols_len(OP)?;
        let pointwise = cols_len == 0;
        let x = need_weight.then(|| plan.prepare_input(input));
        let xs = x.as_ref().map(|x| x.as_slice().expect("contiguous input"));
        let w = weight.contiguous();
        let ws = w.as_slice().expect("contiguous weight");

        // With stride 1 the input gradient is itself a convolution: of the output gradient,
        // padded by `dilation * (k - 1) - padding`, with the kernel flipped and its channel
        // axes swapped. That is one product with a long inner dimension (`O/groups * kh * kw`)
        // written straight into the input gradient, instead of a product with a short one
        // (`O/groups`) followed by a scatter (col2im).
        let flipped = (need_input
            && !pointwise
            && g.sh == 1
            && g.sw == 1
            && g.pt <= (g.kh - 1) * g.dh
            && g.pl <= (g.kw - 1) * g.dw)
            .then(|| {
                let geom = ColGeometry {
                    c: og,
                    h: g.oh,
                    w: g.ow,
                    kh: g.kh,
                    kw: g.kw,
                    sh: 1,
                    sw: 1,
                    dh: g.dh,
                    dw: g.dw,
                    pt: (g.kh - 1) * g.dh - g.pt,
                    pl: (g.kw - 1) * g.dw - g.pl,
                    oh: g.h,
                    ow: g.w,
                };
                // Per group: [C/groups, O/groups * kh * kw], tap (a, b) of output channel o
                // for input channel c holding weight[o, c, kh - 1 - a, kw - 1 - b].
                let taps = g.kh * g.kw;
                let mut wf = Vec::with_capacity(ws.len());
                for grp in 0..plan.groups {
                    for c in 0..g.c {
                        for oc in 0..og {
                            let src = ((grp * og + oc) * g.c + c) * taps;
                            wf.extend(ws[src..src + taps].iter().rev());
                        }
                    }
                }
                (geom, wf)
            });
        let flipped_cols_len = match &flipped {
            Some((fg, _)) => checked_mul(OP, fg.rows(), fg.cols())?,
            None => 0,
        };

        let chunks = if need_weight {
            weight_grad_chunks(n, weight_len)
        } else {
            n
        };
        // Images whose weight-gradient products are computed as one: their columns side by
        // side (`[C/groups * kh * kw, batch * oh * ow]`) make the product's inner dimension
        // long, while staying small enough for the cache. Depends only on the shapes.
        let batch = if need_weight && !pointwise {
            // Also keep at least MIN_TASKS chunks, so that small batches still spread over
            // the threads.
            let fit = (BATCH_COLS_BUDGET / cols_len.max(1))
                .min(MAX_BATCH)
                .min(n / MIN_TASKS)
                .max(1);
            1 << fit.ilog2()
        } else {
            1
        };
        let per_chunk = n.div_ceil(chunks).max(batch);
        let chunks = n.div_ceil(per_chunk);
        let mut partials = Scratch::zeros(if need_weight {
            checked_mul(OP, chunks, weight_len)?
        } else {
            0
        });

        // One task per chunk of images, each owning its slice of the input gradient and its
        // partial weight gradient. The partial sums are kept transposed per group,
        // `[C/groups * kh * kw, O/groups]`: computing `dWᵀ = cols · dYᵀ` writes an output
        // whose rows are the short output-channel axis, which the GEMM does markedly faster
        // than `dW = dY · colsᵀ` (measured ~1.5x for W3's shapes).
        let mut tasks = Vec::with_capacity(chunks);
        let mut gi_rest: &mut [T] = grad_input.as_deref_mut().unwrap_or_default();
        let mut gw_rest: &mut [T] = &mut partials[..];
        for chunk in 0..chunks {
            let images = chunk * per_chunk..((chunk + 1) * per_chunk).min(n);
            let gi = if need_input {
                let (head, tail) =
                    std::mem::take(&mut gi_rest).split_at_mut(images.len() * image_len);
                gi_rest = tail;
                Some(head)
            } else {
                None
            };
            let gw = if need_weight {
                let (head, tail) = std::mem::take(&mut gw_rest).split_at_mut(weight_len);
                gw_rest = tail;
                Some(head)
            } else {
                None
            };
            tasks.push((images, gi, gw));
        }

        tasks.into_par_iter().for_each(|(images, mut gi, mut gw)| {
            let first = images.start;
            if let (Some(gw), Some(xs)) = (gw.as_deref_mut(), xs) {
                if pointwise {
                    for img in images.clone() {
                        let go_n = &gos[img * o * l..(img + 1) * o * l];
                        for grp in 0..plan.groups {
                            let go_g = mat(&go_n[grp * og * l..(grp + 1) * og * l], og, l);
                            let x_g =
                                mat(&xs[img * image_len + grp * group_len..][..group_len], k, l);
                            let gwt_g = mat_mut(&mut gw[grp * og * k..(grp + 1) * og * k], k, og);
                            matmul_into(x_g, go_g.t(), gwt_g, true);
                        }
                    }
                } else {
                    // Both are overwritten before they are read.
                    let mut go_b = Scratch::for_overwrite(o * batch * l);
                    let mut cols_b = Scratch::for_overwrite(k * batch * l);
                    for start in images.clone().step_by(batch) {
                        let sub = start..(start + batch).min(images.end);
                        let bl = sub.len() * l;
                        // The output gradients of the batch side by side: [O, batch * oh * ow].
                        for (j, img) in sub.clone().enumerate() {
                            let go_n = &gos[img * o * l..(img + 1) * o * l];
                            for (oc, row) in go_n.chunks_exact(l).enumerate() {
                                go_b[oc * bl + j * l..][..l].copy_from_slice(row);
                            }
                        }
                        for grp in 0..plan.groups {
                            for (j, img) in sub.clone().enumerate() {
                                let x_g = &xs[img * image_len + grp * group_len..][..group_len];
                                im2col_strided(x_g, &g, &mut cols_b[j * l..], bl);
                            }
                            let go_g = mat(&go_b[grp * og * bl..(grp + 1) * og * bl], og, bl);
                            let cols_view = mat(&cols_b[..k * bl], k, bl);
                            let gwt_g = mat_mut(&mut gw[grp * og * k..(grp + 1) * og * k], k, og);
                            matmul_into(cols_view, go_g.t(), gwt_g, true);
                        }
                    }
                }
            }
            if let Some(gi) = gi.as_deref_mut() {
                // Overwritten entirely (by im2col or by a non-accumulating product).
                let mut grad_cols = Scratch::for_overwrite(match &flipped {
                    Some(_) => flipped_cols_len,
                    None => cols_len,
                });
                for img in images {
                    let go_n = &gos[img * o * l..(img + 1) * o * l];
                    for grp in 0..plan.groups {
                        let go_g = mat(&go_n[grp * og * l..(grp + 1) * og * l], og, l);
                        let w_g = mat(&ws[grp * og * k..(grp + 1) * og * k], og, k);
                        let gi_g =
                            &mut gi[(img - first) * image_len + grp * group_len..][..group_len];
                        if let Some((fg, wf)) = &flipped {
                            im2col(&go_n[grp * og * l..(grp + 1) * og * l], fg, &mut grad_cols);
                            let wf_g = mat(
                                &wf[grp * g.c * fg.rows()..][..g.c * fg.rows()],
                                g.c,
                                fg.rows(),
                            );
                            let cols_view = mat(&grad_cols, fg.rows(), fg.cols());
                            matmul_into(wf_g, cols_view, mat_mut(gi_g, g.c, fg.cols()), false);
                        } else if pointwise {
                            matmul_into(w_g.t(), go_g, mat_mut(gi_g, k, l), false);
                        } else {
                            matmul_into(w_g.t(), go_g, mat_mut(&mut grad_cols, k, l), false);
                            col2im(&grad_cols, &g, gi_g);
                        }
                    }
                }
            }
        });

        // Add the partial weight gradients in chunk order, reading each group's transposed
        // `[C/groups * kh * kw, O/groups]` partial sums into the weight's
        // `[O/groups, C/groups * kh * kw]` layout (parallel over the weight's rows).
        if let Some(gw) = grad_weight.as_mut()
            && k > 0
        {
            let rows_per_task = (4096 / k).max(1);
            gw.par_chunks_mut(k)
                .enumerate()
                .with_min_len(rows_per_task)
                .for_each(|(row, dst)| {
                    let (grp, oc) = (row / og, row % og);
                    for part in partials.chunks_exact(weight_len) {
                        let part_g = &part[grp * og * k..(grp + 1) * og * k];
                        for (kk, d) in dst.iter_mut().enumerate() {
                            *d += part_g[kk * og + oc];
                        }
                    }
                });
        }
    }

    let input_grad = match grad_input {
        None => None,
        Some(gi) => {
            let [h, w] = plan.hw;
            let padded = Tensor::from_vec(gi, &[n, plan.c, g.h, g.w]).expect("input grad shape");
            Some(match plan.explicit {
                Some(mode) => pad2d_backward_unchecked(&padded, [h, w], plan.pad, mode),
                None => padded,
            })
        }
    };
    let weight_grad =
        grad_weight.map(|gw| Tensor::from_vec(gw, weight.shape()).expect("weight grad shape"));
    Ok(Conv2dGrads {
        input: input_grad,
        weight: weight_grad,
        bias,
    })
}

/// Refuses a padding that `mode` cannot produce for an input of size `hw`, like `F.pad`:
/// reflect needs each pad smaller than its dimension, circular at most equal to it, and
/// replicate a non-empty dimension.
fn check_pad(op: &'static str, hw: [usize; 2], pad: [usize; 4], mode: PaddingMode) -> Result<()> {
    for (dim, name) in [(0, "height"), (1, "width")] {
        let size = hw[dim];
        let (before, after) = (pad[2 * dim], pad[2 * dim + 1]);
        let largest = before.max(after);
        if largest == 0 {
            continue;
        }
        let problem = match mode {
            PaddingMode::Zeros => None,
            PaddingMode::Reflect if largest >= size => Some(format!(
                "reflect padding must be smaller than the input {name}, but got padding ({before}, {after}) for {name} {size}"
            )),
            PaddingMode::Circular if largest > size => Some(format!(
                "circular padding must be at most the input {name} (it would wrap around more than once), but got padding ({before}, {after}) for {name} {size}"
            )),
            PaddingMode::Replicate if size == 0 => Some(format!(
                "replicate padding needs a non-empty input {name}, but got padding ({before}, {after}) for {name} 0"
            )),
            _ => None,
        };
        if let Some(message) = problem {
            return Err(TensorError::invalid(op, message));
        }
    }
    Ok(())
}

/// Where padded position `i` (of `0..pad + size + pad_after`) reads from in `0..size`, or
/// `None` for a zero. Assumes [`check_pad`] accepted the padding.
fn source_index(i: usize, pad_before: usize, size: usize, mode: PaddingMode) -> Option<usize> {
    if i >= pad_before && i - pad_before < size {
        return Some(i - pad_before);
    }
    let before = i < pad_before;
    match mode {
        PaddingMode::Zeros => None,
        // Mirror around the first/last element, without repeating it.
        PaddingMode::Reflect => Some(if before {
            pad_before - i
        } else {
            2 * (size - 1) + pad_before - i
        }),
        PaddingMode::Replicate => Some(if before { 0 } else { size - 1 }),
        // At most one wrap: pad <= size.
        PaddingMode::Circular => Some(if before {
            size - (pad_before - i)
        } else {
            i - pad_before - size
        }),
    }
}

/// The source index of every padded position of one dimension.
fn index_map(
    pad_before: usize,
    size: usize,
    pad_after: usize,
    mode: PaddingMode,
) -> Vec<Option<usize>> {
    (0..pad_before + size + pad_after)
        .map(|i| source_index(i, pad_before, size, mode))
        .collect()
}

/// Pads a `[N, C, H, W]` tensor by `pad = [top, bottom, left, right]` like
/// `torch.nn.functional.pad(input, (left, right, top, bottom), mode)`.
///
/// `Zeros` fills with zeros (`mode="constant"`); `Reflect` mirrors without repeating the edge
/// (`[a b c]` by 1 gives `[b a b c b]`); `Replicate` repeats the edge (`[a a b c c]`);
/// `Circular` wraps around (`[c a b c a]`).
///
/// # Shapes
/// - `input`: `[N, C, H, W]`
/// - result: `[N, C, H + top + bottom, W + left + right]`
///
/// # Errors
/// When `input` is not 4-D; with `Reflect`, when a pad is not smaller than its dimension;
/// with `Circular`, when a pad is larger than its dimension; with `Replicate`, when a non-zero
/// pad extends an empty dimension; when the padded size overflows.
///
/// ```
/// use ferrite_tensor::{pad2d, PaddingMode, Tensor};
/// let x = Tensor::<f32>::from_vec(vec![1.0, 2.0, 3.0], &[1, 1, 1, 3])?;
/// let lr = [0, 0, 1, 1];
/// assert_eq!(pad2d(&x, lr, PaddingMode::Zeros)?.to_vec(), vec![0.0, 1.0, 2.0, 3.0, 0.0]);
/// assert_eq!(pad2d(&x, lr, PaddingMode::Reflect)?.to_vec(), vec![2.0, 1.0, 2.0, 3.0, 2.0]);
/// assert_eq!(pad2d(&x, lr, PaddingMode::Replicate)?.to_vec(), vec![1.0, 1.0, 2.0, 3.0, 3.0]);
/// assert_eq!(pad2d(&x, lr, PaddingMode::Circular)?.to_vec(), vec![3.0, 1.0, 2.0, 3.0, 1.0]);
/// assert_eq!(pad2d(&x, [1, 0, 0, 0], PaddingMode::Zeros)?.shape(), &[1, 1, 2, 3]);
/// assert!(pad2d(&x, [1, 0, 0, 0], PaddingMode::Reflect).is_err()); // height 1
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
pub fn pad2d<T: Float>(input: &Tensor<T>, pad: [usize; 4], mode: PaddingMode) -> Result<Tensor<T>> {
    const OP: &str = "pad2d";
    let &[n, c, h, w] = input.shape() else {
        return Err(TensorError::shape(
            OP,
            format!(
                "expected a 4-D input [N, C, H, W], found shape {:?}",
                input.shape()
            ),
        ));
    };
    check_pad(OP, [h, w], pad, mode)?;
    let hp = h.checked_add(pad[0]).and_then(|v| v.checked_add(pad[1]));
    let wp = w.checked_add(pad[2]).and_then(|v| v.checked_add(pad[3]));
    match (hp, wp) {
        (Some(hp), Some(wp)) => {
            checked_numel(OP, &[n, c, hp, wp])?;
        }
        _ => {
            return Err(TensorError::invalid(
                OP,
                format!("padding {pad:?} of input {:?} overflows", input.shape()),
            ));
        }
    }
    Ok(pad2d_unchecked(input, pad, mode))
}

/// [`pad2d`] without validation (the caller has checked the shape and the padding).
fn pad2d_unchecked<T: Float>(input: &Tensor<T>, pad: [usize; 4], mode: PaddingMode) -> Tensor<T> {
    let shape = input.shape();
    let (n, c, h, w) = (shape[0], shape[1], shape[2], shape[3]);
    let (hp, wp) = (h + pad[0] + pad[1], w + pad[2] + pad[3]);
    let x = input.contiguous();
    let xs = x.as_slice().expect("contiguous input");
    let mut out = vec![T::zero(); n * c * hp * wp];
    if !out.is_empty() {
        // Built only for a non-empty output: an empty batch may come with a padding whose
        // maps alone would not fit in memory.
        let rows = index_map(pad[0], h, pad[1], mode);
        let cols = index_map(pad[2], w, pad[3], mode);
        out.par_chunks_mut(hp * wp)
            .enumerate()
            .for_each(|(p, dst)| {
                let src = &xs[p * h * w..(p + 1) * h * w];
                for (d_row, row) in dst.chunks_exact_mut(wp).zip(&rows) {
                    let Some(iy) = *row else { continue };
                    let s_row = &src[iy * w..(iy + 1) * w];
                    d_row[pad[2]..pad[2] + w].copy_from_slice(s_row);
                    for ox in (0..pad[2]).chain(pad[2] + w..wp) {
                        if let Some(ix) = cols[ox] {
                            d_row[ox] = s_row[ix];
                        }
                    }
                }
            });
    }
    Tensor::from_vec(out, &[n, c, hp, wp]).expect("padded shape")
}

/// The adjoint of [`pad2d`]: folds the gradient of a padded tensor back onto the
/// `input_hw = [H, W]` input, adding every border position onto the input position it copied
/// (for `Zeros` this simply crops).
///
/// # Shapes
/// - `grad_output`: `[N, C, H + top + bottom, W + left + right]`
/// - `input_hw`: `[H, W]`
/// - result: `[N, C, H, W]`
///
/// # Errors
/// When `grad_output` is not 4-D or not the padded size of `input_hw`, or the padding is
/// invalid for `mode` (as in [`pad2d`]).
///
/// ```
/// use ferrite_tensor::{pad2d_backward, PaddingMode, Tensor};
/// let g = Tensor::<f32>::from_vec(vec![1.0, 2.0, 3.0, 4.0, 5.0], &[1, 1, 1, 5])?;
/// let lr = [0, 0, 1, 1];
/// let back = |mode| pad2d_backward(&g, [1, 3], lr, mode).map(|t| t.to_vec());
/// assert_eq!(back(PaddingMode::Zeros)?, vec![2.0, 3.0, 4.0]);
/// assert_eq!(back(PaddingMode::Reflect)?, vec![2.0, 3.0 + 1.0 + 5.0, 4.0]);
/// assert_eq!(back(PaddingMode::Replicate)?, vec![1.0 + 2.0, 3.0, 4.0 + 5.0]);
/// assert_eq!(back(PaddingMode::Circular)?, vec![2.0 + 5.0, 3.0, 4.0 + 1.0]);
/// assert!(pad2d_backward(&g, [1, 4], lr, PaddingMode::Zeros).is_err());
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
pub fn pad2d_backward<T: Float>(
    grad_output: &Tensor<T>,
    input_hw: [usize; 2],
    pad: [usize; 4],
    mode: PaddingMode,
) -> Result<Tensor<T>> {
    const OP: &str = "pad2d_backward";
    let &[_, _, hp, wp] = grad_output.shape() else {
        return Err(TensorError::shape(
            OP,
            format!(
                "expected a 4-D grad_output [N, C, H, W], found shape {:?}",
                grad_output.shape()
            ),
        ));
    };
    check_pad(OP, input_hw, pad, mode)?;
    let [h, w] = input_hw;
    let expected_hw = h
        .checked_add(pad[0])
        .and_then(|v| v.checked_add(pad[1]))
        .zip(w.checked_add(pad[2]).and_then(|v| v.checked_add(pad[3])));
    if expected_hw != Some((hp, wp)) {
        return Err(TensorError::shape(
            OP,
            format!(
                "grad_output has shape {:?} but input {input_hw:?} padded by {pad:?} (top, bottom, left, right) is not [{hp}, {wp}]",
                grad_output.shape()
            ),
        ));
    }
    Ok(pad2d_backward_unchecked(grad_output, input_hw, pad, mode))
}

/// [`pad2d_backward`] without validation.
fn pad2d_backward_unchecked<T: Float>(
    grad_output: &Tensor<T>,
    input_hw: [usize; 2],
    pad: [usize; 4],
    mode: PaddingMode,
) -> Tensor<T> {
    let shape = grad_output.shape();
    let (n, c, hp, wp) = (shape[0], shape[1], shape[2], shape[3]);
    let [h, w] = input_hw;
    let go = grad_output.contiguous();
    let gs = go.as_slice().expect("contiguous grad_output");
    let mut out = vec![T::zero(); n * c * h * w];
    if !out.is_empty() {
        // As in `pad2d_unchecked`: no maps for an empty result.
        let rows = index_map(pad[0], h, pad[1], mode);
        let cols = index_map(pad[2], w, pad[3], mode);
        out.par_chunks_mut(h * w).enumerate().for_each(|(p, dst)| {
            let src = &gs[p * hp * wp..(p + 1) * hp * wp];
            for (s_row, row) in src.chunks_exact(wp).zip(&rows) {
                let Some(iy) = *row else { continue };
                let d_row = &mut dst[iy * w..(iy + 1) * w];
                for (&v, col) in s_row.iter().zip(&cols) {
                    if let Some(ix) = *col {
                        d_row[ix] += v;
                    }
                }
            }
        });
    }
    Tensor::from_vec(out, &[n, c, h, w]).expect("input shape")
}

impl From<usize> for Padding {
    /// `1` means `Padding::Explicit([1, 1])`, as PyTorch's `padding=1`.
    fn from(p: usize) -> Self {
        Padding::Explicit([p, p])
    }
}

impl From<[usize; 2]> for Padding {
    /// `[ph, pw]` means `Padding::Explicit([ph, pw])`.
    fn from(p: [usize; 2]) -> Self {
        Padding::Explicit(p)
    }
}
