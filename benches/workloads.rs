//! Criterion benchmarks of the standard workloads W0–W4 (`shared/bench/WORKLOADS.md`), the
//! same work as `examples/bench.rs` and PyTorch's `torch_bench.py`, with small sample sizes so
//! that it finishes in a few minutes. Threads: rayon's default (one per core), or
//! `RAYON_NUM_THREADS`.
//!
//! ```text
//! cargo bench -p ferrite-benches --bench workloads                 # all
//! cargo bench -p ferrite-benches --bench workloads -- W4           # one
//! ```

use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use ferrite::nn::loss::{CrossEntropyOptions, cross_entropy};
use ferrite::nn::models::small_cnn;
use ferrite::nn::optim::{Optimizer, Sgd, SgdConfig};
use ferrite::prelude::*;

fn rand_pm1(shape: &[usize], rng: &mut Rng) -> Tensor {
    Tensor::uniform(shape, -1.0, 1.0, rng)
}

fn w0(c: &mut Criterion) {
    let rng = &mut seeded_rng(0);
    let n = 1024;
    let (a, b) = (rand_pm1(&[n, n], rng), rand_pm1(&[n, n], rng));
    let mut g = c.benchmark_group("W0");
    g.throughput(Throughput::Elements(2 * (n as u64).pow(3)));
    g.bench_function("sgemm 1024", |bench| bench.iter(|| a.matmul(&b).unwrap()));
    g.finish();
}

/// A 3x3, padding-1 convolution `[n, ci, hw, hw] -> [n, co, hw, hw]`: forward only, or
/// forward and backward of `sum(y * g)` through the graph (gradients of x, W and b).
fn conv(
    c: &mut Criterion,
    name: &str,
    (n, ci, co, hw): (usize, usize, usize, usize),
    backward: bool,
) {
    let rng = &mut seeded_rng(0);
    let x = rand_pm1(&[n, ci, hw, hw], rng);
    let layer: Conv2d = Conv2d::new(ci, co, 3).with_padding(1);
    let g = Var::new(rand_pm1(&[n, co, hw, hw], rng));
    let flop = 2 * (n * co * ci * 9 * hw * hw) as u64;
    let mut group = c.benchmark_group(name);
    if backward {
        group.throughput(Throughput::Elements(3 * flop));
        let xv = Var::parameter(x);
        group.bench_function("conv2d fwd+bwd", |bench| {
            bench.iter(|| {
                xv.zero_grad();
                layer.zero_grad();
                let y = layer.forward(&xv).unwrap();
                y.mul(&g).unwrap().sum_all().unwrap().backward().unwrap();
            })
        });
    } else {
        group.throughput(Throughput::Elements(flop));
        let (w, b) = (layer.weight().value(), layer.bias().unwrap().value());
        let params = layer.config().params;
        group.bench_function("conv2d fwd", |bench| {
            bench.iter(|| x.conv2d(&w, Some(&b), &params).unwrap())
        });
    }
    group.finish();
}

fn w1(c: &mut Criterion) {
    conv(c, "W1", (64, 1, 16, 28), false);
}

fn w1b(c: &mut Criterion) {
    conv(c, "W1b", (64, 1, 16, 28), true);
}

fn w2(c: &mut Criterion) {
    conv(c, "W2", (64, 16, 32, 14), true);
}

fn w3(c: &mut Criterion) {
    conv(c, "W3", (32, 64, 64, 32), true);
}

/// One SmallCnn training step (forward, cross-entropy, backward, SGD with momentum), at
/// batch sizes 16 to 256 to show the per-sample cost.
fn w4(c: &mut Criterion) {
    let mut group = c.benchmark_group("W4");
    for batch in [16, 64, 256] {
        manual_seed(0);
        let model = small_cnn::<f32>([28, 28]).unwrap();
        let rng = &mut seeded_rng(0);
        let mut opt =
            Sgd::new(model.parameters(), SgdConfig::new(0.05).with_momentum(0.9)).unwrap();
        let x = Tensor::<f32>::rand(&[batch, 1, 28, 28], rng).map(|p| (p - 0.1307) / 0.3081);
        let y: Vec<usize> = (0..batch).map(|i| (i * 7) % 10).collect();
        group.throughput(Throughput::Elements(batch as u64));
        group.bench_function(format!("train step batch {batch}"), |bench| {
            bench.iter_batched(
                || Var::new(x.clone()),
                |input| {
                    opt.zero_grad();
                    let logits = model.forward(&input).unwrap();
                    let loss = cross_entropy(
                        &logits,
                        &Indices::from_classes(&y),
                        &CrossEntropyOptions::default(),
                    )
                    .unwrap();
                    loss.backward().unwrap();
                    opt.step().unwrap();
                },
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

criterion_group! {
    name = workloads;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    targets = w0, w1, w1b, w2, w3, w4
}
criterion_main!(workloads);
