//! Where a SmallCnn training step spends its time: every kernel of the step timed on its own,
//! on the same shapes as workload W4 (batch 64 of 1x28x28), then the whole step through the
//! autograd graph for comparison. The gap between the sum and the whole is graph overhead.
//!
//! ```text
//! cargo bench -p ferrite-benches --bench breakdown                # 2 threads, batch 64
//! cargo bench -p ferrite-benches --bench breakdown -- --threads 1 --batch 256
//! cargo bench -p ferrite-benches --bench breakdown -- --threads 1 --cpu     # CPU time: for a busy machine
//! cargo bench -p ferrite-benches --bench breakdown -- --only "conv2 bwd"    # one kernel (to profile it)
//! ```

use std::time::Instant;

use ferrite::nn::loss::{CrossEntropyOptions, cross_entropy};
use ferrite::nn::models::small_cnn;
use ferrite::nn::optim::{Optimizer, Sgd, SgdConfig};
use ferrite::prelude::*;
use ferrite::tensor::{Conv2dParams, Pool2dParams};
use ferrite::tensor::{conv2d_backward, linear_backward, max_pool2d_backward};

/// CPU time (user + system, all threads) of this process in milliseconds, from
/// `/proc/self/stat` (Linux; clock ticks of 10 ms, so only long loops are measured).
fn process_cpu_ms() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) * 10.0)
}

/// Median wall time in milliseconds of `reps` calls after 3 warm-up calls, or with `--cpu`
/// the mean CPU time per call over at least 300 ms of CPU (robust to other processes on the
/// machine, but it also counts the threads' spinning while they wait for work).
fn median_ms<R>(reps: usize, mut f: impl FnMut() -> R) -> f64 {
    for _ in 0..3 {
        std::hint::black_box(f());
    }
    if CPU.load(std::sync::atomic::Ordering::Relaxed) {
        let start = process_cpu_ms().expect("/proc/self/stat");
        let mut calls = 0;
        loop {
            std::hint::black_box(f());
            calls += 1;
            let used = process_cpu_ms().expect("/proc/self/stat") - start;
            if used >= 300.0 && calls >= reps.min(5) {
                return used / calls as f64;
            }
        }
    }
    let mut ts: Vec<f64> = (0..reps)
        .map(|_| {
            let t = Instant::now();
            std::hint::black_box(f());
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    ts.sort_by(f64::total_cmp);
    ts[ts.len() / 2]
}

/// A timed call.
type Kernel<'a> = Box<dyn Fn() + 'a>;

static ONLY: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);
static CPU: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Command-line settings: `--threads N --batch N --reps N --cpu --only NAME`.
struct Args {
    threads: usize,
    batch: usize,
    reps: usize,
}

fn parse_args() -> Args {
    let mut out = Args {
        threads: 2,
        batch: 64,
        reps: 30,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().and_then(|v| v.parse().ok()).expect("a number");
        match a.as_str() {
            "--threads" => out.threads = value(),
            "--batch" => out.batch = value(),
            "--reps" => out.reps = value(),
            "--cpu" => CPU.store(true, std::sync::atomic::Ordering::Relaxed),
            "--only" => *ONLY.lock().unwrap() = args.next(),
            _ => {} // cargo bench passes --bench
        }
    }
    out
}

/// SmallCnn's parameters, one batch's forward values, and an upstream gradient for each
/// backward kernel.
struct Step {
    p: Vec<Tensor>,
    conv: Conv2dParams,
    pool: Pool2dParams,
    x: Tensor,
    y1: Tensor,
    r1: Tensor,
    i1: Vec<usize>,
    m1: Tensor,
    y2: Tensor,
    r2: Tensor,
    i2: Vec<usize>,
    m2: Tensor,
    flat: Tensor,
    h: Tensor,
    hr: Tensor,
    g_logits: Tensor,
    g_hr: Tensor,
    g_m2: Tensor,
    g_r2: Tensor,
    g_m1: Tensor,
    g_r1: Tensor,
}

fn forward_values(p: Vec<Tensor>, batch: usize, rng: &mut Rng) -> Step {
    let conv = Conv2dParams::default().with_padding(Padding::Explicit([1, 1]));
    let pool = Pool2dParams::new([2, 2]);
    let x = Tensor::<f32>::rand(&[batch, 1, 28, 28], rng);
    let y1 = x.conv2d(&p[0], Some(&p[1]), &conv).unwrap();
    let r1 = y1.relu();
    let (m1, i1) = r1.max_pool2d_with_indices(&pool).unwrap();
    let y2 = m1.conv2d(&p[2], Some(&p[3]), &conv).unwrap();
    let r2 = y2.relu();
    let (m2, i2) = r2.max_pool2d_with_indices(&pool).unwrap();
    let flat = m2.reshape(&[batch as isize, -1]).unwrap();
    let h = flat.linear(&p[4], Some(&p[5])).unwrap();
    let hr = h.relu();
    let logits = hr.linear(&p[6], Some(&p[7])).unwrap();
    let mut grad_like = |t: &Tensor| Tensor::<f32>::rand(t.shape(), rng);
    Step {
        g_logits: grad_like(&logits),
        g_hr: grad_like(&hr),
        g_m2: grad_like(&m2),
        g_r2: grad_like(&r2),
        g_m1: grad_like(&m1),
        g_r1: grad_like(&r1),
        p,
        conv,
        pool,
        x,
        y1,
        r1,
        i1,
        m1,
        y2,
        r2,
        i2,
        m2,
        flat,
        h,
        hr,
    }
}

fn forward_kernels<'a>(s: &'a Step, batch: usize) -> Vec<(&'static str, Kernel<'a>)> {
    let bb = std::hint::black_box::<Tensor>;
    let p = &s.p;
    vec![
        (
            "conv1 fwd",
            Box::new(move || drop(bb(s.x.conv2d(&p[0], Some(&p[1]), &s.conv).unwrap()))),
        ),
        ("relu1 fwd", Box::new(move || drop(bb(s.y1.relu())))),
        (
            "pool1 fwd",
            Box::new(move || drop(bb(s.r1.max_pool2d_with_indices(&s.pool).unwrap().0))),
        ),
        (
            "conv2 fwd",
            Box::new(move || drop(bb(s.m1.conv2d(&p[2], Some(&p[3]), &s.conv).unwrap()))),
        ),
        ("relu2 fwd", Box::new(move || drop(bb(s.y2.relu())))),
        (
            "pool2 fwd",
            Box::new(move || drop(bb(s.r2.max_pool2d_with_indices(&s.pool).unwrap().0))),
        ),
        (
            "flatten",
            Box::new(move || drop(bb(s.m2.reshape(&[batch as isize, -1]).unwrap()))),
        ),
        (
            "fc1 fwd",
            Box::new(move || drop(bb(s.flat.linear(&p[4], Some(&p[5])).unwrap()))),
        ),
        ("relu3 fwd", Box::new(move || drop(bb(s.h.relu())))),
        (
            "fc2 fwd",
            Box::new(move || drop(bb(s.hr.linear(&p[6], Some(&p[7])).unwrap()))),
        ),
    ]
}

fn relu_bwd(g: &Tensor, y: &Tensor) -> Tensor {
    g.zip_with("relu_backward", y, |g, y| if y > 0.0 { g } else { 0.0 })
        .unwrap()
}

fn backward_kernels(s: &Step) -> Vec<(&'static str, Kernel<'_>)> {
    let bb = std::hint::black_box::<Tensor>;
    let (p, c) = (&s.p, &s.conv);
    vec![
        (
            "fc2 bwd",
            Box::new(move || drop(linear_backward(&s.hr, &p[6], &s.g_logits, [true; 3]).unwrap())),
        ),
        (
            "relu3 bwd",
            Box::new(move || drop(bb(relu_bwd(&s.g_hr, &s.hr)))),
        ),
        (
            "fc1 bwd",
            Box::new(move || drop(linear_backward(&s.flat, &p[4], &s.h, [true; 3]).unwrap())),
        ),
        (
            "pool2 bwd",
            Box::new(move || {
                drop(bb(
                    max_pool2d_backward(&s.g_m2, &s.i2, s.r2.shape()).unwrap()
                ))
            }),
        ),
        (
            "relu2 bwd",
            Box::new(move || drop(bb(relu_bwd(&s.g_r2, &s.r2)))),
        ),
        (
            "conv2 bwd",
            Box::new(move || drop(conv2d_backward(&s.y2, &s.m1, &p[2], c, [true; 3]).unwrap())),
        ),
        (
            "pool1 bwd",
            Box::new(move || {
                drop(bb(
                    max_pool2d_backward(&s.g_m1, &s.i1, s.r1.shape()).unwrap()
                ))
            }),
        ),
        (
            "relu1 bwd",
            Box::new(move || drop(bb(relu_bwd(&s.g_r1, &s.r1)))),
        ),
        (
            "conv1 bwd",
            Box::new(move || {
                drop(conv2d_backward(&s.g_r1, &s.x, &p[0], c, [false, true, true]).unwrap())
            }),
        ),
    ]
}

/// Times each kernel (or only `--only NAME`), prints the table and returns the sum.
fn time_kernels(kernels: &[(&str, Kernel)], args: &Args) -> f64 {
    let only = ONLY.lock().unwrap().clone();
    let rows: Vec<(&str, f64)> = kernels
        .iter()
        .filter(|(name, _)| only.as_deref().is_none_or(|o| o == *name))
        .map(|(name, f)| (*name, median_ms(args.reps, f)))
        .collect();
    let total: f64 = rows.iter().map(|r| r.1).sum();
    let how = if CPU.load(std::sync::atomic::Ordering::Relaxed) {
        "mean CPU time".to_string()
    } else {
        format!("median of {}", args.reps)
    };
    println!("# threads {}, batch {}, {how}", args.threads, args.batch);
    for (name, ms) in &rows {
        println!("{name:<10} {ms:>8.3} ms {:>5.1}%", 100.0 * ms / total);
    }
    println!("{:<10} {total:>8.3} ms", "sum");
    total
}

fn main() {
    let args = parse_args();
    rayon::ThreadPoolBuilder::new()
        .num_threads(args.threads)
        .build_global()
        .expect("first pool");
    manual_seed(0);
    let model = small_cnn::<f32>([28, 28]).expect("model");
    let rng = &mut seeded_rng(0);
    let p: Vec<Tensor> = model.parameters().iter().map(|v| v.value()).collect();
    let s = forward_values(p, args.batch, rng);
    let mut kernels = forward_kernels(&s, args.batch);
    kernels.extend(backward_kernels(&s));
    let total = time_kernels(&kernels, &args);
    if ONLY.lock().unwrap().is_some() {
        return;
    }
    let labels: Vec<usize> = (0..args.batch).map(|i| (i * 7) % 10).collect();
    let mut opt = Sgd::new(model.parameters(), SgdConfig::new(0.01).with_momentum(0.9)).unwrap();
    let step = median_ms(args.reps, || {
        opt.zero_grad();
        let out = model.forward(&Var::new(s.x.clone())).unwrap();
        let loss = cross_entropy(
            &out,
            &Indices::from_classes(&labels),
            &CrossEntropyOptions::default(),
        )
        .unwrap();
        loss.backward().unwrap();
        opt.step().unwrap();
    });
    let sgd = median_ms(args.reps, || opt.step().unwrap());
    println!("{:<10} {sgd:>8.3} ms", "sgd step");
    println!(
        "{:<10} {step:>8.3} ms (graph overhead {:.3} ms)",
        "full step",
        step - total - sgd
    );
}
