//! End to end: SmallCnn learns to read digits from a slice of the embedded MNIST subset.

mod common;

use common::{count_correct, train_step};
use ferrite::nn::data::{DataLoader, Mnist, Split, Subset};
use ferrite::nn::models::small_cnn;
use ferrite::nn::optim::{Optimizer, Sgd, SgdConfig};
use ferrite::prelude::*;

/// Trains for `epochs` on the first `n_train` digits and returns (per-step losses, accuracy
/// on the first `n_test` test digits).
fn train(seed: u64, n_train: usize, n_test: usize, epochs: u64) -> (Vec<f32>, f64) {
    let train = Subset::take(Mnist::embedded(Split::Train).unwrap(), n_train);
    let test = Subset::take(Mnist::embedded(Split::Test).unwrap(), n_test);
    let loader = DataLoader::new(train)
        .with_batch_size(64)
        .with_shuffle(true)
        .with_seed(seed);
    manual_seed(seed);
    let model = small_cnn::<f32>([28, 28]).unwrap();
    let mut sgd = Sgd::new(model.parameters(), SgdConfig::new(0.02).with_momentum(0.9)).unwrap();
    let mut losses = Vec::new();
    for epoch in 0..epochs {
        for batch in loader.epoch(epoch) {
            let batch = batch.unwrap();
            losses.push(train_step(&model, &mut sgd, batch.images, &batch.labels));
        }
    }
    (losses, count_correct(&model, test) as f64 / n_test as f64)
}

#[test]
fn small_cnn_learns_digits_and_is_reproducible() {
    let (losses, accuracy) = train(0, 2048, 500, 2);
    let first: f32 = losses[..5].iter().sum::<f32>() / 5.0;
    let last: f32 = losses[losses.len() - 5..].iter().sum::<f32>() / 5.0;
    assert!(last < first * 0.5, "loss fell only from {first} to {last}");
    assert!(
        accuracy >= 0.85,
        "test accuracy {accuracy} after 2 epochs on 2048 digits"
    );

    // The same seed gives the same numbers, bit for bit.
    let (again, accuracy_again) = train(0, 2048, 500, 2);
    assert_eq!(losses, again);
    assert_eq!(accuracy, accuracy_again);
}

/// One epoch of SmallCnn training on a small slice; returns the per-step losses.
fn run_epoch(
    model: &dyn Module,
    optimizer: &mut Sgd,
    loader: &DataLoader<Subset<Mnist>>,
    epoch: u64,
) -> Vec<f32> {
    let mut losses = Vec::new();
    for batch in loader.epoch(epoch) {
        let batch = batch.unwrap();
        losses.push(train_step(model, optimizer, batch.images, &batch.labels));
    }
    losses
}

#[test]
fn resuming_from_a_checkpoint_continues_exactly() {
    use ferrite::nn::checkpoint::{Checkpoint, Strict};
    use ferrite::nn::optim::OptimizerState;

    let loader = DataLoader::new(Subset::take(Mnist::embedded(Split::Train).unwrap(), 640))
        .with_batch_size(64)
        .with_shuffle(true)
        .with_seed(7);
    let config = SgdConfig::new(0.02).with_momentum(0.9);

    // Uninterrupted: three epochs.
    manual_seed(7);
    let model = small_cnn::<f32>([28, 28]).unwrap();
    let mut sgd = Sgd::new(model.parameters(), config).unwrap();
    let straight: Vec<Vec<f32>> = (0..3)
        .map(|e| run_epoch(&model, &mut sgd, &loader, e))
        .collect();

    // Interrupted after the first epoch: save, then continue in a fresh process-like state.
    let dir = std::env::temp_dir().join(format!("ferrite-resume-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("checkpoint.ferrite");
    {
        manual_seed(7);
        let model = small_cnn::<f32>([28, 28]).unwrap();
        let mut sgd = Sgd::new(model.parameters(), config).unwrap();
        assert_eq!(run_epoch(&model, &mut sgd, &loader, 0), straight[0]);
        let mut ckpt = Checkpoint::from_model(&model);
        ckpt.epoch = 1;
        ckpt.set_optimizer_state(&sgd.state()).unwrap();
        ckpt.save(&path).unwrap();
    }
    let ckpt = Checkpoint::<f32>::load(&path).unwrap();
    manual_seed(999);
    let model = small_cnn::<f32>([28, 28]).unwrap(); // other weights
    ckpt.load_into(&model, Strict::Yes).unwrap();
    let mut sgd = Sgd::new(model.parameters(), config).unwrap();
    sgd.load_state(ckpt.optimizer_state::<OptimizerState>().unwrap().unwrap())
        .unwrap();
    for epoch in ckpt.epoch..3 {
        assert_eq!(
            run_epoch(&model, &mut sgd, &loader, epoch),
            straight[epoch as usize],
            "epoch {epoch}"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn checkpoint_and_safetensors_round_trips_give_identical_predictions() {
    use ferrite::nn::checkpoint::{
        Checkpoint, Strict, load_safetensors, load_state_dict, save_safetensors, state_dict,
    };

    manual_seed(3);
    let model = small_cnn::<f32>([28, 28]).unwrap();
    let x = Var::new(Tensor::randn(&[8, 1, 28, 28], &mut seeded_rng(4)));
    let before = no_grad(|| model.forward(&x)).unwrap().value();

    let dir = std::env::temp_dir().join(format!("ferrite-roundtrip-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    Checkpoint::from_model(&model)
        .save(dir.join("m.ferrite"))
        .unwrap();
    save_safetensors(&state_dict(&model), dir.join("m.safetensors")).unwrap();

    manual_seed(5);
    let a = small_cnn::<f32>([28, 28]).unwrap();
    Checkpoint::<f32>::load(dir.join("m.ferrite"))
        .unwrap()
        .load_into(&a, Strict::Yes)
        .unwrap();
    manual_seed(6);
    let b = small_cnn::<f32>([28, 28]).unwrap();
    load_state_dict(
        &b,
        &load_safetensors(dir.join("m.safetensors")).unwrap(),
        Strict::Yes,
    )
    .unwrap();
    assert_eq!(no_grad(|| a.forward(&x)).unwrap().value(), before);
    assert_eq!(no_grad(|| b.forward(&x)).unwrap().value(), before);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_pytorch_trained_small_cnn_scores_the_same_in_ferrite() {
    use ferrite::nn::checkpoint::{Strict, load_safetensors, load_state_dict};

    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let expected: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("torch_small_cnn.json")).unwrap())
            .unwrap();
    let model = small_cnn::<f32>([28, 28]).unwrap();
    let state = load_safetensors::<f32>(dir.join("torch_small_cnn.safetensors")).unwrap();
    load_state_dict(&model, &state, Strict::Yes).unwrap();

    let correct = count_correct(&model, Mnist::embedded(Split::Test).unwrap());
    assert_eq!(correct as u64, expected["test_correct"].as_u64().unwrap());
}

#[test]
fn one_epoch_of_training_matches_pytorch_step_by_step() {
    use ferrite::nn::checkpoint::{Strict, load_safetensors, load_state_dict};
    use ferrite::nn::data::Dataset;

    // PyTorch's initial weights, batch order and per-step losses (tests/fixtures/torch_small_cnn.py).
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let run: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("torch_small_cnn.json")).unwrap())
            .unwrap();
    let order: Vec<usize> = run["order"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as usize)
        .collect();
    let losses: Vec<f64> = run["losses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();

    let model = small_cnn::<f32>([28, 28]).unwrap();
    load_state_dict(
        &model,
        &load_safetensors(dir.join("torch_small_cnn_init.safetensors")).unwrap(),
        Strict::Yes,
    )
    .unwrap();
    let data = Mnist::embedded(Split::Train).unwrap();
    let mut sgd = Sgd::new(model.parameters(), SgdConfig::new(0.02).with_momentum(0.9)).unwrap();
    assert_eq!(losses.len(), order.len().div_ceil(64));
    for (step, &want) in losses.iter().enumerate() {
        let indices = &order[step * 64..((step + 1) * 64).min(order.len())];
        let mut pixels = vec![0f32; indices.len() * 784];
        let mut labels = Vec::new();
        for (i, &j) in indices.iter().enumerate() {
            labels.push(
                data.get_into(j, &mut pixels[i * 784..(i + 1) * 784])
                    .unwrap(),
            );
        }
        let x = Tensor::from_vec(pixels, &[indices.len(), 1, 28, 28]).unwrap();
        // f32 rounding differs between the two GEMMs; after a whole epoch the two runs still
        // agree to about 1e-5 (tolerance 1e-3 relative).
        let got = train_step(&model, &mut sgd, x, &labels) as f64;
        assert!(
            (got - want).abs() <= 1e-3 * want.abs(),
            "step {step}: ferrite {got}, pytorch {want}"
        );
    }
}
