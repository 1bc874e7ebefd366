//! Reference cases of the normalisation ops (`norms.json`): `batch_norm1d`, `layer_norm` and
//! `group_norm`. Declared by `tests/golden.rs`, whose harness it uses.

use super::*;

/// The ops this file runs.
pub const OPS: &[&str] = &["batch_norm1d", "layer_norm", "group_norm"];

/// A list of sizes param (`normalized_shape`).
fn sizes(case: &Case, key: &str) -> Result<Vec<usize>, String> {
    dims(case, key)?
        .into_iter()
        .map(|d| usize::try_from(d).map_err(|_| format!("param {key}: negative size {d}")))
        .collect()
}

/// Runs one case of an op in [`OPS`].
pub fn run<T: Float>(case: &Case, tol: f64) -> Outcome {
    let eps = float(case, "eps")?;
    let names = ["input", "weight", "bias"];
    match case.op.as_str() {
        "batch_norm1d" => batch_norm_case::<T>(case, tol, ferrite::nn::batch_norm1d),
        "layer_norm" => {
            let shape = sizes(case, "normalized_shape")?;
            differentiable::<T>(case, &names, tol, |v| {
                some(&v[0]).layer_norm(&shape, v[1].as_ref(), v[2].as_ref(), eps)
            })
        }
        "group_norm" => {
            let groups = int(case, "num_groups")?;
            let groups = usize::try_from(groups).map_err(|_| format!("num_groups {groups}"))?;
            differentiable::<T>(case, &names, tol, |v| {
                some(&v[0]).group_norm(groups, v[1].as_ref(), v[2].as_ref(), eps)
            })
        }
        op => Err(Failure::Wrong(format!("unknown op '{op}'"))),
    }
}
