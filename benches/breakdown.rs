//! Where a SmallCnn training step spends its time: every kernel of the step timed on its own,
//! on the same shapes as workload W4 (batch 64 of 1x28x28), then the whole step through the
//! autograd graph for comparison. The gap between the sum and the whole is graph overhead.
//!
//! ```text
//! cargo bench --bench breakdown                # 2 threads, batch 64
//! cargo bench --bench breakdown -- --threads 1 --batch 256
//! cargo bench --bench breakdown -- --threads 1 --cpu     # CPU time: for a busy machine
//! cargo bench --bench breakdown -- --only "conv2 bwd"    # one kernel (to profile it)
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

fn main() {
    let mut threads = 2;
    let mut batch = 64;
    let mut reps = 30;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().and_then(|v| v.parse().ok()).expect("a number");
        match a.as_str() {
            "--threads" => threads = value(),
            "--batch" => batch = value(),
            "--reps" => reps = value(),
            "--cpu" => CPU.store(true, std::sync::atomic::Ordering::Relaxed),
            "--only" => *ONLY.lock().unwrap() = args.next(),
            _ => {} // cargo bench passes --bench
        }
    }
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build_global()
        .expect("first pool");
    let rng = &mut seeded_rng(0);
    let model = small_cnn::<f32>([28, 28], rng).expect("model");
    let p: Vec<Tensor> = model.parameters().iter().map(|v| v.value()).collect();
    let (w1, b1, w2, b2, f1, c1, f2, c2) = (&p[0], &p[1], &p[2], &p[3], &p[4], &p[5], &p[6], &p[7]);
    let conv = Conv2dParams::default().with_padding(Padding::Explicit([1, 1]));
    let pool = Pool2dParams::new([2, 2]);
    let x = Tensor::<f32>::rand(&[batch, 1, 28, 28], rng);
    let labels: Vec<usize> = (0..batch).map(|i| (i * 7) % 10).collect();

    // Forward values, to feed the backward kernels.
    let y1 = x.conv2d(w1, Some(b1), &conv).unwrap();
    let r1 = y1.relu();
    let (m1, i1) = r1.max_pool2d_with_indices(&pool).unwrap();
    let y2 = m1.conv2d(w2, Some(b2), &conv).unwrap();
    let r2 = y2.relu();
    let (m2, i2) = r2.max_pool2d_with_indices(&pool).unwrap();
    let flat = m2.reshape(&[batch as isize, -1]).unwrap();
    let h = flat.linear(f1, Some(c1)).unwrap();
    let hr = h.relu();
    let logits = hr.linear(f2, Some(c2)).unwrap();
    let g_logits = Tensor::<f32>::rand(logits.shape(), rng);
    let g_hr = Tensor::<f32>::rand(hr.shape(), rng);
    let g_m2 = Tensor::<f32>::rand(m2.shape(), rng);
    let g_r2 = Tensor::<f32>::rand(r2.shape(), rng);
    let g_m1 = Tensor::<f32>::rand(m1.shape(), rng);
    let g_r1 = Tensor::<f32>::rand(r1.shape(), rng);
    let relu_bwd = |g: &Tensor, y: &Tensor| {
        g.zip_with("relu_backward", y, |g, y| if y > 0.0 { g } else { 0.0 })
            .unwrap()
    };

    let bb = std::hint::black_box::<Tensor>;
    let kernels: Vec<(&str, Kernel)> = vec![
        (
            "conv1 fwd",
            Box::new(|| drop(bb(x.conv2d(w1, Some(b1), &conv).unwrap()))),
        ),
        ("relu1 fwd", Box::new(|| drop(bb(y1.relu())))),
        (
            "pool1 fwd",
            Box::new(|| drop(bb(r1.max_pool2d_with_indices(&pool).unwrap().0))),
        ),
        (
            "conv2 fwd",
            Box::new(|| drop(bb(m1.conv2d(w2, Some(b2), &conv).unwrap()))),
        ),
        ("relu2 fwd", Box::new(|| drop(bb(y2.relu())))),
        (
            "pool2 fwd",
            Box::new(|| drop(bb(r2.max_pool2d_with_indices(&pool).unwrap().0))),
        ),
        (
            "flatten",
            Box::new(|| drop(bb(m2.reshape(&[batch as isize, -1]).unwrap()))),
        ),
        (
            "fc1 fwd",
            Box::new(|| drop(bb(flat.linear(f1, Some(c1)).unwrap()))),
        ),
        ("relu3 fwd", Box::new(|| drop(bb(h.relu())))),
        (
            "fc2 fwd",
            Box::new(|| drop(bb(hr.linear(f2, Some(c2)).unwrap()))),
        ),
        (
            "fc2 bwd",
            Box::new(|| drop(linear_backward(&hr, f2, &g_logits, [true; 3]).unwrap())),
        ),
        ("relu3 bwd", Box::new(|| drop(bb(relu_bwd(&g_hr, &hr))))),
        (
            "fc1 bwd",
            Box::new(|| drop(linear_backward(&flat, f1, &h, [true; 3]).unwrap())),
        ),
        (
            "pool2 bwd",
            Box::new(|| drop(bb(max_pool2d_backward(&g_m2, &i2, r2.shape()).unwrap()))),
        ),
        ("relu2 bwd", Box::new(|| drop(bb(relu_bwd(&g_r2, &r2))))),
        (
            "conv2 bwd",
            Box::new(|| drop(conv2d_backward(&y2, &m1, w2, &conv, [true; 3]).unwrap())),
        ),
        (
            "pool1 bwd",
            Box::new(|| drop(bb(max_pool2d_backward(&g_m1, &i1, r1.shape()).unwrap()))),
        ),
        ("relu1 bwd", Box::new(|| drop(bb(relu_bwd(&g_r1, &r1))))),
        (
            "conv1 bwd",
            Box::new(|| drop(conv2d_backward(&g_r1, &x, w1, &conv, [false, true, true]).unwrap())),
        ),
    ];
    let only = ONLY.lock().unwrap().clone();
    let rows: Vec<(&str, f64)> = kernels
        .iter()
        .filter(|(name, _)| only.as_deref().is_none_or(|o| o == *name))
        .map(|(name, f)| (*name, median_ms(reps, f)))
        .collect();
    let total: f64 = rows.iter().map(|r| r.1).sum();
    let how = if CPU.load(std::sync::atomic::Ordering::Relaxed) {
        "mean CPU time".to_string()
    } else {
        format!("median of {reps}")
    };
    println!("# threads {threads}, batch {batch}, {how}");
    for (name, ms) in &rows {
        println!("{name:<10} {ms:>8.3} ms {:>5.1}%", 100.0 * ms / total);
    }
    println!("{:<10} {total:>8.3} ms", "sum");

    if only.is_some() {
        return;
    }
    let mut opt = Sgd::new(model.parameters(), SgdConfig::new(0.01).with_momentum(0.9)).unwrap();
    let step = median_ms(reps, || {
        opt.zero_grad();
        let out = model.forward(&Var::new(x.clone())).unwrap();
        let loss = cross_entropy(&out, &labels, &CrossEntropyOptions::default()).unwrap();
        loss.backward().unwrap();
        opt.step().unwrap();
    });
    let sgd = median_ms(reps, || opt.step().unwrap());
    println!("{:<10} {sgd:>8.3} ms", "sgd step");
    println!(
        "{:<10} {step:>8.3} ms (graph overhead {:.3} ms)",
        "full step",
        step - total - sgd
    );
}
