//! PyTorch reference cases for the optimizers (`tests/data/optim.json`, a copy of the shared
//! golden file; format in its `FORMAT.md`): for `sgd`, `adam` and `adamw`, `inputs.param` is
//! the initial parameter, `inputs.grads[t]` the gradient fed at step `t`, and `output[t]` the
//! parameter after that step. Every case runs in `f64` (|a - b| <= 1e-9 * max(1, |b|)) and in
//! `f32` (1e-4), and must pass.
//!
//! When the environment variable `FERRITE_GOLDEN_DIR` is set, every `*.json` file in that
//! directory is read as well: its optimizer cases are checked the same way; an unknown op fails
//! the test with its name when it is a `torch.optim` optimizer or when the file's name starts
//! with `optim`; cases of other op families (left to their own tests) are counted and reported.

use std::path::{Path, PathBuf};

use ferrite_autograd::Var;
use ferrite_nn::optim::{Adam, AdamConfig, AdamW, AdamWConfig, Optimizer, Sgd, SgdConfig};
use ferrite_tensor::{Float, Tensor};
use serde_json::Value;

/// The ops this test runs.
const OPTIM_OPS: [&str; 3] = ["sgd", "adam", "adamw"];

/// Names of `torch.optim` optimizers: an op among these that this test does not run is a
/// failure, never a silent skip.
const OPTIM_FAMILY: [&str; 14] = [
    "sgd",
    "adam",
    "adamw",
    "adagrad",
    "adadelta",
    "adamax",
    "asgd",
    "lbfgs",
    "nadam",
    "radam",
    "rmsprop",
    "rprop",
    "sparse_adam",
    "sparseadam",
];

type CaseResult = Result<(), String>;

struct Shaped {
    shape: Vec<usize>,
    data: Vec<f64>,
}

fn shaped(v: &Value, what: &str) -> Result<Shaped, String> {
    let shape = v["shape"]
        .as_array()
        .ok_or_else(|| format!("{what}: no shape"))?
        .iter()
        .map(|d| {
            d.as_u64()
                .map(|d| d as usize)
                .ok_or_else(|| format!("{what}: bad dimension {d}"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let data = v["data"]
        .as_array()
        .ok_or_else(|| format!("{what}: no data"))?
        .iter()
        .map(|x| x.as_f64().ok_or_else(|| format!("{what}: bad element {x}")))
        .collect::<Result<Vec<_>, _>>()?;
    if data.len() != shape.iter().product::<usize>() {
        return Err(format!(
            "{what}: {} elements for shape {shape:?}",
            data.len()
        ));
    }
    Ok(Shaped { shape, data })
}

fn num(params: &Value, key: &str) -> Result<f64, String> {
    params[key]
        .as_f64()
        .ok_or_else(|| format!("param '{key}' missing or not a number"))
}

fn flag(params: &Value, key: &str) -> Result<bool, String> {
    params[key]
        .as_bool()
        .ok_or_else(|| format!("param '{key}' missing or not a boolean"))
}

fn betas(params: &Value) -> Result<(f64, f64), String> {
    match params["betas"].as_array().map(Vec::as_slice) {
        Some([b1, b2]) => Ok((
            b1.as_f64().ok_or("betas[0] is not a number")?,
            b2.as_f64().ok_or("betas[1] is not a number")?,
        )),
        _ => Err("param 'betas' missing or not a pair".to_string()),
    }
}

/// Refuses params this test does not know (they would change the expected numbers).
fn check_param_keys(params: &Value, known: &[&str]) -> CaseResult {
    let map = params.as_object().ok_or("params is not an object")?;
    match map.keys().find(|k| !known.contains(&k.as_str())) {
        Some(k) => Err(format!("unsupported param '{k}'")),
        None => Ok(()),
    }
}

/// The optimizer a case describes, over `param`.
fn build<T: Float>(
    op: &str,
    params: &Value,
    param: Var<T>,
) -> Result<Result<Box<dyn Optimizer<T>>, String>, String> {
    const ADAM_KEYS: [&str; 5] = ["lr", "betas", "eps", "weight_decay", "amsgrad"];
    let built: Result<Box<dyn Optimizer<T>>, _> = match op {
        "sgd" => {
            check_param_keys(
                params,
                &["lr", "momentum", "dampening", "weight_decay", "nesterov"],
            )?;
            let config = SgdConfig::new(num(params, "lr")?)
                .with_momentum(num(params, "momentum")?)
                .with_dampening(num(params, "dampening")?)
                .with_weight_decay(num(params, "weight_decay")?)
                .with_nesterov(flag(params, "nesterov")?);
            Sgd::new(vec![param], config).map(|o| Box::new(o) as Box<dyn Optimizer<T>>)
        }
        "adam" => {
            check_param_keys(params, &ADAM_KEYS)?;
            let (b1, b2) = betas(params)?;
            let config = AdamConfig::new(num(params, "lr")?)
                .with_betas(b1, b2)
                .with_eps(num(params, "eps")?)
                .with_weight_decay(num(params, "weight_decay")?)
                .with_amsgrad(flag(params, "amsgrad")?);
            Adam::new(vec![param], config).map(|o| Box::new(o) as Box<dyn Optimizer<T>>)
        }
        "adamw" => {
            check_param_keys(params, &ADAM_KEYS)?;
            let (b1, b2) = betas(params)?;
            let config = AdamWConfig::new(num(params, "lr")?)
                .with_betas(b1, b2)
                .with_eps(num(params, "eps")?)
                .with_weight_decay(num(params, "weight_decay")?)
                .with_amsgrad(flag(params, "amsgrad")?);
            AdamW::new(vec![param], config).map(|o| Box::new(o) as Box<dyn Optimizer<T>>)
        }
        other => return Err(format!("unknown op '{other}'")),
    };
    Ok(built.map_err(|e| e.to_string()))
}

/// Runs one case in `T`; returns the largest scaled difference `|a - b| / max(1, |b|)`, or
/// says what differs (the case name is added by the caller).
fn run_case<T: Float>(case: &Value, tol: f64) -> Result<f64, String> {
    let op = case["op"].as_str().ok_or("no op")?;
    let params = &case["params"];
    let inputs = &case["inputs"];
    let init = shaped(&inputs["param"], "inputs.param")?;
    let param = Var::parameter(
        Tensor::<T>::from_vec(init.data.iter().map(|&x| T::of(x)).collect(), &init.shape)
            .map_err(|e| e.to_string())?,
    );
    let built = build::<T>(op, params, param.clone())?;
    if case["expect_error"].as_bool() == Some(true) {
        return match built {
            Err(_) => Ok(0.0),
            Ok(_) => Err("expected an error, the optimizer was built".to_string()),
        };
    }
    let mut opt = built.map_err(|e| format!("building the optimizer: {e}"))?;
    let grads = shaped(&inputs["grads"], "inputs.grads")?;
    let output = shaped(&case["output"], "output")?;
    let numel = init.data.len();
    let steps = *grads
        .shape
        .first()
        .ok_or("inputs.grads has no step dimension")?;
    if grads.shape[1..] != init.shape[..] || output.shape != grads.shape {
        return Err(format!(
            "shapes do not fit: param {:?}, grads {:?}, output {:?}",
            init.shape, grads.shape, output.shape
        ));
    }
    let mut worst = 0.0f64;
    for t in 0..steps {
        let g: Vec<T> = grads.data[t * numel..(t + 1) * numel]
            .iter()
            .map(|&x| T::of(x))
            .collect();
        let g = Tensor::from_vec(g, &init.shape).map_err(|e| e.to_string())?;
        param.set_grad(Some(g)).map_err(|e| e.to_string())?;
        opt.step().map_err(|e| format!("step {}: {e}", t + 1))?;
        let got = param.value().to_vec();
        let want = &output.data[t * numel..(t + 1) * numel];
        for (j, (&a, &b)) in got.iter().zip(want).enumerate() {
            let a = a.as_f64();
            worst = worst.max((a - b).abs() / b.abs().max(1.0));
            // Written so that NaN fails.
            let close = (a - b).abs() <= tol * b.abs().max(1.0);
            if !close {
                return Err(format!(
                    "{}: after step {} element {j}: got {a:e}, PyTorch {b:e} (difference {:e}, tolerance {tol:e})",
                    T::NAME,
                    t + 1,
                    (a - b).abs()
                ));
            }
        }
    }
    Ok(worst)
}

/// Runs an optimizer case in `f64` and `f32`, and reports the largest differences.
fn check_case(case: &Value) -> CaseResult {
    let name = case["name"].as_str().unwrap_or("<unnamed>");
    let f64_err = run_case::<f64>(case, 1e-9).map_err(|e| format!("case '{name}': {e}"))?;
    let f32_err = run_case::<f32>(case, 1e-4).map_err(|e| format!("case '{name}': {e}"))?;
    eprintln!("{name}: largest scaled difference f64 {f64_err:.1e}, f32 {f32_err:.1e}");
    Ok(())
}

/// Checks every optimizer case of a golden file. Returns (cases checked, cases of other op
/// families); `strict` makes every unknown op an error.
fn check_file(path: &Path, strict: bool) -> Result<(usize, usize), Vec<String>> {
    let text = std::fs::read_to_string(path).map_err(|e| vec![format!("{path:?}: {e}")])?;
    let file: Value = serde_json::from_str(&text).map_err(|e| vec![format!("{path:?}: {e}")])?;
    check_cases(&file, strict).map_err(|errs| {
        errs.into_iter()
            .map(|e| format!("{}: {e}", path.display()))
            .collect()
    })
}

fn check_cases(file: &Value, strict: bool) -> Result<(usize, usize), Vec<String>> {
    let cases = file["cases"]
        .as_array()
        .ok_or_else(|| vec!["no 'cases' array".to_string()])?;
    let (mut checked, mut other, mut failures) = (0, 0, Vec::new());
    for case in cases {
        let name = case["name"].as_str().unwrap_or("<unnamed>");
        let Some(op) = case["op"].as_str() else {
            failures.push(format!("case '{name}': no op"));
            continue;
        };
        if !OPTIM_OPS.contains(&op) {
            if strict || OPTIM_FAMILY.contains(&op.to_lowercase().as_str()) {
                failures.push(format!("case '{name}': unknown op '{op}'"));
            } else {
                other += 1;
            }
            continue;
        }
        match check_case(case) {
            Ok(()) => checked += 1,
            Err(e) => failures.push(e),
        }
    }
    if failures.is_empty() {
        Ok((checked, other))
    } else {
        Err(failures)
    }
}

fn golden_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/optim.json")
}

#[test]
fn optimizers_match_pytorch() {
    let path = golden_path();
    match check_file(&path, true) {
        Ok((checked, other)) => {
            assert_eq!(other, 0);
            assert!(checked >= 12, "only {checked} cases in {path:?}");
            eprintln!("{path:?}: {checked} optimizer cases match PyTorch in f64 and f32");
        }
        Err(failures) => panic!(
            "{} failing case(s):\n{}",
            failures.len(),
            failures.join("\n")
        ),
    }
}

#[test]
fn optimizers_match_extra_golden_dir() {
    let Some(dir) = std::env::var_os("FERRITE_GOLDEN_DIR") else {
        return;
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("FERRITE_GOLDEN_DIR {dir:?}: {e}"))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    let mut failures = Vec::new();
    for file in files {
        let strict = file
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("optim"));
        match check_file(&file, strict) {
            Ok((checked, other)) => eprintln!(
                "{file:?}: {checked} optimizer cases checked, {other} cases of other ops left to their own tests"
            ),
            Err(f) => failures.extend(f),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

// The checks themselves must be able to fail.

fn golden() -> Value {
    serde_json::from_str(&std::fs::read_to_string(golden_path()).expect("golden file"))
        .expect("golden JSON")
}

#[test]
fn an_unknown_op_fails_with_its_name() {
    let mut file = golden();
    file["cases"][0]["op"] = Value::from("lamb");
    let err = check_cases(&file, true).unwrap_err();
    assert!(
        err.iter().any(|e| e.contains("unknown op 'lamb'")),
        "{err:?}"
    );
    // An unknown torch.optim optimizer fails even outside an optim file.
    file["cases"][0]["op"] = Value::from("rmsprop");
    let err = check_cases(&file, false).unwrap_err();
    assert!(
        err.iter().any(|e| e.contains("unknown op 'rmsprop'")),
        "{err:?}"
    );
}

#[test]
fn a_perturbed_reference_fails() {
    for index in 0..golden()["cases"].as_array().map_or(0, Vec::len) {
        let mut file = golden();
        let case = &mut file["cases"][index];
        let last = case["output"]["data"].as_array().map_or(0, Vec::len) - 1;
        let x = case["output"]["data"][last].as_f64().expect("number");
        // 1e-8 relative: far above the f64 tolerance, far below f32's.
        case["output"]["data"][last] = Value::from(x + 1e-8 * x.abs().max(1.0));
        let name = case["name"].as_str().expect("name").to_string();
        let err = check_case(&file["cases"][index]).unwrap_err();
        assert!(err.contains(&name) && err.contains("f64"), "{err}");
    }
}

#[test]
fn an_unsupported_param_fails() {
    let mut file = golden();
    file["cases"][0]["params"]["maximize"] = Value::from(true);
    let err = check_case(&file["cases"][0]).unwrap_err();
    assert!(err.contains("unsupported param 'maximize'"), "{err}");
}

#[test]
fn expect_error_cases_need_an_error() {
    let mut file = golden();
    let case = &mut file["cases"][0];
    case["expect_error"] = Value::from(true);
    assert!(
        check_case(case).is_err(),
        "a valid case must not satisfy expect_error"
    );
    case["params"]["lr"] = Value::from(-1.0);
    assert_eq!(check_case(case), Ok(()));
}
