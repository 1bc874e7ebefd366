//! Reference cases of the adaptive pools (`adaptive_pool.json`): `adaptive_avg_pool2d` and
//! `adaptive_max_pool2d`. Declared by `tests/golden.rs`, whose harness it uses.

use super::*;
use ferrite::tensor::AdaptiveSize;

/// The ops this file runs.
pub const OPS: &[&str] = &["adaptive_avg_pool2d", "adaptive_max_pool2d"];

/// `output_size`: `[oh, ow]` with `null` entries (keep), or one number. A negative size is
/// refused here, with the op's name, as PyTorch refuses it (a `usize` cannot hold it).
fn output_size(case: &Case) -> Result<Result<AdaptiveSize, TensorError>, String> {
    let entry = |v: &Value| -> Result<Option<i64>, String> {
        match v {
            Value::Null => Ok(None),
            v => v
                .as_i64()
                .map(Some)
                .ok_or_else(|| format!("bad output_size entry {v}")),
        }
    };
    let [h, w] = match case.params.get("output_size") {
        Some(Value::Array(a)) if a.len() == 2 => [entry(&a[0])?, entry(&a[1])?],
        Some(v) => [entry(v)?; 2],
        None => return Err("missing param output_size".into()),
    };
    let size = |s: Option<i64>| s.map(usize::try_from).transpose();
    Ok(match (size(h), size(w)) {
        (Ok(h), Ok(w)) => Ok(AdaptiveSize([h, w])),
        _ => Err(TensorError::invalid(
            "adaptive_pool2d",
            format!("output_size must be non-negative, found [{h:?}, {w:?}]"),
        )),
    })
}

/// Runs one case of an op in [`OPS`].
pub fn run<T: Float>(case: &Case, tol: f64) -> Outcome {
    let size = output_size(case)?;
    match case.op.as_str() {
        "adaptive_avg_pool2d" => differentiable::<T>(case, &["input"], tol, |v| {
            some(&v[0]).adaptive_avg_pool2d(size.clone()?)
        }),
        "adaptive_max_pool2d" => {
            let indices = std::cell::RefCell::new(None);
            differentiable::<T>(case, &["input"], tol, |v| {
                let (y, idx) = some(&v[0]).adaptive_max_pool2d_with_indices(size.clone()?)?;
                *indices.borrow_mut() = Some(idx);
                Ok(y)
            })?;
            compare_indices(case, indices.into_inner().as_ref())
        }
        op => Err(Failure::Wrong(format!("unknown op '{op}'"))),
    }
}
