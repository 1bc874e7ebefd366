//! The standard workloads W0–W9 (`../shared/bench/WORKLOADS.md`), printed in the format of
//! PyTorch's `torch_bench.py` so the two can be pasted side by side:
//!
//! ```text
//! RESULT  system  workload  median_ms  min_ms  max_ms  gflops  note
//! ```
//!
//! ```text
//! cargo run --release --example bench                    # every workload (`all`)
//! cargo run --release --example bench -- W4 W5 --lr 0.02 --epochs 5 --threads 2
//! cargo run --release --example bench -- W4 --batch 16 --threads 1
//! cargo run --release --example bench -- W0 W6 W9 --iters 30   # W6 = W6a W6b, W9 = W9b1 .. W9b256
//! cargo run --release --example bench -- W7 --data-dir ../shared/data/mnist-full
//! ```
//!
//! W7 reads the full MNIST from `--data-dir` (default `../shared/data/mnist-full`, relative to
//! the project root, as `torch_bench.py`'s default) and is skipped with a message when it is
//! absent; `--max-batches N` stops its epoch early (printed as `W7-partial`).

use std::time::Instant;

use ferrite::nn::data::{DataLoader, Mnist, Split};
use ferrite::nn::loss::{CrossEntropyOptions, cross_entropy};
use ferrite::nn::models::small_cnn;
use ferrite::nn::optim::{Optimizer, Sgd, SgdConfig};
use ferrite::prelude::*;
use ferrite::tensor::conv2d_backward;

struct Args {
    workloads: Vec<String>,
    iters: usize,
    warmup: usize,
    lr: f64,
    epochs: u64,
    seed: u64,
    /// W4's batch size (the standard workload uses 64).
    batch: usize,
    /// W7's data: a directory with the full MNIST's IDX files.
    data_dir: String,
    /// W7: stop the epoch after this many batches (a smoke test).
    max_batches: Option<usize>,
}

/// The value after `--name`, parsed.
fn parsed<V: std::str::FromStr>(name: &str, value: Option<String>) -> Result<V, String>
where
    V::Err: std::fmt::Display,
{
    let value = value.ok_or(format!("{name} needs a value"))?;
    value.parse().map_err(|e| format!("{name}: {e}"))
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        workloads: Vec::new(),
        iters: 10,
        warmup: 3,
        lr: 0.05,
        epochs: 3,
        seed: 0,
        batch: 64,
        data_dir: "../shared/data/mnist-full".to_string(),
        max_batches: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--iters" => args.iters = parsed(&a, it.next())?,
            "--warmup" => args.warmup = parsed(&a, it.next())?,
            "--lr" => args.lr = parsed(&a, it.next())?,
            "--epochs" => args.epochs = parsed(&a, it.next())?,
            "--seed" => args.seed = parsed(&a, it.next())?,
            "--batch" => args.batch = parsed(&a, it.next())?,
            "--data-dir" => args.data_dir = parsed(&a, it.next())?,
            "--max-batches" => args.max_batches = Some(parsed(&a, it.next())?),
            "--threads" => {
                rayon::ThreadPoolBuilder::new()
                    .num_threads(parsed(&a, it.next())?)
                    .build_global()
                    .map_err(|e| e.to_string())?;
            }
            w if w.starts_with('W') || w == "all" => args.workloads.push(w.to_string()),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    args.workloads = expand_workloads(&args.workloads);
    Ok(args)
}

/// Every workload for none or `all`; the groups `W6` and `W9` expanded to their members, as
/// in torch_bench.py.
fn expand_workloads(asked: &[String]) -> Vec<String> {
    let all = [
        "W0", "W1", "W1b", "W2", "W3", "W4", "W5", "W6", "W7", "W8", "W9",
    ];
    let asked: Vec<String> = if asked.is_empty() || asked.iter().any(|w| w == "all") {
        all.map(String::from).to_vec()
    } else {
        asked.to_vec()
    };
    asked
        .iter()
        .flat_map(|w| match w.as_str() {
            "W6" => vec!["W6a".to_string(), "W6b".to_string()],
            "W9" => ["W9b1", "W9b16", "W9b64", "W9b256"]
                .map(String::from)
                .to_vec(),
            _ => vec![w.clone()],
        })
        .collect()
}

fn time_it(iters: usize, warmup: usize, mut f: impl FnMut()) -> Vec<f64> {
    for _ in 0..warmup {
        f();
    }
    (0..iters)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect()
}

fn report(w: &str, ts: &mut [f64], flop: Option<f64>, note: &str) {
    ts.sort_by(f64::total_cmp);
    let med = ts[ts.len() / 2];
    let gf = flop.map_or("-".to_string(), |f| {
        format!("{:.2}", f / (med * 1e-3) / 1e9)
    });
    println!(
        "RESULT\tferrite\t{w}\t{med:.3}\t{:.3}\t{:.3}\t{gf}\t{note}",
        ts[0],
        ts[ts.len() - 1]
    );
}

/// Uniform in [-1, 1), like `torch.rand(..) * 2 - 1`.
fn rand_pm1(shape: &[usize], rng: &mut Rng) -> Tensor {
    Tensor::uniform(shape, -1.0, 1.0, rng)
}

fn w0(a: &Args, rng: &mut Rng) {
    let n = 1024;
    let (x, y) = (rand_pm1(&[n, n], rng), rand_pm1(&[n, n], rng));
    let mut ts = time_it(a.iters, a.warmup, || {
        std::hint::black_box(x.matmul(&y).expect("square matrices"));
    });
    report(
        "W0",
        &mut ts,
        Some(2.0 * (n as f64).powi(3)),
        "Tensor::matmul (sgemm)",
    );
}

fn conv_case(
    a: &Args,
    name: &str,
    (n, ci, co, hw): (usize, usize, usize, usize),
    backward: bool,
    rng: &mut Rng,
) {
    let x = rand_pm1(&[n, ci, hw, hw], rng);
    let conv: Conv2d = Conv2d::new(ci, co, 3).with_padding(1);
    let (w, b) = (conv.weight().value(), conv.bias().expect("bias").value());
    let g = rand_pm1(&[n, co, hw, hw], rng);
    let params = conv.config().params;
    let flop = 2.0 * (n * co * ci * 9 * hw * hw) as f64;
    if !backward {
        let mut ts = time_it(a.iters, a.warmup, || {
            std::hint::black_box(x.conv2d(&w, Some(&b), &params).expect("valid conv"));
        });
        report(name, &mut ts, Some(flop), "conv2d fwd (no graph)");
        return;
    }
    // The same work as PyTorch's step: forward through the graph, backward of sum(y * g).
    let xv = Var::parameter(x.clone());
    let gv = Var::new(g.clone());
    let mut ts = time_it(a.iters, a.warmup, || {
        xv.zero_grad();
        conv.zero_grad();
        let y = conv.forward(&xv).expect("valid conv");
        y.mul(&gv)
            .and_then(|p| p.sum_all())
            .and_then(|l| l.backward())
            .expect("backward");
    });
    report(
        name,
        &mut ts,
        Some(3.0 * flop),
        "Conv2d fwd+bwd via autograd (dx, dW, db)",
    );
    // Sanity: the kernels agree with the graph.
    let grads = conv2d_backward(&g, &x, &w, &params, [true, true, true]).expect("valid");
    assert_eq!(grads.bias.expect("bias grad").shape(), &[co]);
}

fn train_step(model: &dyn Module, opt: &mut Sgd, x: &Tensor, y: &[usize]) -> f32 {
    opt.zero_grad();
    let logits = model.forward(&Var::new(x.clone())).expect("forward");
    let loss = cross_entropy(
        &logits,
        &Indices::from_classes(y),
        &CrossEntropyOptions::default(),
    )
    .expect("loss");
    loss.backward().expect("backward");
    opt.step().expect("step");
    loss.item().expect("scalar")
}

/// SmallCnn (fresh, from the default generator) trained on one fixed batch of `n`: the
/// step times in ms and the losses. Shared by W4 and W9.
fn small_cnn_steps(a: &Args, n: usize, rng: &mut Rng) -> (Vec<f64>, Vec<f32>) {
    let model = small_cnn::<f32>([28, 28]).expect("model");
    let mut opt =
        Sgd::new(model.parameters(), SgdConfig::new(0.05).with_momentum(0.9)).expect("sgd");
    let x = Tensor::<f32>::rand(&[n, 1, 28, 28], rng).map(|p| (p - 0.1307) / 0.3081);
    let y: Vec<usize> = (0..n).map(|i| (i * 7) % 10).collect();
    let mut losses = Vec::new();
    let ts = time_it(a.iters, a.warmup, || {
        losses.push(train_step(&model, &mut opt, &x, &y))
    });
    // Sanity: the steps train. (Many steps on one small batch at lr 0.05 may overshoot
    // later, so the check is on the best loss, not the last.)
    let best = losses.iter().copied().fold(f32::INFINITY, f32::min);
    assert!(
        best < losses[0],
        "loss never decreased at batch {n}: {losses:?}"
    );
    (ts, losses)
}

fn loss_note(losses: &[f32]) -> String {
    format!(
        "loss {:.4} -> {:.4} over {} steps (same batch)",
        losses[0],
        losses[losses.len() - 1],
        losses.len()
    )
}

fn w4(a: &Args, rng: &mut Rng) {
    let n = a.batch;
    let (mut ts, losses) = small_cnn_steps(a, n, rng);
    let note = format!("train step, batch {n}; {}", loss_note(&losses));
    report("W4", &mut ts, Some(3.0 * n as f64 * 2.44e6), &note);
}

/// W9: the W4 step at batch `n`, reported per sample (step time / n).
fn w9(a: &Args, name: &str, n: usize, rng: &mut Rng) {
    let (ts, losses) = small_cnn_steps(a, n, rng);
    let mut sorted = ts.clone();
    sorted.sort_by(f64::total_cmp);
    let step_median = sorted[sorted.len() / 2];
    let mut per_sample: Vec<f64> = ts.iter().map(|t| t / n as f64).collect();
    let note = format!(
        "SmallCnn train step, batch {n}; per sample (step / {n}); step median {step_median:.3} ms; {}",
        loss_note(&losses)
    );
    report(name, &mut per_sample, Some(3.0 * 2.44e6), &note);
}

/// W6: SmallCnn in eval mode, forward only under `no_grad`, one call per timed iteration.
fn w6(a: &Args, name: &str, n: usize, rng: &mut Rng) {
    let model = small_cnn::<f32>([28, 28]).expect("model");
    model.eval();
    let x = Tensor::<f32>::rand(&[n, 1, 28, 28], rng).map(|p| (p - 0.1307) / 0.3081);
    let infer = |x: &Tensor| {
        no_grad(|| model.forward(&Var::new(x.clone())))
            .expect("forward")
            .value()
    };
    let y = infer(&x);
    assert_eq!(y.shape(), &[n, 10]);
    // The logits of sample 0 must not depend on the rest of the batch.
    let first = infer(&x.narrow(0, 0, 1).expect("sample 0"));
    let row0 = y.narrow(0, 0, 1).expect("row 0").to_vec();
    for (p, q) in first.to_vec().iter().zip(&row0) {
        assert!(
            (p - q).abs() <= 1e-5 + 1e-4 * q.abs(),
            "{name}: logits of sample 0 depend on the batch: {p} vs {q}"
        );
    }
    let mut ts = time_it(a.iters, a.warmup, || {
        std::hint::black_box(infer(&x));
    });
    let note = format!("SmallCnn eval forward under no_grad, batch {n}; time per call");
    report(name, &mut ts, Some(n as f64 * 2.44e6), &note);
}

// ---- W8: the tiny ResNet train step -------------------------------------------------------

/// W8: `models::tiny_resnet` (WORKLOADS.md, "TinyResNet") in train mode, W4's step with SGD
/// weight decay 5e-4.
fn w8(a: &Args, rng: &mut Rng) {
    let model = ferrite::nn::models::tiny_resnet::<f32>();
    model.train();
    let config = SgdConfig::new(0.05)
        .with_momentum(0.9)
        .with_weight_decay(5e-4);
    let mut opt = Sgd::new(model.parameters(), config).expect("sgd");
    let x = Tensor::<f32>::rand(&[64, 1, 28, 28], rng).map(|p| (p - 0.1307) / 0.3081);
    let y: Vec<usize> = (0..64).map(|i| (i * 7) % 10).collect();
    let mut losses = Vec::new();
    let mut ts = time_it(a.iters, a.warmup, || {
        losses.push(train_step(&model, &mut opt, &x, &y))
    });
    assert!(
        losses[losses.len() - 1] < losses[0],
        "W8 loss did not decrease: {losses:?}"
    );
    let note = format!(
        "TinyResNet train step (BN train mode, SGD wd 5e-4); {} params; {}",
        model.num_parameters(),
        loss_note(&losses)
    );
    report("W8", &mut ts, Some(3.0 * 64.0 * 18_691_840.0), &note);
}

fn w5(a: &Args) {
    let started = Instant::now();
    let train = Mnist::embedded(Split::Train).expect("embedded data");
    let test = Mnist::embedded(Split::Test).expect("embedded data");
    manual_seed(a.seed);
    let model = small_cnn::<f32>([28, 28]).expect("model");
    let mut opt =
        Sgd::new(model.parameters(), SgdConfig::new(a.lr).with_momentum(0.9)).expect("sgd");
    let loader = DataLoader::new(&train)
        .with_batch_size(64)
        .with_shuffle(true)
        .with_seed(a.seed);
    let t0 = Instant::now();
    let mut epoch_losses = Vec::new();
    for epoch in 0..a.epochs {
        let (mut sum, mut nb) = (0.0f64, 0);
        for batch in loader.epoch(epoch) {
            let batch = batch.expect("batch");
            sum += train_step(&model, &mut opt, &batch.images, &batch.labels) as f64;
            nb += 1;
        }
        epoch_losses.push((sum / nb as f64 * 1e4).round() / 1e4);
    }
    let train_ms = t0.elapsed().as_secs_f64() * 1e3;
    let t1 = Instant::now();
    let mut correct = 0;
    for batch in DataLoader::new(&test).with_batch_size(500).epoch(0) {
        let batch = batch.expect("batch");
        let logits = no_grad(|| model.forward(&Var::new(batch.images))).expect("forward");
        let pred = logits.value().argmax(1, false).expect("argmax");
        correct += pred
            .as_array()
            .iter()
            .zip(&batch.labels)
            .filter(|&(&p, &l)| p as usize == l)
            .count();
    }
    let eval_ms = t1.elapsed().as_secs_f64() * 1e3;
    let acc = correct as f64 / test.len() as f64;
    let total_ms = started.elapsed().as_secs_f64() * 1e3;
    println!(
        "RESULT\tferrite\tW5\t{train_ms:.1}\t{train_ms:.1}\t{train_ms:.1}\t-\tseed {} test_acc {acc:.4} eval_ms {eval_ms:.1} total_ms {total_ms:.1} epoch_mean_loss {epoch_losses:?}",
        a.seed
    );
}

/// W7: one shuffled epoch of SmallCnn over the full MNIST (lr 0.02, momentum 0.9, batch
/// 64), then the accuracy on the 10,000 test images. Loading and a 3-step warm-up on a
/// throwaway model are not timed.
fn w7(a: &Args) {
    let dir = std::path::Path::new(&a.data_dir);
    let load = |split| Mnist::from_dir(dir, split);
    let (train, test) = match (load(Split::Train), load(Split::Test)) {
        (Ok(train), Ok(test)) => (train, test),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("W7 skipped: {e} (pass --data-dir with the full MNIST)");
            return;
        }
    };
    if (train.len(), test.len()) != (60_000, 10_000) {
        eprintln!(
            "W7 skipped: needs the full MNIST (60000 / 10000 images); {} has {} / {}",
            a.data_dir,
            train.len(),
            test.len()
        );
        return;
    }
    let batches = |seed| {
        DataLoader::new(&train)
            .with_batch_size(64)
            .with_shuffle(true)
            .with_seed(seed)
    };
    let step_model = |lr: f64| {
        let model = small_cnn::<f32>([28, 28]).expect("model");
        let opt = Sgd::new(model.parameters(), SgdConfig::new(lr).with_momentum(0.9));
        (model, opt.expect("sgd"))
    };
    let (warm, mut warm_opt) = step_model(0.02);
    for batch in batches(a.seed).epoch(0).take(3) {
        let batch = batch.expect("batch");
        train_step(&warm, &mut warm_opt, &batch.images, &batch.labels);
    }
    manual_seed(a.seed);
    let (model, mut opt) = step_model(0.02);
    let steps_epoch = train.len().div_ceil(64);
    let steps = a
        .max_batches
        .map_or(steps_epoch, |m| m.clamp(1, steps_epoch));
    let t0 = Instant::now();
    let mut losses = Vec::with_capacity(steps);
    for batch in batches(a.seed).epoch(0).take(steps) {
        let batch = batch.expect("batch");
        losses.push(train_step(&model, &mut opt, &batch.images, &batch.labels) as f64);
    }
    let train_ms = t0.elapsed().as_secs_f64() * 1e3;
    let t1 = Instant::now();
    let acc = accuracy(&model, &test);
    let eval_ms = t1.elapsed().as_secs_f64() * 1e3;
    let q = (steps / 4).max(1);
    let mean = |l: &[f64]| l.iter().sum::<f64>() / l.len() as f64;
    let (first, last) = (mean(&losses[..q]), mean(&losses[steps - q..]));
    assert!(
        last < first,
        "W7 loss did not decrease: {first:.4} -> {last:.4}"
    );
    let (w, part) = if steps == steps_epoch {
        ("W7", String::new())
    } else {
        let note = format!(" of {steps_epoch} (--max-batches: smoke test, not a W7 result)");
        ("W7-partial", note)
    };
    println!(
        "RESULT\tferrite\t{w}\t{train_ms:.1}\t{train_ms:.1}\t{train_ms:.1}\t-\tseed {} test_acc {acc:.4} eval_ms {eval_ms:.1} epoch_mean_loss [{:.4}] steps {steps}{part} first_quarter_loss {first:.4} last_quarter_loss {last:.4}",
        a.seed,
        mean(&losses)
    );
}

/// The share of `test` that `model` (in eval mode, no graph) classifies right, in batches
/// of 500.
fn accuracy(model: &dyn Module, test: &Mnist) -> f64 {
    model.eval();
    let mut correct = 0;
    for batch in DataLoader::new(test).with_batch_size(500).epoch(0) {
        let batch = batch.expect("batch");
        let logits = no_grad(|| model.forward(&Var::new(batch.images))).expect("forward");
        let pred = logits.value().argmax(1, false).expect("argmax");
        correct += pred
            .as_array()
            .iter()
            .zip(&batch.labels)
            .filter(|&(&p, &l)| p as usize == l)
            .count();
    }
    model.train();
    correct as f64 / test.len() as f64
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    };
    eprintln!("# ferrite threads={}", rayon::current_num_threads());
    for w in &args.workloads {
        let mut rng = seeded_rng(0);
        match w.as_str() {
            "W0" => w0(&args, &mut rng),
            "W1" => conv_case(&args, "W1", (64, 1, 16, 28), false, &mut rng),
            "W1b" => conv_case(&args, "W1b", (64, 1, 16, 28), true, &mut rng),
            "W2" => conv_case(&args, "W2", (64, 16, 32, 14), true, &mut rng),
            "W3" => conv_case(&args, "W3", (32, 64, 64, 32), true, &mut rng),
            "W4" => w4(&args, &mut rng),
            "W5" => w5(&args),
            "W6a" => w6(&args, "W6a", 1, &mut rng),
            "W6b" => w6(&args, "W6b", 64, &mut rng),
            "W7" => w7(&args),
            "W8" => w8(&args, &mut rng),
            "W9b1" => w9(&args, "W9b1", 1, &mut rng),
            "W9b16" => w9(&args, "W9b16", 16, &mut rng),
            "W9b64" => w9(&args, "W9b64", 64, &mut rng),
            "W9b256" => w9(&args, "W9b256", 256, &mut rng),
            other => eprintln!("unknown workload {other}"),
        }
    }
}
