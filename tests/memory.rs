//! Memory stays flat over 2,000 training steps: the graph of every step is freed, and nothing
//! accumulates. (Linux: reads the resident set size from /proc.)

#![cfg(target_os = "linux")]

mod common;

use common::train_step;

use ferrite::nn::data::{DataLoader, Mnist, Split, Subset};
use ferrite::nn::models::small_cnn;
use ferrite::nn::optim::{Sgd, SgdConfig};
use ferrite::prelude::*;

/// (current, peak) resident set size in KiB.
fn rss_kib() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let field = |name: &str| -> u64 {
        let line = status.lines().find(|l| l.starts_with(name)).unwrap();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    };
    (field("VmRSS:"), field("VmHWM:"))
}

#[test]
fn rss_is_flat_from_step_200_to_step_2000() {
    let data = Subset::take(Mnist::embedded(Split::Train).unwrap(), 1600);
    let loader = DataLoader::new(data)
        .with_batch_size(8)
        .with_shuffle(true)
        .with_seed(1);
    manual_seed(1);
    let model = small_cnn::<f32>([28, 28]).unwrap();
    let mut sgd = Sgd::new(model.parameters(), SgdConfig::new(0.01).with_momentum(0.9)).unwrap();
    let (mut step, mut at_200) = (0, (0, 0));
    'training: for epoch in 0.. {
        for batch in loader.epoch(epoch) {
            let batch = batch.unwrap();
            train_step(&model, &mut sgd, batch.images, &batch.labels);
            step += 1;
            if step == 200 {
                at_200 = rss_kib();
            }
            if step == 2000 {
                break 'training;
            }
        }
    }
    let at_2000 = rss_kib();
    println!(
        "RSS at step 200: {} KiB (peak {}); at step 2000: {} KiB (peak {})",
        at_200.0, at_200.1, at_2000.0, at_2000.1
    );
    // Allocator noise is a few MiB; a leak of even one small graph per step would add far more.
    assert!(
        at_2000.1 <= at_200.1 + 8 * 1024,
        "peak RSS grew from {} to {} KiB",
        at_200.1,
        at_2000.1
    );
    assert!(
        at_2000.0 <= at_200.0 + 8 * 1024,
        "RSS grew from {} to {} KiB",
        at_200.0,
        at_2000.0
    );
}
