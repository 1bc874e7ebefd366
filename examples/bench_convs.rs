//! `conv1d` and `conv_transpose2d` against the `conv2d` of the same multiply-adds, `f32`:
//! the forward kernel alone, and forward + backward (input, weight and bias gradients)
//! through `Var`. Medians of a few runs, in milliseconds, and the ratio to the conv2d.
//!
//! - conv1d `[32, 64, 1024]` by `[64, 64, 3]`, padding 1, against conv2d `[32, 64, 32, 32]`
//!   by a `1 x 3` kernel (the same 6.4 G multiply-adds... per 1024 positions);
//! - conv_transpose2d `[32, 64, 16, 16]` by `[64, 32, 4, 4]`, stride 2, padding 1 (to
//!   `[32, 32, 32, 32]`), against the conv2d it is the adjoint of (`[32, 32, 32, 32]` by
//!   `[64, 32, 4, 4]`, stride 2, padding 1);
//! - conv_transpose2d `[32, 64, 32, 32]` by `[64, 64, 3, 3]`, padding 1, against conv2d
//!   `[32, 64, 32, 32]` by `[64, 64, 3, 3]`, padding 1.
//!
//! ```text
//! cargo run --release --example bench_convs [-- iters]
//! ```

use std::time::Instant;

use ferrite::prelude::*;
use ferrite::tensor::{Conv1dParams, Conv2dParams, ConvTranspose2dParams};

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

type Conv = Box<dyn Fn(&Var<f32>, &Var<f32>, &Var<f32>) -> Result<Var<f32>, TensorError>>;

/// Forward-only and forward + backward medians of `f(x, w, b)`.
fn time(iters: usize, shapes: [&[usize]; 3], f: &Conv) -> Result<(f64, f64), TensorError> {
    let [x, w, b] = shapes.map(|s| Var::parameter(Tensor::randn(s, &mut seeded_rng(0))));
    let y = f(&x, &w, &b)?;
    let g = Tensor::<f32>::randn(&y.shape(), &mut seeded_rng(1));
    let forward = median_ms(iters, || {
        no_grad(|| f(&x, &w, &b)).expect("forward");
    });
    let both = median_ms(iters, || {
        let y = f(&x, &w, &b).expect("forward");
        y.backward_with(&g).expect("backward");
        for v in [&x, &w, &b] {
            v.zero_grad();
        }
    });
    Ok((forward, both))
}

fn main() -> Result<(), TensorError> {
    let iters = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(9);
    let c1 = Conv1dParams::default().with_padding(1);
    let c2_1x3 = Conv2dParams::default().with_padding([0, 1]);
    let up = ConvTranspose2dParams::default()
        .with_stride(2)
        .with_padding(1);
    let down = Conv2dParams::default().with_stride(2).with_padding(1);
    let t3 = ConvTranspose2dParams::default().with_padding(1);
    let c3 = Conv2dParams::default().with_padding(1);
    type Case = (&'static str, [&'static [usize]; 3], Conv);
    let pairs: [(Case, Case); 3] = [
        (
            (
                "conv1d k3",
                [&[32, 64, 1024], &[64, 64, 3], &[64]],
                Box::new(move |x, w, b| x.conv1d(w, Some(b), &c1)),
            ),
            (
                "conv2d 1x3",
                [&[32, 64, 32, 32], &[64, 64, 1, 3], &[64]],
                Box::new(move |x, w, b| x.conv2d(w, Some(b), &c2_1x3)),
            ),
        ),
        (
            (
                "conv_transpose2d k4 s2",
                [&[32, 64, 16, 16], &[64, 32, 4, 4], &[32]],
                Box::new(move |x, w, b| x.conv_transpose2d(w, Some(b), &up)),
            ),
            (
                "conv2d k4 s2",
                [&[32, 32, 32, 32], &[64, 32, 4, 4], &[64]],
                Box::new(move |x, w, b| x.conv2d(w, Some(b), &down)),
            ),
        ),
        (
            (
                "conv_transpose2d k3 s1",
                [&[32, 64, 32, 32], &[64, 64, 3, 3], &[64]],
                Box::new(move |x, w, b| x.conv_transpose2d(w, Some(b), &t3)),
            ),
            (
                "conv2d k3 s1",
                [&[32, 64, 32, 32], &[64, 64, 3, 3], &[64]],
                Box::new(move |x, w, b| x.conv2d(w, Some(b), &c3)),
            ),
        ),
    ];
    println!("op                       forward_ms  ratio  fwd+bwd_ms  ratio   ({iters} runs, f32)");
    for ((name, shapes, f), (base_name, base_shapes, base)) in &pairs {
        // Alternate the two so that a busy machine slows both alike.
        let (bf, bb) = time(iters, *base_shapes, base)?;
        let (of, ob) = time(iters, *shapes, f)?;
        let (bf2, bb2) = time(iters, *base_shapes, base)?;
        let (bf, bb) = (bf.min(bf2), bb.min(bb2));
        println!(
            "{base_name:<24} {bf:>10.2} {:>6.2} {bb:>11.2} {:>6.2}",
            1.0, 1.0
        );
        println!(
            "{name:<24} {of:>10.2} {:>6.2} {ob:>11.2} {:>6.2}",
            of / bf,
            ob / bb
        );
    }
    Ok(())
}
