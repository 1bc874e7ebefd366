//! Each activation against `relu` on one representative CNN feature map, `f32`
//! `[64, 32, 28, 28]` (1.6 M elements): the forward kernel alone, and forward + backward
//! through `Var`. Medians of a few runs, in milliseconds, and the ratio to relu's.
//!
//! ```text
//! cargo run --release --example bench_activations [-- iters]
//! ```

use std::time::Instant;

use ferrite::prelude::*;

type Op = fn(&Var<f32>) -> Result<Var<f32>, TensorError>;

fn median_ms(iters: usize, mut f: impl FnMut()) -> f64 {
    f(); // warm the buffer cache and the thread pool
    let mut times: Vec<f64> = (0..iters)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[iters / 2]
}

fn main() -> Result<(), TensorError> {
    let iters = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(15);
    let x = Tensor::<f32>::randn(&[64, 32, 28, 28], &mut seeded_rng(0));
    let g = Tensor::<f32>::randn(x.shape(), &mut seeded_rng(1));
    let ops: [(&str, Op); 12] = [
        ("relu", |v| v.relu()),
        ("leaky_relu", |v| v.leaky_relu(0.01)),
        ("elu", |v| v.elu(1.0)),
        ("gelu", |v| v.gelu(GeluApproximate::None)),
        ("gelu_tanh", |v| v.gelu(GeluApproximate::Tanh)),
        ("silu", |v| v.silu()),
        ("softplus", |v| v.softplus(1.0, 20.0)),
        ("hardtanh", |v| v.hardtanh(-1.0, 1.0)),
        ("relu6", |v| v.relu6()),
        ("hardswish", |v| v.hardswish()),
        ("hardsigmoid", |v| v.hardsigmoid()),
        ("clamp", |v| v.clamp(Some(-0.5), Some(0.5))),
    ];
    println!(
        "op            forward_ms  ratio  fwd+bwd_ms  ratio   ({iters} runs, shape {:?})",
        x.shape()
    );
    let mut base = (0.0, 0.0);
    for (name, op) in ops {
        let fwd = median_ms(iters, || {
            let _ = no_grad(|| op(&Var::new(x.clone())));
        });
        let both = median_ms(iters, || {
            let v = Var::parameter(x.clone());
            let y = op(&v).expect("op runs");
            y.backward_with(&g).expect("backward runs");
        });
        if name == "relu" {
            base = (fwd, both);
        }
        println!(
            "{name:<13} {fwd:>10.2} {:>6.2} {both:>11.2} {:>6.2}",
            fwd / base.0,
            both / base.1
        );
    }
    Ok(())
}
