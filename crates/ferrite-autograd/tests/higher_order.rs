//! Higher-order gradients, `grad()`, `retain_graph` and hooks.

use ferrite_autograd::{GradOptions, GradcheckError, GradcheckOptions, Var, grad, gradgradcheck};
use ferrite_tensor::{GeluApproximate, Mask, Tensor, TensorError, seeded_rng};

fn param(v: &[f64]) -> Var<f64> {
    Var::parameter(Tensor::from_vec(v.to_vec(), &[v.len()]).unwrap())
}

/// Inputs in [0.3, 2.3) or their negation: away from every kink at 0, ±3 and the clamp
/// bounds used below.
fn away_from_kinks(shape: &[usize], seed: u64) -> Tensor<f64> {
    Tensor::<f64>::rand(shape, &mut seeded_rng(seed)).map(|u| {
        let magnitude = 0.3 + 2.0 * u;
        if (u * 1000.0) as i64 % 2 == 0 {
            magnitude
        } else {
            -magnitude
        }
    })
}

fn positive(shape: &[usize], seed: u64) -> Tensor<f64> {
    Tensor::<f64>::rand(shape, &mut seeded_rng(seed)).map(|u| 0.5 + u)
}

type Op = fn(&[Var<f64>]) -> Result<Var<f64>, TensorError>;

#[test]
fn every_pointwise_op_passes_gradgradcheck() {
    let x = away_from_kinks(&[2, 3], 1);
    let unary: Vec<(&str, Op)> = vec![
        ("exp", |v| v[0].exp()),
        ("tanh", |v| v[0].tanh()),
        ("sigmoid", |v| v[0].sigmoid()),
        ("relu", |v| v[0].relu()),
        ("abs", |v| v[0].abs()),
        ("leaky_relu", |v| v[0].leaky_relu(0.2)),
        ("elu", |v| v[0].elu(1.3)),
        ("gelu", |v| v[0].gelu(GeluApproximate::None)),
        ("gelu tanh", |v| v[0].gelu(GeluApproximate::Tanh)),
        ("silu", |v| v[0].silu()),
        ("softplus", |v| v[0].softplus(2.0, 3.0)),
        ("hardtanh", |v| v[0].hardtanh(-1.5, 1.5)),
        ("relu6", |v| v[0].relu6()),
        ("hardswish", |v| v[0].hardswish()),
        ("hardsigmoid", |v| v[0].hardsigmoid()),
        ("pow 3", |v| v[0].pow(3.0)),
        ("pow 1", |v| v[0].pow(1.0)),
        ("pow 0", |v| v[0].pow(0.0)),
        ("clamp", |v| v[0].clamp(Some(-1.0), Some(1.2))),
        ("neg", |v| v[0].neg()),
        ("scalars", |v| {
            v[0].mul_scalar(3.0)?
                .add_scalar(1.0)?
                .div_scalar(2.0)?
                .sub_scalar(0.5)
        }),
        ("sum", |v| v[0].sum(&[1], true)),
        ("mean", |v| v[0].mean(&[0], false)),
    ];
    for (name, f) in unary {
        let r = gradgradcheck(f, std::slice::from_ref(&x), &GradcheckOptions::default());
        assert!(r.is_ok(), "{name}: {}", r.unwrap_err());
    }
    let p = positive(&[2, 3], 2);
    let on_positive: Vec<(&str, Op)> = vec![
        ("log", |v| v[0].log()),
        ("sqrt", |v| v[0].sqrt()),
        ("pow -1.5", |v| v[0].pow(-1.5)),
    ];
    for (name, f) in on_positive {
        let r = gradgradcheck(f, std::slice::from_ref(&p), &GradcheckOptions::default());
        assert!(r.is_ok(), "{name}: {}", r.unwrap_err());
    }
}

#[test]
fn binary_ops_pass_gradgradcheck_with_broadcasting() {
    let a = away_from_kinks(&[2, 3], 3);
    let b = positive(&[1, 3], 4);
    let binary: Vec<(&str, Op)> = vec![
        ("add", |v| v[0].add(&v[1])),
        ("sub", |v| v[0].sub(&v[1])),
        ("mul", |v| v[0].mul(&v[1])),
        ("div", |v| v[0].div(&v[1])),
        ("maximum", |v| v[0].maximum(&v[1])),
        ("minimum", |v| v[0].minimum(&v[1])),
        ("where", |v| {
            let m = Mask::from_vec(vec![true, false, true, false, false, true], &[2, 3])?;
            Var::where_cond(&m, &v[0], &v[1])
        }),
        ("sum_to", |v| v[0].mul(&v[1])?.sum_to(&[1, 3])),
    ];
    for (name, f) in binary {
        let r = gradgradcheck(f, &[a.clone(), b.clone()], &GradcheckOptions::default());
        assert!(r.is_ok(), "{name}: {}", r.unwrap_err());
    }
}

#[test]
fn a_wrong_double_backward_is_caught_and_named() {
    // cube(x) = x³ whose double backward claims 2x² instead of 3x².
    let wrong_cube = |v: &[Var<f64>]| {
        let x = v[0].value();
        let y = Var::from_op("wrong_cube", x.powf(3.0), &[&v[0]], move |g, grads| {
            grads.set(0, || g.mul(&x.powf(2.0).mul_scalar(3.0)))
        })?;
        Ok(y.with_double_backward(|g, x, grads| {
            grads.set(0, || g.mul(&x[0].pow(2.0)?.mul_scalar(2.0)?))
        }))
    };
    let e = gradgradcheck(
        wrong_cube,
        &[positive(&[3], 5)],
        &GradcheckOptions::default(),
    )
    .unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("double backward of 'wrong_cube'"), "{msg}");
    // A double backward with the right values but a wrong derivative (x³'s gradient
    // 3x²·g whose x-derivative claims 3x·g): caught by the finite differences.
    let wrong_curve = |v: &[Var<f64>]| {
        let x = v[0].value();
        let y = Var::from_op("wrong_curve", x.powf(3.0), &[&v[0]], move |g, grads| {
            grads.set(0, || g.mul(&x.powf(2.0).mul_scalar(3.0)))
        })?;
        Ok(y.with_double_backward(|g, x, grads| {
            let x = &x[0];
            let slope = Var::from_op("slope", x.value().powf(2.0).mul_scalar(3.0), &[x], {
                let xv = x.value();
                move |gg, grads| grads.set(0, || gg.mul(&xv.mul_scalar(3.0)))
            })?;
            grads.set(0, || g.mul(&slope))
        }))
    };
    let e = gradgradcheck(
        wrong_curve,
        &[positive(&[3], 5)],
        &GradcheckOptions::default(),
    )
    .unwrap_err();
    assert!(
        matches!(e, GradcheckError::Mismatch { order: 2, .. }),
        "{e}"
    );
    assert!(
        e.to_string().contains("double backward of 'wrong_curve'"),
        "{e}"
    );
}

#[test]
fn third_derivatives_through_mul() -> Result<(), TensorError> {
    // f = x·x·x: f' = 3x², f'' = 6x, f''' = 6.
    let x = param(&[2.0]);
    let create = GradOptions::default().with_create_graph(true);
    let f = x.mul(&x)?.mul(&x)?.sum_all()?;
    let d1 = grad(&[f], std::slice::from_ref(&x), None, &create)
        .unwrap()
        .remove(0)
        .unwrap();
    assert_eq!(d1.value().to_vec(), vec![12.0]);
    let d2 = grad(&[d1.sum_all()?], std::slice::from_ref(&x), None, &create)
        .unwrap()
        .remove(0)
        .unwrap();
    assert_eq!(d2.value().to_vec(), vec![12.0]);
    let d3 = grad(&[d2.sum_all()?], &[x], None, &GradOptions::default()).unwrap();
    assert_eq!(d3[0].as_ref().unwrap().value().to_vec(), vec![6.0]);
    Ok(())
}

#[test]
fn differentiating_through_an_op_without_double_backward_is_an_error_naming_it() {
    let x = param(&[1.0, 2.0]);
    let once_only = |x: &Var<f64>| {
        let xv = x.value();
        Var::from_op("once_only", xv.mul(&xv).unwrap(), &[x], move |g, grads| {
            grads.set(0, || g.mul(&xv.mul_scalar(2.0)))
        })
        .unwrap()
    };
    let create = GradOptions::default().with_create_graph(true);
    let y = once_only(&x).sum_all().unwrap();
    // The first derivative works ...
    let d1 = grad(&[y], std::slice::from_ref(&x), None, &create)
        .unwrap()
        .remove(0)
        .unwrap();
    assert_eq!(d1.value().to_vec(), vec![2.0, 4.0]);
    // ... the second names the op.
    let e = grad(
        &[d1.sum_all().unwrap()],
        &[x],
        None,
        &GradOptions::default(),
    )
    .unwrap_err();
    assert!(
        e.to_string().contains("'once_only' has no double backward"),
        "{e}"
    );
}

#[test]
fn grad_returns_gradients_without_touching_dot_grad() {
    let x = param(&[1.0, 2.0]);
    let w = param(&[3.0, 4.0]);
    let y = x.mul(&w).unwrap().sum_all().unwrap();
    let g = grad(
        &[y],
        std::slice::from_ref(&w),
        None,
        &GradOptions::default(),
    )
    .unwrap();
    assert_eq!(g[0].as_ref().unwrap().value().to_vec(), vec![1.0, 2.0]);
    assert!(x.grad().is_none() && w.grad().is_none());
}

#[test]
fn grad_with_respect_to_an_intermediate_value_and_explicit_grad_outputs() {
    let x = param(&[1.0, 2.0]);
    let h = x.mul_scalar(3.0).unwrap();
    let y = h.mul(&h).unwrap();
    let v = Var::new(Tensor::from_vec(vec![1.0, 0.5], &[2]).unwrap());
    let g = grad(&[y], &[h], Some(&[v]), &GradOptions::default()).unwrap();
    assert_eq!(g[0].as_ref().unwrap().value().to_vec(), vec![6.0, 6.0]); // 2h·v
}

#[test]
fn grad_errors_and_allow_unused() {
    let x = param(&[1.0]);
    let unused = param(&[5.0]);
    let constant = Var::new(Tensor::<f64>::ones(&[1]));
    let y = || x.exp().unwrap().sum_all().unwrap();
    let o = GradOptions::default();
    let e = grad(&[y()], std::slice::from_ref(&unused), None, &o).unwrap_err();
    assert!(e.to_string().contains("not used") && e.to_string().contains("allow_unused"));
    let got = grad(
        &[y()],
        &[unused, x.clone()],
        None,
        &o.clone().with_allow_unused(true),
    );
    let got = got.unwrap();
    assert!(got[0].is_none() && got[1].is_some());
    let e = grad(&[y()], &[constant], None, &o).unwrap_err();
    assert!(e.to_string().contains("does not require a gradient"), "{e}");
    let vector = x.exp().unwrap();
    let e = grad(
        &[vector.mul_scalar(1.0).unwrap().broadcast_to(&[2]).unwrap()],
        std::slice::from_ref(&x),
        None,
        &o,
    )
    .unwrap_err();
    assert!(e.to_string().contains("grad_outputs"), "{e}");
    let e = grad::<f64>(&[], &[x], None, &o).unwrap_err();
    assert!(e.to_string().contains("at least one output"), "{e}");
}

#[test]
fn retain_graph_allows_a_second_pass_and_its_absence_is_reported() {
    let x = param(&[2.0]);
    let y = x.exp().unwrap().sum_all().unwrap();
    let keep = GradOptions::default().with_retain_graph(true);
    let a = grad(
        std::slice::from_ref(&y),
        std::slice::from_ref(&x),
        None,
        &keep,
    )
    .unwrap();
    let b = grad(
        std::slice::from_ref(&y),
        std::slice::from_ref(&x),
        None,
        &GradOptions::default(),
    )
    .unwrap();
    assert_eq!(
        a[0].as_ref().unwrap().value().to_vec(),
        b[0].as_ref().unwrap().value().to_vec()
    );
    let e = grad(&[y], &[x], None, &GradOptions::default()).unwrap_err();
    assert!(e.to_string().contains("already freed") && e.to_string().contains("retain_graph"));
}

#[test]
fn hooks_replace_run_in_order_and_can_be_removed() {
    let x = param(&[1.0, 2.0]);
    let h = x.mul_scalar(2.0).unwrap();
    let first = h.register_hook(|g| Ok(Some(g.mul_scalar(10.0)?)));
    let _second = h.register_hook(|g| {
        assert_eq!(g.value().to_vec(), vec![10.0, 10.0]); // sees the first hook's result
        Ok(Some(g.add_scalar(1.0)?))
    });
    h.sum_all().unwrap().backward().unwrap();
    assert_eq!(x.grad().unwrap().to_vec(), vec![22.0, 22.0]);
    first.remove();
    x.zero_grad();
    let h2 = h.clone();
    drop(h2);
    let y = x.mul_scalar(1.0).unwrap();
    y.register_hook(|g| Ok(Some(Var::new(Tensor::ones(&[3])).add(g)?)))
        .remove();
    y.sum_all().unwrap().backward().unwrap();
    assert_eq!(x.grad().unwrap().to_vec(), vec![1.0, 1.0]);
}

#[test]
fn a_hook_returning_the_wrong_shape_is_an_error() {
    let x = param(&[1.0, 2.0]);
    let h = x.exp().unwrap();
    h.register_hook(|_| Ok(Some(Var::new(Tensor::ones(&[3])))));
    let e = h.sum_all().unwrap().backward().unwrap_err();
    assert!(
        e.to_string().contains("register_hook") && e.to_string().contains("[3]"),
        "{e}"
    );
}

#[test]
fn hooks_on_leaves_and_retain_grad_on_intermediates() {
    let x = param(&[1.0, 2.0]);
    x.register_hook(|g| Ok(Some(g.neg()?)));
    let h = x.mul(&x).unwrap();
    h.retain_grad();
    h.mul_scalar(3.0)
        .unwrap()
        .sum_all()
        .unwrap()
        .backward()
        .unwrap();
    assert_eq!(h.grad().unwrap().to_vec(), vec![3.0, 3.0]);
    assert_eq!(x.grad().unwrap().to_vec(), vec![-6.0, -12.0]);
    // Without retain_grad an intermediate keeps nothing.
    let k = x.exp().unwrap();
    k.sum_all().unwrap().backward().unwrap();
    assert!(k.grad().is_none());
}

#[test]
fn gradient_penalty_trains_through_the_input_gradient() {
    // D(x) = sum(tanh(x·w)); penalty = ‖∂D/∂x‖²; its gradient w.r.t. w by create_graph must
    // match finite differences.
    let x = Tensor::<f64>::randn(&[4], &mut seeded_rng(7));
    let penalty = |w: &Var<f64>| -> Result<Var<f64>, TensorError> {
        let xv = Var::parameter(x.clone());
        let d = xv.mul(w)?.tanh()?.sum_all()?;
        let create = GradOptions::default().with_create_graph(true);
        let gx = grad(&[d], &[xv], None, &create)?.remove(0).unwrap();
        gx.mul(&gx)?.sum_all()
    };
    let w0 = Tensor::<f64>::randn(&[4], &mut seeded_rng(8));
    let w = Var::parameter(w0.clone());
    penalty(&w).unwrap().backward().unwrap();
    let analytic = w.grad().unwrap().to_vec();
    for k in 0..4 {
        let at = |delta: f64| {
            let mut v = w0.to_vec();
            v[k] += delta;
            let wv = Var::parameter(Tensor::from_vec(v, &[4]).unwrap());
            penalty(&wv).unwrap().item().unwrap()
        };
        let numeric = (at(1e-6) - at(-1e-6)) / 2e-6;
        assert!(
            (analytic[k] - numeric).abs() < 1e-6,
            "{k}: {} vs {numeric}",
            analytic[k]
        );
    }
}

#[test]
fn conv2d_passes_gradgradcheck_with_stride_padding_dilation_and_groups() {
    use ferrite_tensor::Conv2dParams;
    let x = Tensor::<f64>::randn(&[2, 4, 5, 6], &mut seeded_rng(11));
    let w = Tensor::<f64>::randn(&[6, 2, 3, 2], &mut seeded_rng(12));
    let b = Tensor::<f64>::randn(&[6], &mut seeded_rng(13));
    let params = Conv2dParams::default()
        .with_stride([2, 1])
        .with_padding([1, 0])
        .with_dilation([1, 2])
        .with_groups(2);
    let r = gradgradcheck(
        |v: &[Var<f64>]| v[0].conv2d(&v[1], Some(&v[2]), &params),
        &[x, w, b],
        &GradcheckOptions::default().with_fast_mode(true),
    );
    assert!(r.is_ok(), "{}", r.unwrap_err());
}
