//! Reference cases of the optimizers (`optim.json`, `optim_more.json`: sgd, adam, adamw,
//! rmsprop, adagrad) and of the learning-rate schedulers (`schedulers.json`). Declared by
//! `tests/golden.rs`, whose harness it uses.

use super::*;
use ferrite::nn::optim::{
    Adagrad, AdagradConfig, Adam, AdamConfig, AnnealStrategy, CosineAnnealingLR,
    CosineAnnealingWarmRestarts, ExponentialLR, LinearLR, LrScheduler, MultiStepLR, OneCycleConfig,
    OneCycleLR, Optimizer, PlateauMode, RMSprop, RMSpropConfig, ReduceLROnPlateau,
    ReduceLROnPlateauConfig, Scheduler, SequentialLR, Sgd, SgdConfig, StepLR, ThresholdMode,
};
use serde_json::Map;

/// The ops this file runs.
pub const OPS: &[&str] = &["sgd", "adam", "adamw", "rmsprop", "adagrad", "lr_scheduler"];

/// Runs one case of an op in [`OPS`].
pub fn run<T: Float>(case: &Case, tol: f64) -> Outcome {
    match case.op.as_str() {
        "lr_scheduler" => scheduler_case::<T>(case),
        _ => optimizer_case::<T>(case, tol),
    }
}

/// A (pair of) float param(s) of an optimizer case.
fn betas(case: &Case) -> Result<(f64, f64), String> {
    let b = case
        .params
        .get("betas")
        .and_then(Value::as_array)
        .ok_or("missing betas")?;
    Ok((
        b[0].as_f64().ok_or("bad beta")?,
        b[1].as_f64().ok_or("bad beta")?,
    ))
}

/// The optimizer of an optimizer case over `param` (its construction may be refused).
fn build_optimizer<T: Float>(
    case: &Case,
    param: &Var<T>,
) -> Result<Result<Box<dyn Optimizer<T>>, TensorError>, String> {
    fn boxed<T: Float, O: Optimizer<T> + 'static>(
        o: Result<O, TensorError>,
    ) -> Result<Box<dyn Optimizer<T>>, TensorError> {
        o.map(|o| Box::new(o) as Box<dyn Optimizer<T>>)
    }
    let params = vec![param.clone()];
    let lr = float(case, "lr")?;
    Ok(match case.op.as_str() {
        "sgd" => boxed(Sgd::new(
            params,
            SgdConfig::new(lr)
                .with_momentum(float(case, "momentum")?)
                .with_dampening(float(case, "dampening")?)
                .with_weight_decay(float(case, "weight_decay")?)
                .with_nesterov(boolean(case, "nesterov")?),
        )),
        "adam" | "adamw" => {
            let (b1, b2) = betas(case)?;
            let config = if case.op == "adam" {
                AdamConfig::new(lr)
            } else {
                AdamConfig::adamw(lr)
            };
            boxed(Adam::new(
                params,
                config
                    .with_betas(b1, b2)
                    .with_eps(float(case, "eps")?)
                    .with_weight_decay(float(case, "weight_decay")?)
                    .with_amsgrad(boolean(case, "amsgrad")?),
            ))
        }
        "rmsprop" => boxed(RMSprop::new(
            params,
            RMSpropConfig::new(lr)
                .with_alpha(float(case, "alpha")?)
                .with_eps(float(case, "eps")?)
                .with_weight_decay(float(case, "weight_decay")?)
                .with_momentum(float(case, "momentum")?)
                .with_centered(boolean(case, "centered")?),
        )),
        "adagrad" => boxed(Adagrad::new(
            params,
            AdagradConfig::new(lr)
                .with_lr_decay(float(case, "lr_decay")?)
                .with_weight_decay(float(case, "weight_decay")?)
                .with_initial_accumulator_value(float(case, "initial_accumulator_value")?)
                .with_eps(float(case, "eps")?),
        )),
        op => return Err(format!("not an optimizer op: {op}")),
    })
}

/// Feeds `inputs.grads[t]` to an optimizer over `param` and compares the parameter after
/// every step with `output[t]`.
fn optimizer_case<T: Float>(case: &Case, tol: f64) -> Outcome {
    let input = |name: &str| {
        case.inputs
            .get(name)
            .cloned()
            .flatten()
            .ok_or_else(|| format!("missing {name}"))
    };
    let (param_json, grads_json) = (input("param")?, input("grads")?);
    let param = Var::parameter(tensor::<T>(&param_json));
    let built = build_optimizer(case, &param)?;
    if case.expect_error {
        return match built {
            Err(_) => Ok(()),
            Ok(_) => Err(Failure::Wrong(
                "expected an error, the optimizer was built".into(),
            )),
        };
    }
    let mut optimizer = built?;
    let grads = tensor::<T>(&grads_json);
    let want = case.output.as_ref().ok_or("case has no output")?;
    let shape: Vec<isize> = param_json.shape.iter().map(|&d| d as isize).collect();
    let per_step: usize = param_json.shape.iter().product();
    for t in 0..grads.shape()[0] {
        param.set_grad(Some(grads.narrow(0, t, 1)?.reshape(&shape)?))?;
        optimizer.step()?;
        let expected = Json {
            shape: param_json.shape.clone(),
            data: want.data[t * per_step..(t + 1) * per_step].to_vec(),
        };
        compare(
            &format!("param after step {}", t + 1),
            &param.value(),
            &expected,
            tol,
        )?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// lr_scheduler

/// Why a scheduler could not be built: the harness could not read the case, or ferrite
/// refused the settings (what `expect_error` cases want).
enum BuildError {
    Harness(String),
    Refused(TensorError),
}

impl From<String> for BuildError {
    fn from(s: String) -> Self {
        BuildError::Harness(s)
    }
}

impl From<&str> for BuildError {
    fn from(s: &str) -> Self {
        BuildError::Harness(s.to_string())
    }
}

impl From<TensorError> for BuildError {
    fn from(e: TensorError) -> Self {
        BuildError::Refused(e)
    }
}

type Kwargs = Map<String, Value>;

fn kw_float(kwargs: &Kwargs, key: &str, default: Option<f64>) -> Result<f64, BuildError> {
    match kwargs.get(key) {
        None | Some(Value::Null) => default.ok_or_else(|| format!("missing kwarg {key}").into()),
        Some(v) => v
            .as_f64()
            .ok_or_else(|| format!("kwarg {key}: expected a number, found {v}").into()),
    }
}

/// An integer kwarg; a negative one is refused as PyTorch refuses it (ferrite's counts
/// are unsigned).
fn kw_uint(kwargs: &Kwargs, key: &str, default: Option<u64>) -> Result<u64, BuildError> {
    kw_opt_uint(kwargs, key)?
        .or(default)
        .ok_or_else(|| format!("missing kwarg {key}").into())
}

fn kw_opt_uint(kwargs: &Kwargs, key: &str) -> Result<Option<u64>, BuildError> {
    match kwargs.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => match v.as_i64() {
            Some(n) if n >= 0 => Ok(Some(n as u64)),
            Some(n) => Err(BuildError::Refused(TensorError::invalid(
                "lr_scheduler",
                format!("{key} must be a non-negative integer, found {n}"),
            ))),
            None => Err(format!("kwarg {key}: expected an integer, found {v}").into()),
        },
    }
}

fn kw_bool(kwargs: &Kwargs, key: &str, default: bool) -> Result<bool, BuildError> {
    match kwargs.get(key) {
        None | Some(Value::Null) => Ok(default),
        Some(v) => v
            .as_bool()
            .ok_or_else(|| format!("kwarg {key}: expected a bool, found {v}").into()),
    }
}

fn kw_str<'a>(kwargs: &'a Kwargs, key: &str, default: &'a str) -> Result<&'a str, BuildError> {
    match kwargs.get(key) {
        None | Some(Value::Null) => Ok(default),
        Some(v) => v
            .as_str()
            .ok_or_else(|| format!("kwarg {key}: expected a string, found {v}").into()),
    }
}

fn kw_uints(kwargs: &Kwargs, key: &str) -> Result<Vec<u64>, BuildError> {
    let list = kwargs
        .get(key)
        .and_then(Value::as_array)
        .ok_or_else(|| format!("missing list kwarg {key}"))?;
    list.iter()
        .map(|v| {
            v.as_u64()
                .ok_or_else(|| format!("kwarg {key}: bad entry {v}").into())
        })
        .collect()
}

/// The scheduler under test.
enum Built {
    Epochs(Scheduler),
    Sequential(SequentialLR),
    Plateau(ReduceLROnPlateau),
}

/// An epoch-driven scheduler `name` with PyTorch's `kwargs` (defaults where omitted).
fn build_scheduler<T: Float>(
    name: &str,
    kwargs: &Kwargs,
    opt: &mut Sgd<T>,
) -> Result<Scheduler, BuildError> {
    let gamma = |default| kw_float(kwargs, "gamma", default);
    Ok(match name {
        "StepLR" => {
            StepLR::new(opt, kw_uint(kwargs, "step_size", None)?, gamma(Some(0.1))?)?.into()
        }
        "MultiStepLR" => {
            MultiStepLR::new(opt, &kw_uints(kwargs, "milestones")?, gamma(Some(0.1))?)?.into()
        }
        "ExponentialLR" => ExponentialLR::new(opt, gamma(None)?)?.into(),
        "CosineAnnealingLR" => CosineAnnealingLR::new(
            opt,
            kw_uint(kwargs, "T_max", None)?,
            kw_float(kwargs, "eta_min", Some(0.0))?,
        )?
        .into(),
        "CosineAnnealingWarmRestarts" => CosineAnnealingWarmRestarts::new(
            opt,
            kw_uint(kwargs, "T_0", None)?,
            kw_uint(kwargs, "T_mult", Some(1))?,
            kw_float(kwargs, "eta_min", Some(0.0))?,
        )?
        .into(),
        "LinearLR" => LinearLR::new(
            opt,
            kw_float(kwargs, "start_factor", Some(1.0 / 3.0))?,
            kw_float(kwargs, "end_factor", Some(1.0))?,
            kw_uint(kwargs, "total_iters", Some(5))?,
        )?
        .into(),
        "OneCycleLR" => OneCycleLR::new(opt, one_cycle_config(kwargs)?)?.into(),
        other => return Err(format!("unknown scheduler {other}").into()),
    })
}

fn one_cycle_config(kwargs: &Kwargs) -> Result<OneCycleConfig, BuildError> {
    let strategy: AnnealStrategy = kw_str(kwargs, "anneal_strategy", "cos")?.parse()?;
    let float = |key, default| kw_float(kwargs, key, Some(default));
    Ok(OneCycleConfig {
        max_lr: kw_float(kwargs, "max_lr", None)?,
        max_lrs: None,
        total_steps: kw_opt_uint(kwargs, "total_steps")?,
        epochs: kw_opt_uint(kwargs, "epochs")?,
        steps_per_epoch: kw_opt_uint(kwargs, "steps_per_epoch")?,
        pct_start: float("pct_start", 0.3)?,
        anneal_strategy: strategy,
        cycle_momentum: kw_bool(kwargs, "cycle_momentum", true)?,
        base_momentum: float("base_momentum", 0.85)?,
        max_momentum: float("max_momentum", 0.95)?,
        div_factor: float("div_factor", 25.0)?,
        final_div_factor: float("final_div_factor", 1e4)?,
        three_phase: kw_bool(kwargs, "three_phase", false)?,
    })
}

fn plateau_config(kwargs: &Kwargs) -> Result<ReduceLROnPlateauConfig, BuildError> {
    let mode: PlateauMode = kw_str(kwargs, "mode", "min")?.parse()?;
    let threshold_mode: ThresholdMode = kw_str(kwargs, "threshold_mode", "rel")?.parse()?;
    let float = |key, default| kw_float(kwargs, key, Some(default));
    Ok(ReduceLROnPlateauConfig {
        mode,
        factor: float("factor", 0.1)?,
        patience: kw_uint(kwargs, "patience", Some(10))?,
        threshold: float("threshold", 1e-4)?,
        threshold_mode,
        cooldown: kw_uint(kwargs, "cooldown", Some(0))?,
        min_lr: float("min_lr", 0.0)?,
        min_lrs: None,
        eps: float("eps", 1e-8)?,
    })
}

/// The scheduler of a case (`name`, `kwargs`) on `opt`.
fn build<T: Float>(case: &Case, opt: &mut Sgd<T>) -> Result<Built, BuildError> {
    let name = string(case, "name").ok_or("missing name")?;
    let empty = Kwargs::new();
    let kwargs = case
        .params
        .get("kwargs")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    Ok(match name.as_str() {
        "ReduceLROnPlateau" => {
            Built::Plateau(ReduceLROnPlateau::new(&*opt, plateau_config(kwargs)?)?)
        }
        "SequentialLR" => {
            let specs = kwargs
                .get("schedulers")
                .and_then(Value::as_array)
                .ok_or("missing schedulers")?;
            let mut schedulers = Vec::new();
            for spec in specs {
                let name = spec
                    .get("name")
                    .and_then(Value::as_str)
                    .ok_or("bad scheduler")?;
                let inner = spec
                    .get("kwargs")
                    .and_then(Value::as_object)
                    .unwrap_or(&empty);
                if name == "ReduceLROnPlateau" {
                    return Err(BuildError::Refused(TensorError::invalid(
                        "SequentialLR",
                        "ReduceLROnPlateau cannot be part of a SequentialLR",
                    )));
                }
                schedulers.push(build_scheduler(name, inner, opt)?);
            }
            let milestones = kw_uints(kwargs, "milestones")?;
            Built::Sequential(SequentialLR::new(opt, schedulers, &milestones)?)
        }
        other => Built::Epochs(build_scheduler(other, kwargs, opt)?),
    })
}

/// The learning rates (and momenta) right after construction and after each step.
fn run_schedule<T: Float>(
    case: &Case,
    opt: &mut Sgd<T>,
    steps: usize,
) -> Result<(Vec<f64>, Vec<f64>), BuildError> {
    let mut built = build(case, opt)?;
    let metrics = case.inputs.get("metrics").cloned().flatten();
    let momentum = |opt: &Sgd<T>| opt.hyper_param(0, "momentum").unwrap_or(f64::NAN);
    let (mut lrs, mut momenta) = (vec![opt.lr()], vec![momentum(opt)]);
    for t in 0..steps {
        match &mut built {
            Built::Epochs(s) => s.step(opt)?,
            Built::Sequential(s) => s.step(opt)?,
            Built::Plateau(s) => {
                let metric = metrics
                    .as_ref()
                    .and_then(|m| m.data.get(t).copied())
                    .ok_or_else(|| format!("missing metrics[{t}]"))?;
                s.step(opt, metric)?
            }
        }
        lrs.push(opt.lr());
        momenta.push(momentum(opt));
    }
    Ok((lrs, momenta))
}

/// Drives `SGD([one param], lr=base_lr)` with the case's scheduler and compares the learning
/// rate (and OneCycleLR's momentum) after construction and after every step.
fn scheduler_case<T: Float>(case: &Case) -> Outcome {
    let base_lr = float(case, "base_lr")?;
    let steps = int(case, "steps")? as usize;
    let param = Var::parameter(Tensor::<T>::zeros(&[1]));
    let mut opt = Sgd::new(vec![param], SgdConfig::new(base_lr))?;
    let outcome = run_schedule(case, &mut opt, steps);
    let (lrs, momenta) = match (outcome, case.expect_error) {
        (Err(BuildError::Harness(m)), _) => return Err(Failure::Wrong(m)),
        (Err(BuildError::Refused(_)), true) => return Ok(()),
        (Err(BuildError::Refused(e)), false) => return Err(e.into()),
        (Ok(_), true) => {
            return Err(Failure::Wrong("expected an error, the schedule ran".into()));
        }
        (Ok(values), false) => values,
    };
    // Learning rates are f64 whatever T is: compared at f64's tolerance in both runs.
    let want = case.output.as_ref().ok_or("case has no output")?;
    compare(
        "lr",
        &Tensor::<f64>::from_vec(lrs, &[steps + 1])?,
        want,
        1e-9,
    )?;
    if let Some(want) = case.extra.get("momentum") {
        compare(
            "momentum",
            &Tensor::<f64>::from_vec(momenta, &[steps + 1])?,
            want,
            1e-9,
        )?;
    }
    Ok(())
}
