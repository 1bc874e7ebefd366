//! Reading what `torch.save` writes: the fixtures of tests/fixtures/torch_pt.py (made by
//! PyTorch) and hand-made archives (tests/torch_pt/writer.rs).

mod common;
#[path = "torch_pt/writer.rs"]
mod writer;

use std::path::{Path, PathBuf};

use common::count_correct;
use ferrite::nn::checkpoint::{
    StateDict, Strict, from_torch_bytes, load_safetensors, load_state_dict, load_torch,
};
use ferrite::nn::data::{Mnist, Split};
use ferrite::nn::models::small_cnn;
use ferrite::nn::{BatchNorm1d, Linear, Sequential};
use writer::{View, archive, f32_bytes, state_dict_pickle};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

#[test]
fn a_small_cnn_saved_by_torch_save_scores_like_pytorch() {
    let expected: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("torch_small_cnn.json")).unwrap())
            .unwrap();
    let state = load_torch::<f32>(fixture("torch_small_cnn.pt")).unwrap();
    // The same weights as the safetensors export, bit for bit, in the same order.
    let reference = load_safetensors::<f32>(fixture("torch_small_cnn.safetensors")).unwrap();
    let mut names: Vec<&str> = reference.keys().collect();
    names.sort_unstable();
    let mut got: Vec<&str> = state.keys().collect();
    got.sort_unstable();
    assert_eq!(got, names);
    for (name, tensor) in reference.iter() {
        assert!(state.get(name) == Some(tensor), "{name} differs");
    }
    let model = small_cnn::<f32>([28, 28]).unwrap();
    assert!(
        load_state_dict(&model, &state, Strict::Yes)
            .unwrap()
            .is_clean()
    );
    let correct = count_correct(&model, Mnist::embedded(Split::Test).unwrap());
    assert_eq!(correct as u64, expected["test_correct"].as_u64().unwrap());
}

/// `torch.arange(12).reshape(3, 4) / 8 - 0.5`, the base of every tensor of torch_views.pt.
fn base() -> Vec<f64> {
    (0..12).map(|i| f64::from(i) / 8.0 - 0.5).collect()
}

fn check_views(state: &StateDict<f64>) {
    let b = base();
    for name in ["f32", "f64", "f16", "bf16"] {
        let t = state.get(name).unwrap();
        assert_eq!((t.shape(), t.to_vec()), (&[3, 4][..], b.clone()), "{name}");
    }
    let t = state.get("transposed").unwrap();
    let bt: Vec<f64> = (0..12).map(|i| b[(i % 3) * 4 + i / 3]).collect();
    assert_eq!((t.shape(), t.to_vec()), (&[4, 3][..], bt));
    let t = state.get("offset").unwrap();
    assert_eq!(t.to_vec(), vec![3.0, 4.0, 5.0, 6.0]);
    let t = state.get("strided").unwrap();
    let bs: Vec<f64> = (0..6).map(|i| b[(i / 2) * 4 + (i % 2) * 2]).collect();
    assert_eq!((t.shape(), t.to_vec()), (&[3, 2][..], bs));
    let t = state.get("scalar").unwrap();
    assert_eq!((t.shape(), t.to_vec()), (&[][..], vec![2.5]));
    assert_eq!(state.get("count").unwrap().to_vec(), vec![7.0]);
    assert_eq!(
        state.keys().collect::<Vec<_>>(),
        [
            "f32",
            "f64",
            "f16",
            "bf16",
            "transposed",
            "offset",
            "strided",
            "scalar",
            "count"
        ]
    );
}

#[test]
fn dtypes_and_views_read_as_pytorch_shows_them() {
    check_views(&load_torch::<f64>(fixture("torch_views.pt")).unwrap());
    // The f32 reader agrees with the f64 one rounded.
    let s32 = load_torch::<f32>(fixture("torch_views.pt")).unwrap();
    assert!(
        s32 == load_torch::<f64>(fixture("torch_views.pt"))
            .unwrap()
            .cast::<f32>()
    );
}

#[test]
fn zip64_records_are_followed() {
    check_views(&load_torch::<f64>(fixture("torch_zip64.pt")).unwrap());
}

#[test]
fn a_checkpoint_dict_is_flattened_and_its_model_part_loads() {
    let state = load_torch::<f32>(fixture("torch_nested.pt")).unwrap();
    let keys: Vec<&str> = state.keys().collect();
    assert_eq!(
        keys,
        [
            "model.0.weight",
            "model.0.bias",
            "model.1.weight",
            "model.1.bias",
            "model.1.running_mean",
            "model.1.running_var",
            "model.1.num_batches_tracked",
            "optimizer.state.0.momentum_buffer",
            "optimizer.state.1.momentum_buffer",
            "optimizer.state.2.momentum_buffer",
            "optimizer.state.3.momentum_buffer",
        ]
    );
    let model = Sequential::<f32>::new()
        .add_module("0", Linear::new(3, 2))
        .add_module("1", BatchNorm1d::new(2));
    // Non-strict loading of the whole dict reports like the safetensors path does.
    let report = load_state_dict(&model, &state, Strict::No).unwrap();
    assert_eq!(report.missing.len(), 7);
    assert_eq!(report.unexpected.len(), 11);
    let err = load_state_dict(&model, &state, Strict::Yes).unwrap_err();
    assert!(
        err.to_string()
            .contains("missing keys [0.weight, 0.bias, 1.weight"),
        "{err}"
    );
    let report = load_state_dict(&model, &state.strip_prefix("model."), Strict::Yes).unwrap();
    assert!(report.is_clean());
    let w = &state.get("model.0.weight").unwrap().to_vec()[..];
    assert_eq!(
        ferrite::nn::state_dict(&model)
            .get("0.weight")
            .unwrap()
            .to_vec(),
        w
    );
    let momentum = state.get("optimizer.state.0.momentum_buffer").unwrap();
    assert_eq!(momentum.shape(), &[2, 3]);
}

#[test]
fn refusals_name_the_problem() {
    let err = |name: &str| load_torch::<f32>(fixture(name)).unwrap_err().to_string();
    let e = err("torch_legacy.pt");
    assert!(
        e.contains("legacy format") && e.contains("torch.save"),
        "{e}"
    );
    let e = err("torch_evil.pt");
    assert!(
        e.contains("posix.system") && e.contains("not allowed"),
        "{e}"
    );
    let e = from_torch_bytes::<f32>(b"FERRITE\0 and more", "x.pt")
        .unwrap_err()
        .to_string();
    assert!(e.contains("Checkpoint::load"), "{e}");
}

#[test]
fn hand_made_views_are_checked_against_their_storage() {
    let data = f32_bytes(&[0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
    let view = |offset, sizes: &'static [i64], strides: &'static [i64]| {
        let pickle = state_dict_pickle(&[View {
            name: "w",
            storage_type: "FloatStorage",
            key: "0",
            numel: 6,
            offset,
            sizes,
            strides,
        }]);
        from_torch_bytes::<f32>(&archive(&pickle, &[("0", &data)]), "m.pt")
    };
    // A transposed view with an offset.
    let t = view(1, &[2, 2], &[1, 3]).unwrap();
    assert_eq!(t.get("w").unwrap().to_vec(), vec![1.0, 4.0, 2.0, 5.0]);
    // A broadcast (stride 0) view and an empty one.
    assert_eq!(
        view(5, &[3], &[0]).unwrap().get("w").unwrap().to_vec(),
        vec![5.0; 3]
    );
    assert_eq!(
        view(99, &[0, 4], &[4, 1])
            .unwrap()
            .get("w")
            .unwrap()
            .numel(),
        0
    );
    // A storage shorter than its view.
    let e = view(0, &[2, 4], &[4, 1]).unwrap_err().to_string();
    assert!(
        e.contains("m.pt") && e.contains("reaches element 7") && e.contains("only 6"),
        "{e}"
    );
    let e = view(5, &[2], &[1]).unwrap_err().to_string();
    assert!(e.contains("reaches element 6"), "{e}");
    let e = view(0, &[2, 2], &[1]).unwrap_err().to_string();
    assert!(e.contains("2 sizes but 1 strides"), "{e}");
    let e = view(0, &[-1], &[1]).unwrap_err().to_string();
    assert!(e.contains("non-negative"), "{e}");
}
