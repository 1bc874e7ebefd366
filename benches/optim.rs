//! Criterion benchmarks of one optimizer step over SmallCnn's parameters (about 206k `f32`
//! in 8 tensors, the model of workload W4), with every gradient present. Threads: rayon's
//! default (one per core), or `RAYON_NUM_THREADS`.
//!
//! ```text
//! cargo bench -p ferrite-benches --bench optim                    # all
//! cargo bench -p ferrite-benches --bench optim -- "sgd momentum"  # one
//! ```

use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ferrite::nn::models::small_cnn;
use ferrite::nn::optim::{Adam, AdamConfig, Optimizer, Sgd, SgdConfig};
use ferrite::prelude::*;

/// SmallCnn's parameters, each with a random gradient.
fn params_with_grads() -> Vec<Var> {
    manual_seed(0);
    let model = small_cnn::<f32>([28, 28]).unwrap();
    let rng = &mut seeded_rng(0);
    let params = model.parameters();
    for p in &params {
        p.set_grad(Some(Tensor::randn(&p.shape(), rng))).unwrap();
    }
    params
}

/// Builds an optimizer over the given parameters.
type MakeOptimizer = fn(Vec<Var>) -> Box<dyn Optimizer>;

fn step(c: &mut Criterion) {
    let configs: Vec<(&str, MakeOptimizer)> = vec![
        ("sgd", |ps| {
            Box::new(Sgd::new(ps, SgdConfig::new(1e-3)).unwrap())
        }),
        ("sgd momentum", |ps| {
            Box::new(Sgd::new(ps, SgdConfig::new(1e-3).with_momentum(0.9)).unwrap())
        }),
        ("sgd nesterov weight_decay", |ps| {
            let c = SgdConfig::new(1e-3)
                .with_momentum(0.9)
                .with_nesterov(true)
                .with_weight_decay(1e-4);
            Box::new(Sgd::new(ps, c).unwrap())
        }),
        ("adam", |ps| {
            Box::new(Adam::new(ps, AdamConfig::new(1e-6)).unwrap())
        }),
        ("adam weight_decay amsgrad", |ps| {
            let c = AdamConfig::new(1e-6)
                .with_weight_decay(1e-4)
                .with_amsgrad(true);
            Box::new(Adam::new(ps, c).unwrap())
        }),
    ];
    let mut group = c.benchmark_group("optimizer step, SmallCnn");
    group
        .sample_size(50)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    for (name, make) in configs {
        let params = params_with_grads();
        let numel: usize = params
            .iter()
            .map(|p| p.shape().iter().product::<usize>())
            .sum();
        group.throughput(Throughput::Elements(numel as u64));
        let mut opt = make(params);
        group.bench_function(name, |bench| bench.iter(|| opt.step().unwrap()));
    }
    group.finish();
}

criterion_group!(benches, step);
criterion_main!(benches);
