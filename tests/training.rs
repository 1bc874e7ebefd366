//! End to end: SmallCnn learns to read digits from a slice of the embedded MNIST subset.

use ferrite::nn::data::{DataLoader, Mnist, Split, Subset};
use ferrite::nn::loss::{CrossEntropyOptions, cross_entropy};
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
    let model = small_cnn::<f32>([28, 28], &mut seeded_rng(seed)).unwrap();
    let mut sgd = Sgd::new(model.parameters(), SgdConfig::new(0.02).with_momentum(0.9)).unwrap();
    let mut losses = Vec::new();
    for epoch in 0..epochs {
        for batch in loader.epoch(epoch) {
            let batch = batch.unwrap();
            let logits = model.forward(&Var::new(batch.images)).unwrap();
            let loss =
                cross_entropy(&logits, &batch.labels, &CrossEntropyOptions::default()).unwrap();
            sgd.zero_grad();
            loss.backward().unwrap();
            sgd.step().unwrap();
            losses.push(loss.item().unwrap());
        }
    }
    let mut correct = 0;
    for batch in DataLoader::new(test).with_batch_size(256).epoch(0) {
        let batch = batch.unwrap();
        let logits = no_grad(|| model.forward(&Var::new(batch.images))).unwrap();
        let predicted = logits.value().argmax(1, false).unwrap();
        correct += predicted
            .iter()
            .zip(&batch.labels)
            .filter(|(p, l)| p == l)
            .count();
    }
    (losses, correct as f64 / n_test as f64)
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
