//! Reference cases of the losses (`losses.json`, `losses_more.json`): cross-entropy and
//! NLL with class indices or probabilities, class weights, `ignore_index` and K-dim inputs,
//! and the elementwise losses with their float targets differentiated. Declared by
//! `tests/golden.rs`, whose harness it uses.

use super::*;
use ferrite::nn::loss::{
    CrossEntropyOptions, Indices, KlDivReduction, NllLossOptions, Reduction, binary_cross_entropy,
    binary_cross_entropy_with_logits, cross_entropy, huber_loss, kl_div, l1_loss, mse_loss,
    nll_loss, smooth_l1_loss,
};

/// The ops this file runs.
pub const OPS: &[&str] = &[
    "cross_entropy",
    "nll_loss",
    "mse_loss",
    "l1_loss",
    "smooth_l1_loss",
    "huber_loss",
    "kl_div",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
];

/// The case's `reduction` parsed as PyTorch would: `Err` (the op's refusal) for an unknown
/// string, which the case may expect.
fn parsed<R: std::str::FromStr<Err = TensorError>>(
    case: &Case,
    default: R,
) -> Result<R, TensorError> {
    match string(case, "reduction") {
        None => Ok(default),
        Some(s) => s.parse(),
    }
}

/// A non-differentiable float input (weights), `None` when missing or null.
fn constant<T: Float>(case: &Case, key: &str) -> Option<Tensor<T>> {
    case.inputs
        .get(key)
        .cloned()
        .flatten()
        .map(|j| tensor::<T>(&j))
}

/// An integer param that may be missing (its default then).
fn int_or(case: &Case, key: &str, default: i64) -> i64 {
    case.params
        .get(key)
        .and_then(Value::as_i64)
        .unwrap_or(default)
}

/// The target of a class loss: class indices, or probabilities when it has the input's
/// shape (as PyTorch decides by dtype; the JSON stores both as numbers).
enum ClassTarget<T: Float> {
    Classes(Indices),
    Probabilities(Tensor<T>),
}

fn class_target<T: Float>(case: &Case) -> Result<ClassTarget<T>, String> {
    let t = case
        .inputs
        .get("target")
        .cloned()
        .flatten()
        .ok_or("missing target")?;
    let input = case
        .inputs
        .get("input")
        .cloned()
        .flatten()
        .ok_or("missing input")?;
    if t.shape == input.shape && case.op == "cross_entropy" {
        return Ok(ClassTarget::Probabilities(tensor::<T>(&t)));
    }
    let data = t
        .data
        .iter()
        .map(|&x| {
            if x.fract() == 0.0 {
                Ok(x as i64)
            } else {
                Err(format!("target {x} is not a class index"))
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ClassTarget::Classes(
        Indices::from_vec(data, &t.shape).map_err(|e| e.to_string())?,
    ))
}

/// Runs one case of an op in [`OPS`].
pub fn run<T: Float>(case: &Case, tol: f64) -> Outcome {
    let pair = ["input", "target"];
    match case.op.as_str() {
        "cross_entropy" => {
            let target = class_target::<T>(case)?;
            let reduction = parsed(case, Reduction::Mean);
            let mut options = CrossEntropyOptions::new()
                .with_label_smoothing(float(case, "label_smoothing")?)
                .with_ignore_index(int_or(case, "ignore_index", -100));
            if let Some(w) = constant::<T>(case, "weight") {
                options = options.with_weight(&w);
            }
            differentiable::<T>(case, &["input"], tol, |v| {
                let options = options.clone().with_reduction(reduction.clone()?);
                match &target {
                    ClassTarget::Classes(t) => cross_entropy(some(&v[0]), t, &options),
                    ClassTarget::Probabilities(t) => cross_entropy(some(&v[0]), t, &options),
                }
            })
        }
        "nll_loss" => {
            let ClassTarget::Classes(target) = class_target::<T>(case)? else {
                return Err("nll_loss takes class indices".into());
            };
            let reduction = parsed(case, Reduction::Mean);
            let mut options =
                NllLossOptions::new().with_ignore_index(int_or(case, "ignore_index", -100));
            if let Some(w) = constant::<T>(case, "weight") {
                options = options.with_weight(&w);
            }
            differentiable::<T>(case, &["input"], tol, |v| {
                let options = options.clone().with_reduction(reduction.clone()?);
                nll_loss(some(&v[0]), &target, options)
            })
        }
        "mse_loss" | "l1_loss" | "smooth_l1_loss" | "huber_loss" => {
            let reduction = parsed(case, Reduction::Mean);
            let beta = case
                .params
                .get("beta")
                .and_then(Value::as_f64)
                .unwrap_or(1.0);
            let delta = case
                .params
                .get("delta")
                .and_then(Value::as_f64)
                .unwrap_or(1.0);
            differentiable::<T>(case, &pair, tol, |v| {
                let (x, t, r) = (some(&v[0]), some(&v[1]), reduction.clone()?);
                match case.op.as_str() {
                    "mse_loss" => mse_loss(x, t, r),
                    "l1_loss" => l1_loss(x, t, r),
                    "smooth_l1_loss" => smooth_l1_loss(x, t, r, beta),
                    _ => huber_loss(x, t, r, delta),
                }
            })
        }
        "kl_div" => {
            let reduction = parsed(case, KlDivReduction::Mean);
            let log_target = case
                .params
                .get("log_target")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            differentiable::<T>(case, &pair, tol, |v| {
                kl_div(some(&v[0]), some(&v[1]), reduction.clone()?, log_target)
            })
        }
        "binary_cross_entropy" => {
            let reduction = parsed(case, Reduction::Mean);
            let weight = constant::<T>(case, "weight");
            differentiable::<T>(case, &pair, tol, |v| {
                binary_cross_entropy(
                    some(&v[0]),
                    some(&v[1]),
                    weight.as_ref(),
                    reduction.clone()?,
                )
            })
        }
        "binary_cross_entropy_with_logits" => {
            let reduction = parsed(case, Reduction::Mean);
            let (weight, pos_weight) = (
                constant::<T>(case, "weight"),
                constant::<T>(case, "pos_weight"),
            );
            differentiable::<T>(case, &pair, tol, |v| {
                binary_cross_entropy_with_logits(
                    some(&v[0]),
                    some(&v[1]),
                    weight.as_ref(),
                    pos_weight.as_ref(),
                    reduction.clone()?,
                )
            })
        }
        op => Err(Failure::Wrong(format!("unknown op '{op}'"))),
    }
}
