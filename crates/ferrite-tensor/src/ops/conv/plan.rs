//! `ConvPlan`: the shapes of one convolution, validated once for the forward and each
//! gradient.

use super::im2col::ColGeometry;
use super::{Conv2dParams, checked_mul};
use crate::{Result, TensorError};

/// Everything a convolution kernel needs to know, validated once.
#[derive(Debug, Clone, Copy)]
pub(super) struct ConvPlan {
    /// Images in the batch, `N`.
    pub batch: usize,
    /// Input channels, `C`.
    pub in_channels: usize,
    /// Output channels, `O`.
    pub out_channels: usize,
    /// Channel groups.
    pub groups: usize,
    /// Output channels per group, `O / groups`.
    pub out_per_group: usize,
    /// The per-group geometry the kernels see.
    pub geom: ColGeometry,
}

impl ConvPlan {
    /// Validates shapes and parameters of a convolution of an `input`-shaped tensor by a
    /// `weight`-shaped one; errors name `op`.
    pub fn new(
        op: &'static str,
        input: &[usize],
        weight: &[usize],
        params: &Conv2dParams,
    ) -> Result<ConvPlan> {
        let &[batch, in_channels, h, w] = input else {
            return Err(TensorError::shape(
                op,
                format!(
                    "expected a 3-D (unbatched) [C, H, W] or 4-D [N, C, H, W] input, found shape {input:?}"
                ),
            ));
        };
        let &[out_channels, in_per_group, kh, kw] = weight else {
            return Err(TensorError::shape(
                op,
                format!(
                    "expected a 4-D weight [out_channels, in_channels / groups, kh, kw], found shape {weight:?}"
                ),
            ));
        };
        check_groups(op, input, weight, params.groups)?;
        let window = params.window_for(op, [kh, kw])?;
        let output = window.output_size(op, [h, w])?;
        Ok(ConvPlan {
            batch,
            in_channels,
            out_channels,
            groups: params.groups,
            out_per_group: out_channels / params.groups,
            geom: ColGeometry {
                channels: in_per_group,
                input: [h, w],
                output,
                window,
            },
        })
    }

    /// The output shape `[N, O, oh, ow]`.
    pub fn output_shape(&self) -> [usize; 4] {
        let [oh, ow] = self.geom.output;
        [self.batch, self.out_channels, oh, ow]
    }

    /// Refuses a `grad_output` of another shape than the output; errors name `op`.
    pub fn check_grad_output(&self, op: &'static str, grad_output: &[usize]) -> Result<()> {
        let out_shape = self.output_shape();
        if grad_output == out_shape {
            return Ok(());
        }
        let [n, c, h, w] = self.input_shape();
        let [kh, kw] = self.geom.window.kernel;
        Err(TensorError::shape(
            op,
            format!(
                "grad_output has shape {grad_output:?} but the output has shape {out_shape:?} (input {:?}, weight {:?})",
                [n, c, h, w],
                [self.out_channels, self.geom.channels, kh, kw]
            ),
        ))
    }

    /// The input shape `[N, C, H, W]`.
    pub fn input_shape(&self) -> [usize; 4] {
        let [h, w] = self.geom.input;
        [self.batch, self.in_channels, h, w]
    }

    /// Elements of one image of the input: `C * H * W`.
    pub fn image_len(&self) -> usize {
        self.in_channels * self.geom.input[0] * self.geom.input[1]
    }

    /// Elements of one group of one image of the input: `C/groups * H * W`.
    pub fn group_len(&self) -> usize {
        self.geom.channels * self.geom.input[0] * self.geom.input[1]
    }

    /// Elements of one group of the weight: `O/groups * C/groups * kh * kw`.
    pub fn weight_group_len(&self) -> usize {
        self.out_per_group * self.geom.rows()
    }

    /// The size of the column buffer of one image and group (0 for pointwise convolutions,
    /// which use the input directly).
    pub fn cols_len(&self, op: &'static str) -> Result<usize> {
        if self.geom.is_pointwise() {
            Ok(0)
        } else {
            checked_mul(op, self.geom.rows(), self.geom.cols())
        }
    }
}

/// Refuses a number of groups that does not divide the channels, or a weight whose input
/// channels times `groups` are not the input's channels.
pub(super) fn check_groups(
    op: &'static str,
    input: &[usize],
    weight: &[usize],
    groups: usize,
) -> Result<()> {
    let (c, o, wc) = (input[1], weight[0], weight[1]);
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
    Ok(())
}
