//! Batch invariance: in eval mode, a sample's output, and its input gradient for a sum of
//! per-sample losses, are bit-identical whatever the batch size, the sample's position in the
//! batch and the number of threads.
//!
//! One row per layer (every layer of `ferrite::nn`, several settings of the convolutions,
//! models, the losses with `Reduction::None`). Each row is run in f32 and f64, with 1 and 2
//! threads, at batch sizes [`BATCHES`] and at the first, middle and last position; the
//! reference is the sample alone (batch of one, one thread). The loss is
//! `sum(y * r)` with a fixed random cotangent `r` per sample, so each sample's input gradient
//! depends on that sample only.
//!
//! Not covered, because there samples do interact or draw from a shared generator:
//! `BatchNorm1d`/`BatchNorm2d` in training mode, or in eval mode without running statistics
//! (`with_track_running_stats(false)`: batch statistics, as in PyTorch), `Dropout`/`Dropout2d`
//! in training mode (the masks come from one generator, in batch order), and loss reductions
//! other than `None` (a mean divides by the batch size). Weight gradients are sums over the
//! batch, so they are not per-sample either.
//!
//! `INVARIANCE_TABLE=1 cargo test --release --test batch_invariance -- --nocapture` prints
//! the table of `docs/performance.md`.

use ferrite::nn::loss::{
    CrossEntropyOptions, KlDivReduction, NllLossOptions, Reduction, binary_cross_entropy,
    binary_cross_entropy_with_logits, cross_entropy, huber_loss, kl_div, l1_loss, mse_loss,
    nll_loss, smooth_l1_loss,
};
use ferrite::nn::models::{small_cnn, tiny_resnet};
use ferrite::prelude::*;

/// Batch sizes tried: 64 and 65 straddle the `gemm` crate's small-matrix limit (64) and make
/// elementwise kernels of 1,024-value samples split over threads (65,536 values).
const BATCHES: [usize; 8] = [1, 2, 3, 7, 16, 33, 64, 65];
const THREADS: [usize; 2] = [1, 2];
/// Samples drawn per row: the sample under test is number 0, the others fill the batch.
const POOL: usize = 65;

type Forward<T> = Box<dyn Fn(&Var<T>) -> Result<Var<T>, TensorError> + Send + Sync>;

struct Row<T: Float> {
    family: &'static str,
    name: String,
    sample: Vec<usize>,
    forward: Forward<T>,
}

fn layer<T: Float, M: Module<T> + ModuleExt<T> + Send + Sync + 'static>(
    family: &'static str,
    name: &str,
    sample: &[usize],
    m: M,
) -> Row<T> {
    m.eval();
    Row {
        family,
        name: name.to_string(),
        sample: sample.to_vec(),
        forward: Box::new(move |x| m.forward(x)),
    }
}

fn func<T: Float>(
    family: &'static str,
    name: &str,
    sample: &[usize],
    f: impl Fn(&Var<T>) -> Result<Var<T>, TensorError> + Send + Sync + 'static,
) -> Row<T> {
    Row {
        family,
        name: name.to_string(),
        sample: sample.to_vec(),
        forward: Box::new(f),
    }
}

/// A BatchNorm with running statistics that are not the defaults: three training batches,
/// then eval mode.
fn warmed_up<T: Float, M: Module<T> + ModuleExt<T>>(m: M, batch: &[usize]) -> M {
    m.train();
    let mut rng = seeded_rng(5);
    for _ in 0..3 {
        let x = Tensor::<T>::randn(batch, &mut rng);
        m.forward(&Var::new(x)).unwrap();
    }
    m.eval();
    m
}

fn conv_rows<T: Float>() -> Vec<Row<T>> {
    let c1 = [3, 20];
    let c2 = [4, 12, 12];
    let modes = [
        ("reflect", PaddingMode::Reflect),
        ("replicate", PaddingMode::Replicate),
        ("circular", PaddingMode::Circular),
    ];
    let mut rows = vec![
        layer("conv", "Conv1d(3, 6, 3)", &c1, Conv1d::new(3, 6, 3)),
        layer(
            "conv",
            "Conv1d stride 2, padding 2, dilation 2",
            &c1,
            Conv1d::new(3, 6, 3)
                .with_stride(2)
                .with_padding(2)
                .with_dilation(2),
        ),
        layer(
            "conv",
            "Conv1d groups 3, padding same",
            &c1,
            Conv1d::new(3, 6, 4)
                .with_groups(3)
                .with_padding(Padding1d::Same),
        ),
        layer(
            "conv",
            "Conv1d padding_mode circular",
            &c1,
            Conv1d::new(3, 6, 3)
                .with_padding(1)
                .with_padding_mode(PaddingMode::Circular),
        ),
        layer("conv", "Conv2d(4, 8, 3)", &c2, Conv2d::new(4, 8, 3)),
        layer(
            "conv",
            "Conv2d padding 1, no bias",
            &c2,
            Conv2d::new(4, 8, 3).with_padding(1).with_bias(false),
        ),
        layer(
            "conv",
            "Conv2d stride 2, padding 1",
            &c2,
            Conv2d::new(4, 8, 3).with_stride(2).with_padding(1),
        ),
        layer(
            "conv",
            "Conv2d stride [2, 1], dilation 2",
            &c2,
            Conv2d::new(4, 8, [3, 2])
                .with_stride([2, 1])
                .with_dilation(2),
        ),
        layer(
            "conv",
            "Conv2d groups 2",
            &c2,
            Conv2d::new(4, 6, 3).with_groups(2).with_padding(1),
        ),
        layer(
            "conv",
            "Conv2d depthwise (groups 4)",
            &c2,
            Conv2d::new(4, 8, 3).with_groups(4),
        ),
        layer(
            "conv",
            "Conv2d padding same (k 4)",
            &c2,
            Conv2d::new(4, 8, 4).with_padding(Padding::Same),
        ),
        layer(
            "conv",
            "Conv2d padding valid",
            &c2,
            Conv2d::new(4, 8, 3).with_padding(Padding::Valid),
        ),
        layer("conv", "Conv2d 1x1", &c2, Conv2d::new(4, 8, 1)),
        layer(
            "conv",
            "Conv2d(64, 8, 3): inner dimension 576 > 512",
            &[64, 6, 6],
            Conv2d::new(64, 8, 3).with_padding(1),
        ),
        layer(
            "conv",
            "ConvTranspose2d(4, 3, 3)",
            &c2,
            ConvTranspose2d::new(4, 3, 3),
        ),
        layer(
            "conv",
            "ConvTranspose2d stride 2, padding 1, output_padding 1, groups 2",
            &c2,
            ConvTranspose2d::new(4, 6, 3)
                .with_stride(2)
                .with_padding(1)
                .with_output_padding(1)
                .with_groups(2),
        ),
        layer(
            "conv",
            "ConvTranspose2d dilation 2",
            &c2,
            ConvTranspose2d::new(4, 3, 3).with_dilation(2),
        ),
    ];
    for (name, mode) in modes {
        rows.push(layer(
            "conv",
            &format!("Conv2d padding_mode {name}"),
            &c2,
            Conv2d::new(4, 8, 3).with_padding(1).with_padding_mode(mode),
        ));
    }
    rows
}

fn linear_rows<T: Float>() -> Vec<Row<T>> {
    vec![
        layer("linear", "Linear(12, 5)", &[12], Linear::new(12, 5)),
        layer(
            "linear",
            "Linear(2, 7): inner dimension 2",
            &[2],
            Linear::new(2, 7),
        ),
        layer(
            "linear",
            "Linear(30, 40) without bias",
            &[30],
            Linear::new(30, 40).with_bias(false),
        ),
        layer(
            "linear",
            "Linear(600, 40): inner dimension > 512",
            &[600],
            Linear::new(600, 40),
        ),
        layer(
            "linear",
            "Linear(1568, 128) (SmallCnn's fc1)",
            &[1568],
            Linear::new(1568, 128),
        ),
        layer(
            "linear",
            "Linear(16, 600): output gradient's inner dimension > 512",
            &[16],
            Linear::new(16, 600),
        ),
        func("linear", "matmul [N, 12] @ [12, 7]", &[12], {
            let w = Var::new(Tensor::<T>::randn(&[12, 7], &mut seeded_rng(3)));
            move |x| x.matmul(&w)
        }),
        func("linear", "matmul [N, 3, 12] @ [12, 1]", &[3, 12], {
            let w = Var::new(Tensor::<T>::randn(&[12, 1], &mut seeded_rng(4)));
            move |x| x.matmul(&w)
        }),
        layer(
            "linear",
            "Linear on [3, 12] samples",
            &[3, 12],
            Linear::new(12, 5),
        ),
    ]
}

fn pool_rows<T: Float>() -> Vec<Row<T>> {
    let s = [4, 16, 16];
    let unpool_pool = MaxPool2d::new(2);
    let unpool = MaxUnpool2d::new(2);
    vec![
        layer("pool", "MaxPool2d(2)", &s, MaxPool2d::new(2)),
        layer(
            "pool",
            "MaxPool2d(3, stride 2, padding 1, dilation 2, ceil_mode)",
            &s,
            MaxPool2d::new(3)
                .with_stride(2)
                .with_padding(1)
                .with_dilation(2)
                .with_ceil_mode(true),
        ),
        layer("pool", "AvgPool2d(2)", &s, AvgPool2d::new(2)),
        layer(
            "pool",
            "AvgPool2d(3, stride 2, padding 1, count_include_pad false, ceil_mode)",
            &s,
            AvgPool2d::new(3)
                .with_stride(2)
                .with_padding(1)
                .with_count_include_pad(false)
                .with_ceil_mode(true),
        ),
        layer(
            "pool",
            "AvgPool2d divisor_override 3",
            &s,
            AvgPool2d::new(2).with_divisor_override(3),
        ),
        layer(
            "pool",
            "AdaptiveAvgPool2d(5)",
            &s,
            AdaptiveAvgPool2d::new(5),
        ),
        layer(
            "pool",
            "AdaptiveMaxPool2d([3, 7])",
            &s,
            AdaptiveMaxPool2d::new([3, 7]),
        ),
        func("pool", "MaxPool2d(2) then MaxUnpool2d(2)", &s, move |x| {
            let (y, indices) = unpool_pool.forward_with_indices(x)?;
            unpool.forward(&y, &indices)
        }),
    ]
}

fn norm_rows<T: Float>() -> Vec<Row<T>> {
    vec![
        layer(
            "norm",
            "BatchNorm1d(12) eval, [N, C]",
            &[12],
            warmed_up(BatchNorm1d::new(12), &[8, 12]),
        ),
        layer(
            "norm",
            "BatchNorm1d(4) eval, [N, C, L]",
            &[4, 30],
            warmed_up(BatchNorm1d::new(4), &[8, 4, 30]),
        ),
        layer(
            "norm",
            "BatchNorm2d(4) eval",
            &[4, 16, 16],
            warmed_up(BatchNorm2d::new(4), &[8, 4, 16, 16]),
        ),
        layer("norm", "LayerNorm([16])", &[4, 16], LayerNorm::new(&[16])),
        layer(
            "norm",
            "LayerNorm([4, 16, 16])",
            &[4, 16, 16],
            LayerNorm::new(&[4, 16, 16]),
        ),
        layer(
            "norm",
            "GroupNorm(2, 4)",
            &[4, 16, 16],
            GroupNorm::new(2, 4),
        ),
        layer(
            "norm",
            "GroupNorm(4, 4) without affine",
            &[4, 16, 16],
            GroupNorm::new(4, 4).with_affine(false),
        ),
        layer(
            "dropout",
            "Dropout(0.5) eval",
            &[4, 16, 16],
            Dropout::new(0.5),
        ),
        layer(
            "dropout",
            "Dropout2d(0.5) eval",
            &[4, 16, 16],
            Dropout2d::new(0.5),
        ),
    ]
}

fn activation_rows<T: Float>() -> Vec<Row<T>> {
    let s = [4, 16, 16];
    let a = "activation";
    vec![
        layer(a, "ReLU", &s, ReLU),
        layer(a, "Sigmoid", &s, Sigmoid),
        layer(a, "Tanh", &s, Tanh),
        layer(
            a,
            "LeakyReLU(0.1)",
            &s,
            LeakyReLU::new().with_negative_slope(0.1),
        ),
        layer(a, "ELU", &s, ELU::new()),
        layer(a, "GELU", &s, GELU::new()),
        layer(
            a,
            "GELU tanh",
            &s,
            GELU::new().with_approximate(GeluApproximate::Tanh),
        ),
        layer(a, "SiLU", &s, SiLU),
        layer(a, "Softplus(beta 2)", &s, Softplus::new().with_beta(2.0)),
        layer(a, "Hardtanh", &s, Hardtanh::new()),
        layer(a, "ReLU6", &s, ReLU6),
        layer(a, "Hardswish", &s, Hardswish),
        layer(a, "Hardsigmoid", &s, Hardsigmoid),
        layer(a, "Softmax(1)", &s, Softmax::new(1)),
        layer(a, "LogSoftmax(-1)", &s, LogSoftmax::new(-1)),
        layer(a, "Identity", &s, Identity),
        layer("shape", "Flatten", &s, Flatten::new()),
        layer(
            "shape",
            "Upsample nearest x2",
            &s,
            Upsample::new().with_scale_factor(2.0),
        ),
        layer(
            "shape",
            "Upsample bilinear to 23x9, align_corners",
            &s,
            Upsample::new()
                .with_size([23, 9])
                .with_mode(InterpolateMode::Bilinear)
                .with_align_corners(true),
        ),
    ]
}

fn model_rows<T: Float>() -> Vec<Row<T>> {
    let mixed = Sequential::new()
        .add_module("conv", Conv2d::new(3, 8, 3).with_padding(1))
        .add_module("bn", BatchNorm2d::new(8))
        .add_module("gelu", GELU::new())
        .add_module("pool", AvgPool2d::new(2))
        .add_module("gn", GroupNorm::new(2, 8))
        .add_module("drop", Dropout::new(0.3))
        .add_module("flatten", Flatten::new())
        .add_module("fc", Linear::new(8 * 8 * 8, 10))
        .add_module("softmax", LogSoftmax::new(1));
    vec![
        layer(
            "model",
            "small_cnn([28, 28])",
            &[1, 28, 28],
            small_cnn::<T>([28, 28]).unwrap(),
        ),
        layer(
            "model",
            "tiny_resnet() (Residual blocks, BatchNorm2d, AdaptiveAvgPool2d)",
            &[1, 12, 12],
            warmed_up(tiny_resnet::<T>(), &[8, 1, 12, 12]),
        ),
        layer(
            "model",
            "Sequential: Conv2d, BatchNorm2d, GELU, AvgPool2d, GroupNorm, Dropout, Linear",
            &[3, 16, 16],
            warmed_up(mixed, &[8, 3, 16, 16]),
        ),
    ]
}

/// Slot 0 of a `[2, 10]` sample is the loss's input, slot 1 its target (mapped into the
/// target's domain): both are per-sample.
fn split<T: Float>(x: &Var<T>) -> Result<(Var<T>, Var<T>), TensorError> {
    let input = x.narrow(1, 0, 1)?.reshape(&[-1, 10])?;
    let target = x.narrow(1, 1, 1)?.reshape(&[-1, 10])?;
    Ok((input, target))
}

fn loss_rows<T: Float>() -> Vec<Row<T>> {
    let s = [2, 10];
    let none = Reduction::None;
    let l = "loss";
    vec![
        func(l, "mse_loss", &s, move |x| {
            let (i, t) = split(x)?;
            mse_loss(&i, &t, none)
        }),
        func(l, "l1_loss", &s, move |x| {
            let (i, t) = split(x)?;
            l1_loss(&i, &t, none)
        }),
        func(l, "smooth_l1_loss(beta 0.5)", &s, move |x| {
            let (i, t) = split(x)?;
            smooth_l1_loss(&i, &t, none, 0.5)
        }),
        func(l, "huber_loss(delta 0.7)", &s, move |x| {
            let (i, t) = split(x)?;
            huber_loss(&i, &t, none, 0.7)
        }),
        func(l, "binary_cross_entropy", &s, move |x| {
            let (i, t) = split(x)?;
            binary_cross_entropy(&i.sigmoid()?, &t.sigmoid()?, None, none)
        }),
        func(l, "binary_cross_entropy_with_logits", &s, move |x| {
            let (i, t) = split(x)?;
            binary_cross_entropy_with_logits(&i, &t.sigmoid()?, None, None, none)
        }),
        func(l, "kl_div", &s, move |x| {
            let (i, t) = split(x)?;
            kl_div(
                &i.log_softmax(1)?,
                &t.softmax(1)?,
                KlDivReduction::None,
                false,
            )
        }),
        func(l, "cross_entropy, class indices", &s, move |x| {
            let (i, t) = split(x)?;
            let options = CrossEntropyOptions::default().with_reduction(none);
            cross_entropy(&i, &t.argmax(1, false)?, &options)
        }),
        func(
            l,
            "cross_entropy, probabilities, label smoothing",
            &s,
            move |x| {
                let (i, t) = split(x)?;
                let options = CrossEntropyOptions::default()
                    .with_reduction(none)
                    .with_label_smoothing(0.1);
                cross_entropy(&i, &t.softmax(1)?.value(), &options)
            },
        ),
        func(l, "nll_loss", &s, move |x| {
            let (i, t) = split(x)?;
            nll_loss(
                &i.log_softmax(1)?,
                &t.argmax(1, false)?,
                NllLossOptions::default().with_reduction(none),
            )
        }),
    ]
}

fn rows<T: Float>() -> Vec<Row<T>> {
    manual_seed(0);
    let mut rows = conv_rows();
    rows.extend(linear_rows());
    rows.extend(pool_rows());
    rows.extend(norm_rows());
    rows.extend(activation_rows());
    rows.extend(model_rows());
    rows.extend(loss_rows());
    rows
}

/// A sample's output and input gradient, as bits.
#[derive(PartialEq)]
struct Result1 {
    output: Vec<u64>,
    grad: Vec<u64>,
}

fn bits<T: Float>(t: &Tensor<T>) -> Vec<u64> {
    t.to_vec()
        .into_iter()
        .map(|v| v.as_f64().to_bits())
        .collect()
}

/// The batch `indices` of `pool` through the row, then `sum(y * r)` backward: the outputs
/// and input gradients of the sample at `position`.
fn run<T: Float>(
    row: &Row<T>,
    pool: &Tensor<T>,
    cotangents: Option<&Tensor<T>>,
    batch: usize,
    position: usize,
) -> (Result1, Vec<usize>) {
    // The sample under test (pool index 0) at `position`, the others around it.
    let order: Vec<i64> = (0..batch)
        .map(|i| match i.cmp(&position) {
            std::cmp::Ordering::Less => i as i64 + 1,
            std::cmp::Ordering::Equal => 0,
            std::cmp::Ordering::Greater => i as i64,
        })
        .collect();
    let order = Indices::from_vec(order, &[batch]).unwrap();
    let x = Var::parameter(pool.index_select(0, &order).unwrap());
    let y = (row.forward)(&x).unwrap_or_else(|e| panic!("{}: {e}", row.name));
    let out_sample = y.shape()[1..].to_vec();
    let output = bits(&y.value().narrow(0, position, 1).unwrap());
    let grad = match cotangents {
        None => Vec::new(),
        Some(r) => {
            let r = Var::new(r.index_select(0, &order).unwrap());
            y.mul(&r).unwrap().sum_all().unwrap().backward().unwrap();
            bits(&x.grad().unwrap().narrow(0, position, 1).unwrap())
        }
    };
    (Result1 { output, grad }, out_sample)
}

/// One checked configuration of a row.
struct Check {
    family: &'static str,
    name: String,
    dtype: &'static str,
    threads: usize,
    batch: usize,
    position: usize,
    /// `None` when bit-identical, else what differs.
    failure: Option<String>,
}

fn positions(batch: usize) -> Vec<usize> {
    let mut p = vec![0, batch / 2, batch - 1];
    p.dedup();
    p
}

fn check_dtype<T: Float>(pools: &[rayon::ThreadPool]) -> Vec<Check> {
    let mut checks = Vec::new();
    for (r, row) in rows::<T>().iter().enumerate() {
        let mut rng = seeded_rng(100 + r as u64);
        let mut shape = vec![POOL];
        shape.extend(&row.sample);
        let pool = Tensor::<T>::randn(&shape, &mut rng);
        // The reference: the sample alone, on one thread (pools[0]).
        let (_, out_sample) = pools[0].install(|| run(row, &pool, None, 1, 0));
        let mut r_shape = vec![POOL];
        r_shape.extend(&out_sample);
        let cotangents = Tensor::<T>::randn(&r_shape, &mut rng);
        let reference = pools[0].install(|| run(row, &pool, Some(&cotangents), 1, 0).0);
        for (threads, tp) in THREADS.iter().zip(pools) {
            for batch in BATCHES {
                for position in positions(batch) {
                    let got = tp.install(|| run(row, &pool, Some(&cotangents), batch, position).0);
                    let failure = describe(&reference, &got);
                    checks.push(Check {
                        family: row.family,
                        name: row.name.clone(),
                        dtype: T::NAME,
                        threads: *threads,
                        batch,
                        position,
                        failure,
                    });
                }
            }
        }
    }
    checks
}

fn describe(reference: &Result1, got: &Result1) -> Option<String> {
    let diff = |what: &str, a: &[u64], b: &[u64]| -> Option<String> {
        let n = a.iter().zip(b).filter(|(x, y)| x != y).count();
        (n > 0 || a.len() != b.len()).then(|| format!("{what}: {n} of {} values differ", a.len()))
    };
    let parts: Vec<String> = [
        diff("output", &reference.output, &got.output),
        diff("input gradient", &reference.grad, &got.grad),
    ]
    .into_iter()
    .flatten()
    .collect();
    (!parts.is_empty()).then(|| parts.join(", "))
}

fn thread_pools() -> Vec<rayon::ThreadPool> {
    THREADS
        .iter()
        .map(|&n| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(n)
                .build()
                .unwrap()
        })
        .collect()
}

/// The markdown table of `docs/performance.md`: per family and thread count, one cell per
/// batch size: `= (p)` when every row of the family, in f32 and f64, at each of the `p`
/// positions tried, is bit-identical to the sample alone; else how many of those differ.
fn table(checks: &[Check]) -> String {
    let mut families: Vec<&str> = Vec::new();
    for c in checks {
        if !families.contains(&c.family) {
            families.push(c.family);
        }
    }
    let mut out = String::from("| layer family (rows) | threads |");
    for b in BATCHES {
        out += &format!(" batch {b} |");
    }
    out += "\n|---|---:|";
    out += &"---|".repeat(BATCHES.len());
    out += "\n";
    for family in families {
        let of_family: Vec<&Check> = checks.iter().filter(|c| c.family == family).collect();
        let mut names: Vec<&str> = Vec::new();
        for c in &of_family {
            if !names.contains(&c.name.as_str()) {
                names.push(&c.name);
            }
        }
        for threads in THREADS {
            out += &format!("| {family} ({} rows) | {threads} |", names.len());
            for b in BATCHES {
                let cell: Vec<&&Check> = of_family
                    .iter()
                    .filter(|c| c.threads == threads && c.batch == b)
                    .collect();
                let bad = cell.iter().filter(|c| c.failure.is_some()).count();
                let positions = positions(b).len();
                out += &if bad == 0 {
                    format!(" = ({positions}) |")
                } else {
                    format!(" **{bad} of {} differ** |", cell.len())
                };
            }
            out += "\n";
        }
    }
    out
}

#[test]
fn every_layer_is_batch_invariant() {
    let pools = thread_pools();
    let mut checks = check_dtype::<f32>(&pools);
    checks.extend(check_dtype::<f64>(&pools));
    if std::env::var_os("INVARIANCE_TABLE").is_some() {
        println!("{}", table(&checks));
    }
    let failures: Vec<String> = checks
        .iter()
        .filter_map(|c| {
            c.failure.as_ref().map(|f| {
                format!(
                    "{} / {} ({}), {} thread(s), batch {}, position {}: {f}",
                    c.family, c.name, c.dtype, c.threads, c.batch, c.position
                )
            })
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} configurations are not bit-identical to the sample alone:\n{}",
        failures.len(),
        checks.len(),
        failures.join("\n")
    );
}
