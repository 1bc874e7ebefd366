//! Reference cases of the pointwise ops (`pointwise.json`): the activations, `pow`, `clamp`,
//! `maximum`, `minimum` and `where`. Declared by `tests/golden.rs`, whose harness it uses.

use super::*;
use ferrite::tensor::{GeluApproximate, Mask};

/// The ops this file runs.
pub const OPS: &[&str] = &[
    "leaky_relu",
    "elu",
    "gelu",
    "silu",
    "softplus",
    "hardtanh",
    "relu6",
    "hardswish",
    "hardsigmoid",
    "abs",
    "exp",
    "log",
    "sqrt",
    "pow",
    "clamp",
    "maximum",
    "minimum",
    "where",
];

/// A number param that may be `null` (PyTorch's `None`).
fn optional_float(case: &Case, key: &str) -> Result<Option<f64>, String> {
    match case.params.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_f64()
            .map(Some)
            .ok_or_else(|| format!("param {key}: expected a number or null, found {v}")),
    }
}

/// `where`'s condition: an integer tensor, non-zero meaning "take `a`".
fn condition(case: &Case) -> Result<Mask, String> {
    let c = case
        .inputs
        .get("condition")
        .cloned()
        .flatten()
        .ok_or("missing condition")?;
    Mask::from_vec(c.data.iter().map(|&x| x != 0.0).collect(), &c.shape).map_err(|e| e.to_string())
}

/// A one-input op on `Var`.
type UnaryOp<'a, T> = dyn Fn(&Var<T>) -> Result<Var<T>, TensorError> + 'a;

/// Runs one case of an op in [`OPS`].
pub fn run<T: Float>(case: &Case, tol: f64) -> Outcome {
    let unary = |f: &UnaryOp<T>| differentiable::<T>(case, &["input"], tol, |v| f(some(&v[0])));
    match case.op.as_str() {
        "leaky_relu" => {
            let slope = T::of(float(case, "negative_slope")?);
            unary(&|x| x.leaky_relu(slope))
        }
        "elu" => {
            let alpha = T::of(float(case, "alpha")?);
            unary(&|x| x.elu(alpha))
        }
        "gelu" => {
            let approximate = string(case, "approximate").unwrap_or_else(|| "none".into());
            unary(&|x| x.gelu(approximate.parse::<GeluApproximate>()?))
        }
        "silu" => unary(&|x| x.silu()),
        "softplus" => {
            let (beta, threshold) = (
                T::of(float(case, "beta")?),
                T::of(float(case, "threshold")?),
            );
            unary(&|x| x.softplus(beta, threshold))
        }
        "hardtanh" => {
            let (lo, hi) = (
                T::of(float(case, "min_val")?),
                T::of(float(case, "max_val")?),
            );
            unary(&|x| x.hardtanh(lo, hi))
        }
        "relu6" => unary(&|x| x.relu6()),
        "hardswish" => unary(&|x| x.hardswish()),
        "hardsigmoid" => unary(&|x| x.hardsigmoid()),
        "abs" => unary(&|x| x.abs()),
        "exp" => unary(&|x| x.exp()),
        "log" => unary(&|x| x.log()),
        "sqrt" => unary(&|x| x.sqrt()),
        "pow" => {
            let p = T::of(float(case, "exponent")?);
            unary(&|x| x.pow(p))
        }
        "clamp" => {
            let lo = optional_float(case, "min")?.map(T::of);
            let hi = optional_float(case, "max")?.map(T::of);
            unary(&|x| x.clamp(lo, hi))
        }
        "maximum" => {
            differentiable::<T>(case, &["a", "b"], tol, |v| some(&v[0]).maximum(some(&v[1])))
        }
        "minimum" => {
            differentiable::<T>(case, &["a", "b"], tol, |v| some(&v[0]).minimum(some(&v[1])))
        }
        "where" => {
            let cond = condition(case)?;
            differentiable::<T>(case, &["a", "b"], tol, |v| {
                Var::where_cond(&cond, some(&v[0]), some(&v[1]))
            })
        }
        op => Err(Failure::Wrong(format!("unknown op '{op}'"))),
    }
}
