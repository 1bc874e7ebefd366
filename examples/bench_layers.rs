//! The layers and ops of round 2, each on one representative shape, `f32`: the forward
//! alone (under `no_grad`) and forward + backward, medians in milliseconds. Prints one
//! `RESULT ferrite <case> <fwd_ms> <fwd+bwd_ms>` line per case; `benches/layers_torch.py`
//! prints the same cases for PyTorch and `benches/layers_ab.sh` alternates the two and
//! tabulates the ratios (the table in `docs/performance.md`).
//!
//! ```text
//! cargo run --release --example bench_layers -- [--threads N] [--iters N] [CASE ...]
//! ```

use std::time::Instant;

use ferrite::nn::loss::binary_cross_entropy_with_logits;
use ferrite::prelude::*;

type Forward = Box<dyn Fn(&Var<f32>) -> Result<Var<f32>, TensorError>>;

/// One case: a name, the input's shape, the forward.
struct Case {
    name: &'static str,
    shape: Vec<usize>,
    forward: Forward,
}

fn case(name: &'static str, shape: &[usize], f: impl Module<f32> + 'static) -> Case {
    Case {
        name,
        shape: shape.to_vec(),
        forward: Box::new(move |x| f.forward(x)),
    }
}

fn op(
    name: &'static str,
    shape: &[usize],
    f: impl Fn(&Var<f32>) -> Result<Var<f32>, TensorError> + 'static,
) -> Case {
    Case {
        name,
        shape: shape.to_vec(),
        forward: Box::new(f),
    }
}

/// The layers, with the shapes `benches/layers_torch.py` uses.
fn layer_cases() -> Vec<Case> {
    let map = [64, 32, 28, 28];
    vec![
        case("relu", &map, ReLU),
        case("leaky_relu", &map, LeakyReLU::new()),
        case("gelu", &map, GELU::new()),
        case("silu", &map, SiLU),
        case("hardswish", &map, Hardswish),
        case("batch_norm2d", &map, BatchNorm2d::new(32)),
        case("batch_norm1d", &[256, 512], BatchNorm1d::new(512)),
        case("layer_norm", &[32, 128, 256], LayerNorm::new(&[256])),
        case("group_norm", &[64, 64, 14, 14], GroupNorm::new(8, 64)),
        case(
            "max_pool2d_k3s2p1",
            &map,
            MaxPool2d::new(3).with_stride(2).with_padding(1),
        ),
        case("avg_pool2d_k2", &map, AvgPool2d::new(2)),
        case(
            "adaptive_avg_pool2d_1",
            &[64, 64, 7, 7],
            AdaptiveAvgPool2d::new(1),
        ),
        case(
            "adaptive_max_pool2d_3",
            &[64, 32, 14, 14],
            AdaptiveMaxPool2d::new(3),
        ),
        case(
            "conv1d_32_64_k5",
            &[64, 32, 256],
            Conv1d::new(32, 64, 5).with_padding(2),
        ),
        case(
            "conv_transpose2d_32_16_k4s2",
            &[64, 32, 7, 7],
            ConvTranspose2d::new(32, 16, 4)
                .with_stride(2)
                .with_padding(1),
        ),
        case(
            "upsample_bilinear_x2",
            &[64, 32, 14, 14],
            Upsample::new()
                .with_scale_factor(2.0)
                .with_mode(InterpolateMode::Bilinear),
        ),
        case(
            "upsample_nearest_x2",
            &[64, 32, 14, 14],
            Upsample::new().with_scale_factor(2.0),
        ),
    ]
}

/// The functional ops and losses.
fn op_cases() -> Vec<Case> {
    let rows =
        Indices::from_vec((0..1024).map(|i| (i * 7) % 4096).collect(), &[1024]).expect("indices");
    let picks = Indices::from_vec((0..2560).map(|i| (i * 13) % 1000).collect(), &[256, 10])
        .expect("indices");
    let classes = Indices::from_classes(&(0..256).map(|i| (i * 31) % 1000).collect::<Vec<_>>());
    let targets = Var::new(Tensor::<f32>::rand(&[256, 1000], &mut seeded_rng(9)));
    let smoothing = CrossEntropyOptions::default().with_label_smoothing(0.1);
    let right = Var::new(Tensor::<f32>::randn(&[64, 64, 128], &mut seeded_rng(8)));
    vec![
        op("index_select", &[4096, 256], move |x| {
            x.index_select(0, &rows)
        }),
        op("gather", &[256, 1000], move |x| x.gather(1, &picks)),
        op("logsumexp", &[256, 1000], |x| x.logsumexp(&[1], false)),
        op("cross_entropy_smoothing", &[256, 1000], move |x| {
            cross_entropy(x, &classes, &smoothing)
        }),
        op("bce_with_logits", &[256, 1000], move |x| {
            binary_cross_entropy_with_logits(x, &targets, None, None, Reduction::Mean)
        }),
        op("matmul_batched", &[64, 128, 64], move |x| x.matmul(&right)),
    ]
}

fn median_ms(iters: usize, mut f: impl FnMut()) -> f64 {
    f(); // warm the buffers and the thread pool
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

fn run(case: &Case, iters: usize) -> Result<(f64, f64), TensorError> {
    let x = Tensor::<f32>::randn(&case.shape, &mut seeded_rng(0));
    let y = (case.forward)(&Var::new(x.clone()))?;
    let g = Tensor::<f32>::randn(&y.shape(), &mut seeded_rng(1));
    let fwd = median_ms(iters, || {
        let _ = no_grad(|| (case.forward)(&Var::new(x.clone())));
    });
    let both = median_ms(iters, || {
        let v = Var::parameter(x.clone());
        let y = (case.forward)(&v).expect("forward runs");
        y.backward_with(&g).expect("backward runs");
    });
    Ok((fwd, both))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (mut threads, mut iters, mut only) = (2, 21, Vec::new());
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--threads" => threads = args.next().ok_or("--threads N")?.parse()?,
            "--iters" => iters = args.next().ok_or("--iters N")?.parse()?,
            _ => only.push(a),
        }
    }
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build_global()?;
    manual_seed(0);
    for case in layer_cases().into_iter().chain(op_cases()) {
        if only.is_empty() || only.iter().any(|o| o == case.name) {
            let (fwd, both) = run(&case, iters)?;
            println!("RESULT\tferrite\t{}\t{fwd:.3}\t{both:.3}", case.name);
        }
    }
    Ok(())
}
