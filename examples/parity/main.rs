//! Replays a PyTorch training run recorded by `examples/parity/record.py` in ferrite and
//! says how close the two runs are, or where they part ways (docs/parity.md, "Whole
//! training runs").
//!
//! ```text
//! cargo run --release --example parity -- TRACE_DIR [--tol 1e-9]
//! ```

mod replay;
mod trace;

use ferrite::prelude::*;
use replay::{Report, build_model, replay};
use trace::{BoxError, Trace};

fn run<T: Float>(trace: &Trace, tol: f64) -> Result<Report, BoxError> {
    let model = build_model::<T>(&trace.model, trace.image_size)?;
    replay(trace, &*model, tol)
}

fn main() -> Result<(), BoxError> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (mut path, mut tol) = (None, None);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--tol" => tol = Some(it.next().ok_or("--tol needs a value")?.parse::<f64>()?),
            "-h" | "--help" => {
                println!(
                    "usage: parity TRACE_DIR [--tol REL] (default 1e-9 for f64 traces, 1e-4 for f32)"
                );
                return Ok(());
            }
            p => path = Some(p.to_string()),
        }
    }
    let trace = Trace::load(path.ok_or("usage: parity TRACE_DIR [--tol REL]")?)?;
    let start = std::time::Instant::now();
    let report = match trace.dtype.as_str() {
        "f64" => run::<f64>(&trace, tol.unwrap_or(1e-9))?,
        "f32" => run::<f32>(&trace, tol.unwrap_or(1e-4))?,
        other => return Err(format!("unknown dtype '{other}'").into()),
    };
    println!(
        "{} {} ({} steps, batch {}, {:?}{}): replayed in {:.1} s",
        trace.model,
        trace.dtype,
        trace.steps.len(),
        trace.steps.first().map_or(0, |s| s.batch.len()),
        trace.optimizer,
        trace
            .one_cycle
            .map_or(String::new(), |n| format!(", OneCycleLR over {n} steps")),
        start.elapsed().as_secs_f64()
    );
    if let Some((step, module)) = &trace.perturb {
        println!("(this trace was recorded with a perturbation at step {step} in '{module}')");
    }
    println!("{report}");
    Ok(())
}
