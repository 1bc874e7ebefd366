//! The same seed gives bit-identical losses and weights for any number of threads.

mod common;

use common::train_step;
use ferrite::nn::data::{DataLoader, Mnist, Split, Subset};
use ferrite::nn::models::small_cnn;
use ferrite::nn::optim::{Sgd, SgdConfig};
use ferrite::prelude::*;

/// Ten SmallCnn training steps in a pool of `threads` threads: (losses, final weights).
fn train_with_threads(threads: usize) -> (Vec<f32>, Vec<Vec<f32>>) {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    pool.install(|| {
        let data = Subset::take(Mnist::embedded(Split::Train).unwrap(), 640);
        let loader = DataLoader::new(data)
            .with_batch_size(64)
            .with_shuffle(true)
            .with_seed(11);
        manual_seed(11);
        let model = small_cnn::<f32>([28, 28]).unwrap();
        let mut sgd =
            Sgd::new(model.parameters(), SgdConfig::new(0.05).with_momentum(0.9)).unwrap();
        let mut losses = Vec::new();
        for batch in loader.epoch(0) {
            let batch = batch.unwrap();
            losses.push(train_step(&model, &mut sgd, batch.images, &batch.labels));
        }
        let weights = model
            .parameters()
            .iter()
            .map(|p| p.value().to_vec())
            .collect();
        (losses, weights)
    })
}

#[test]
fn training_is_bit_identical_for_1_2_and_4_threads() {
    let one = train_with_threads(1);
    assert_eq!(one.0.len(), 10);
    for threads in [2, 4] {
        let other = train_with_threads(threads);
        assert_eq!(one.0, other.0, "losses differ with {threads} threads");
        assert!(one.1 == other.1, "weights differ with {threads} threads");
    }
}
