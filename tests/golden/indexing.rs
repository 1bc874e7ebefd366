//! Reference cases of indexing and the reductions added in round 2 (`indexing.json`):
//! `gather`, `index_select`, `amax`, `logsumexp` and `var`. Declared by `tests/golden.rs`,
//! whose harness it uses.

use super::*;

/// The ops this file runs.
pub const OPS: &[&str] = &["gather", "index_select", "amax", "logsumexp", "var"];

/// The integer `index` input as [`Indices`] (it gets no gradient).
fn index(case: &Case) -> Result<Indices, String> {
    let j = case
        .inputs
        .get("index")
        .cloned()
        .flatten()
        .ok_or("missing index")?;
    let values = j
        .data
        .iter()
        .map(|&x| {
            if x.fract() == 0.0 {
                Ok(x as i64)
            } else {
                Err(format!("index {x} is not an integer"))
            }
        })
        .collect::<Result<Vec<_>, String>>()?;
    Indices::from_vec(values, &j.shape).map_err(|e| e.to_string())
}

/// A one-input op on `Var`.
type Op<'a, T> = dyn Fn(&Var<T>) -> Result<Var<T>, TensorError> + 'a;

/// Runs one case of an op in [`OPS`].
pub fn run<T: Float>(case: &Case, tol: f64) -> Outcome {
    let unary = |f: &Op<T>| differentiable::<T>(case, &["input"], tol, |v| f(some(&v[0])));
    match case.op.as_str() {
        "gather" | "index_select" => {
            let (dim, index) = (int(case, "dim")? as isize, index(case)?);
            if case.op == "gather" {
                unary(&|x| x.gather(dim, &index))
            } else {
                unary(&|x| x.index_select(dim, &index))
            }
        }
        "amax" | "logsumexp" => {
            let (d, keep) = (dims(case, "dims")?, boolean(case, "keepdim")?);
            if case.op == "amax" {
                unary(&|x| x.amax(&d, keep))
            } else {
                unary(&|x| x.logsumexp(&d, keep))
            }
        }
        "var" => {
            let (d, keep) = (dims(case, "dims")?, boolean(case, "keepdim")?);
            let correction = float(case, "correction")?;
            unary(&|x| x.var(&d, correction, keep))
        }
        op => Err(Failure::Wrong(format!("unknown op '{op}'"))),
    }
}
