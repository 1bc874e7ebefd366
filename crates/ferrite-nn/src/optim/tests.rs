//! Unit tests of the optimizers, schedulers and clipping (the PyTorch reference cases are in
//! `tests/golden/optim.rs`).

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
        ("rmsprop centered momentum wd", |ps| {
            let c = RMSpropConfig::new(0.01)
                .with_centered(true)
                .with_momentum(0.5)
                .with_weight_decay(0.1);
            Box::new(RMSprop::new(ps, c).unwrap())
        }),
        ("adagrad lr_decay", |ps| {
            let c = AdagradConfig::new(0.1)
                .with_lr_decay(0.1)
                .with_initial_accumulator_value(0.2);
            Box::new(Adagrad::new(ps, c).unwrap())
        }),
        ("sgd two groups", |ps| {
            let mut ps = ps.into_iter();
            let first = ParamGroup::new(ps.next().into_iter().collect()).with_lr(0.01);
            let rest = ParamGroup::new(ps.collect())
                .with_momentum(0.5)
                .with_weight_decay(0.0);
            let c = SgdConfig::new(0.05)
                .with_momentum(0.9)
                .with_weight_decay(0.01);
            Box::new(Sgd::with_groups(vec![first, rest], c).unwrap())
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
    s.param_groups[0].hyper_params.insert("amsgrad".into(), 1.0);
    expect_err(&mut adam, s, "buffer 'max_exp_avg_sq' is missing");
    let mut s = good.clone();
    let b = s.params[0].buffers["exp_avg"].clone();
    s.params[0].buffers.insert("momentum_buffer".into(), b);
    expect_err(&mut adam, s, "unknown buffer 'momentum_buffer'");

    // Missing or invalid hyper-parameters.
    let mut s = good.clone();
    s.param_groups[0].hyper_params.remove("eps");
    expect_err(&mut adam, s, "no hyper-parameter 'eps'");
    let mut s = good.clone();
    s.param_groups[0].hyper_params.insert("beta2".into(), 1.5);
    expect_err(&mut adam, s, "Invalid beta parameter at index 1");
    let mut s = good.clone();
    s.param_groups[0].hyper_params.insert("amsgrad".into(), 0.5);
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
// RMSprop and Adagrad by hand

#[test]
fn rmsprop_by_hand() {
    // Two steps of centered RMSprop with momentum, written out in f64.
    let (lr, alpha, eps, momentum) = (0.01, 0.9, 1e-8, 0.5);
    let w = Var::parameter(Tensor::<f64>::from_vec(vec![1.0, -2.0], &[2]).unwrap());
    let config = RMSpropConfig::new(lr)
        .with_alpha(alpha)
        .with_momentum(momentum)
        .with_centered(true);
    let mut opt = RMSprop::new(vec![w.clone()], config).unwrap();
    let grads = [[0.5, -1.0], [0.25, 2.0]];
    let (mut p, mut v, mut m, mut b) = ([1.0, -2.0], [0.0; 2], [0.0; 2], [0.0; 2]);
    for g in grads {
        w.set_grad(Some(Tensor::from_vec(g.to_vec(), &[2]).unwrap()))
            .unwrap();
        opt.step().unwrap();
        for i in 0..2 {
            v[i] = alpha * v[i] + (1.0 - alpha) * g[i] * g[i];
            m[i] += (1.0 - alpha) * (g[i] - m[i]);
            let den = (v[i] - m[i] * m[i]).sqrt() + eps;
            b[i] = momentum * b[i] + g[i] / den;
            p[i] -= lr * b[i];
        }
        for (got, want) in w.value().to_vec().iter().zip(p) {
            assert!((got - want).abs() < 1e-14, "{got} vs {want}");
        }
    }
    let state = opt.state();
    let names: Vec<_> = state.params[0].buffers.keys().cloned().collect();
    assert_eq!(names, ["grad_avg", "momentum_buffer", "square_avg"]);
}

#[test]
fn adagrad_by_hand() {
    let (lr, lr_decay, wd, init, eps) = (0.2, 0.5, 0.1, 0.1, 1e-3);
    let w = Var::parameter(Tensor::<f64>::from_vec(vec![1.0, -2.0], &[2]).unwrap());
    let config = AdagradConfig::new(lr)
        .with_lr_decay(lr_decay)
        .with_weight_decay(wd)
        .with_initial_accumulator_value(init)
        .with_eps(eps);
    let mut opt = Adagrad::new(vec![w.clone()], config).unwrap();
    let (mut p, mut sum) = ([1.0, -2.0], [init; 2]);
    for (t, g) in [[0.5, -1.0], [0.25, 2.0], [-1.0, 0.0]]
        .into_iter()
        .enumerate()
    {
        w.set_grad(Some(Tensor::from_vec(g.to_vec(), &[2]).unwrap()))
            .unwrap();
        opt.step().unwrap();
        let clr = lr / (1.0 + t as f64 * lr_decay);
        for i in 0..2 {
            let g = g[i] + wd * p[i];
            sum[i] += g * g;
            p[i] -= clr * g / (sum[i].sqrt() + eps);
        }
        for (got, want) in w.value().to_vec().iter().zip(p) {
            assert!((got - want).abs() < 1e-14, "{got} vs {want}");
        }
    }
}

#[test]
fn rmsprop_and_adagrad_validation_follows_pytorch() {
    let ps = || vec![param::<f32>(&[2], 0)];
    let err = |r: ferrite_tensor::Result<RMSprop<f32>>| r.unwrap_err().to_string();
    assert!(err(RMSprop::new(ps(), RMSpropConfig::new(-0.01))).contains("Invalid learning rate"));
    assert!(
        err(RMSprop::new(ps(), RMSpropConfig::new(0.01).with_eps(-1.0)))
            .contains("Invalid epsilon value")
    );
    assert!(
        err(RMSprop::new(
            ps(),
            RMSpropConfig::new(0.01).with_momentum(-0.1)
        ))
        .contains("Invalid momentum value")
    );
    assert!(
        err(RMSprop::new(
            ps(),
            RMSpropConfig::new(0.01).with_weight_decay(-0.1)
        ))
        .contains("Invalid weight_decay value")
    );
    assert!(
        err(RMSprop::new(
            ps(),
            RMSpropConfig::new(0.01).with_alpha(f64::NAN)
        ))
        .contains("Invalid alpha value")
    );
    let err = |r: ferrite_tensor::Result<Adagrad<f32>>| r.unwrap_err().to_string();
    assert!(
        err(Adagrad::new(ps(), AdagradConfig::new(-0.01)))
            .contains("Adagrad: Invalid learning rate")
    );
    assert!(
        err(Adagrad::new(
            ps(),
            AdagradConfig::new(0.01).with_lr_decay(-0.1)
        ))
        .contains("Invalid lr_decay value")
    );
    assert!(
        err(Adagrad::new(
            ps(),
            AdagradConfig::new(0.01).with_weight_decay(-0.1)
        ))
        .contains("Invalid weight_decay value")
    );
    assert!(
        err(Adagrad::new(
            ps(),
            AdagradConfig::new(0.01).with_initial_accumulator_value(-1.0)
        ))
        .contains("Invalid initial_accumulator_value value")
    );
    assert!(
        err(Adagrad::new(ps(), AdagradConfig::new(0.01).with_eps(-1.0)))
            .contains("Invalid epsilon value")
    );
}

// ---------------------------------------------------------------------------------------
// Parameter groups

/// Two groups update exactly as two optimizers, one per group.
#[test]
fn groups_update_as_separate_optimizers() {
    let grads = grad_sequence::<f64>(&[vec![3, 2], vec![2]], 4);
    let make = || (param::<f64>(&[3, 2], 5), param::<f64>(&[2], 6));
    let (w, b) = make();
    let config = SgdConfig::new(0.1)
        .with_momentum(0.9)
        .with_weight_decay(0.01);
    let mut grouped = Sgd::with_groups(
        vec![
            ParamGroup::new(vec![w.clone()]),
            ParamGroup::new(vec![b.clone()])
                .with_weight_decay(0.0)
                .with_lr(0.02),
        ],
        config,
    )
    .unwrap();
    let (w2, b2) = make();
    let mut first = Sgd::new(vec![w2.clone()], config).unwrap();
    let mut second = Sgd::new(vec![b2.clone()], config.with_weight_decay(0.0)).unwrap();
    second.set_lr(0.02).unwrap();
    for g in &grads {
        for (p, g) in [(&w, &g[0]), (&b, &g[1]), (&w2, &g[0]), (&b2, &g[1])] {
            p.set_grad(Some(g.clone())).unwrap();
        }
        grouped.step().unwrap();
        first.step().unwrap();
        second.step().unwrap();
    }
    assert_eq!(bits(&w.value()), bits(&w2.value()));
    assert_eq!(bits(&b.value()), bits(&b2.value()));
    assert_eq!(grouped.lrs(), vec![0.1, 0.02]);
    grouped.set_lr(0.5).unwrap();
    assert_eq!(grouped.lrs(), vec![0.5, 0.5]);
    assert!(grouped.set_lrs(&[0.1]).is_err());
    assert!(grouped.set_lrs(&[0.1, -1.0]).is_err());
    assert_eq!(
        grouped.lrs(),
        vec![0.5, 0.5],
        "a refused set_lrs changes nothing"
    );
}

#[test]
fn groups_are_checked() {
    let (a, b) = (param::<f32>(&[2], 0), param::<f32>(&[2], 1));
    let config = SgdConfig::new(0.1);
    let err = |groups| Sgd::with_groups(groups, config).unwrap_err().to_string();
    let e = err(vec![
        ParamGroup::new(vec![a.clone()]),
        ParamGroup::new(vec![a.clone()]),
    ]);
    assert!(e.contains("appears more than once"), "{e}");
    let e = err(vec![
        ParamGroup::new(vec![a.clone()]).with_option("betas", 0.9),
    ]);
    assert!(
        e.contains("parameter group 0: unknown hyper-parameter 'betas'"),
        "{e}"
    );
    let e = err(vec![
        ParamGroup::new(vec![a.clone()]).with_option("nesterov", 0.5),
    ]);
    assert!(e.contains("is a flag"), "{e}");
    let e = err(vec![ParamGroup::new(vec![a.clone()]).with_momentum(-1.0)]);
    assert!(e.contains("Invalid momentum value"), "{e}");
    let e = err(vec![ParamGroup::new(vec![])]);
    assert!(e.contains("empty parameter list"), "{e}");
    // An empty group next to others is allowed, as in PyTorch.
    let mut opt = Sgd::with_groups(
        vec![ParamGroup::new(vec![a.clone()]), ParamGroup::new(vec![])],
        config,
    )
    .unwrap();
    assert!(
        opt.add_param_group(ParamGroup::new(vec![a.clone()]))
            .is_err()
    );
    assert_eq!(opt.num_groups(), 2);
    opt.add_param_group(ParamGroup::new(vec![b]).with_lr(0.3))
        .unwrap();
    assert_eq!(opt.lrs(), vec![0.1, 0.1, 0.3]);
    assert!(opt.set_hyper_param(3, "lr", 0.1).is_err());
    assert!(opt.set_hyper_param(0, "momentum", -0.5).is_err());
    assert!(opt.set_hyper_param(0, "beta1", 0.5).is_err());
    assert_eq!(opt.hyper_param(0, "momentum"), Some(0.0));
}

#[test]
fn group_state_round_trips_and_mismatched_groups_are_refused() {
    let ps: Vec<Var<f64>> = (0..3).map(|i| param(&[2], i)).collect();
    let groups = |sizes: &[usize]| {
        let mut it = ps.clone().into_iter();
        sizes
            .iter()
            .enumerate()
            .map(|(i, &n)| {
                ParamGroup::new(it.by_ref().take(n).collect()).with_lr(0.1 * (i + 1) as f64)
            })
            .collect::<Vec<_>>()
    };
    let config = AdamConfig::adamw(0.01);
    let mut opt = Adam::with_groups(groups(&[1, 2]), config).unwrap();
    for p in &ps {
        p.set_grad(Some(Tensor::ones(&[2]))).unwrap();
    }
    opt.step().unwrap();
    opt.set_hyper_param(1, "initial_lr", 0.25).unwrap();
    let state = opt.state();
    assert_eq!(state.param_groups.len(), 2);
    assert_eq!(state.param_groups[1].num_params, 2);
    assert_eq!(state.param_groups[1].hyper_params["lr"], 0.2);
    assert_eq!(state.param_groups[1].hyper_params["initial_lr"], 0.25);
    assert!(
        !state.param_groups[0]
            .hyper_params
            .contains_key("initial_lr")
    );

    let mut same = Adam::with_groups(groups(&[1, 2]), config).unwrap();
    same.load_state(state.clone()).unwrap();
    assert_eq!(same.state(), state);
    assert_eq!(same.hyper_param(1, "initial_lr"), Some(0.25));

    let mut other = Adam::with_groups(groups(&[2, 1]), config).unwrap();
    let e = other.load_state(state.clone()).unwrap_err().to_string();
    assert!(
        e.contains("parameter group 0 has 1 parameters in the state but 2"),
        "{e}"
    );
    let mut one = Adam::new(ps.clone(), config).unwrap();
    let e = one.load_state(state.clone()).unwrap_err().to_string();
    assert!(
        e.contains("2 parameter groups but this optimizer has 1"),
        "{e}"
    );
    let mut s = state.clone();
    s.param_groups[0]
        .hyper_params
        .insert("momentum".into(), 0.9);
    let e = same.load_state(s).unwrap_err().to_string();
    assert!(e.contains("unknown hyper-parameter 'momentum'"), "{e}");
    assert_eq!(same.state(), state, "a failed load changes nothing");
}

#[test]
fn weight_decay_groups_split_biases_and_1d_weights() {
    let named = vec![
        ("fc.weight".to_string(), param::<f32>(&[2, 3], 0)),
        ("fc.bias".to_string(), param::<f32>(&[2], 1)),
        ("norm.weight".to_string(), param::<f32>(&[2], 2)),
        ("scale_bias".to_string(), param::<f32>(&[2, 2], 3)),
    ];
    let groups = weight_decay_groups(named, 0.05);
    let shapes = |g: &ParamGroup<f32>| g.params().iter().map(|p| p.shape()).collect::<Vec<_>>();
    assert_eq!(shapes(&groups[0]), vec![vec![2, 3]]);
    assert_eq!(shapes(&groups[1]), vec![vec![2], vec![2], vec![2, 2]]);
    assert_eq!(groups[0].options()["weight_decay"], 0.05);
    assert_eq!(groups[1].options()["weight_decay"], 0.0);
}

// ---------------------------------------------------------------------------------------
// Schedulers

fn sgd(lr: f64) -> Sgd<f32> {
    Sgd::new(vec![param(&[1], 0)], SgdConfig::new(lr)).unwrap()
}

/// The learning rate after construction, then after each of `steps` steps.
fn run<S: LrScheduler>(opt: &mut Sgd<f32>, sched: &mut S, steps: usize) -> Vec<f64> {
    let mut lrs = vec![opt.lr()];
    for _ in 0..steps {
        sched.step(opt).unwrap();
        lrs.push(opt.lr());
        assert_eq!(sched.last_lr(), opt.lr());
    }
    lrs
}

#[test]
fn step_lr_values() {
    let mut opt = sgd(0.1);
    let mut sched = StepLR::new(&mut opt, 2, 0.5).unwrap();
    // epochs 0..=6: by hand
    assert_eq!(
        run(&mut opt, &mut sched, 6),
        vec![0.1, 0.1, 0.05, 0.05, 0.025, 0.025, 0.0125]
    );
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
    let mut sched = CosineAnnealingLR::new(&mut opt, t_max, eta_min).unwrap();
    let lrs = run(&mut opt, &mut sched, 25);
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
fn warm_restarts_follow_pytorch_counting() {
    for (t_0, t_mult) in [(3u64, 1u64), (2, 2), (1, 3), (5, 2)] {
        let mut opt = sgd(0.2);
        let mut sched = CosineAnnealingWarmRestarts::new(&mut opt, t_0, t_mult, 0.01).unwrap();
        let lrs = run(&mut opt, &mut sched, 60);
        // PyTorch's step(): T_cur += 1; if T_cur >= T_i: T_cur -= T_i; T_i *= T_mult.
        let (mut t_cur, mut t_i) = (0u64, t_0);
        for (e, &lr) in lrs.iter().enumerate().skip(1) {
            t_cur += 1;
            if t_cur >= t_i {
                t_cur -= t_i;
                t_i *= t_mult;
            }
            let want = 0.01 + (0.2 - 0.01) * (1.0 + (PI * t_cur as f64 / t_i as f64).cos()) / 2.0;
            assert_eq!(lr, want, "T_0 {t_0}, T_mult {t_mult}, epoch {e}");
        }
    }
}

#[test]
fn multistep_exponential_and_linear_values() {
    let mut opt = sgd(1.0);
    let mut sched = MultiStepLR::new(&mut opt, &[3, 1, 3], 0.5).unwrap();
    assert_eq!(
        run(&mut opt, &mut sched, 4),
        vec![1.0, 0.5, 0.5, 0.125, 0.125]
    );
    let mut opt = sgd(1.0);
    let mut sched = ExponentialLR::new(&mut opt, 0.5).unwrap();
    assert_eq!(run(&mut opt, &mut sched, 3), vec![1.0, 0.5, 0.25, 0.125]);
    let mut opt = sgd(1.0);
    let mut sched = LinearLR::new(&mut opt, 0.5, 1.0, 2).unwrap();
    assert_eq!(run(&mut opt, &mut sched, 3), vec![0.5, 0.75, 1.0, 1.0]);
    let mut opt = sgd(1.0);
    let mut sched = LinearLR::new(&mut opt, 0.5, 1.0, 0).unwrap();
    assert_eq!(run(&mut opt, &mut sched, 2), vec![0.5, 0.5, 0.5]);
    let mut opt = sgd(1.0);
    assert!(LinearLR::new(&mut opt, 1.5, 1.0, 2).is_err());
    assert!(LinearLR::new(&mut opt, 0.5, -0.1, 2).is_err());
    assert_eq!(
        opt.lr(),
        1.0,
        "a refused scheduler leaves the optimizer alone"
    );
    assert_eq!(opt.hyper_param(0, "initial_lr"), None);
}

#[test]
fn zero_periods_construct_and_fail_at_the_first_step() {
    let mut opt = sgd(0.1);
    let mut step = StepLR::new(&mut opt, 0, 0.5).unwrap();
    let err = step.step(&mut opt).unwrap_err().to_string();
    assert!(err.starts_with("StepLR: step_size is 0"), "{err}");
    assert_eq!((step.last_epoch(), opt.lr()), (0, 0.1));
    let mut cosine = CosineAnnealingLR::new(&mut opt, 0, 0.0).unwrap();
    assert!(cosine.step(&mut opt).is_err());
    assert_eq!(cosine.last_epoch(), 0);
}

#[test]
fn schedulers_share_the_initial_lr_and_set_every_group() {
    let (a, b) = (param::<f32>(&[1], 0), param::<f32>(&[1], 1));
    let mut opt = Sgd::with_groups(
        vec![
            ParamGroup::new(vec![a]),
            ParamGroup::new(vec![b]).with_lr(0.01),
        ],
        SgdConfig::new(0.1),
    )
    .unwrap();
    let warmup = LinearLR::new(&mut opt, 0.5, 1.0, 2).unwrap();
    assert_eq!(opt.lrs(), vec![0.05, 0.005]);
    // Built after the warm-up changed the learning rates, it still starts from 0.1 / 0.01.
    let decay = StepLR::new(&mut opt, 1, 0.5).unwrap();
    assert_eq!(decay.base_lrs(), &[0.1, 0.01]);
    let mut seq = SequentialLR::new(&mut opt, vec![warmup.into(), decay.into()], &[2]).unwrap();
    let mut lrs = vec![opt.lrs()];
    for _ in 0..4 {
        seq.step(&mut opt).unwrap();
        lrs.push(opt.lrs());
    }
    let want = [
        [0.05, 0.005],
        [0.075, 0.0075],
        [0.1, 0.01],
        [0.05, 0.005],
        [0.025, 0.0025],
    ];
    for (got, want) in lrs.iter().zip(want) {
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() < 1e-15, "{got:?} vs {want:?}");
        }
    }
    for e in 0..=4 {
        assert_eq!(
            seq.lrs_at(e).unwrap(),
            lrs[e as usize],
            "closed form at {e}"
        );
    }
}

#[test]
fn one_cycle_cycles_adam_beta1_and_refuses_past_the_end() {
    let w = param::<f32>(&[1], 0);
    let mut opt = Adam::new(vec![w], AdamConfig::new(0.01)).unwrap();
    let config = OneCycleConfig {
        anneal_strategy: AnnealStrategy::Linear,
        ..OneCycleConfig::new(1.0, 4)
    };
    let mut sched = OneCycleLR::new(&mut opt, config).unwrap();
    assert_eq!(opt.hyper_param(0, "initial_lr"), Some(0.04));
    let mut seen = vec![(opt.lr(), opt.config().betas.0)];
    for _ in 0..3 {
        sched.step(&mut opt).unwrap();
        seen.push((opt.lr(), opt.config().betas.0));
    }
    // Phase 1 ends at step 0.3 * 4 - 1 = 0.2, phase 2 at 3.
    let (first, second) = (0.2, 2.8);
    let lr = |t: f64| {
        if t <= first {
            (1.0 - 0.04) * (t / first) + 0.04
        } else {
            (0.04 / 1e4 - 1.0) * ((t - first) / second) + 1.0
        }
    };
    let beta1 = |t: f64| (0.95 - 0.85) * ((t - first) / second) + 0.85;
    for (t, &(got, b1)) in seen.iter().enumerate() {
        assert!((got - lr(t as f64)).abs() < 1e-12, "step {t}: {got}");
        let want = if t == 0 { 0.95 } else { beta1(t as f64) };
        assert!((b1 - want).abs() < 1e-12, "step {t}: beta1 {b1}");
    }
    // Step 4 = total_steps extrapolates the linear phase below zero: PyTorch sets the
    // negative learning rate, ferrite refuses it (and the step).
    let err = sched.step(&mut opt).unwrap_err().to_string();
    assert!(err.contains("Invalid learning rate: -"), "{err}");
    assert_eq!(sched.last_epoch(), 3);
    // Cosine annealing extrapolates above the final learning rate: step 4 runs, 5 cannot.
    let mut opt = sgd(0.1);
    let mut sched = OneCycleLR::new(&mut opt, OneCycleConfig::new(1.0, 4)).unwrap();
    for _ in 0..4 {
        sched.step(&mut opt).unwrap();
    }
    let err = sched.step(&mut opt).unwrap_err().to_string();
    assert!(err.contains("Tried to step 5 times"), "{err}");
    assert_eq!(sched.last_epoch(), 4);
    // A zero-length first phase: pct_start * total_steps = 1.
    let mut opt = sgd(0.1);
    let config = OneCycleConfig {
        pct_start: 0.1,
        ..OneCycleConfig::new(0.1, 10)
    };
    assert!(OneCycleLR::new(&mut opt, config).is_err());
    let config = OneCycleConfig {
        total_steps: None,
        ..OneCycleConfig::new(0.1, 10)
    };
    assert!(
        OneCycleLR::new(&mut opt, config)
            .unwrap_err()
            .to_string()
            .contains("total_steps OR")
    );
}

#[test]
fn plateau_reduces_after_patience_with_cooldown_and_min_lr() {
    let mut opt = sgd(1.0);
    let config = ReduceLROnPlateauConfig {
        mode: PlateauMode::Max,
        factor: 0.5,
        patience: 1,
        threshold: 0.1,
        threshold_mode: ThresholdMode::Abs,
        cooldown: 1,
        min_lr: 0.3,
        ..Default::default()
    };
    let mut sched = ReduceLROnPlateau::new(&opt, config).unwrap();
    let mut lrs = Vec::new();
    for metric in [1.0, 1.05, 1.08, 1.2, 1.2, 1.2, 1.2, 1.2, 1.2] {
        sched.step(&mut opt, metric).unwrap();
        lrs.push(opt.lr());
    }
    // 1.05 and 1.08 are not 0.1 better than 1.0: reduce at the 2nd bad epoch; 1.2 is better
    // (and the cooldown epoch); two bad epochs, reduce to max(0.25, 0.3); then a cooldown
    // epoch, two bad epochs, and max(0.15, 0.3) = 0.3 changes nothing.
    assert_eq!(lrs, vec![1.0, 1.0, 0.5, 0.5, 0.5, 0.3, 0.3, 0.3, 0.3]);
    assert_eq!(sched.best(), 1.2);
}

#[test]
fn schedulers_serialize_and_resume() {
    let mut opt = sgd(0.1);
    let mut sched = CosineAnnealingLR::new(&mut opt, 8, 0.0).unwrap();
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

    let mut opt = sgd(0.1);
    let warmup = LinearLR::new(&mut opt, 0.1, 1.0, 3).unwrap();
    let cycle = OneCycleLR::new(&mut opt, OneCycleConfig::new(0.5, 20)).unwrap();
    let mut seq = SequentialLR::new(&mut opt, vec![warmup.into(), cycle.into()], &[3]).unwrap();
    for _ in 0..5 {
        seq.step(&mut opt).unwrap();
    }
    let json = serde_json::to_string(&seq).unwrap();
    let mut restored: SequentialLR = serde_json::from_str(&json).unwrap();
    assert_eq!(restored, seq);
    let mut opt2 = sgd(0.1);
    opt2.load_state(opt.state()).unwrap();
    seq.step(&mut opt).unwrap();
    restored.step(&mut opt2).unwrap();
    assert_eq!(opt.state(), opt2.state());
}

#[test]
fn scheduler_settings_are_checked() {
    let mut opt = sgd(0.1);
    assert!(StepLR::new(&mut opt, 1, -0.1).is_err());
    assert!(StepLR::new(&mut opt, 1, f64::NAN).is_err());
    assert!(CosineAnnealingLR::new(&mut opt, 5, -1.0).is_err());
    assert!(CosineAnnealingWarmRestarts::new(&mut opt, 0, 1, 0.0).is_err());
    assert!(
        ReduceLROnPlateau::new(
            &opt,
            ReduceLROnPlateauConfig {
                factor: 1.0,
                ..Default::default()
            }
        )
        .is_err()
    );
    assert!("exp".parse::<AnnealStrategy>().is_err());
    assert!("pct".parse::<ThresholdMode>().is_err());
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
        ("RMSprop", |ps| {
            Box::new(RMSprop::new(ps, RMSpropConfig::new(0.1)).unwrap())
        }),
        ("Adagrad", |ps| {
            Box::new(Adagrad::new(ps, AdagradConfig::new(0.1)).unwrap())
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
        r#"{"step_size":1,"gamma":0.5,"base_lrs":[0.1],"last_epoch":18446744073709551615}"#,
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
        r#"{"t_max":10,"eta_min":0.0,"base_lrs":[0.1],"last_epoch":18446744073709551615}"#,
    )
    .unwrap();
    let err = cosine.step(&mut opt).unwrap_err().to_string();
    assert!(
        err.starts_with("CosineAnnealingLR: last_epoch is at its maximum"),
        "{err}"
    );
    assert_eq!((cosine.last_epoch(), opt.lr()), (u64::MAX, 0.3));
}
