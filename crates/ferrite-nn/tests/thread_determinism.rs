//! A SmallCnn training step gives bit-identical losses and parameters whatever the number of
//! threads: every reduction runs in a fixed order that does not depend on how rayon splits
//! the work.

use ferrite_autograd::Var;
use ferrite_nn::loss::{CrossEntropyOptions, Indices, cross_entropy};
use ferrite_nn::models::small_cnn;
use ferrite_nn::optim::{Optimizer, Sgd, SgdConfig};
use ferrite_nn::{Module, ModuleExt};
use ferrite_tensor::{Tensor, manual_seed, seeded_rng};

/// Three SGD steps (momentum 0.9) on one seeded batch, in a pool of `threads` threads:
/// the bits of each loss, then of every parameter and gradient at the end.
fn train(threads: usize, batch: usize) -> Vec<Vec<u32>> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("thread pool");
    pool.install(|| {
        manual_seed(7);
        let model = small_cnn::<f32>([28, 28]).expect("model");
        let rng = &mut seeded_rng(7);
        let mut opt =
            Sgd::new(model.parameters(), SgdConfig::new(0.05).with_momentum(0.9)).expect("sgd");
        let x = Tensor::<f32>::randn(&[batch, 1, 28, 28], rng);
        let y: Vec<usize> = (0..batch).map(|i| (i * 7 + 3) % 10).collect();
        let mut out = Vec::new();
        for _ in 0..3 {
            opt.zero_grad();
            let logits = model.forward(&Var::new(x.clone())).expect("forward");
            let loss = cross_entropy(
                &logits,
                &Indices::from_classes(&y),
                &CrossEntropyOptions::default(),
            )
            .expect("loss");
            loss.backward().expect("backward");
            opt.step().expect("step");
            out.push(vec![loss.item().expect("scalar").to_bits()]);
        }
        for p in model.parameters() {
            out.push(p.value().to_vec().iter().map(|v| v.to_bits()).collect());
            let g = p.grad().expect("every parameter has a gradient");
            out.push(g.to_vec().iter().map(|v| v.to_bits()).collect());
        }
        out
    })
}

#[test]
fn small_cnn_steps_are_bit_identical_with_1_2_and_4_threads() {
    for batch in [16, 67] {
        let one = train(1, batch);
        for threads in [2, 4] {
            let many = train(threads, batch);
            assert_eq!(one.len(), many.len());
            for (i, (a, b)) in one.iter().zip(&many).enumerate() {
                let what = if i < 3 {
                    format!("loss of step {}", i + 1)
                } else {
                    format!("tensor {} (parameters and gradients in order)", i - 3)
                };
                assert!(
                    a == b,
                    "batch {batch}: {what} differs with {threads} threads"
                );
            }
        }
    }
}
