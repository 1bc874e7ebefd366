//! `pad`: padding the trailing dimensions of a tensor, like `torch.nn.functional.pad`, and
//! its adjoint.
//!
//! Every padded dimension gets a map from output index to input index (`None` for the
//! constant), built once per call; the kernels then copy (forward) or add back (backward)
//! plane by plane, in parallel over the leading dimensions. Each input element receives its
//! gradient contributions in row-major order of the output, so results do not depend on
//! the number of threads.

use rayon::prelude::*;

use crate::{Float, PaddingMode, Result, Tensor, TensorError, checked_numel};

#[cfg(test)]
mod tests;

/// What the border added by [`Tensor::pad`] holds: PyTorch's `mode=` (with `value=` inside
/// `Constant`).
///
/// ```
/// use ferrite_tensor::{PadMode, PaddingMode};
/// assert_eq!(PadMode::from(PaddingMode::Zeros), PadMode::Constant(0.0));
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PadMode {
    /// A constant (`mode="constant", value=v`; `F.pad`'s default is `Constant(0.0)`).
    Constant(f64),
    /// Mirror without repeating the edge: `[a b c]` padded by 1 gives `[b a b c b]`.
    Reflect,
    /// Repeat the edge: `[a b c]` padded by 1 gives `[a a b c c]`.
    Replicate,
    /// Wrap around: `[a b c]` padded by 1 gives `[c a b c a]`.
    Circular,
}

impl From<PaddingMode> for PadMode {
    /// A convolution layer's padding mode as the `pad` that implements it.
    fn from(mode: PaddingMode) -> Self {
        match mode {
            PaddingMode::Zeros => PadMode::Constant(0.0),
            PaddingMode::Reflect => PadMode::Reflect,
            PaddingMode::Replicate => PadMode::Replicate,
            PaddingMode::Circular => PadMode::Circular,
        }
    }
}

impl PadMode {
    /// PyTorch's name of the mode, for messages.
    fn name(&self) -> &'static str {
        match self {
            PadMode::Constant(_) => "constant",
            PadMode::Reflect => "reflect",
            PadMode::Replicate => "replicate",
            PadMode::Circular => "circular",
        }
    }
}

impl<T: Float> Tensor<T> {
    /// Pads the trailing dimensions, like `torch.nn.functional.pad(input, pad, mode, value)`.
    ///
    /// `pad` lists `[before, after]` pairs from the last dimension backwards, as PyTorch
    /// does: `[left, right]` pads the last dimension, `[left, right, top, bottom]` the last
    /// two, and so on. A negative entry crops. Output index `o` along a padded dimension of
    /// size `n` reads input index `i = o - before`; outside `0..n` it reads:
    /// - `Constant(v)`: `v`;
    /// - `Reflect`: `-i` or `2(n - 1) - i` (the edge is not repeated);
    /// - `Replicate`: the nearest edge;
    /// - `Circular`: wrapped around (after cropping by any negative pads).
    ///
    /// `Constant` pads any number of trailing dimensions. The other modes pad 1, 2 or 3
    /// dimensions of an input with one or two more (the channel and batch dimensions):
    /// 2 entries on a 2-D or 3-D input, 4 on 3-D or 4-D, 6 on 4-D or 5-D.
    ///
    /// # Shapes
    /// - `self`: `[*, n_k, ..., n_1]` (the padded dimensions last)
    /// - result: each padded dimension `n + before + after`
    ///
    /// # Errors
    /// - `pad` has an odd number of entries or more pairs than `self` has dimensions;
    /// - a non-constant mode with another number of pairs or input rank than above;
    /// - a resulting size below zero, or more elements than memory can hold;
    /// - `Reflect` with a pad not smaller than its dimension, `Circular` with a pad larger
    ///   than its (cropped) dimension, `Replicate` extending an empty dimension.
    ///
    /// ```
    /// use ferrite_tensor::{PadMode, Tensor};
    /// let x = Tensor::<f32>::from_vec(vec![1.0, 2.0, 3.0], &[1, 1, 3])?;
    /// let by_one = |mode| x.pad(&[1, 1], mode).map(|t| t.to_vec());
    /// assert_eq!(by_one(PadMode::Constant(0.0))?, vec![0.0, 1.0, 2.0, 3.0, 0.0]);
    /// assert_eq!(by_one(PadMode::Reflect)?, vec![2.0, 1.0, 2.0, 3.0, 2.0]);
    /// assert_eq!(by_one(PadMode::Replicate)?, vec![1.0, 1.0, 2.0, 3.0, 3.0]);
    /// assert_eq!(by_one(PadMode::Circular)?, vec![3.0, 1.0, 2.0, 3.0, 1.0]);
    /// // Crop one on the left, add 7s on the right.
    /// assert_eq!(x.pad(&[-1, 2], PadMode::Constant(7.0))?.to_vec(), vec![2.0, 3.0, 7.0, 7.0]);
    /// // [left, right, top, bottom] on an image.
    /// let img = Tensor::<f32>::ones(&[1, 1, 2, 2]);
    /// assert_eq!(img.pad(&[1, 0, 2, 0], PadMode::Replicate)?.shape(), &[1, 1, 4, 3]);
    /// assert!(x.pad(&[3, 0], PadMode::Reflect).is_err()); // 3 is not below the size 3
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn pad(&self, pad: &[isize], mode: PadMode) -> Result<Tensor<T>> {
        let plan = PadPlan::new("pad", self.shape(), pad, mode)?;
        if plan.padded.is_empty() {
            return Ok(self.contiguous());
        }
        let x = self.contiguous();
        let xs = x.as_slice().expect("contiguous input");
        let value = match mode {
            PadMode::Constant(v) => T::of(v),
            _ => T::zero(),
        };
        let mut out = vec![value; plan.output_len];
        if plan.output_len > 0 {
            // Built only for a non-empty output: an empty batch may come with a padding whose
            // maps alone would not fit in memory.
            let maps = plan.index_maps();
            let (in_plane, out_plane) = (plan.in_plane(), plan.out_plane());
            out.par_chunks_mut(out_plane)
                .enumerate()
                .for_each(|(p, dst)| {
                    copy_padded(
                        dst,
                        &xs[p * in_plane..(p + 1) * in_plane],
                        &maps,
                        plan.dims(),
                    );
                });
        }
        Tensor::from_vec(out, &plan.output_shape)
    }
}

/// The gradient of [`Tensor::pad`] with respect to its input: each element of
/// `grad_output` is added to the input element it was copied from (the constant border
/// and the cropped elements get nothing; for `Constant` this is a crop).
///
/// # Shapes
/// - `grad_output`: the shape of the padded result
/// - `input_shape`: the shape of the forward input and of the result
///
/// # Errors
/// Every error of [`Tensor::pad`] for `input_shape` (named `pad_backward`), and when
/// `grad_output` does not have the padded shape.
///
/// ```
/// use ferrite_tensor::{pad_backward, PadMode, Tensor};
/// let g = Tensor::<f32>::from_vec(vec![1.0, 2.0, 3.0, 4.0, 5.0], &[1, 5])?;
/// let back = |mode| pad_backward(&g, &[1, 3], &[1, 1], mode).map(|t| t.to_vec());
/// assert_eq!(back(PadMode::Constant(0.0))?, vec![2.0, 3.0, 4.0]);
/// assert_eq!(back(PadMode::Reflect)?, vec![2.0, 3.0 + 1.0 + 5.0, 4.0]);
/// assert_eq!(back(PadMode::Replicate)?, vec![1.0 + 2.0, 3.0, 4.0 + 5.0]);
/// assert_eq!(back(PadMode::Circular)?, vec![2.0 + 5.0, 3.0, 4.0 + 1.0]);
/// assert!(pad_backward(&g, &[1, 4], &[1, 1], PadMode::Reflect).is_err());
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
pub fn pad_backward<T: Float>(
    grad_output: &Tensor<T>,
    input_shape: &[usize],
    pad: &[isize],
    mode: PadMode,
) -> Result<Tensor<T>> {
    const OP: &str = "pad_backward";
    let plan = PadPlan::new(OP, input_shape, pad, mode)?;
    if grad_output.shape() != plan.output_shape.as_slice() {
        return Err(TensorError::shape(
            OP,
            format!(
                "grad_output has shape {:?} but input {input_shape:?} padded by {pad:?} has shape {:?}",
                grad_output.shape(),
                plan.output_shape
            ),
        ));
    }
    if plan.padded.is_empty() {
        return Ok(grad_output.contiguous());
    }
    let go = grad_output.contiguous();
    let gs = go.as_slice().expect("contiguous grad_output");
    let input_len = input_shape.iter().product();
    let mut grad_input = vec![T::zero(); input_len];
    if plan.output_len > 0 && input_len > 0 {
        // As in the forward: no maps for an empty result.
        let maps = plan.index_maps();
        let (in_plane, out_plane) = (plan.in_plane(), plan.out_plane());
        grad_input
            .par_chunks_mut(in_plane)
            .enumerate()
            .for_each(|(p, dst)| {
                add_padded_back(
                    dst,
                    &gs[p * out_plane..(p + 1) * out_plane],
                    &maps,
                    plan.dims(),
                );
            });
    }
    Tensor::from_vec(grad_input, input_shape)
}

/// One padded dimension: its size and the pad on each side (negative crops).
#[derive(Debug, Clone, Copy)]
struct PaddedDim {
    size: usize,
    before: isize,
    after: isize,
}

impl PaddedDim {
    /// The padded size (validated to be at least 0).
    fn out_len(&self) -> usize {
        (self.size as isize + self.before + self.after) as usize
    }
}

/// A validated padding of one input shape.
#[derive(Debug, Clone)]
struct PadPlan {
    mode: PadMode,
    /// The padded dimensions, outermost first.
    padded: Vec<PaddedDim>,
    output_shape: Vec<usize>,
    output_len: usize,
}

impl PadPlan {
    fn new(op: &'static str, shape: &[usize], pad: &[isize], mode: PadMode) -> Result<PadPlan> {
        check_pad_length(op, shape, pad, mode)?;
        let first = shape.len() - pad.len() / 2;
        let mut padded = Vec::with_capacity(pad.len() / 2);
        let mut output_shape = shape.to_vec();
        for (dim, &size) in shape.iter().enumerate().skip(first) {
            // The pairs are listed from the last dimension backwards.
            let pair = 2 * (shape.len() - 1 - dim);
            let d = PaddedDim {
                size,
                before: pad[pair],
                after: pad[pair + 1],
            };
            output_shape[dim] = check_dim(op, shape, dim, d, mode)?;
            padded.push(d);
        }
        let output_len = checked_numel(op, &output_shape)?;
        Ok(PadPlan {
            mode,
            padded,
            output_shape,
            output_len,
        })
    }

    /// The padded dimensions.
    fn dims(&self) -> &[PaddedDim] {
        &self.padded
    }

    /// Elements of one input block over the padded dimensions.
    fn in_plane(&self) -> usize {
        self.padded.iter().map(|d| d.size).product()
    }

    /// Elements of one output block over the padded dimensions.
    fn out_plane(&self) -> usize {
        self.padded.iter().map(PaddedDim::out_len).product()
    }

    /// For every padded dimension, the input index each output index reads (`None` for the
    /// constant).
    fn index_maps(&self) -> Vec<Vec<Option<usize>>> {
        self.padded
            .iter()
            .map(|d| {
                (0..d.out_len())
                    .map(|o| source_index(o as isize - d.before, *d, self.mode))
                    .collect()
            })
            .collect()
    }
}

/// Where input coordinate `i` (output index minus the leading pad; may lie outside the
/// input) reads from, or `None` for the constant. Assumes [`check_dim`] accepted the pads.
fn source_index(i: isize, d: PaddedDim, mode: PadMode) -> Option<usize> {
    let n = d.size as isize;
    if (0..n).contains(&i) {
        return Some(i as usize);
    }
    match mode {
        PadMode::Constant(_) => None,
        // Mirror around the first/last element, without repeating it.
        PadMode::Reflect => Some(if i < 0 { -i } else { 2 * (n - 1) - i } as usize),
        PadMode::Replicate => Some(i.clamp(0, n - 1) as usize),
        // Wrap around the input cropped by the negative pads, `crop_before..n - crop_after`
        // (at most once: a pad is at most the cropped size).
        PadMode::Circular => {
            let (crop_before, crop_after) = ((-d.before).max(0), (-d.after).max(0));
            let kept = n - crop_before - crop_after;
            Some((crop_before + (i - crop_before).rem_euclid(kept)) as usize)
        }
    }
}

/// Refuses a `pad` list PyTorch refuses for this rank and mode.
fn check_pad_length(op: &'static str, shape: &[usize], pad: &[isize], mode: PadMode) -> Result<()> {
    if !pad.len().is_multiple_of(2) {
        return Err(TensorError::invalid(
            op,
            format!(
                "pad must hold [before, after] pairs (last dimension first), found {} entries {pad:?}",
                pad.len()
            ),
        ));
    }
    let dims = pad.len() / 2;
    if dims > shape.len() {
        return Err(TensorError::invalid(
            op,
            format!(
                "pad {pad:?} pads {dims} dimensions but the input has only {} (shape {shape:?})",
                shape.len()
            ),
        ));
    }
    let rank_ok = shape.len() == dims + 1 || shape.len() == dims + 2;
    if !matches!(mode, PadMode::Constant(_)) && (!(1..=3).contains(&dims) || !rank_ok) {
        return Err(TensorError::invalid(
            op,
            format!(
                "{} padding pads 1 to 3 trailing dimensions of an input with 1 or 2 more \
                 (channel, batch): pad {pad:?} pads {dims} dimensions, which needs a {}-D or \
                 {}-D input, found shape {shape:?}",
                mode.name(),
                dims + 1,
                dims + 2
            ),
        ));
    }
    Ok(())
}

/// Checks the pads of dimension `dim` for `mode` and returns its padded size.
fn check_dim(
    op: &'static str,
    shape: &[usize],
    dim: usize,
    d: PaddedDim,
    mode: PadMode,
) -> Result<usize> {
    let (before, after, size) = (d.before, d.after, d.size);
    let described = || {
        format!("padding ({before}, {after}) of dimension {dim} of size {size} (input {shape:?})")
    };
    let new_size = (size as i128) + (before as i128) + (after as i128);
    if new_size < 0 || new_size > isize::MAX as i128 {
        return Err(TensorError::invalid(
            op,
            format!("{} gives the size {new_size}", described()),
        ));
    }
    let largest = before.max(after);
    let kept = size as isize - (-before).max(0) - (-after).max(0);
    let problem = match mode {
        PadMode::Reflect if largest > 0 && largest >= size as isize => {
            Some("reflect padding must be smaller than the input dimension")
        }
        PadMode::Circular if largest > 0 && largest > kept => Some(
            "circular padding must be at most the (cropped) input dimension, or it would wrap \
             around more than once",
        ),
        PadMode::Replicate if largest > 0 && size == 0 => {
            Some("replicate padding needs a non-empty input dimension")
        }
        _ => None,
    };
    match problem {
        Some(problem) => Err(TensorError::invalid(
            op,
            format!("{problem}, but got {}", described()),
        )),
        None => Ok(new_size as usize),
    }
}

/// Writes one output block `dst` (over the padded dimensions `dims`) from the input block
/// `src`; positions whose map entry is `None` keep the constant they were filled with.
fn copy_padded<T: Float>(
    dst: &mut [T],
    src: &[T],
    maps: &[Vec<Option<usize>>],
    dims: &[PaddedDim],
) {
    let (map, inner_maps) = maps.split_first().expect("at least one padded dimension");
    if inner_maps.is_empty() {
        for (d, &at) in dst.iter_mut().zip(map) {
            if let Some(i) = at {
                *d = src[i];
            }
        }
        return;
    }
    let out_inner = dst.len() / map.len();
    let in_inner = src.len() / dims[0].size.max(1);
    for (block, &at) in dst.chunks_exact_mut(out_inner).zip(map) {
        if let Some(i) = at {
            let src_block = &src[i * in_inner..(i + 1) * in_inner];
            copy_padded(block, src_block, inner_maps, &dims[1..]);
        }
    }
}

/// The adjoint of [`copy_padded`]: adds each element of the output block `go` onto the
/// input element it was copied from, in row-major order of `go`.
fn add_padded_back<T: Float>(
    gi: &mut [T],
    go: &[T],
    maps: &[Vec<Option<usize>>],
    dims: &[PaddedDim],
) {
    let (map, inner_maps) = maps.split_first().expect("at least one padded dimension");
    if inner_maps.is_empty() {
        for (&v, &at) in go.iter().zip(map) {
            if let Some(i) = at {
                gi[i] += v;
            }
        }
        return;
    }
    let out_inner = go.len() / map.len();
    let in_inner = gi.len() / dims[0].size.max(1);
    for (block, &at) in go.chunks_exact(out_inner).zip(map) {
        if let Some(i) = at {
            let gi_block = &mut gi[i * in_inner..(i + 1) * in_inner];
            add_padded_back(gi_block, block, inner_maps, &dims[1..]);
        }
    }
}
