//! Reference cases of the round-2 convolutions (`conv1d.json`, `conv_transpose2d.json`):
//! `conv1d` as `nn.Conv1d` computes it (padding modes included) and `conv_transpose2d`.
//! Declared by `tests/golden.rs`, whose harness it uses.

use super::*;
use ferrite::tensor::{Conv1dParams, ConvTranspose2dParams, Padding1d};

/// The ops this file runs.
pub const OPS: &[&str] = &["conv1d", "conv_transpose2d"];

/// A one-element list param `[v]` (or a bare number).
fn single(case: &Case, key: &str) -> Result<usize, String> {
    match case.params.get(key) {
        Some(Value::Array(a)) if a.len() == 1 => a[0]
            .as_u64()
            .map(|v| v as usize)
            .ok_or_else(|| format!("param {key}: bad entry")),
        Some(Value::Number(n)) => n
            .as_u64()
            .map(|v| v as usize)
            .ok_or_else(|| format!("param {key}: bad number")),
        other => Err(format!("param {key}: expected [v], found {other:?}")),
    }
}

/// `F.conv1d`'s parameters and `nn.Conv1d`'s padding mode of a conv1d case.
fn conv1d_params(case: &Case) -> Result<(Conv1dParams, PaddingMode), String> {
    let padding = match case.params.get("padding") {
        Some(Value::String(s)) if s == "same" => Padding1d::Same,
        Some(Value::String(s)) if s == "valid" => Padding1d::Valid,
        _ => Padding1d::Explicit(single(case, "padding")?),
    };
    let mode = padding_mode(case)?;
    let params = Conv1dParams {
        stride: single(case, "stride")?,
        padding,
        dilation: single(case, "dilation")?,
        groups: int(case, "groups")? as usize,
    };
    Ok((params, mode))
}

/// `nn.Conv1d`'s `padding_mode` (`zeros` when missing).
fn padding_mode(case: &Case) -> Result<PaddingMode, String> {
    Ok(match string(case, "padding_mode").as_deref() {
        None | Some("zeros") => PaddingMode::Zeros,
        Some("reflect") => PaddingMode::Reflect,
        Some("replicate") => PaddingMode::Replicate,
        Some("circular") => PaddingMode::Circular,
        Some(other) => return Err(format!("unknown padding_mode {other}")),
    })
}

/// `nn.Conv1d`'s forward with the case's weights: another padding mode than zeros pads the
/// input first and convolves without padding (as `Conv1d._conv_forward` does).
fn conv1d_layer<T: Float>(
    x: &Var<T>,
    w: &Var<T>,
    b: Option<&Var<T>>,
    params: &Conv1dParams,
    mode: PaddingMode,
) -> Result<Var<T>, TensorError> {
    let kernel = match w.shape()[..] {
        [_, _, k] if mode != PaddingMode::Zeros => k,
        _ => return x.conv1d(w, b, params),
    };
    let [left, right] = params.resolve_padding(kernel)?;
    x.pad(&[left as isize, right as isize], PadMode::from(mode))?
        .conv1d(w, b, &params.with_padding(Padding1d::Valid))
}

/// Runs one case of an op in [`OPS`].
pub fn run<T: Float>(case: &Case, tol: f64) -> Outcome {
    let names = ["input", "weight", "bias"];
    match case.op.as_str() {
        "conv1d" => {
            let (p, mode) = conv1d_params(case)?;
            differentiable::<T>(case, &names, tol, |v| {
                conv1d_layer(some(&v[0]), some(&v[1]), v[2].as_ref(), &p, mode)
            })
        }
        "conv_transpose2d" => {
            let p = ConvTranspose2dParams {
                stride: pair(case, "stride")?,
                padding: pair(case, "padding")?,
                output_padding: pair(case, "output_padding")?,
                dilation: pair(case, "dilation")?,
                groups: int(case, "groups")? as usize,
            };
            differentiable::<T>(case, &names, tol, |v| {
                some(&v[0]).conv_transpose2d(some(&v[1]), v[2].as_ref(), &p)
            })
        }
        op => Err(Failure::Wrong(format!("unknown op '{op}'"))),
    }
}
