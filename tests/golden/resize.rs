//! Reference cases of `interpolate` (`resize.json`; its `pad` cases run in the `pad` arm of
//! `tests/golden.rs`). Declared by `tests/golden.rs`, whose harness it uses.

use super::*;
use ferrite::tensor::{InterpolateMode, InterpolateOptions};

/// The ops this file runs.
pub const OPS: &[&str] = &["interpolate"];

/// `F.interpolate`'s arguments of a case; `null` entries are `None`.
fn options(case: &Case) -> Result<InterpolateOptions, String> {
    let mut o = InterpolateOptions::default();
    match case.params.get("size") {
        None | Some(Value::Null) => {}
        Some(_) => o = o.with_size(pair(case, "size")?),
    }
    match case.params.get("scale_factor") {
        None | Some(Value::Null) => {}
        Some(Value::Array(a)) if a.len() == 2 => {
            let f = |v: &Value| v.as_f64().ok_or("bad scale_factor");
            o = o.with_scale_factor([f(&a[0])?, f(&a[1])?]);
        }
        Some(Value::Number(n)) => o = o.with_scale_factor(n.as_f64().ok_or("bad scale_factor")?),
        Some(other) => return Err(format!("param scale_factor: unexpected {other}")),
    }
    o.mode = match string(case, "mode").as_deref() {
        None | Some("nearest") => InterpolateMode::Nearest,
        Some("bilinear") => InterpolateMode::Bilinear,
        Some(other) => return Err(format!("unknown interpolate mode {other}")),
    };
    match case.params.get("align_corners") {
        None | Some(Value::Null) => {}
        Some(_) => o = o.with_align_corners(boolean(case, "align_corners")?),
    }
    Ok(o)
}

/// Runs one case of an op in [`OPS`].
pub fn run<T: Float>(case: &Case, tol: f64) -> Outcome {
    match case.op.as_str() {
        "interpolate" => {
            let o = options(case)?;
            differentiable::<T>(case, &["input"], tol, |v| some(&v[0]).interpolate(&o))
        }
        op => Err(Failure::Wrong(format!("unknown op '{op}'"))),
    }
}
