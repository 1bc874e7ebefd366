//! The ready-made models against PyTorch: `tiny_resnet` loads a PyTorch state_dict strictly
//! and gives PyTorch's logits (fixtures made by tests/fixtures/torch_tiny_resnet.py), its
//! names are PyTorch's, its gradients are right, and it learns.

use ferrite::nn::checkpoint::{
    Strict, from_safetensors_bytes, load_safetensors, load_state_dict, state_dict,
    to_safetensors_bytes,
};
use ferrite::nn::gradcheck_module;
use ferrite::nn::models::{lenet5, tiny_resnet};
use ferrite::nn::optim::{Optimizer, Sgd, SgdConfig};
use ferrite::prelude::*;

fn fixture(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn assert_close(what: &str, found: &Tensor<f64>, expected: &Tensor<f64>) {
    assert_eq!(found.shape(), expected.shape(), "{what}");
    for (i, (a, b)) in found.to_vec().iter().zip(expected.to_vec()).enumerate() {
        assert!(
            (a - b).abs() <= 1e-9 * (1.0 + b.abs()),
            "{what}[{i}]: ferrite {a}, pytorch {b}"
        );
    }
}

#[test]
fn tiny_resnet_loads_pytorch_weights_strictly_and_gives_its_logits() {
    let model = tiny_resnet::<f64>();
    let torch_state = load_safetensors::<f64>(fixture("torch_tiny_resnet.safetensors")).unwrap();
    // Same keys in the same order as PyTorch's state_dict.
    let ours: Vec<String> = state_dict(&model).keys().map(String::from).collect();
    let theirs: Vec<String> = torch_state.keys().map(String::from).collect();
    assert_eq!(ours, theirs);
    load_state_dict(&model, &torch_state, Strict::Yes).unwrap();

    let io = load_safetensors::<f64>(fixture("torch_tiny_resnet_io.safetensors")).unwrap();
    let x = Var::new(io.get("input").unwrap().clone());
    model.eval();
    let eval = no_grad(|| model.forward(&x)).unwrap().value();
    assert_close("logits_eval", &eval, io.get("logits_eval").unwrap());

    // Train mode: batch statistics, and the running statistics updated as PyTorch does.
    model.train();
    let train = no_grad(|| model.forward(&x)).unwrap().value();
    assert_close("logits_train", &train, io.get("logits_train").unwrap());
    let after = state_dict(&model);
    let mut buffers = 0;
    for (key, expected) in io.iter() {
        if let Some(name) = key.strip_prefix("after_train.") {
            assert_close(name, after.get(name).unwrap(), expected);
            buffers += 1;
        }
    }
    assert_eq!(buffers, 27);
}

#[test]
fn tiny_resnet_round_trips_through_safetensors_with_pytorch_names() {
    manual_seed(3);
    let model = tiny_resnet::<f32>();
    assert_eq!(model.num_parameters(), 77_754);
    let names: Vec<String> = model
        .named_parameters()
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert_eq!(names.len(), 3 + 3 * 6 + 3 * 2 + 2);
    for name in [
        "conv1.weight",
        "bn1.weight",
        "layer1.conv1.weight",
        "layer1.bn2.bias",
        "layer2.downsample.0.weight",
        "layer3.downsample.1.bias",
        "fc.weight",
        "fc.bias",
    ] {
        assert!(names.iter().any(|n| n == name), "{name} missing: {names:?}");
    }
    let bytes = to_safetensors_bytes(&state_dict(&model)).unwrap();
    let copy = tiny_resnet::<f32>();
    load_state_dict(
        &copy,
        &from_safetensors_bytes(&bytes, "model").unwrap(),
        Strict::Yes,
    )
    .unwrap();
    model.eval();
    copy.eval();
    let x = Var::new(Tensor::<f32>::randn(&[2, 1, 28, 28], &mut seeded_rng(1)));
    assert_eq!(
        no_grad(|| model.forward(&x)).unwrap().value(),
        no_grad(|| copy.forward(&x)).unwrap().value()
    );
}

#[test]
fn lenet5_has_pytorch_names() {
    manual_seed(0);
    let model = lenet5::<f32>();
    let names: Vec<String> = state_dict(&model).keys().map(String::from).collect();
    assert_eq!(
        names,
        [
            "conv1.weight",
            "conv1.bias",
            "conv2.weight",
            "conv2.bias",
            "fc1.weight",
            "fc1.bias",
            "fc2.weight",
            "fc2.bias",
            "fc3.weight",
            "fc3.bias"
        ]
    );
}

#[test]
fn tiny_resnet_gradients_match_finite_differences_in_train_mode() {
    manual_seed(0);
    let model = tiny_resnet::<f64>();
    let x = Tensor::<f64>::randn(&[3, 1, 8, 8], &mut seeded_rng(2));
    let report = gradcheck_module(&model, &x, &GradcheckOptions::default()).unwrap();
    assert_eq!(report.checked, 1 + model.parameters().len());
}

#[test]
fn tiny_resnet_learns_a_batch() {
    manual_seed(0);
    let model = tiny_resnet::<f32>();
    let data = Mnist::embedded(Split::Train).unwrap();
    let batch = DataLoader::new(&data)
        .with_batch_size(32)
        .epoch(0)
        .next()
        .unwrap()
        .unwrap();
    let labels = Indices::from_classes(&batch.labels);
    let x = Var::new(batch.images);
    let mut sgd = Sgd::new(
        model.parameters(),
        SgdConfig::new(0.05)
            .with_momentum(0.9)
            .with_weight_decay(5e-4),
    )
    .unwrap();
    let mut losses = Vec::new();
    for _ in 0..8 {
        let loss = cross_entropy(
            &model.forward(&x).unwrap(),
            &labels,
            &CrossEntropyOptions::default(),
        )
        .unwrap();
        losses.push(loss.item().unwrap());
        sgd.zero_grad();
        loss.backward().unwrap();
        sgd.step().unwrap();
    }
    // Steadily down: 2.33 to 1.73 on this batch.
    assert!(losses.windows(2).all(|w| w[1] < w[0]), "{losses:?}");
    assert!(losses[7] < 0.8 * losses[0], "{losses:?}");
}
