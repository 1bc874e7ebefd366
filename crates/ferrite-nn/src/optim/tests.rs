//! Unit tests of the optimizers, schedulers and clipping (the PyTorch reference cases are in
//! `tests/optim_golden.rs`).

use std::f64::consts::PI;

use ferrite_autograd::Var;
use ferrite_tensor::{Float, Tensor, seeded_rng};

use super::*;

fn randn<T: Float>(shape: &[usize], seed: u64) -> Tensor<T> {
    Tensor::randn(shape, &mut seeded_rng(seed))
}

fn param<T: Float>(shape: &[usize], seed: u64) -> Var<T> {
    Var::parameter(randn(shape, seed))
}

fn bits<T: Float>(t: &Tensor<T>) -> Vec<u64> {
    t.to_vec()
        .into_iter()
        .map(|x| x.as_f64().to_bits())
        .collect()
}

// ---------------------------------------------------------------------------------------
// SGD

#[test]
fn sgd_without_momentum_is_p_minus_lr_g() {
    let w = param::<f64>(&[3, 4], 1);
    let p0 = w.value().to_vec();
    let g = randn::<f64>(&[3, 4], 2);
    let mut opt = Sgd::new(vec![w.clone()], SgdConfig::new(0.3)).unwrap();
    w.set_grad(Some(g.clone())).unwrap();
    opt.step().unwrap();
    let want: Vec<f64> = p0
        .iter()
        .zip(g.to_vec())
        .map(|(p, g)| p - 0.3 * g)
        .collect();
    assert_eq!(w.value().to_vec(), want);
    // The same in f32, where every operation rounds to f32.
    let w = param::<f32>(&[5], 3);
    let p0 = w.value().to_vec();
    let g = randn::<f32>(&[5], 4);
    let mut opt = Sgd::new(vec![w.clone()], SgdConfig::new(0.1)).unwrap();
    w.set_grad(Some(g.clone())).unwrap();
    opt.step().unwrap();
    let want: Vec<f32> = p0
        .iter()
        .zip(g.to_vec())
        .map(|(p, g)| p - 0.1f32 * g)
        .collect();
    assert_eq!(w.value().to_vec(), want);
}

#[test]
fn sgd_momentum_first_step_has_no_dampening() {
    // buf_1 = g (not (1 - dampening) g); buf_2 = m buf_1 + (1 - d) g.
    let w = Var::parameter(Tensor::<f64>::zeros(&[1]));
    let config = SgdConfig::new(1.0).with_momentum(0.5).with_dampening(0.5);
    let mut opt = Sgd::new(vec![w.clone()], config).unwrap();
    w.set_grad(Some(Tensor::full(&[1], 2.0))).unwrap();
    opt.step().unwrap();
    assert_eq!(w.value().to_vec(), vec![-2.0]);
    opt.step().unwrap(); // buf = 0.5 * 2 + 0.5 * 2 = 2
    assert_eq!(w.value().to_vec(), vec![-4.0]);
    let state = opt.state();
    assert_eq!(state.params[0].buffers["momentum_buffer"].data, vec![2.0]);
    assert_eq!(state.params[0].step, 2);
}

#[test]
fn sgd_nesterov_and_weight_decay_by_hand() {
    let w = Var::parameter(Tensor::<f64>::full(&[1], 1.0));
    let config = SgdConfig::new(0.1)
        .with_momentum(0.9)
        .with_nesterov(true)
        .with_weight_decay(0.5);
    let mut opt = Sgd::new(vec![w.clone()], config).unwrap();
    w.set_grad(Some(Tensor::full(&[1], 1.0))).unwrap();
    opt.step().unwrap();
    // g = 1 + 0.5 * 1 = 1.5; buf = 1.5; g = 1.5 + 0.9 * 1.5 = 2.85; p = 1 - 0.285
    let want = 1.0 + -0.1 * (1.5 + 0.9 * 1.5);
    assert_eq!(w.value().to_vec(), vec![want]);
}

#[test]
fn parameters_without_grad_are_skipped() {
    let a = param::<f64>(&[2], 1);
    let b = param::<f64>(&[2], 2);
    let b0 = b.value();
    for mut opt in [
        Box::new(
            Sgd::new(
                vec![a.clone(), b.clone()],
                SgdConfig::new(0.1).with_momentum(0.9),
            )
            .unwrap(),
        ) as Box<dyn Optimizer<f64>>,
        Box::new(Adam::new(vec![a.clone(), b.clone()], AdamConfig::new(0.1)).unwrap()),
        Box::new(Adam::new(vec![a.clone(), b.clone()], AdamConfig::adamw(0.1)).unwrap()),
    ] {
        a.set_grad(Some(Tensor::ones(&[2]))).unwrap();
        opt.step().unwrap();
        assert_eq!(b.value(), b0, "{}", opt.kind());
        let state = opt.state();
        assert_eq!(state.params[0].step, 1);
        assert_eq!(state.params[1], ParamState::default());
        opt.zero_grad();
        assert!(a.grad().is_none() && b.grad().is_none());
    }
}

#[test]
fn sgd_validation_follows_pytorch() {
    let ps = || vec![param::<f32>(&[2], 0)];
    let msg = |c: SgdConfig| Sgd::new(ps(), c).unwrap_err().to_string();
    assert!(msg(SgdConfig::new(-0.1)).contains("Invalid learning rate: -0.1"));
    assert!(msg(SgdConfig::new(f64::NAN)).contains("Invalid learning rate"));
    assert!(msg(SgdConfig::new(0.1).with_momentum(-0.9)).contains("Invalid momentum value"));
    assert!(
        msg(SgdConfig::new(0.1).with_weight_decay(-1.0)).contains("Invalid weight_decay value")
    );
    assert!(msg(SgdConfig::new(0.1).with_nesterov(true)).contains("Nesterov momentum requires"));
    let damped = SgdConfig::new(0.1)
        .with_momentum(0.9)
        .with_dampening(0.1)
        .with_nesterov(true);
    assert!(msg(damped).contains("Nesterov momentum requires"));
    assert!(
        Sgd::new(ps(), SgdConfig::new(0.0)).is_ok(),
        "lr = 0 is allowed"
    );
}

#[test]
fn parameter_lists_are_checked() {
    let w = param::<f32>(&[2], 0);
    let err = Sgd::<f32>::new(vec![], SgdConfig::new(0.1)).unwrap_err();
    assert!(err.to_string().contains("empty parameter list"));
    let err = Adam::new(vec![w.clone(), w.clone()], AdamConfig::default()).unwrap_err();
    assert!(
        err.to_string()
            .contains("parameter 1 appears more than once"),
        "{err}"
    );
    let derived = w.exp().unwrap();
    let err = Adam::new(vec![derived], AdamConfig::adamw(1e-3)).unwrap_err();
    assert!(err.to_string().contains("non-leaf"), "{err}");
}

// ---------------------------------------------------------------------------------------
// Adam / AdamW

#[test]
fn adam_validation_follows_pytorch() {
    let ps = || vec![param::<f64>(&[2], 0)];
    let msg = |c: AdamConfig| Adam::new(ps(), c).unwrap_err().to_string();
    assert!(msg(AdamConfig::new(-1e-3)).contains("Invalid learning rate"));
    assert!(msg(AdamConfig::default().with_eps(-1e-8)).contains("Invalid epsilon value"));
    assert!(
        msg(AdamConfig::default().with_betas(1.0, 0.999))
            .contains("Invalid beta parameter at index 0: 1")
    );
    assert!(
        msg(AdamConfig::default().with_betas(0.9, -0.1))
            .contains("Invalid beta parameter at index 1")
    );
    assert!(msg(AdamConfig::default().with_betas(f64::NAN, 0.9)).contains("index 0"));
    assert!(
        msg(AdamConfig::default().with_weight_decay(-0.1)).contains("Invalid weight_decay value")
    );
    let err = Adam::new(ps(), AdamConfig::adamw(-1.0)).unwrap_err();
    assert_eq!(err.op(), "AdamW");
    assert!(Adam::new(ps(), AdamConfig::default().with_betas(0.0, 0.0)).is_ok());
}

/// The textbook Adam update, written independently of PyTorch's operation order.
#[allow(clippy::too_many_arguments)]
fn reference_adam(
    p: f64,
    grads: &[f64],
    lr: f64,
    b1: f64,
    b2: f64,
    eps: f64,
    wd: f64,
    decoupled: bool,
) -> f64 {
    let (mut p, mut m, mut v) = (p, 0.0, 0.0);
    for (t, &g) in grads.iter().enumerate() {
        let t = (t + 1) as i32;
        let mut g = g;
        if decoupled {
            p *= 1.0 - lr * wd;
        } else {
            g += wd * p;
        }
        m = b1 * m + (1.0 - b1) * g;
        v = b2 * v + (1.0 - b2) * g * g;
        let m_hat = m / (1.0 - b1.powi(t));
        let v_hat = v / (1.0 - b2.powi(t));
        p -= lr * m_hat / (v_hat.sqrt() + eps);
    }
    p
}

#[test]
fn adam_agrees_with_the_textbook_formula_on_both_lerp_branches() {
    let grads = [0.5, -1.5, 2.0, 0.25, -0.75];
    // beta1 = 0.9 uses lerp's `self + w (end - self)`, beta1 = 0.3 its `end - (end - self)(1 - w)`.
    for (b1, wd, decoupled) in [
        (0.9, 0.0, false),
        (0.3, 0.1, false),
        (0.3, 0.1, true),
        (0.0, 0.0, false),
    ] {
        let w = Var::parameter(Tensor::<f64>::full(&[1], 1.5));
        let mut opt: Box<dyn Optimizer<f64>> = if decoupled {
            let c = AdamConfig::adamw(0.05)
                .with_betas(b1, 0.99)
                .with_weight_decay(wd);
            Box::new(Adam::new(vec![w.clone()], c).unwrap())
        } else {
            let c = AdamConfig::new(0.05)
                .with_betas(b1, 0.99)
                .with_weight_decay(wd);
            Box::new(Adam::new(vec![w.clone()], c).unwrap())
        };
        for &g in &grads {
            w.set_grad(Some(Tensor::full(&[1], g))).unwrap();
            opt.step().unwrap();
        }
        let got = w.value().to_vec()[0];
        let want = reference_adam(1.5, &grads, 0.05, b1, 0.99, 1e-8, wd, decoupled);
        assert!(
            (got - want).abs() < 1e-13,
            "beta1 {b1} wd {wd} decoupled {decoupled}: {got} vs {want}"
        );
    }
}

#[test]
fn amsgrad_keeps_the_largest_second_moment() {
    let w = Var::parameter(Tensor::<f64>::zeros(&[1]));
    let mut opt = Adam::new(vec![w.clone()], AdamConfig::new(0.1).with_amsgrad(true)).unwrap();
    for g in [10.0, 0.0, 0.0] {
        w.set_grad(Some(Tensor::full(&[1], g))).unwrap();
        opt.step().unwrap();
    }
    let st = opt.state();
    let b = &st.params[0].buffers;
    let v1 = (1.0 - 0.999) * 10.0 * 10.0;
    assert_eq!(b["max_exp_avg_sq"].data, vec![v1]);
    assert_eq!(b["exp_avg_sq"].data, vec![v1 * 0.999 * 0.999]);
}

// ---------------------------------------------------------------------------------------
// State save / restore

fn grad_sequence<T: Float>(shapes: &[Vec<usize>], steps: usize) -> Vec<Vec<Tensor<T>>> {
    (0..steps)
        .map(|t| {
            shapes
                .iter()
                .enumerate()
                .map(|(i, s)| randn(s, 100 + (t * 10 + i) as u64))
                .collect()
        })
        .collect()
}

type MakeOpt<T> = fn(Vec<Var<T>>) -> Box<dyn Optimizer<T>>;

fn makers<T: Float>() -> Vec<(&'static str, MakeOpt<T>)> {
    vec![
        ("sgd nesterov wd", |ps| {
            let c = SgdConfig::new(0.05)
                .with_momentum(0.9)
                .with_nesterov(true)
                .with_weight_decay(0.01);
            Box::new(Sgd::new(ps, c).unwrap())
        }),
        ("sgd dampening", |ps| {
            let c = SgdConfig::new(0.05).with_momentum(0.8).with_dampening(0.3);
            Box::new(Sgd::new(ps, c).unwrap())
        }),
        ("adam amsgrad wd", |ps| {
            let c = AdamConfig::new(0.01)
                .with_amsgrad(true)
                .with_weight_decay(0.1);
            Box::new(Adam::new(ps, c).unwrap())
        }),
        ("adamw", |ps| {
            Box::new(Adam::new(ps, AdamConfig::adamw(0.02).with_betas(0.8, 0.95)).unwrap())
        }),
    ]
}

fn resume_is_bit_identical<T: Float>() {
    let shapes = vec![vec![3, 4], vec![4], vec![2, 1, 3]];
    let grads = grad_sequence::<T>(&shapes, 7);
    for (name, make) in makers::<T>() {
        // Uninterrupted: 7 steps (the second parameter gets no grad at step 1).
        let params: Vec<Var<T>> = shapes
            .iter()
            .enumerate()
            .map(|(i, s)| param(s, i as u64))
            .collect();
        let mut opt = make(params.clone());
        let feed = |params: &[Var<T>], t: usize| {
            for (i, (p, g)) in params.iter().zip(&grads[t]).enumerate() {
                let g = if t == 1 && i == 1 {
                    None
                } else {
                    Some(g.clone())
                };
                p.set_grad(g).unwrap();
            }
        };
        for t in 0..7 {
            feed(&params, t);
            opt.step().unwrap();
        }
        // Interrupted after 3 steps: save parameters and state through JSON, rebuild.
        let params2: Vec<Var<T>> = shapes
            .iter()
            .enumerate()
            .map(|(i, s)| param(s, i as u64))
            .collect();
        let mut opt2 = make(params2.clone());
        for t in 0..3 {
            feed(&params2, t);
            opt2.step().unwrap();
        }
        let saved = opt2.state();
        let json = serde_json::to_string(&saved).unwrap();
        // Exact only with serde_json's `float_roundtrip` feature (see `OptimizerState`).
        let parsed: OptimizerState = serde_json::from_str(&json).unwrap();
        assert_eq!(parsed, saved, "{name}: the state must survive JSON exactly");
        let values: Vec<Tensor<T>> = params2.iter().map(Var::value).collect();
        drop(opt2);
        let params3: Vec<Var<T>> = values.into_iter().map(Var::parameter).collect();
        let mut opt3 = make(params3.clone());
        let lr_before = opt3.lr();
        opt3.set_lr(lr_before * 7.0).unwrap(); // overwritten by load_state
        opt3.load_state(serde_json::from_str(&json).unwrap())
            .unwrap();
        assert_eq!(opt3.lr(), lr_before, "{name}");
        for t in 3..7 {
            feed(&params3, t);
            opt3.step().unwrap();
        }
        for (i, (a, b)) in params.iter().zip(&params3).enumerate() {
            assert_eq!(
                bits(&a.value()),
                bits(&b.value()),
                "{name} ({}): parameter {i}",
                T::NAME
            );
        }
        assert_eq!(opt.state(), opt3.state(), "{name} ({})", T::NAME);
    }
}

#[test]
fn resume_from_saved_state_is_bit_identical_f64() {
    resume_is_bit_identical::<f64>();
}

#[test]
fn resume_from_saved_state_is_bit_identical_f32() {
    resume_is_bit_identical::<f32>();
}

#[test]
fn loading_a_mismatched_state_is_an_error_and_changes_nothing() {
    let params = vec![param::<f64>(&[2, 3], 0), param::<f64>(&[3], 1)];
    let mut adam = Adam::new(params.clone(), AdamConfig::new(0.01)).unwrap();
    for p in &params {
        p.set_grad(Some(Tensor::ones(&p.shape()))).unwrap();
    }
    adam.step().unwrap();
    let good = adam.state();
    let expect_err = |adam: &mut Adam<f64>, state: OptimizerState, needle: &str| {
        let before = adam.state();
        let err = adam.load_state(state).unwrap_err().to_string();
        assert!(err.contains(needle), "expected '{needle}' in: {err}");
        assert_eq!(adam.state(), before, "a failed load must change nothing");
    };

    // Another kind.
    let sgd = Sgd::new(params.clone(), SgdConfig::new(0.1)).unwrap();
    expect_err(
        &mut adam,
        sgd.state(),
        "'sgd' optimizer but this optimizer is 'adam'",
    );
    let mut s = good.clone();
    s.kind = "adamw".into();
    expect_err(&mut adam, s, "'adamw'");

    // Another number of parameters.
    let mut s = good.clone();
    s.params.pop();
    expect_err(&mut adam, s, "1 parameters but this optimizer has 2");

    // A buffer of another shape (the last one loaded, so the first was already parsed).
    let mut s = good.clone();
    s.params[1].buffers.get_mut("exp_avg_sq").unwrap().shape = vec![1, 3];
    expect_err(
        &mut adam,
        s,
        "parameter 1: buffer 'exp_avg_sq' has shape [1, 3] but the parameter has shape [3]",
    );

    // Data that does not fill the shape.
    let mut s = good.clone();
    s.params[0].buffers.get_mut("exp_avg").unwrap().data.pop();
    expect_err(&mut adam, s, "parameter 0: buffer 'exp_avg'");

    // Missing and unknown buffers.
    let mut s = good.clone();
    s.params[0].buffers.remove("exp_avg");
    expect_err(&mut adam, s, "buffer 'exp_avg' is missing");
    let mut s = good.clone();
    s.hyper_params.insert("amsgrad".into(), 1.0);
    expect_err(&mut adam, s, "buffer 'max_exp_avg_sq' is missing");
    let mut s = good.clone();
    let b = s.params[0].buffers["exp_avg"].clone();
    s.params[0].buffers.insert("momentum_buffer".into(), b);
    expect_err(&mut adam, s, "unknown buffer 'momentum_buffer'");

    // Missing or invalid hyper-parameters.
    let mut s = good.clone();
    s.hyper_params.remove("eps");
    expect_err(&mut adam, s, "no hyper-parameter 'eps'");
    let mut s = good.clone();
    s.hyper_params.insert("beta2".into(), 1.5);
    expect_err(&mut adam, s, "Invalid beta parameter at index 1");
    let mut s = good.clone();
    s.hyper_params.insert("amsgrad".into(), 0.5);
    expect_err(&mut adam, s, "'amsgrad' must be 0 or 1");

    // SGD: shapes are checked too.
    let mut sgd = Sgd::new(params.clone(), SgdConfig::new(0.1).with_momentum(0.9)).unwrap();
    sgd.step().unwrap();
    let mut s = sgd.state();
    s.params[0]
        .buffers
        .get_mut("momentum_buffer")
        .unwrap()
        .shape = vec![3, 2];
    let err = sgd.load_state(s).unwrap_err().to_string();
    assert!(
        err.contains("parameter 0: buffer 'momentum_buffer' has shape [3, 2]"),
        "{err}"
    );

    // The good state loads.
    adam.load_state(good.clone()).unwrap();
    assert_eq!(adam.state(), good);
}

#[test]
fn f32_state_round_trips_exactly_through_f64() {
    let w = param::<f32>(&[5], 0);
    let mut opt = Adam::new(vec![w.clone()], AdamConfig::adamw(0.1)).unwrap();
    w.set_grad(Some(randn(&[5], 1))).unwrap();
    opt.step().unwrap();
    let state = opt.state();
    let mut opt2 = Adam::new(vec![w.clone()], AdamConfig::adamw(1e-3)).unwrap();
    opt2.load_state(state.clone()).unwrap();
    assert_eq!(opt2.state(), state);
    assert_eq!(*opt2.config(), AdamConfig::adamw(0.1));
}

// ---------------------------------------------------------------------------------------
// Gradient clipping

#[test]
fn clip_grad_norm_scales_to_max_norm() {
    let a = param::<f64>(&[3, 4], 0);
    let b = param::<f64>(&[5], 1);
    let c = param::<f64>(&[2], 2); // no gradient: ignored
    let (ga, gb) = (randn::<f64>(&[3, 4], 3), randn::<f64>(&[5], 4));
    a.set_grad(Some(ga.clone())).unwrap();
    b.set_grad(Some(gb.clone())).unwrap();
    let norm = |gs: &[Vec<f64>]| gs.iter().flatten().map(|x| x * x).sum::<f64>().sqrt();
    let total = norm(&[ga.to_vec(), gb.to_vec()]);
    let params = [a.clone(), b.clone(), c.clone()];

    let returned = clip_grad_norm(&params, 1.0).unwrap();
    assert!((returned - total).abs() <= 1e-12 * total);
    let after = norm(&[a.grad().unwrap().to_vec(), b.grad().unwrap().to_vec()]);
    let coef = 1.0 / (total + 1e-6);
    assert!((after - total * coef).abs() < 1e-12, "{after}");
    assert!((after - 1.0).abs() < 1e-6);
    assert!(c.grad().is_none());
    // Direction kept: every element scaled by the same factor.
    assert_eq!(
        a.grad().unwrap().to_vec(),
        ga.to_vec().iter().map(|x| x * coef).collect::<Vec<_>>()
    );

    // Below the threshold: returned norm, gradients untouched.
    let ga2 = a.grad().unwrap();
    let returned = clip_grad_norm(&params, 10.0).unwrap();
    assert!((returned - after).abs() < 1e-12);
    assert_eq!(a.grad().unwrap(), ga2);

    // max_norm = 0 zeroes the gradients, as in PyTorch.
    clip_grad_norm(&params, 0.0).unwrap();
    assert!(a.grad().unwrap().to_vec().iter().all(|&x| x == 0.0));
}

#[test]
fn clip_grad_norm_f32_and_edge_cases() {
    let a = Var::parameter(Tensor::<f32>::zeros(&[2]));
    assert_eq!(
        clip_grad_norm(std::slice::from_ref(&a), 1.0).unwrap(),
        0.0,
        "no gradients: norm 0"
    );
    a.set_grad(Some(Tensor::from_vec(vec![30.0, 40.0], &[2]).unwrap()))
        .unwrap();
    assert_eq!(clip_grad_norm(std::slice::from_ref(&a), 5.0).unwrap(), 50.0);
    let g = a.grad().unwrap().to_vec();
    assert!(
        (g[0] - 3.0).abs() < 1e-5 && (g[1] - 4.0).abs() < 1e-5,
        "{g:?}"
    );

    assert!(
        clip_grad_norm(std::slice::from_ref(&a), -1.0)
            .unwrap_err()
            .to_string()
            .contains("max_norm")
    );
    assert!(clip_grad_norm(std::slice::from_ref(&a), f64::NAN).is_err());

    let b = Var::parameter(Tensor::<f32>::zeros(&[3]));
    b.set_grad(Some(
        Tensor::from_vec(vec![1.0, f32::INFINITY, 0.0], &[3]).unwrap(),
    ))
    .unwrap();
    let before = a.grad().unwrap();
    let err = clip_grad_norm(&[a.clone(), b.clone()], 1.0)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("non-finite (inf)") && err.contains("parameter 1 (shape [3])"),
        "{err}"
    );
    assert_eq!(a.grad().unwrap(), before, "gradients unchanged on error");
    b.set_grad(Some(Tensor::full(&[3], f32::NAN))).unwrap();
    assert!(
        clip_grad_norm(&[a, b], 1.0)
            .unwrap_err()
            .to_string()
            .contains("NaN")
    );
}

// ---------------------------------------------------------------------------------------
// Schedulers

fn sgd(lr: f64) -> Sgd<f32> {
    Sgd::new(vec![param(&[1], 0)], SgdConfig::new(lr)).unwrap()
}

#[test]
fn step_lr_values() {
    let mut opt = sgd(0.1);
    let mut sched = StepLR::new(&opt, 2, 0.5).unwrap();
    let mut lrs = vec![opt.lr()];
    for _ in 0..6 {
        sched.step(&mut opt).unwrap();
        lrs.push(opt.lr());
        assert_eq!(sched.last_lr(), opt.lr());
    }
    // epochs 0..=6: by hand
    assert_eq!(lrs, vec![0.1, 0.1, 0.05, 0.05, 0.025, 0.025, 0.0125]);
    assert_eq!(sched.last_epoch(), 6);
}

/// PyTorch's recursive `CosineAnnealingLR.get_lr`, transcribed.
fn pytorch_recursive_cosine(base_lr: f64, eta_min: f64, t_max: f64, epochs: usize) -> Vec<f64> {
    let mut lr = base_lr;
    let mut out = vec![lr];
    for e in 1..=epochs {
        let e = e as f64;
        lr = if ((e - 1.0 - t_max) % (2.0 * t_max)) == 0.0 {
            lr + (base_lr - eta_min) * (1.0 - (PI / t_max).cos()) / 2.0
        } else {
            (1.0 + (PI * e / t_max).cos()) / (1.0 + (PI * (e - 1.0) / t_max).cos()) * (lr - eta_min)
                + eta_min
        };
        out.push(lr);
    }
    out
}

#[test]
fn cosine_annealing_values() {
    let mut opt = sgd(0.1);
    let (t_max, eta_min) = (10u64, 0.001);
    let mut sched = CosineAnnealingLR::new(&opt, t_max, eta_min).unwrap();
    let mut lrs = vec![opt.lr()];
    for _ in 0..25 {
        sched.step(&mut opt).unwrap();
        lrs.push(opt.lr());
    }
    // Hand values: start, halfway, bottom, back up after a full period.
    assert_eq!(lrs[0], 0.1);
    assert!((lrs[5] - (0.001 + 0.099 / 2.0)).abs() < 1e-15);
    assert_eq!(lrs[10], 0.001);
    assert!((lrs[20] - 0.1).abs() < 1e-15);
    // The closed form, epoch by epoch.
    for (e, &lr) in lrs.iter().enumerate() {
        let want = eta_min + (0.1 - eta_min) * (1.0 + (PI * e as f64 / t_max as f64).cos()) / 2.0;
        assert_eq!(lr, want, "epoch {e}");
    }
    // PyTorch's recursive form agrees to rounding over two and a half periods.
    let recursive = pytorch_recursive_cosine(0.1, eta_min, t_max as f64, 25);
    for (e, (a, b)) in lrs.iter().zip(&recursive).enumerate() {
        assert!(
            (a - b).abs() <= 1e-12 * b.abs(),
            "epoch {e}: closed {a} vs recursive {b}"
        );
    }
}

#[test]
fn schedulers_serialize_and_resume() {
    let mut opt = sgd(0.1);
    let mut sched = CosineAnnealingLR::new(&opt, 8, 0.0).unwrap();
    for _ in 0..3 {
        sched.step(&mut opt).unwrap();
    }
    let json = serde_json::to_string(&sched).unwrap();
    let mut restored: CosineAnnealingLR = serde_json::from_str(&json).unwrap();
    assert_eq!(restored, sched);
    let mut opt2 = sgd(0.1);
    sched.step(&mut opt).unwrap();
    restored.step(&mut opt2).unwrap();
    assert_eq!(opt.lr(), opt2.lr());

    let step = StepLR::new(&opt, 3, 0.1).unwrap();
    let json = serde_json::to_string(&step).unwrap();
    assert_eq!(serde_json::from_str::<StepLR>(&json).unwrap(), step);
    // Deserializing checks the settings.
    let bad = json.replace("\"step_size\":3", "\"step_size\":0");
    assert!(serde_json::from_str::<StepLR>(&bad).is_err());
    let bad = serde_json::to_string(&sched)
        .unwrap()
        .replace("\"t_max\":8", "\"t_max\":0");
    assert!(serde_json::from_str::<CosineAnnealingLR>(&bad).is_err());
}

#[test]
fn scheduler_settings_are_checked() {
    let opt = sgd(0.1);
    assert!(StepLR::new(&opt, 0, 0.1).is_err());
    assert!(StepLR::new(&opt, 1, -0.1).is_err());
    assert!(StepLR::new(&opt, 1, f64::NAN).is_err());
    assert!(CosineAnnealingLR::new(&opt, 0, 0.0).is_err());
    assert!(CosineAnnealingLR::new(&opt, 5, -1.0).is_err());
    let mut opt = sgd(0.1);
    assert!(opt.set_lr(-1.0).is_err());
    assert!(opt.set_lr(f64::INFINITY).is_err());
    assert_eq!(opt.lr(), 0.1);
}

// ---------------------------------------------------------------------------------------
// Counters at u64::MAX: refused, never wrapped

#[test]
fn a_step_counter_at_its_maximum_refuses_the_step_and_changes_nothing() {
    let grad = |p: &Var<f64>| p.set_grad(Some(Tensor::full(&[2], 0.5))).unwrap();
    let makers: Vec<(&str, MakeOpt<f64>)> = vec![
        ("SGD", |ps| {
            Box::new(Sgd::new(ps, SgdConfig::new(0.1).with_momentum(0.9)).unwrap())
        }),
        ("Adam", |ps| {
            Box::new(Adam::new(ps, AdamConfig::new(0.1)).unwrap())
        }),
        ("AdamW", |ps| {
            Box::new(Adam::new(ps, AdamConfig::adamw(0.1)).unwrap())
        }),
    ];
    for (name, make) in makers {
        let p = param::<f64>(&[2], 1);
        let mut opt = make(vec![p.clone()]);
        grad(&p);
        opt.step().unwrap();
        let mut state = opt.state();
        state.params[0].step = u64::MAX;
        opt.load_state(state.clone()).unwrap();
        let before = p.value();
        grad(&p);
        let err = opt.step().unwrap_err().to_string();
        assert!(
            err.starts_with(&format!("{name}: parameter 0: the step counter")),
            "{err}"
        );
        assert!(err.contains("18446744073709551615"), "{err}");
        assert_eq!(p.value(), before, "{name}: the parameter changed");
        assert_eq!(opt.state(), state, "{name}: the state changed");
    }
}

#[test]
fn a_scheduler_at_the_last_epoch_refuses_to_step() {
    let p = param::<f32>(&[1], 2);
    let mut opt = Sgd::new(vec![p], SgdConfig::new(0.1)).unwrap();
    let mut step: StepLR = serde_json::from_str(
        r#"{"step_size":1,"gamma":0.5,"base_lr":0.1,"last_epoch":18446744073709551615}"#,
    )
    .unwrap();
    opt.set_lr(0.3).unwrap();
    let err = step.step(&mut opt).unwrap_err().to_string();
    assert!(
        err.starts_with("StepLR: last_epoch is at its maximum 18446744073709551615"),
        "{err}"
    );
    assert_eq!((step.last_epoch(), opt.lr()), (u64::MAX, 0.3));
    let mut cosine: CosineAnnealingLR = serde_json::from_str(
        r#"{"t_max":10,"eta_min":0.0,"base_lr":0.1,"last_epoch":18446744073709551615}"#,
    )
    .unwrap();
    let err = cosine.step(&mut opt).unwrap_err().to_string();
    assert!(
        err.starts_with("CosineAnnealingLR: last_epoch is at its maximum"),
        "{err}"
    );
    assert_eq!((cosine.last_epoch(), opt.lr()), (u64::MAX, 0.3));
}
