//! PyTorch reference cases for 2-D pooling (`tests/data/pooling.json`, format in the golden
//! `FORMAT.md`): every case, forward and input gradient, in `f64` (relative tolerance 1e-9)
//! and in `f32` (1e-4).
//!
//! When the environment variable `FERRITE_GOLDEN_DIR` is set, every `*.json` file in that
//! directory is read as well: its pooling cases are checked the same way, an unknown op whose
//! name mentions pooling fails the test, and cases of other op families (left to their own
//! tests) are counted and reported.

use std::path::{Path, PathBuf};

use ferrite_tensor::{
    avg_pool2d_backward, max_pool2d_backward, Float, Pool2dParams, Result, Tensor,
};
use serde_json::Value;

/// The ops this test knows.
const POOL_OPS: [&str; 2] = ["max_pool2d", "avg_pool2d"];

fn tensor<T: Float>(v: &Value, what: &str) -> Tensor<T> {
    let shape: Vec<usize> = v["shape"]
        .as_array()
        .unwrap_or_else(|| panic!("{what}: no shape"))
        .iter()
        .map(|d| d.as_u64().unwrap_or_else(|| panic!("{what}: bad dim {d}")) as usize)
        .collect();
    let data: Vec<T> = v["data"]
        .as_array()
        .unwrap_or_else(|| panic!("{what}: no data"))
        .iter()
        .map(|x| {
            T::of(
                x.as_f64()
                    .unwrap_or_else(|| panic!("{what}: bad value {x}")),
            )
        })
        .collect();
    Tensor::from_vec(data, &shape).unwrap_or_else(|e| panic!("{what}: {e}"))
}

fn pair(params: &Value, key: &str, default: Option<[usize; 2]>, name: &str) -> [usize; 2] {
    match params.get(key) {
        None | Some(Value::Null) => {
            default.unwrap_or_else(|| panic!("{name}: missing param {key}"))
        }
        Some(Value::Number(n)) => {
            let v = n.as_u64().unwrap_or_else(|| panic!("{name}: bad {key}")) as usize;
            [v, v]
        }
        Some(Value::Array(a)) if a.len() == 2 => {
            let v =
                |i: usize| a[i].as_u64().unwrap_or_else(|| panic!("{name}: bad {key}")) as usize;
            [v(0), v(1)]
        }
        Some(other) => panic!("{name}: bad {key}: {other}"),
    }
}

fn params(case: &Value, name: &str) -> Pool2dParams {
    let p = &case["params"];
    if let Some(obj) = p.as_object() {
        for key in obj.keys() {
            let known = [
                "kernel_size",
                "stride",
                "padding",
                "dilation",
                "ceil_mode",
                "count_include_pad",
            ];
            let harmless = key == "divisor_override" && obj[key].is_null();
            assert!(
                known.contains(&key.as_str()) || harmless,
                "{name}: unsupported param {key}"
            );
        }
    }
    let kernel = pair(p, "kernel_size", None, name);
    Pool2dParams::new(kernel)
        .with_stride(pair(p, "stride", Some(kernel), name))
        .with_padding(pair(p, "padding", Some([0, 0]), name))
        .with_dilation(pair(p, "dilation", Some([1, 1]), name))
        .with_ceil_mode(p["ceil_mode"].as_bool().unwrap_or(false))
        .with_count_include_pad(p["count_include_pad"].as_bool().unwrap_or(true))
}

/// Forward output and, when the case has a `grad_output`, input gradient of one pooling case
/// in precision `T`.
fn run<T: Float>(case: &Value, op: &str, name: &str) -> Result<(Tensor<T>, Option<Tensor<T>>)> {
    let p = params(case, name);
    let x = tensor::<T>(&case["inputs"]["input"], name);
    let gy = match case.get("grad_output") {
        Some(v) if !v.is_null() => Some(tensor::<T>(v, name)),
        _ => None,
    };
    match op {
        "max_pool2d" => {
            let (y, idx) = x.max_pool2d_with_indices(&p)?;
            assert_eq!(
                x.max_pool2d(&p)?,
                y,
                "{name}: max_pool2d differs from the indexed form"
            );
            let gx = gy
                .map(|g| max_pool2d_backward(&g, &idx, x.shape()))
                .transpose()?;
            Ok((y, gx))
        }
        "avg_pool2d" => {
            let y = x.avg_pool2d(&p)?;
            let gx = gy
                .map(|g| avg_pool2d_backward(&g, x.shape(), &p))
                .transpose()?;
            Ok((y, gx))
        }
        other => panic!("{name}: unknown op {other}"),
    }
}

fn assert_close<T: Float>(got: &Tensor<T>, want: &Value, tol: f64, what: &str) {
    let want = tensor::<f64>(want, what);
    assert_eq!(got.shape(), want.shape(), "{what}: shape");
    for (i, (a, b)) in got.to_vec().iter().zip(want.to_vec()).enumerate() {
        let a = a.as_f64();
        assert!(
            (a - b).abs() <= tol * b.abs().max(1.0),
            "{what}[{i}]: got {a}, expected {b} ({})",
            T::NAME
        );
    }
}

fn check_case<T: Float>(case: &Value, tol: f64) {
    let name = case["name"].as_str().expect("case name");
    let op = case["op"]
        .as_str()
        .unwrap_or_else(|| panic!("{name}: no op"));
    let result = run::<T>(case, op, name);
    if case["expect_error"].as_bool() == Some(true) {
        assert!(result.is_err(), "{name}: expected an error, got {result:?}");
        return;
    }
    let (y, gx) = result.unwrap_or_else(|e| panic!("{name} ({}): {e}", T::NAME));
    assert_close(&y, &case["output"], tol, &format!("{name} output"));
    let gx = gx.unwrap_or_else(|| panic!("{name}: no grad_output"));
    let grads = case["grads"].as_object().expect("grads");
    assert_eq!(grads.len(), 1, "{name}: grads other than input");
    assert_close(&gx, &grads["input"], tol, &format!("{name} grad input"));
}

/// Checks the pooling cases of one file; returns (checked, cases of other families).
fn check_file(path: &Path) -> (usize, usize) {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    let doc: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    let cases = doc["cases"]
        .as_array()
        .unwrap_or_else(|| panic!("{path:?}: no cases"));
    let (mut checked, mut other) = (0, 0);
    for case in cases {
        let name = case["name"].as_str().unwrap_or("<unnamed>");
        let op = case["op"]
            .as_str()
            .unwrap_or_else(|| panic!("{name}: no op"));
        if !POOL_OPS.contains(&op) {
            assert!(!op.contains("pool"), "{path:?} {name}: unknown op {op}");
            other += 1;
            continue;
        }
        check_case::<f64>(case, 1e-9);
        check_case::<f32>(case, 1e-4);
        checked += 1;
    }
    (checked, other)
}

#[test]
fn pooling_matches_pytorch() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/pooling.json");
    let (checked, other) = check_file(&path);
    assert_eq!(other, 0, "pooling.json holds ops this test does not know");
    assert!(checked >= 12, "only {checked} cases in {path:?}");
}

#[test]
fn pooling_matches_extra_golden_dir() {
    let Some(dir) = std::env::var_os("FERRITE_GOLDEN_DIR") else {
        return;
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("FERRITE_GOLDEN_DIR {dir:?}: {e}"))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    for file in files {
        let (checked, other) = check_file(&file);
        eprintln!("{file:?}: {checked} pooling cases checked, {other} cases of other ops left to their own tests");
    }
}
