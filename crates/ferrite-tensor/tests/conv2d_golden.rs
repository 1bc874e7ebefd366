//! PyTorch reference values for conv2d (forward and all gradients), from
//! `tests/data/conv2d.json` (a copy of the shared golden file; see its `FORMAT.md`).

use ferrite_tensor::{Conv2dParams, Float, Padding, PaddingMode, Tensor, conv2d_backward};
use serde_json::Value;

const GOLDEN: &str = include_str!("data/conv2d.json");

fn tensor<T: Float>(v: &Value, name: &str) -> Tensor<T> {
    let shape: Vec<usize> = v["shape"]
        .as_array()
        .unwrap_or_else(|| panic!("{name}: tensor without shape"))
        .iter()
        .map(|d| d.as_u64().expect("integral dimension") as usize)
        .collect();
    let data: Vec<T> = v["data"]
        .as_array()
        .unwrap_or_else(|| panic!("{name}: tensor without data"))
        .iter()
        .map(|x| T::of(x.as_f64().expect("numeric element")))
        .collect();
    Tensor::from_vec(data, &shape).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn pair(v: &Value, name: &str) -> [usize; 2] {
    let a = v
        .as_array()
        .unwrap_or_else(|| panic!("{name}: expected an [h, w] pair, found {v}"));
    assert_eq!(a.len(), 2, "{name}: expected an [h, w] pair, found {v}");
    [0, 1].map(|i| a[i].as_u64().expect("non-negative integer") as usize)
}

fn params(case: &Value, name: &str) -> Conv2dParams {
    let p = &case["params"];
    let padding = match &p["padding"] {
        Value::String(s) if s == "same" => Padding::Same,
        Value::String(s) if s == "valid" => Padding::Valid,
        v => Padding::Explicit(pair(v, name)),
    };
    let mode = match p.get("padding_mode").and_then(Value::as_str) {
        None | Some("zeros") => PaddingMode::Zeros,
        Some("reflect") => PaddingMode::Reflect,
        Some("replicate") => PaddingMode::Replicate,
        Some("circular") => PaddingMode::Circular,
        Some(other) => panic!("{name}: unknown padding_mode {other}"),
    };
    Conv2dParams::default()
        .with_stride(pair(&p["stride"], name))
        .with_padding(padding)
        .with_dilation(pair(&p["dilation"], name))
        .with_groups(p["groups"].as_u64().expect("groups") as usize)
        .with_padding_mode(mode)
}

fn assert_close<T: Float>(got: &Tensor<T>, want: &Tensor<T>, tol: f64, what: &str) {
    assert_eq!(got.shape(), want.shape(), "{what}: shape");
    for (i, (a, b)) in got.to_vec().iter().zip(want.to_vec()).enumerate() {
        let (a, b) = (a.as_f64(), b.as_f64());
        assert!(
            (a - b).abs() <= tol * b.abs().max(1.0),
            "{what}: element {i}: got {a}, want {b}"
        );
    }
}

/// Runs every case in `T`, returning how many were checked.
fn run_cases<T: Float>(tol: f64) -> usize {
    let root: Value = serde_json::from_str(GOLDEN).expect("valid JSON");
    let cases = root["cases"].as_array().expect("a list of cases");
    assert!(!cases.is_empty());
    for case in cases {
        let name = case["name"].as_str().expect("case name");
        let op = case["op"].as_str().expect("case op");
        assert_eq!(op, "conv2d", "{name}: unknown op {op}");
        let p = params(case, name);
        let inputs = &case["inputs"];
        let x = tensor::<T>(&inputs["input"], name);
        let w = tensor::<T>(&inputs["weight"], name);
        let b = match &inputs["bias"] {
            Value::Null => None,
            v => Some(tensor::<T>(v, name)),
        };
        let result = x.conv2d(&w, b.as_ref(), &p);
        if case.get("expect_error").and_then(Value::as_bool) == Some(true) {
            let err = result.expect_err(name);
            assert_eq!(err.op(), "conv2d", "{name}: {err}");
            continue;
        }
        let y = result.unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_close(
            &y,
            &tensor(&case["output"], name),
            tol,
            &format!("{name} output"),
        );
        let go = tensor::<T>(&case["grad_output"], name);
        let grads = &case["grads"];
        let needs = [
            grads.get("input").is_some(),
            grads.get("weight").is_some(),
            grads.get("bias").is_some(),
        ];
        assert!(
            needs[0] && needs[1],
            "{name}: input and weight grads expected"
        );
        assert_eq!(needs[2], b.is_some(), "{name}: bias grad iff bias");
        let got = conv2d_backward(&x, &w, &go, &p, needs).unwrap_or_else(|e| panic!("{name}: {e}"));
        let pairs = [
            ("input", got.input),
            ("weight", got.weight),
            ("bias", got.bias),
        ];
        for (key, g) in pairs {
            match grads.get(key) {
                Some(want) => {
                    let g = g.unwrap_or_else(|| panic!("{name}: no {key} grad"));
                    assert_close(&g, &tensor(want, name), tol, &format!("{name} grad {key}"));
                }
                None => assert!(g.is_none(), "{name}: unrequested {key} grad"),
            }
        }
    }
    cases.len()
}

#[test]
fn conv2d_golden_cases_f64() {
    assert_eq!(run_cases::<f64>(1e-9), 16);
}

#[test]
fn conv2d_golden_cases_f32() {
    run_cases::<f32>(1e-4);
}
