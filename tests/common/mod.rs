//! Helpers shared by the integration tests (each test file includes this module and uses
//! part of it).
#![allow(dead_code)]

use ferrite::nn::data::{DataLoader, Dataset};
use ferrite::nn::loss::{CrossEntropyOptions, cross_entropy};
use ferrite::nn::optim::{Optimizer, Sgd};
use ferrite::prelude::*;

/// One training step on a batch: forward, cross-entropy, backward, SGD update; the loss.
pub fn train_step(model: &dyn Module, sgd: &mut Sgd, images: Tensor, labels: &[usize]) -> f32 {
    let logits = model.forward(&Var::new(images)).unwrap();
    let loss = cross_entropy(
        &logits,
        &Indices::from_classes(labels),
        &CrossEntropyOptions::default(),
    )
    .unwrap();
    sgd.zero_grad();
    loss.backward().unwrap();
    sgd.step().unwrap();
    loss.item().unwrap()
}

/// How many samples of `data` the model classifies correctly (arg-max of its logits).
pub fn count_correct<D: Dataset>(model: &dyn Module, data: D) -> usize {
    let mut correct = 0;
    for batch in DataLoader::new(data).with_batch_size(500).epoch(0) {
        let batch = batch.unwrap();
        let logits = no_grad(|| model.forward(&Var::new(batch.images))).unwrap();
        let predicted = logits.value().argmax(1, false).unwrap();
        correct += predicted
            .as_array()
            .iter()
            .zip(&batch.labels)
            .filter(|&(&p, &l)| p as usize == l)
            .count();
    }
    correct
}
