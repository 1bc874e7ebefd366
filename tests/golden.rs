//! PyTorch reference cases ("golden" files, see `tests/golden/FORMAT.md`).
//!
//! Every case of every `*.json` in `tests/golden/` runs in f64 (relative tolerance 1e-9) and
//! in f32 (1e-4), forward and backward. Set `FERRITE_GOLDEN_DIR` to a directory of more files
//! in the same format to check them too. An unknown op fails the test with its name.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ferrite::autograd::{GradOptions, grad};
use ferrite::prelude::*;
use ferrite::tensor::{Conv2dParams, PadMode, Pool2dParams};
use serde::Deserialize;
use serde_json::Value;

#[path = "golden/adaptive_pool.rs"]
mod adaptive_pool;
#[path = "golden/conv.rs"]
mod conv;
#[path = "golden/indexing.rs"]
mod indexing;
#[path = "golden/losses.rs"]
mod losses;
#[path = "golden/norms.rs"]
mod norms;
#[path = "golden/optim.rs"]
mod optim;
#[path = "golden/pointwise.rs"]
mod pointwise;
#[path = "golden/resize.rs"]
mod resize;

#[derive(Debug, Deserialize)]
struct File {
    cases: Vec<Case>,
}

#[derive(Debug, Deserialize, Clone)]
struct Json {
    shape: Vec<usize>,
    data: Vec<f64>,
}

#[derive(Debug, Deserialize)]
struct Case {
    name: String,
    op: String,
    #[serde(default)]
    params: BTreeMap<String, Value>,
    #[serde(default)]
    inputs: BTreeMap<String, Option<Json>>,
    output: Option<Json>,
    grad_output: Option<Json>,
    #[serde(default)]
    grads: BTreeMap<String, Json>,
    #[serde(default)]
    expect_error: bool,
    #[serde(default)]
    extra: BTreeMap<String, Json>,
    #[serde(default)]
    grads_direction: BTreeMap<String, Json>,
    #[serde(default)]
    grad_grads: BTreeMap<String, Json>,
}

/// Why a case did not pass.
enum Failure {
    /// Wrong numbers, a missing error, or an unexpected error.
    Wrong(String),
}

impl From<String> for Failure {
    fn from(s: String) -> Self {
        Failure::Wrong(s)
    }
}

impl From<&str> for Failure {
    fn from(s: &str) -> Self {
        Failure::Wrong(s.to_string())
    }
}

impl From<TensorError> for Failure {
    fn from(e: TensorError) -> Self {
        Failure::Wrong(format!("unexpected error: {e}"))
    }
}

type Outcome = Result<(), Failure>;

fn tensor<T: Float>(j: &Json) -> Tensor<T> {
    Tensor::from_vec(j.data.iter().map(|&x| T::of(x)).collect(), &j.shape)
        .expect("valid golden tensor")
}

fn compare<T: Float>(what: &str, got: &Tensor<T>, want: &Json, tol: f64) -> Result<(), String> {
    if got.shape() != want.shape.as_slice() {
        return Err(format!(
            "{what}: shape {:?}, expected {:?}",
            got.shape(),
            want.shape
        ));
    }
    for (i, (g, w)) in got.to_vec().iter().zip(&want.data).enumerate() {
        let g = g.as_f64();
        let ok = (g - w).abs() <= tol * w.abs().max(1.0) || (g.is_nan() && w.is_nan());
        if !ok {
            return Err(format!(
                "{what}[{i}]: got {g:e}, expected {w:e} (tolerance {tol:e})"
            ));
        }
    }
    Ok(())
}

fn pair(case: &Case, key: &str) -> Result<[usize; 2], String> {
    let v = case
        .params
        .get(key)
        .ok_or_else(|| format!("missing param {key}"))?;
    match v {
        Value::Array(a) if a.len() == 2 => Ok([
            a[0].as_u64().ok_or("bad pair")? as usize,
            a[1].as_u64().ok_or("bad pair")? as usize,
        ]),
        Value::Number(n) => {
            let n = n.as_u64().ok_or("bad number")? as usize;
            Ok([n, n])
        }
        other => Err(format!("param {key}: expected [h, w], found {other}")),
    }
}

fn int(case: &Case, key: &str) -> Result<i64, String> {
    case.params
        .get(key)
        .and_then(Value::as_i64)
        .ok_or_else(|| format!("missing integer param {key}"))
}

fn float(case: &Case, key: &str) -> Result<f64, String> {
    case.params
        .get(key)
        .and_then(Value::as_f64)
        .ok_or_else(|| format!("missing number param {key}"))
}

fn boolean(case: &Case, key: &str) -> Result<bool, String> {
    case.params
        .get(key)
        .and_then(Value::as_bool)
        .ok_or_else(|| format!("missing bool param {key}"))
}

fn string(case: &Case, key: &str) -> Option<String> {
    case.params
        .get(key)
        .and_then(Value::as_str)
        .map(str::to_string)
}

fn dims(case: &Case, key: &str) -> Result<Vec<isize>, String> {
    let v = case
        .params
        .get(key)
        .and_then(Value::as_array)
        .ok_or_else(|| format!("missing list param {key}"))?;
    v.iter()
        .map(|d| {
            d.as_i64()
                .map(|d| d as isize)
                .ok_or_else(|| format!("bad entry in {key}"))
        })
        .collect()
}

/// The kernel's parameters and `nn.Conv2d`'s padding mode of a conv2d case.
fn conv_params(case: &Case) -> Result<(Conv2dParams, PaddingMode), String> {
    let padding = match case.params.get("padding") {
        Some(Value::String(s)) if s == "same" => Padding::Same,
        Some(Value::String(s)) if s == "valid" => Padding::Valid,
        _ => Padding::Explicit(pair(case, "padding")?),
    };
    let padding_mode = match string(case, "padding_mode").as_deref() {
        None | Some("zeros") => PaddingMode::Zeros,
        Some("reflect") => PaddingMode::Reflect,
        Some("replicate") => PaddingMode::Replicate,
        Some("circular") => PaddingMode::Circular,
        Some(other) => return Err(format!("unknown padding_mode {other}")),
    };
    let params = Conv2dParams {
        stride: pair(case, "stride")?,
        padding,
        dilation: pair(case, "dilation")?,
        groups: int(case, "groups")? as usize,
    };
    Ok((params, padding_mode))
}

/// `nn.Conv2d`'s forward with the case's weights: another padding mode than zeros pads
/// the input first and convolves without padding (as `Conv2d._conv_forward` does).
fn conv2d_layer<T: Float>(
    x: &Var<T>,
    w: &Var<T>,
    b: Option<&Var<T>>,
    params: &Conv2dParams,
    mode: PaddingMode,
) -> Result<Var<T>, TensorError> {
    if mode == PaddingMode::Zeros {
        return x.conv2d(w, b, params);
    }
    let kernel = match w.shape()[..] {
        [_, _, kh, kw] => [kh, kw],
        _ => return x.conv2d(w, b, params), // refused there, with the conv2d message
    };
    let [top, bottom, left, right] = params.resolve_padding(kernel)?;
    let pad = [left, right, top, bottom].map(|p| p as isize);
    x.pad(&pad, PadMode::from(mode))?
        .conv2d(w, b, &params.with_padding(Padding::Valid))
}

/// `F.pad`'s `mode` and `value` as a [`PadMode`]; `Err` (the op's refusal) for a value
/// with another mode than constant, which `PadMode` cannot express.
fn pad_mode(case: &Case) -> Result<Result<PadMode, TensorError>, String> {
    let value = case.params.get("value").and_then(Value::as_f64);
    Ok(match string(case, "mode").as_deref() {
        None | Some("constant") => Ok(PadMode::Constant(value.unwrap_or(0.0))),
        Some(_) if value.is_some() => Err(TensorError::invalid(
            "pad",
            "a padding value is only allowed with mode \"constant\"",
        )),
        Some("reflect") => Ok(PadMode::Reflect),
        Some("replicate") => Ok(PadMode::Replicate),
        Some("circular") => Ok(PadMode::Circular),
        Some(other) => return Err(format!("unknown pad mode {other}")),
    })
}

/// Runs a differentiable op: every non-null input becomes a parameter (named inputs in
/// `names` order are passed to `f`, `None` for null ones), the output is compared, then
/// `grad_output` is backpropagated and every gradient in `grads` compared.
fn differentiable<T: Float>(
    case: &Case,
    names: &[&str],
    tol: f64,
    f: impl Fn(&[Option<Var<T>>]) -> Result<Var<T>, TensorError>,
) -> Outcome {
    let vars: Vec<Option<Var<T>>> = names
        .iter()
        .map(|n| {
            case.inputs
                .get(*n)
                .cloned()
                .flatten()
                .map(|j| Var::parameter(tensor::<T>(&j)))
        })
        .collect();
    let result = f(&vars);
    if case.expect_error {
        return match result {
            Err(_) => Ok(()),
            Ok(v) => Err(Failure::Wrong(format!(
                "expected an error, got a result of shape {:?}",
                v.shape()
            ))),
        };
    }
    let out = result?;
    compare(
        "output",
        &out.value(),
        case.output.as_ref().ok_or("case has no output")?,
        tol,
    )?;
    if case.grads.is_empty() {
        return Ok(());
    }
    let g = tensor::<T>(
        case.grad_output
            .as_ref()
            .ok_or("case has grads but no grad_output")?,
    );
    out.backward_with(&g)?;
    for (name, want) in &case.grads {
        let i = names
            .iter()
            .position(|n| n == name)
            .ok_or_else(|| format!("unexpected grad {name}"))?;
        let var = vars[i]
            .as_ref()
            .ok_or_else(|| format!("grad for null input {name}"))?;
        let got = var.grad().unwrap_or_else(|| Tensor::zeros(&var.shape()));
        compare(&format!("grad {name}"), &got, want, tol)?;
    }
    if case.grad_grads.is_empty() {
        return Ok(());
    }
    second_order(case, names, tol, &f)
}

/// The case's parameters: every non-null input of `names` as a `Var` requiring a gradient.
fn parameters<T: Float>(case: &Case, names: &[&str]) -> Vec<Option<Var<T>>> {
    (names.iter())
        .map(|n| {
            let j = case.inputs.get(*n).cloned().flatten();
            j.map(|j| Var::parameter(tensor::<T>(&j)))
        })
        .collect()
}

/// Checks `grad_grads` (FORMAT.md, "Second-order fields"): with the gradients `g_k` computed
/// with `create_graph` and the directions `v_k`, the gradient of `s = Σ_k sum(g_k · v_k)`
/// with respect to every input and to `grad_output`.
fn second_order<T: Float>(
    case: &Case,
    names: &[&str],
    tol: f64,
    f: &impl Fn(&[Option<Var<T>>]) -> Result<Var<T>, TensorError>,
) -> Outcome {
    let vars = parameters::<T>(case, names);
    let out = f(&vars)?;
    let grad_output = Var::parameter(tensor::<T>(
        case.grad_output.as_ref().ok_or("no grad_output")?,
    ));
    let position = |name: &str| {
        let i = names.iter().position(|n| *n == name);
        i.and_then(|i| vars[i].clone())
            .ok_or_else(|| format!("no input {name}"))
    };
    let keys: Vec<&String> = case.grads.keys().collect();
    let wrt = keys
        .iter()
        .map(|k| position(k))
        .collect::<Result<Vec<_>, _>>()?;
    let create = GradOptions::default()
        .with_create_graph(true)
        .with_allow_unused(true);
    let first = grad(
        &[out],
        &wrt,
        Some(std::slice::from_ref(&grad_output)),
        &create,
    )?;
    let mut s: Option<Var<T>> = None;
    for (k, g) in keys.iter().zip(first) {
        let v = tensor::<T>(
            case.grads_direction
                .get(*k)
                .ok_or_else(|| format!("no grads_direction {k}"))?,
        );
        let Some(g) = g else { continue };
        let term = g.mul(&Var::new(v))?.sum_all()?;
        s = Some(match s {
            Some(acc) => acc.add(&term)?,
            None => term,
        });
    }
    let s = s.ok_or("no gradient depends on the inputs")?;
    let mut targets = Vec::new();
    for name in case.grad_grads.keys() {
        targets.push(match name.as_str() {
            "grad_output" => grad_output.clone(),
            other => position(other)?,
        });
    }
    let unused = GradOptions::default().with_allow_unused(true);
    let got = if s.requires_grad() {
        grad(&[s], &targets, None, &unused)?
    } else {
        vec![None; targets.len()]
    };
    for ((name, want), (g, var)) in case.grad_grads.iter().zip(got.iter().zip(&targets)) {
        let g = g
            .as_ref()
            .map(|g| g.value())
            .unwrap_or_else(|| Tensor::zeros(&var.shape()));
        compare(&format!("grad_grads {name}"), &g, want, tol)?;
    }
    Ok(())
}

fn some<T: Float>(v: &Option<Var<T>>) -> &Var<T> {
    v.as_ref().expect("input present")
}

fn run_case<T: Float>(case: &Case, tol: f64) -> Outcome {
    match case.op.as_str() {
        "conv2d" => {
            let (p, mode) = conv_params(case)?;
            differentiable::<T>(case, &["input", "weight", "bias"], tol, |v| {
                conv2d_layer(some(&v[0]), some(&v[1]), v[2].as_ref(), &p, mode)
            })
        }
        "pad" => {
            let pad = dims(case, "pad")?;
            let mode = pad_mode(case)?;
            differentiable::<T>(case, &["input"], tol, |v| {
                some(&v[0]).pad(&pad, mode.clone()?)
            })
        }
        "linear" => differentiable::<T>(case, &["input", "weight", "bias"], tol, |v| {
            some(&v[0]).linear(some(&v[1]), v[2].as_ref())
        }),
        "relu" => differentiable::<T>(case, &["input"], tol, |v| some(&v[0]).relu()),
        "sigmoid" => differentiable::<T>(case, &["input"], tol, |v| some(&v[0]).sigmoid()),
        "tanh" => differentiable::<T>(case, &["input"], tol, |v| some(&v[0]).tanh()),
        "add" => differentiable::<T>(case, &["a", "b"], tol, |v| some(&v[0]).add(some(&v[1]))),
        "sub" => differentiable::<T>(case, &["a", "b"], tol, |v| some(&v[0]).sub(some(&v[1]))),
        "mul" => differentiable::<T>(case, &["a", "b"], tol, |v| some(&v[0]).mul(some(&v[1]))),
        "div" => differentiable::<T>(case, &["a", "b"], tol, |v| some(&v[0]).div(some(&v[1]))),
        "matmul" => {
            differentiable::<T>(case, &["a", "b"], tol, |v| some(&v[0]).matmul(some(&v[1])))
        }
        "sum" | "mean" => {
            let d = dims(case, "dims")?;
            let keep = boolean(case, "keepdim")?;
            let mean = case.op == "mean";
            differentiable::<T>(case, &["input"], tol, |v| {
                if mean {
                    some(&v[0]).mean(&d, keep)
                } else {
                    some(&v[0]).sum(&d, keep)
                }
            })
        }
        "reshape" => {
            let s = dims(case, "shape")?;
            differentiable::<T>(case, &["input"], tol, |v| some(&v[0]).reshape(&s))
        }
        "flatten" => {
            let (s, e) = (
                int(case, "start_dim")? as isize,
                int(case, "end_dim")? as isize,
            );
            differentiable::<T>(case, &["input"], tol, |v| some(&v[0]).flatten(s, e))
        }
        "permute" => {
            let d = dims(case, "dims")?;
            differentiable::<T>(case, &["input"], tol, |v| some(&v[0]).permute(&d))
        }
        "log_softmax" | "softmax" => {
            let dim = int(case, "dim")? as isize;
            let log = case.op == "log_softmax";
            differentiable::<T>(case, &["input"], tol, |v| {
                if log {
                    some(&v[0]).log_softmax(dim)
                } else {
                    some(&v[0]).softmax(dim)
                }
            })
        }
        "dropout_eval" => {
            let layer = ferrite::nn::Dropout::<T>::new(float(case, "p")?);
            layer.eval();
            differentiable::<T>(case, &["input"], tol, |v| layer.forward(some(&v[0])))
        }
        "batch_norm2d" => batch_norm_case::<T>(case, tol, ferrite::nn::batch_norm2d),
        "max_pool2d" | "avg_pool2d" => pool_case::<T>(case, tol),
        op if optim::OPS.contains(&op) => optim::run::<T>(case, tol),
        op if pointwise::OPS.contains(&op) => pointwise::run::<T>(case, tol),
        op if indexing::OPS.contains(&op) => indexing::run::<T>(case, tol),
        op if norms::OPS.contains(&op) => norms::run::<T>(case, tol),
        op if adaptive_pool::OPS.contains(&op) => adaptive_pool::run::<T>(case, tol),
        op if losses::OPS.contains(&op) => losses::run::<T>(case, tol),
        op if conv::OPS.contains(&op) => conv::run::<T>(case, tol),
        op if resize::OPS.contains(&op) => resize::run::<T>(case, tol),
        op => Err(Failure::Wrong(format!("unknown op '{op}'"))),
    }
}

/// A functional batch norm (`batch_norm1d`, `batch_norm2d`).
type BatchNormFn<T> = fn(
    &Var<T>,
    Option<&Var<T>>,
    Option<&Var<T>>,
    Option<&Var<T>>,
    Option<&Var<T>>,
    &ferrite::nn::BatchNormOptions,
) -> Result<Var<T>, TensorError>;

/// A batch norm case: the running statistics are buffers (no grads), compared after the
/// call with `extra.running_mean_after` / `running_var_after` when present.
fn batch_norm_case<T: Float>(case: &Case, tol: f64, f: BatchNormFn<T>) -> Outcome {
    let buffer = |name: &str| {
        case.inputs
            .get(name)
            .cloned()
            .flatten()
            .map(|j| Var::new(tensor::<T>(&j)))
    };
    let (mean, var) = (buffer("running_mean"), buffer("running_var"));
    let options = ferrite::nn::BatchNormOptions::default()
        .with_training(boolean(case, "training")?)
        .with_momentum(float(case, "momentum")?)
        .with_eps(float(case, "eps")?);
    // Only the first forward updates the case's running statistics (PyTorch's ran once);
    // the second-order check runs the forward again, on copies.
    let first = std::cell::Cell::new(true);
    let copy = |b: &Option<Var<T>>| b.as_ref().map(|b| Var::new(b.value()));
    differentiable::<T>(case, &["input", "weight", "bias"], tol, |v| {
        let (m, s) = if first.replace(false) {
            (mean.clone(), var.clone())
        } else {
            (copy(&mean), copy(&var))
        };
        f(
            some(&v[0]),
            m.as_ref(),
            s.as_ref(),
            v[1].as_ref(),
            v[2].as_ref(),
            &options,
        )
    })?;
    for (key, buf) in [("running_mean_after", &mean), ("running_var_after", &var)] {
        if let (Some(want), Some(buf)) = (case.extra.get(key), buf) {
            compare(key, &buf.value(), want, tol)?;
        }
    }
    Ok(())
}

/// Compares `extra.indices` (when the case has it) exactly with the indices an op returned.
fn compare_indices(case: &Case, got: Option<&ferrite::tensor::Indices>) -> Outcome {
    let Some(want) = case.extra.get("indices") else {
        return Ok(());
    };
    if case.expect_error {
        return Ok(());
    }
    let got = got.ok_or("the case has extra.indices but the op returned none")?;
    let values: Vec<f64> = got.to_vec().iter().map(|&i| i as f64).collect();
    if got.shape() != want.shape.as_slice() || values != want.data {
        return Err(Failure::Wrong(format!(
            "indices: got {:?} {:?}, expected {:?} {:?}",
            got.shape(),
            got.to_vec(),
            want.shape,
            want.data
        )));
    }
    Ok(())
}

/// `max_pool2d` (optional `dilation` and `return_indices`) and `avg_pool2d` (optional
/// `divisor_override`, `null` for none).
fn pool_case<T: Float>(case: &Case, tol: f64) -> Outcome {
    let p = Pool2dParams::new(pair(case, "kernel_size")?)
        .with_stride(pair(case, "stride")?)
        .with_padding(pair(case, "padding")?)
        .with_ceil_mode(boolean(case, "ceil_mode")?);
    if case.op == "avg_pool2d" {
        let p = p.with_count_include_pad(boolean(case, "count_include_pad")?);
        let p = match case.params.get("divisor_override") {
            None | Some(Value::Null) => p,
            Some(v) => p.with_divisor_override(v.as_i64().ok_or("bad divisor_override")?),
        };
        return differentiable::<T>(case, &["input"], tol, |v| some(&v[0]).avg_pool2d(&p));
    }
    let p = match case.params.get("dilation") {
        Some(_) => p.with_dilation(pair(case, "dilation")?),
        None => p,
    };
    let indices = std::cell::RefCell::new(None);
    differentiable::<T>(case, &["input"], tol, |v| {
        let (y, idx) = some(&v[0]).max_pool2d_with_indices(&p)?;
        *indices.borrow_mut() = Some(idx);
        Ok(y)
    })?;
    compare_indices(case, indices.into_inner().as_ref())
}

fn golden_files() -> Vec<PathBuf> {
    let mut dirs = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")];
    if let Ok(extra) = std::env::var("FERRITE_GOLDEN_DIR") {
        dirs.push(PathBuf::from(extra));
    }
    let mut files = Vec::new();
    for dir in dirs {
        let entries = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()));
        let mut found: Vec<PathBuf> = entries
            .map(|e| e.expect("directory entry").path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        found.sort();
        assert!(!found.is_empty(), "no golden files in {}", dir.display());
        files.extend(found);
    }
    files
}

#[test]
fn golden_cases_match_pytorch() {
    let mut passed = 0;
    let mut failures = Vec::new();
    for path in golden_files() {
        let text = std::fs::read_to_string(&path).expect("readable golden file");
        let file: File = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{}: not a golden file: {e}", path.display()));
        let fname = path.file_name().unwrap().to_string_lossy().to_string();
        for case in &file.cases {
            for (dtype, outcome) in [
                ("f64", run_case::<f64>(case, 1e-9)),
                ("f32", run_case::<f32>(case, 1e-4)),
            ] {
                match outcome {
                    Ok(()) => passed += 1,
                    Err(Failure::Wrong(msg)) => failures.push(format!(
                        "{fname} {} ({}, {dtype}): {msg}",
                        case.name, case.op
                    )),
                }
            }
        }
    }
    println!("golden: {passed} case runs passed (f64 and f32)");
    assert!(
        failures.is_empty(),
        "{} golden failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The harness itself can fail: a wrong number, a missing error and an unknown op are caught.
#[test]
fn the_harness_catches_wrong_values_missing_errors_and_unknown_ops() {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/conv2d.json"),
    )
    .unwrap();
    let file: File = serde_json::from_str(&text).unwrap();
    let mut case = file.cases.into_iter().find(|c| !c.expect_error).unwrap();
    assert!(run_case::<f64>(&case, 1e-9).is_ok());

    let good = case.grads["weight"].data[0];
    case.grads.get_mut("weight").unwrap().data[0] = good * (1.0 + 1e-7) + 1e-7;
    assert!(
        matches!(run_case::<f64>(&case, 1e-9), Err(Failure::Wrong(m)) if m.contains("grad weight"))
    );
    case.grads.get_mut("weight").unwrap().data[0] = good;

    case.expect_error = true;
    assert!(
        matches!(run_case::<f64>(&case, 1e-9), Err(Failure::Wrong(m)) if m.contains("expected an error"))
    );
    case.expect_error = false;

    case.op = "frobnicate2d".into();
    assert!(
        matches!(run_case::<f64>(&case, 1e-9), Err(Failure::Wrong(m)) if m.contains("unknown op 'frobnicate2d'"))
    );
}
