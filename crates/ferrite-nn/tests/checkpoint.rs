//! Checkpoints, state dicts and safetensors: round trips, PyTorch fixtures, corrupt files
//! and atomic writes.
//!
//! The fixtures under `tests/fixtures/` were made by `make_fixtures.py` with PyTorch; these
//! tests do not need Python.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ferrite_autograd::Var;
use ferrite_nn::checkpoint::{
    Checkpoint, FORMAT_VERSION, MAGIC, from_safetensors_bytes, load_safetensors, save_safetensors,
    to_safetensors_bytes, write_atomic, write_atomic_with,
};
use ferrite_nn::loss::{Reduction, mse_loss};
use ferrite_nn::optim::{Adam, AdamConfig, Optimizer, OptimizerState};
use ferrite_nn::{
    BatchNorm2d, Conv2d, Flatten, Linear, LoadReport, Module, ModuleExt, NnError, ReLU, Sequential,
    StateDict, Strict, load_state_dict, state_dict,
};
use ferrite_tensor::{Float, Rng, Tensor, manual_seed, seeded_rng, with_default_rng};
use rand::RngCore;
use serde::{Deserialize, Serialize};

// ---------------------------------------------------------------------------------------
// Helpers

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("fixtures")
        .join(name)
}

/// A fresh empty directory under the system's temporary directory.
fn temp_dir(tag: &str) -> PathBuf {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("ferrite-ckpt-{tag}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The names of the files in `dir`, sorted.
fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// PyTorch's `Sequential(conv1=Conv2d(1, 2, 3, padding=1), relu, flatten, fc1=Linear(32, 3))`,
/// after `manual_seed(seed)`.
fn tiny_model<T: Float>(seed: u64) -> Sequential<T> {
    manual_seed(seed);
    Sequential::new()
        .add_module("conv1", Conv2d::new(1, 2, 3).with_padding(1))
        .add_module("relu", ReLU)
        .add_module("flatten", Flatten::new())
        .add_module("fc1", Linear::new(32, 3))
}

/// The same with `bn1 = BatchNorm2d(2)` after `conv1`, in training mode.
fn tiny_bn_model<T: Float>(seed: u64) -> Sequential<T> {
    manual_seed(seed);
    Sequential::new()
        .add_module("conv1", Conv2d::new(1, 2, 3).with_padding(1))
        .add_module("bn1", BatchNorm2d::new(2))
        .add_module("relu", ReLU)
        .add_module("flatten", Flatten::new())
        .add_module("fc1", Linear::new(32, 3))
}

fn predict<T: Float>(model: &dyn Module<T>, input: &Tensor<T>) -> Tensor<T> {
    model.forward(&Var::new(input.clone())).unwrap().value()
}

fn max_abs_diff(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

fn to_f64<T: Float>(t: &Tensor<T>) -> Vec<f64> {
    t.to_vec().into_iter().map(Float::as_f64).collect()
}

/// `tiny.json`, written by `make_fixtures.py`.
#[derive(Deserialize)]
struct TinyFixture {
    keys: Vec<String>,
    input_shape: Vec<usize>,
    input: Vec<f64>,
    output_shape: Vec<usize>,
    output_f32: Vec<f64>,
    output_f64: Vec<f64>,
}

fn tiny_fixture(name: &str) -> TinyFixture {
    let text = std::fs::read_to_string(fixture(name)).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn input<T: Float>(values: &[f64], shape: &[usize]) -> Tensor<T> {
    Tensor::from_vec(values.iter().map(|&v| T::of(v)).collect(), shape).unwrap()
}

/// A checkpoint with every field set.
fn full_checkpoint(model: &dyn Module<f32>, rng: &Rng) -> Checkpoint<f32> {
    let mut ckpt = Checkpoint::from_model(model);
    ckpt.epoch = 42;
    ckpt.rng = Some(rng.clone());
    ckpt.optimizer = Some((0..=255u8).chain([0, 0, 7]).collect());
    ckpt.metadata
        .insert("run".into(), "tiny \u{e9}t\u{e9} \"quoted\"".into());
    ckpt.metadata.insert("lr".into(), "0.001".into());
    ckpt.extra.insert(
        "ema.fc1.bias",
        Tensor::from_vec(vec![0.1, -0.2, f32::MAX], &[3]).unwrap(),
    );
    ckpt.extra.insert("step", Tensor::scalar(1234.0));
    ckpt
}

// ---------------------------------------------------------------------------------------
// PyTorch fixtures

#[test]
fn pytorch_safetensors_loads_strictly_and_predicts_like_pytorch_f32() {
    let fx = tiny_fixture("tiny.json");
    let sd = load_safetensors::<f32>(fixture("tiny.safetensors")).unwrap();
    let mut keys: Vec<&str> = sd.keys().collect();
    keys.sort_unstable();
    let mut want: Vec<&str> = fx.keys.iter().map(String::as_str).collect();
    want.sort_unstable();
    assert_eq!(keys, want);

    let model = tiny_model::<f32>(123);
    // ferrite's state_dict has PyTorch's key order.
    assert_eq!(state_dict(&model).keys().collect::<Vec<_>>(), fx.keys);
    let report = load_state_dict(&model, &sd, Strict::Yes).unwrap();
    assert!(report.is_clean(), "{report}");

    let y = predict(&model, &input(&fx.input, &fx.input_shape));
    assert_eq!(y.shape(), fx.output_shape.as_slice());
    let err = max_abs_diff(&to_f64(&y), &fx.output_f32);
    assert!(err <= 1e-5, "f32 outputs differ from PyTorch's by {err}");
    let err = max_abs_diff(&to_f64(&y), &fx.output_f64);
    assert!(
        err <= 1e-5,
        "f32 outputs differ from PyTorch's float64 by {err}"
    );
}

#[test]
fn pytorch_safetensors_loads_in_f64_and_predicts_like_pytorch_f64() {
    let fx = tiny_fixture("tiny.json");
    // F32 file read as f64 (exact), and the F64 file: the same values.
    let from_f32 = load_safetensors::<f64>(fixture("tiny.safetensors")).unwrap();
    let from_f64 = load_safetensors::<f64>(fixture("tiny_f64.safetensors")).unwrap();
    assert!(from_f32 == from_f64);
    // F64 file read as f32: the original f32 values, exactly.
    assert!(
        load_safetensors::<f32>(fixture("tiny_f64.safetensors")).unwrap()
            == load_safetensors::<f32>(fixture("tiny.safetensors")).unwrap()
    );

    let model = tiny_model::<f64>(5);
    assert!(
        load_state_dict(&model, &from_f64, Strict::Yes)
            .unwrap()
            .is_clean()
    );
    let y = predict(&model, &input(&fx.input, &fx.input_shape));
    let err = max_abs_diff(&to_f64(&y), &fx.output_f64);
    assert!(err <= 1e-12, "f64 outputs differ from PyTorch's by {err}");
}

fn pytorch_batchnorm_fixture<T: Float>(tolerance: f64) {
    let fx = tiny_fixture("tiny_bn.json");
    // PyTorch saves num_batches_tracked as I64; it is read as a float.
    let sd = load_safetensors::<T>(fixture("tiny_bn.safetensors")).unwrap();
    assert_eq!(
        sd.get("bn1.num_batches_tracked").unwrap().to_vec(),
        vec![T::of(3.0)]
    );

    let model = tiny_bn_model::<T>(4);
    assert_eq!(state_dict(&model).keys().collect::<Vec<_>>(), fx.keys);
    assert!(
        load_state_dict(&model, &sd, Strict::Yes)
            .unwrap()
            .is_clean()
    );
    model.eval();
    let y = predict(&model, &input(&fx.input, &fx.input_shape));
    let want = if T::NAME == "f64" {
        &fx.output_f64
    } else {
        &fx.output_f32
    };
    let err = max_abs_diff(&to_f64(&y), want);
    assert!(
        err <= tolerance,
        "{} outputs differ from PyTorch's by {err}",
        T::NAME
    );
}

#[test]
fn pytorch_batchnorm_model_with_int64_counter_loads_and_predicts_like_pytorch() {
    pytorch_batchnorm_fixture::<f32>(1e-5);
    pytorch_batchnorm_fixture::<f64>(1e-12);
}

#[test]
fn pytorch_f16_file_is_refused_naming_the_dtype() {
    let path = fixture("tiny_f16.safetensors");
    let err = load_safetensors::<f32>(&path).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, NnError::Format { .. }));
    assert!(msg.starts_with(&path.display().to_string()), "{msg}");
    assert!(
        msg.contains("has dtype F16;") && msg.contains("F32 and F64"),
        "{msg}"
    );
}

// ---------------------------------------------------------------------------------------
// ferrite -> safetensors -> ferrite (and PyTorch)

fn export_reimport<T: Float>() {
    let dir = temp_dir("export");
    let path = dir.join("model.safetensors");
    let original = tiny_model::<T>(7);
    save_safetensors(&state_dict(&original), &path).unwrap();
    assert_eq!(listing(&dir), ["model.safetensors"]);

    let sd = load_safetensors::<T>(&path).unwrap();
    // ferrite's files keep the state dict's order.
    assert_eq!(
        sd.keys().collect::<Vec<_>>(),
        state_dict(&original).keys().collect::<Vec<_>>()
    );
    let fresh = tiny_model::<T>(8);
    assert!(state_dict(&fresh) != state_dict(&original));
    assert!(
        load_state_dict(&fresh, &sd, Strict::Yes)
            .unwrap()
            .is_clean()
    );
    assert!(state_dict(&fresh) == state_dict(&original));
    let x = Tensor::<T>::randn(&[4, 1, 4, 4], &mut seeded_rng(9));
    assert_eq!(
        predict(&fresh, &x),
        predict(&original, &x),
        "predictions must be identical"
    );

    // The reference implementation reads the file, with the right dtype, shapes and bytes.
    let bytes = std::fs::read(&path).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let dtype = if T::NAME == "f64" {
        safetensors::Dtype::F64
    } else {
        safetensors::Dtype::F32
    };
    assert_eq!(st.len(), 4);
    for (name, tensor) in state_dict(&original).iter() {
        let view = st.tensor(name).unwrap();
        assert_eq!(view.dtype(), dtype);
        assert_eq!(view.shape(), tensor.shape());
        let le: Vec<u8> = tensor
            .to_vec()
            .iter()
            .flat_map(|x| {
                if T::NAME == "f64" {
                    x.as_f64().to_le_bytes().to_vec()
                } else {
                    (x.as_f64() as f32).to_le_bytes().to_vec()
                }
            })
            .collect();
        assert_eq!(view.data(), le.as_slice(), "{name}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn export_then_reimport_gives_identical_parameters_and_predictions_f32() {
    export_reimport::<f32>();
}

#[test]
fn export_then_reimport_gives_identical_parameters_and_predictions_f64() {
    export_reimport::<f64>();
}

/// The bytes ferrite writes for a fixed model (with batch-norm buffers updated by two
/// training batches) are pinned by a committed file, which `make_fixtures.py` loads into
/// PyTorch with `strict=True`, checking its outputs. Set FERRITE_UPDATE_FIXTURES=1 to
/// rewrite it (and its input/output JSON), then rerun the script.
#[test]
fn ferrite_export_matches_the_committed_golden_file() {
    let model = tiny_bn_model::<f32>(7);
    // The default generator where the model left it: the data continue its stream.
    let mut rng = with_default_rng(|rng| rng.clone());
    for _ in 0..2 {
        let batch = Tensor::<f32>::randn(&[8, 1, 4, 4], &mut rng).add_scalar(0.5);
        predict(&model, &batch);
    }
    model.eval();
    let sd = state_dict(&model);
    assert_eq!(
        sd.get("bn1.num_batches_tracked").unwrap().to_vec(),
        vec![2.0]
    );
    let bytes = to_safetensors_bytes(&sd).unwrap();
    let path = fixture("ferrite_tiny_bn.safetensors");
    if std::env::var_os("FERRITE_UPDATE_FIXTURES").is_some() {
        write_atomic(&path, &bytes).unwrap();
        let x = Tensor::<f32>::randn(&[3, 1, 4, 4], &mut seeded_rng(11));
        let y = predict(&model, &x);
        let json = serde_json::json!({
            "num_batches_tracked": 2,
            "input_shape": x.shape(),
            "input": to_f64(&x),
            "output_shape": y.shape(),
            "output": to_f64(&y),
        });
        let text = serde_json::to_string_pretty(&json).unwrap() + "\n";
        write_atomic(fixture("ferrite_tiny_bn.json"), text.as_bytes()).unwrap();
    }
    let golden = std::fs::read(&path).unwrap();
    assert!(
        golden == bytes,
        "ferrite's safetensors output changed; if intended, rerun with FERRITE_UPDATE_FIXTURES=1 \
         and check it with make_fixtures.py"
    );
}

// ---------------------------------------------------------------------------------------
// Checkpoint files

#[test]
fn checkpoint_round_trip_is_exact() {
    let dir = temp_dir("roundtrip");
    let path = dir.join("run.ckpt");
    let model = tiny_model::<f32>(2024);
    // The default generator where the model left it: the data continue its stream.
    let mut rng = with_default_rng(|rng| rng.clone());
    let _ = rng.next_u64(); // a generator in the middle of its stream
    let ckpt = full_checkpoint(&model, &rng);
    ckpt.save(&path).unwrap();
    assert_eq!(listing(&dir), ["run.ckpt"], "no temporary file may be left");

    let loaded: Checkpoint = Checkpoint::load(&path).unwrap();
    assert_eq!(loaded, ckpt);
    assert_eq!(loaded.epoch, 42);
    assert_eq!(loaded.optimizer, ckpt.optimizer);
    assert_eq!(loaded.metadata, ckpt.metadata);
    assert_eq!(
        loaded.extra.get("ema.fc1.bias").unwrap().to_vec()[2],
        f32::MAX
    );
    assert_eq!(loaded.extra.get("step").unwrap().shape(), &[] as &[usize]);
    assert_eq!(
        loaded.params.keys().collect::<Vec<_>>(),
        ["conv1.weight", "conv1.bias", "fc1.weight", "fc1.bias"]
    );

    // The generator continues the same stream.
    let mut restored = loaded.rng.clone().unwrap();
    let mut original = rng.clone();
    for _ in 0..100 {
        assert_eq!(restored.next_u64(), original.next_u64());
    }

    // A fresh model predicts exactly as the saved one.
    let fresh = tiny_model::<f32>(99);
    assert!(loaded.load_into(&fresh, Strict::Yes).unwrap().is_clean());
    let x = Tensor::<f32>::randn(&[6, 1, 4, 4], &mut seeded_rng(3));
    assert_eq!(predict(&fresh, &x), predict(&model, &x));

    // Saving the loaded checkpoint gives the same bytes.
    assert_eq!(loaded.to_bytes().unwrap(), std::fs::read(&path).unwrap());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn checkpoint_precision_is_kept_and_converted_on_request() {
    let model = tiny_model::<f64>(1);
    let mut ckpt = Checkpoint::from_model(&model);
    ckpt.extra.insert("third", Tensor::full(&[1], 1.0 / 3.0));
    let bytes = ckpt.to_bytes().unwrap();
    assert_eq!(&bytes[12..16], b"f64\0");
    let back = Checkpoint::<f64>::from_bytes(&bytes, "x").unwrap();
    assert_eq!(back, ckpt);
    let as_f32 = Checkpoint::<f32>::from_bytes(&bytes, "x").unwrap();
    assert!(as_f32.params == ckpt.params.cast::<f32>());
    assert_eq!(
        as_f32.extra.get("third").unwrap().to_vec(),
        vec![1.0f32 / 3.0]
    );
}

/// An optimizer state of the shape the optimizer module uses (nested maps and vectors).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct FakeOptimizerState {
    name: String,
    lr: f64,
    step: u64,
    buffers: Vec<BTreeMap<String, Vec<f32>>>,
}

#[test]
fn optimizer_state_round_trips_through_a_checkpoint_file() {
    let dir = temp_dir("optim");
    let state = FakeOptimizerState {
        name: "Adam".into(),
        lr: 1e-3,
        step: 17,
        buffers: vec![
            [("exp_avg".to_string(), vec![0.5f32, -1e-30])].into(),
            BTreeMap::new(),
        ],
    };
    let mut ckpt = Checkpoint::<f32>::default();
    ckpt.set_optimizer_state(&state).unwrap();
    ckpt.save(dir.join("o.ckpt")).unwrap();
    let loaded = Checkpoint::<f32>::load(dir.join("o.ckpt")).unwrap();
    assert_eq!(
        loaded.optimizer_state::<FakeOptimizerState>().unwrap(),
        Some(state)
    );
    // The wrong type is an error, not a panic.
    assert!(loaded.optimizer_state::<Vec<String>>().is_err());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `steps` Adam steps of the model on random regression batches drawn from `rng`.
fn train(model: &Sequential<f32>, opt: &mut Adam<f32>, rng: &mut Rng, steps: usize) {
    for _ in 0..steps {
        let x = Tensor::<f32>::randn(&[4, 1, 4, 4], rng);
        let target = Tensor::<f32>::randn(&[4, 3], rng);
        opt.zero_grad();
        let y = model.forward(&Var::new(x)).unwrap();
        let loss = mse_loss(&y, &Var::new(target), Reduction::Mean).unwrap();
        loss.backward().unwrap();
        opt.step().unwrap();
    }
}

fn bits(sd: &StateDict<f32>) -> Vec<(String, Vec<u32>)> {
    sd.iter()
        .map(|(n, t)| {
            (
                n.to_string(),
                t.to_vec().iter().map(|x| x.to_bits()).collect(),
            )
        })
        .collect()
}

/// The whole point of a checkpoint: training interrupted after 3 steps and resumed from
/// the file (parameters, batch-norm buffers, Adam's state, the generator) ends bit for bit
/// where an uninterrupted run of 6 steps does.
#[test]
fn training_resumed_from_a_checkpoint_file_is_bit_identical() {
    let config = AdamConfig::new(0.01);
    let uninterrupted = tiny_bn_model::<f32>(30);
    let mut opt = Adam::new(uninterrupted.parameters(), config).unwrap();
    let mut rng = seeded_rng(31);
    train(&uninterrupted, &mut opt, &mut rng, 6);

    let dir = temp_dir("resume");
    let path = dir.join("run.ckpt");
    {
        let model = tiny_bn_model::<f32>(30);
        let mut opt = Adam::new(model.parameters(), config).unwrap();
        let mut rng = seeded_rng(31);
        train(&model, &mut opt, &mut rng, 3);
        let mut ckpt = Checkpoint::from_model(&model);
        ckpt.epoch = 3;
        ckpt.rng = Some(rng);
        ckpt.set_optimizer_state(&opt.state()).unwrap();
        ckpt.save(&path).unwrap();
    }

    let ckpt: Checkpoint = Checkpoint::load(&path).unwrap();
    let resumed = tiny_bn_model::<f32>(777); // another initialisation
    assert!(ckpt.load_into(&resumed, Strict::Yes).unwrap().is_clean());
    let mut opt = Adam::new(resumed.parameters(), config).unwrap();
    opt.load_state(ckpt.optimizer_state::<OptimizerState>().unwrap().unwrap())
        .unwrap();
    let mut rng = ckpt.rng.clone().unwrap();
    train(&resumed, &mut opt, &mut rng, 6 - ckpt.epoch as usize);

    let (a, b) = (state_dict(&uninterrupted), state_dict(&resumed));
    assert_eq!(
        a.get("bn1.num_batches_tracked").unwrap().to_vec(),
        vec![6.0]
    );
    assert_eq!(bits(&a), bits(&b));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// conv1 `[8, 1, 3, 3]`, fc1, fc2.
fn model_a() -> Sequential<f32> {
    manual_seed(10);
    Sequential::new()
        .add_module("conv1", Conv2d::new(1, 8, 3))
        .add_module("flatten", Flatten::new())
        .add_module("fc1", Linear::new(10, 5))
        .add_module("fc2", Linear::new(5, 2))
}

/// conv1 `[16, 1, 3, 3]`, fc1 (same shape as model A's), fc3.
fn model_b() -> Sequential<f32> {
    manual_seed(20);
    Sequential::new()
        .add_module("conv1", Conv2d::new(1, 16, 3))
        .add_module("flatten", Flatten::new())
        .add_module("fc1", Linear::new(10, 5))
        .add_module("fc3", Linear::new(5, 2))
}

#[test]
fn strict_load_of_a_different_model_is_refused_and_changes_nothing() {
    let a = model_a();
    let b = model_b();
    let before = state_dict(&b);
    let err = load_state_dict(&b, &state_dict(&a), Strict::Yes).unwrap_err();
    assert_eq!(
        err.to_string(),
        "load_state_dict: checkpoint does not fit the model: missing keys [fc3.weight, fc3.bias]; \
         unexpected keys [fc2.weight, fc2.bias]; wrong shapes [conv1.weight: model [16, 1, 3, 3], \
         checkpoint [8, 1, 3, 3], conv1.bias: model [16], checkpoint [8]]"
    );
    let NnError::StateDict { report, .. } = err else {
        panic!("expected a StateDict error");
    };
    let expected = LoadReport {
        missing: vec!["fc3.weight".into(), "fc3.bias".into()],
        unexpected: vec!["fc2.weight".into(), "fc2.bias".into()],
        mismatched: vec![
            ("conv1.weight".into(), vec![16, 1, 3, 3], vec![8, 1, 3, 3]),
            ("conv1.bias".into(), vec![16], vec![8]),
        ],
    };
    assert_eq!(report, expected);
    // All or nothing: fc1, which fits, was not loaded either.
    assert!(state_dict(&b) == before);

    // Through a checkpoint file, the message also names both models.
    let dir = temp_dir("different");
    Checkpoint::from_model(&a).save(dir.join("a.ckpt")).unwrap();
    let ckpt: Checkpoint = Checkpoint::load(dir.join("a.ckpt")).unwrap();
    let msg = ckpt.load_into(&b, Strict::Yes).unwrap_err().to_string();
    assert!(msg.contains("missing keys [fc3.weight, fc3.bias]"), "{msg}");
    assert!(
        msg.contains("the checkpoint was saved from Sequential(conv1: Conv2d(1, 8,"),
        "{msg}"
    );
    assert!(
        msg.contains("this model is Sequential(conv1: Conv2d(1, 16,"),
        "{msg}"
    );
    assert!(state_dict(&b) == before);

    // Non-strict: what fits is loaded, the rest reported.
    let report = ckpt.load_into(&b, Strict::No).unwrap();
    assert_eq!(report, expected);
    let after = state_dict(&b);
    let sa = state_dict(&a);
    for key in ["fc1.weight", "fc1.bias"] {
        assert_eq!(after.get(key), sa.get(key), "{key} fits and must be loaded");
    }
    for key in ["conv1.weight", "conv1.bias", "fc3.weight", "fc3.bias"] {
        assert_eq!(
            after.get(key),
            before.get(key),
            "{key} must be left unchanged"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn truncation_at_every_byte_is_refused() {
    let dir = temp_dir("truncate");
    let model = tiny_model::<f32>(0);
    let bytes = full_checkpoint(&model, &seeded_rng(1)).to_bytes().unwrap();
    let path = dir.join("cut.ckpt");
    let shown = path.display().to_string();
    for k in 0..bytes.len() {
        std::fs::write(&path, &bytes[..k]).unwrap();
        let err = Checkpoint::<f32>::load(&path).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, NnError::Format { .. }), "cut at {k}: {msg}");
        assert!(
            msg.starts_with(&format!("{shown}: truncated")),
            "cut at {k}: {msg}"
        );
    }
    // One stray byte too many is refused as well.
    let mut longer = bytes.clone();
    longer.push(0);
    let msg = Checkpoint::<f32>::from_bytes(&longer, "x")
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("1 unexpected bytes after the checksum"),
        "{msg}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn every_flipped_byte_is_detected() {
    let model = tiny_model::<f32>(0);
    let bytes = full_checkpoint(&model, &seeded_rng(1)).to_bytes().unwrap();
    let n = bytes.len();
    for i in 0..n {
        for mask in [0x01u8, 0x80, 0xff] {
            let mut bad = bytes.clone();
            bad[i] ^= mask;
            let msg = match Checkpoint::<f32>::from_bytes(&bad, "flipped") {
                Ok(_) => panic!("byte {i} ^ {mask:#x} was not detected"),
                Err(e) => e.to_string(),
            };
            let expected = match i {
                0..8 => "not a ferrite checkpoint",
                8..12 => "unsupported checkpoint format version",
                12..16 => "unknown element type tag",
                16..24 => "bytes",
                _ => "checksum mismatch",
            };
            assert!(msg.contains(expected), "byte {i} ^ {mask:#x}: {msg}");
        }
    }
}

#[test]
fn wrong_magic_and_future_versions_are_refused() {
    let bytes = Checkpoint::new(state_dict(&model_a())).to_bytes().unwrap();
    let msg = |b: &[u8]| {
        Checkpoint::<f32>::from_bytes(b, "f")
            .unwrap_err()
            .to_string()
    };

    let mut other = bytes.clone();
    other[..8].copy_from_slice(b"GGUF\x03\0\0\0");
    assert_eq!(
        msg(&other),
        "f: not a ferrite checkpoint (expected the magic bytes \"FERRITE\\x00\", found \
         \"GGUF\\x03\\x00\\x00\\x00\")"
    );
    assert!(msg(b"").contains("truncated"));
    assert!(msg(b"FERR").contains("truncated"));
    assert!(msg(b"FEX").contains("not a ferrite checkpoint"));
    assert!(msg(b"PK\x03\x04\x14\0\0\0\x08\0").contains("PyTorch .pt"));

    // A safetensors file given to Checkpoint::load.
    let st = std::fs::read(fixture("tiny.safetensors")).unwrap();
    assert!(msg(&st).contains("use load_safetensors"), "{}", msg(&st));

    // A newer format version names both versions, whatever follows.
    let mut newer = bytes.clone();
    newer[8..12].copy_from_slice(&(FORMAT_VERSION + 1).to_le_bytes());
    assert_eq!(
        msg(&newer),
        "f: unsupported checkpoint format version 2 (written by a newer ferrite): this build of \
         ferrite reads version 1"
    );
    assert!(msg(&newer[..12]).contains("version 2"));
    let mut older = bytes.clone();
    older[8..12].copy_from_slice(&0u32.to_le_bytes());
    assert!(msg(&older).contains("version 0: this build of ferrite reads version 1"));
    assert_eq!(&bytes[..8], &MAGIC);
}

#[test]
fn loading_never_modifies_the_file() {
    let dir = temp_dir("readonly");
    let good = dir.join("good.ckpt");
    let bad = dir.join("bad.ckpt");
    let model = tiny_model::<f32>(0);
    full_checkpoint(&model, &seeded_rng(1)).save(&good).unwrap();
    let mut corrupt = std::fs::read(&good).unwrap();
    corrupt[40] ^= 0x10;
    std::fs::write(&bad, &corrupt).unwrap();
    let before_good = std::fs::read(&good).unwrap();
    let before_bad = std::fs::read(&bad).unwrap();
    let modified = |p: &Path| std::fs::metadata(p).unwrap().modified().unwrap();
    let (mg, mb) = (modified(&good), modified(&bad));

    for _ in 0..3 {
        assert!(Checkpoint::<f32>::load(&good).is_ok());
        assert!(Checkpoint::<f64>::load(&good).is_ok());
        assert!(Checkpoint::<f32>::load(&bad).is_err());
        assert!(load_safetensors::<f32>(&good).is_err());
    }
    assert_eq!(std::fs::read(&good).unwrap(), before_good);
    assert_eq!(std::fs::read(&bad).unwrap(), before_bad);
    assert_eq!((modified(&good), modified(&bad)), (mg, mb));
    assert_eq!(listing(&dir), ["bad.ckpt", "good.ckpt"]);
    std::fs::remove_dir_all(&dir).unwrap();
}

// ---------------------------------------------------------------------------------------
// Atomic writes

#[test]
fn atomic_write_replaces_and_leaves_no_temporary_file() {
    let dir = temp_dir("atomic-ok");
    let path = dir.join("model.ckpt");
    let model = tiny_model::<f32>(0);
    let mut ckpt = Checkpoint::from_model(&model);
    for epoch in 0..5 {
        ckpt.epoch = epoch;
        ckpt.save(&path).unwrap();
        assert_eq!(listing(&dir), ["model.ckpt"]);
        assert_eq!(Checkpoint::<f32>::load(&path).unwrap().epoch, epoch);
    }
    // The permissions of the file being replaced are kept.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        ckpt.save(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o640);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn failed_atomic_writes_leave_the_old_file_intact() {
    let dir = temp_dir("atomic-fail");
    let path = dir.join("model.safetensors");
    let model = tiny_model::<f32>(0);
    save_safetensors(&state_dict(&model), &path).unwrap();
    let old = std::fs::read(&path).unwrap();

    // An error injected by the writer after part of the file was written.
    let err = write_atomic_with(&path, |f| {
        use std::io::Write;
        f.write_all(b"partial garbage")?;
        Err(std::io::Error::other("injected failure"))
    })
    .unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, NnError::Io { .. }));
    assert!(
        msg.contains("model.safetensors") && msg.contains("injected failure"),
        "{msg}"
    );
    assert_eq!(std::fs::read(&path).unwrap(), old);
    assert_eq!(
        listing(&dir),
        ["model.safetensors"],
        "the temporary file must be removed"
    );

    // A serialization that fails (a reserved tensor name) writes nothing.
    let mut sd = state_dict(&model);
    sd.insert("__metadata__", Tensor::zeros(&[1]));
    assert!(save_safetensors(&sd, &path).is_err());
    assert_eq!(std::fs::read(&path).unwrap(), old);
    assert_eq!(listing(&dir), ["model.safetensors"]);

    // The final rename fails (the target is a directory): the temporary file is removed.
    let target_dir = dir.join("occupied");
    std::fs::create_dir(&target_dir).unwrap();
    std::fs::write(target_dir.join("keep"), b"x").unwrap();
    let err = write_atomic(&target_dir, b"data").unwrap_err();
    assert!(err.to_string().contains("cannot rename"), "{err}");
    assert_eq!(listing(&dir), ["model.safetensors", "occupied"]);
    assert_eq!(listing(&target_dir), ["keep"]);

    // A missing directory is an error naming the path.
    let missing = dir.join("no-such-dir").join("x.ckpt");
    let err = Checkpoint::<f32>::default().save(&missing).unwrap_err();
    assert!(err.to_string().contains("no-such-dir"), "{err}");
    assert!(write_atomic(Path::new("/"), b"x").is_err());
    std::fs::remove_dir_all(&dir).unwrap();
}

// ---------------------------------------------------------------------------------------
// Malformed safetensors

/// A safetensors file with this header and data.
fn st(header: &str, data: &[u8]) -> Vec<u8> {
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(data);
    out
}

fn st_err(bytes: &[u8]) -> String {
    match from_safetensors_bytes::<f32>(bytes, "bad.safetensors") {
        Ok(sd) => panic!("accepted a malformed file: {sd:?}"),
        Err(e) => {
            let msg = e.to_string();
            assert!(msg.starts_with("bad.safetensors: "), "{msg}");
            msg
        }
    }
}

fn entry(name: &str, dtype: &str, shape: &str, begin: u64, end: u64) -> String {
    format!(r#""{name}":{{"dtype":"{dtype}","shape":{shape},"data_offsets":[{begin},{end}]}}"#)
}

#[test]
fn valid_hand_made_safetensors_load() {
    let header = format!(
        "{{{},{},\"__metadata__\":{{\"k\":\"v\"}}}}   ",
        entry("b", "F64", "[1]", 8, 16),
        entry("a", "F32", "[2]", 0, 8)
    );
    let mut data = Vec::new();
    data.extend_from_slice(&1.5f32.to_le_bytes());
    data.extend_from_slice(&(-2.0f32).to_le_bytes());
    data.extend_from_slice(&0.1f64.to_le_bytes());
    let sd = from_safetensors_bytes::<f64>(&st(&header, &data), "ok").unwrap();
    assert_eq!(sd.keys().collect::<Vec<_>>(), ["a", "b"], "file data order");
    assert_eq!(sd.get("a").unwrap().to_vec(), vec![1.5, -2.0]);
    assert_eq!(sd.get("b").unwrap().to_vec(), vec![0.1]);
    // Empty tensors and an empty file are fine.
    let sd = from_safetensors_bytes::<f32>(
        &st(&format!("{{{}}}", entry("e", "F32", "[0, 3]", 0, 0)), &[]),
        "ok",
    )
    .unwrap();
    assert_eq!(sd.get("e").unwrap().shape(), &[0, 3]);
    assert!(
        from_safetensors_bytes::<f32>(&st("{}", &[]), "ok")
            .unwrap()
            .is_empty()
    );
}

#[test]
fn malformed_safetensors_are_errors() {
    let four = [0u8; 4];
    let eight = [0u8; 8];
    let twelve = [0u8; 12];
    let one = |e: String| format!("{{{e}}}");

    // Bad JSON, or not an object.
    assert!(st_err(&st(r#"{"w": {"dtype": "F32", "#, &four)).contains("not valid JSON"));
    assert!(st_err(&st("[1, 2]", &[])).contains("does not start with '{'"));
    assert!(st_err(&st("{\"w\": 3}", &[])).contains("tensor 'w': malformed"));
    assert!(st_err(&st("{} trailing", &[])).contains("not valid JSON"));
    let mut not_utf8 = st("{\"\u{e9}\":1}", &[]);
    not_utf8[10] = 0xff;
    assert!(st_err(&not_utf8).contains("not valid JSON"));
    assert!(st_err(&st(r#"{"w":{"dtype":"F32","shape":[1]}}"#, &four)).contains("data_offsets"));
    assert!(st_err(&st(&one(entry("w", "F32", "[-1]", 0, 4)), &four)).contains("malformed"));
    assert!(
        st_err(&st(r#"{"__metadata__":{"format":1}}"#, &[])).contains("map strings to strings")
    );
    // A repeated key.
    let dup = format!(
        "{{{},{}}}",
        entry("w", "F32", "[1]", 0, 4),
        entry("w", "F32", "[1]", 4, 8)
    );
    assert!(st_err(&st(&dup, &eight)).contains("'w' appears twice"));

    // Offsets past the end of the data, or reversed.
    let msg = st_err(&st(&one(entry("w", "F32", "[2]", 0, 8)), &four));
    assert!(msg.contains("not a range inside the 4 bytes"), "{msg}");
    assert!(st_err(&st(&one(entry("w", "F32", "[1]", 4, 0)), &four)).contains("not a range"));
    assert!(
        st_err(&st(
            &one(entry("w", "F32", "[1]", u64::MAX - 1, u64::MAX)),
            &four
        ))
        .contains("not a range")
    );

    // Overlapping ranges, gaps, trailing bytes.
    let overlap = format!(
        "{{{},{}}}",
        entry("a", "F32", "[2]", 0, 8),
        entry("b", "F32", "[2]", 4, 12)
    );
    let msg = st_err(&st(&overlap, &twelve));
    assert!(msg.contains("'a' and 'b' overlap"), "{msg}");
    let gap = format!(
        "{{{},{}}}",
        entry("a", "F32", "[1]", 0, 4),
        entry("b", "F32", "[1]", 8, 12)
    );
    assert!(st_err(&st(&gap, &twelve)).contains("bytes 4..8 of the data belong to no tensor"));
    assert!(st_err(&st(&one(entry("a", "F32", "[1]", 0, 4)), &eight)).contains("bytes 4..8"));

    // Sizes that do not match the shape.
    let msg = st_err(&st(&one(entry("w", "F32", "[3]", 0, 8)), &eight));
    assert!(
        msg.contains("needs 12 bytes") && msg.contains("hold 8"),
        "{msg}"
    );
    assert!(st_err(&st(&one(entry("w", "F64", "[2]", 0, 8)), &eight)).contains("needs 16 bytes"));
    let huge_shape = format!("[{}, {}]", 1u64 << 62, 1u64 << 62);
    assert!(st_err(&st(&one(entry("w", "F32", &huge_shape, 0, 4)), &four)).contains("too large"));

    // Header lengths that the file cannot hold.
    for n in [u64::MAX, 1 << 40, 101 * 1024 * 1024] {
        let mut b = n.to_le_bytes().to_vec();
        b.extend_from_slice(b"{}");
        let msg = st_err(&b);
        assert!(msg.contains("implausible"), "{n}: {msg}");
    }
    let mut b = 100u64.to_le_bytes().to_vec();
    b.extend_from_slice(b"{}");
    assert!(st_err(&b).contains("truncated: the header announces 100 bytes"));
    assert!(st_err(&[1, 0, 0]).contains("truncated"));

    // Dtypes other than F32 and F64, each named.
    for dtype in [
        "F16", "BF16", "I16", "I8", "U8", "U64", "BOOL", "F8_E4M3", "C64", "nonsense",
    ] {
        let msg = st_err(&st(&one(entry("w", dtype, "[1]", 0, 4)), &four));
        assert!(
            msg.contains(&format!("tensor 'w' has dtype {dtype};")),
            "{msg}"
        );
    }
}

#[test]
fn integer_tensors_load_only_when_exact() {
    let ints = |dtype: &str, values: &[i64]| {
        let size = if dtype == "I64" { 8 } else { 4 };
        let data: Vec<u8> = values
            .iter()
            .flat_map(|&v| {
                if size == 8 {
                    v.to_le_bytes().to_vec()
                } else {
                    (v as i32).to_le_bytes().to_vec()
                }
            })
            .collect();
        let shape = format!("[{}]", values.len());
        st(
            &format!("{{{}}}", entry("n", dtype, &shape, 0, data.len() as u64)),
            &data,
        )
    };
    let sd = from_safetensors_bytes::<f32>(&ints("I64", &[0, 3, -7, 1 << 24]), "i").unwrap();
    assert_eq!(
        sd.get("n").unwrap().to_vec(),
        vec![0.0, 3.0, -7.0, 16_777_216.0]
    );
    let sd = from_safetensors_bytes::<f64>(&ints("I32", &[i32::MIN as i64, 5]), "i").unwrap();
    assert_eq!(sd.get("n").unwrap().to_vec(), vec![i32::MIN as f64, 5.0]);
    // 2^24 + 1 is not an f32; 2^53 + 1 is not an f64.
    let msg = from_safetensors_bytes::<f32>(&ints("I64", &[1, (1 << 24) + 1]), "i")
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("'n' (I64) holds 16777217, which f32 cannot represent exactly"),
        "{msg}"
    );
    assert!(from_safetensors_bytes::<f64>(&ints("I64", &[(1 << 24) + 1]), "i").is_ok());
    assert!(from_safetensors_bytes::<f64>(&ints("I64", &[(1 << 53) + 1]), "i").is_err());
    assert!(from_safetensors_bytes::<f64>(&ints("I64", &[i64::MAX]), "i").is_err());
    // -2^63 is a power of two: exact in both.
    let sd = from_safetensors_bytes::<f32>(&ints("I64", &[i64::MIN]), "i").unwrap();
    assert_eq!(sd.get("n").unwrap().to_vec(), vec![-9.223_372e18]);
}

#[test]
fn truncated_or_mutated_safetensors_never_panic() {
    let bytes = std::fs::read(fixture("tiny.safetensors")).unwrap();
    for k in 0..bytes.len() {
        let msg = st_err(&bytes[..k]);
        assert!(!msg.is_empty());
    }
    // Mutations either load (a changed value) or are refused; none may panic.
    let mut refused = 0;
    for i in 0..bytes.len() {
        for mask in [0x01u8, 0x20, 0x80, 0xff] {
            let mut bad = bytes.clone();
            bad[i] ^= mask;
            if from_safetensors_bytes::<f32>(&bad, "m").is_err() {
                refused += 1;
            }
        }
    }
    assert!(refused > 0);
}

#[test]
fn state_dict_api_behaves_like_an_ordered_dict() {
    let model = model_a();
    let sd = state_dict(&model);
    assert_eq!(
        sd.keys().collect::<Vec<_>>(),
        [
            "conv1.weight",
            "conv1.bias",
            "fc1.weight",
            "fc1.bias",
            "fc2.weight",
            "fc2.bias"
        ]
    );
    assert_eq!(sd.num_elements(), model.num_parameters());
    // Snapshots: changing the model afterwards does not change the state dict.
    let w = model.named_parameters()[0].1.clone();
    w.set_value(Tensor::zeros(&w.shape())).unwrap();
    assert!(
        sd.get("conv1.weight")
            .unwrap()
            .to_vec()
            .iter()
            .any(|&x| x != 0.0)
    );
    let collected: StateDict = sd.clone().into_iter().collect();
    assert!(collected == sd);
    assert_eq!(format!("{sd:?}").lines().count(), 1);
    assert!(format!("{sd:?}").contains("\"conv1.weight\": [8, 1, 3, 3]"));
}
