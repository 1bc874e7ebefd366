//! PyTorch reference cases ("golden" files, computed by PyTorch in float64) for the losses,
//! softmax, batch norm and dropout: `tests/data/{losses,softmax,batchnorm,dropout}.json`.
//!
//! Every case is run in f64 (tolerance `1e-9 · max(1, |expected|)`) and in f32 (`1e-4`):
//! the forward output, then `backward_with(grad_output)` and every input's gradient, and
//! for batch norm in training mode the running statistics after the step. Cases marked
//! `expect_error` must return an error; an op this runner does not know fails with its name.
//!
//! This runner knows only these four families, so it does not read `FERRITE_GOLDEN_DIR`
//! (a directory that may hold every family): the workspace-wide `tests/golden.rs` does.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use ferrite_autograd::Var;
use ferrite_nn::loss::{CrossEntropyOptions, Reduction, cross_entropy, mse_loss};
use ferrite_nn::{BatchNormOptions, Dropout, Module, batch_norm2d};
use ferrite_tensor::{Float, Tensor, TensorError};
use serde_json::Value;

const FILES: [&str; 4] = ["losses", "softmax", "batchnorm", "dropout"];
const TOL_F64: f64 = 1e-9;
const TOL_F32: f64 = 1e-4;

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

fn load(path: &Path) -> Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

fn cases(file: &Value) -> &[Value] {
    file["cases"].as_array().map(Vec::as_slice).unwrap_or(&[])
}

/// A `{"shape": [...], "data": [...]}` tensor.
fn tensor<T: Float>(v: &Value) -> Result<Tensor<T>, String> {
    let shape: Vec<usize> = v["shape"]
        .as_array()
        .ok_or("a tensor without a shape")?
        .iter()
        .map(|d| d.as_u64().map(|d| d as usize).ok_or("a non-integer dim"))
        .collect::<Result<_, _>>()?;
    let data: Vec<T> = v["data"]
        .as_array()
        .ok_or("a tensor without data")?
        .iter()
        .map(|x| x.as_f64().map(T::of).ok_or("a non-numeric element"))
        .collect::<Result<_, _>>()?;
    Tensor::from_vec(data, &shape).map_err(|e| e.to_string())
}

/// An integer tensor (class indices) as a flat list.
fn indices(v: &Value) -> Result<Vec<usize>, String> {
    v["data"]
        .as_array()
        .ok_or("an index tensor without data")?
        .iter()
        .map(|x| x.as_u64().map(|x| x as usize).ok_or("a non-integer index"))
        .collect::<Result<_, _>>()
        .map_err(String::from)
}

fn param_f64(params: &Value, key: &str) -> Result<f64, String> {
    params[key]
        .as_f64()
        .ok_or_else(|| format!("param '{key}' is missing or not a number"))
}

fn reduction(params: &Value) -> Result<Reduction, String> {
    match params["reduction"].as_str() {
        Some("mean") => Ok(Reduction::Mean),
        Some("sum") => Ok(Reduction::Sum),
        Some("none") => Ok(Reduction::None),
        other => Err(format!("unknown reduction {other:?}")),
    }
}

/// The case's floating-point inputs as `Var`s: parameters for those with an expected
/// gradient, constants for the rest (running statistics).
struct Inputs<'a, T: Float> {
    case: &'a Value,
    vars: HashMap<String, Var<T>>,
}

impl<'a, T: Float> Inputs<'a, T> {
    fn new(case: &'a Value) -> Self {
        Inputs {
            case,
            vars: HashMap::new(),
        }
    }

    fn wants_grad(&self, name: &str) -> bool {
        self.case["grads"]
            .as_object()
            .is_some_and(|g| g.contains_key(name))
    }

    /// The input called `name`; `None` when it is `null`.
    fn optional(&mut self, name: &str) -> Result<Option<Var<T>>, String> {
        let v = &self.case["inputs"][name];
        if v.is_null() {
            return Ok(None);
        }
        let t = tensor::<T>(v).map_err(|e| format!("input '{name}': {e}"))?;
        let var = if self.wants_grad(name) {
            Var::parameter(t)
        } else {
            Var::new(t)
        };
        self.vars.insert(name.to_string(), var.clone());
        Ok(Some(var))
    }

    fn get(&mut self, name: &str) -> Result<Var<T>, String> {
        self.optional(name)?
            .ok_or_else(|| format!("input '{name}' is missing"))
    }
}

/// Runs the case's op: `Err(String)` when the case cannot be run (unknown op, malformed),
/// `Ok(result of the op)` otherwise.
fn apply<T: Float>(
    op: &str,
    params: &Value,
    inputs: &mut Inputs<'_, T>,
) -> Result<Result<Var<T>, TensorError>, String> {
    Ok(match op {
        "cross_entropy" => {
            let x = inputs.get("input")?;
            let target = indices(&inputs.case["inputs"]["target"])?;
            let opts = CrossEntropyOptions::new()
                .with_reduction(reduction(params)?)
                .with_label_smoothing(params["label_smoothing"].as_f64().unwrap_or(0.0));
            cross_entropy(&x, &target, &opts)
        }
        "mse_loss" => {
            let (x, t) = (inputs.get("input")?, inputs.get("target")?);
            mse_loss(&x, &t, reduction(params)?)
        }
        "log_softmax" | "softmax" => {
            let x = inputs.get("input")?;
            let dim = params["dim"].as_i64().ok_or("param 'dim' is missing")? as isize;
            if op == "softmax" {
                x.softmax(dim)
            } else {
                x.log_softmax(dim)
            }
        }
        "batch_norm2d" => {
            let x = inputs.get("input")?;
            let weight = inputs.optional("weight")?;
            let bias = inputs.optional("bias")?;
            let running_mean = inputs.optional("running_mean")?;
            let running_var = inputs.optional("running_var")?;
            let opts = BatchNormOptions::new()
                .with_training(
                    params["training"]
                        .as_bool()
                        .ok_or("param 'training' is missing")?,
                )
                .with_momentum(param_f64(params, "momentum")?)
                .with_eps(param_f64(params, "eps")?);
            batch_norm2d(
                &x,
                running_mean.as_ref(),
                running_var.as_ref(),
                weight.as_ref(),
                bias.as_ref(),
                &opts,
            )
        }
        "dropout_eval" => {
            let x = inputs.get("input")?;
            match Dropout::<T>::new(param_f64(params, "p")?, 0) {
                Ok(mut layer) => {
                    layer.eval();
                    layer.forward(&x)
                }
                Err(e) => Err(e),
            }
        }
        other => return Err(format!("unknown op '{other}'")),
    })
}

/// Checks `got` against `expected` elementwise: `|a - b| <= tol · max(1, |b|)`.
fn compare<T: Float>(
    what: &str,
    got: &Tensor<T>,
    expected: &Tensor<T>,
    tol: f64,
) -> Result<(), String> {
    if got.shape() != expected.shape() {
        return Err(format!(
            "{what}: shape {:?}, expected {:?}",
            got.shape(),
            expected.shape()
        ));
    }
    for (i, (a, b)) in got.to_vec().into_iter().zip(expected.to_vec()).enumerate() {
        let (a, b) = (a.as_f64(), b.as_f64());
        let ok = if b.is_nan() {
            a.is_nan()
        } else {
            (a - b).abs() <= tol * b.abs().max(1.0)
        };
        if !ok {
            return Err(format!(
                "{what}: element {i} is {a:e}, expected {b:e} (difference {:e}, tolerance {tol:e})",
                (a - b).abs()
            ));
        }
    }
    Ok(())
}

/// Runs one case in element type `T`; the error names the case and what disagreed.
fn run_case<T: Float>(case: &Value, tol: f64) -> Result<(), String> {
    let name = case["name"].as_str().unwrap_or("<unnamed case>");
    let op = case["op"].as_str().unwrap_or("<no op>");
    let fail = |msg: String| format!("{name} ({op}, {}): {msg}", T::NAME);

    let mut inputs = Inputs::<T>::new(case);
    let result = apply(op, &case["params"], &mut inputs).map_err(&fail)?;
    if case["expect_error"].as_bool() == Some(true) {
        return match result {
            Err(_) => Ok(()),
            Ok(out) => Err(fail(format!(
                "expected an error, got an output of shape {:?}",
                out.shape()
            ))),
        };
    }
    let out = result.map_err(|e| fail(format!("unexpected error: {e}")))?;
    let expected = tensor::<T>(&case["output"]).map_err(|e| fail(format!("output: {e}")))?;
    compare("output", &out.value(), &expected, tol).map_err(&fail)?;

    if let Some(extra) = case["extra"].as_object() {
        for (key, value) in extra {
            let input = key
                .strip_suffix("_after")
                .ok_or_else(|| fail(format!("unknown extra '{key}'")))?;
            let var = inputs
                .vars
                .get(input)
                .ok_or_else(|| fail(format!("extra '{key}' names no input")))?;
            let expected = tensor::<T>(value).map_err(|e| fail(format!("{key}: {e}")))?;
            compare(key, &var.value(), &expected, tol).map_err(&fail)?;
        }
    }

    let grads = case["grads"].as_object().filter(|g| !g.is_empty());
    if let Some(grads) = grads {
        let grad_output =
            tensor::<T>(&case["grad_output"]).map_err(|e| fail(format!("grad_output: {e}")))?;
        out.backward_with(&grad_output)
            .map_err(|e| fail(format!("backward: {e}")))?;
        for (input, expected) in grads {
            let var = inputs.vars.get(input).ok_or_else(|| {
                fail(format!(
                    "a gradient is expected for '{input}', which is no input"
                ))
            })?;
            let got = var
                .grad()
                .ok_or_else(|| fail(format!("no gradient reached '{input}'")))?;
            let expected = tensor::<T>(expected).map_err(|e| fail(format!("grad {input}: {e}")))?;
            compare(&format!("grad of {input}"), &got, &expected, tol).map_err(&fail)?;
        }
    }
    Ok(())
}

/// Runs every case of the given files; returns the number of cases run and the failures.
fn run_files<T: Float>(paths: &[PathBuf], tol: f64) -> (usize, Vec<String>) {
    let mut count = 0;
    let mut failures = Vec::new();
    for path in paths {
        let file = load(path);
        let cases = cases(&file);
        if cases.is_empty() {
            failures.push(format!("{}: no cases", path.display()));
        }
        for case in cases {
            count += 1;
            if let Err(e) = run_case::<T>(case, tol) {
                failures.push(e);
            }
        }
    }
    (count, failures)
}

fn own_files() -> Vec<PathBuf> {
    FILES
        .iter()
        .map(|f| data_dir().join(format!("{f}.json")))
        .collect()
}

fn assert_all_pass<T: Float>(paths: &[PathBuf], tol: f64) -> usize {
    let (count, failures) = run_files::<T>(paths, tol);
    assert!(
        failures.is_empty(),
        "{} of {count} golden cases failed in {}:\n{}",
        failures.len(),
        T::NAME,
        failures.join("\n")
    );
    count
}

#[test]
fn golden_cases_pass_in_f64() {
    let count = assert_all_pass::<f64>(&own_files(), TOL_F64);
    assert_eq!(count, 29, "the four files hold 29 cases");
}

#[test]
fn golden_cases_pass_in_f32() {
    assert_all_pass::<f32>(&own_files(), TOL_F32);
}

// The runner itself must be able to fail: wrong numbers, missing errors and unknown ops.

fn first_case(file: &str, op: &str) -> Value {
    let file = load(&data_dir().join(format!("{file}.json")));
    cases(&file)
        .iter()
        .find(|c| c["op"] == op && c.get("expect_error").is_none())
        .cloned()
        .expect("a case of this op")
}

#[test]
fn runner_rejects_a_wrong_output() {
    let mut case = first_case("losses", "cross_entropy");
    assert_eq!(run_case::<f64>(&case, TOL_F64), Ok(()));
    let x = case["output"]["data"][0].as_f64().unwrap();
    case["output"]["data"][0] = Value::from(x + 1e-7);
    let err = run_case::<f64>(&case, TOL_F64).unwrap_err();
    assert!(
        err.contains("cross_entropy/") && err.contains("output: element 0"),
        "{err}"
    );
}

#[test]
fn runner_rejects_a_wrong_gradient() {
    let mut case = first_case("batchnorm", "batch_norm2d");
    let g = case["grads"]["weight"]["data"][1].as_f64().unwrap();
    case["grads"]["weight"]["data"][1] = Value::from(g * (1.0 + 1e-6));
    let err = run_case::<f64>(&case, TOL_F64).unwrap_err();
    assert!(err.contains("grad of weight: element 1"), "{err}");
}

#[test]
fn runner_rejects_wrong_running_stats() {
    let mut case = first_case("batchnorm", "batch_norm2d");
    assert!(case["params"]["training"].as_bool().unwrap());
    case["extra"]["running_var_after"]["data"][0] = Value::from(1.0);
    let err = run_case::<f64>(&case, TOL_F64).unwrap_err();
    assert!(err.contains("running_var_after"), "{err}");
}

#[test]
fn runner_rejects_a_missing_error() {
    let file = load(&data_dir().join("losses.json"));
    let mut case = cases(&file)
        .iter()
        .find(|c| c["expect_error"] == true)
        .cloned()
        .expect("an error case");
    assert_eq!(run_case::<f64>(&case, TOL_F64), Ok(()));
    case["inputs"]["target"]["data"] = serde_json::json!([0, 0, 0]);
    let err = run_case::<f64>(&case, TOL_F64).unwrap_err();
    assert!(err.contains("expected an error"), "{err}");
}

#[test]
fn runner_rejects_an_unknown_op_by_name() {
    let mut case = first_case("softmax", "softmax");
    case["op"] = Value::from("frobnicate2d");
    let err = run_case::<f64>(&case, TOL_F64).unwrap_err();
    assert!(err.contains("unknown op 'frobnicate2d'"), "{err}");
}
