//! Replays a parity trace in ferrite and compares it with PyTorch's run step by step.
//!
//! Differences are relative: a loss by `|a - b| / |b|`; a tensor (parameter, buffer or
//! module output) by `max |a_i - b_i| / max |b_i|`, so elements near zero do not blow up
//! the measure; a module digest `[sum, sum |x|, sum w_i x_i]` by its largest component
//! difference over `sum |x|`.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use ferrite::nn::checkpoint::{StateDict, Strict, load_state_dict, state_dict};
use ferrite::nn::models::{small_cnn, tiny_resnet};
use ferrite::nn::{ForwardHookHandle, visit_modules};
use ferrite::prelude::*;

use crate::trace::{BoxError, OptimizerSpec, Trace, batch};

/// The models a trace may name: one line each, `name => constructor`.
pub fn build_model<T: Float>(
    name: &str,
    image_size: [usize; 2],
) -> Result<Box<dyn Module<T>>, BoxError> {
    Ok(match name {
        "small_cnn" => Box::new(small_cnn::<T>(image_size)?),
        "tiny_resnet" => Box::new(tiny_resnet::<T>()),
        other => {
            return Err(format!(
                "model '{other}' is not in the parity registry (examples/parity/replay.rs)"
            )
            .into());
        }
    })
}

/// `[sum, sum |x|, sum w_i x_i]` with `w_i = ((i * 40503) mod 65536) / 65536 - 0.5`, in f64.
pub fn digest<T: Float>(t: &Tensor<T>) -> [f64; 3] {
    let v = t.cast::<f64>().to_vec();
    let mut d = [0.0; 3];
    for (i, x) in v.iter().enumerate() {
        let w = ((i as u64 * 40503) % 65536) as f64 / 65536.0 - 0.5;
        d[0] += x;
        d[1] += x.abs();
        d[2] += w * x;
    }
    d
}

/// How far ferrite's digest `f` is from PyTorch's `p`, relative to `sum |x|`.
pub fn digest_rel(f: &[f64; 3], p: &[f64; 3]) -> f64 {
    let scale = p[1].max(f[1]).max(f64::MIN_POSITIVE);
    (0..3)
        .map(|k| (f[k] - p[k]).abs() / scale)
        .fold(0.0, f64::max)
}

/// `max |a - b| / max |b|`, with the index and both values of the largest difference.
pub fn tensor_rel<T: Float>(a: &Tensor<T>, b: &Tensor<T>) -> (f64, usize, f64, f64) {
    let (a, b) = (a.cast::<f64>().to_vec(), b.cast::<f64>().to_vec());
    if a.len() != b.len() {
        return (f64::INFINITY, 0, f64::NAN, f64::NAN);
    }
    let scale = b.iter().fold(0.0f64, |m, x| m.max(x.abs()));
    let (mut worst, mut at) = (-1.0, 0);
    for (i, (x, y)) in a.iter().zip(&b).enumerate() {
        let d = if x == y { 0.0 } else { (x - y).abs() };
        if d > worst || d.is_nan() {
            (worst, at) = (d, i);
        }
    }
    let rel = if scale > 0.0 { worst / scale } else { worst };
    (
        rel,
        at,
        a.get(at).copied().unwrap_or(f64::NAN),
        b.get(at).copied().unwrap_or(f64::NAN),
    )
}

/// Where the replay first left PyTorch's run by more than the tolerance.
#[derive(Debug, Clone, PartialEq)]
pub struct Divergence {
    /// The step (0-based) whose forward pass, loss or update differs.
    pub step: usize,
    /// The module path (PyTorch's `named_modules`, `""` = the whole model), `"loss"`, or
    /// `"update: NAME"` when only the parameters after an update differ.
    pub site: String,
    /// The relative difference there.
    pub rel: f64,
    /// What both sides computed, in words.
    pub detail: String,
}

/// The result of a replay.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub steps: usize,
    pub max_loss_rel: f64,
    pub max_loss_step: usize,
    /// The largest difference of any parameter or buffer at any saved step, and where.
    pub max_weight_rel: f64,
    pub max_weight_at: String,
    /// The largest module-output digest difference over all steps.
    pub max_output_rel: f64,
    pub divergence: Option<Divergence>,
    /// PyTorch module paths that could not be compared (not found or not hookable in ferrite).
    pub unmatched: Vec<String>,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "steps replayed:            {}", self.steps)?;
        writeln!(
            f,
            "max relative diff, loss:    {:.3e} (step {})",
            self.max_loss_rel, self.max_loss_step
        )?;
        writeln!(
            f,
            "max relative diff, weights: {:.3e} ({})",
            self.max_weight_rel, self.max_weight_at
        )?;
        writeln!(
            f,
            "max relative diff, module outputs (digests): {:.3e}",
            self.max_output_rel
        )?;
        if !self.unmatched.is_empty() {
            writeln!(
                f,
                "not compared (no hookable ferrite module): {:?}",
                self.unmatched
            )?;
        }
        match &self.divergence {
            None => write!(f, "no divergence"),
            Some(d) => write!(
                f,
                "FIRST DIVERGENCE at step {} in '{}' (relative difference {:.3e})\n{}",
                d.step, d.site, d.rel, d.detail
            ),
        }
    }
}

/// What the hooks saw in one forward pass: per module path, its digest and (on request)
/// its full output.
type Seen<T> = Arc<Mutex<HashMap<String, ([f64; 3], Option<Tensor<T>>)>>>;

/// Hooks every ferrite module whose path PyTorch recorded; returns the handles and the
/// paths that could not be hooked.
fn install_hooks<T: Float>(
    model: &dyn Module<T>,
    paths: &[String],
    seen: &Seen<T>,
    keep: &Arc<Mutex<bool>>,
) -> (Vec<ForwardHookHandle>, Vec<String>) {
    let mut handles = Vec::new();
    let mut found = Vec::new();
    visit_modules(model, &mut |path, module| {
        if !paths.iter().any(|p| p == path) {
            return;
        }
        let (seen, keep, key) = (Arc::clone(seen), Arc::clone(keep), path.to_string());
        let hooked = module.register_forward_hook(move |_, y: &Var<T>| {
            let value = y.value();
            let full = (*keep.lock().unwrap()).then(|| value.clone());
            seen.lock()
                .unwrap()
                .insert(key.clone(), (digest(&value), full));
            Ok(None)
        });
        if let Ok(handle) = hooked {
            handles.push(handle);
            found.push(path.to_string());
        }
    });
    let unmatched = paths
        .iter()
        .filter(|p| !found.contains(p))
        .cloned()
        .collect();
    (handles, unmatched)
}

fn make_optimizer<T: Float>(
    spec: &OptimizerSpec,
    params: Vec<Var<T>>,
) -> Result<Box<dyn Optimizer<T>>, BoxError> {
    Ok(match *spec {
        OptimizerSpec::Sgd {
            lr,
            momentum,
            nesterov,
            weight_decay,
        } => Box::new(Sgd::new(
            params,
            SgdConfig::new(lr)
                .with_momentum(momentum)
                .with_nesterov(nesterov)
                .with_weight_decay(weight_decay),
        )?),
        OptimizerSpec::AdamW {
            lr,
            betas,
            eps,
            weight_decay,
        } => Box::new(Adam::new(
            params,
            AdamConfig::adamw(lr)
                .with_betas(betas[0], betas[1])
                .with_eps(eps)
                .with_weight_decay(weight_decay),
        )?),
    })
}

fn max_lr(spec: &OptimizerSpec) -> f64 {
    match *spec {
        OptimizerSpec::Sgd { lr, .. } | OptimizerSpec::AdamW { lr, .. } => lr,
    }
}

/// One forward and backward pass and update on the batch of `step`: ferrite's loss.
fn train_step<T: Float>(
    model: &dyn Module<T>,
    optimizer: &mut dyn Optimizer<T>,
    images: Tensor<T>,
    labels: &[usize],
) -> Result<f64, BoxError> {
    let logits = model.call(&Var::new(images))?;
    let loss = cross_entropy(
        &logits,
        &Indices::from_classes(labels),
        &CrossEntropyOptions::default(),
    )?;
    optimizer.zero_grad();
    loss.backward()?;
    optimizer.step()?;
    Ok(loss.value().cast::<f64>().item()?)
}

/// Compares ferrite's state_dict with PyTorch's after `step` steps: the largest
/// difference and the name where it is.
fn compare_weights<T: Float>(
    model: &dyn Module<T>,
    params: &StateDict<T>,
    step: usize,
) -> Result<(f64, String), BoxError> {
    let mut worst = (0.0, String::new());
    for (name, tensor) in state_dict(model).iter() {
        let theirs = params
            .get(&format!("{step}/{name}"))
            .ok_or_else(|| format!("params.safetensors has no '{step}/{name}'"))?;
        let (rel, ..) = tensor_rel(tensor, theirs);
        if rel > worst.0 || worst.1.is_empty() {
            worst = (rel, name.to_string());
        }
    }
    Ok(worst)
}

/// The first module of `step` (in PyTorch's hook order) whose output differs by more than
/// `tol`, with both values, and the largest digest difference of the step.
fn compare_modules<T: Float>(
    trace: &Trace,
    step: usize,
    seen: &Seen<T>,
    outputs: Option<&StateDict<T>>,
    tol: f64,
) -> (Option<Divergence>, f64) {
    let seen = seen.lock().unwrap();
    let (mut first, mut max) = (None, 0.0f64);
    for (path, theirs) in &trace.steps[step].modules {
        let Some((ours, full)) = seen.get(path) else {
            continue;
        };
        let rel = digest_rel(ours, theirs);
        max = max.max(rel);
        if first.is_some() || rel <= tol {
            continue;
        }
        let mut detail = format!(
            "  output digest [sum, sum|x|, sum w*x]: ferrite {ours:?}\n                                        pytorch {theirs:?}"
        );
        let recorded = outputs.and_then(|o| o.get(&format!("{step}/{path}")));
        match (full, recorded) {
            (Some(ours), Some(theirs)) => {
                let (r, i, a, b) = tensor_rel(ours, theirs);
                detail += &format!(
                    "\n  largest element difference at flat index {i} of {:?}: ferrite {a:e}, pytorch {b:e} (max|diff|/max|pytorch| = {r:.3e})",
                    theirs.shape()
                );
            }
            _ => {
                detail += &format!(
                    "\n  full outputs of step {step} were not recorded; to see them element by element:\n    {}",
                    trace.rerecord_command(step)
                )
            }
        }
        first = Some(Divergence {
            step,
            site: path.clone(),
            rel,
            detail,
        });
    }
    (first, max)
}

/// Replays `trace` on `model` (any `Module` whose state_dict names are the recorded
/// ones), from the trace's initial weights, with ferrite's optimizer and schedule.
/// `tol` is the relative difference above which a step counts as diverged.
pub fn replay<T: Float>(
    trace: &Trace,
    model: &dyn Module<T>,
    tol: f64,
) -> Result<Report, BoxError> {
    let ours = if std::mem::size_of::<T>() == 8 {
        "f64"
    } else {
        "f32"
    };
    if trace.dtype != ours {
        return Err(format!(
            "the trace was recorded in {}, the replay runs in {ours}",
            trace.dtype
        )
        .into());
    }
    let init = trace
        .tensors::<T>("init")?
        .ok_or("the trace has no init.safetensors")?;
    load_state_dict(model, &init, Strict::Yes)?;
    model.train();
    let params = trace.tensors::<T>("params")?;
    let outputs = trace.tensors::<T>("outputs")?;
    let mut paths: Vec<String> = Vec::new();
    for (p, _) in trace.steps.iter().flat_map(|s| &s.modules) {
        if !paths.contains(p) {
            paths.push(p.clone());
        }
    }
    let seen: Seen<T> = Arc::default();
    let keep = Arc::new(Mutex::new(false));
    let (handles, unmatched) = install_hooks(model, &paths, &seen, &keep);
    let result = run_steps(
        trace,
        model,
        tol,
        params.as_ref(),
        outputs.as_ref(),
        &seen,
        &keep,
    );
    for h in handles {
        h.remove();
    }
    let mut report = result?;
    report.unmatched = unmatched;
    Ok(report)
}

fn run_steps<T: Float>(
    trace: &Trace,
    model: &dyn Module<T>,
    tol: f64,
    params: Option<&StateDict<T>>,
    outputs: Option<&StateDict<T>>,
    seen: &Seen<T>,
    keep: &Arc<Mutex<bool>>,
) -> Result<Report, BoxError> {
    let data = Mnist::embedded(Split::Train)?;
    let mut optimizer = make_optimizer(&trace.optimizer, model.parameters())?;
    let mut schedule = match trace.one_cycle {
        Some(total) => Some(OneCycleLR::new(
            &mut *optimizer,
            OneCycleConfig::new(max_lr(&trace.optimizer), total),
        )?),
        None => None,
    };
    let mut report = Report::default();
    for (step, recorded) in trace.steps.iter().enumerate() {
        *keep.lock().unwrap() = trace.outputs_at.contains(&step);
        seen.lock().unwrap().clear();
        let (images, labels) = batch::<T>(&data, &recorded.batch, trace.downsample)?;
        let loss = train_step(model, &mut *optimizer, images, &labels)?;
        if let Some(s) = schedule.as_mut() {
            s.step(&mut *optimizer)?;
        }
        let loss_rel = (loss - recorded.loss).abs() / recorded.loss.abs().max(f64::MIN_POSITIVE);
        if loss_rel > report.max_loss_rel {
            (report.max_loss_rel, report.max_loss_step) = (loss_rel, step);
        }
        let (module_div, out_rel) = compare_modules(trace, step, seen, outputs, tol);
        report.max_output_rel = report.max_output_rel.max(out_rel);
        let mut weights = None;
        if let (Some(p), true) = (params, trace.param_steps.contains(&(step + 1))) {
            let (rel, name) = compare_weights(model, p, step + 1)?;
            if rel > report.max_weight_rel || report.max_weight_at.is_empty() {
                report.max_weight_rel = rel;
                report.max_weight_at = format!("{name} after step {}", step + 1);
            }
            weights = Some((rel, name));
        }
        if report.divergence.is_none() {
            report.divergence = module_div
                .or_else(|| loss_divergence(step, loss, recorded.loss, loss_rel, tol))
                .or_else(|| update_divergence(trace, step, weights, tol));
        }
        report.steps = step + 1;
    }
    Ok(report)
}

fn loss_divergence(step: usize, ours: f64, theirs: f64, rel: f64, tol: f64) -> Option<Divergence> {
    (rel > tol).then(|| Divergence {
        step,
        site: "loss".into(),
        rel,
        detail: format!("  every recorded module output matched; cross_entropy: ferrite {ours:e}, pytorch {theirs:e}"),
    })
}

fn update_divergence(
    trace: &Trace,
    step: usize,
    weights: Option<(f64, String)>,
    tol: f64,
) -> Option<Divergence> {
    let (rel, name) = weights.filter(|(rel, _)| *rel > tol)?;
    let since = trace
        .param_steps
        .iter()
        .copied()
        .filter(|&s| s <= step)
        .max()
        .unwrap_or(0);
    Some(Divergence {
        step,
        site: format!("update: {name}"),
        rel,
        detail: format!(
            "  every forward pass up to step {step} matched, but the parameters after step {} differ (first: {name});\n  an update (backward or optimizer step) of steps {since}..={step} differs. To pin the step:\n    ~/torch-venv/bin/python {} --every 1",
            step + 1,
            trace.command
        ),
    })
}
